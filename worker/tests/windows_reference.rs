//! Windowed counts and sums over a generated, out-of-order stream equal a brute-force computation
//! on the same events that shares no code with the engine: tumbling, sliding and session windows,
//! late data to the side output, at parallelism 1 and 4 with identical results, every window subtask
//! receiving records. Plus a bounded job over 10 million records with exact totals.

use ferroflink::connectors::generator::{GeneratorSource, mix};
use ferroflink::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// (key, timestamp, value)
type Ev = (u64, i64, u64);

const KEYS: u64 = 37;
const DISORDER: i64 = 3_000;

/// Event `i`: timestamps advance ~10 ms per event and jitter back by up to `DISORDER`.
fn event(i: u64) -> Ev {
    let r = mix(7, i);
    let key = r % KEYS;
    let ts = (i as i64) * 10 - ((r >> 20) % DISORDER as u64) as i64;
    (key, ts, (r >> 40) % 100)
}

#[derive(Clone)]
struct CountSum;

impl AggregateFunction<Ev> for CountSum {
    type Acc = (u64, u64);
    type Out = (u64, u64);
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, e: Ev, acc: &mut (u64, u64)) {
        acc.0 += 1;
        acc.1 += e.2;
    }
    fn get_result(&self, acc: &(u64, u64)) -> (u64, u64) {
        *acc
    }
    fn merge(&self, acc: &mut (u64, u64), o: (u64, u64)) {
        acc.0 += o.0;
        acc.1 += o.1;
    }
}

type Row = (u64, i64, i64, u64, u64);

/// Runs `n` generated events through windows at `parallelism` (source included).
fn run_windows(
    n: u64,
    parallelism: usize,
    assigner: ferroflink::datastream::window::assigner::WindowAssigner,
) -> Vec<Row> {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(parallelism).set_batch_size(64);
    // The bound covers the disorder, so no element is late whatever the interleaving.
    let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(DISORDER as u64 + 20))
        .with_timestamp_assigner(|e: &Ev, _| e.1);
    let out = env
        .from_source(GeneratorSource::new(Some(n), event), strategy, "gen")
        .key_by(|e: &Ev| e.0)
        .window(assigner)
        .aggregate_with(CountSum, |k: &u64, w: &TimeWindow, (c, s)| (*k, w.start, w.end, c, s))
        .name("Windows")
        .collect();
    let result = env.execute("windows").unwrap();
    let subtasks = &result.vertex("Windows").unwrap().subtasks;
    assert_eq!(subtasks.len(), parallelism);
    assert!(subtasks.iter().all(|s| s.records_in > 0), "every subtask gets records");
    let mut rows = out.take();
    rows.sort();
    rows
}

fn brute_force_aligned(n: u64, size: i64, slide: i64) -> Vec<Row> {
    let mut acc: BTreeMap<(u64, i64), (u64, u64)> = BTreeMap::new();
    for i in 0..n {
        let (k, ts, v) = event(i);
        // Every window start s (multiple of slide) with s <= ts < s + size.
        let mut s = ts.div_euclid(slide) * slide;
        while s > ts - size {
            let e = acc.entry((k, s)).or_default();
            e.0 += 1;
            e.1 += v;
            s -= slide;
        }
    }
    acc.into_iter().map(|((k, s), (c, v))| (k, s, s + size, c, v)).collect()
}

fn brute_force_sessions(n: u64, gap: i64) -> Vec<Row> {
    let mut by_key: HashMap<u64, Vec<(i64, u64)>> = HashMap::new();
    for i in 0..n {
        let (k, ts, v) = event(i);
        by_key.entry(k).or_default().push((ts, v));
    }
    let mut rows = Vec::new();
    for (k, mut evs) in by_key {
        evs.sort();
        let mut cur: Option<(i64, i64, u64, u64)> = None;
        for (ts, v) in evs {
            cur = match cur {
                Some((s, last, c, sum)) if ts <= last + gap => Some((s, ts, c + 1, sum + v)),
                Some((s, last, c, sum)) => {
                    rows.push((k, s, last + gap, c, sum));
                    Some((ts, ts, 1, v))
                }
                None => Some((ts, ts, 1, v)),
            };
        }
        if let Some((s, last, c, sum)) = cur {
            rows.push((k, s, last + gap, c, sum));
        }
    }
    rows.sort();
    rows
}

const N: u64 = 20_000;

#[test]
fn tumbling_counts_and_sums_equal_brute_force() {
    let expected = brute_force_aligned(N, 1_000, 1_000);
    for p in [1, 4] {
        assert_eq!(run_windows(N, p, TumblingEventTimeWindows::of(Duration::from_secs(1))), expected, "p={p}");
    }
}

