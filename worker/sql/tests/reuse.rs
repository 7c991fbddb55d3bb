//! A job reads each table and computes each view once, however many of its statements use them
//! (Flink's source and sub-plan reuse): a statement set of two inserts over one view, and a
//! self-join, each have one source that reads every row once, and give the right rows.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::{Effect, Session, parse_script};

const TABLES: &str = "CREATE TABLE t (id INT, k AS id % 3) WITH ('connector' = 'datagen', 'number-of-rows' = '30', \
     'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '30');
     CREATE VIEW v AS SELECT id, k * 10 AS kk FROM t WHERE id > 3;
     CREATE TABLE a (id INT, kk INT) WITH ('connector' = 'blackhole');
     CREATE TABLE b (kk INT, n BIGINT) WITH ('connector' = 'blackhole');";

/// Plans the script's last statement at parallelism 2 and runs it: the sources' names and the
/// rows they read, and the rows a query gave (sorted).
fn run(script: &str) -> (Vec<String>, u64, Vec<String>) {
    let mut session = Session::new();
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let mut rows = None;
    for statement in parse_script(script).unwrap() {
        let effect = session.execute(&statement).unwrap();
        let planner = Planner::new(&session, env.clone()).unwrap();
        match effect {
            Effect::Job(inserts) => {
                planner.inserts(&inserts).unwrap();
            }
            Effect::Query(query) => {
                let sink = CollectSink::new();
                rows = Some(sink.results());
                planner.query(&query).unwrap().stream.sink_to(sink);
            }
            _ => {}
        }
    }
    let graph = env.job_graph().unwrap();
    let result = env.execute("reuse").unwrap();
    let sources = graph.vertices.iter().filter(|v| v.is_source).map(|v| v.name.clone()).collect();
    let mut got: Vec<String> =
        rows.map(|r| r.take().iter().map(|r| format!("{:?}", r.values)).collect()).unwrap_or_default();
    got.sort();
    (sources, result.source_records(&graph), got)
}

#[test]
fn a_view_used_by_two_inserts_is_read_once() {
    let script = format!(
        "{TABLES}
         EXECUTE STATEMENT SET BEGIN
         INSERT INTO a SELECT id, kk FROM v;
         INSERT INTO b SELECT kk, COUNT(*) FROM v GROUP BY kk;
         END;"
    );
    let (sources, read, _) = run(&script);
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(read, 30);
}

#[test]
fn a_self_join_reads_its_table_once() {
    let script = format!("{TABLES}\nSELECT x.id, y.id FROM v x JOIN v y ON x.kk = y.kk AND x.id + 3 = y.id;");
    let (sources, read, rows) = run(&script);
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(read, 30);
    let mut expected: Vec<String> = (4..=27).map(|i| format!("[Int({i}), Int({})]", i + 3)).collect();
    expected.sort();
    assert_eq!(rows, expected);
}
