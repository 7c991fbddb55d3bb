//! Flink's built-in scalar functions: their argument checks and result types (when compiling) and
//! their evaluation (NULL in, NULL out unless a function says otherwise), on the functions of
//! [`crate::functions`], which are checked against Flink one by one.

use super::compile::{Compiler, Typed, call, flink_type, location};
use super::{EvalError, EvalResult, Expr, integer_value};
use crate::ast::{DataType, MAX_LENGTH, Type};
use crate::decimal::Decimal;
use crate::error::SqlError;
use crate::functions::datetime::{self, JavaPattern, TimeUnit};
use crate::functions::json::{self, JsonPath, JsonQuery, JsonScalar, JsonValue, Wrapper};
use crate::functions::numeric;
use crate::functions::string::{self as s, TrimSide};
use crate::functions::timezone::{self as tz, LocalZone};
use crate::typing::{self, Arithmetic};
use crate::value::Value;
use chrono::{NaiveDateTime, NaiveTime};
use regex::Regex;
use sqlparser::ast::{self as sql, CeilFloorKind, FunctionArg, FunctionArgExpr, FunctionArguments};
use sqlparser::tokenizer::Location;
use std::borrow::Cow;
use std::sync::Arc;

const STRING: DataType = DataType::VarChar(MAX_LENGTH);

/// A constant argument compiled once (a pattern, a path), or compiled per row when it is not
/// constant.
#[derive(Clone, Debug)]
pub enum Prepared<T> {
    /// Compiled from the constant argument (`None`: invalid, which the function says how to treat).
    Constant(Option<T>),
    /// Compiled from each row's value.
    PerRow,
}

impl<T: Clone> Prepared<T> {
    fn get<'a>(&'a self, text: &str, compile: impl Fn(&str) -> Option<T>) -> Option<Cow<'a, T>> {
        match self {
            Prepared::Constant(v) => v.as_ref().map(Cow::Borrowed),
            Prepared::PerRow => compile(text).map(Cow::Owned),
        }
    }
}

/// A built-in function, with what is prepared when compiling.
#[derive(Clone, Debug)]
pub enum Func {
    /// `COALESCE(a, b, ...)`, `IFNULL(a, b)`.
    Coalesce,
    /// `IF(c, a, b)`.
    If,
    /// `NULLIF(a, b)`.
    NullIf,
    /// `ABS(x)`.
    Abs,
    /// `ROUND(x, n)` to type `DataType`.
    Round(DataType),
    /// `POWER(x, y)`.
    Power,
    /// `HASH_CODE(s)`.
    HashCode,
    /// `CHAR_LENGTH(s)`.
    CharLength,
    /// `UPPER(s)`.
    Upper,
    /// `LOWER(s)`.
    Lower,
    /// `CONCAT(a, ...)`, `||`.
    Concat,
    /// `CONCAT_WS(sep, a, ...)`.
    ConcatWs,
    /// `SUBSTRING(s, pos [, len])`.
    Substring,
    /// `TRIM(side chars FROM s)`: `(s, chars)`.
    Trim(TrimSide),
    /// `REPLACE(s, from, to)`.
    Replace,
    /// `LPAD` (true) or `RPAD`.
    Pad(bool),
    /// `SPLIT_INDEX(s, delimiter, index)`.
    SplitIndex,
    /// `REGEXP_EXTRACT(s, regex [, group])`.
    RegexpExtract(Prepared<Regex>),
    /// `REGEXP_REPLACE(s, regex, replacement)`.
    RegexpReplace(Prepared<Regex>),
    /// `REGEXP(s, regex)`.
    Regexp(Prepared<Regex>),
    /// `DATE_FORMAT(ts, pattern)`.
    DateFormat(Prepared<JavaPattern>),
    /// `TO_TIMESTAMP(s [, pattern])`.
    ToTimestamp(Option<Prepared<JavaPattern>>),
    /// `EXTRACT(unit FROM t)`, `YEAR(t)`, `HOUR(t)`, ...
    Extract(TimeUnit, Arc<LocalZone>),
    /// `FLOOR(t TO unit)` (true) or `CEIL(t TO unit)`.
    FloorCeilTime(TimeUnit, bool),
    /// `FLOOR(x)` (true) or `CEIL(x)` of a number.
    FloorCeil(bool),
    /// `TIMESTAMPDIFF(unit, a, b)`.
    TimestampDiff(TimeUnit),
    /// `CURRENT_TIMESTAMP`, `NOW()`: the instant of the call.
    CurrentTimestamp,
    /// `PROCTIME()`: the instant of the call, and a processing-time attribute where it is a
    /// column of its own.
    Proctime,
    /// `LOCALTIMESTAMP`: the local time of the call.
    LocalTimestamp(Arc<LocalZone>),
    /// `CURRENT_DATE`.
    CurrentDate(Arc<LocalZone>),
    /// `JSON_VALUE(j, path [RETURNING t])`.
    JsonValue(Prepared<JsonPath>, DataType),
    /// `JSON_QUERY(j, path)`.
    JsonQuery(Prepared<JsonPath>),
    /// `FROM_UNIXTIME(seconds [, pattern])`.
    FromUnixtime(Arc<LocalZone>, Prepared<JavaPattern>),
    /// `UNIX_TIMESTAMP()`.
    UnixTimestampNow,
    /// `UNIX_TIMESTAMP(s [, pattern])`.
    UnixTimestamp(Arc<LocalZone>, Prepared<JavaPattern>),
    /// `TO_TIMESTAMP_LTZ(n, precision)`.
    ToTimestampLtz(u8),
    /// `CONVERT_TZ(s, from, to)`.
    ConvertTz,
    /// A function the binary registers, bound by `CREATE FUNCTION`.
    Udf(crate::udf::ScalarUdf),
    /// `ARRAY[a, b, ..]`.
    Array,
    /// `ROW(a, b, ..)`.
    Row,
    /// `MAP[k1, v1, k2, v2, ..]`: a key given twice keeps its last value.
    Map,
    /// `arr[i]` (from 1) or `map[key]`: NULL when there is no such element.
    Element,
    /// `CARDINALITY(arr | map)`.
    Cardinality,
}

