//! Batch mode's keyed operators in bounded memory: with 1 MiB of managed memory, a `GROUP BY` of
//! 50,000 groups (some 15 MiB of them), a top-3 of 50,000 partitions, a full outer join of
//! 200,000 rows with 60,000 and a sliding window aggregate of some 400,000 (key, window) groups
//! each spill sorted runs to disk and merge them at the end; the rows
//! equal a computation here that shares no engine code, at parallelism 1 and 4, and no spill file
//! is left; each of them, spilling into a directory that is not there, fails naming the file and
//! what to set. Batch mode takes no periodic checkpoints.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::{Effect, Session, parse_script};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const ROWS: i64 = 200_000;
const GROUPS: i64 = 50_000;

/// Batch mode, 1 MiB of managed memory spilling into `tmp`, and table `t` of ids 1 to [`ROWS`].
fn preamble(tmp: &Path) -> String {
    format!(
        "SET 'execution.runtime-mode' = 'batch';
         SET 'taskmanager.memory.managed.size' = '1m';
         SET 'io.tmp.dirs' = '{}';
         CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{ROWS}', 'rows-per-second' = '100000000',
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}');",
        tmp.display()
    )
}

fn group_by(tmp: &Path) -> String {
    format!(
        "{}
         SELECT CONCAT('key-', CAST(MOD(id * 7919, {GROUPS}) AS STRING)) AS k, COUNT(*), SUM(id), MIN(id),
           MAX(id), COUNT(DISTINCT MOD(id, 7)) FROM t GROUP BY CONCAT('key-', CAST(MOD(id * 7919, {GROUPS}) AS STRING));",
        preamble(tmp)
    )
}

