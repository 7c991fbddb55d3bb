//! What the golden-file tests share.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::format::RowPrinter;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::{Effect, Session, parse_script};
use std::path::Path;

/// Checks every line of a golden file made by Flink (`#` comments and blank lines skipped):
/// `differs` gets the line's tab-separated fields and says how ours differs, if it does. Fails
/// with every difference, or if the file has fewer than `at_least` lines.
#[allow(dead_code)] // not every test has a golden file of lines
pub fn check_golden(golden: &str, at_least: usize, mut differs: impl FnMut(&[&str]) -> Option<String>) {
    let (mut checked, mut wrong) = (0, Vec::new());
    for line in golden.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        wrong.extend(differs(&fields));
        checked += 1;
    }
    assert!(wrong.is_empty(), "{} of {checked} differ from Flink:\n{}", wrong.len(), wrong.join("\n"));
    assert!(checked >= at_least, "the golden file has {checked} lines, fewer than {at_least}");
}

/// A call line `name, arguments..., result`: the arguments with `\\N` as NULL, and the result.
#[allow(dead_code)] // not every golden test reads call lines
pub fn call_line<'a>(fields: &[&'a str]) -> (&'a str, Vec<Option<&'a str>>, Option<String>) {
    let (name, args, result) = (fields[0], &fields[1..fields.len() - 1], fields[fields.len() - 1]);
    let args = args.iter().map(|a| (*a != "\\N").then_some(*a)).collect();
    (name, args, (result != "\\N").then(|| result.to_string()))
}

/// The arguments of a call that returns NULL when any of them is NULL; `None` then.
#[allow(dead_code)]
pub fn all_set<'a>(args: &[Option<&'a str>]) -> Option<Vec<&'a str>> {
    args.iter().copied().collect()
}

/// Runs `script` as `ferroflink sql --format tsv` would, at `parallelism` (with checkpoints into
/// `checkpoints` when given): the TSV lines of its last statement's rows, if it is a query.
#[allow(dead_code)] // not every test runs scripts
pub fn run_tsv(script: &str, parallelism: usize, checkpoints: Option<&Path>) -> Vec<String> {
    let mut session = Session::new();
    let mut lines = Vec::new();
    for statement in parse_script(script).expect("the script parses") {
        let effect = session.execute(&statement).expect("the statement runs");
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(parallelism);
        if let Some(dir) = checkpoints {
            env.enable_checkpointing(std::time::Duration::from_millis(20), &dir.display().to_string());
        }
        let planner = Planner::new(&session, env.clone()).expect("a planner");
        match effect {
            Effect::Job(inserts) => {
                planner.inserts(&inserts).expect("the job plans");
                env.execute("insert").expect("the job runs");
            }
            Effect::Query(query) => {
                let planned = planner.query(&query).expect("the query plans");
                let types = planned.scope.columns.iter().map(|c| c.ty.clone()).collect();
                let printer = RowPrinter::new(types, planner.zone().clone());
                let sink = CollectSink::new();
                let rows = sink.results();
                planned.stream.sink_to(sink);
                env.execute("query").expect("the query runs");
                lines = rows
                    .take()
                    .iter()
                    .map(|row| {
                        let mut line = String::new();
                        printer.tsv(&mut line, row);
                        line
                    })
                    .collect();
            }
            _ => {}
        }
    }
    lines
}