impl Func {
    /// Whether the same arguments always give the same result.
    pub fn is_deterministic(&self) -> bool {
        !matches!(
            self,
            Func::CurrentTimestamp
                | Func::Proctime
                | Func::LocalTimestamp(_)
                | Func::CurrentDate(_)
                | Func::UnixTimestampNow
        )
    }

    /// The call's value on `args` for `row`.
    pub(super) fn eval(&self, args: &[Expr], row: &[Value]) -> EvalResult<Value> {
        match self {
            Func::Coalesce => {
                for a in args {
                    let v = a.eval_ref(row)?;
                    if !v.is_null() {
                        return Ok(v.into_owned());
                    }
                }
                return Ok(Value::Null);
            }
            Func::If => {
                let branch = if args[0].eval_bool(row)? == Some(true) { &args[1] } else { &args[2] };
                return branch.eval(row);
            }
            Func::ConcatWs => {
                let sep = args[0].eval_ref(row)?;
                let Value::String(sep) = &*sep else { return Ok(Value::Null) };
                let values: Vec<Cow<Value>> = args[1..].iter().map(|a| a.eval_ref(row)).collect::<EvalResult<_>>()?;
                let parts: Vec<Option<&str>> = values.iter().map(|v| v.as_str()).collect();
                return Ok(Value::String(s::concat_ws(sep, &parts)));
            }
            Func::CurrentTimestamp | Func::Proctime => return Ok(Value::TimestampLtz(now())),
            Func::LocalTimestamp(zone) => {
                return Ok(super::cast::local(now(), zone).map_or(Value::Null, Value::Timestamp));
            }
            Func::CurrentDate(zone) => {
                return Ok(super::cast::local(now(), zone).map_or(Value::Null, |t| Value::Date(t.date())));
            }
            Func::UnixTimestampNow => return Ok(Value::BigInt(now().and_utc().timestamp())),
            Func::Udf(udf) => {
                let values: Vec<Value> = args.iter().map(|a| a.eval(row)).collect::<EvalResult<_>>()?;
                return (udf.body)(&values).map_err(|e| EvalError(format!("function {}: {e}", udf.identifier)));
            }
            Func::Array | Func::Row => {
                let values: Vec<Value> = args.iter().map(|a| a.eval(row)).collect::<EvalResult<_>>()?;
                return Ok(if matches!(self, Func::Array) { Value::Array(values) } else { Value::Row(values) });
            }
            Func::Map => {
                let mut entries: Vec<(Value, Value)> = Vec::with_capacity(args.len() / 2);
                for pair in args.chunks(2) {
                    let (key, value) = (pair[0].eval(row)?, pair[1].eval(row)?);
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((key, value)),
                    }
                }
                return Ok(Value::Map(entries));
            }
            _ => {}
        }
        // On the stack for up to four arguments: most calls, once per row.
        let values: smallvec::SmallVec<[Cow<Value>; 4]> =
            args.iter().map(|a| a.eval_ref(row)).collect::<EvalResult<_>>()?;
        if values.iter().any(|v| v.is_null()) {
            return Ok(Value::Null);
        }
        let str_at = |i: usize| values[i].as_str().unwrap_or_default();
        let int_at = |i: usize| values[i].as_i64().unwrap_or_default();
        let string = |s: Option<String>| s.map_or(Value::Null, Value::String);
        Ok(match self {
            Func::NullIf => {
                if values[0].sql_eq(&values[1]) == Some(true) {
                    Value::Null
                } else {
                    values[0].clone().into_owned()
                }
            }
            Func::Abs => match &*values[0] {
                Value::Float(x) => Value::Float(x.abs()),
                Value::Double(x) => Value::Double(x.abs()),
                Value::Decimal(d) => {
                    Decimal::new(d.unscaled().abs(), d.precision(), d.scale()).map_or(Value::Null, Value::Decimal)
                }
                Value::TinyInt(v) => Value::TinyInt(numeric::abs_integer(*v as i64, 8) as i8),
                Value::SmallInt(v) => Value::SmallInt(numeric::abs_integer(*v as i64, 16) as i16),
                Value::Int(v) => Value::Int(numeric::abs_integer(*v as i64, 32) as i32),
                other => Value::BigInt(numeric::abs_integer(other.as_i64().unwrap_or(0), 64)),
            },
            Func::Round(ty) => {
                let n = int_at(1) as i32;
                match (&*values[0], ty) {
                    (Value::Decimal(d), DataType::Decimal { precision, scale }) => numeric::round_decimal(*d, n)
                        .and_then(|r| r.rescale(*precision, *scale))
                        .map_or(Value::Null, Value::Decimal),
                    (Value::Float(x), _) => Value::Float(numeric::round_double(*x as f64, n) as f32),
                    (Value::Double(x), _) => Value::Double(numeric::round_double(*x, n)),
                    (v, ty) => integer_value(numeric::round_integer(v.as_i64().unwrap_or(0), n), ty),
                }
            }
            Func::Power => Value::Double(numeric::power(
                values[0].as_f64().unwrap_or(f64::NAN),
                values[1].as_f64().unwrap_or(f64::NAN),
            )),
            Func::FloorCeil(floor) => match &*values[0] {
                Value::Double(x) => Value::Double(if *floor { x.floor() } else { x.ceil() }),
                Value::Float(x) => Value::Float(if *floor { x.floor() } else { x.ceil() }),
                Value::Decimal(d) => {
                    let unit = 10i128.pow(d.scale() as u32);
                    let q = d.unscaled().div_euclid(unit);
                    let q = if !*floor && d.unscaled().rem_euclid(unit) != 0 { q + 1 } else { q };
                    let p = (d.precision() - d.scale()).max(1);
                    Decimal::new(q, p, 0).map_or(Value::Null, Value::Decimal)
                }
                other => other.clone(),
            },
            Func::HashCode => Value::Int(numeric::hash_code(str_at(0))),
            Func::CharLength => Value::Int(s::char_length(str_at(0))),
            Func::Upper => Value::String(s::upper(str_at(0))),
            Func::Lower => Value::String(s::lower(str_at(0))),
            Func::Concat => {
                let parts: Vec<&str> = (0..values.len()).map(str_at).collect();
                Value::String(s::concat(&parts))
            }
            Func::Substring => {
                let len = (values.len() > 2).then(|| int_at(2));
                string(s::substring(str_at(0), int_at(1), len))
            }
            Func::Trim(side) => Value::String(s::trim(str_at(0), *side, str_at(1))),
            Func::Replace => Value::String(s::replace(str_at(0), str_at(1), str_at(2))),
            Func::Pad(left) => string(s::pad(str_at(0), int_at(1), str_at(2), *left)),
            Func::SplitIndex => string(s::split_index(str_at(0), str_at(1), int_at(2))),
            Func::RegexpExtract(re) => {
                let re = re.get(str_at(1), s::pattern);
                let group = if values.len() > 2 { int_at(2) } else { 0 };
                string(s::regexp_extract(str_at(0), re.as_deref(), group))
            }
            Func::RegexpReplace(re) => {
                let re = re.get(str_at(1), s::pattern);
                string(s::regexp_replace(str_at(0), re.as_deref(), str_at(2)))
            }
            Func::Regexp(re) => Value::Boolean(s::regexp(str_at(0), re.get(str_at(1), s::pattern).as_deref())),
            Func::DateFormat(pattern) => {
                let Some(pattern) = pattern.get(str_at(1), |p| JavaPattern::new(p).ok()) else {
                    return Ok(Value::Null);
                };
                match timestamp_of(&values[0]) {
                    Some(t) => Value::String(datetime::date_format(t, &pattern)),
                    None => Value::Null,
                }
            }
            Func::ToTimestamp(pattern) => {
                let t = match pattern {
                    None => datetime::to_timestamp_sql(str_at(0)),
                    Some(p) => match p.get(str_at(1), |p| JavaPattern::new(p).ok()) {
                        Some(p) => datetime::to_timestamp(str_at(0), &p),
                        None => None,
                    },
                };
                t.map_or(Value::Null, Value::Timestamp)
            }
            Func::Extract(unit, zone) => {
                let t = match &*values[0] {
                    Value::TimestampLtz(t) => super::cast::local(*t, zone),
                    v => timestamp_of(v),
                };
                match t {
                    Some(t) => Value::BigInt(datetime::extract(*unit, t)),
                    None => Value::Null,
                }
            }
            Func::FloorCeilTime(unit, floor) => {
                let round = |t| if *floor { datetime::floor(*unit, t) } else { datetime::ceil(*unit, t) };
                match &*values[0] {
                    Value::Timestamp(t) => Value::Timestamp(round(*t)),
                    Value::TimestampLtz(t) => Value::TimestampLtz(round(*t)),
                    Value::Date(d) => Value::Date(round(d.and_time(NaiveTime::MIN)).date()),
                    _ => Value::Null,
                }
            }
            Func::TimestampDiff(unit) => match (timestamp_of(&values[0]), timestamp_of(&values[1])) {
                (Some(a), Some(b)) => Value::Int(datetime::timestamp_diff(*unit, a, b) as i32),
                _ => Value::Null,
            },
            Func::JsonValue(path, returning) => {
                let Some(path) = path.get(str_at(1), |p| JsonPath::new(p).ok()) else { return Ok(Value::Null) };
                match json::json_value(str_at(0), &path) {
                    JsonValue::Value(scalar) => json_returning(scalar, returning)?,
                    JsonValue::Empty | JsonValue::Error => Value::Null,
                }
            }
            Func::JsonQuery(path) => {
                let Some(path) = path.get(str_at(1), |p| JsonPath::new(p).ok()) else { return Ok(Value::Null) };
                match json::json_query(str_at(0), &path, Wrapper::Without) {
                    JsonQuery::Json(j) => Value::String(j),
                    JsonQuery::Empty | JsonQuery::Error => Value::Null,
                }
            }
            Func::FromUnixtime(zone, pattern) => {
                // One argument: the default pattern, prepared as a constant.
                let p = pattern.get(if values.len() > 1 { str_at(1) } else { "" }, |p| JavaPattern::new(p).ok());
                match p {
                    Some(p) => string(tz::from_unixtime(int_at(0), zone, &p)),
                    None => Value::Null,
                }
            }
            Func::UnixTimestamp(zone, pattern) => {
                // One argument: the default pattern, prepared as a constant.
                let p = pattern.get(if values.len() > 1 { str_at(1) } else { "" }, |p| JavaPattern::new(p).ok());
                match p {
                    Some(p) => Value::BigInt(tz::unix_timestamp(str_at(0), zone, &p)),
                    None => Value::Null,
                }
            }
            Func::ToTimestampLtz(precision) => {
                let millis = match &*values[0] {
                    Value::Decimal(d) => {
                        let scaled = if *precision == 0 { d.unscaled() * 1000 } else { d.unscaled() };
                        Some((scaled / 10i128.pow(d.scale() as u32)) as i64)
                    }
                    v @ (Value::Double(_) | Value::Float(_)) => {
                        let x = v.as_f64().unwrap_or(f64::NAN);
                        Some(if *precision == 0 { x * 1000.0 } else { x } as i64)
                    }
                    v => tz::to_timestamp_ltz(v.as_i64().unwrap_or(0), *precision),
                };
                match millis.and_then(chrono::DateTime::from_timestamp_millis) {
                    Some(t) => Value::TimestampLtz(t.naive_utc()),
                    None => Value::Null,
                }
            }
            Func::ConvertTz => string(tz::convert_tz(str_at(0), str_at(1), str_at(2))),
            Func::Element => match &*values[0] {
                Value::Array(items) => {
                    let i = values[1].as_i64().unwrap_or(0);
                    if i >= 1 && (i as usize) <= items.len() { items[i as usize - 1].clone() } else { Value::Null }
                }
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.sql_eq(&values[1]) == Some(true))
                    .map_or(Value::Null, |(_, v)| v.clone()),
                _ => Value::Null,
            },
            Func::Cardinality => match &*values[0] {
                Value::Array(items) => Value::Int(items.len() as i32),
                Value::Map(entries) => Value::Int(entries.len() as i32),
                _ => Value::Null,
            },
            Func::Coalesce
            | Func::If
            | Func::ConcatWs
            | Func::CurrentTimestamp
            | Func::Proctime
            | Func::LocalTimestamp(_)
            | Func::CurrentDate(_)
            | Func::UnixTimestampNow
            | Func::Udf(_)
            | Func::Array
            | Func::Row
            | Func::Map => unreachable!("evaluated above"),
        })
    }
}

