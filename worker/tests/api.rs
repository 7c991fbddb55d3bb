//! The DataStream API end to end on the mini-cluster: keyed process functions with state, timers and
//! side outputs, union, connect, rolling reduce and aggregate, processing-time windows, state TTL,
//! and failures that surface as clear errors instead of hanging the job; serialize-every-edge mode
//! (on in debug builds) fails a record type whose codec does not round-trip in a local run.

use ferroflink::clock::ManualClock;
use ferroflink::datastream::{CoProcessContext, CoProcessFunction};
use ferroflink::prelude::*;
use ferroflink::runtime::context::RuntimeContext;
use ferroflink::state::ttl::StateTtlConfig;
use ferroflink::state::{ListState, StateDescriptor, ValueState};
use std::sync::Arc;
use std::time::Duration;

type Ev = (String, i64);

fn timed(items: Vec<Ev>) -> (StreamExecutionEnvironment, DataStream<Ev>) {
    let env = StreamExecutionEnvironment::new();
    // One record per batch: the watermark follows every record.
    env.set_batch_size(1);
    let s = env
        .from_collection(items)
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|e: &Ev, _| e.1),
        )
        .set_parallelism(1);
    (env, s)
}

/// Buffers each key's values and emits their sum at an event-time timer 10 ms after the first;
/// negative values go to a side output.
#[derive(Clone)]
struct SumAfter10 {
    negative: OutputTag<Ev>,
}

impl KeyedProcessFunction<String, Ev, (String, i64, i64)> for SumAfter10 {
    type State = (ListState<String, i64>, ValueState<String, i64>);

    fn open(&mut self, ctx: &mut RuntimeContext) -> ferroflink::Result<Self::State> {
        Ok((
            ctx.state.list_state(&StateDescriptor::new("values"))?,
            ctx.state.value_state(&StateDescriptor::new("timer"))?,
        ))
    }

    fn process_element(
        &mut self,
        (values, timer): &mut Self::State,
        e: Ev,
        ctx: &mut KeyedContext<'_, String, (String, i64, i64)>,
    ) -> ferroflink::Result<()> {
        if e.1 < 0 {
            ctx.output(&self.negative, e);
            return Ok(());
        }
        values.add(ctx.key(), e.1)?;
        if timer.get(ctx.key())?.is_none() {
            let at = ctx.timestamp().unwrap() + 10;
            timer.put(ctx.key(), at)?;
            ctx.register_event_time_timer(at)?;
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        (values, timer): &mut Self::State,
        ts: i64,
        ctx: &mut KeyedContext<'_, String, (String, i64, i64)>,
    ) -> ferroflink::Result<()> {
        let sum: i64 = values.get(ctx.key())?.iter().sum();
        ctx.collect((ctx.key().clone(), ts, sum));
        values.clear(ctx.key())?;
        timer.clear(ctx.key())
    }
}

#[test]
fn keyed_process_with_state_timers_and_side_output() {
    let items: Vec<Ev> = vec![
        ("a".into(), 1),
        ("b".into(), 2),
        ("a".into(), 5),
        ("a".into(), -7),
        ("b".into(), 11),
        ("c".into(), 20),
        ("a".into(), 30),
    ];
    for p in [1, 3] {
        let (env, s) = timed(items.clone());
        env.set_parallelism(p);
        let tag = OutputTag::new("negative");
        let sums = s.key_by(|e: &Ev| e.0.clone()).process(SumAfter10 { negative: tag.clone() });
        let negatives = sums.get_side_output(&tag).collect();
        let sums = sums.collect();
        env.execute("process").unwrap();
        let mut got = sums.take();
        got.sort();
        // Values are their own timestamps; the watermark trails the maximum by 1 ms. c@20 moves it to 19,
        // firing a's timer (11: 1 + 5) and b's (12: 2 + 11); a@30 starts a new one at 40, c's is at 30;
        // the end of input fires both.
        let expected: Vec<(String, i64, i64)> =
            vec![("a".into(), 11, 6), ("a".into(), 40, 30), ("b".into(), 12, 13), ("c".into(), 30, 20)];
        assert_eq!(got, expected, "p={p}");
        assert_eq!(negatives.take(), vec![("a".to_string(), -7)]);
    }
}

#[derive(Clone)]
struct Tagger;

impl CoProcessFunction<u64, String, String> for Tagger {
    fn process_element1(&mut self, v: u64, ctx: &mut CoProcessContext<'_, String>) {
        ctx.collect(format!("n{v}"));
    }
    fn process_element2(&mut self, v: String, ctx: &mut CoProcessContext<'_, String>) {
        ctx.collect(format!("s{v}"));
    }
}

#[test]
fn union_connect_and_rolling_reduce_and_aggregate() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let a = env.from_collection(vec![1u64, 2, 3]);
    let b = env.from_collection(vec![10u64, 20]);
    let union = a.union(&[b]).collect();
    let words = env.from_collection(vec!["x".to_string(), "y".to_string()]);
    let connected = env.from_collection(vec![7u64]).connect(&words).process(Tagger).collect();
    let keyed = env
        .from_collection(vec![("k".to_string(), 1u64), ("k".into(), 4), ("j".into(), 2)])
        .key_by(|e: &(String, u64)| e.0.clone());
    let rolling = keyed.reduce(|x, y| (x.0, x.1 + y.1)).collect();
    let counts = keyed.aggregate(Count).collect();
    env.execute("combinators").unwrap();
    let mut u = union.take();
    u.sort();
    assert_eq!(u, vec![1, 2, 3, 10, 20]);
    let mut c = connected.take();
    c.sort();
    assert_eq!(c, vec!["n7", "sx", "sy"]);
    let mut r = rolling.take();
    r.sort();
    assert_eq!(r, vec![("j".to_string(), 2), ("k".into(), 1), ("k".into(), 5)]);
    let mut n = counts.take();
    n.sort();
    assert_eq!(n, vec![1, 1, 2]);
}

