//! The operators behind the API's one-element transformations and keyed process functions.

use crate::api::functions::{KeyedContext, KeyedProcessFunction, ProcessContext, ProcessFunction, TimeDomain};
use crate::error::Result;
use crate::functions::AggregateFunction;
use crate::record::{Data, Key, NO_TIMESTAMP, Record, Timestamp};
use crate::runtime::context::RuntimeContext;
use crate::runtime::operator::{Operator, Output};
use crate::state::{StateDescriptor, ValueState};
use crate::time::clock::Clock;
use crate::time::timers::Timers;
use std::marker::PhantomData;
use std::sync::Arc;

/// Extracts a key.
pub(crate) type KeySelector<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

pub(crate) struct MapOp<T, U, F> {
    pub f: F,
    pub _t: PhantomData<fn(T) -> U>,
}

impl<T: Data, U: Data, F: Fn(T) -> U + 'static> Operator for MapOp<T, U, F> {
    type In = T;
    type Out = U;
    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<U>) -> Result<()> {
        for r in batch {
            out.collect((self.f)(r.value), r.timestamp);
        }
        Ok(())
    }
}

pub(crate) struct FlatMapOp<T, U, I, F> {
    pub f: F,
    pub _t: PhantomData<fn(T) -> (U, I)>,
}

impl<T: Data, U: Data, I: IntoIterator<Item = U> + 'static, F: Fn(T) -> I + 'static> Operator
    for FlatMapOp<T, U, I, F>
{
    type In = T;
    type Out = U;
    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<U>) -> Result<()> {
        for r in batch {
            let ts = r.timestamp;
            for u in (self.f)(r.value) {
                out.collect(u, ts);
            }
        }
        Ok(())
    }
}

pub(crate) struct FilterOp<T, F> {
    pub f: F,
    pub _t: PhantomData<fn(T)>,
}

impl<T: Data, F: Fn(&T) -> bool + 'static> Operator for FilterOp<T, F> {
    type In = T;
    type Out = T;
    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<T>) -> Result<()> {
        for r in batch {
            if (self.f)(&r.value) {
                out.push(r);
            }
        }
        Ok(())
    }
}

pub(crate) struct ProcessOp<I, O, P> {
    pub f: P,
    pub watermark: Timestamp,
    pub _t: PhantomData<fn(I) -> O>,
}

impl<I: Data, O: Data, P: ProcessFunction<I, O>> Operator for ProcessOp<I, O, P> {
    type In = I;
    type Out = O;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.f.open(ctx)
    }
    fn process_batch(&mut self, batch: Vec<Record<I>>, out: &mut Output<O>) -> Result<()> {
        for r in batch {
            let mut ctx = ProcessContext { timestamp: r.timestamp, watermark: self.watermark, out };
            self.f.process_element(r.value, &mut ctx);
        }
        Ok(())
    }
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> Result<()> {
        self.watermark = watermark;
        out.emit_watermark(watermark);
        Ok(())
    }
}

/// The time side of a keyed operator: its timers, watermark and processing-time clock, and the
/// [`KeyedContext`] user functions see.
pub(crate) struct KeyedTime<K> {
    timers: Timers<K>,
    watermark: Timestamp,
    clock: Option<Arc<dyn Clock>>,
}

impl<K: Key> KeyedTime<K> {
    pub fn new() -> Self {
        KeyedTime { timers: Timers::default(), watermark: NO_TIMESTAMP, clock: None }
    }

    pub fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.clock = Some(ctx.clock.clone());
        self.timers = ctx.state.timer_service("timers")?;
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.as_ref().map_or(0, |c| c.now())
    }

    /// The context for an element (or timer) of `key`.
    pub fn context<'a, O>(
        &'a mut self,
        key: &'a K,
        timestamp: Timestamp,
        processing_time: Timestamp,
        out: &'a mut Output<O>,
        domain: Option<TimeDomain>,
    ) -> KeyedContext<'a, K, O> {
        KeyedContext { key, timestamp, watermark: self.watermark, processing_time, timers: &self.timers, out, domain }
    }

    /// Advances event time, calling `fire` for every timer that became due, in time order.
    pub fn advance_watermark<O: Data>(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<O>,
        mut fire: impl FnMut(Timestamp, &mut KeyedContext<'_, K, O>),
    ) {
        self.watermark = watermark;
        while let Some((time, key, ())) = self.timers.pop_event_timer(watermark) {
            let now = self.now();
            fire(time, &mut self.context(&key, time, now, out, Some(TimeDomain::EventTime)));
        }
        out.emit_watermark(watermark);
    }

    /// Fires the processing-time timers due at `now`.
    pub fn advance_processing_time<O: Data>(
        &mut self,
        now: Timestamp,
        out: &mut Output<O>,
        mut fire: impl FnMut(Timestamp, &mut KeyedContext<'_, K, O>),
    ) {
        while let Some((time, key, ())) = self.timers.pop_processing_timer(now) {
            fire(time, &mut self.context(&key, time, now, out, Some(TimeDomain::ProcessingTime)));
        }
    }

    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.timers.next_processing_time()
    }
}

