//! Flink's functions on `TIMESTAMP` values (no time zone): `DATE_FORMAT`, `TO_TIMESTAMP`,
//! `EXTRACT` and `YEAR()`/`HOUR()`/..., `FLOOR`/`CEIL(ts TO unit)`, `TIMESTAMPDIFF`. Semantics are
//! Flink 2.3's, checked against it by `tests/datetime_functions.rs` (golden file made by
//! `tests/flink/gen_functions.py`), including where Flink's differ from the calendar's:
//!
//! - Patterns are Java's `DateTimeFormatter` patterns (`yyyy-MM-dd HH:mm:ss`, `dd/MMM/yyyy`, `S` is
//!   a fraction of the second, `''` a quote), English names. Parsing needs the whole input and
//!   resolves as Java's "smart" resolver does (February 30 is February 29; month 13 is NULL).
//! - `EXTRACT` of the day and the time of day before 1970 follows Flink's arithmetic on epoch
//!   milliseconds, which rounds toward zero: `EXTRACT(DAY FROM TIMESTAMP '1969-07-20 20:17:40')`
//!   is 21 and its `HOUR` is -3. `FLOOR`, `CEIL` and `DATE_FORMAT` use the calendar.
//! - `TIMESTAMPDIFF` in months and years counts whole months, the last day of a month counting as
//!   any later day (from February 29 to February 28 of the next year is 12 months).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

const MS_PER_DAY: i64 = 86_400_000;

/// The unit of `EXTRACT`, `FLOOR`, `CEIL` and `TIMESTAMPDIFF`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// `YEAR`.
    Year,
    /// `QUARTER`.
    Quarter,
    /// `MONTH`.
    Month,
    /// `WEEK`: ISO weeks for `EXTRACT`; weeks from Sunday for `FLOOR`/`CEIL`.
    Week,
    /// `DAY`.
    Day,
    /// `HOUR`.
    Hour,
    /// `MINUTE`.
    Minute,
    /// `SECOND`.
    Second,
    /// `DOW`: day of the week, Sunday 1 to Saturday 7 (`EXTRACT` only).
    DayOfWeek,
    /// `DOY`: day of the year from 1 (`EXTRACT` only).
    DayOfYear,
}

impl TimeUnit {
    /// The unit named `name` (any case).
    pub fn named(name: &str) -> Option<TimeUnit> {
        Some(match name.to_ascii_uppercase().as_str() {
            "YEAR" => TimeUnit::Year,
            "QUARTER" => TimeUnit::Quarter,
            "MONTH" => TimeUnit::Month,
            "WEEK" => TimeUnit::Week,
            "DAY" => TimeUnit::Day,
            "HOUR" => TimeUnit::Hour,
            "MINUTE" => TimeUnit::Minute,
            "SECOND" => TimeUnit::Second,
            "DOW" => TimeUnit::DayOfWeek,
            "DOY" => TimeUnit::DayOfYear,
            _ => return None,
        })
    }
}

fn epoch_millis(ts: NaiveDateTime) -> i64 {
    ts.and_utc().timestamp_millis()
}

/// `EXTRACT(unit FROM ts)`.
pub fn extract(unit: TimeUnit, ts: NaiveDateTime) -> i64 {
    let millis = epoch_millis(ts);
    // Flink's arithmetic: day and time of day by division toward zero.
    let (days, time) = (millis / MS_PER_DAY, millis % MS_PER_DAY);
    let date = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch") + Duration::days(days);
    match unit {
        TimeUnit::Year => date.year() as i64,
        TimeUnit::Quarter => (date.month0() / 3 + 1) as i64,
        TimeUnit::Month => date.month() as i64,
        TimeUnit::Week => date.iso_week().week() as i64,
        TimeUnit::Day => date.day() as i64,
        TimeUnit::DayOfWeek => date.weekday().num_days_from_sunday() as i64 + 1,
        TimeUnit::DayOfYear => date.ordinal() as i64,
        TimeUnit::Hour => time / 3_600_000,
        TimeUnit::Minute => time % 3_600_000 / 60_000,
        TimeUnit::Second => time % 60_000 / 1_000,
    }
}