fn now() -> NaiveDateTime {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    chrono::DateTime::from_timestamp_millis(millis).map_or(NaiveDateTime::MIN, |t| t.naive_utc())
}

/// A `TIMESTAMP`, a `DATE` at midnight, or text read as `CAST(s AS TIMESTAMP(3))` (as Flink's
/// functions of a timestamp take a string).
fn timestamp_of(v: &Value) -> Option<NaiveDateTime> {
    match v {
        Value::Timestamp(t) | Value::TimestampLtz(t) => Some(*t),
        Value::Date(d) => Some(d.and_time(NaiveTime::MIN)),
        Value::String(s) => datetime::to_timestamp_sql(s),
        _ => None,
    }
}

/// `JSON_VALUE ... RETURNING t` of a scalar found: a value of `t`, or an error where Flink fails.
fn json_returning(scalar: JsonScalar, returning: &DataType) -> EvalResult<Value> {
    let shown = format!("{scalar:?}");
    let fail = || EvalError(format!("JSON_VALUE cannot return {shown} as {returning}"));
    Ok(match (scalar, returning) {
        (s, DataType::VarChar(_) | DataType::Char(_)) => Value::String(s.into_text()),
        (JsonScalar::Boolean(b), DataType::Boolean) => Value::Boolean(b),
        (JsonScalar::Number(n), DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt) => {
            let bits = match returning {
                DataType::TinyInt => 8,
                DataType::SmallInt => 16,
                DataType::Int => 32,
                _ => 64,
            };
            let v: i64 = n.parse().map_err(|_| fail())?;
            if bits < 64 && (v < -(1 << (bits - 1)) || v >= 1 << (bits - 1)) {
                return Err(fail());
            }
            integer_value(v, returning)
        }
        (JsonScalar::Number(n), DataType::Double) => Value::Double(n.parse().map_err(|_| fail())?),
        (JsonScalar::Number(n), DataType::Float) => Value::Float(n.parse().map_err(|_| fail())?),
        (JsonScalar::Number(n), DataType::Decimal { precision, scale }) => {
            Decimal::parse(&n, *precision, *scale).map_or(Value::Null, Value::Decimal)
        }
        _ => return Err(fail()),
    })
}

