//! A session over scripts: the catalog, the options, and the errors Flink gives for the same DDL.

use ferroflink_sql::ast::{ColumnKind, DataType};
use ferroflink_sql::session::{RuntimeMode, Session};
use ferroflink_sql::{Effect, SqlError, parse_script};
use std::time::Duration;

/// Runs every statement of `sql`; the effects, or the first error.
fn run(session: &mut Session, sql: &str) -> Result<Vec<Effect>, SqlError> {
    parse_script(sql)?.iter().map(|s| session.execute(s)).collect()
}

fn error(sql: &str) -> SqlError {
    run(&mut Session::new(), sql).unwrap_err()
}

#[test]
fn ddl_builds_the_catalog() {
    let mut s = Session::new();
    let effects = run(
        &mut s,
        "CREATE TABLE bid (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND,\n\
         PRIMARY KEY (auction) NOT ENFORCED) WITH ('connector' = 'datagen');\n\
         CREATE TABLE IF NOT EXISTS bid (x INT) WITH ('connector' = 'print');\n\
         CREATE VIEW cheap AS SELECT * FROM bid WHERE price < 10;\n\
         CREATE TEMPORARY FUNCTION twice AS 'twice';\n\
         INSERT INTO out SELECT * FROM cheap;\n\
         EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END;\n\
         SELECT 1;\n\
         EXPLAIN SELECT 1;",
    )
    .unwrap();
    assert!(effects[..4].iter().all(|e| *e == Effect::Done));
    assert!(matches!(&effects[4], Effect::Job(i) if i.len() == 1));
    assert!(matches!(&effects[5], Effect::Job(i) if i.len() == 2));
    assert!(matches!(&effects[6], Effect::Query(_)));
    assert!(matches!(&effects[7], Effect::Explain { effect, .. } if matches!(**effect, Effect::Query(_))));

    let name =
        |n: &str| sqlparser::ast::ObjectName::from(n.split('.').map(sqlparser::ast::Ident::new).collect::<Vec<_>>());
    let bid = s.table(&name("bid")).unwrap();
    assert_eq!(s.table(&name("default_catalog.default_database.bid")), Some(bid));
    assert_eq!(s.table(&name("default_database.bid")), Some(bid));
    assert!(s.table(&name("BID")).is_none(), "names are case-sensitive, as in Flink");
    assert_eq!(bid.definition.columns.len(), 3, "IF NOT EXISTS kept the first definition");
    let ColumnKind::Physical(auction) = &bid.definition.columns[0].kind else { panic!() };
    assert_eq!((&auction.data, auction.nullable), (&DataType::BigInt, false), "primary key columns are NOT NULL");
    assert!(s.view(&name("cheap")).is_some());
    assert_eq!(s.function("twice"), Some("twice"));

    run(&mut s, "DROP VIEW cheap; DROP TABLE bid; DROP TABLE IF EXISTS bid; DROP FUNCTION twice").unwrap();
    assert!(s.table(&name("bid")).is_none() && s.view(&name("cheap")).is_none() && s.function("twice").is_none());
}

#[test]
fn set_and_reset() {
    let mut s = Session::new();
    run(
        &mut s,
        "SET 'execution.runtime-mode' = 'batch';\nSET 'table.exec.state.ttl' = '1 h';\n\
         SET 'table.exec.source.idle-timeout' = '5 s';\nSET 'table.local-time-zone' = 'Asia/Shanghai';\n\
         SET 'pipeline.name' = 'my job';\nSET 'parallelism.default' = '4';\n\
         SET 'execution.checkpointing.interval' = '10 s';",
    )
    .unwrap();
    assert!(s.take_warnings().is_empty());
    let o = s.options().clone();
    assert_eq!(o.runtime_mode, RuntimeMode::Batch);
    assert_eq!(o.state_ttl, Some(Duration::from_secs(3600)));
    assert_eq!(o.source_idle_timeout, Some(Duration::from_secs(5)));
    assert_eq!(o.local_time_zone.as_deref(), Some("Asia/Shanghai"));
    assert_eq!(o.pipeline_name.as_deref(), Some("my job"));
    assert_eq!(
        s.job_config(),
        vec![("parallelism.default".into(), "4".into()), ("execution.checkpointing.interval".into(), "10 s".into())]
    );
    let Effect::ShowOptions(shown) = run(&mut s, "SET").unwrap().remove(0) else { panic!() };
    assert_eq!(shown.len(), 7);

    run(&mut s, "RESET 'table.exec.state.ttl'; SET 'table.exec.state.ttl' = '0 ms'").unwrap();
    assert_eq!(s.options().state_ttl, None, "0 is Flink's 'keep state forever'");
    assert_eq!(s.options().runtime_mode, RuntimeMode::Batch, "RESET of one key keeps the others");
    run(&mut s, "RESET").unwrap();
    assert_eq!(*s.options(), Default::default());
    assert!(s.job_config().is_empty());

    // Flink's tuning options and options we do not implement: accepted, each with a warning.
    run(
        &mut s,
        "SET 'table.exec.mini-batch.enabled' = 'true'; SET 'table.optimizer.agg-phase-strategy' = 'TWO_PHASE';\n\
         SET 'table.exec.sink.not-null-enforcer' = 'DROP'",
    )
    .unwrap();
    let warnings = s.take_warnings();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("table.exec.mini-batch.enabled") && warnings[0].contains("ignores it"));
    assert!(warnings[2].contains("does not implement"));
    run(&mut s, "RESET 'table.exec.sink.not-null-enforcer'").unwrap();
    assert!(s.take_warnings().is_empty(), "a RESET warns of nothing again");
    assert_eq!(s.job_config().len(), 0);
}

