//! Flink's `JSON_VALUE` and `JSON_QUERY`, checked against Flink 2.3 by `tests/json_functions.rs`.
//!
//! What Flink does, and so this: a path is `$` then `.name`, `['name']`, `[n]`, `[*]` or `.*`
//! steps, in `strict` mode unless it starts with `lax` (a missing member or index is an error in
//! strict mode and nothing in lax mode; a member of an array is nothing in lax mode too).
//! Numbers keep their digits as Java's `BigDecimal` prints them (`1.50` stays `1.50`, `1e3` is
//! `1E+3`, `-0.0` is `0.0`); `JSON_QUERY` prints objects compactly with their keys sorted. The
//! document is walked lazily: only the values on the path are parsed.

use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A compiled path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    lax: bool,
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(usize),
    AnyMember,
    AnyIndex,
}

impl JsonPath {
    /// Compiles `[lax | strict] $...`; an error says what is wrong with it.
    pub fn new(text: &str) -> Result<JsonPath, String> {
        let t = text.trim();
        let (lax, rest) = if let Some(r) = t.strip_prefix("lax").filter(|r| r.starts_with(char::is_whitespace)) {
            (true, r.trim_start())
        } else if let Some(r) = t.strip_prefix("strict").filter(|r| r.starts_with(char::is_whitespace)) {
            (false, r.trim_start())
        } else {
            (false, t)
        };
        let bad = |why: &str| format!("the JSON path '{text}' {why}");
        let mut rest = rest.strip_prefix('$').ok_or_else(|| bad("does not start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix(".*") {
                steps.push(Step::AnyMember);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad("has an empty member name"));
                }
                steps.push(Step::Member(r[..end].to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix("[*]") {
                steps.push(Step::AnyIndex);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').ok_or_else(|| bad("has an unclosed ["))?;
                let inside = r[..end].trim();
                let quoted = inside
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                steps.push(match quoted {
                    Some(name) => Step::Member(name.to_string()),
                    None => Step::Index(inside.parse().map_err(|_| bad("has an index that is not a whole number"))?),
                });
                rest = &r[end + 1..];
            } else {
                return Err(bad(&format!("has '{rest}' where a step (.name, [n], [*]) belongs")));
            }
        }
        Ok(JsonPath { lax, steps })
    }
}

/// What a path found.
#[derive(Debug)]
enum Found<'a> {
    /// Nothing (lax mode).
    Empty,
    /// One value.
    One(&'a RawValue),
    /// The values of a wildcard, in order.
    Many(Vec<&'a RawValue>),
}

/// Why a path found no value: Flink's `ON ERROR` cases (bad JSON, strict misses, wrong kinds).
struct PathError;

fn first_char(v: &RawValue) -> u8 {
    v.get().bytes().next().unwrap_or(b' ')
}

/// An object's members in document order.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl<'a> Members<'a> {
    /// The member named `name` (the last, if named twice, as Jackson reads it).
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| *v)
    }
}

fn object(v: &RawValue) -> Option<Members<'_>> {
    (first_char(v) == b'{').then(|| serde_json::from_str(v.get()).ok()).flatten()
}

fn array(v: &RawValue) -> Option<Vec<&RawValue>> {
    (first_char(v) == b'[').then(|| serde_json::from_str(v.get()).ok()).flatten()
}

/// Applies one step to each of `values`.
fn step<'a>(lax: bool, s: &Step, values: Vec<&'a RawValue>) -> Result<Vec<&'a RawValue>, PathError> {
    let mut out = Vec::new();
    for v in values {
        match s {
            Step::Member(name) => match object(v) {
                Some(o) => match o.get(name) {
                    Some(m) => out.push(m),
                    None if lax => {}
                    None => return Err(PathError),
                },
                None if lax => {}
                None => return Err(PathError),
            },
            Step::AnyMember => match object(v) {
                Some(o) => out.extend(o.0.into_iter().map(|(_, m)| m)),
                None if lax => {}
                None => return Err(PathError),
            },
            Step::Index(i) => match array(v) {
                Some(items) => match items.get(*i) {
                    Some(item) => out.push(*item),
                    None if lax => {}
                    None => return Err(PathError),
                },
                None if lax && *i == 0 => out.push(v),
                None if lax => {}
                None => return Err(PathError),
            },
            Step::AnyIndex => match array(v) {
                Some(items) => out.extend(items),
                None if lax => out.push(v),
                None => return Err(PathError),
            },
        }
    }
    Ok(out)
}

fn find<'a>(doc: &'a RawValue, path: &JsonPath) -> Result<Found<'a>, PathError> {
    let mut values = vec![doc];
    let mut many = false;
    for s in &path.steps {
        many |= matches!(s, Step::AnyMember | Step::AnyIndex);
        values = step(path.lax, s, values)?;
    }
    Ok(match (values.len(), many) {
        (0, _) => Found::Empty,
        (1, false) => Found::One(values[0]),
        _ => Found::Many(values),
    })
}

/// A JSON number's text as Java's `BigDecimal.toString` prints it.
fn big_decimal(text: &str) -> String {
    let (negative, t) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let coeff = digits.trim_start_matches('0');
    let coeff = if coeff.is_empty() { "0" } else { coeff };
    let scale = frac.len() as i64 - exponent;
    let adjusted = -scale + (coeff.len() as i64 - 1);
    let sign = if negative && coeff != "0" { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{coeff}");
    }
    if scale > 0 && adjusted >= -6 {
        let point = coeff.len() as i64 - scale;
        return if point > 0 {
            format!("{sign}{}.{}", &coeff[..point as usize], &coeff[point as usize..])
        } else {
            format!("{sign}0.{}{coeff}", "0".repeat((-point) as usize))
        };
    }
    let rest = if coeff.len() > 1 { format!(".{}", &coeff[1..]) } else { String::new() };
    let exp = if adjusted > 0 { format!("+{adjusted}") } else { adjusted.to_string() };
    format!("{sign}{}{rest}E{exp}", &coeff[..1])
}