/// The first instant of `ts`'s unit (`FLOOR(ts TO unit)`); weeks start on Sunday.
pub fn floor(unit: TimeUnit, ts: NaiveDateTime) -> NaiveDateTime {
    let date = ts.date();
    let day = |d: NaiveDate| d.and_time(NaiveTime::MIN);
    let first_of = |month0: u32| day(NaiveDate::from_ymd_opt(date.year(), month0 + 1, 1).expect("a month's first day"));
    match unit {
        TimeUnit::Year => first_of(0),
        TimeUnit::Quarter => first_of(date.month0() / 3 * 3),
        TimeUnit::Month => first_of(date.month0()),
        TimeUnit::Week => day(date - Duration::days(date.weekday().num_days_from_sunday() as i64)),
        TimeUnit::Day | TimeUnit::DayOfWeek | TimeUnit::DayOfYear => day(date),
        TimeUnit::Hour => {
            ts.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).expect("valid")
        }
        TimeUnit::Minute => ts.with_second(0).and_then(|t| t.with_nanosecond(0)).expect("valid"),
        TimeUnit::Second => ts.with_nanosecond(0).expect("valid"),
    }
}

/// `CEIL(ts TO unit)`: `ts` itself when it starts its unit, else the start of the next one.
pub fn ceil(unit: TimeUnit, ts: NaiveDateTime) -> NaiveDateTime {
    let start = floor(unit, ts);
    if start == ts {
        return ts;
    }
    match unit {
        TimeUnit::Year => add_months(start, 12),
        TimeUnit::Quarter => add_months(start, 3),
        TimeUnit::Month => add_months(start, 1),
        TimeUnit::Week => start + Duration::weeks(1),
        TimeUnit::Day | TimeUnit::DayOfWeek | TimeUnit::DayOfYear => start + Duration::days(1),
        TimeUnit::Hour => start + Duration::hours(1),
        TimeUnit::Minute => start + Duration::minutes(1),
        TimeUnit::Second => start + Duration::seconds(1),
    }
}

/// `ts` plus `months`, the day cut to the month's last.
fn add_months(ts: NaiveDateTime, months: i32) -> NaiveDateTime {
    let date = add_months_to_date(ts.date(), months);
    date.and_time(ts.time())
}

fn add_months_to_date(date: NaiveDate, months: i32) -> NaiveDate {
    let total = date.year() * 12 + date.month0() as i32 + months;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
    let mut day = date.day();
    loop {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month0 + 1, day) {
            return d;
        }
        day -= 1;
    }
}

/// Whole months from `from` to `to` (negative backwards), a month's last day counting as any later day.
fn months_between(to: NaiveDate, from: NaiveDate) -> i32 {
    if to < from {
        return -months_between(from, to);
    }
    let mut m = ((to - from).num_days() / 31) as i32;
    loop {
        if add_months_to_date(from, m) >= to || add_months_to_date(from, m + 1) > to {
            return m;
        }
        m += 1;
    }
}

/// `TIMESTAMPDIFF(unit, from, to)`: whole units from `from` to `to`, toward zero.
pub fn timestamp_diff(unit: TimeUnit, from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    let per = |ms: i64| (epoch_millis(to) - epoch_millis(from)) / ms;
    match unit {
        TimeUnit::Year | TimeUnit::Quarter | TimeUnit::Month => {
            let mut months = months_between(to.date(), from.date());
            if add_months_to_date(from.date(), months) == to.date() && to.time() < from.time() {
                months -= 1;
            }
            let per_unit = match unit {
                TimeUnit::Year => 12,
                TimeUnit::Quarter => 3,
                _ => 1,
            };
            (months / per_unit) as i64
        }
        TimeUnit::Week => per(7 * MS_PER_DAY),
        TimeUnit::Day | TimeUnit::DayOfWeek | TimeUnit::DayOfYear => per(MS_PER_DAY),
        TimeUnit::Hour => per(3_600_000),
        TimeUnit::Minute => per(60_000),
        TimeUnit::Second => per(1_000),
    }
}

/// A compiled Java date-time pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JavaPattern(Vec<Item>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Literal(String),
    Field(char, usize),
}

/// The letters a pattern may use.
const LETTERS: &str = "yuMLdDHhkKmsSaEw";

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

