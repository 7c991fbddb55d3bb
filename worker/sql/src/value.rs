//! SQL values and rows as they travel through a job: a [`Row`] is a changelog entry (its
//! [`RowKind`]) and its columns' [`Value`]s. Values carry their own kind (a `DECIMAL` its precision
//! and scale), so generic code (comparison, printing, the codec) needs no schema; the planner
//! knows each column's [`Type`](crate::ast::Type) and only ever puts values of that type there.
//!
//! Times are the calendar's: a `TIMESTAMP(p)` is a local date and time, a `TIMESTAMP_LTZ(p)` the
//! UTC date and time of its instant (printed in the session's time zone).

use crate::decimal::Decimal;
use crate::functions::cast;
use crate::functions::numeric::double_to_string;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// What a row says about the table it changes (Flink's `RowKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowKind {
    /// A new row.
    Insert,
    /// The old content of an updated row (comes before its [`RowKind::UpdateAfter`]).
    UpdateBefore,
    /// The new content of an updated row.
    UpdateAfter,
    /// A row removed.
    Delete,
}

impl RowKind {
    /// Flink's short form: `+I`, `-U`, `+U`, `-D`.
    pub fn short(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row adds to the table (`+I`, `+U`) rather than takes from it.
    pub fn is_accumulate(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// A row of a table or a change to one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// What the row does to its table.
    pub kind: RowKind,
    /// Its columns' values.
    pub values: Vec<Value>,
}

impl Row {
    /// An inserted row.
    pub fn insert(values: Vec<Value>) -> Row {
        Row { kind: RowKind::Insert, values }
    }
}

/// A value of one of Flink's types, or NULL. Equality and hashing are structural (a `DOUBLE` by
/// its bits, so NaN equals NaN and groups with itself, as in Flink); SQL's comparison is
/// [`Value::compare`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum Value {
    /// NULL, of any type.
    #[default]
    Null,
    /// `BOOLEAN`.
    Boolean(bool),
    /// `TINYINT`.
    TinyInt(i8),
    /// `SMALLINT`.
    SmallInt(i16),
    /// `INT`.
    Int(i32),
    /// `BIGINT`.
    BigInt(i64),
    /// `FLOAT`.
    Float(f32),
    /// `DOUBLE`.
    Double(f64),
    /// `DECIMAL(p, s)`.
    Decimal(Decimal),
    /// `CHAR`, `VARCHAR`, `STRING`.
    String(String),
    /// `BINARY`, `VARBINARY`, `BYTES`.
    Bytes(Vec<u8>),
    /// `DATE`.
    Date(NaiveDate),
    /// `TIME(p)`.
    Time(NaiveTime),
    /// `TIMESTAMP(p)`: a local date and time.
    Timestamp(NaiveDateTime),
    /// `TIMESTAMP_LTZ(p)`: an instant, as its UTC date and time.
    TimestampLtz(NaiveDateTime),
    /// `INTERVAL YEAR TO MONTH`: months.
    IntervalMonths(i32),
    /// `INTERVAL DAY TO SECOND`: milliseconds.
    IntervalMillis(i64),
    /// `ARRAY<t>`.
    Array(Vec<Value>),
    /// `MAP<k, v>`: entries in their order.
    Map(Vec<(Value, Value)>),
    /// `ROW<..>`: fields in order.
    Row(Vec<Value>),
}

impl Value {
    /// `millis` since the epoch as a value of a time type `ty`: a `TIMESTAMP_LTZ` instant, else
    /// the `TIMESTAMP` of its UTC date and time (as Flink reads an event time).
    pub fn from_millis(millis: i64, ty: &crate::ast::DataType) -> Value {
        let t = chrono::DateTime::from_timestamp_millis(millis).map_or(NaiveDateTime::MIN, |t| t.naive_utc());
        if matches!(ty, crate::ast::DataType::TimestampLtz(_)) { Value::TimestampLtz(t) } else { Value::Timestamp(t) }
    }
}

impl Value {
    /// A `TIMESTAMP`'s or `TIMESTAMP_LTZ`'s milliseconds since the epoch (of its UTC date and
    /// time, as event time reads it); `None` for NULL and other types.
    pub fn epoch_millis(&self) -> Option<i64> {
        match self {
            Value::Timestamp(t) | Value::TimestampLtz(t) => Some(t.and_utc().timestamp_millis()),
            _ => None,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Boolean(a), Boolean(b)) => a == b,
            (TinyInt(a), TinyInt(b)) => a == b,
            (SmallInt(a), SmallInt(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Double(a), Double(b)) => a.to_bits() == b.to_bits(),
            (Decimal(a), Decimal(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (Time(a), Time(b)) => a == b,
            (Timestamp(a), Timestamp(b)) | (TimestampLtz(a), TimestampLtz(b)) => a == b,
            (IntervalMonths(a), IntervalMonths(b)) => a == b,
            (IntervalMillis(a), IntervalMillis(b)) => a == b,
            (Array(a), Array(b)) | (Row(a), Row(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Boolean(v) => v.hash(state),
            Value::TinyInt(v) => v.hash(state),
            Value::SmallInt(v) => v.hash(state),
            Value::Int(v) => v.hash(state),
            Value::BigInt(v) => v.hash(state),
            Value::Float(v) => v.to_bits().hash(state),
            Value::Double(v) => v.to_bits().hash(state),
            Value::Decimal(v) => v.hash(state),
            Value::String(v) => v.hash(state),
            Value::Bytes(v) => v.hash(state),
            Value::Date(v) => v.hash(state),
            Value::Time(v) => v.hash(state),
            Value::Timestamp(v) | Value::TimestampLtz(v) => v.hash(state),
            Value::IntervalMonths(v) => v.hash(state),
            Value::IntervalMillis(v) => v.hash(state),
            Value::Array(v) | Value::Row(v) => v.hash(state),
            Value::Map(v) => v.hash(state),
        }
    }
}

impl Value {
    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// An integer of any width, widened.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            Value::TinyInt(v) => v as i64,
            Value::SmallInt(v) => v as i64,
            Value::Int(v) => v as i64,
            Value::BigInt(v) => v,
            _ => return None,
        })
    }

    /// A number as `DOUBLE` (Java's widening; a decimal correctly rounded).
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self {
            Value::Float(v) => *v as f64,
            Value::Double(v) => *v,
            Value::Decimal(d) => d.to_f64(),
            v => v.as_i64()? as f64,
        })
    }