/// Compiles a function-like expression (a call, `EXTRACT`, `FLOOR(.. TO ..)`, `SUBSTRING(.. FROM
/// ..)`, `TRIM(..)`, `CURRENT_TIMESTAMP`); anything else is named as unsupported.
pub(super) fn compile(c: &Compiler, e: &sql::Expr, at: Location) -> Result<Typed, SqlError> {
    match e {
        sql::Expr::Function(f) => function(c, f, at),
        sql::Expr::Extract { field, expr, .. } => {
            let unit = unit_of(&field.to_string(), at)?;
            let x = c.compile(expr)?;
            extract(c, unit, x, at)
        }
        sql::Expr::Floor { expr, field } | sql::Expr::Ceil { expr, field } => {
            let floor = matches!(e, sql::Expr::Floor { .. });
            let x = c.compile(expr)?;
            match field {
                CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime) => floor_ceil(x, floor, at),
                CeilFloorKind::DateTimeField(unit) => {
                    let unit = unit_of(&unit.to_string(), at)?;
                    if !matches!(x.ty.data, DataType::Timestamp(_) | DataType::TimestampLtz(_) | DataType::Date) {
                        return Err(SqlError::at(at, format!("FLOOR/CEIL(.. TO ..) takes a time, not {}", x.ty.data)));
                    }
                    let (data, nullable) = (x.ty.data.clone(), x.ty.nullable);
                    Ok(call(Func::FloorCeilTime(unit, floor), vec![x], data, nullable))
                }
                CeilFloorKind::Scale(_) => Err(SqlError::at(at, "FLOOR and CEIL take no scale in Flink")),
            }
        }
        sql::Expr::Substring { expr, substring_from, substring_for, .. } => {
            let mut args = vec![c.compile(expr)?];
            match substring_from {
                Some(from) => args.push(c.compile(from)?),
                None => return Err(SqlError::at(at, "SUBSTRING needs a start: SUBSTRING(s FROM i [FOR n])")),
            }
            if let Some(n) = substring_for {
                args.push(c.compile(n)?);
            }
            strings_then_ints(&args, 1, at)?;
            Ok(call(Func::Substring, args, STRING, true))
        }
        sql::Expr::Trim { expr, trim_where, trim_what, trim_characters } => {
            if trim_characters.is_some() {
                return Err(SqlError::at(at, "TRIM takes its characters before FROM: TRIM(BOTH 'x' FROM s)"));
            }
            let side = match trim_where {
                Some(sql::TrimWhereField::Leading) => TrimSide::Leading,
                Some(sql::TrimWhereField::Trailing) => TrimSide::Trailing,
                _ => TrimSide::Both,
            };
            let chars = match trim_what {
                Some(w) => c.compile(w)?,
                None => Typed { expr: Expr::Literal(Value::String(" ".into())), ty: not_null(DataType::Char(1)) },
            };
            let args = vec![c.compile(expr)?, chars];
            strings_then_ints(&args, 2, at)?;
            let nullable = args.iter().any(|a| a.ty.nullable);
            Ok(call(Func::Trim(side), args, STRING, nullable))
        }
        sql::Expr::Array(array) => {
            let args: Vec<Typed> = array.elem.iter().map(|e| c.compile(e)).collect::<Result<_, _>>()?;
            if args.is_empty() {
                return Err(SqlError::at(at, "ARRAY[] needs an element (its type comes from them)"));
            }
            let types: Vec<Type> = args.iter().map(|a| a.ty.clone()).collect();
            let element =
                crate::typing::least_restrictive(&types).map_err(|e| SqlError::at(at, format!("ARRAY: {e}")))?;
            let args = args.into_iter().map(|a| c.cast(a, &element.data, true)).collect();
            Ok(call(Func::Array, args, DataType::Array(Box::new(element)), false))
        }
        sql::Expr::Map(map) => {
            // Flink's `MAP[k1, v1, ..]`, which the dialect reads into entries.
            let mut keys = Vec::new();
            let mut values = Vec::new();
            for entry in &map.entries {
                keys.push(c.compile(&entry.key)?);
                values.push(c.compile(&entry.value)?);
            }
            if keys.is_empty() {
                return Err(SqlError::at(at, "MAP[] needs an entry (its types come from them)"));
            }
            let common = |items: &[Typed], what: &str| {
                let types: Vec<Type> = items.iter().map(|a| a.ty.clone()).collect();
                crate::typing::least_restrictive(&types).map_err(|e| SqlError::at(at, format!("MAP's {what}: {e}")))
            };
            let (key, value) = (common(&keys, "keys")?, common(&values, "values")?);
            let mut args = Vec::with_capacity(keys.len() * 2);
            for (k, v) in keys.into_iter().zip(values) {
                args.push(c.cast(k, &key.data, true));
                args.push(c.cast(v, &value.data, true));
            }
            Ok(call(Func::Map, args, DataType::Map(Box::new(key), Box::new(value)), false))
        }
        sql::Expr::CompoundFieldAccess { root, access_chain } => {
            let mut t = c.compile(root)?;
            for access in access_chain {
                let sql::AccessExpr::Subscript(sql::Subscript::Index { index }) = access else {
                    return Err(SqlError::at(at, format!("{} is not supported in Flink SQL here", describe(e))));
                };
                let key = c.compile(index)?;
                let (element, key) = match &t.ty.data {
                    DataType::Array(element) if is_integer(&key.ty.data) => ((**element).clone(), key),
                    DataType::Map(k, v) => ((**v).clone(), c.cast(key, &k.data, true)),
                    other => {
                        return Err(SqlError::at(
                            at,
                            format!("[{}] takes an ARRAY and an integer or a MAP and a key, not {other}", key.ty.data),
                        ));
                    }
                };
                t = call(Func::Element, vec![t, key], element.data, true);
            }
            Ok(t)
        }
        other => Err(SqlError::at(at, format!("{} is not supported in Flink SQL here", describe(other)))),
    }
}

