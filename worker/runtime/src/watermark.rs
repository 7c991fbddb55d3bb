//! Watermark strategies: how a source or an assigner operator derives record timestamps and
//! watermarks. A bounded-out-of-orderness watermark is `max timestamp seen − bound − 1` (Flink's
//! formula), monotonous is the same with a zero bound; a per-record watermark (Flink SQL's
//! `WATERMARK FOR c AS expr`) is the largest value of a function of the records seen. Watermarks are emitted after every batch
//! (so a batch size of 1 emits after every record). With an idleness timeout, a source that has
//! produced nothing for that long is marked idle and stops holding back downstream watermarks.

use crate::operator::{Operator, Output};
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, NO_TIMESTAMP, Record, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Extracts an event timestamp from a value and its current timestamp.
pub type TimestampAssigner<T> = Arc<dyn Fn(&T, Timestamp) -> Timestamp + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    None,
    BoundedOutOfOrderness(i64),
    PerRecord,
}

/// A record's watermark candidate (`None`: it gives none).
pub type RecordWatermark<T> = Arc<dyn Fn(&T) -> Option<Timestamp> + Send + Sync>;

/// How to get timestamps and watermarks for a stream.
pub struct WatermarkStrategy<T> {
    kind: Kind,
    assigner: Option<TimestampAssigner<T>>,
    idleness: Option<Duration>,
    per_record: Option<RecordWatermark<T>>,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        WatermarkStrategy {
            kind: self.kind,
            assigner: self.assigner.clone(),
            idleness: self.idleness,
            per_record: self.per_record.clone(),
        }
    }
}

impl<T: Data> WatermarkStrategy<T> {
    /// No watermarks (processing-time jobs).
    pub fn no_watermarks() -> Self {
        WatermarkStrategy { kind: Kind::None, assigner: None, idleness: None, per_record: None }
    }

    /// Timestamps never decrease: watermark = max timestamp − 1.
    pub fn for_monotonous_timestamps() -> Self {
        Self::for_bounded_out_of_orderness(Duration::ZERO)
    }

    /// Timestamps are at most `bound` out of order.
    pub fn for_bounded_out_of_orderness(bound: Duration) -> Self {
        WatermarkStrategy {
            kind: Kind::BoundedOutOfOrderness(bound.as_millis() as i64),
            assigner: None,
            idleness: None,
            per_record: None,
        }
    }

    /// The watermark is the largest `f(record)` seen (Flink SQL's `WATERMARK FOR c AS expr`,
    /// where `f` is the expression's value in epoch milliseconds).
    pub fn for_record_watermarks(f: impl Fn(&T) -> Option<Timestamp> + Send + Sync + 'static) -> Self {
        WatermarkStrategy { kind: Kind::PerRecord, assigner: None, idleness: None, per_record: Some(Arc::new(f)) }
    }

    /// Takes timestamps from the values (the closure gets the value and its current timestamp).
    pub fn with_timestamp_assigner(mut self, f: impl Fn(&T, Timestamp) -> Timestamp + Send + Sync + 'static) -> Self {
        self.assigner = Some(Arc::new(f));
        self
    }

    /// Marks the stream idle after `timeout` without records.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }

    /// Whether this strategy produces watermarks at all.
    pub fn has_watermarks(&self) -> bool {
        self.kind != Kind::None
    }

    pub(crate) fn generator(&self) -> WatermarkGenerator<T> {
        WatermarkGenerator {
            strategy: self.clone(),
            max_timestamp: i64::MIN,
            max_candidate: i64::MIN,
            emitted: NO_TIMESTAMP,
            last_record_at: None,
            idle: false,
        }
    }
}

/// Per-instance state of a [`WatermarkStrategy`].
pub(crate) struct WatermarkGenerator<T> {
    strategy: WatermarkStrategy<T>,
    max_timestamp: Timestamp,
    /// The largest per-record watermark seen.
    max_candidate: Timestamp,
    emitted: Timestamp,
    last_record_at: Option<i64>,
    idle: bool,
}

/// What the generator wants emitted after a batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct WatermarkUpdate {
    /// Idle status change to emit first.
    pub idle: Option<bool>,
    /// New watermark.
    pub watermark: Option<Timestamp>,
}

impl<T: Data> WatermarkGenerator<T> {
    /// Assigns timestamps to a batch and observes them. `now` is processing time.
    pub fn on_batch(&mut self, batch: &mut [Record<T>], now: i64) -> WatermarkUpdate {
        let mut update = WatermarkUpdate::default();
        if batch.is_empty() {
            return update;
        }
        if let Some(assign) = &self.strategy.assigner {
            for r in batch.iter_mut() {
                r.timestamp = assign(&r.value, r.timestamp);
            }
        }
        for r in batch.iter() {
            if r.timestamp != NO_TIMESTAMP && r.timestamp > self.max_timestamp {
                self.max_timestamp = r.timestamp;
            }
        }
        if let Some(f) = &self.strategy.per_record {
            for r in batch.iter() {
                if let Some(w) = f(&r.value) {
                    self.max_candidate = self.max_candidate.max(w);
                }
            }
        }
        self.last_record_at = Some(now);
        if self.idle {
            self.idle = false;
            update.idle = Some(false);
        }
        update.watermark = self.current();
        update
    }

