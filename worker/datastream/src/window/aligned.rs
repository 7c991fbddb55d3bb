//! The aligned-window operator: tumbling, sliding, cumulative and global windows.
//!
//! Time is cut into panes of `gcd(size, slide)`; each element is added to the accumulator of its one
//! pane, whatever the ratio `size / slide`, and a window's result is the merge of its panes when it
//! fires. Per-element cost therefore does not grow with the number of overlapping windows (Flink's
//! slicing). A pane is dropped when the last window containing it fires (without allowed lateness)
//! or is cleaned up (with it). A pane's accumulator is changed in place, one state lookup per
//! element.

use crate::window::assigner::{TimeWindow, WindowAssigner, WindowTime, window_start};
use crate::window::body::WindowBody;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Key, NO_TIMESTAMP, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::keyed::{Fired, KeyedTime, OnTimer};
use ferroflink_runtime::operator::{Operator, Output, OutputTag};
use ferroflink_state::timers::Timers;
use ferroflink_state::{StateDescriptor, ValueState};
use std::sync::Arc;

/// What a window timer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum WindowTimer {
    /// Fire the window of this id ([`Geometry::id`]).
    Fire(i64),
    /// Drop the pane starting here (registered only with allowed lateness; savepoints of jobs
    /// without it taken before 2026-12 hold these too).
    Cleanup(i64),
}

/// How windows lie over the panes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Windows of `size` starting every `slide` (tumbling when they are equal).
    Sliding,
    /// Windows starting every `size` and ending every pane up to `size` after it.
    Cumulative,
    /// One window over all time.
    Global,
}

/// Window geometry in panes.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    shape: Shape,
    size: i64,
    /// Distance between window starts.
    slide: i64,
    offset: i64,
    pane: i64,
}

impl WindowAssigner {
    /// The windows that hold an element at `timestamp`, oldest first: of tumbling, sliding and
    /// cumulative windows (`None` for session windows and the global window, which an element's
    /// time alone does not place).
    pub fn windows_containing(&self, timestamp: Timestamp) -> Option<Vec<TimeWindow>> {
        let g = Geometry::of(self);
        // A pane's windows hold the whole pane, but for sliding windows shorter than their slide,
        // whose gaps hold panes too.
        let holds = |w: &TimeWindow| w.start <= timestamp && timestamp < w.end;
        (g.shape != Shape::Global).then(|| g.windows_of(g.pane_of(timestamp)).filter(holds).collect())
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Geometry {
    fn of(assigner: &WindowAssigner) -> Geometry {
        let (shape, size, slide, offset, pane) = match *assigner {
            WindowAssigner::Tumbling { size, offset, .. } => (Shape::Sliding, size, size, offset, size),
            WindowAssigner::Sliding { size, slide, offset, .. } => {
                (Shape::Sliding, size, slide, offset, gcd(size, slide))
            }
            WindowAssigner::Cumulative { size, step, offset, .. } => (Shape::Cumulative, size, size, offset, step),
            WindowAssigner::Global | WindowAssigner::Session { .. } => (Shape::Global, i64::MAX, i64::MAX, 0, i64::MAX),
        };
        Geometry { shape, size, slide, offset, pane }
    }

    fn pane_of(&self, ts: i64) -> i64 {
        if self.shape == Shape::Global { i64::MIN } else { window_start(ts, self.offset, self.pane) }
    }

    /// What identifies window `w` among the geometry's: its start, or its end for cumulative
    /// windows (which share starts).
    fn id(&self, w: &TimeWindow) -> i64 {
        if self.shape == Shape::Cumulative { w.end } else { w.start }
    }

    /// The window of id `id`.
    fn window(&self, id: i64) -> TimeWindow {
        match self.shape {
            Shape::Sliding => TimeWindow::new(id, id + self.size),
            Shape::Cumulative => TimeWindow::new(window_start(id - 1, self.offset, self.size), id),
            Shape::Global => TimeWindow::new(i64::MIN, i64::MAX),
        }
    }

    /// The newest window containing the pane (the largest, for cumulative windows).
    fn newest(&self, pane: i64) -> TimeWindow {
        match self.shape {
            Shape::Global => self.window(i64::MIN),
            _ => {
                let start = window_start(pane, self.offset, self.slide);
                TimeWindow::new(start, start + self.size)
            }
        }
    }

    /// The oldest window containing the pane (the smallest, for cumulative windows).
    fn oldest(&self, pane: i64) -> TimeWindow {
        match self.shape {
            Shape::Global => self.window(i64::MIN),
            Shape::Cumulative => TimeWindow::new(self.newest(pane).start, pane + self.pane),
            Shape::Sliding => {
                let last = window_start(pane, self.offset, self.slide);
                self.window(last - ((last - pane + self.size - 1) / self.slide) * self.slide)
            }
        }
    }

    /// All windows containing the pane, oldest first (for sliding windows shorter than their
    /// slide, a pane in a gap gets the window before the gap).
    fn windows_of(&self, pane: i64) -> impl Iterator<Item = TimeWindow> + '_ {
        let (oldest, newest) = (self.oldest(pane), self.newest(pane));
        let count = match self.shape {
            Shape::Global => 1,
            Shape::Sliding => (newest.start - oldest.start) / self.slide + 1,
            Shape::Cumulative => (newest.end - oldest.end) / self.pane + 1,
        };
        (0..count).map(move |i| match self.shape {
            Shape::Cumulative => TimeWindow::new(oldest.start, oldest.end + i * self.pane),
            _ => TimeWindow::new(oldest.start + i * self.slide, oldest.end + i * self.slide),
        })
    }

    /// The panes whose newest window is `w`: those of its first slide; all of a cumulative
    /// window's when it is the largest, none before.
    fn panes_last_in(&self, w: &TimeWindow) -> impl Iterator<Item = i64> + '_ {
        let (first, count) = match self.shape {
            Shape::Global => (i64::MIN, 1),
            Shape::Sliding => (w.start, self.slide / self.pane),
            Shape::Cumulative if w.end - w.start == self.size => (w.start, self.size / self.pane),
            Shape::Cumulative => (w.start, 0),
        };
        (0..count).map(move |i| first + i * self.pane)
    }