/// What an unsupported expression is, for the error.
fn describe(e: &sql::Expr) -> String {
    let text = e.to_string();
    let head: String = text.chars().take(40).collect();
    if head.len() < text.len() { format!("`{head}...`") } else { format!("`{text}`") }
}

fn not_null(data: DataType) -> Type {
    Type { data, nullable: false }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Char(_) | DataType::VarChar(_) | DataType::Null)
}

fn is_integer(t: &DataType) -> bool {
    matches!(t, DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt | DataType::Null)
}

/// Checks that the first `strings` arguments are strings and the rest integers.
fn strings_then_ints(args: &[Typed], strings: usize, at: Location) -> Result<(), SqlError> {
    for (i, a) in args.iter().enumerate() {
        let ok = if i < strings { is_string(&a.ty.data) } else { is_integer(&a.ty.data) };
        if !ok {
            let want = if i < strings { "a string" } else { "an integer" };
            return Err(SqlError::at(at, format!("argument {} must be {want}, not {}; CAST it", i + 1, a.ty.data)));
        }
    }
    Ok(())
}

fn unit_of(name: &str, at: Location) -> Result<TimeUnit, SqlError> {
    let name = name.to_ascii_uppercase();
    let name = match name.as_str() {
        "DAYOFMONTH" => "DAY",
        n => n.trim_end_matches('S'),
    };
    TimeUnit::named(name).ok_or_else(|| SqlError::at(at, format!("{name} is not a time unit Flink knows here")))
}

fn extract(c: &Compiler, unit: TimeUnit, x: Typed, at: Location) -> Result<Typed, SqlError> {
    if !matches!(x.ty.data, DataType::Timestamp(_) | DataType::TimestampLtz(_) | DataType::Date | DataType::Null) {
        return Err(SqlError::at(at, format!("EXTRACT takes a DATE or TIMESTAMP, not {}", x.ty.data)));
    }
    let nullable = x.ty.nullable;
    Ok(call(Func::Extract(unit, c.zone.clone()), vec![x], DataType::BigInt, nullable))
}

