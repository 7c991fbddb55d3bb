//! Flink's functions that read the session time zone (`table.local-time-zone`): `FROM_UNIXTIME`,
//! `UNIX_TIMESTAMP`, `TO_TIMESTAMP_LTZ` and how a `TIMESTAMP_LTZ` prints; and `CONVERT_TZ`. Checked against Flink 2.3
//! in four zones (UTC, Asia/Shanghai, America/Los_Angeles with its daylight saving changes,
//! GMT-08:00) by `tests/timezone_functions.rs` (golden file made by `tests/flink/gen_functions.py`).
//!
//! Zones come from the IANA database compiled into the binary (`jiff`'s bundled tzdb), so results
//! do not depend on the host's tzdata. A local time that a clock change skips is read as the time
//! after the gap, one that happens twice as the later one (standard time), as Flink reads them.

use crate::functions::datetime::{JavaPattern, date_format, to_timestamp};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use jiff::tz::{Offset, TimeZone};

/// The session time zone.
#[derive(Clone, Debug)]
pub struct LocalZone(TimeZone);

impl LocalZone {
    /// `table.local-time-zone`'s value: an IANA zone (`Asia/Shanghai`), `UTC`/`GMT`/`Z`, or an
    /// offset (`GMT-08:00`, `UTC+8`, `+05:30`). An error names what is not a zone.
    pub fn named(name: &str) -> Result<LocalZone, String> {
        if matches!(name, "UTC" | "GMT" | "Z" | "UT") {
            return Ok(LocalZone(TimeZone::UTC));
        }
        let offset = ["GMT", "UTC", "UT", ""].iter().find_map(|p| name.strip_prefix(p).and_then(parse_offset));
        if let Some(seconds) = offset {
            let offset = Offset::from_seconds(seconds).map_err(|e| format!("'{name}' is not a time zone: {e}"))?;
            return Ok(LocalZone(TimeZone::fixed(offset)));
        }
        TimeZone::get(name).map(LocalZone).map_err(|_| {
            format!("'{name}' is not a time zone: use a zone such as 'America/Los_Angeles', 'UTC' or 'GMT-08:00'")
        })
    }

    /// The local time at `millis` since the epoch.
    pub fn local(&self, millis: i64) -> Option<NaiveDateTime> {
        let t = jiff::Timestamp::from_millisecond(millis).ok()?.to_zoned(self.0.clone()).datetime();
        let date = NaiveDate::from_ymd_opt(t.year() as i32, t.month() as u32, t.day() as u32)?;
        date.and_hms_nano_opt(t.hour() as u32, t.minute() as u32, t.second() as u32, t.subsec_nanosecond() as u32)
    }

    /// Milliseconds since the epoch of local time `t`: after a gap the clock skipped, and the
    /// later of a time that happened twice (standard time), as Flink's `UNIX_TIMESTAMP` reads it.
    pub fn instant(&self, t: NaiveDateTime) -> Option<i64> {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(t.year()).ok()?,
            t.month() as i8,
            t.day() as i8,
            t.hour() as i8,
            t.minute() as i8,
            t.second() as i8,
            t.nanosecond() as i32,
        )
        .ok()?;
        Some(self.0.to_ambiguous_timestamp(civil).later().ok()?.as_millisecond())
    }
}

/// `[+-]h[h][:mm]` as seconds.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let ok = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(h) || !ok(m) {
        return None;
    }
    Some(sign * (h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60))
}

/// `FROM_UNIXTIME(seconds[, pattern])`: the local time of `seconds` since the epoch, formatted
/// (default `yyyy-MM-dd HH:mm:ss`).
pub fn from_unixtime(seconds: i64, zone: &LocalZone, pattern: &JavaPattern) -> Option<String> {
    Some(date_format(zone.local(seconds.checked_mul(1000)?)?, pattern))
}

/// `UNIX_TIMESTAMP(s[, pattern])`: seconds since the epoch of local time `s` (default pattern
/// `yyyy-MM-dd HH:mm:ss`); `i64::MIN` when `s` does not match, as Flink returns (not NULL).
pub fn unix_timestamp(s: &str, zone: &LocalZone, pattern: &JavaPattern) -> i64 {
    to_timestamp(s, pattern).and_then(|t| zone.instant(t)).map_or(i64::MIN, |ms| ms.div_euclid(1000))
}

/// `CONVERT_TZ(s, from, to)`: local time `s` (`yyyy-MM-dd HH:mm:ss`) of zone `from` as the local
/// time of zone `to`; `None` when `s` does not parse. An unknown zone is UTC, as in Flink (Java's
/// `TimeZone.getTimeZone`).
pub fn convert_tz(s: &str, from: &str, to: &str) -> Option<String> {
    let pattern = JavaPattern::new("yyyy-MM-dd HH:mm:ss").expect("a valid pattern");
    let zone = |name: &str| LocalZone::named(name).unwrap_or(LocalZone(TimeZone::UTC));
    let (from, to) = (zone(from), zone(to));
    let millis = from.instant(to_timestamp(s, &pattern)?)?;
    Some(date_format(to.local(millis)?, &pattern))
}

/// `TO_TIMESTAMP_LTZ(n, precision)`: `n` seconds (precision 0) or milliseconds (3) since the
/// epoch, as epoch milliseconds; `None` for another precision. Its type is `TIMESTAMP_LTZ(3)`
/// either way.
pub fn to_timestamp_ltz(n: i64, precision: u8) -> Option<i64> {
    match precision {
        0 => n.checked_mul(1000),
        3 => Some(n),
        _ => None,
    }
}