#[test]
fn processing_time_windows_use_the_clock_and_flush_at_end_of_input() {
    let clock = ManualClock::new(1_000_000);
    let env = StreamExecutionEnvironment::new();
    env.set_clock(Arc::new(clock.clone()));
    let out = env
        .from_collection((0..100u64).collect())
        .key_by(|v: &u64| v % 3)
        .window(TumblingProcessingTimeWindows::of(Duration::from_secs(5)))
        .aggregate_with(Count, |k: &u64, w: &TimeWindow, n| (*k, w.start, n))
        .collect();
    env.execute("processing time").unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, vec![(0, 1_000_000, 34), (1, 1_000_000, 33), (2, 1_000_000, 33)]);
}

#[derive(Clone)]
struct SeenRecently {
    clock: ManualClock,
}

impl KeyedProcessFunction<u64, u64, (u64, bool)> for SeenRecently {
    type State = ValueState<u64, ()>;
    fn open(&mut self, ctx: &mut RuntimeContext) -> ferroflink::Result<Self::State> {
        ctx.state.value_state(&StateDescriptor::new("seen").with_ttl(StateTtlConfig::new(Duration::from_millis(100))))
    }
    fn process_element(
        &mut self,
        seen: &mut Self::State,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, bool)>,
    ) -> ferroflink::Result<()> {
        ctx.collect((v, seen.get(ctx.key())?.is_some()));
        seen.put(ctx.key(), ())?;
        // Each element moves processing time on by 60 ms.
        self.clock.advance(60);
        Ok(())
    }
}

#[test]
fn state_ttl_expires_values_in_a_running_job() {
    let clock = ManualClock::new(0);
    let env = StreamExecutionEnvironment::new();
    env.set_clock(Arc::new(clock.clone())).set_batch_size(1);
    // Key 1 at t=0, 60 (seen), then key 2 twice (t=120, 180), then key 1 at t=240: expired (last write 60).
    let out =
        env.from_collection(vec![1u64, 1, 2, 2, 1]).key_by(|v: &u64| *v).process(SeenRecently { clock }).collect();
    env.execute("ttl").unwrap();
    assert_eq!(out.take(), vec![(1, false), (1, true), (2, false), (2, true), (1, false)]);
}

#[test]
fn a_failing_operator_fails_the_job_with_its_name() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    env.from_source(
        ferroflink::connectors::generator::GeneratorSource::new(None, |i| i),
        WatermarkStrategy::no_watermarks(),
        "endless",
    )
    .rebalance()
    .map(|v: u64| if v == 5_000 { panic!("bad record {v}") } else { v })
    .name("Picky")
    .sink_to(ferroflink::connectors::discard::DiscardSink);
    let e = env.execute("failing").expect_err("the job fails").to_string();
    assert!(e.contains("Picky") && e.contains("bad record 5000"), "{e}");
}

#[test]
fn event_time_windows_without_timestamps_say_what_to_do() {
    let env = StreamExecutionEnvironment::new();
    env.from_collection(vec![1u64, 2])
        .key_by(|v: &u64| *v)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .reduce(|a, b| a + b)
        .print();
    let e = env.execute("no timestamps").err().unwrap().to_string();
    assert!(e.contains("WatermarkStrategy"), "{e}");
}

/// A record type whose codec does not round-trip: it encodes, but never decodes.
#[derive(Clone, Debug, serde::Serialize)]
struct OneWay(u64);

impl<'de> serde::Deserialize<'de> for OneWay {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<OneWay, D::Error> {
        Err(serde::de::Error::custom("OneWay cannot be read back"))
    }
}

#[test]
fn serialize_every_edge_finds_a_record_type_that_does_not_round_trip() {
    let run = |serialize: bool| {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(2).set_serialize_edges(serialize);
        let out = env.from_collection(vec![OneWay(1), OneWay(2), OneWay(3)]).rebalance().map(|o: OneWay| o.0).collect();
        env.execute("one way").map(|_| {
            let mut values = out.take();
            values.sort();
            values
        })
    };
    assert_eq!(run(false).unwrap(), vec![1, 2, 3], "in one process without the mode, nothing is encoded");
    let e = run(true).unwrap_err().to_string();
    assert!(e.contains("OneWay") && e.contains("do not decode from their own encoding"), "{e}");
}