/// Runs a [`KeyedProcessFunction`]: keys each element, fires its timers.
pub(crate) struct KeyedProcessOp<K, I, O, P: KeyedProcessFunction<K, I, O>> {
    f: P,
    state: Option<P::State>,
    key: KeySelector<I, K>,
    time: KeyedTime<K>,
    _t: PhantomData<fn(I) -> O>,
}

impl<K: Key, I: Data, O: Data, P: KeyedProcessFunction<K, I, O>> KeyedProcessOp<K, I, O, P> {
    pub fn new(f: P, key: KeySelector<I, K>) -> Self {
        KeyedProcessOp { f, state: None, key, time: KeyedTime::new(), _t: PhantomData }
    }
}

impl<K: Key, I: Data, O: Data, P: KeyedProcessFunction<K, I, O>> Operator for KeyedProcessOp<K, I, O, P> {
    type In = I;
    type Out = O;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.time.open(ctx)?;
        self.state = Some(self.f.open(ctx)?);
        Ok(())
    }
    fn process_batch(&mut self, batch: Vec<Record<I>>, out: &mut Output<O>) -> Result<()> {
        let now = self.time.now();
        let state = self.state.as_mut().expect("opened");
        for r in batch {
            let key = (self.key)(&r.value);
            self.f.process_element(state, r.value, &mut self.time.context(&key, r.timestamp, now, out, None));
        }
        Ok(())
    }
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> Result<()> {
        let (f, state) = (&mut self.f, self.state.as_mut().expect("opened"));
        self.time.advance_watermark(watermark, out, |t, ctx| f.on_timer(state, t, ctx));
        Ok(())
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.time.next_processing_time()
    }
    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> Result<()> {
        let (f, state) = (&mut self.f, self.state.as_mut().expect("opened"));
        self.time.advance_processing_time(now, out, |t, ctx| f.on_timer(state, t, ctx));
        Ok(())
    }
}

/// `KeyedStream::reduce`: the running reduction per key, emitted on every element.
pub(crate) struct RollingReduceOp<K, T, F> {
    pub f: F,
    pub key: KeySelector<T, K>,
    pub state: Option<ValueState<K, T>>,
}

impl<K: Key, T: Data, F: Fn(T, T) -> T + 'static> Operator for RollingReduceOp<K, T, F> {
    type In = T;
    type Out = T;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.state = Some(ctx.state.value_state(&StateDescriptor::new("reduce"))?);
        Ok(())
    }
    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<T>) -> Result<()> {
        let state = self.state.as_ref().expect("opened");
        for r in batch {
            let key = (self.key)(&r.value);
            let next = match state.get(&key) {
                Some(acc) => (self.f)(acc, r.value),
                None => r.value,
            };
            state.put(&key, next.clone());
            out.collect(next, r.timestamp);
        }
        Ok(())
    }
}

/// `KeyedStream::aggregate`: the running aggregate per key, emitted on every element.
pub(crate) struct RollingAggregateOp<K, T, F: AggregateFunction<T>> {
    pub f: F,
    pub key: KeySelector<T, K>,
    pub state: Option<ValueState<K, F::Acc>>,
}

impl<K: Key, T: Data, F: AggregateFunction<T>> Operator for RollingAggregateOp<K, T, F> {
    type In = T;
    type Out = F::Out;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.state = Some(ctx.state.value_state(&StateDescriptor::new("aggregate"))?);
        Ok(())
    }
    fn process_batch(&mut self, batch: Vec<Record<T>>, out: &mut Output<F::Out>) -> Result<()> {
        let state = self.state.as_ref().expect("opened");
        for r in batch {
            let key = (self.key)(&r.value);
            let mut acc = state.get(&key).unwrap_or_else(|| self.f.create_accumulator());
            self.f.add(r.value, &mut acc);
            out.collect(self.f.get_result(&acc), r.timestamp);
            state.put(&key, acc);
        }
        Ok(())
    }
}