fn floor_ceil(x: Typed, floor: bool, at: Location) -> Result<Typed, SqlError> {
    let data = match &x.ty.data {
        DataType::Decimal { precision, scale } => DataType::Decimal { precision: (precision - scale).max(1), scale: 0 },
        t if t.is_numeric() => t.clone(),
        other => return Err(SqlError::at(at, format!("FLOOR/CEIL take a number, not {other}"))),
    };
    let nullable = x.ty.nullable;
    Ok(call(Func::FloorCeil(floor), vec![x], data, nullable))
}

/// `a || b` and `CONCAT(...)`.
pub(super) fn concat(_c: &Compiler, args: Vec<Typed>, at: Location) -> Result<Typed, SqlError> {
    strings_then_ints(&args, args.len(), at)?;
    let nullable = args.iter().any(|a| a.ty.nullable);
    Ok(call(Func::Concat, args, STRING, nullable))
}

/// A regular expression or pattern argument: prepared once when constant.
fn prepared<T>(arg: &Typed, compile: impl Fn(&str) -> Option<T>) -> Prepared<T> {
    match &arg.expr {
        Expr::Literal(Value::String(s)) => Prepared::Constant(compile(s)),
        Expr::Literal(_) => Prepared::Constant(None),
        _ => Prepared::PerRow,
    }
}

fn java_pattern(arg: &Typed, at: Location) -> Result<Prepared<JavaPattern>, SqlError> {
    if let Expr::Literal(Value::String(p)) = &arg.expr {
        JavaPattern::new(p).map_err(|e| SqlError::at(at, format!("'{p}': {e}")))?;
    }
    Ok(prepared(arg, |p| JavaPattern::new(p).ok()))
}

