//! The session-window operator (merging windows).
//!
//! Each element opens a window `[ts, ts + gap)`; windows of a key that overlap or touch merge into
//! one, merging their accumulators. A key's live sessions are one state value (a short sorted list).
//! Timers follow the merged windows: the old windows' fire and cleanup timers are deleted, the
//! merged window's registered. A session keeps its state until the watermark passes its end plus
//! the allowed lateness, so late elements can still extend (and re-fire) sessions that fired.

use crate::window::assigner::{TimeWindow, WindowAssigner, WindowTime};
use crate::window::body::WindowBody;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Key, NO_TIMESTAMP, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::keyed::{Fired, KeyedTime, OnTimer};
use ferroflink_runtime::operator::{Operator, Output, OutputTag};
use ferroflink_state::timers::Timers;
use ferroflink_state::{StateDescriptor, ValueState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One live session of a key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session<A> {
    /// Its window.
    pub window: TimeWindow,
    /// Its accumulator.
    pub acc: A,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
enum SessionTimer {
    Fire(TimeWindow),
    Cleanup(TimeWindow),
}

/// Session windows over a keyed stream.
pub struct SessionWindowOperator<K, T, B: WindowBody<K, T>> {
    time: KeyedTime<K, SessionTimer>,
    sessions: Sessions<K, T, B>,
}

/// The sessions of a [`SessionWindowOperator`]: everything but its time.
struct Sessions<K, T, B: WindowBody<K, T>> {
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    body: B,
    gap: i64,
    time: WindowTime,
    lateness: i64,
    late_tag: Option<OutputTag<T>>,
    sessions: Option<ValueState<K, Vec<Session<B::Acc>>>>,
    results: Vec<B::Out>,
}

impl<K: Key, T: Data, B: WindowBody<K, T>> SessionWindowOperator<K, T, B> {
    /// An operator for a session `assigner`.
    pub fn new(
        key: Arc<dyn Fn(&T) -> K + Send + Sync>,
        body: B,
        assigner: &WindowAssigner,
        lateness: i64,
        late_tag: Option<OutputTag<T>>,
    ) -> Self {
        let WindowAssigner::Session { gap, time } = *assigner else {
            panic!("SessionWindowOperator needs a session assigner");
        };
        let sessions = Sessions {
            key,
            body,
            gap,
            time,
            lateness: if time == WindowTime::EventTime { lateness } else { 0 },
            late_tag,
            sessions: None,
            results: Vec::new(),
        };
        SessionWindowOperator { time: KeyedTime::new(), sessions }
    }
}

impl<K: Key, T: Data, B: WindowBody<K, T>> Sessions<K, T, B> {
    fn is_late(&self, w: &TimeWindow, watermark: Timestamp) -> bool {
        self.time == WindowTime::EventTime && w.max_timestamp().saturating_add(self.lateness) <= watermark
    }

    fn set_timer(
        &self,
        timers: &Timers<K, SessionTimer>,
        key: &K,
        timer: SessionTimer,
        at: Timestamp,
        register: bool,
    ) -> Result<()> {
        match (self.time, register) {
            (WindowTime::EventTime, true) => timers.register_event_time_timer(key, &timer, at),
            (WindowTime::EventTime, false) => timers.delete_event_time_timer(key, &timer, at),
            (WindowTime::ProcessingTime, true) => timers.register_processing_time_timer(key, &timer, at),
            (WindowTime::ProcessingTime, false) => timers.delete_processing_time_timer(key, &timer, at),
        }
    }

    fn emit(&mut self, key: &K, session: &Session<B::Acc>, out: &mut Output<B::Out>) {
        self.body.emit(key, &session.window, &session.acc, &mut self.results);
        for o in self.results.drain(..) {
            out.collect(o, session.window.max_timestamp());
        }
    }

    fn add(
        &mut self,
        time: &KeyedTime<K, SessionTimer>,
        ts: Timestamp,
        record: Record<T>,
        out: &mut Output<B::Out>,
    ) -> Result<()> {
        let (timers, watermark) = (time.timers(), time.watermark());
        let key = (self.key)(&record.value);
        let state = self.sessions.as_ref().expect("opened");
        let mut sessions = state.get(&key)?.unwrap_or_default();
        let mut window = TimeWindow::new(ts, ts.saturating_add(self.gap));
        let (merging, mut keep): (Vec<_>, Vec<_>) = sessions.drain(..).partition(|s| s.window.intersects(&window));
        for s in &merging {
            window = window.cover(&s.window);
        }
        if self.is_late(&window, watermark) {
            // Only a window that merges with nothing can be late: live sessions are never past cleanup.
            if let Some(tag) = &self.late_tag
                && ts.saturating_add(self.lateness) <= watermark
            {
                out.side(tag, record);
            }
            keep.extend(merging);
            keep.sort_by_key(|s| s.window.start);
            return state.put(&key, keep);
        }
        let mut acc = self.body.create();
        for s in merging {
            self.set_timer(timers, &key, SessionTimer::Fire(s.window), s.window.max_timestamp(), false)?;
            self.set_timer(timers, &key, SessionTimer::Cleanup(s.window), self.cleanup_time(&s.window), false)?;
            self.body.merge(&mut acc, s.acc);
        }
        self.body.add(&mut acc, record.value);
        let merged = Session { window, acc };
        let fire_now = self.time == WindowTime::EventTime && window.max_timestamp() <= watermark;
        if fire_now {
            self.emit(&key, &merged, out);
        } else {
            self.set_timer(timers, &key, SessionTimer::Fire(window), window.max_timestamp(), true)?;
        }
        self.set_timer(timers, &key, SessionTimer::Cleanup(window), self.cleanup_time(&window), true)?;
        let pos = keep.partition_point(|s| s.window.start < window.start);
        keep.insert(pos, merged);
        self.sessions.as_ref().expect("opened").put(&key, keep)
    }

    fn cleanup_time(&self, w: &TimeWindow) -> Timestamp {
        w.max_timestamp().saturating_add(self.lateness)
    }
}

impl<K: Key, T: Data, B: WindowBody<K, T>> OnTimer<K, SessionTimer, B::Out> for Sessions<K, T, B> {
    fn on_timer(
        &mut self,
        _: &KeyedTime<K, SessionTimer>,
        fired: Fired<K, SessionTimer>,
        out: &mut Output<B::Out>,
    ) -> Result<()> {
        let key = fired.key;
        let state = self.sessions.as_ref().expect("opened");
        let Some(mut sessions) = state.get(&key)? else { return Ok(()) };
        match fired.namespace {
            SessionTimer::Fire(w) => {
                if let Some(s) = sessions.iter().find(|s| s.window == w).cloned() {
                    self.emit(&key, &s, out);
                }
            }
            SessionTimer::Cleanup(w) => {
                sessions.retain(|s| s.window != w);
                if sessions.is_empty() {
                    state.clear(&key)?;
                } else {
                    state.put(&key, sessions)?;
                }
            }
        }
        Ok(())
    }
}

impl<K: Key, T: Data, B: WindowBody<K, T>> Operator for SessionWindowOperator<K, T, B> {
    type In = T;
    type Out = B::Out;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.sessions.sessions = Some(ctx.state.value_state(&StateDescriptor::new("sessions"))?);
        self.time.open(ctx, "session-timers")
    }

    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<B::Out>) -> Result<()> {
        let now = self.time.now();
        for r in batch {
            let ts = match self.sessions.time {
                WindowTime::EventTime if r.timestamp == NO_TIMESTAMP => {
                    return Err(Error::InvalidJob(
                        "a session window got a record without timestamp: give the source a WatermarkStrategy \
                         with a timestamp assigner"
                            .into(),
                    ));
                }
                WindowTime::EventTime => r.timestamp,
                WindowTime::ProcessingTime => now,
            };
            self.sessions.add(&self.time, ts, r, out)?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<B::Out>) -> Result<()> {
        self.time.advance_watermark(watermark, out, &mut self.sessions)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.time.next_processing_time()
    }

    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<B::Out>) -> Result<()> {
        self.time.advance_processing_time(now, out, &mut self.sessions)
    }

    fn finish(&mut self, out: &mut Output<B::Out>) -> Result<()> {
        // Bounded input ended: processing-time sessions fire now, like Flink's end-of-input flush.
        if self.sessions.time == WindowTime::ProcessingTime {
            self.time.advance_processing_time(i64::MAX, out, &mut self.sessions)?;
        }
        Ok(())
    }
}
