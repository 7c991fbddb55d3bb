//! `CAST`, `TRY_CAST` and the implicit casts the compiler inserts, between Flink's scalar types,
//! with Flink's rules: integers narrow as Java's do (wrapping), a `DOUBLE` becomes an integer
//! saturating, a number that does not fit a `DECIMAL` is NULL, `CHAR(n)` pads and `VARCHAR(n)`
//! cuts, text parses as [`crate::functions::cast`] says (a `CAST` that does not parse fails the
//! job, a `TRY_CAST` is NULL), a `TIMESTAMP_LTZ` meets the other times in the session's zone.

use super::{EvalError, EvalResult, Expr, integer_value};
use crate::ast::DataType;
use crate::decimal::Decimal;
use crate::functions::cast as text;
use crate::functions::timezone::LocalZone;
use crate::value::Value;
use chrono::{NaiveDateTime, NaiveTime, Timelike};
use std::sync::Arc;

/// A cast of `expr` from `from` to `to`.
#[derive(Clone, Debug)]
pub struct Cast {
    /// What is cast.
    pub expr: Expr,
    /// Its type.
    pub from: DataType,
    /// The type cast to.
    pub to: DataType,
    /// `CAST` (a failure fails the job) rather than `TRY_CAST` (NULL).
    pub strict: bool,
    /// The session's time zone.
    pub zone: Arc<LocalZone>,
}

impl Cast {
    pub(super) fn eval(&self, row: &[Value]) -> EvalResult<Value> {
        let v = self.expr.eval(row)?;
        if v.is_null() {
            return Ok(Value::Null);
        }
        match cast(v, &self.from, &self.to, &self.zone) {
            Some(v) => Ok(v),
            None if self.strict => {
                let shown = self.expr.eval(row)?;
                let mut text = String::new();
                shown.write_sql(&mut text, precision(&self.from));
                Err(EvalError(format!(
                    "CAST('{text}' AS {}) failed: the value is not a {}; use TRY_CAST for NULL instead",
                    self.to, self.to
                )))
            }
            None => Ok(Value::Null),
        }
    }
}

/// Whether Flink casts `from` to `to` at all (checked when compiling).
pub fn castable(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let numeric = |t: &DataType| matches!(t, TinyInt | SmallInt | Int | BigInt | Float | Double | Decimal { .. });
    let string = |t: &DataType| matches!(t, Char(_) | VarChar(_));
    let time = |t: &DataType| matches!(t, Date | Time(_) | Timestamp(_) | TimestampLtz(_));
    match (from, to) {
        (Null, _) => true,
        (a, b) if a == b => true,
        (_, b) if string(b) => true,
        (a, _) if string(a) => !matches!(to, Array(_) | Map(..) | Multiset(_) | Row(_)),
        (a, b) if numeric(a) && numeric(b) => true,
        (Boolean, b) | (b, Boolean) if numeric(b) => true,
        (a, b) if time(a) && time(b) => !matches!((a, b), (Date, Time(_)) | (Time(_), Date)),
        (Binary(_) | VarBinary(_), Binary(_) | VarBinary(_)) => true,
        (IntervalDayTime, IntervalDayTime) | (IntervalYearMonth, IntervalYearMonth) => true,
        _ => false,
    }
}

/// Fraction digits a value of type `t` prints with.
pub(crate) fn precision(t: &DataType) -> u8 {
    match t {
        DataType::Time(p) | DataType::Timestamp(p) | DataType::TimestampLtz(p) => *p,
        _ => 0,
    }
}

