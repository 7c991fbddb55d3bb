//! Our functions of the session time zone against Apache Flink 2.3's results in four zones
//! (`tests/golden/timezone_functions.tsv`, made by `tests/flink/gen_functions.py`).

mod common;

use ferroflink_sql::functions::cast::timestamp_to_string;
use ferroflink_sql::functions::datetime::JavaPattern;
use ferroflink_sql::functions::timezone::{self as f, LocalZone};

/// Case `name` (`NAME@zone`) on `args` (NULL in, NULL out), as Flink casts its result to STRING.
fn call(name: &str, args: &[Option<&str>]) -> Option<String> {
    let a = common::all_set(args)?;
    let (case, zone) = name.split_once('@').expect("NAME@zone");
    let zone = LocalZone::named(zone).unwrap();
    let pattern = |p: &str| JavaPattern::new(p).unwrap();
    let default = || pattern("yyyy-MM-dd HH:mm:ss");
    let int = |i: usize| a[i].parse::<i64>().unwrap();
    match case {
        "FROM_UNIXTIME" => f::from_unixtime(int(0), &zone, &default()),
        "FROM_UNIXTIME_FMT" => f::from_unixtime(int(0), &zone, &pattern(a[1])),
        "UNIX_TIMESTAMP" => Some(f::unix_timestamp(a[0], &zone, &default()).to_string()),
        "UNIX_TIMESTAMP_FMT" => Some(f::unix_timestamp(a[0], &zone, &pattern(a[1])).to_string()),
        // TIMESTAMP_LTZ(3), whatever the argument's precision.
        "TO_TIMESTAMP_LTZ3" => zone.local(f::to_timestamp_ltz(int(0), 3)?).map(|t| timestamp_to_string(t, 3)),
        "TO_TIMESTAMP_LTZ0" => zone.local(f::to_timestamp_ltz(int(0), 0)?).map(|t| timestamp_to_string(t, 3)),
        "CONVERT_TZ" => f::convert_tz(a[0], a[1], a[2]),
        other => panic!("no case {other} in the golden file's vocabulary"),
    }
}

#[test]
fn session_time_zone_functions_give_flinks_results() {
    common::check_golden(include_str!("golden/timezone_functions.tsv"), 90, |fields| {
        let (name, args, expected) = common::call_line(fields);
        let got = call(name, &args);
        (got != expected).then(|| format!("{name}{args:?}: Flink {expected:?}, ours {got:?}"))
    });
}

#[test]
fn zones_are_named_or_refused() {
    for name in ["UTC", "Z", "Asia/Shanghai", "GMT-08:00", "UTC+8", "+05:30"] {
        assert!(LocalZone::named(name).is_ok(), "{name}");
    }
    let e = LocalZone::named("Mars/Olympus").unwrap_err();
    assert!(e.contains("'Mars/Olympus' is not a time zone"), "{e}");
    let plus = LocalZone::named("GMT+05:30").unwrap();
    assert_eq!(plus.local(0).unwrap().to_string(), "1970-01-01 05:30:00");
}