fn function(c: &Compiler, f: &sql::Function, at: Location) -> Result<Typed, SqlError> {
    let name = f.name.to_string().to_ascii_uppercase();
    if crate::agg::AggKind::named(&name).is_some() {
        return Err(SqlError::at(
            at,
            format!("the aggregate {name} belongs in the SELECT list or HAVING of a query that aggregates, not here"),
        ));
    }
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return Err(SqlError::at(at, format!("{name}: OVER, FILTER and WITHIN GROUP belong to aggregates, not here")));
    }
    let mut returning = None;
    let raw: Vec<&sql::Expr> = match &f.args {
        FunctionArguments::None => Vec::new(),
        FunctionArguments::Subquery(_) => {
            return Err(SqlError::at(at, format!("{name}: a subquery as an argument is not supported")));
        }
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() {
                return Err(SqlError::at(at, format!("{name}: DISTINCT belongs to aggregates, not here")));
            }
            for clause in &list.clauses {
                match clause {
                    sql::FunctionArgumentClause::JsonReturningClause(r) if name == "JSON_VALUE" => {
                        returning = Some(flink_type(&r.data_type, at)?);
                    }
                    other => return Err(SqlError::at(at, format!("{name}: the clause `{other}` is not supported"))),
                }
            }
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                    other => Err(SqlError::at(at, format!("{name}: the argument `{other}` is not supported here"))),
                })
                .collect::<Result<_, _>>()?
        }
    };
    // Time units are words, not columns.
    if name == "TIMESTAMPDIFF" {
        let [unit, a, b] = raw.as_slice() else {
            return Err(SqlError::at(at, "TIMESTAMPDIFF takes a unit and two times: TIMESTAMPDIFF(SECOND, a, b)"));
        };
        let unit = unit_of(&unit.to_string(), location(unit))?;
        let (a, b) = (c.compile(a)?, c.compile(b)?);
        let nullable = a.ty.nullable || b.ty.nullable;
        return Ok(call(Func::TimestampDiff(unit), vec![a, b], DataType::Int, nullable));
    }
    let args: Vec<Typed> = raw.iter().map(|e| c.compile(e)).collect::<Result<_, _>>()?;
    let arity = |range: std::ops::RangeInclusive<usize>| -> Result<(), SqlError> {
        if range.contains(&args.len()) {
            Ok(())
        } else if range.start() == range.end() {
            Err(SqlError::at(at, format!("{name} takes {} arguments, not {}", range.start(), args.len())))
        } else {
            Err(SqlError::at(
                at,
                format!("{name} takes {} to {} arguments, not {}", range.start(), range.end(), args.len()),
            ))
        }
    };
    let nullable = args.iter().any(|a| a.ty.nullable);
    let unit_fn = |unit: &str| -> Result<Typed, SqlError> {
        arity(1..=1)?;
        extract(c, TimeUnit::named(unit).expect("a unit"), args[0].clone(), at)
    };
    Ok(match name.as_str() {
        "COALESCE" | "IFNULL" => {
            if name == "IFNULL" {
                arity(2..=2)?
            } else {
                arity(1..=usize::MAX)?
            }
            let types: Vec<Type> = args.iter().map(|a| a.ty.clone()).collect();
            let ty = typing::least_restrictive(&types).map_err(|e| SqlError::at(at, format!("{name}: {e}")))?;
            let nullable = args.iter().all(|a| a.ty.nullable);
            let args = args.into_iter().map(|a| c.cast(a, &ty.data, true)).collect();
            call(Func::Coalesce, args, ty.data, nullable)
        }
        "IF" => {
            arity(3..=3)?;
            if !matches!(args[0].ty.data, DataType::Boolean | DataType::Null) {
                return Err(SqlError::at(at, format!("IF takes a BOOLEAN condition, not {}", args[0].ty.data)));
            }
            let ty = typing::least_restrictive(&[args[1].ty.clone(), args[2].ty.clone()])
                .map_err(|e| SqlError::at(at, format!("IF: {e}")))?;
            let mut args = args;
            let b = c.cast(args.pop().expect("3"), &ty.data, true);
            let a = c.cast(args.pop().expect("3"), &ty.data, true);
            call(Func::If, vec![args.pop().expect("3"), a, b], ty.data, ty.nullable)
        }
        "NULLIF" => {
            arity(2..=2)?;
            let data = args[0].ty.data.clone();
            call(Func::NullIf, args, data, true)
        }
        "MOD" => {
            arity(2..=2)?;
            let mut args = args;
            let r = args.pop().expect("2");
            return c.arithmetic(Arithmetic::Mod, args.pop().expect("2"), r, at);
        }
        "ABS" => {
            arity(1..=1)?;
            let data = args[0].ty.data.clone();
            typing::arithmetic(Arithmetic::Plus, &args[0].ty, &args[0].ty)
                .map_err(|_| SqlError::at(at, format!("ABS takes a number, not {data}")))?;
            call(Func::Abs, args, data, nullable)
        }
        "ROUND" => {
            arity(1..=2)?;
            let mut args = args;
            if args.len() == 1 {
                args.push(Typed { expr: Expr::Literal(Value::Int(0)), ty: not_null(DataType::Int) });
            }
            let Expr::Literal(Value::Int(n)) = args[1].expr else {
                return Err(SqlError::at(at, "ROUND takes a constant INT number of digits"));
            };
            let data = match &args[0].ty.data {
                DataType::Decimal { precision, scale } => {
                    let keep = (n.max(0) as u32).min(*scale as u32);
                    let p = (*precision as i64 - *scale as i64 + keep as i64 + 1).clamp(1, 38) as u8;
                    DataType::Decimal { precision: p, scale: keep as u8 }
                }
                t if t.is_numeric() => t.clone(),
                other => return Err(SqlError::at(at, format!("ROUND takes a number, not {other}"))),
            };
            call(Func::Round(data.clone()), args, data, nullable)
        }
        "POWER" | "POW" => {
            arity(2..=2)?;
            for a in &args {
                typing::arithmetic(Arithmetic::Plus, &a.ty, &a.ty)
                    .map_err(|_| SqlError::at(at, format!("{name} takes numbers, not {}", a.ty.data)))?;
            }
            call(Func::Power, args, DataType::Double, nullable)
        }
        "HASH_CODE" | "CHAR_LENGTH" | "CHARACTER_LENGTH" | "UPPER" | "LOWER" => {
            arity(1..=1)?;
            strings_then_ints(&args, 1, at)?;
            let (func, data) = match name.as_str() {
                "HASH_CODE" => (Func::HashCode, DataType::Int),
                "UPPER" => (Func::Upper, STRING),
                "LOWER" => (Func::Lower, STRING),
                _ => (Func::CharLength, DataType::Int),
            };
            call(func, args, data, nullable)
        }
        "CONCAT" => {
            arity(1..=usize::MAX)?;
            concat(c, args, at)?
        }
        "CONCAT_WS" => {
            arity(1..=usize::MAX)?;
            strings_then_ints(&args, args.len(), at)?;
            let nullable = args[0].ty.nullable;
            call(Func::ConcatWs, args, STRING, nullable)
        }
        "SUBSTRING" | "SUBSTR" => {
            arity(2..=3)?;
            strings_then_ints(&args, 1, at)?;
            call(Func::Substring, args, STRING, true)
        }
        "LTRIM" | "RTRIM" => {
            arity(1..=1)?;
            strings_then_ints(&args, 1, at)?;
            let side = if name == "LTRIM" { TrimSide::Leading } else { TrimSide::Trailing };
            let mut args = args;
            args.push(Typed { expr: Expr::Literal(Value::String(" ".into())), ty: not_null(DataType::Char(1)) });
            call(Func::Trim(side), args, STRING, nullable)
        }
        "REPLACE" => {
            arity(3..=3)?;
            strings_then_ints(&args, 3, at)?;
            call(Func::Replace, args, STRING, nullable)
        }
        "LPAD" | "RPAD" => {
            arity(3..=3)?;
            strings_then_ints(&args[..1], 1, at)?;
            strings_then_ints(&args[1..2], 0, at)?;
            strings_then_ints(&args[2..], 1, at)?;
            call(Func::Pad(name == "LPAD"), args, STRING, true)
        }
        "SPLIT_INDEX" => {
            arity(3..=3)?;
            strings_then_ints(&args, 2, at)?;
            call(Func::SplitIndex, args, STRING, true)
        }
        "REGEXP_EXTRACT" => {
            arity(2..=3)?;
            strings_then_ints(&args, 2, at)?;
            let re = prepared(&args[1], s::pattern);
            call(Func::RegexpExtract(re), args, STRING, true)
        }
        "REGEXP_REPLACE" => {
            arity(3..=3)?;
            strings_then_ints(&args, 3, at)?;
            let re = prepared(&args[1], s::pattern);
            call(Func::RegexpReplace(re), args, STRING, true)
        }
        "REGEXP" => {
            arity(2..=2)?;
            strings_then_ints(&args, 2, at)?;
            let re = prepared(&args[1], s::pattern);
            call(Func::Regexp(re), args, DataType::Boolean, nullable)
        }
        "DATE_FORMAT" => {
            arity(2..=2)?;
            let time = matches!(args[0].ty.data, DataType::Timestamp(_) | DataType::TimestampLtz(_) | DataType::Date);
            if !(time || is_string(&args[0].ty.data)) || !is_string(&args[1].ty.data) {
                return Err(SqlError::at(
                    at,
                    format!(
                        "DATE_FORMAT takes a timestamp and a pattern, not {} and {}",
                        args[0].ty.data, args[1].ty.data
                    ),
                ));
            }
            let p = java_pattern(&args[1], at)?;
            call(Func::DateFormat(p), args, STRING, nullable)
        }
        "TO_TIMESTAMP" => {
            arity(1..=2)?;
            strings_then_ints(&args, args.len(), at)?;
            let p = if args.len() == 2 { Some(java_pattern(&args[1], at)?) } else { None };
            call(Func::ToTimestamp(p), args, DataType::Timestamp(3), true)
        }
        "YEAR" => unit_fn("YEAR")?,
        "QUARTER" => unit_fn("QUARTER")?,
        "MONTH" => unit_fn("MONTH")?,
        "WEEK" => unit_fn("WEEK")?,
        "DAYOFMONTH" => unit_fn("DAY")?,
        "DAYOFYEAR" => unit_fn("DOY")?,
        "DAYOFWEEK" => unit_fn("DOW")?,
        "HOUR" => unit_fn("HOUR")?,
        "MINUTE" => unit_fn("MINUTE")?,
        "SECOND" => unit_fn("SECOND")?,
        "CURRENT_TIMESTAMP" | "NOW" | "CURRENT_ROW_TIMESTAMP" => {
            arity(0..=0)?;
            call(Func::CurrentTimestamp, args, DataType::TimestampLtz(3), false)
        }
        "PROCTIME" => {
            arity(0..=0)?;
            call(Func::Proctime, args, DataType::TimestampLtz(3), false)
        }
        "LOCALTIMESTAMP" => {
            arity(0..=0)?;
            call(Func::LocalTimestamp(c.zone.clone()), args, DataType::Timestamp(3), false)
        }
        "CURRENT_DATE" => {
            arity(0..=0)?;
            call(Func::CurrentDate(c.zone.clone()), args, DataType::Date, false)
        }
        "JSON_VALUE" => {
            arity(2..=2)?;
            strings_then_ints(&args, 2, at)?;
            let path = prepared(&args[1], |p| JsonPath::new(p).ok());
            let returning = returning.map_or(STRING, |t| t.data);
            call(Func::JsonValue(path, returning.clone()), args, returning, true)
        }
        "JSON_QUERY" => {
            arity(2..=2)?;
            strings_then_ints(&args, 2, at)?;
            let path = prepared(&args[1], |p| JsonPath::new(p).ok());
            call(Func::JsonQuery(path), args, STRING, true)
        }
        "FROM_UNIXTIME" => {
            arity(1..=2)?;
            strings_then_ints(&args[..1], 0, at)?;
            strings_then_ints(&args[1..], args.len() - 1, at)?;
            let p = if args.len() == 2 {
                java_pattern(&args[1], at)?
            } else {
                Prepared::Constant(JavaPattern::new("yyyy-MM-dd HH:mm:ss").ok())
            };
            call(Func::FromUnixtime(c.zone.clone(), p), args, STRING, true)
        }
        "UNIX_TIMESTAMP" => {
            arity(0..=2)?;
            if args.is_empty() {
                return Ok(call(Func::UnixTimestampNow, args, DataType::BigInt, false));
            }
            strings_then_ints(&args, args.len(), at)?;
            let p = if args.len() == 2 {
                java_pattern(&args[1], at)?
            } else {
                Prepared::Constant(JavaPattern::new("yyyy-MM-dd HH:mm:ss").ok())
            };
            call(Func::UnixTimestamp(c.zone.clone(), p), args, DataType::BigInt, nullable)
        }
        "TO_TIMESTAMP_LTZ" => {
            arity(1..=2)?;
            let precision = match args.get(1).map(|a| &a.expr) {
                None => 3,
                Some(Expr::Literal(Value::Int(p @ (0 | 3)))) => *p as u8,
                Some(_) => {
                    return Err(SqlError::at(
                        at,
                        "TO_TIMESTAMP_LTZ takes a precision of 0 (seconds) or 3 (milliseconds)",
                    ));
                }
            };
            typing::arithmetic(Arithmetic::Plus, &args[0].ty, &args[0].ty)
                .map_err(|_| SqlError::at(at, format!("TO_TIMESTAMP_LTZ takes a number, not {}", args[0].ty.data)))?;
            call(Func::ToTimestampLtz(precision), args, DataType::TimestampLtz(3), nullable)
        }
        "ROW" => {
            arity(1..=usize::MAX)?;
            let fields = args
                .iter()
                .enumerate()
                .map(|(i, a)| crate::ast::Field { name: format!("EXPR${i}"), ty: a.ty.clone() })
                .collect();
            call(Func::Row, args, DataType::Row(fields), false)
        }
        "CARDINALITY" => {
            arity(1..=1)?;
            if !matches!(args[0].ty.data, DataType::Array(_) | DataType::Map(..) | DataType::Multiset(_)) {
                return Err(SqlError::at(at, format!("CARDINALITY takes an ARRAY or a MAP, not {}", args[0].ty.data)));
            }
            call(Func::Cardinality, args, DataType::Int, nullable)
        }
        "CONVERT_TZ" => {
            arity(3..=3)?;
            strings_then_ints(&args, 3, at)?;
            call(Func::ConvertTz, args, STRING, nullable)
        }
        n if ["TUMBLE_", "HOP_", "SESSION_"]
            .iter()
            .any(|w| n.strip_prefix(w).is_some_and(|aux| ["START", "END", "ROWTIME", "PROCTIME"].contains(&aux))) =>
        {
            let window = &n[..n.find('_').expect("a window prefix")];
            return Err(SqlError::at(
                at,
                format!(
                    "{n} names a window of the GROUP BY: group by {window}(..) with the same arguments, written the same way, and the select list may name {window}_START, {window}_END and {window}_ROWTIME of it"
                ),
            ));
        }
        _ => match c.udfs.get(&name) {
            Some(udf) => {
                let cast = c.cast_arguments(&name, args, &udf.args, at)?;
                call(Func::Udf(udf.clone()), cast, udf.result.clone(), true)
            }
            None => {
                return Err(SqlError::at(
                    at,
                    format!(
                        "unknown function {name}; see the functions in README.md, or bind yours with CREATE FUNCTION"
                    ),
                ));
            }
        },
    })
}
