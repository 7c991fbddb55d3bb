//! The SQL conformance suite: every script in `tests/conformance/*.sql` runs here at parallelism
//! 1 and 4, and the changelog of its last statement, applied, must give the rows Apache Flink 2.3
//! gave for the same script (`tests/golden/conformance/<name>.tsv`, made by
//! `tests/flink/gen_conformance.py`, which re-runs Flink to check them with `--check`); where
//! Flink's changelog is insert-only, ours must be too. A streaming script runs in batch mode as
//! well, at both parallelisms: the same rows, inserts only. `${DATA}` in a script is the absolute
//! path of `tests/data`.

mod common;

use std::collections::BTreeMap;

/// Runs `text` as `ferroflink sql --format tsv` would, at `parallelism`: the TSV lines of the
/// last statement's rows.
fn run(text: &str, parallelism: usize) -> Vec<String> {
    common::run_tsv(text, parallelism, None)
}

/// The changelog applied: each row left, with how many times.
fn apply<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
    let mut rows = BTreeMap::new();
    for line in lines {
        let (kind, row) = line.split_once('\t').unwrap_or((line, ""));
        *rows.entry(row.to_string()).or_default() += if kind == "+I" || kind == "+U" { 1 } else { -1 };
    }
    rows.retain(|_, n| *n != 0);
    rows
}

/// The scripts whose rows come in an order (checked at parallelism 1, in streaming mode).
const ORDERED: &[&str] = &["temporal_sort"];

/// Makes a script run in batch mode.
const BATCH: &str = "SET 'execution.runtime-mode' = 'batch';\n";

fn check(name: &str, script: &str, golden: &str) {
    let script = &script.replace("${DATA}", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"));
    let golden: Vec<&str> = golden.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    let expected = apply(golden.iter().copied());
    assert!(!expected.is_empty(), "{name}: the golden file has no rows");
    // A streaming script runs in batch mode too, where Flink gives the same final rows
    // (`gen_conformance.py` checks that) as inserts only.
    let batch = format!("{BATCH}{script}");
    let mut runs = vec![("", script.as_str(), golden.iter().all(|l| l.starts_with("+I")))];
    if !script.contains("'execution.runtime-mode'") {
        runs.push((" in batch mode", batch.as_str(), true));
    }
    for (mode, script, insert_only) in runs {
        for parallelism in [1, 4] {
            let lines = run(script, parallelism);
            // Flink's changelog mode too: where Flink only inserts, so do we (an append-only sink
            // takes the query).
            if insert_only && let Some(update) = lines.iter().find(|l| !l.starts_with("+I")) {
                panic!(
                    "{name}{mode} at parallelism {parallelism}: Flink's changelog is insert-only, ours has {update}"
                );
            }
            // A sort's order too, where one subtask collects it.
            if ORDERED.contains(&name) && parallelism == 1 && mode.is_empty() {
                assert_eq!(lines, golden, "{name}: Flink's rows in Flink's order");
            }
            let got = apply(lines.iter().map(String::as_str));
            if got != expected {
                let missing: Vec<_> = expected.iter().filter(|(r, n)| got.get(*r) != Some(n)).take(5).collect();
                let extra: Vec<_> = got.iter().filter(|(r, n)| expected.get(*r) != Some(n)).take(5).collect();
                panic!(
                    "{name}{mode} at parallelism {parallelism}: {} rows, Flink {}\nFlink's, not ours (first 5): {missing:#?}\nours, not Flink's (first 5): {extra:#?}",
                    got.values().sum::<i64>(),
                    expected.values().sum::<i64>()
                );
            }
        }
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(
                    stringify!($name),
                    include_str!(concat!("conformance/", stringify!($name), ".sql")),
                    include_str!(concat!("golden/conformance/", stringify!($name), ".tsv")),
                );
            }
        )*
    };
}

conformance!(
    calc_basics,
    casts,
    strings_and_times,
    union_views_subqueries,
    group_aggregates,
    group_by_expressions,
    batch_group_aggregates,
    window_aggregates,
    window_tvf_rows,
    filesystem_formats,
    distinct_and_with,
    top_n,
    joins,
    order_by_limit,
    batch_order_by,
    window_top_n,
    collections,
    in_implicit_casts,
    cumulate_windows,
    interval_joins,
    top_n_over_changelog,
    window_joins,
    rank_ranges_and_offset,
    temporal_sort,
    access_log_status,
    access_log_top_paths,
    legacy_windows_and_window_properties,
    legacy_session_windows,
);
