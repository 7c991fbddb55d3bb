//! The function `custom-job` registers, called from SQL: bound by `CREATE FUNCTION`, its
//! argument cast to its declared type, its result the rows' (checked against a ROT13 written
//! here); a binding to an identifier the binary does not register is refused with the list.

use std::process::Command;

fn sql(script: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custom-job")).args(["sql", "--format", "tsv", "-e", script]).output().unwrap()
}

fn rot13(s: &str) -> String {
    let shift = |c: char, base: u8| ((c as u8 - base + 13) % 26 + base) as char;
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                shift(c, b'a')
            } else if c.is_ascii_uppercase() {
                shift(c, b'A')
            } else {
                c
            }
        })
        .collect()
}

#[test]
fn a_registered_function_runs_in_sql() {
    let script = "CREATE FUNCTION secret AS 'com.example.Rot13';
CREATE TABLE t (id INT, word AS CONCAT('Word-', CAST(id AS STRING), '-xyz')) WITH (
  'connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '20');
SELECT id, secret(word), secret(id) FROM t;";
    let out = sql(script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    got.sort();
    let mut expected: Vec<String> =
        (1..=20).map(|i| format!("+I\t{i}\t{}\t{i}", rot13(&format!("Word-{i}-xyz")))).collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn an_unregistered_identifier_is_refused_with_the_registered_ones() {
    let out = sql("CREATE FUNCTION f AS 'com.example.Nope';
CREATE TABLE t (id INT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
SELECT f(id) FROM t;");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("'com.example.Nope'") && stderr.contains("com.example.Rot13"), "{stderr}");
}

/// The rows left when the TSV changelog `out` is applied, sorted.
fn final_rows(out: &[u8]) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for line in String::from_utf8(out.to_vec()).unwrap().lines() {
        let (kind, row) = line.split_once('\t').unwrap();
        match kind {
            "+I" | "+U" => rows.push(row.to_string()),
            _ => {
                let at =
                    rows.iter().position(|r| r == row).unwrap_or_else(|| panic!("{kind} of a row not there: {row}"));
                rows.remove(at);
            }
        }
    }
    rows.sort();
    rows
}

/// A DOUBLE as Java prints it (here: small numbers).
fn java(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.1}") } else { format!("{x}") }
}

/// The weighted average of `(value, weight)` pairs, as `com.example.WeightedAvg` defines it
/// (pairs with a NULL skipped, NULL without weight).
fn weighted_avg(pairs: impl Iterator<Item = (Option<i64>, i64)>) -> String {
    let (mut product, mut weight) = (0, 0);
    for (v, w) in pairs {
        if let Some(v) = v {
            product += v * w;
            weight += w;
        }
    }
    if weight == 0 { "\\N".to_string() } else { java(product as f64 / weight as f64) }
}

const TABLE: &str = "CREATE FUNCTION wavg AS 'com.example.WeightedAvg';
CREATE TABLE t (
  id INT,
  k AS id % 4,
  v AS CASE WHEN id % 7 = 0 THEN CAST(NULL AS BIGINT) ELSE CAST(id * 3 AS BIGINT) END,
  w AS id % 5,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * id AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' HOUR
) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60');
";

/// The table's rows as (id, k, v, w).
fn rows() -> impl Iterator<Item = (i64, i64, Option<i64>, i64)> {
    (1..=60i64).map(|id| (id, id % 4, (id % 7 != 0).then_some(id * 3), id % 5))
}

fn sql_at(parallelism: &str, script: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custom-job"))
        .args(["sql", "--format", "tsv", "--parallelism", parallelism, "-e", script])
        .output()
        .unwrap()
}

#[test]
fn a_registered_aggregate_function_groups_windows_and_retracts() {
    // An unbounded GROUP BY (a changelog), at parallelism 1 and 3.
    let expected: Vec<String> = {
        let mut e: Vec<String> =
            (0..4).map(|k| format!("{k}\t{}", weighted_avg(rows().filter(|r| r.1 == k).map(|r| (r.2, r.3))))).collect();
        e.sort();
        e
    };
    for p in ["1", "3"] {
        let out = sql_at(p, &format!("{TABLE}SELECT k, wavg(v, w) FROM t GROUP BY k;"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(final_rows(&out.stdout), expected, "GROUP BY at parallelism {p}");
    }

    // A 10 s / 5 s HOP window aggregate, whose windows merge two panes' accumulators.
    let out = sql_at(
        "2",
        &format!(
            "{TABLE}SELECT CAST(window_start AS STRING), k, wavg(v, w) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k;"
        ),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut expected = Vec::new();
    for start in (-5..=60).step_by(5) {
        for k in 0..4 {
            let window = || rows().filter(|r| r.1 == k && (start..start + 10).contains(&r.0));
            if window().next().is_some() {
                let avg = weighted_avg(window().map(|r| (r.2, r.3)));
                let day = if start < 0 { "2023-12-31 23" } else { "2024-01-01 00" };
                let at = format!("{day}:{:02}:{:02}.000", start.rem_euclid(3600) / 60, start.rem_euclid(60));
                expected.push(format!("{at}\t{k}\t{avg}"));
            }
        }
    }
    expected.sort();
    assert_eq!(final_rows(&out.stdout), expected, "HOP");

    // Over a changelog: the weighted average of the groups' counts, updated (retracted and
    // added again) as each count changes.
    let out = sql_at(
        "2",
        &format!("{TABLE}SELECT k % 2, wavg(n, k) FROM (SELECT k, COUNT(*) AS n FROM t GROUP BY k) GROUP BY k % 2;"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count = |k: i64| rows().filter(|r| r.1 == k).count() as i64;
    let expected = vec![
        format!("0\t{}", weighted_avg([0, 2].into_iter().map(|k| (Some(count(k)), k)))),
        format!("1\t{}", weighted_avg([1, 3].into_iter().map(|k| (Some(count(k)), k)))),
    ];
    assert_eq!(final_rows(&out.stdout), expected, "over a changelog");
}

#[test]
fn a_registered_aggregate_function_is_refused_where_it_cannot_be_called() {
    let out = sql(&format!("{TABLE}SELECT k, wavg(DISTINCT v, w) FROM t GROUP BY k;"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DISTINCT"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sql(&format!("{TABLE}SELECT k, wavg(v) FROM t GROUP BY k;"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WAVG takes 2 arguments, not 1") || stderr.contains("wavg takes 2 arguments, not 1"),
        "{stderr}"
    );
}
