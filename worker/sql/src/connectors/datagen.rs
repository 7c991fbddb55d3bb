//! `'connector' = 'datagen'`: generated rows, with Flink's options. `rows-per-second` (default
//! 10000, over all readers; more than the machine can make means no throttling),
//! `number-of-rows` (default: unbounded), and per column `fields.<c>.kind` (`random`, the
//! default, or `sequence`), `.min`/`.max` (numbers), `.length` (text and bytes, default 100),
//! `.var-len`, `.max-past` (times: up to that long before now), `.start`/`.end` (sequences;
//! the table ends after the shortest), `.null-rate`. As in Flink, only `number-of-rows` makes the
//! table bounded for batch mode. Every declared column is generated, as
//! Flink does (no projection push-down).
//!
//! Random values are a function of the row's index (SplitMix64 of a per-column seed and the
//! index), so a table holds the same rows at every parallelism and in every run, except for
//! times, which are relative to the clock as in Flink. Text is lower-case hexadecimal, as
//! Flink's random strings are.

use super::Options;
use crate::ast::{DataType, Type};
use crate::decimal::Decimal;
use crate::error::SqlError;
use crate::expr::integer_value;
use crate::value::{Row, Value};
use chrono::{Duration as Span, NaiveDateTime, NaiveTime};
use ferroflink_connectors::generator::{GeneratorSource, mix};
use ferroflink_datastream::{DataStream, StreamExecutionEnvironment};
use ferroflink_runtime::watermark::WatermarkStrategy;
use std::sync::Arc;

/// How one column's values are made.
#[derive(Clone, Debug)]
enum Gen {
    /// `start + index`, as the column's type.
    Sequence { start: i64, ty: DataType },
    /// A whole number in `[min, max]`.
    Integer { min: i64, max: i64, ty: DataType },
    /// A floating-point number in `[min, max)`.
    Real { min: f64, max: f64, float: bool },
    /// A decimal in `[min, max)`, at the type's scale.
    Decimal { min: f64, max: f64, precision: u8, scale: u8 },
    /// Hexadecimal text of `length` characters (`var_len`: 1 to `length`).
    Text { length: usize, var_len: bool, bytes: bool },
    /// `true` or `false`.
    Boolean,
    /// A time up to `max_past_ms` before now.
    Time { max_past_ms: i64, ty: DataType },
}

#[derive(Clone, Debug)]
struct Column {
    make: Gen,
    /// Chance of NULL, as a threshold on 64 random bits.
    null_below: u64,
    seed: u64,
}

