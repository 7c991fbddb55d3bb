//! Our `JSON_VALUE` and `JSON_QUERY` against Apache Flink 2.3's results on the same calls
//! (`tests/golden/json_functions.tsv`, made by `tests/flink/gen_functions.py`).

mod common;

use ferroflink_sql::functions::json::{JsonPath, JsonQuery, JsonScalar, JsonValue, Wrapper, json_query, json_value};

/// A golden field: `\N` is NULL; `\\`, `\t` and `\n` are escapes.
fn field(text: &str) -> Option<String> {
    (text != "\\N").then(|| text.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\"))
}

/// The call of case `name` (NULL in, NULL out), as Flink's clauses in the generator say; `!error`
/// where Flink fails the query.
fn call(name: &str, json: Option<&str>, path: Option<&str>) -> Option<String> {
    let (json, path) = (json?, path?);
    let path = JsonPath::new(path);
    let value = || path.as_ref().map_or(JsonValue::Error, |p| json_value(json, p));
    let query = |w: Wrapper| path.as_ref().map_or(JsonQuery::Error, |p| json_query(json, p, w));
    match name {
        "JSON_VALUE" => match value() {
            JsonValue::Value(v) => Some(v.into_text()),
            _ => None,
        },
        // DEFAULT 'dflt' ON EMPTY DEFAULT 'oops' ON ERROR
        "JSON_VALUE_DEFAULT" => match value() {
            JsonValue::Value(v) => Some(v.into_text()),
            JsonValue::Empty => Some("dflt".into()),
            JsonValue::Error => Some("oops".into()),
        },
        // RETURNING INT: a scalar that is not a whole JSON number fails the job.
        "JSON_VALUE_INT" => match value() {
            JsonValue::Value(JsonScalar::Number(n)) => {
                Some(n.parse::<i32>().map_or("!error".into(), |i| i.to_string()))
            }
            JsonValue::Value(_) => Some("!error".into()),
            _ => None,
        },
        "JSON_QUERY" | "JSON_QUERY_WRAPPED" | "JSON_QUERY_UNCONDITIONAL" => {
            let wrapper = match name {
                "JSON_QUERY" => Wrapper::Without,
                "JSON_QUERY_WRAPPED" => Wrapper::Conditional,
                _ => Wrapper::Unconditional,
            };
            match query(wrapper) {
                JsonQuery::Json(j) => Some(j),
                _ => None,
            }
        }
        // EMPTY ARRAY ON EMPTY EMPTY OBJECT ON ERROR
        "JSON_QUERY_EMPTY" => match query(Wrapper::Without) {
            JsonQuery::Json(j) => Some(j),
            JsonQuery::Empty => Some("[]".into()),
            JsonQuery::Error => Some("{}".into()),
        },
        other => panic!("no case {other} in the golden file's vocabulary"),
    }
}

#[test]
fn json_functions_give_flinks_results() {
    common::check_golden(include_str!("golden/json_functions.tsv"), 80, |fields| {
        let [name, json, path, expected] = fields[..] else { panic!("{fields:?}: four fields") };
        let (json, path, expected) = (field(json), field(path), field(expected));
        let got = call(name, json.as_deref(), path.as_deref());
        (got != expected).then(|| format!("{name}({json:?}, {path:?}): Flink {expected:?}, ours {got:?}"))
    });
}

#[test]
fn bad_paths_say_why() {
    for (path, needle) in [
        ("a.b", "does not start with $"),
        ("$.a[x]", "not a whole number"),
        ("$.a[1", "unclosed"),
        ("$..a", "empty member"),
    ] {
        let e = JsonPath::new(path).unwrap_err();
        assert!(e.contains(needle), "{path}: {e}");
    }
}

proptest::proptest! {
    /// Any text as a document or a path: a result, never a panic.
    #[test]
    fn no_input_panics(json in "[ -~]{0,40}", path in "(lax |strict )?\\$[.a-z\\[\\]*0-9']{0,12}") {
        if let Ok(p) = JsonPath::new(&path) {
            let _ = json_value(&json, &p);
            let _ = json_query(&json, &p, Wrapper::Conditional);
        }
    }
}