/// Whether `query` at parallelism 1 and 4 gives `expected` (sorted), spilling into `tmp` and
/// leaving no file there; and whether it spills: into a directory that is not there it fails,
/// saying which file and what to set.
fn spills_and_gives(query: impl Fn(&Path) -> String, expected: &[String], tmp: &Path) {
    let error = run(&query(&tmp.join("missing")), 1).unwrap_err();
    assert!(error.contains("spill file") && error.contains("io.tmp.dirs"), "{error}");
    for parallelism in [1, 4] {
        let rows = run(&query(tmp), parallelism).unwrap();
        assert_eq!(rows.len(), expected.len(), "parallelism {parallelism}");
        let differ = rows.iter().zip(expected).find(|(a, b)| a != b);
        assert!(differ.is_none(), "parallelism {parallelism}: a row differs from those computed directly: {differ:?}");
        let left: Vec<_> = std::fs::read_dir(tmp).unwrap().collect();
        assert!(left.is_empty(), "parallelism {parallelism}: spill files left behind: {left:?}");
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let tmp = std::env::temp_dir().join(format!("ff-spill-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

/// The query's rows at `parallelism`, as text, sorted; or the job's error.
fn run(script: &str, parallelism: usize) -> Result<Vec<String>, String> {
    let mut session = Session::new();
    let mut result = Err("no query".to_string());
    for statement in parse_script(script).unwrap() {
        if let Effect::Query(query) = session.execute(&statement).unwrap() {
            let env = StreamExecutionEnvironment::new();
            env.set_parallelism(parallelism);
            let planned = Planner::new(&session, env.clone()).unwrap().query(&query).unwrap();
            let sink = CollectSink::new();
            let rows = sink.results();
            planned.stream.sink_to(sink);
            result = env.execute("query").map_err(|e| e.to_string()).map(|_| {
                let mut lines: Vec<String> = rows
                    .take()
                    .iter()
                    .map(|r| r.values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(","))
                    .collect();
                lines.sort();
                lines
            });
        }
    }
    result
}

/// The groups computed directly.
fn expected_groups() -> Vec<String> {
    #[derive(Default)]
    struct Group {
        count: i64,
        sum: i64,
        min: i64,
        max: i64,
        mods: BTreeSet<i64>,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for id in 1..=ROWS {
        let g =
            groups.entry(format!("key-{}", id * 7919 % GROUPS)).or_insert(Group { min: i64::MAX, ..Group::default() });
        g.count += 1;
        g.sum += id;
        g.min = g.min.min(id);
        g.max = g.max.max(id);
        g.mods.insert(id % 7);
    }
    let mut lines: Vec<String> = groups
        .into_iter()
        .map(|(k, g)| {
            format!(
                "String({k:?}),BigInt({}),BigInt({}),BigInt({}),BigInt({}),BigInt({})",
                g.count,
                g.sum,
                g.min,
                g.max,
                g.mods.len()
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_group_by_larger_than_memory_spills_and_gives_every_group_once() {
    let tmp = temp_dir("group-by");
    let expected = expected_groups();
    assert_eq!(expected.len(), GROUPS as usize);
    spills_and_gives(group_by, &expected, &tmp);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_top_n_of_more_partitions_than_fit_in_memory_spills_and_ranks_each_once() {
    let query = |tmp: &Path| {
        format!(
            "{}
             SELECT k, id, v, rn FROM (
               SELECT k, id, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC, id) AS rn
               FROM (SELECT CONCAT('key-', CAST(MOD(id * 7919, {GROUPS}) AS STRING)) AS k, id, MOD(id * 31, 1000) AS v FROM t))
             WHERE rn <= 3;",
            preamble(tmp)
        )
    };
    let mut partitions: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for id in 1..=ROWS {
        partitions.entry(format!("key-{}", id * 7919 % GROUPS)).or_default().push((-(id * 31 % 1000), id));
    }
    let mut expected = Vec::new();
    for (k, mut rows) in partitions {
        rows.sort();
        for (rank, (v, id)) in rows.into_iter().take(3).enumerate() {
            expected.push(format!("String({k:?}),BigInt({id}),Int({}),BigInt({})", -v, rank + 1));
        }
    }
    expected.sort();
    let tmp = temp_dir("top-n");
    spills_and_gives(query, &expected, &tmp);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_join_larger_than_memory_spills_and_gives_every_pair_and_unmatched_row_once() {
    const RIGHT: i64 = 60_000;
    // Some 3 left rows per key, a key in 70,000 of which 60,000 have a right row; every 1000th
    // left row's key is NULL; the condition besides the key leaves out every 5th left row.
    let query = |tmp: &Path| {
        format!(
            "{}
             CREATE TABLE r (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{RIGHT}',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{RIGHT}');
             SELECT x.id, r.id FROM (
               SELECT id, CASE WHEN MOD(id, 1000) = 0 THEN CAST(NULL AS BIGINT) ELSE MOD(id * 7919, 70000) END AS k FROM t
             ) AS x FULL OUTER JOIN r ON x.k = r.id AND MOD(x.id, 5) <> 0;",
            preamble(tmp)
        )
    };
    let mut expected = Vec::new();
    let mut matched = BTreeSet::new();
    for id in 1..=ROWS {
        let k = id * 7919 % 70000;
        if id % 1000 != 0 && (1..=RIGHT).contains(&k) && id % 5 != 0 {
            matched.insert(k);
            expected.push(format!("BigInt({id}),BigInt({k})"));
        } else {
            expected.push(format!("BigInt({id}),Null"));
        }
    }
    expected.extend((1..=RIGHT).filter(|r| !matched.contains(r)).map(|r| format!("Null,BigInt({r})")));
    expected.sort();
    let tmp = temp_dir("join");
    spills_and_gives(query, &expected, &tmp);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_window_aggregate_of_more_groups_than_fit_in_memory_spills_and_gives_each_window_once() {
    // A row a second, each in two 20 s windows sliding by 10 s, some 400,000 (key, window) groups.
    let query = |tmp: &Path| {
        format!(
            "{}
             CREATE TABLE w (id BIGINT, k AS MOD(id * 7919, 5000),
               ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * id AS TIMESTAMP(3)),
               WATERMARK FOR ts AS ts) WITH ('connector' = 'datagen', 'number-of-rows' = '{ROWS}',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}');
             SELECT k, TIMESTAMPDIFF(SECOND, TIMESTAMP '2024-01-01 00:00:00', window_start), COUNT(*), SUM(id)
             FROM TABLE(HOP(TABLE w, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '20' SECOND))
             GROUP BY k, window_start, window_end;",
            preamble(tmp)
        )
    };
    let mut groups: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for id in 1..=ROWS {
        let last = id / 10 * 10;
        for start in [last - 10, last] {
            let g = groups.entry((id * 7919 % 5000, start)).or_default();
            g.0 += 1;
            g.1 += id;
        }
    }
    let mut expected: Vec<String> =
        groups.into_iter().map(|((k, s), (n, sum))| format!("Int({k}),Int({s}),BigInt({n}),BigInt({sum})")).collect();
    expected.sort();
    let tmp = temp_dir("window");
    spills_and_gives(query, &expected, &tmp);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_window_over_rows_without_a_time_fails_naming_it() {
    let script = "SET 'execution.runtime-mode' = 'batch';
        CREATE TABLE w (id BIGINT,
          ts AS CASE WHEN id = 3 THEN CAST(NULL AS TIMESTAMP(3)) ELSE CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * id AS TIMESTAMP(3)) END,
          WATERMARK FOR ts AS ts) WITH ('connector' = 'datagen', 'number-of-rows' = '5',
          'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '5');
        SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE w, DESCRIPTOR(ts), INTERVAL '10' SECOND))
        GROUP BY window_start, window_end;";
    let error = run(script, 1).unwrap_err();
    assert!(error.contains("time attribute is NULL") && error.contains("WindowAggregate"), "{error}");
}

#[test]
fn batch_mode_takes_no_periodic_checkpoints() {
    // The spilling aggregate keeps its groups outside the state backends until the end, so a
    // checkpoint in the middle of a batch job could not hold them: as in Flink, there is none.
    for (mode, periodic) in [("batch", false), ("streaming", true)] {
        let mut session = Session::new();
        for statement in parse_script(&format!("SET 'execution.runtime-mode' = '{mode}';")).unwrap() {
            session.execute(&statement).unwrap();
        }
        let env = StreamExecutionEnvironment::new();
        env.enable_checkpointing(std::time::Duration::from_millis(100), "/tmp/unused-checkpoints");
        Planner::new(&session, env.clone()).unwrap();
        assert_eq!(env.execution_settings().checkpoint.interval.is_some(), periodic, "{mode}");
    }
}