/// Compact JSON, keys sorted, numbers as `BigDecimal` prints them.
fn write_json(v: &RawValue, out: &mut String) {
    match first_char(v) {
        b'{' => {
            // Keys sorted, the last of a key named twice kept.
            let members: BTreeMap<String, &RawValue> = object(v).map(|o| o.0).unwrap_or_default().into_iter().collect();
            out.push('{');
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(&k).unwrap_or_default());
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        b'[' => write_array(&array(v).unwrap_or_default(), out),
        b'-' | b'0'..=b'9' => out.push_str(&big_decimal(v.get())),
        _ => out.push_str(v.get()),
    }
}

fn write_array(items: &[&RawValue], out: &mut String) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json(item, out);
    }
    out.push(']');
}

/// A scalar `JSON_VALUE` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonScalar {
    /// A string's contents.
    String(String),
    /// A number, as Java's `BigDecimal` prints it.
    Number(String),
    /// `true` or `false`.
    Boolean(bool),
}

impl JsonScalar {
    /// As `JSON_VALUE ... RETURNING STRING` (the default) gives it.
    pub fn into_text(self) -> String {
        match self {
            JsonScalar::String(s) | JsonScalar::Number(s) => s,
            JsonScalar::Boolean(b) => b.to_string(),
        }
    }
}

/// What `JSON_VALUE` returns for a document and path, before `RETURNING`, `ON EMPTY` and `ON ERROR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonValue {
    /// A scalar.
    Value(JsonScalar),
    /// Nothing found (lax mode): `ON EMPTY` decides.
    Empty,
    /// Not JSON, a strict miss, JSON `null`, or not a scalar: `ON ERROR` decides.
    Error,
}

/// `JSON_VALUE(json, path)`.
pub fn json_value(json: &str, path: &JsonPath) -> JsonValue {
    let Ok(doc) = serde_json::from_str::<&RawValue>(json) else { return JsonValue::Error };
    let scalar = match find(doc, path) {
        Err(PathError) | Ok(Found::Many(_)) => return JsonValue::Error,
        Ok(Found::Empty) => return JsonValue::Empty,
        Ok(Found::One(v)) => match first_char(v) {
            // A JSON null is an error for JSON_VALUE, as an object is.
            b'{' | b'[' | b'n' => return JsonValue::Error,
            b'"' => match serde_json::from_str::<String>(v.get()) {
                Ok(s) => JsonScalar::String(s),
                Err(_) => return JsonValue::Error,
            },
            b't' => JsonScalar::Boolean(true),
            b'f' => JsonScalar::Boolean(false),
            _ => JsonScalar::Number(big_decimal(v.get())),
        },
    };
    JsonValue::Value(scalar)
}

/// `JSON_QUERY`'s wrapper clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Wrapper {
    /// `WITHOUT [ARRAY] WRAPPER` (the default): a scalar is an error.
    #[default]
    Without,
    /// `WITH CONDITIONAL [ARRAY] WRAPPER`: a scalar is wrapped in an array.
    Conditional,
    /// `WITH UNCONDITIONAL [ARRAY] WRAPPER`: everything is wrapped in an array.
    Unconditional,
}

/// What `JSON_QUERY` returns, before `ON EMPTY` and `ON ERROR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonQuery {
    /// JSON text.
    Json(String),
    /// Nothing found (lax mode).
    Empty,
    /// Not JSON, a strict miss, or a scalar without a wrapper.
    Error,
}

/// `JSON_QUERY(json, path [wrapper])`.
pub fn json_query(json: &str, path: &JsonPath, wrapper: Wrapper) -> JsonQuery {
    let Ok(doc) = serde_json::from_str::<&RawValue>(json) else { return JsonQuery::Error };
    let found = match find(doc, path) {
        Err(PathError) => return JsonQuery::Error,
        Ok(Found::Empty) => return JsonQuery::Empty,
        Ok(f) => f,
    };
    let mut out = String::new();
    match (found, wrapper) {
        (Found::Many(items), Wrapper::Unconditional) => {
            out.push('[');
            write_array(&items, &mut out);
            out.push(']');
        }
        (Found::Many(items), _) => write_array(&items, &mut out),
        (Found::One(v), w) => {
            let structured = matches!(first_char(v), b'{' | b'[');
            match (structured, w) {
                (true, Wrapper::Without | Wrapper::Conditional) => write_json(v, &mut out),
                (false, Wrapper::Without) => return JsonQuery::Error,
                _ => write_array(&[v], &mut out),
            }
        }
        (Found::Empty, _) => unreachable!("returned above"),
    }
    JsonQuery::Json(out)
}

#[cfg(test)]
mod tests {
    use super::big_decimal;

    #[test]
    fn numbers_print_as_java_big_decimals() {
        for (json, java) in [
            ("1", "1"),
            ("1.50", "1.50"),
            ("1e3", "1E+3"),
            ("-0.0", "0.0"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1E-7"),
            ("-12.5e-1", "-1.25"),
            ("1.5E2", "1.5E+2"),
            ("123e-2", "1.23"),
            ("12345678901234567890", "12345678901234567890"),
            ("0", "0"),
            ("-7", "-7"),
            ("2.50e1", "25.0"),
        ] {
            assert_eq!(big_decimal(json), java, "{json}");
        }
    }
}