/// `v` (not NULL, of type `from`) as a `to`; `None` when it has no such value.
pub fn cast(v: Value, from: &DataType, to: &DataType, zone: &LocalZone) -> Option<Value> {
    use DataType as T;
    Some(match to {
        T::Char(n) | T::VarChar(n) => {
            let mut s = match v {
                Value::String(s) => s,
                Value::TimestampLtz(t) => {
                    let mut out = String::new();
                    Value::Timestamp(local(t, zone)?).write_sql(&mut out, precision(from));
                    out
                }
                other => {
                    let mut out = String::new();
                    other.write_sql(&mut out, precision(from));
                    out
                }
            };
            let n = *n as usize;
            let len = s.chars().count();
            if len > n {
                s = s.chars().take(n).collect();
            } else if matches!(to, T::Char(_)) && len < n {
                s.extend(std::iter::repeat_n(' ', n - len));
            }
            Value::String(s)
        }
        T::Boolean => match v {
            Value::Boolean(b) => Value::Boolean(b),
            Value::String(s) => Value::Boolean(text::to_boolean(&s)?),
            other => Value::Boolean(other.as_f64()? != 0.0),
        },
        T::TinyInt | T::SmallInt | T::Int | T::BigInt => {
            let bits = match to {
                T::TinyInt => 8,
                T::SmallInt => 16,
                T::Int => 32,
                _ => 64,
            };
            match v {
                Value::String(s) => integer_value(text::to_integer(&s, bits)?, to),
                Value::Boolean(b) => integer_value(b as i64, to),
                Value::Float(x) => saturating(x as f64, to),
                Value::Double(x) => saturating(x, to),
                Value::Decimal(d) => integer_value(d.trunc() as i64, to),
                other => integer_value(other.as_i64()?, to),
            }
        }
        T::Float | T::Double => {
            let x = match v {
                Value::String(s) => text::to_double(&s)?,
                Value::Boolean(b) => b as i64 as f64,
                other => other.as_f64()?,
            };
            if *to == T::Float { Value::Float(x as f32) } else { Value::Double(x) }
        }
        T::Decimal { precision, scale } => {
            let d = match v {
                Value::String(s) => Decimal::parse(&s, *precision, *scale)?,
                Value::Boolean(b) => Decimal::new(b as i128, 1, 0)?.rescale(*precision, *scale)?,
                Value::Float(x) if x.is_finite() => Decimal::parse(&x.to_string(), *precision, *scale)?,
                Value::Double(x) if x.is_finite() => Decimal::parse(&x.to_string(), *precision, *scale)?,
                other => other.as_decimal()?.rescale(*precision, *scale)?,
            };
            Value::Decimal(d)
        }
        T::Date => match v {
            Value::String(s) => Value::Date(text::to_date(&s)?),
            Value::Date(d) => Value::Date(d),
            Value::Timestamp(t) => Value::Date(t.date()),
            Value::TimestampLtz(t) => Value::Date(local(t, zone)?.date()),
            _ => return None,
        },
        T::Time(p) => match v {
            Value::String(s) => Value::Time(text::to_time(&s, *p)?),
            Value::Time(t) => Value::Time(truncate_time(t, *p)),
            Value::Timestamp(t) => Value::Time(truncate_time(t.time(), *p)),
            Value::TimestampLtz(t) => Value::Time(truncate_time(local(t, zone)?.time(), *p)),
            _ => return None,
        },
        T::Timestamp(p) => match v {
            Value::String(s) => Value::Timestamp(text::to_timestamp(&s, *p)?),
            Value::Timestamp(t) => Value::Timestamp(truncate(t, *p)),
            Value::TimestampLtz(t) => Value::Timestamp(truncate(local(t, zone)?, *p)),
            Value::Date(d) => Value::Timestamp(d.and_time(NaiveTime::MIN)),
            _ => return None,
        },
        T::TimestampLtz(p) => match v {
            Value::String(s) => Value::TimestampLtz(utc(text::to_timestamp(&s, *p)?, zone)?),
            Value::TimestampLtz(t) => Value::TimestampLtz(truncate(t, *p)),
            Value::Timestamp(t) => Value::TimestampLtz(truncate(utc(t, zone)?, *p)),
            Value::Date(d) => Value::TimestampLtz(utc(d.and_time(NaiveTime::MIN), zone)?),
            _ => return None,
        },
        T::Binary(_) | T::VarBinary(_) => match v {
            Value::Bytes(b) => Value::Bytes(b),
            Value::String(s) => Value::Bytes(s.into_bytes()),
            _ => return None,
        },
        _ if from == to => v,
        _ => return None,
    })
}

/// A `DOUBLE` as an integer of type `to`, saturating (Java's `(long)` and `(int)`), NaN as 0.
fn saturating(x: f64, to: &DataType) -> Value {
    match to {
        DataType::TinyInt => Value::TinyInt(x as i32 as i8),
        DataType::SmallInt => Value::SmallInt(x as i32 as i16),
        DataType::Int => Value::Int(x as i32),
        _ => Value::BigInt(x as i64),
    }
}

/// The fraction cut to `p` digits.
fn truncate(t: NaiveDateTime, p: u8) -> NaiveDateTime {
    t.with_nanosecond(cut(t.nanosecond(), p)).unwrap_or(t)
}

fn truncate_time(t: NaiveTime, p: u8) -> NaiveTime {
    t.with_nanosecond(cut(t.nanosecond(), p)).unwrap_or(t)
}

fn cut(nanos: u32, p: u8) -> u32 {
    let unit = 10u32.pow(9 - p.min(9) as u32);
    nanos / unit * unit
}

/// The local time in `zone` of UTC time `t`.
pub(crate) fn local(t: NaiveDateTime, zone: &LocalZone) -> Option<NaiveDateTime> {
    let local = zone.local(t.and_utc().timestamp_millis())?;
    local.with_nanosecond(local.nanosecond() / 1_000_000 * 1_000_000 + t.nanosecond() % 1_000_000)
}

/// The UTC time of local time `t` in `zone`.
pub(crate) fn utc(t: NaiveDateTime, zone: &LocalZone) -> Option<NaiveDateTime> {
    let millis = zone.instant(t)?;
    let utc = chrono::DateTime::from_timestamp_millis(millis)?.naive_utc();
    utc.with_nanosecond(utc.nanosecond() / 1_000_000 * 1_000_000 + t.nanosecond() % 1_000_000)
}
