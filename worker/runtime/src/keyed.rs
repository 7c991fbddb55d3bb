//! The base of every keyed operator (Flink's `InternalTimerService` with its `Triggerable`): the
//! operator's keyed timers (checkpointed with its keyed state), its event time (the last
//! watermark) and processing-time clock, and the one loop that fires due timers, in time order, as
//! the watermark or the clock advances.
//!
//! A keyed operator holds a [`KeyedTime`] beside the rest of its fields, which implement
//! [`OnTimer`]; its [`crate::operator::Operator`] (or two-input) implementation hands watermarks
//! and processing time to [`KeyedTime::advance_watermark`] and
//! [`KeyedTime::advance_processing_time`]. Timers carry a namespace `N` (a window, a pane, `()`
//! for none); registering one for a (key, namespace, time) that exists already does nothing.

use crate::context::RuntimeContext;
use crate::operator::Output;
use ferroflink_core::clock::Clock;
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Key, NO_TIMESTAMP, Timestamp};
use ferroflink_state::Namespace;
use ferroflink_state::timers::Timers;
use std::sync::Arc;

/// Which clock fired a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeDomain {
    /// The watermark passed it.
    EventTime,
    /// The wall clock passed it.
    ProcessingTime,
}

/// A timer that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired<K, N> {
    /// Its time.
    pub time: Timestamp,
    /// The key it was registered for.
    pub key: K,
    /// The namespace it was registered in.
    pub namespace: N,
    /// Which clock fired it.
    pub domain: TimeDomain,
}

/// What a keyed operator does when one of its timers fires.
pub trait OnTimer<K, N, O> {
    /// Called once per due timer, in time order; `time` is the operator's time (the watermark
    /// that fired an event-time timer is already current) and may register further timers.
    fn on_timer(&mut self, time: &KeyedTime<K, N>, fired: Fired<K, N>, out: &mut Output<O>) -> Result<()>;
}

impl<K, N, O, F> OnTimer<K, N, O> for F
where
    F: FnMut(&KeyedTime<K, N>, Fired<K, N>, &mut Output<O>) -> Result<()>,
{
    fn on_timer(&mut self, time: &KeyedTime<K, N>, fired: Fired<K, N>, out: &mut Output<O>) -> Result<()> {
        self(time, fired, out)
    }
}

/// The timers, event time and processing-time clock of a keyed operator.
pub struct KeyedTime<K, N = ()> {
    timers: Timers<K, N>,
    watermark: Timestamp,
    clock: Option<Arc<dyn Clock>>,
}

impl<K: Key, N: Namespace> Default for KeyedTime<K, N> {
    fn default() -> Self {
        KeyedTime { timers: Timers::default(), watermark: NO_TIMESTAMP, clock: None }
    }
}

impl<K: Key, N: Namespace> KeyedTime<K, N> {
    /// Before `open`: no timers, no watermark yet.
    pub fn new() -> Self {
        KeyedTime::default()
    }

    /// Opens the timer service `name` of the operator's keyed state (restored with it) and takes
    /// the task's clock. The name is part of the operator's snapshot: keep it stable.
    pub fn open(&mut self, ctx: &mut RuntimeContext, name: &str) -> Result<()> {
        self.timers = ctx.state.timer_service(name)?;
        self.clock = Some(ctx.clock.clone());
        Ok(())
    }

    /// The operator's timers, to register or delete one.
    pub fn timers(&self) -> &Timers<K, N> {
        &self.timers
    }

    /// The last watermark ([`NO_TIMESTAMP`] before the first).
    pub fn watermark(&self) -> Timestamp {
        self.watermark
    }

    /// The processing time now (0 before `open`).
    pub fn now(&self) -> Timestamp {
        self.clock.as_ref().map_or(0, |c| c.now())
    }

    /// Advances event time to `watermark`: fires every event-time timer at or before it, then
    /// forwards the watermark.
    pub fn advance_watermark<O: Data>(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<O>,
        target: &mut impl OnTimer<K, N, O>,
    ) -> Result<()> {
        self.watermark = watermark;
        while let Some((time, key, namespace)) = self.timers.pop_event_timer(watermark)? {
            target.on_timer(self, Fired { time, key, namespace, domain: TimeDomain::EventTime }, out)?;
        }
        out.emit_watermark(watermark);
        Ok(())
    }

    /// Fires every processing-time timer at or before `now` (at end of input, `i64::MAX` fires
    /// them all).
    pub fn advance_processing_time<O: Data>(
        &mut self,
        now: Timestamp,
        out: &mut Output<O>,
        target: &mut impl OnTimer<K, N, O>,
    ) -> Result<()> {
        while let Some((time, key, namespace)) = self.timers.pop_processing_timer(now)? {
            target.on_timer(self, Fired { time, key, namespace, domain: TimeDomain::ProcessingTime }, out)?;
        }
        Ok(())
    }

    /// When the next processing-time timer is due.
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.timers.next_processing_time()
    }
}
