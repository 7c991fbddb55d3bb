//! Two connected streams of different types, processed by one two-input function (`connect`).

use crate::datastream::DataStream;
use crate::functions::{KeyedContext, on_timer};
use crate::keyed::KeyedStream;
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Key, NO_TIMESTAMP, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::graph::stream_graph::two_input;
use ferroflink_runtime::keyed::KeyedTime;
use ferroflink_runtime::operator::{Output, OutputTag, TwoInputOperator};
use std::marker::PhantomData;
use std::sync::Arc;

/// What a [`CoProcessFunction`] sees for one element.
pub struct CoProcessContext<'a, O> {
    timestamp: Timestamp,
    watermark: Timestamp,
    out: &'a mut Output<O>,
}

impl<O: Data> CoProcessContext<'_, O> {
    /// The element's timestamp, if any.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp)
    }
    /// The operator's watermark (minimum of both inputs).
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
    /// Emits with the element's timestamp.
    pub fn collect(&mut self, value: O) {
        self.out.collect(value, self.timestamp);
    }
    /// Emits to a side output.
    pub fn output<U: Data>(&mut self, tag: &OutputTag<U>, value: U) {
        self.out.side(tag, Record::new(value, self.timestamp));
    }
}

/// A function over two unkeyed inputs (Flink's `CoProcessFunction`).
pub trait CoProcessFunction<A, B, O>: Clone + Send + Sync + 'static {
    /// Called once per subtask.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> Result<()> {
        Ok(())
    }
    /// An element of the first input.
    fn process_element1(&mut self, value: A, ctx: &mut CoProcessContext<'_, O>);
    /// An element of the second input.
    fn process_element2(&mut self, value: B, ctx: &mut CoProcessContext<'_, O>);
}

/// A function over two inputs keyed the same way, with keyed state and timers (Flink's
/// `KeyedCoProcessFunction`). State works as in [`crate::KeyedProcessFunction`].
pub trait KeyedCoProcessFunction<K, A, B, O>: Clone + Send + Sync + 'static {
    /// Per-subtask state handles (`()` for none).
    type State;
    /// Called once per subtask; declares state.
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State>;
    /// An element of the first input; an error (a failed state access) fails the task.
    fn process_element1(&mut self, state: &mut Self::State, value: A, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
    /// An element of the second input.
    fn process_element2(&mut self, state: &mut Self::State, value: B, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
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

/// Two streams connected for a [`CoProcessFunction`].
pub struct ConnectedStreams<A, B> {
    pub(crate) first: DataStream<A>,
    pub(crate) second: DataStream<B>,
}

fn two_input_node<A: Data, B: Data, O: Data>(
    first: &DataStream<A>,
    second: &DataStream<B>,
    name: &str,
    factory: ferroflink_runtime::graph::stream_graph::OperatorFactory,
) -> DataStream<O> {
    let node = first.env.with_graph(|g| {
        let node = g.add_operator(name, factory);
        g.connect(first.input(), node, 0);
        g.connect(second.input(), node, 1);
        node
    });
    DataStream::from_node(first.env.clone(), node)
}

impl<A: Data, B: Data> ConnectedStreams<A, B> {
    /// Runs `f` over both inputs.
    pub fn process<O: Data, P: CoProcessFunction<A, B, O>>(&self, f: P) -> DataStream<O> {
        two_input_node(
            &self.first,
            &self.second,
            "Co-Process",
            two_input(move || CoProcessOp { f: f.clone(), watermark: NO_TIMESTAMP, _t: PhantomData }),
        )
    }

    /// Keys both inputs, so a [`KeyedCoProcessFunction`] can run over them.
    pub fn key_by<K: Key>(
        &self,
        first: impl Fn(&A) -> K + Send + Sync + 'static,
        second: impl Fn(&B) -> K + Send + Sync + 'static,
    ) -> KeyedConnectedStreams<A, B, K> {
        KeyedConnectedStreams { first: self.first.key_by(first), second: self.second.key_by(second) }
    }
}

/// Two streams keyed the same way, connected.
pub struct KeyedConnectedStreams<A, B, K> {
    pub(crate) first: KeyedStream<A, K>,
    pub(crate) second: KeyedStream<B, K>,
}

impl<A: Data, B: Data, K: Key> KeyedConnectedStreams<A, B, K> {
    /// Runs `f` over both inputs.
    pub fn process<O: Data, P: KeyedCoProcessFunction<K, A, B, O>>(&self, f: P) -> DataStream<O> {
        let (ka, kb) = (self.first.key.clone(), self.second.key.clone());
        two_input_node(
            &self.first.stream,
            &self.second.stream,
            "Keyed Co-Process",
            two_input(move || KeyedCoProcessOp {
                f: f.clone(),
                state: None,
                key1: ka.clone(),
                key2: kb.clone(),
                time: KeyedTime::new(),
                _t: PhantomData,
            }),
        )
    }
}

struct CoProcessOp<A, B, O, P> {
    f: P,
    watermark: Timestamp,
    _t: PhantomData<fn(A, B) -> O>,
}

impl<A: Data, B: Data, O: Data, P: CoProcessFunction<A, B, O>> TwoInputOperator for CoProcessOp<A, B, O, P> {
    type In1 = A;
    type In2 = B;
    type Out = O;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.f.open(ctx)
    }
    fn process_batch1(&mut self, batch: Vec<Record<A>>, out: &mut Output<O>) -> Result<()> {
        for r in batch {
            self.f.process_element1(
                r.value,
                &mut CoProcessContext { timestamp: r.timestamp, watermark: self.watermark, out },
            );
        }
        Ok(())
    }
    fn process_batch2(&mut self, batch: Vec<Record<B>>, out: &mut Output<O>) -> Result<()> {
        for r in batch {
            self.f.process_element2(
                r.value,
                &mut CoProcessContext { timestamp: r.timestamp, watermark: self.watermark, out },
            );
        }
        Ok(())
    }
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<O>) -> Result<()> {
        self.watermark = watermark;
        out.emit_watermark(watermark);
        Ok(())
    }
}

type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

struct KeyedCoProcessOp<K, A, B, O, P: KeyedCoProcessFunction<K, A, B, O>> {
    f: P,
    state: Option<P::State>,
    key1: KeyFn<A, K>,
    key2: KeyFn<B, K>,
    time: KeyedTime<K>,
    _t: PhantomData<fn(A, B) -> O>,
}

impl<K: Key, A: Data, B: Data, O: Data, P: KeyedCoProcessFunction<K, A, B, O>> TwoInputOperator
    for KeyedCoProcessOp<K, A, B, O, P>
{
    type In1 = A;
    type In2 = B;
    type Out = O;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.time.open(ctx, "timers")?;
        self.state = Some(self.f.open(ctx)?);
        Ok(())
    }
    fn process_batch1(&mut self, batch: Vec<Record<A>>, out: &mut Output<O>) -> Result<()> {
        let now = self.time.now();
        let state = self.state.as_mut().expect("opened");
        for r in batch {
            let key = (self.key1)(&r.value);
            let mut ctx = KeyedContext::new(&self.time, &key, r.timestamp, now, out, None);
            self.f.process_element1(state, r.value, &mut ctx)?;
        }
        Ok(())
    }
    fn process_batch2(&mut self, batch: Vec<Record<B>>, out: &mut Output<O>) -> Result<()> {
        let now = self.time.now();
        let state = self.state.as_mut().expect("opened");
        for r in batch {
            let key = (self.key2)(&r.value);
            let mut ctx = KeyedContext::new(&self.time, &key, r.timestamp, now, out, None);
            self.f.process_element2(state, r.value, &mut ctx)?;
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
