//! `ferroflink sql`, the SQL client, as a user runs it: a script's jobs run to their end, a
//! trailing query prints its rows (nothing else on standard output with `--format tsv`), a
//! `print` table writes Flink's format, `EXPLAIN` shows changelog modes and state classes, and a
//! bad script exits 1 with one line that says where and what is wrong.

use std::process::{Command, Output};

fn sql(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferroflink")).arg("sql").args(args).output().expect("ferroflink runs")
}

const TABLE: &str = "CREATE TABLE t (id INT, sq AS id * id, name AS CONCAT('n', CAST(id AS STRING))) WITH (
  'connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '50');";

#[test]
fn a_trailing_query_prints_tsv_and_nothing_else() {
    let script = format!(
        "{TABLE}\nSELECT id, sq, name, id % 3 = 0 AS third, CAST(NULL AS INT) AS nothing FROM t WHERE id > 40;"
    );
    let out = sql(&["-e", &script, "--format", "tsv", "-p", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    got.sort();
    // Computed here, independently of the engine.
    let mut expected: Vec<String> =
        (41..=50).map(|i: i32| format!("+I\t{i}\t{}\tn{i}\t{}\t\\N", i * i, i % 3 == 0)).collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn aggregates_print_a_changelog_and_inserts_run_to_their_end() {
    let script = format!(
        "{TABLE}
CREATE TABLE out (k INT, n BIGINT, total INT) WITH ('connector' = 'print', 'print-identifier' = 'sums');
INSERT INTO out SELECT id % 2, COUNT(*), SUM(id) FROM t GROUP BY id % 2;
SELECT id % 2 AS k, COUNT(*) AS n FROM t GROUP BY id % 2;"
    );
    let out = sql(&["-e", &script, "--format", "tsv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The INSERT's print sink: a changelog ending at each key's total.
    assert!(stdout.contains("sums> +U[0, 25, 650]") && stdout.contains("sums> +U[1, 25, 625]"), "{stdout}");
    // The query's changelog, applied, is one row per key.
    let mut rows = std::collections::BTreeMap::<String, i64>::new();
    for line in stdout.lines().filter(|l| !l.starts_with("sums> ")) {
        let (kind, row) = line.split_once('\t').unwrap();
        *rows.entry(row.to_string()).or_default() += if kind.starts_with('+') { 1 } else { -1 };
    }
    rows.retain(|_, n| *n != 0);
    assert_eq!(rows.into_keys().collect::<Vec<_>>(), ["0\t25", "1\t25"]);
}

#[test]
fn explain_shows_changelog_modes_and_state() {
    let script = format!("{TABLE}\nEXPLAIN SELECT id % 2 AS k, COUNT(*) FROM t WHERE id > 3 GROUP BY id % 2;");
    let out = sql(&["-e", &script]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GroupAggregate") && text.contains("[retract, UNBOUNDED state]"), "{text}");
    assert!(
        text.contains("TableSourceScan(table=[default_catalog.default_database.t]") && text.contains("insert-only"),
        "{text}"
    );
}

#[test]
fn a_bad_script_exits_1_with_one_line_saying_where_and_what() {
    for (script, needles) in [
        (format!("{TABLE}\nSELECT idd FROM t;"), vec!["line 3", "unknown column `idd`", "`id`"]),
        (format!("{TABLE}\nSELECT id FROM t WHERE;"), vec!["line 3"]),
        (
            "CREATE TABLE x (a INT) WITH ('connector' = 'kafkaa');\nSELECT a FROM x;".to_string(),
            vec!["unknown connector 'kafkaa'", "'datagen'"],
        ),
        (
            "CREATE TABLE x (a INT) WITH ('connector' = 'datagen', 'rows-per-sec' = '5');\nSELECT a FROM x;"
                .to_string(),
            vec!["unsupported options for connector 'datagen': rows-per-sec", "rows-per-second"],
        ),
        (
            format!("{TABLE}\nSELECT id FROM t OFFSET 1;"),
            vec!["OFFSET without LIMIT in streaming mode (add LIMIT n) is not supported yet"],
        ),
        (
            format!("{TABLE}\nSELECT id FROM t ORDER BY id;"),
            vec!["ORDER BY without LIMIT in streaming mode", "add LIMIT n"],
        ),
        (
            format!("{TABLE}\nSELECT COUNT(*) FROM t GROUP BY TUMBLE(sq, INTERVAL '1' SECOND);"),
            vec!["`sq` is not a time attribute", "WATERMARK FOR sq", "PROCTIME() AS sq"],
        ),
        (
            format!("{TABLE}\nSELECT HOP_END(id, INTERVAL '1' SECOND) FROM t GROUP BY id;"),
            vec!["HOP_END names a window of the GROUP BY", "group by HOP(..) with the same arguments"],
        ),
        (
            format!("{TABLE}\nSELECT a.id FROM t a, t b, t c WHERE a.id = b.id;"),
            vec!["a join by commas is of two tables with a WHERE condition", "write JOIN .. ON"],
        ),
    ] {
        let out = sql(&["-e", &script]);
        assert_eq!(out.status.code(), Some(1), "{script}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let last = stderr.lines().last().unwrap_or_default();
        for needle in needles {
            assert!(last.contains(needle), "{script}\n-> {stderr}");
        }
    }
}

#[test]
fn a_malformed_record_names_its_file_and_offset_unless_errors_are_ignored() {
    let dir = std::env::temp_dir().join(format!("ff-sql-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data.csv");
    std::fs::write(&data, "1,a\nx,b\n3,\"c, d\"\n").unwrap();
    let script = |ignore: bool| {
        format!(
            "CREATE TABLE f (id INT, s STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', \
             'csv.ignore-parse-errors' = '{ignore}');
SELECT id, s FROM f;",
            data.display()
        )
    };
    let out = sql(&["-e", &script(false), "--format", "tsv"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.lines().last().unwrap_or_default();
    for needle in ["data.csv", "byte 4", "column `id` is INT, and 'x' is not one", "csv.ignore-parse-errors"] {
        assert!(last.contains(needle), "{needle}: {stderr}");
    }
    let out = sql(&["-e", &script(true), "--format", "tsv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 malformed records skipped (numRecordsInErrors)"), "{stderr}");
    let mut rows: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    rows.sort();
    assert_eq!(rows, ["+I\t1\ta", "+I\t3\tc, d"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn option_values_name_environment_variables_and_messages_never_show_their_values() {
    let script = "SET 'execution.runtime-mode' = 'batch';
CREATE TABLE t (id INT) WITH ('connector' = 'datagen', 'number-of-rows' = '${FF_TEST_ROWS}',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000');
SELECT COUNT(*) AS n, SUM(id) AS total FROM t;";
    let run = |rows: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferroflink"));
        command.args(["sql", "-e", script, "--format", "tsv"]).env_remove("FF_TEST_ROWS");
        if let Some(rows) = rows {
            command.env("FF_TEST_ROWS", rows);
        }
        command.output().expect("ferroflink runs")
    };
    let out = run(Some("7"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), "+I\t7\t28");

    let unset = run(None);
    let stderr = String::from_utf8_lossy(&unset.stderr);
    assert!(!unset.status.success() && stderr.contains("${FF_TEST_ROWS}, which is not set"), "{stderr}");
    let bad = run(Some("hunter2"));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("'number-of-rows' = '${FF_TEST_ROWS}'"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the value shows: {stderr}");
}

#[test]
fn check_restore_says_which_operators_keep_their_state_and_refuses_losing_it() {
    let dir = std::env::temp_dir().join(format!("ff-check-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = |aggregate: &str| {
        format!(
            "{TABLE}
CREATE TABLE out (k INT, v INT) WITH ('connector' = 'blackhole');
CREATE TEMPORARY VIEW evens AS SELECT id FROM t WHERE MOD(id, 2) = 0;
INSERT INTO out SELECT MOD(id, 5), {aggregate}(id) FROM t GROUP BY MOD(id, 5);"
        )
    };
    // The job's final savepoint: its aggregate's state.
    let out = sql(&["-e", &script("SUM"), "--savepoint-on-exit", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut candidates =
        std::iter::once(dir.clone()).chain(std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()));
    let savepoint = candidates.find(|p| p.join("_metadata").exists());
    let savepoint = savepoint.expect("a savepoint").display().to_string();

    // The same job (a comment and an unused view added): everything restores.
    let same = script("SUM").replacen(
        "CREATE TABLE out",
        "-- edited\nCREATE TEMPORARY VIEW odd AS SELECT id FROM t;\nCREATE TABLE out",
        1,
    );
    let out = sql(&["-e", &same, "--check-restore", &savepoint]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("restored: 'GroupAggregate") && !text.contains("LOSES STATE"), "{text}");

    // Another aggregate function: another operator, whose state the savepoint does not have.
    let out = sql(&["-e", &script("MAX"), "--check-restore", &savepoint]);
    let (text, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && stderr.contains("--allow-non-restored-state"), "{stderr}");
    assert!(text.contains("LOSES STATE: 'GroupAggregate") && text.contains("starts without state"), "{text}");
    let out = sql(&["-e", &script("MAX"), "--check-restore", &savepoint, "--allow-non-restored-state"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_nexmark_count_char_function_is_built_in() {
    let words = ["cocoa", "", "abc", "ccc", "xyz"];
    let cases: Vec<String> = words.iter().enumerate().map(|(i, w)| format!("WHEN {} THEN '{w}'", i + 1)).collect();
    let script = format!(
        "CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';
CREATE TABLE t (id INT, s AS CASE id {} END) WITH ('connector' = 'datagen',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '5');
SELECT s, count_char(s, 'c') AS n, count_char(s, 'cx') AS first_only, count_char(CAST(NULL AS STRING), 'c') AS none
FROM t;",
        cases.join(" ")
    );
    let out = sql(&["-e", &script, "--format", "tsv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    got.sort();
    // Counted here, independently of the engine.
    let mut want: Vec<String> = words
        .iter()
        .map(|w| {
            let n = w.matches('c').count();
            format!("+I\t{w}\t{n}\t{n}\t0")
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn processing_time_windows_count_every_row_by_the_wall_clock() {
    // A view's PROCTIME() column is a processing-time attribute: Nexmark q12's shape. The open
    // windows fire when the bounded input ends.
    let script = format!(
        "{TABLE}\nCREATE VIEW v AS SELECT *, PROCTIME() AS p FROM t;
SELECT id % 2, COUNT(*), window_start, window_end
FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(p), INTERVAL '1' HOUR)) GROUP BY id % 2, window_start, window_end;"
    );
    let out = sql(&["-e", &script, "--format", "tsv", "-p", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    // Every row counted once (in the hour now, or the next if one starts during the run).
    let counted: i64 = rows.iter().map(|r| r[2].parse::<i64>().unwrap()).sum();
    assert_eq!(counted, 50, "{stdout}");
    assert!(
        rows.iter().all(|r| r[0] == "+I" && r[3].ends_with(":00:00.000") && r[4].ends_with(":00:00.000")),
        "{stdout}"
    );
}

#[test]
fn a_filesystem_table_takes_a_file_uri_as_flink_does() {
    // Nexmark q10 writes to 'file://${NEXMARK_DIR}/...': the rows go to that local directory.
    let dir = std::env::temp_dir().join(format!("ff-file-uri-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = format!(
        "{TABLE}\nCREATE TABLE out (id INT) WITH ('connector' = 'filesystem', 'path' = 'file://{}', 'format' = 'csv');
INSERT INTO out SELECT id FROM t;",
        dir.display()
    );
    let out = sql(&["-e", &script]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ids: Vec<i32> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("part-"))
        .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(|l| l.parse().unwrap()).collect::<Vec<_>>())
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
    let bad = sql(&[
        "-e",
        &format!(
            "{TABLE}\nCREATE TABLE o (id INT) WITH ('connector' = 'filesystem', 'path' = 'hdfs://nn/x', 'format' = 'csv');\nINSERT INTO o SELECT id FROM t;"
        ),
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("local paths, file:// and s3://"));
}