#[test]
fn errors_say_what_is_wrong() {
    for (sql, needle) in [
        ("SET 'table.exec.stat.ttl' = '1 h'", "no such option"),
        ("SET 'execution.runtime-mode' = 'fast'", "STREAMING or BATCH"),
        ("SET 'table.exec.state.ttl' = 'forever'", "not a duration"),
        ("SET 'parallelism.default' = 'many'", "parallelism"),
        ("SET 'table.local-time-zone' = 'Mars/Olympus'", "'Mars/Olympus' is not a time zone"),
        ("CREATE TABLE t (a INT) WITH ('format' = 'csv')", "no 'connector'"),
        (
            "CREATE TABLE t (a INT) WITH ('connector' = 'print'); CREATE TABLE t (b INT) WITH ('connector' = 'print')",
            "already exists",
        ),
        (
            "CREATE TABLE t (a INT, WATERMARK FOR b AS b) WITH ('connector' = 'datagen')",
            "the watermark's column `b` is not a column of the table; the columns are a",
        ),
        (
            "CREATE TABLE t (a BIGINT, WATERMARK FOR a AS a) WITH ('connector' = 'datagen')",
            "TIMESTAMP(p) or TIMESTAMP_LTZ(p)",
        ),
        ("CREATE TABLE t (a TIMESTAMP(6), WATERMARK FOR a AS a) WITH ('connector' = 'datagen')", "0 to 3"),
        (
            "CREATE TABLE t (a INT, PRIMARY KEY (b) NOT ENFORCED) WITH ('connector' = 'datagen')",
            "primary key's column `b`",
        ),
        (
            "CREATE TABLE t (a INT, b AS a + 1, PRIMARY KEY (b) NOT ENFORCED) WITH ('connector' = 'datagen')",
            "physical columns",
        ),
        ("CREATE TABLE t (a INT) PARTITIONED BY (x) WITH ('connector' = 'filesystem')", "PARTITIONED BY column `x`"),
        (
            "CREATE TABLE other_catalog.db.t (a INT) WITH ('connector' = 'print')",
            "catalog `other_catalog` does not exist",
        ),
        ("CREATE TABLE db.t (a INT) WITH ('connector' = 'print')", "database `db` does not exist"),
        ("DROP TABLE nope", "table `nope` does not exist"),
        ("CREATE FUNCTION f AS 'com.example.F' LANGUAGE JAVA", "cannot run here"),
        ("CREATE FUNCTION f AS 'f'; CREATE FUNCTION f AS 'g'", "already exists"),
    ] {
        let e = error(sql);
        assert!(e.message.contains(needle), "{sql}: {e}");
        assert!(e.line >= 1 && e.column >= 1, "{sql}: {e}");
    }
    let e = error("SET 'a' = '1';\n\n  CREATE TABLE t (a INT) WITH ()");
    assert_eq!((e.line, e.column), (1, 1), "the first error stops the script: {e}");
    let e = error("SET 'pipeline.name' = 'x';\n\n  CREATE TABLE t (a INT) WITH ()");
    assert_eq!((e.line, e.column), (3, 3), "located at the statement: {e}");
}