    /// Called when no records came: may declare the stream idle.
    pub fn on_no_records(&mut self, now: i64) -> Option<bool> {
        let timeout = self.strategy.idleness?;
        let since = *self.last_record_at.get_or_insert(now);
        if !self.idle && now - since >= timeout.as_millis() as i64 {
            self.idle = true;
            return Some(true);
        }
        None
    }

    /// The watermark the records seen so far allow (`None`: none yet, or no watermarks).
    fn watermark(&self) -> Option<Timestamp> {
        match self.strategy.kind {
            Kind::None => None,
            Kind::BoundedOutOfOrderness(bound) => {
                (self.max_timestamp != i64::MIN).then(|| self.max_timestamp.saturating_sub(bound).saturating_sub(1))
            }
            Kind::PerRecord => (self.max_candidate != i64::MIN).then_some(self.max_candidate),
        }
    }

    fn current(&mut self) -> Option<Timestamp> {
        let wm = self.watermark()?;
        (wm > self.emitted).then(|| {
            self.emitted = wm;
            wm
        })
    }
}

/// Watermarks per split (Flink's per-split watermark alignment of FLIP-27 readers): each split a
/// reader holds has its own generator, and the reader's watermark is the smallest of its active
/// splits' (an idle split does not hold it back; all idle makes the reader idle). A split that has
/// produced nothing yet holds it back (it may hold old events); a finished split stops counting.
/// So the watermark does not depend on how splits were spread over readers or interleaved. A
/// reader without splits (waiting for new ones) goes idle after the idleness timeout too.
pub(crate) struct SplitWatermarks<T> {
    strategy: WatermarkStrategy<T>,
    splits: BTreeMap<String, WatermarkGenerator<T>>,
    emitted: Timestamp,
    idle: bool,
    /// Since when the reader has had no split.
    empty_since: Option<i64>,
}

impl<T: Data> SplitWatermarks<T> {
    pub fn new(strategy: &WatermarkStrategy<T>) -> Self {
        SplitWatermarks {
            strategy: strategy.clone(),
            splits: BTreeMap::new(),
            emitted: NO_TIMESTAMP,
            idle: false,
            empty_since: None,
        }
    }

    /// The reader took split `id` (at `now`: its idleness counts from then).
    pub fn add_split(&mut self, id: String, now: i64) {
        let mut generator = self.strategy.generator();
        generator.last_record_at = Some(now);
        self.splits.entry(id).or_insert(generator);
        self.empty_since = None;
    }

    /// Split `id` was read to its end.
    pub fn finish_split(&mut self, id: &str) -> WatermarkUpdate {
        self.splits.remove(id);
        self.update()
    }

    /// Assigns timestamps to a batch of split `id` and observes them.
    pub fn on_batch(&mut self, id: &str, batch: &mut [Record<T>], now: i64) -> WatermarkUpdate {
        match self.splits.get_mut(id) {
            Some(g) => {
                g.on_batch(batch, now);
            }
            None => {
                // A reader that does not say which split its records came from: one generator.
                let mut g = self.strategy.generator();
                g.on_batch(batch, now);
                self.splits.insert(id.to_string(), g);
            }
        }
        self.update()
    }

    /// No records came: splits, or a reader without any, may become idle.
    pub fn on_no_records(&mut self, now: i64) -> WatermarkUpdate {
        if self.splits.is_empty() {
            let since = *self.empty_since.get_or_insert(now);
            let timeout = self.strategy.idleness.map(|d| d.as_millis() as i64);
            if !self.idle && timeout.is_some_and(|t| now - since >= t) {
                self.idle = true;
                return WatermarkUpdate { idle: Some(true), watermark: None };
            }
            return WatermarkUpdate::default();
        }
        for g in self.splits.values_mut() {
            g.on_no_records(now);
        }
        self.update()
    }

    /// The reader's watermark and idleness after a change.
    fn update(&mut self) -> WatermarkUpdate {
        let mut update = WatermarkUpdate::default();
        let mut active = self.splits.values().filter(|g| !g.idle).peekable();
        let idle = !self.splits.is_empty() && active.peek().is_none();
        if idle != self.idle {
            self.idle = idle;
            update.idle = Some(idle);
        }
        // The least watermark of the active splits; none while one of them has none yet.
        let mut min = None;
        for g in active {
            match g.watermark() {
                Some(w) => min = Some(min.map_or(w, |m: Timestamp| m.min(w))),
                None => return update,
            }
        }
        if let Some(wm) = min
            && wm > self.emitted
        {
            self.emitted = wm;
            update.watermark = Some(wm);
        }
        update
    }
}