fn type_range(t: &DataType) -> (i64, i64) {
    match t {
        DataType::TinyInt => (i8::MIN as i64, i8::MAX as i64),
        DataType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
        DataType::Int => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
}

fn column(options: &mut Options, name: &str, ty: &Type, index: usize) -> Result<(Column, Option<u64>), SqlError> {
    let key = |k: &str| format!("fields.{name}.{k}");
    let kind = options.text(&key("kind")).unwrap_or_else(|| "random".into());
    let null_rate = options.number::<f64>(&key("null-rate"))?.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&null_rate) {
        return Err(options.error(format!("'{}' is a fraction between 0 and 1", key("null-rate"))));
    }
    let unsupported = |options: &Options, what: &str| {
        options.error(format!("datagen cannot generate {what} values for column `{name}` of type {}", ty.data))
    };
    let mut rows = None;
    let make = match kind.as_str() {
        "sequence" => {
            let (Some(start), Some(end)) = (options.number::<i64>(&key("start"))?, options.number::<i64>(&key("end"))?)
            else {
                return Err(options.error(format!("a sequence needs '{}' and '{}'", key("start"), key("end"))));
            };
            if end < start {
                return Err(options.error(format!("'{}' is below '{}'", key("end"), key("start"))));
            }
            let (min, max) = type_range(&ty.data);
            let ok = match &ty.data {
                DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt => start >= min && end <= max,
                DataType::Float
                | DataType::Double
                | DataType::Decimal { .. }
                | DataType::Char(_)
                | DataType::VarChar(_) => true,
                _ => false,
            };
            if !ok {
                return Err(unsupported(options, "sequence"));
            }
            rows = Some((end - start) as u64 + 1);
            Gen::Sequence { start, ty: ty.data.clone() }
        }
        "random" => match &ty.data {
            t @ (DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt) => {
                let (lo, hi) = type_range(t);
                let min = options.number::<i64>(&key("min"))?.unwrap_or(lo);
                let max = options.number::<i64>(&key("max"))?.unwrap_or(hi);
                if min > max || min < lo || max > hi {
                    return Err(options.error(format!("'{}'..'{}' is not a range of {t}", key("min"), key("max"))));
                }
                Gen::Integer { min, max, ty: t.clone() }
            }
            t @ (DataType::Float | DataType::Double) => {
                let min = options.number::<f64>(&key("min"))?.unwrap_or(f32::MIN as f64);
                let max = options.number::<f64>(&key("max"))?.unwrap_or(f32::MAX as f64);
                Gen::Real { min, max, float: *t == DataType::Float }
            }
            DataType::Decimal { precision, scale } => {
                let min = options.number::<f64>(&key("min"))?.unwrap_or(0.0);
                let max = options.number::<f64>(&key("max"))?.unwrap_or(10f64.powi((*precision - *scale) as i32) - 1.0);
                Gen::Decimal { min, max, precision: *precision, scale: *scale }
            }
            t @ (DataType::Char(_) | DataType::VarChar(_) | DataType::Binary(_) | DataType::VarBinary(_)) => {
                let declared = match t {
                    DataType::Char(n) | DataType::Binary(n) => Some(*n as usize),
                    _ => None,
                };
                let length = options.number::<usize>(&key("length"))?.or(declared).unwrap_or(100);
                let var_len = options.boolean(&key("var-len"))?.unwrap_or(false);
                Gen::Text { length, var_len, bytes: matches!(t, DataType::Binary(_) | DataType::VarBinary(_)) }
            }
            DataType::Boolean => Gen::Boolean,
            t @ (DataType::Timestamp(_) | DataType::TimestampLtz(_) | DataType::Date | DataType::Time(_)) => {
                let max_past = options.duration(&key("max-past"))?.unwrap_or_default();
                Gen::Time { max_past_ms: max_past.as_millis() as i64, ty: t.clone() }
            }
            _ => return Err(unsupported(options, "random")),
        },
        other => return Err(options.error(format!("'{}' is 'random' or 'sequence', not '{other}'", key("kind")))),
    };
    let null_below = (null_rate * u64::MAX as f64) as u64;
    let seed = mix(0x5eed_da7a_6e4e_0000, index as u64);
    Ok((Column { make, null_below, seed }, rows))
}

/// The datagen table's rows.
pub(super) fn source(
    env: &StreamExecutionEnvironment,
    options: &mut Options,
    columns: &[(String, Type)],
    batch: bool,
    strategy: WatermarkStrategy<Row>,
) -> Result<DataStream<Row>, SqlError> {
    let rate = options.number::<f64>("rows-per-second")?.unwrap_or(10_000.0);
    let mut count = options.number::<u64>("number-of-rows")?;
    if batch && count.is_none() {
        // As Flink: a sequence ends the table, but only 'number-of-rows' makes it bounded.
        return Err(options.error(
            "is unbounded, and batch mode reads bounded tables only: set 'number-of-rows', or run in streaming mode",
        ));
    }
    let parallelism = options.number::<usize>("scan.parallelism")?;
    let mut gens = Vec::with_capacity(columns.len());
    for (i, (name, ty)) in columns.iter().enumerate() {
        let (column, rows) = column(options, name, ty, i)?;
        if let Some(rows) = rows {
            count = Some(count.map_or(rows, |c| c.min(rows)));
        }
        gens.push(column);
    }
    let gens: Arc<[Column]> = gens.into();
    let source =
        GeneratorSource::new(count, move |i| Row::insert(gens.iter().map(|c| c.value(i)).collect())).with_rate(rate);
    let stream = env.from_source(source, strategy, &format!("Source: {}", options.table()));
    Ok(match parallelism {
        Some(p) => stream.set_parallelism(p),
        None => stream,
    })
}

