//! Our `CAST` from and to `STRING` against Apache Flink 2.3's `TRY_CAST` and `CAST` on the same
//! values (`tests/golden/cast_functions.tsv`, made by `tests/flink/gen_functions.py`).

mod common;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use ferroflink_sql::decimal::Decimal;
use ferroflink_sql::functions::cast as c;
use ferroflink_sql::functions::numeric::double_to_string;

/// The golden field: `\N` is NULL; `\t` a tab.
fn field(text: &str) -> Option<String> {
    (text != "\\N").then(|| text.replace("\\t", "\t"))
}

/// Case `name` on `v`, printed as Flink casts the result to STRING.
fn call(name: &str, v: &str) -> Option<String> {
    let ts = |p| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").map(|t| c::timestamp_to_string(t, p)).ok();
    match name {
        "TRY_CAST_BOOLEAN" => c::to_boolean(v).map(|b| c::boolean_to_string(b).to_string()),
        "TRY_CAST_TINYINT" => c::to_integer(v, 8).map(|i| i.to_string()),
        "TRY_CAST_INT" => c::to_integer(v, 32).map(|i| i.to_string()),
        "TRY_CAST_BIGINT" => c::to_integer(v, 64).map(|i| i.to_string()),
        "TRY_CAST_DOUBLE" => c::to_double(v).map(double_to_string),
        "TRY_CAST_DATE" => c::to_date(v).map(c::date_to_string),
        "TRY_CAST_TIMESTAMP(3)" => c::to_timestamp(v, 3).map(|t| c::timestamp_to_string(t, 3)),
        "TRY_CAST_TIMESTAMP(9)" => c::to_timestamp(v, 9).map(|t| c::timestamp_to_string(t, 9)),
        "TRY_CAST_TIME(0)" => c::to_time(v, 0).map(|t| c::time_to_string(t, 0)),
        "CAST_TO_STRING_BOOLEAN" => Some(c::boolean_to_string(v == "true").to_string()),
        "CAST_TO_STRING_DATE" => NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().map(c::date_to_string),
        "CAST_TO_STRING_TIME0" => NaiveTime::parse_from_str(v, "%H:%M:%S").ok().map(|t| c::time_to_string(t, 0)),
        "CAST_TO_STRING_TIMESTAMP3" => ts(3),
        "CAST_TO_STRING_TIMESTAMP9" => ts(9),
        "CAST_TO_STRING_DECIMAL102" => Decimal::parse(v, 10, 2).map(|d| d.to_string()),
        other => panic!("no case {other} in the golden file's vocabulary"),
    }
}

#[test]
fn casts_give_flinks_results() {
    common::check_golden(include_str!("golden/cast_functions.tsv"), 300, |fields| {
        let [name, value, expected] = fields[..] else { panic!("{fields:?}") };
        let (value, expected) = (field(value).expect("a value"), field(expected));
        let got = call(name, &value);
        (got != expected).then(|| format!("{name}({value:?}): Flink {expected:?}, ours {got:?}"))
    });
}

proptest::proptest! {
    /// Any text: a value or a failed cast, never a panic.
    #[test]
    fn no_text_panics(s in "[ -~]{0,30}") {
        let _ = (c::to_boolean(&s), c::to_integer(&s, 8), c::to_integer(&s, 64), c::to_double(&s));
        let _ = (c::to_date(&s), c::to_time(&s, 3), c::to_timestamp(&s, 9));
    }
}
