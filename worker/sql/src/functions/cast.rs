//! `CAST` from `STRING` to the scalar types and back, with Flink's rules (a `None` is a failed
//! cast: `TRY_CAST` gives NULL, `CAST` fails the job). Checked against Flink 2.3 by
//! `tests/cast_functions.rs` (golden file made by `tests/flink/gen_functions.py`).
//!
//! Flink is not uniform here, and neither is this: integers, doubles and dates allow spaces
//! around the text, booleans and timestamps do not; an integer drops a fraction (`'4.5'` is 4) but
//! takes no exponent; a date may be a year alone (`'42'` is 0042-01-01) and refuses February 30,
//! which a timestamp turns into February 29; a time may be an hour alone (`'1'` is 01:00:00).

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// `CAST(s AS BOOLEAN)`: `true`, `t`, `yes`, `y`, `1` and `false`, `f`, `no`, `n`, `0`, any case.
pub fn to_boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// `CAST(s AS TINYINT|SMALLINT|INT|BIGINT)` (`bits` 8 to 64): `[+-][digits][.digits]`, spaces
/// (not tabs) around allowed, the fraction dropped (`'.5'` is 0); `None` if out of range.
pub fn to_integer(s: &str, bits: u32) -> Option<i64> {
    let t = s.trim_matches(' ');
    let (negative, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let value = if negative { -magnitude } else { magnitude };
    let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    (min..=max).contains(&value).then_some(value as i64)
}

/// `CAST(s AS DOUBLE)` as Java's `Double.parseDouble`: spaces around allowed, `NaN`,
/// `[+-]Infinity`, a trailing `d` or `f`.
pub fn to_double(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        "NaN" => return Some(f64::NAN),
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let t = t.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(t);
    // Only what Java reads: no `inf`, no `nan` in other spellings.
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    t.parse().ok()
}

/// `y[-m[-d]]` as a date (month and day default to 1); `None` if not one.
fn date_part(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('-');
    let number = |p: Option<&str>, default: u32| match p {
        None => Some(default),
        Some(p) if !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
        Some(_) => None,
    };
    let year = number(parts.next(), 0)?;
    let month = number(parts.next(), 1)?;
    let day = number(parts.next(), 1)?;
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// `CAST(s AS DATE)`: `y[-m[-d]]`, spaces around allowed, a time after a space ignored.
pub fn to_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    date_part(t.split(' ').next()?)
}

/// `H[:m[:s[.fraction]]]` as a time (a fraction only after the seconds), the fraction cut to
/// `precision` digits.
fn time_part(text: &str, precision: u8) -> Option<NaiveTime> {
    let (hms, fraction) = text.split_once('.').unwrap_or((text, ""));
    if text.contains('.') && hms.split(':').count() != 3 {
        return None;
    }
    let mut parts = hms.split(':');
    let number = |p: Option<&str>| match p {
        None => Some(0),
        Some(p) if !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u32>().ok(),
        Some(_) => None,
    };
    let (hour, minute, second) = (number(parts.next())?, number(parts.next())?, number(parts.next())?);
    if parts.next().is_some() || !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    let kept = &fraction[..fraction.len().min(precision as usize)];
    let nanos = if kept.is_empty() { 0 } else { kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32) };
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// `CAST(s AS TIME(p))`: `H[:m[:s]]`, spaces around allowed.
pub fn to_time(s: &str, precision: u8) -> Option<NaiveTime> {
    time_part(s.trim(), precision)
}

/// `CAST(s AS TIMESTAMP(p))`: `y-m-d[ H:m[:s[.fraction]]]`, no spaces around; a day past the
/// month's end is its last day; the fraction is cut to `p` digits.
pub fn to_timestamp(s: &str, precision: u8) -> Option<NaiveDateTime> {
    let (date, time) = s.split_once(' ').unwrap_or((s, ""));
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let first = date_part(&format!("{year}-{month}-1"))?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d) && day.len() <= 2)?;
    let date = (1..=day).rev().find_map(|d| first.with_day0(d - 1))?;
    let time = if time.is_empty() { NaiveTime::MIN } else { time_part(time, precision)? };
    Some(date.and_time(time))
}

/// `CAST(b AS STRING)`.
pub fn boolean_to_string(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// `CAST(d AS STRING)`: `yyyy-MM-dd`.
pub fn date_to_string(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `CAST(t AS STRING)` of a `TIME(p)`: `HH:mm:ss[.fraction of p digits]`.
pub fn time_to_string(t: NaiveTime, precision: u8) -> String {
    let mut out = t.format("%H:%M:%S").to_string();
    push_fraction(&mut out, t.nanosecond(), precision);
    out
}

/// `CAST(t AS STRING)` of a `TIMESTAMP(p)`: `yyyy-MM-dd HH:mm:ss[.fraction of p digits]`.
pub fn timestamp_to_string(t: NaiveDateTime, precision: u8) -> String {
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    push_fraction(&mut out, t.nanosecond(), precision);
    out
}

fn push_fraction(out: &mut String, nanos: u32, precision: u8) {
    if precision > 0 {
        out.push('.');
        out.push_str(&format!("{:09}", nanos % 1_000_000_000)[..precision.min(9) as usize]);
    }
}