/// `DataStream::assign_timestamps_and_watermarks`: assigns timestamps and generates watermarks
/// inside the stream, replacing upstream watermarks (except the final one at end of input).
pub struct TimestampsAndWatermarksOperator<T> {
    generator: WatermarkGenerator<T>,
    clock: Option<Arc<dyn ferroflink_core::clock::Clock>>,
}

impl<T: Data> TimestampsAndWatermarksOperator<T> {
    /// An operator for `strategy`.
    pub fn new(strategy: &WatermarkStrategy<T>) -> Self {
        TimestampsAndWatermarksOperator { generator: strategy.generator(), clock: None }
    }
}

impl<T: Data> Operator for TimestampsAndWatermarksOperator<T> {
    type In = T;
    type Out = T;

    fn open(&mut self, ctx: &mut crate::context::RuntimeContext) -> Result<()> {
        self.clock = Some(ctx.clock.clone());
        Ok(())
    }

    fn process_batch(&mut self, mut batch: Vec<Record<T>>, out: &mut Output<T>) -> Result<()> {
        let now = self.clock.as_ref().map_or(0, |c| c.now());
        let update = self.generator.on_batch(&mut batch, now);
        for r in batch {
            out.push(r);
        }
        if let Some(wm) = update.watermark {
            out.emit_watermark(wm);
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<T>) -> Result<()> {
        if watermark == ferroflink_core::record::MAX_WATERMARK {
            out.emit_watermark(watermark);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_out_of_orderness_follows_flinks_formula() {
        let s = WatermarkStrategy::<i64>::for_bounded_out_of_orderness(Duration::from_millis(2000))
            .with_timestamp_assigner(|v, _| *v);
        let mut g = s.generator();
        let mut batch = vec![Record::untimed(5000i64), Record::untimed(4000)];
        let u = g.on_batch(&mut batch, 0);
        assert_eq!(batch[1].timestamp, 4000);
        assert_eq!(u.watermark, Some(2999));
        // A smaller maximum does not move it back or re-emit it.
        assert_eq!(g.on_batch(&mut [Record::untimed(4500i64)], 0).watermark, None);
        assert_eq!(g.on_batch(&mut [Record::untimed(6000i64)], 0).watermark, Some(3999));
    }

    #[test]
    fn idleness_after_timeout_and_back() {
        let s = WatermarkStrategy::<i64>::for_monotonous_timestamps()
            .with_timestamp_assigner(|v, _| *v)
            .with_idleness(Duration::from_millis(100));
        let mut g = s.generator();
        assert_eq!(g.on_batch(&mut [Record::untimed(10i64)], 1000).watermark, Some(9));
        assert_eq!(g.on_no_records(1050), None);
        assert_eq!(g.on_no_records(1100), Some(true));
        assert_eq!(g.on_no_records(1200), None);
        let u = g.on_batch(&mut [Record::untimed(20i64)], 1300);
        assert_eq!(u, WatermarkUpdate { idle: Some(false), watermark: Some(19) });
    }

    #[test]
    fn a_readers_watermark_is_the_least_of_its_active_splits() {
        let s = WatermarkStrategy::<i64>::for_monotonous_timestamps()
            .with_timestamp_assigner(|v, _| *v)
            .with_idleness(Duration::from_millis(100));
        let mut w = SplitWatermarks::new(&s);
        w.add_split("a".into(), 0);
        w.add_split("b".into(), 0);
        // b has produced nothing: it holds the watermark back.
        assert_eq!(w.on_batch("a", &mut [Record::untimed(1000i64)], 10).watermark, None);
        assert_eq!(w.on_batch("b", &mut [Record::untimed(300i64)], 20).watermark, Some(299));
        assert_eq!(w.on_batch("a", &mut [Record::untimed(2000i64)], 30).watermark, None);
        // b finishing releases it; a newly added split c holds it again.
        assert_eq!(w.finish_split("b").watermark, Some(1999));
        w.add_split("c".into(), 40);
        assert_eq!(w.on_batch("a", &mut [Record::untimed(3000i64)], 50).watermark, None);
        // c idle: a alone counts; all idle: the reader is idle.
        assert_eq!(w.on_no_records(145).watermark, Some(2999));
        assert_eq!(w.on_no_records(200).idle, Some(true));
        let back = w.on_batch("c", &mut [Record::untimed(2500i64)], 210);
        assert_eq!(back, WatermarkUpdate { idle: Some(false), watermark: None });
        // Without splits (waiting for new ones), the reader goes idle after the timeout as well.
        w.finish_split("a");
        w.finish_split("c");
        assert_eq!(w.on_no_records(300), WatermarkUpdate::default());
        assert_eq!(w.on_no_records(400).idle, Some(true));
        w.add_split("d".into(), 410);
        assert_eq!(w.on_batch("d", &mut [Record::untimed(5000i64)], 420).idle, Some(false));
    }
}
