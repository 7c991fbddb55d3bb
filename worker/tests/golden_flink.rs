//! Window semantics checked against Apache Flink itself: `golden/events.csv` run through tumbling,
//! sliding and session windows with allowed lateness and a late-data side output must give exactly
//! the firings and late elements Flink 2.3 produced (`golden/flink/*.csv`, see `golden/README.md`),
//! with the window operator at parallelism 1 and 4.

use ferroflink::prelude::*;
use std::time::Duration;

type Event = (String, i64, i64);

fn events() -> Vec<Event> {
    let text =
        std::fs::read_to_string(format!("{}/tests/golden/events.csv", std::env::var("CARGO_MANIFEST_DIR").unwrap()))
            .unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

fn golden(name: &str) -> Vec<String> {
    let path = format!("{}/tests/golden/flink/{name}.csv", std::env::var("CARGO_MANIFEST_DIR").unwrap());
    std::fs::read_to_string(path).unwrap().lines().map(String::from).collect()
}

#[derive(Clone)]
struct CountSum;

impl AggregateFunction<Event> for CountSum {
    type Acc = (u64, i64);
    type Out = (u64, i64);
    fn create_accumulator(&self) -> (u64, i64) {
        (0, 0)
    }
    fn add(&self, e: Event, acc: &mut (u64, i64)) {
        acc.0 += 1;
        acc.1 += e.2;
    }
    fn get_result(&self, acc: &(u64, i64)) -> (u64, i64) {
        *acc
    }
    fn merge(&self, acc: &mut (u64, i64), other: (u64, i64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}

fn run(
    assigner: ferroflink::datastream::window::assigner::WindowAssigner,
    lateness_ms: u64,
    parallelism: usize,
) -> (Vec<String>, Vec<String>) {
    let env = StreamExecutionEnvironment::new();
    // One record per batch: the watermark follows every event, as in the golden job.
    env.set_parallelism(parallelism).set_batch_size(1);
    let late = OutputTag::<Event>::new("late");
    let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(2000))
        .with_timestamp_assigner(|e: &Event, _| e.1);
    let windows = env
        .from_collection(events())
        .assign_timestamps_and_watermarks(strategy)
        .set_parallelism(1)
        .key_by(|e: &Event| e.0.clone())
        .window(assigner)
        .allowed_lateness(Duration::from_millis(lateness_ms))
        .side_output_late_data(&late)
        .aggregate_with(CountSum, |k: &String, w: &TimeWindow, (c, s)| format!("{k},{},{},{c},{s}", w.start, w.end))
        .name("Windows");
    let late_lines = windows.get_side_output(&late).map(|e: Event| format!("{},{},{}", e.0, e.1, e.2)).collect();
    let fired = windows.collect();
    let result = env.execute("golden").unwrap();
    let per_subtask: Vec<u64> = result.vertex("Windows").unwrap().subtasks.iter().map(|s| s.records_in).collect();
    assert_eq!(per_subtask.len(), parallelism);
    assert!(per_subtask.iter().all(|n| *n > 0), "every window subtask gets records: {per_subtask:?}");
    let mut fired = fired.take();
    let mut late_lines = late_lines.take();
    fired.sort();
    late_lines.sort();
    (fired, late_lines)
}

fn check(name: &str, assigner: ferroflink::datastream::window::assigner::WindowAssigner, lateness_ms: u64) {
    for p in [1, 4] {
        let (fired, late) = run(assigner, lateness_ms, p);
        assert_eq!(fired, golden(name), "{name} firings at parallelism {p}");
        assert_eq!(late, golden(&format!("{name}_late")), "{name} late output at parallelism {p}");
    }
}

#[test]
fn tumbling_with_lateness_matches_flink() {
    check("tumbling", TumblingEventTimeWindows::of(Duration::from_millis(5000)), 3000);
}

#[test]
fn sliding_with_lateness_matches_flink() {
    check("sliding", SlidingEventTimeWindows::of(Duration::from_millis(6000), Duration::from_millis(2000)), 2000);
}

#[test]
fn session_merging_with_lateness_matches_flink() {
    check("session", EventTimeSessionWindows::with_gap(Duration::from_millis(3000)), 1000);
}
