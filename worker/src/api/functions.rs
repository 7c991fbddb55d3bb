//! User-function traits of the DataStream API and the contexts they see.

use crate::error::Result;
use crate::record::{Data, NO_TIMESTAMP, Record, Timestamp};
use crate::runtime::context::RuntimeContext;
use crate::runtime::operator::{Output, OutputTag};
use crate::time::timers::Timers;
use crate::window::assigner::TimeWindow;

/// Which clock fired a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeDomain {
    /// The watermark passed it.
    EventTime,
    /// The wall clock passed it.
    ProcessingTime,
}

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

impl<K: Clone + std::hash::Hash + Eq, O: Data> KeyedContext<'_, K, O> {
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
    pub fn register_event_time_timer(&mut self, time: Timestamp) {
        self.timers.register_event_time_timer(self.key, &(), time);
    }
    /// Calls `on_timer` for this key when processing time reaches `time`.
    pub fn register_processing_time_timer(&mut self, time: Timestamp) {
        self.timers.register_processing_time_timer(self.key, &(), time);
    }
    /// Deletes an event-time timer of this key.
    pub fn delete_event_time_timer(&mut self, time: Timestamp) {
        self.timers.delete_event_time_timer(self.key, &(), time);
    }
    /// Deletes a processing-time timer of this key.
    pub fn delete_processing_time_timer(&mut self, time: Timestamp) {
        self.timers.delete_processing_time_timer(self.key, &(), time);
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

/// A function over each element of a keyed stream, with keyed state and keyed timers (Flink's
/// `KeyedProcessFunction`). The function itself is the job's configuration, cloned into every
/// subtask; the state handles it declares in `open` are that subtask's [`Self::State`], handed
/// back on every call.
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + Sync + 'static {
    /// Per-subtask state handles (`()` for none).
    type State;
    /// Called once per subtask before any element; declares state.
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State>;
    /// Processes one element.
    fn process_element(&mut self, state: &mut Self::State, value: I, ctx: &mut KeyedContext<'_, K, O>);
    /// A timer of `ctx.key()` fired.
    fn on_timer(&mut self, _state: &mut Self::State, _timestamp: Timestamp, _ctx: &mut KeyedContext<'_, K, O>) {}
}

/// A function over all elements of a window at once (Flink's `ProcessWindowFunction`).
pub trait ProcessWindowFunction<K, T, O>: Clone + Send + Sync + 'static {
    /// Emits results for `key`'s `window` into `out`.
    fn process(&self, key: &K, window: &TimeWindow, elements: &[T], out: &mut Vec<O>);
}
