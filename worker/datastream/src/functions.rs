//! User-function traits of the DataStream API and the contexts they see.

use crate::window::assigner::TimeWindow;
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Key, NO_TIMESTAMP, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
pub use ferroflink_runtime::keyed::TimeDomain;
use ferroflink_runtime::keyed::{Fired, KeyedTime, OnTimer};
use ferroflink_runtime::operator::{Output, OutputTag};
use ferroflink_state::timers::Timers;

/// What a [`ProcessFunction`] sees for one element.
pub struct ProcessContext<'a, O> {
    pub(crate) timestamp: Timestamp,
    pub(crate) watermark: Timestamp,
    pub(crate) out: &'a mut Output<O>,
}

impl<O: Data> ProcessContext<'_, O> {
    /// The element's timestamp, if it has one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }
    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
    /// Emits a value with the element's timestamp.
    pub fn collect(&mut self, value: O) {
        self.out.collect(value, self.timestamp);
    }
    /// Emits a value with a timestamp.
    pub fn collect_with_timestamp(&mut self, value: O, timestamp: Timestamp) {
        self.out.collect(value, timestamp);
    }
    /// Emits to a side output.
    pub fn output<U: Data>(&mut self, tag: &OutputTag<U>, value: U) {
        self.out.side(tag, Record::new(value, self.timestamp));
    }
}

/// A function over each element with access to side outputs (Flink's `ProcessFunction`).
pub trait ProcessFunction<I, O>: Clone + Send + Sync + 'static {
    /// Called once per subtask before any element.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> Result<()> {
        Ok(())
    }
    /// Processes one element.
    fn process_element(&mut self, value: I, ctx: &mut ProcessContext<'_, O>);
}

/// What a [`KeyedProcessFunction`] sees: the current key, time, timers, outputs.
pub struct KeyedContext<'a, K, O> {
    pub(crate) key: &'a K,
    pub(crate) timestamp: Timestamp,
    pub(crate) watermark: Timestamp,
    pub(crate) processing_time: Timestamp,
    pub(crate) timers: &'a Timers<K>,
    pub(crate) out: &'a mut Output<O>,
    pub(crate) domain: Option<TimeDomain>,
}

impl<'a, K: Key, O: Data> KeyedContext<'a, K, O> {
    /// The context of an element (`domain: None`) or a timer of `key` in an operator at `time`.
    pub(crate) fn new(
        time: &'a KeyedTime<K>,
        key: &'a K,
        timestamp: Timestamp,
        processing_time: Timestamp,
        out: &'a mut Output<O>,
        domain: Option<TimeDomain>,
    ) -> Self {
        KeyedContext {
            key,
            timestamp,
            watermark: time.watermark(),
            processing_time,
            timers: time.timers(),
            out,
            domain,
        }
    }

    /// The current key.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The element's timestamp (or the timer's time in `on_timer`).
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }
    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
    /// Current processing time.
    pub fn current_processing_time(&self) -> Timestamp {
        self.processing_time
    }
    /// In `on_timer`: which clock fired.
    pub fn time_domain(&self) -> Option<TimeDomain> {
        self.domain
    }
    /// Calls `on_timer` for this key when the watermark reaches `time`.
    pub fn register_event_time_timer(&mut self, time: Timestamp) -> Result<()> {
        self.timers.register_event_time_timer(self.key, &(), time)
    }
    /// Calls `on_timer` for this key when processing time reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) -> Result<()> {
        self.timers.register_processing_time_timer(self.key, &(), time)
    }
    /// Deletes an event-time timer of this key.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) -> Result<()> {
        self.timers.delete_event_time_timer(self.key, &(), time)
    }
    /// Deletes a processing-time timer of this key.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) -> Result<()> {
        self.timers.delete_processing_time_timer(self.key, &(), time)
    }
    /// Emits a value with the current timestamp.
    pub fn collect(&mut self, value: O) {
        self.out.collect(value, self.timestamp);
    }
    /// Emits a value with a timestamp.
    pub fn collect_with_timestamp(&mut self, value: O, timestamp: Timestamp) {
        self.out.collect(value, timestamp);
    }
    /// Emits to a side output.
    pub fn output<U: Data>(&mut self, tag: &OutputTag<U>, value: U) {
        self.out.side(tag, Record::new(value, self.timestamp));
    }
}

/// The timer target of a keyed (co-)process operator: each fired timer becomes an `on_timer` call
/// with the timer's [`KeyedContext`].
pub(crate) fn on_timer<K: Key, O: Data>(
    mut f: impl FnMut(Timestamp, &mut KeyedContext<'_, K, O>) -> Result<()>,
) -> impl OnTimer<K, (), O> {
    move |time: &KeyedTime<K>, fired: Fired<K, ()>, out: &mut Output<O>| {
        let mut ctx = KeyedContext::new(time, &fired.key, fired.time, time.now(), out, Some(fired.domain));
        f(fired.time, &mut ctx)
    }
}

/// A function over each element of a keyed stream, with keyed state and keyed timers (Flink's
/// `KeyedProcessFunction`). The function itself is the job's configuration, cloned into every
/// subtask; the state handles it declares in `open` are that subtask's [`Self::State`], handed
/// back on every call.
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + Sync + 'static {
    /// Per-subtask state handles (`()` for none).
    type State;
    /// Called once per subtask before any element; declares state.
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State>;
    /// Processes one element; an error (a failed state access) fails the task.
    fn process_element(&mut self, state: &mut Self::State, value: I, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
    /// A timer of `ctx.key()` fired.
    fn on_timer(
        &mut self,
        _state: &mut Self::State,
        _timestamp: Timestamp,
        _ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<()> {
        Ok(())
    }
}

/// A function over all elements of a window at once (Flink's `ProcessWindowFunction`).
pub trait ProcessWindowFunction<K, T, O>: Clone + Send + Sync + 'static {
    /// Emits results for `key`'s `window` into `out`.
    fn process(&self, key: &K, window: &TimeWindow, elements: &[T], out: &mut Vec<O>);
}
