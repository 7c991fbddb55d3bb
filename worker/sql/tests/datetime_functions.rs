//! Our date and time functions against Apache Flink 2.3's results on the same calls
//! (`tests/golden/datetime_functions.tsv`, made by `tests/flink/gen_functions.py`).

mod common;

use chrono::NaiveDateTime;
use ferroflink_sql::functions::datetime::{self as f, JavaPattern, TimeUnit};

fn ts(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("a timestamp argument")
}

/// `CAST(TIMESTAMP(3) AS STRING)`.
fn shown(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// The call of case `name` on `args` (NULL in, NULL out), its result cast to STRING.
fn call(name: &str, args: &[Option<&str>]) -> Option<String> {
    let a = common::all_set(args)?;
    let unit = || TimeUnit::named(a[0]).expect("a unit");
    let pattern = |p: &str| JavaPattern::new(p).expect("a pattern Flink accepts");
    Some(match name {
        "DATE_FORMAT" => f::date_format(ts(a[0]), &pattern(a[1])),
        "TO_TIMESTAMP" => shown(f::to_timestamp(a[0], &pattern(a[1]))?),
        "TO_TIMESTAMP1" => shown(f::to_timestamp_sql(a[0])?),
        "EXTRACT" => f::extract(unit(), ts(a[1])).to_string(),
        "FLOOR" => shown(f::floor(unit(), ts(a[1]))),
        "CEIL" => shown(f::ceil(unit(), ts(a[1]))),
        "TIMESTAMPDIFF" => f::timestamp_diff(unit(), ts(a[1]), ts(a[2])).to_string(),
        other => panic!("no case {other} in the golden file's vocabulary"),
    })
}

#[test]
fn datetime_functions_give_flinks_results() {
    common::check_golden(include_str!("golden/datetime_functions.tsv"), 180, |fields| {
        let (name, args, expected) = common::call_line(fields);
        let expected = expected.map(|e| e.replace("\\\\", "\\"));
        let got = call(name, &args);
        (got != expected).then(|| format!("{name}{args:?}: Flink {expected:?}, ours {got:?}"))
    });
}

#[test]
fn patterns_flink_has_and_we_do_not_are_named() {
    for (pattern, needle) in
        [("yyyy-MM-dd Z", "letter 'Z'"), ("yyyy 'unclosed", "unclosed quote"), ("VV", "letter 'V'")]
    {
        let e = JavaPattern::new(pattern).unwrap_err();
        assert!(e.contains(needle), "{pattern}: {e}");
    }
}

proptest::proptest! {
    /// Formatting with every supported letter and parsing back what was formatted round-trips.
    #[test]
    fn format_then_parse_round_trips(ms in -2_000_000_000_000i64..4_000_000_000_000) {
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap().naive_utc();
        for p in ["yyyy-MM-dd HH:mm:ss.SSS", "yyyyMMddHHmmssSSS", "dd/MMM/yyyy:HH:mm:ss.SSS", "EEE, d MMMM yyyy hh:mm:ss.SSS a"] {
            let pattern = JavaPattern::new(p).unwrap();
            let text = f::date_format(t, &pattern);
            proptest::prop_assert_eq!(f::to_timestamp(&text, &pattern), Some(t), "{} as {}", text, p);
        }
        for unit in ["YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"] {
            let unit = TimeUnit::named(unit).unwrap();
            let (lo, hi) = (f::floor(unit, t), f::ceil(unit, t));
            proptest::prop_assert!(lo <= t && t <= hi && (lo == t) == (hi == t));
        }
    }
}