thread_local! {
    /// The clock, read again every 256 calls: a row's time is "now" to within a few microseconds
    /// at no cost per row.
    static CLOCK: std::cell::Cell<(u32, i64)> = const { std::cell::Cell::new((0, 0)) };
}

fn now_millis() -> i64 {
    CLOCK.with(|c| {
        let (calls, now) = c.get();
        let now = if calls % 256 == 0 {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
        } else {
            now
        };
        c.set((calls.wrapping_add(1), now));
        now
    })
}

/// Each byte's two hexadecimal digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX[b >> 4], HEX[b & 15]];
        b += 1;
    }
    t
};

impl Column {
    /// `n` random hexadecimal digits of row `i`, 16 from each 64 random bits.
    fn hex(&self, i: u64, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n.next_multiple_of(16));
        for word in 0..n.div_ceil(16) {
            for byte in mix(self.seed.wrapping_add(word as u64 + 1), i).to_le_bytes() {
                out.extend_from_slice(&HEX_PAIRS[byte as usize]);
            }
        }
        out.truncate(n);
        out
    }

    fn value(&self, i: u64) -> Value {
        if self.null_below > 0 && mix(self.seed ^ 0x6e75_6c6c, i) < self.null_below {
            return Value::Null;
        }
        let r = mix(self.seed, i);
        match &self.make {
            Gen::Sequence { start, ty } => {
                let v = start.wrapping_add(i as i64);
                match ty {
                    DataType::Float => Value::Float(v as f32),
                    DataType::Double => Value::Double(v as f64),
                    DataType::Decimal { precision, scale } => Decimal::new(v as i128, 19, 0)
                        .and_then(|d| d.rescale(*precision, *scale))
                        .map_or(Value::Null, Value::Decimal),
                    DataType::Char(_) | DataType::VarChar(_) => Value::String(v.to_string()),
                    t => integer_value(v, t),
                }
            }
            Gen::Integer { min, max, ty } => {
                // Lemire's multiply-shift: r scaled into the span without a division.
                let span = (*max as i128 - *min as i128 + 1) as u128;
                let offset = if span > u64::MAX as u128 { r as u128 } else { (r as u128 * span) >> 64 };
                integer_value((*min as i128 + offset as i128) as i64, ty)
            }
            Gen::Real { min, max, float } => {
                let x = min + unit(r) * (max - min);
                if *float { Value::Float(x as f32) } else { Value::Double(x) }
            }
            Gen::Decimal { min, max, precision, scale } => {
                let x = min + unit(r) * (max - min);
                let unscaled = (x * 10f64.powi(*scale as i32)).trunc() as i128;
                Decimal::new(unscaled, *precision, *scale).map_or(Value::Null, Value::Decimal)
            }
            Gen::Text { length, var_len, bytes } => {
                let n = if *var_len && *length > 0 { 1 + (r % *length as u64) as usize } else { *length };
                let hex = self.hex(i, n);
                if *bytes {
                    Value::Bytes(hex)
                } else {
                    Value::String(String::from_utf8(hex).expect("hexadecimal digits"))
                }
            }
            Gen::Boolean => Value::Boolean(r & 1 == 1),
            Gen::Time { max_past_ms, ty } => {
                let past = if *max_past_ms > 0 { (r % (*max_past_ms as u64 + 1)) as i64 } else { 0 };
                let millis = now_millis() - past;
                let t = chrono::DateTime::from_timestamp_millis(millis).map_or(NaiveDateTime::MIN, |t| t.naive_utc());
                match ty {
                    DataType::TimestampLtz(_) => Value::TimestampLtz(t),
                    DataType::Date => Value::Date(t.date()),
                    DataType::Time(_) => {
                        Value::Time(NaiveTime::MIN + Span::milliseconds(millis.rem_euclid(86_400_000)))
                    }
                    _ => Value::Timestamp(t),
                }
            }
        }
    }
}

/// 53 random bits as a fraction in `[0, 1)`.
fn unit(r: u64) -> f64 {
    (r >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
