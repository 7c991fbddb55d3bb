//! Batch mode's `GROUP BY` in bounded memory: with 1 MiB of managed memory for 50,000 groups
//! (some 15 MiB of them) each subtask spills sorted runs to disk and merges them at the end; the
//! rows equal a computation here that shares no engine code, at parallelism 1 and 4. A spill
//! directory that cannot be written fails the job naming the file and what to set. Batch mode takes
//! no periodic checkpoints.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::{Effect, Session, parse_script};
use std::collections::{BTreeMap, BTreeSet};

const ROWS: i64 = 200_000;
const GROUPS: i64 = 50_000;

fn script(tmp: &str) -> String {
    format!(
        "SET 'execution.runtime-mode' = 'batch';
         SET 'taskmanager.memory.managed.size' = '1m';
         SET 'io.tmp.dirs' = '{tmp}';
         CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{ROWS}', 'rows-per-second' = '100000000',
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}');
         SELECT CONCAT('key-', CAST(MOD(id * 7919, {GROUPS}) AS STRING)) AS k, COUNT(*), SUM(id), MIN(id),
           MAX(id), COUNT(DISTINCT MOD(id, 7)) FROM t GROUP BY CONCAT('key-', CAST(MOD(id * 7919, {GROUPS}) AS STRING));"
    )
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
fn expected() -> Vec<String> {
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
    let tmp = std::env::temp_dir().join(format!("ff-spill-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let expected = expected();
    assert_eq!(expected.len(), GROUPS as usize);
    for parallelism in [1, 4] {
        let rows = run(&script(&tmp.display().to_string()), parallelism).unwrap();
        assert_eq!(rows.len(), expected.len(), "parallelism {parallelism}");
        assert!(rows == expected, "parallelism {parallelism}: the rows differ from the groups computed directly");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "parallelism {parallelism}: spill files left behind: {left:?}");
    }
    // Spilling into a directory that is not there fails, saying which file and what to set.
    let error = run(&script(&tmp.join("missing").display().to_string()), 1).unwrap_err();
    assert!(error.contains("spill file") && error.contains("io.tmp.dirs"), "{error}");
    std::fs::remove_dir_all(&tmp).unwrap();
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