    fn single_pane(&self) -> bool {
        self.shape == Shape::Global || self.pane == self.size
    }
}

/// Aligned windows over a keyed stream.
pub struct AlignedWindowOperator<K, T, B: WindowBody<K, T>> {
    time: KeyedTime<K, WindowTimer>,
    windows: Panes<K, T, B>,
}

/// The panes and windows of an [`AlignedWindowOperator`]: everything but its time.
struct Panes<K, T, B: WindowBody<K, T>> {
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    body: B,
    geometry: Geometry,
    time: WindowTime,
    lateness: i64,
    late_tag: Option<OutputTag<T>>,
    panes: Option<ValueState<K, B::Acc, i64>>,
    /// The panes of the window being fired (reused).
    found: Vec<(i64, B::Acc)>,
    results: Vec<B::Out>,
}

impl<K: Key, T: Data, B: WindowBody<K, T>> AlignedWindowOperator<K, T, B> {
    /// An operator for a tumbling, sliding or global `assigner`.
    pub fn new(
        key: Arc<dyn Fn(&T) -> K + Send + Sync>,
        body: B,
        assigner: &WindowAssigner,
        lateness: i64,
        late_tag: Option<OutputTag<T>>,
    ) -> Self {
        let windows = Panes {
            key,
            body,
            geometry: Geometry::of(assigner),
            time: assigner.time(),
            lateness: if assigner.time() == WindowTime::EventTime { lateness } else { 0 },
            late_tag,
            panes: None,
            found: Vec::new(),
            results: Vec::new(),
        };
        AlignedWindowOperator { time: KeyedTime::new(), windows }
    }
}

impl<K: Key, T: Data, B: WindowBody<K, T>> Panes<K, T, B> {
    fn is_late(&self, w: &TimeWindow, watermark: Timestamp) -> bool {
        self.time == WindowTime::EventTime && w.max_timestamp().saturating_add(self.lateness) <= watermark
    }

    fn register(&self, timers: &Timers<K, WindowTimer>, key: &K, timer: WindowTimer, at: Timestamp) -> Result<()> {
        match self.time {
            WindowTime::EventTime => timers.register_event_time_timer(key, &timer, at),
            WindowTime::ProcessingTime => timers.register_processing_time_timer(key, &timer, at),
        }
    }

    fn fire(&mut self, key: &K, w: TimeWindow, out: &mut Output<B::Out>) -> Result<()> {
        let panes = self.panes.as_ref().expect("opened");
        let acc = if self.geometry.single_pane() {
            panes.get_in(key, &self.geometry.pane_of(w.start))?
        } else {
            // One visit of the key's panes; merged in time order, whatever order the backend keeps.
            let found = &mut self.found;
            panes.for_each_namespace(key, |p, a| {
                if (w.start..w.end).contains(p) {
                    found.push((*p, a.clone()));
                }
            })?;
            found.sort_unstable_by_key(|(p, _)| *p);
            let mut panes = found.drain(..).map(|(_, a)| a);
            let first = panes.next();
            first.map(|mut acc| {
                for a in panes {
                    self.body.merge(&mut acc, a);
                }
                acc
            })
        };
        if let Some(acc) = acc {
            self.body.emit(key, &w, &acc, &mut self.results);
            for o in self.results.drain(..) {
                out.collect(o, w.max_timestamp());
            }
        }
        Ok(())
    }

