//! An aggregate function a binary registers, as the planner binds it: its results in a `GROUP BY`
//! and a `TUMBLE` window over insert-only rows (checked against sums computed here), and the
//! planning errors where it would need a `retract` or a `merge` it does not have.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::ast::DataType;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::udf::{Udfs, UserAggregate};
use ferroflink_sql::value::{Row, Value};
use ferroflink_sql::{Effect, Session, SqlError, parse_script};

/// The sum of the squares of the non-NULL arguments; it cannot retract or merge.
struct SumOfSquares;

impl UserAggregate for SumOfSquares {
    fn create_accumulator(&self) -> Value {
        Value::BigInt(0)
    }

    fn accumulate(&self, acc: &mut Value, args: &[Value]) -> Result<(), String> {
        if let (Value::BigInt(sum), Value::BigInt(x)) = (acc, &args[0]) {
            *sum += x * x;
        }
        Ok(())
    }

    fn get_value(&self, acc: &Value) -> Result<Value, String> {
        Ok(acc.clone())
    }
}

const TABLE: &str = "CREATE FUNCTION squares AS 'test.SumOfSquares';
CREATE TABLE t (
  id INT,
  k AS id % 3,
  ts AS CAST(TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '1' SECOND * id AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts
) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '30');
";

/// Plans and runs the script's last statement (a query) at `parallelism`: its changelog applied.
fn run(query: &str, parallelism: usize) -> Result<Vec<Vec<Value>>, SqlError> {
    let udfs = Udfs::default().aggregate("test.SumOfSquares", &[DataType::BigInt], DataType::BigInt, SumOfSquares);
    let mut session = Session::new();
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for statement in parse_script(&format!("{TABLE}{query}"))? {
        if let Effect::Query(q) = session.execute(&statement)? {
            let env = StreamExecutionEnvironment::new();
            env.set_parallelism(parallelism);
            let planned = Planner::new(&session, env.clone())?.with_functions(&udfs)?.query(&q)?;
            let sink = CollectSink::new();
            let results = sink.results();
            planned.stream.sink_to(sink);
            env.execute("query").expect("the query runs");
            for row in results.take() {
                let Row { kind, values } = row;
                if kind.is_accumulate() {
                    rows.push(values);
                } else {
                    let at = rows.iter().position(|r| *r == values).expect("a retraction of a row there");
                    rows.remove(at);
                }
            }
        }
    }
    rows.sort_by_key(|r| format!("{r:?}"));
    Ok(rows)
}

fn squares(ids: impl Iterator<Item = i64>) -> Value {
    Value::BigInt(ids.map(|i| i * i).sum())
}

#[test]
fn an_insert_only_group_by_and_tumbling_window_call_it() {
    for p in [1, 4] {
        let got = run("SELECT k, squares(id) FROM t GROUP BY k;", p).unwrap();
        let expected: Vec<Vec<Value>> =
            (0..3).map(|k| vec![Value::Int(k), squares((1..=30).filter(|i| i % 3 == i64::from(k)))]).collect();
        assert_eq!(got, expected, "GROUP BY at parallelism {p}");
    }
    let got = run(
        "SELECT squares(id) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end;",
        2,
    )
    .unwrap();
    let mut expected: Vec<Vec<Value>> =
        (0..4).map(|w| vec![squares((w * 10..w * 10 + 10).filter(|i| (1..=30).contains(i)))]).collect();
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(got, expected, "TUMBLE");
}

#[test]
fn it_is_refused_where_it_would_retract_or_merge() {
    let e = run("SELECT squares(n) FROM (SELECT k, COUNT(*) AS n FROM t GROUP BY k);", 1).unwrap_err();
    assert!(e.message.contains("'test.SumOfSquares' cannot retract"), "{e}");
    assert_eq!((e.line, e.column), (8, 8), "{e}");
    let e = run(
        "SELECT squares(id) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end;",
        1,
    )
    .unwrap_err();
    assert!(e.message.contains("'test.SumOfSquares' cannot merge accumulators, which HOP"), "{e}");
    let e = run("SELECT squares(id, id) FROM t;", 1).unwrap_err();
    assert!(
        e.message.contains("SQUARES takes 1 arguments, not 2")
            || e.message.contains("squares takes 1 arguments, not 2"),
        "{e}"
    );
}
