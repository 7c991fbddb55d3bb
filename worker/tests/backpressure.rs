//! A slow sink slows the source down: records in flight between them stay bounded by the channel
//! capacity and batch size, and resident memory does not grow with the run's length.

use ferroflink::connectors::generator::GeneratorSource;
use ferroflink::prelude::*;
use ferroflink::runtime::context::RuntimeContext;
use ferroflink::runtime::sink::{Sink, SinkWriter};
use std::time::{Duration, Instant};

struct SlowSink;

impl Sink<Vec<u8>> for SlowSink {
    fn create_writer(&self, _ctx: &mut RuntimeContext) -> ferroflink::Result<Box<dyn SinkWriter<Vec<u8>>>> {
        Ok(Box::new(SlowSink))
    }
}

impl SinkWriter<Vec<u8>> for SlowSink {
    fn write(&mut self, batch: Vec<Record<Vec<u8>>>) -> ferroflink::Result<()> {
        std::thread::sleep(Duration::from_micros(50) * batch.len() as u32);
        Ok(())
    }
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn slow_sink_slows_the_source_and_memory_stays_bounded() {
    const BATCH: usize = 100;
    const CAPACITY: usize = 2;
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2).set_batch_size(BATCH).set_channel_capacity(CAPACITY);
    // Channels as they are in release builds: encoding 100 KiB batches (serialize-every-edge mode,
    // on in debug builds) would make the debug-built source CPU-bound instead of back-pressured.
    env.set_serialize_edges(false);
    // 1 KiB records from an unbounded, unthrottled source: without back-pressure the source
    // would produce hundreds of MiB per second.
    env.from_source(
        GeneratorSource::new(None, |i| vec![(i % 251) as u8; 1024]),
        WatermarkStrategy::no_watermarks(),
        "gen",
    )
    .rebalance()
    .sink_to(SlowSink)
    .name("Slow Sink");
    let (handle, _) = env.execute_async("back-pressure").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let rss_start = resident_kib();
    let started = Instant::now();
    let mut max_in_flight = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let (read, written) = handle.progress();
        max_in_flight = max_in_flight.max(read.saturating_sub(written));
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_end = resident_kib();
    let (read, written) = handle.progress();
    handle.cancel();
    let result = handle.wait().unwrap();
    assert!(result.cancelled);
    // 2 sources × 2 sinks channels of CAPACITY batches, plus the batches being filled and drained.
    let bound = (2 * 2 * CAPACITY + 2 * 2 + 2 * 2) * BATCH;
    assert!(max_in_flight as usize <= bound, "in flight {max_in_flight} > {bound}");
    // The sinks write at most ~2 × 20,000 records/s; the source could make millions.
    assert!(read < 120_000, "source was not slowed: read {read}, written {written}");
    let source = &result.vertices[0].subtasks;
    assert!(
        source.iter().all(|s| s.backpressured > Duration::from_millis(500)),
        "sources report back-pressure: {source:?}"
    );
    assert!(rss_end < rss_start + 20 * 1024, "resident memory grew from {rss_start} KiB to {rss_end} KiB");
}