#[test]
fn sliding_counts_and_sums_equal_brute_force() {
    let expected = brute_force_aligned(N, 5_000, 1_000);
    for p in [1, 4] {
        let got = run_windows(N, p, SlidingEventTimeWindows::of(Duration::from_secs(5), Duration::from_secs(1)));
        assert_eq!(got, expected, "p={p}");
    }
    // A slide that does not divide the size: panes of gcd(5000, 1500) = 500 ms.
    let expected = brute_force_aligned(N, 5_000, 1_500);
    let got = run_windows(N, 4, SlidingEventTimeWindows::of(Duration::from_millis(5000), Duration::from_millis(1500)));
    assert_eq!(got, expected);
}

#[test]
fn session_counts_and_sums_equal_brute_force() {
    // 37 keys, ~370 ms between a key's events on average: a 400 ms gap splits and merges often.
    let expected = brute_force_sessions(N, 400);
    assert!(expected.len() > 1000, "the stream has many sessions");
    for p in [1, 4] {
        assert_eq!(run_windows(N, p, EventTimeSessionWindows::with_gap(Duration::from_millis(400))), expected, "p={p}");
    }
}

/// Flink's lateness rules, simulated directly: events arrive in index order through one source,
/// the watermark after event i is max(ts[0..=i]) - bound - 1.
fn brute_force_lateness(n: u64, size: i64, bound: i64, lateness: i64) -> (Vec<Row>, Vec<Ev>) {
    let mut wm = i64::MIN;
    let mut max_ts = i64::MIN;
    let mut state: BTreeMap<(u64, i64), (u64, u64)> = BTreeMap::new();
    let mut fired: Vec<Row> = Vec::new();
    let mut late = Vec::new();
    let fire_due = |state: &mut BTreeMap<(u64, i64), (u64, u64)>, fired: &mut Vec<Row>, old: i64, new: i64| {
        for (&(k, s), &(c, v)) in state.iter() {
            let max = s + size - 1;
            if max > old && max <= new {
                fired.push((k, s, s + size, c, v));
            }
        }
        state.retain(|&(_, s), _| s + size - 1 + lateness > new);
    };
    for i in 0..n {
        let (k, ts, v) = event(i);
        let s = ts.div_euclid(size) * size;
        let max = s + size - 1;
        if max + lateness <= wm {
            late.push((k, ts, v));
        } else {
            let e = state.entry((k, s)).or_default();
            e.0 += 1;
            e.1 += v;
            if max <= wm {
                fired.push((k, s, s + size, e.0, e.1));
            }
        }
        max_ts = max_ts.max(ts);
        let next = max_ts - bound - 1;
        if next > wm {
            fire_due(&mut state, &mut fired, wm, next);
            wm = next;
        }
    }
    fire_due(&mut state, &mut fired, wm, i64::MAX);
    fired.sort();
    late.sort();
    (fired, late)
}

#[test]
fn late_elements_refire_or_go_to_the_side_output_as_simulated() {
    let (n, bound, lateness) = (5_000, 1_000, 800);
    let (expected_fired, expected_late) = brute_force_lateness(n, 1_000, bound, lateness);
    assert!(!expected_late.is_empty(), "the scenario has late data");
    for p in [1, 4] {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(p).set_batch_size(1);
        let tag = OutputTag::<Ev>::new("late");
        let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(bound as u64))
            .with_timestamp_assigner(|e: &Ev, _| e.1);
        let windows = env
            .from_source(GeneratorSource::new(Some(n), event), strategy, "gen")
            .set_parallelism(1)
            .key_by(|e: &Ev| e.0)
            .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
            .allowed_lateness(Duration::from_millis(lateness as u64))
            .side_output_late_data(&tag)
            .aggregate_with(CountSum, |k: &u64, w: &TimeWindow, (c, s)| (*k, w.start, w.end, c, s));
        let late = windows.get_side_output(&tag).collect();
        let fired = windows.collect();
        env.execute("lateness").unwrap();
        let mut fired = fired.take();
        fired.sort();
        let mut late = late.take();
        late.sort();
        assert_eq!(fired, expected_fired, "p={p}");
        assert_eq!(late, expected_late, "p={p}");
    }
}

#[test]
fn ten_million_records_finish_with_exact_totals() {
    const COUNT: u64 = 10_000_000;
    const GROUPS: u64 = 1_000;
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(4);
    let totals = env
        .from_source(GeneratorSource::new(Some(COUNT), |i| (i % GROUPS, i)), WatermarkStrategy::no_watermarks(), "gen")
        .key_by(|r: &(u64, u64)| r.0)
        .window(GlobalWindows::create_with_end_of_stream_trigger())
        .reduce(|a, b| (a.0, a.1 + b.1))
        .collect();
    let result = env.execute("ten million").unwrap();
    let mut totals = totals.take();
    totals.sort();
    assert_eq!(totals.len() as u64, GROUPS);
    for (g, sum) in totals {
        // i = g + GROUPS * j for j in 0..COUNT/GROUPS
        let m = COUNT / GROUPS;
        assert_eq!(sum, g * m + GROUPS * m * (m - 1) / 2, "group {g}");
    }
    let read: u64 = result.vertices[0].subtasks.iter().map(|s| s.records_in).sum();
    assert_eq!(read, COUNT);
}
