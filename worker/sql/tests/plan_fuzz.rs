//! The planner and the evaluator never panic: random expressions over a table of every scalar
//! type are compiled and, when they compile, evaluated on random rows (an error is fine, a panic
//! is not); the conformance scripts, mutated token by token, go through the session and the
//! planner. `PROPTEST_CASES=100000 cargo test -p ferroflink-sql --test plan_fuzz` runs more.

use chrono::NaiveDate;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::ast::{DataType, Type};
use ferroflink_sql::decimal::Decimal;
use ferroflink_sql::expr::{Compiler, Scope};
use ferroflink_sql::functions::timezone::LocalZone;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::value::Value;
use ferroflink_sql::{Effect, Session, parse_script, parse_statement};
use proptest::prelude::*;
use std::sync::Arc;

/// `PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn scope() -> Scope {
    let t = |data: DataType| Type { data, nullable: true };
    Scope::of(
        Some("t"),
        [
            ("a".to_string(), t(DataType::Int)),
            ("b".to_string(), t(DataType::BigInt)),
            ("s".to_string(), t(DataType::VarChar(ferroflink_sql::ast::MAX_LENGTH))),
            ("d".to_string(), t(DataType::Decimal { precision: 10, scale: 2 })),
            ("x".to_string(), t(DataType::Double)),
            ("ts".to_string(), t(DataType::Timestamp(3))),
            ("flag".to_string(), t(DataType::Boolean)),
        ],
    )
}