    /// A number as a decimal of its exact value (integers with scale 0); `None` for `FLOAT`,
    /// `DOUBLE` and non-numbers.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Decimal(d) => Some(*d),
            v => Decimal::new(v.as_i64()? as i128, 19, 0),
        }
    }

    /// The text of a `STRING`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// SQL's comparison of two non-NULL values of comparable types: numbers of any kinds by
    /// value, the rest by kind; `None` when either is NULL or they cannot be compared.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Null, _) | (_, Null) => None,
            (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
            (String(a), String(b)) => Some(a.cmp(b)),
            (Bytes(a), Bytes(b)) => Some(a.cmp(b)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (Time(a), Time(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) | (TimestampLtz(a), TimestampLtz(b)) => Some(a.cmp(b)),
            (IntervalMonths(a), IntervalMonths(b)) => Some(a.cmp(b)),
            (IntervalMillis(a), IntervalMillis(b)) => Some(a.cmp(b)),
            (Array(a), Array(b)) | (Row(a), Row(b)) => {
                for (x, y) in a.iter().zip(b) {
                    match x.compare(y)? {
                        Ordering::Equal => {}
                        o => return Some(o),
                    }
                }
                Some(a.len().cmp(&b.len()))
            }
            (a, b) => {
                if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                    Some(x.cmp(&y))
                } else if let (Some(x), Some(y)) = (a.as_decimal(), b.as_decimal()) {
                    let s = x.scale().max(y.scale());
                    let (x, y) = (x.rescale(38, s)?, y.rescale(38, s)?);
                    Some(x.unscaled().cmp(&y.unscaled()))
                } else {
                    a.as_f64()?.partial_cmp(&b.as_f64()?)
                }
            }
        }
    }

    /// SQL equality of two values (`None`: unknown, when either is NULL).
    pub fn sql_eq(&self, other: &Value) -> Option<bool> {
        match (self, other) {
            (Value::Map(a), Value::Map(b)) => Some(a == b),
            _ => self.compare(other).map(|o| o == Ordering::Equal),
        }
    }

    /// `CAST(v AS STRING)` (as Flink prints a value): `TRUE`/`FALSE`, a `DOUBLE` as Java does,
    /// a decimal in plain notation, times with `precision` fraction digits (for `TIMESTAMP_LTZ`,
    /// of its UTC time: the caller converts it to the session's zone first). NULL is `NULL`.
    pub fn write_sql(&self, out: &mut String, precision: u8) {
        match self {
            Value::Null => out.push_str("NULL"),
            Value::Boolean(b) => out.push_str(cast::boolean_to_string(*b)),
            Value::TinyInt(v) => write!(out, "{v}").unwrap(),
            Value::SmallInt(v) => write!(out, "{v}").unwrap(),
            Value::Int(v) => write!(out, "{v}").unwrap(),
            Value::BigInt(v) => write!(out, "{v}").unwrap(),
            Value::Float(v) => out.push_str(&double_to_string(*v as f64)),
            Value::Double(v) => out.push_str(&double_to_string(*v)),
            Value::Decimal(d) => write!(out, "{d}").unwrap(),
            Value::String(s) => out.push_str(s),
            Value::Bytes(b) => {
                for byte in b {
                    write!(out, "{byte:02x}").unwrap();
                }
            }
            Value::Date(d) => out.push_str(&cast::date_to_string(*d)),
            Value::Time(t) => out.push_str(&cast::time_to_string(*t, precision)),
            Value::Timestamp(t) | Value::TimestampLtz(t) => out.push_str(&cast::timestamp_to_string(*t, precision)),
            Value::IntervalMonths(m) => {
                let sign = if *m < 0 { '-' } else { '+' };
                let m = m.unsigned_abs();
                write!(out, "{sign}{}-{:02}", m / 12, m % 12).unwrap()
            }
            Value::IntervalMillis(ms) => {
                let sign = if *ms < 0 { '-' } else { '+' };
                let ms = ms.unsigned_abs();
                let (d, rest) = (ms / 86_400_000, ms % 86_400_000);
                let (h, m, s, f) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
                write!(out, "{sign}{d} {h:02}:{m:02}:{s:02}.{f:03}").unwrap()
            }
            Value::Array(items) => write_joined(out, '[', ']', items, |out, v| v.write_sql(out, precision)),
            Value::Map(entries) => write_joined(out, '{', '}', entries, |out, (k, v)| {
                k.write_sql(out, precision);
                out.push('=');
                v.write_sql(out, precision);
            }),
            Value::Row(fields) => write_joined(out, '(', ')', fields, |out, v| v.write_sql(out, precision)),
        }
    }
}