impl JavaPattern {
    /// Compiles a Java `DateTimeFormatter` pattern; an error names an unsupported letter or an
    /// unclosed quote.
    pub fn new(pattern: &str) -> Result<JavaPattern, String> {
        let mut items = Vec::new();
        let mut chars = pattern.chars().peekable();
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    literal.push('\'');
                    continue;
                }
                loop {
                    match chars.next() {
                        None => return Err(format!("the pattern '{pattern}' has an unclosed quote")),
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(q) => literal.push(q),
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !LETTERS.contains(c) {
                    return Err(format!(
                        "the pattern letter '{c}' of '{pattern}' is not supported (yet); the letters are {LETTERS}"
                    ));
                }
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                if !literal.is_empty() {
                    items.push(Item::Literal(std::mem::take(&mut literal)));
                }
                items.push(Item::Field(c, count));
            } else {
                literal.push(c);
            }
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(JavaPattern(items))
    }
}

/// Week of the year with weeks from Sunday, week 1 holding January 1 (Java's US weeks).
fn us_week(date: NaiveDate) -> u32 {
    let to_saturday = 6 - date.weekday().num_days_from_sunday();
    if (date + Duration::days(to_saturday as i64)).year() > date.year() {
        return 1;
    }
    let jan1 = NaiveDate::from_ymd_opt(date.year(), 1, 1).expect("January 1").weekday().num_days_from_sunday();
    (date.ordinal0() + jan1) / 7 + 1
}

/// `DATE_FORMAT(ts, pattern)`.
pub fn date_format(ts: NaiveDateTime, pattern: &JavaPattern) -> String {
    let mut out = String::new();
    let num = |out: &mut String, n: i64, width: usize| out.push_str(&format!("{n:0width$}"));
    for item in &pattern.0 {
        let Item::Field(letter, count) = item else {
            if let Item::Literal(l) = item {
                out.push_str(l);
            }
            continue;
        };
        let count = *count;
        match letter {
            'y' | 'u' if count == 2 => num(&mut out, ts.year().rem_euclid(100) as i64, 2),
            'y' | 'u' => num(&mut out, ts.year() as i64, count),
            'M' | 'L' if count >= 4 => out.push_str(MONTHS[ts.month0() as usize]),
            'M' | 'L' if count == 3 => out.push_str(&MONTHS[ts.month0() as usize][..3]),
            'M' | 'L' => num(&mut out, ts.month() as i64, count),
            'd' => num(&mut out, ts.day() as i64, count),
            'D' => num(&mut out, ts.ordinal() as i64, count),
            'H' => num(&mut out, ts.hour() as i64, count),
            'h' => num(&mut out, ((ts.hour() + 11) % 12 + 1) as i64, count),
            'k' => num(&mut out, if ts.hour() == 0 { 24 } else { ts.hour() as i64 }, count),
            'K' => num(&mut out, (ts.hour() % 12) as i64, count),
            'm' => num(&mut out, ts.minute() as i64, count),
            's' => num(&mut out, ts.second() as i64, count),
            'S' => out.push_str(&format!("{:09}", ts.nanosecond() % 1_000_000_000)[..count.min(9)]),
            'a' => out.push_str(if ts.hour() < 12 { "AM" } else { "PM" }),
            'E' if count >= 4 => out.push_str(DAYS[ts.weekday().num_days_from_sunday() as usize]),
            'E' => out.push_str(&DAYS[ts.weekday().num_days_from_sunday() as usize][..3]),
            'w' => num(&mut out, us_week(ts.date()) as i64, count),
            other => unreachable!("letter {other} is refused when the pattern compiles"),
        }
    }
    out
}

/// Whether a pattern item reads digits.
fn is_numeric(item: &Item) -> bool {
    match item {
        Item::Field('M' | 'L', n) => *n < 3,
        Item::Field(c, _) => !matches!(c, 'a' | 'E'),
        Item::Literal(_) => false,
    }
}

/// The fields a parse found.
#[derive(Default)]
struct Parsed {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    nanos: Option<u32>,
}