fn row(seed: i64) -> Vec<Value> {
    let pick = |k: i64, v: Value| if seed.wrapping_add(k).rem_euclid(5) == 0 { Value::Null } else { v };
    vec![
        pick(0, Value::Int(seed.rem_euclid(1000) as i32 - 500)),
        pick(1, Value::BigInt(seed.wrapping_mul(7919))),
        pick(
            2,
            Value::String(
                ["", "a,b", "{\"k\": [1, 2]}", "2024-02-29 10:00:00", "ÿ😀x", "12"][seed.rem_euclid(6) as usize].into(),
            ),
        ),
        pick(3, Value::Decimal(Decimal::new(seed.rem_euclid(100_000) as i128 - 50_000, 10, 2).unwrap())),
        pick(4, Value::Double([0.0, -1.5, f64::NAN, 1e300, 3.25][seed.rem_euclid(5) as usize])),
        pick(
            5,
            Value::Timestamp(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_milli_opt(23, 59, 59, 999).unwrap()),
        ),
        pick(6, Value::Boolean(seed.rem_euclid(2) == 0)),
    ]
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "s", "d", "x", "ts", "flag", "t.a", "nope"]).prop_map(str::to_string),
        any::<i32>().prop_map(|i| i.to_string()),
        prop::sample::select(vec![
            "NULL",
            "TRUE",
            "FALSE",
            "0",
            "-1",
            "2147483648",
            "0.908",
            "1e3",
            "''",
            "'x'",
            "'%a_'",
            "TIMESTAMP '2024-01-01 00:00:00.5'",
            "DATE '2024-03-01'",
            "INTERVAL '5' SECOND",
            "INTERVAL '1' MONTH",
            "'$.k[1]'",
            "'yyyy-MM-dd HH:mm'",
            "'[a-z]+'",
            "99999999999999999999.99",
        ])
        .prop_map(str::to_string),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let functions = prop::sample::select(vec![
            "CONCAT",
            "CONCAT_WS",
            "SUBSTRING",
            "UPPER",
            "CHAR_LENGTH",
            "LPAD",
            "SPLIT_INDEX",
            "REGEXP_EXTRACT",
            "REGEXP_REPLACE",
            "REGEXP",
            "DATE_FORMAT",
            "TO_TIMESTAMP",
            "TO_TIMESTAMP_LTZ",
            "UNIX_TIMESTAMP",
            "FROM_UNIXTIME",
            "HOUR",
            "JSON_VALUE",
            "JSON_QUERY",
            "COALESCE",
            "IF",
            "NULLIF",
            "MOD",
            "ABS",
            "ROUND",
            "POWER",
            "HASH_CODE",
            "CONVERT_TZ",
            "COUNT",
            "NO_SUCH_FN",
        ]);
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%", "=", "<>", "<", ">=", "AND", "OR", "||"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("NOT ({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (functions, prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            (
                inner.clone(),
                prop::sample::select(vec![
                    "INT",
                    "BIGINT",
                    "STRING",
                    "DECIMAL(5, 1)",
                    "DOUBLE",
                    "DATE",
                    "TIMESTAMP(3)",
                    "BOOLEAN",
                    "CHAR(2)",
                    "TINYINT"
                ])
            )
                .prop_map(|(a, t)| format!("TRY_CAST({a} AS {t})")),
            (inner.clone(), prop::sample::select(vec!["INT", "STRING", "DECIMAL(5, 1)", "TIMESTAMP(3)"]))
                .prop_map(|(a, t)| format!("CAST({a} AS {t})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("CASE WHEN {c} THEN {a} ELSE {b} END")),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(x, a, b)| format!("{x} BETWEEN {a} AND {b}")),
            (inner.clone(), prop::collection::vec(inner.clone(), 1..4))
                .prop_map(|(x, l)| format!("{x} IN ({})", l.join(", "))),
            inner.clone().prop_map(|a| format!("{a} LIKE 'a%'")),
            inner.clone().prop_map(|a| format!("{a} IS NOT NULL")),
            inner.clone().prop_map(|a| format!("EXTRACT(DAY FROM {a})")),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|l| format!("ARRAY[{}]", l.join(", "))),
            (inner.clone(), inner).prop_map(|(a, i)| format!("ARRAY[{a}, {a}][{i}]")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(3000)))]

    #[test]
    fn random_expressions_compile_or_fail_and_evaluate_without_panicking(e in expression(), seed in any::<i64>()) {
        let Ok(statement) = parse_statement(&format!("SELECT {e} FROM t")) else { return Ok(()) };
        let ferroflink_sql::ast::Statement::Query(q) = statement.statement else { return Ok(()) };
        let sqlparser::ast::SetExpr::Select(select) = *q.body else { return Ok(()) };
        let sqlparser::ast::SelectItem::UnnamedExpr(expr) = &select.projection[0] else { return Ok(()) };
        let scope = scope();
        let udfs = std::collections::BTreeMap::new();
        let compiler =
            Compiler { scope: &scope, zone: Arc::new(LocalZone::named("UTC").unwrap()), substitutions: &[], udfs: &udfs };
        if let Ok(typed) = compiler.compile(expr) {
            for k in 0..4 {
                let _ = typed.expr.eval(&row(seed.wrapping_add(k)));
            }
        }
    }
}

const SCRIPTS: [&str; 9] = [
    include_str!("conformance/collections.sql"),
    include_str!("conformance/joins.sql"),
    include_str!("conformance/top_n.sql"),
    include_str!("conformance/distinct_and_with.sql"),
    include_str!("conformance/calc_basics.sql"),
    include_str!("conformance/group_aggregates.sql"),
    include_str!("conformance/window_aggregates.sql"),
    include_str!("conformance/union_views_subqueries.sql"),
    include_str!("conformance/strings_and_times.sql"),
];

/// Plans every statement of `text` that parses and runs in a session (nothing executes).
fn plan(text: &str) {
    let Ok(statements) = parse_script(text) else { return };
    let mut session = Session::new();
    for statement in &statements {
        let Ok(effect) = session.execute(statement) else { continue };
        let Ok(planner) = Planner::new(&session, StreamExecutionEnvironment::new()) else { continue };
        match effect {
            Effect::Job(inserts) => drop(planner.inserts(&inserts)),
            Effect::Query(query) => drop(planner.query(&query)),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1500)))]

    #[test]
    fn mutated_scripts_plan_or_fail_without_panicking(
        script in 0..SCRIPTS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..4u8, any::<prop::sample::Index>()), 1..4),
    ) {
        let mut words: Vec<String> = SCRIPTS[script].split_inclusive(|c: char| c.is_whitespace() || "(),;".contains(c)).map(str::to_string).collect();
        for (at, op, other) in edits {
            let i = at.index(words.len());
            let j = other.index(words.len());
            match op {
                0 => { words.remove(i); }
                1 => { let w = words[j].clone(); words.insert(i, w); }
                2 => words.swap(i, j),
                _ => words[i] = ["GROUP BY ", "*", "NULL ", "window_start ", "COUNT(*) ", "'x' ", ") "][j % 7].to_string(),
            }
            if words.is_empty() { break; }
        }
        plan(&words.concat());
    }
}