    /// Fires window `w` at its end; without lateness, also drops the panes whose newest window it
    /// is (they are late from now on), which saves each pane a cleanup timer.
    fn fire_on_time(&mut self, key: &K, w: TimeWindow, out: &mut Output<B::Out>) -> Result<()> {
        self.fire(key, w, out)?;
        if self.lateness > 0 {
            return Ok(());
        }
        let panes = self.panes.as_ref().expect("opened");
        for pane in self.geometry.panes_last_in(&w) {
            panes.clear_in(key, &pane)?;
        }
        Ok(())
    }

    /// Adds `record` (of time `ts`) to its pane; registers the timers of a new pane; fires again
    /// the windows that fired already and allow it late.
    fn add(
        &mut self,
        time: &KeyedTime<K, WindowTimer>,
        ts: Timestamp,
        r: Record<T>,
        out: &mut Output<B::Out>,
    ) -> Result<()> {
        let watermark = time.watermark();
        let pane = self.geometry.pane_of(ts);
        if self.is_late(&self.geometry.newest(pane), watermark) {
            if let Some(tag) = &self.late_tag {
                out.side(tag, r);
            }
            return Ok(());
        }
        let key = (self.key)(&r.value);
        let panes = self.panes.as_ref().expect("opened");
        let body = &self.body;
        let new = panes.modify_in(&key, &pane, || body.create(), |acc| body.add(acc, r.value))?;
        if new {
            for w in self.geometry.windows_of(pane) {
                if self.time == WindowTime::ProcessingTime
                    || (w.max_timestamp() > watermark && !self.is_late(&w, watermark))
                {
                    self.register(time.timers(), &key, WindowTimer::Fire(self.geometry.id(&w)), w.max_timestamp())?;
                }
            }
            // Without lateness the newest window's firing drops the pane (`fire_on_time`).
            if self.lateness > 0 {
                let cleanup = self.geometry.newest(pane).max_timestamp().saturating_add(self.lateness);
                self.register(time.timers(), &key, WindowTimer::Cleanup(pane), cleanup)?;
            }
        }
        if self.time == WindowTime::EventTime && self.geometry.oldest(pane).max_timestamp() <= watermark {
            // Late but allowed: windows that already fired fire again with the new element.
            let windows: Vec<TimeWindow> = self.geometry.windows_of(pane).collect();
            for w in windows {
                if w.max_timestamp() <= watermark && !self.is_late(&w, watermark) {
                    self.fire(&key, w, out)?;
                }
            }
        }
        Ok(())
    }
}

impl<K: Key, T: Data, B: WindowBody<K, T>> OnTimer<K, WindowTimer, B::Out> for Panes<K, T, B> {
    fn on_timer(
        &mut self,
        _: &KeyedTime<K, WindowTimer>,
        fired: Fired<K, WindowTimer>,
        out: &mut Output<B::Out>,
    ) -> Result<()> {
        match fired.namespace {
            WindowTimer::Fire(id) => {
                let w = self.geometry.window(id);
                self.fire_on_time(&fired.key, w, out)
            }
            WindowTimer::Cleanup(pane) => self.panes.as_ref().expect("opened").clear_in(&fired.key, &pane),
        }
    }
}