/// `TO_TIMESTAMP(s, pattern)`: NULL when `s` does not match the whole pattern or names no date.
pub fn to_timestamp(s: &str, pattern: &JavaPattern) -> Option<NaiveDateTime> {
    let mut p = Parsed::default();
    let mut rest = s;
    let items = &pattern.0;
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
            Item::Field(letter, count) => {
                // Adjacent numeric fields (yyyyMMdd) take exactly their width.
                let adjacent = items.get(i + 1).is_some_and(is_numeric);
                let digits = |rest: &mut &str, min: usize, max: usize| -> Option<u32> {
                    let n = rest.bytes().take(max).take_while(u8::is_ascii_digit).count();
                    if n < min {
                        return None;
                    }
                    let (d, r) = rest.split_at(n);
                    *rest = r;
                    d.parse().ok()
                };
                let (min, max) = if adjacent {
                    (*count, *count)
                } else {
                    (*count, (*count).max(if *letter == 'y' { 9 } else { 2 }))
                };
                match letter {
                    'y' | 'u' if *count == 2 => p.year = Some(2000 + digits(&mut rest, 2, 2)? as i32),
                    'y' | 'u' => p.year = Some(digits(&mut rest, min, max)? as i32),
                    'M' | 'L' if *count >= 3 => {
                        let (i, len) = MONTHS.iter().enumerate().find_map(|(i, m)| {
                            let name = if *count == 3 { &m[..3] } else { m };
                            rest.get(..name.len()).filter(|r| r.eq_ignore_ascii_case(name)).map(|_| (i, name.len()))
                        })?;
                        rest = &rest[len..];
                        p.month = Some(i as u32 + 1);
                    }
                    'M' | 'L' => p.month = Some(digits(&mut rest, min, max)?),
                    'd' => p.day = Some(digits(&mut rest, min, max)?),
                    'D' => p.day_of_year = Some(digits(&mut rest, min, max.max(3))?),
                    'H' | 'k' => p.hour = Some(digits(&mut rest, min, max)? % 24),
                    'h' | 'K' => p.hour12 = Some(digits(&mut rest, min, max)? % 12),
                    'm' => p.minute = Some(digits(&mut rest, min, max)?),
                    's' => p.second = Some(digits(&mut rest, min, max)?),
                    'S' => {
                        let n = rest.bytes().take(*count).take_while(u8::is_ascii_digit).count();
                        if n != *count {
                            return None;
                        }
                        let (d, r) = rest.split_at(n);
                        rest = r;
                        p.nanos = Some(d.parse::<u32>().ok()? * 10u32.pow(9 - n.min(9) as u32));
                    }
                    'a' => {
                        let am = rest.get(..2)?;
                        p.pm = Some(match am.to_ascii_uppercase().as_str() {
                            "AM" => false,
                            "PM" => true,
                            _ => return None,
                        });
                        rest = &rest[2..];
                    }
                    'E' => {
                        let len = DAYS.iter().find_map(|d| {
                            let name = if *count >= 4 { *d } else { &d[..3] };
                            rest.get(..name.len()).filter(|r| r.eq_ignore_ascii_case(name)).map(|_| name.len())
                        })?;
                        rest = &rest[len..];
                    }
                    'w' => {
                        digits(&mut rest, min, max)?;
                    }
                    _ => return None,
                }
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let year = p.year.unwrap_or(1970);
    let date = match p.day_of_year {
        Some(doy) => NaiveDate::from_yo_opt(year, doy)?,
        None => {
            let month = p.month.unwrap_or(1);
            let day = p.day.unwrap_or(1);
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                return None;
            }
            // Java's smart resolver cuts a day past the month's end to its last day.
            (1..=day).rev().find_map(|d| NaiveDate::from_ymd_opt(year, month, d))?
        }
    };
    let hour = match (p.hour, p.hour12, p.pm) {
        (Some(h), _, _) => h,
        (None, Some(h), pm) => h + if pm == Some(true) { 12 } else { 0 },
        (None, None, _) => 0,
    };
    let time = NaiveTime::from_hms_nano_opt(hour, p.minute.unwrap_or(0), p.second.unwrap_or(0), p.nanos.unwrap_or(0))?;
    Some(date.and_time(time))
}

/// `TO_TIMESTAMP(s)`: `CAST(s AS TIMESTAMP(3))`, which Flink's one-argument form is.
pub fn to_timestamp_sql(s: &str) -> Option<NaiveDateTime> {
    crate::functions::cast::to_timestamp(s, 3)
}