/// `items` written by `each` between `open` and `close`, separated by `, `.
pub(crate) fn write_joined<I: IntoIterator>(
    out: &mut String,
    open: char,
    close: char,
    items: I,
    mut each: impl FnMut(&mut String, I::Item),
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(out, item);
    }
    out.push(close);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_across_kinds() {
        let d = |s: &str| Value::Decimal(Decimal::parse(s, 10, 3).unwrap());
        assert_eq!(Value::Int(3).compare(&Value::BigInt(3)), Some(Ordering::Equal));
        assert_eq!(Value::TinyInt(3).compare(&d("2.999")), Some(Ordering::Greater));
        assert_eq!(d("-1.5").compare(&Value::Double(-1.25)), Some(Ordering::Less));
        assert_eq!(Value::Null.compare(&Value::Int(1)), None);
        assert_eq!(Value::String("a".into()).compare(&Value::Int(1)), None);
        assert_eq!(Value::Double(f64::NAN).sql_eq(&Value::Double(f64::NAN)), None);
    }

    #[test]
    fn values_print_as_flink_casts_them_to_string() {
        let text = |v: Value, p: u8| {
            let mut s = String::new();
            v.write_sql(&mut s, p);
            s
        };
        assert_eq!(text(Value::Boolean(true), 0), "TRUE");
        assert_eq!(text(Value::Double(1e7), 0), "1.0E7");
        assert_eq!(text(Value::Decimal(Decimal::parse("0.5", 3, 2).unwrap()), 0), "0.50");
        let ts = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap().and_hms_milli_opt(7, 8, 9, 120).unwrap();
        assert_eq!(text(Value::Timestamp(ts), 3), "2024-03-05 07:08:09.120");
        assert_eq!(text(Value::IntervalMillis(-90_061_001), 0), "-1 01:01:01.001");
        assert_eq!(text(Value::Array(vec![Value::Int(1), Value::Null]), 0), "[1, NULL]");
    }
}