impl<K: Key, T: Data, B: WindowBody<K, T>> Operator for AlignedWindowOperator<K, T, B> {
    type In = T;
    type Out = B::Out;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.windows.panes = Some(ctx.state.value_state(&StateDescriptor::new("window-panes"))?);
        self.time.open(ctx, "window-timers")
    }

    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<B::Out>) -> Result<()> {
        let w = &mut self.windows;
        let now = match w.time {
            WindowTime::ProcessingTime => self.time.now(),
            WindowTime::EventTime => 0,
        };
        for r in batch {
            let ts = match w.time {
                WindowTime::EventTime if r.timestamp == NO_TIMESTAMP && w.geometry.shape != Shape::Global => {
                    return Err(Error::InvalidJob(
                        "an event-time window got a record without timestamp: give the source a WatermarkStrategy \
                         with a timestamp assigner, or call assign_timestamps_and_watermarks before key_by"
                            .into(),
                    ));
                }
                WindowTime::EventTime => r.timestamp,
                WindowTime::ProcessingTime => now,
            };
            w.add(&self.time, ts, r, out)?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<B::Out>) -> Result<()> {
        self.time.advance_watermark(watermark, out, &mut self.windows)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.time.next_processing_time()
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<B::Out>) -> Result<()> {
        self.time.advance_processing_time(now, out, &mut self.windows)
    }

    fn finish(&mut self, out: &mut Output<B::Out>) -> Result<()> {
        // Bounded input ended: processing-time windows fire now, like Flink's end-of-input flush.
        if self.windows.time == WindowTime::ProcessingTime {
            self.time.advance_processing_time(i64::MAX, out, &mut self.windows)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_and_windows_of_a_sliding_geometry() {
        let g = Geometry::of(&WindowAssigner::Sliding { size: 10, slide: 4, offset: 0, time: WindowTime::EventTime });
        assert_eq!(g.pane, 2);
        assert_eq!(g.pane_of(7), 6);
        let ws: Vec<_> = g.windows_of(6).map(|w| (w.start, w.end)).collect();
        assert_eq!(ws, vec![(0, 10), (4, 14)]);
        // Brute force: windows containing pane [6, 8) are those with start ≡ 0 mod 4 and start ≤ 6 < start + 10.
        for pane in (-20..40).step_by(2) {
            let expected: Vec<i64> = (-40..40).filter(|s| s % 4 == 0 && *s <= pane && pane < s + 10).collect();
            let got: Vec<i64> = g.windows_of(pane).map(|w| w.start).collect();
            assert_eq!(got, expected, "pane {pane}");
        }
    }

    #[test]
    fn panes_and_windows_of_a_cumulative_geometry() {
        let g = Geometry::of(&WindowAssigner::Cumulative { size: 10, step: 2, offset: 0, time: WindowTime::EventTime });
        // Brute force: pane p of [s, s + 10) is in the windows [s, e) with e ≡ 0 mod 2 and p < e ≤ s + 10.
        for pane in (-20..40).step_by(2) {
            let s = i64::div_euclid(pane, 10) * 10;
            let expected: Vec<(i64, i64)> = (pane + 1..=s + 10).filter(|e| e % 2 == 0).map(|e| (s, e)).collect();
            let got: Vec<(i64, i64)> = g.windows_of(pane).map(|w| (w.start, w.end)).collect();
            assert_eq!(got, expected, "pane {pane}");
            for w in g.windows_of(pane) {
                assert_eq!(g.window(g.id(&w)), w);
            }
            // A pane is dropped when its largest window fires, and only then.
            let largest = TimeWindow::new(s, s + 10);
            assert!(g.panes_last_in(&largest).any(|p| p == pane));
            assert_eq!(g.panes_last_in(&TimeWindow::new(s, s + 8)).count(), 0);
        }
    }

    #[test]
    fn windows_containing_a_time_are_those_whose_bounds_hold_it() {
        let time = WindowTime::EventTime;
        let assigners = [
            WindowAssigner::Tumbling { size: 10, offset: 3, time },
            WindowAssigner::Sliding { size: 10, slide: 4, offset: 0, time },
            WindowAssigner::Sliding { size: 6, slide: 9, offset: 1, time },
            WindowAssigner::Cumulative { size: 10, step: 5, offset: 0, time },
        ];
        for assigner in assigners {
            // Brute force: every window of the assigner's kind that starts near `t` and holds it.
            let all: Vec<TimeWindow> = match assigner {
                WindowAssigner::Tumbling { size, offset, .. } => {
                    (-50..50).filter(|s| (s - offset) % size == 0).map(|s| TimeWindow::new(s, s + size)).collect()
                }
                WindowAssigner::Sliding { size, slide, offset, .. } => {
                    (-50..50).filter(|s| (s - offset) % slide == 0).map(|s| TimeWindow::new(s, s + size)).collect()
                }
                WindowAssigner::Cumulative { size, step, .. } => (-50..50)
                    .filter(|s| s % size == 0)
                    .flat_map(|s| (1..=size / step).map(move |i| TimeWindow::new(s, s + i * step)))
                    .collect(),
                _ => unreachable!(),
            };
            for t in -20..20 {
                let mut expected: Vec<TimeWindow> = all.iter().filter(|w| w.start <= t && t < w.end).copied().collect();
                let mut got = assigner.windows_containing(t).unwrap();
                expected.sort_by_key(|w| (w.start, w.end));
                got.sort_by_key(|w| (w.start, w.end));
                assert_eq!(got, expected, "{assigner:?} at {t}");
            }
        }
        assert!(WindowAssigner::Session { gap: 5, time }.windows_containing(0).is_none());
    }
}
