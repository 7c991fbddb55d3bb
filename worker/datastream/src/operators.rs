//! The operators behind the API's one-element transformations and keyed process functions.

use crate::functions::{KeyedContext, KeyedProcessFunction, ProcessContext, ProcessFunction, on_timer};
use ferroflink_core::error::Result;
use ferroflink_core::functions::AggregateFunction;
use ferroflink_core::record::{Data, Key, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::keyed::KeyedTime;
use ferroflink_runtime::operator::{Operator, Output};
use ferroflink_state::{StateDescriptor, ValueState};
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
        self.time.open(ctx, "timers")?;
        self.state = Some(self.f.open(ctx)?);
        Ok(())
    }
    fn process_batch(&mut self, batch: Vec<Record<I>>, out: &mut Output<O>) -> Result<()> {
        let now = self.time.now();
        let state = self.state.as_mut().expect("opened");
        for r in batch {
            let key = (self.key)(&r.value);
            self.f.process_element(
                state,
                r.value,
                &mut KeyedContext::new(&self.time, &key, r.timestamp, now, out, None),
            )?;
        }
        Ok(())
    }
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> Result<()> {
        let (f, state) = (&mut self.f, self.state.as_mut().expect("opened"));
        self.time.advance_watermark(watermark, out, &mut on_timer(|t, ctx| f.on_timer(state, t, ctx)))
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.time.next_processing_time()
    }
    fn on_processing_time(&mut self, now: Timestamp, out: &mut Output<O>) -> Result<()> {
        let (f, state) = (&mut self.f, self.state.as_mut().expect("opened"));
        self.time.advance_processing_time(now, out, &mut on_timer(|t, ctx| f.on_timer(state, t, ctx)))
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
            let next = match state.get(&key)? {
                Some(acc) => (self.f)(acc, r.value),
                None => r.value,
            };
            state.put(&key, next.clone())?;
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
            let mut acc = state.get(&key)?.unwrap_or_else(|| self.f.create_accumulator());
            self.f.add(r.value, &mut acc);
            out.collect(self.f.get_result(&acc), r.timestamp);
            state.put(&key, acc)?;
        }
        Ok(())
    }
}
