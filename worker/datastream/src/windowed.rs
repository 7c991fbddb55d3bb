//! `WindowedStream`: a keyed stream grouped into windows, and the functions applied per window.

use crate::datastream::DataStream;
use crate::functions::ProcessWindowFunction;
use crate::keyed::KeyedStream;
use crate::window::aligned::AlignedWindowOperator;
use crate::window::assigner::{TimeWindow, WindowAssigner};
use crate::window::body::{AggregateBody, ProcessBody, ReduceBody, WindowBody, WindowFn};
use crate::window::session::SessionWindowOperator;
use ferroflink_core::functions::AggregateFunction;
use ferroflink_core::record::{Data, Key};
use ferroflink_runtime::chain::OneInput;
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::operator::OutputTag;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// A keyed stream grouped into windows (Flink's `WindowedStream`).
pub struct WindowedStream<T, K> {
    keyed: KeyedStream<T, K>,
    assigner: WindowAssigner,
    lateness: i64,
    late_tag: Option<OutputTag<T>>,
}

impl<T: Data, K: Key> WindowedStream<T, K> {
    pub(crate) fn new(keyed: KeyedStream<T, K>, assigner: WindowAssigner) -> Self {
        if let Err(e) = assigner.validate() {
            keyed.stream.env.defer_error(e);
        }
        WindowedStream { keyed, assigner, lateness: 0, late_tag: None }
    }

    /// Keeps windows this long after they fired, re-firing them for late elements (event time).
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.lateness = lateness.as_millis() as i64;
        self
    }

    /// Sends elements too late for every window to `tag` instead of dropping them.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.late_tag = Some(tag.clone());
        self
    }

    /// Reduces each window's elements with `f`; the result carries the window's last timestamp.
    pub fn reduce(&self, f: impl Fn(T, T) -> T + Clone + Send + Sync + 'static) -> DataStream<T> {
        self.apply("Window Reduce", ReduceBody { f, _t: PhantomData })
    }

    /// Aggregates each window incrementally.
    pub fn aggregate<F: AggregateFunction<T>>(&self, f: F) -> DataStream<F::Out> {
        let identity: WindowFn<K, F::Out, F::Out> = Arc::new(|_: &K, _: &TimeWindow, r: F::Out| r);
        self.apply("Window Aggregate", AggregateBody { f, window_fn: identity, _t: PhantomData })
    }

    /// Aggregates each window incrementally, then maps the result with the key and window.
    pub fn aggregate_with<F: AggregateFunction<T>, O: Data>(
        &self,
        f: F,
        window_fn: impl Fn(&K, &TimeWindow, F::Out) -> O + Send + Sync + 'static,
    ) -> DataStream<O> {
        let window_fn: WindowFn<K, F::Out, O> = Arc::new(window_fn);
        self.apply("Window Aggregate", AggregateBody { f, window_fn, _t: PhantomData })
    }

    /// Hands all of a window's elements to `f` when it fires.
    pub fn process<O: Data, P: ProcessWindowFunction<K, T, O>>(&self, f: P) -> DataStream<O> {
        self.apply("Window Process", ProcessBody { f, _t: PhantomData })
    }

    fn apply<B: WindowBody<K, T>>(&self, name: &str, body: B) -> DataStream<B::Out> {
        let key = self.keyed.key.clone();
        let assigner = self.assigner;
        let (lateness, late_tag) = (self.lateness, self.late_tag.clone());
        self.keyed.stream.transform(
            name,
            Arc::new(move |_: &RuntimeContext| match assigner {
                WindowAssigner::Session { .. } => OneInput::boxed(SessionWindowOperator::new(
                    key.clone(),
                    body.clone(),
                    &assigner,
                    lateness,
                    late_tag.clone(),
                )),
                _ => OneInput::boxed(AlignedWindowOperator::new(
                    key.clone(),
                    body.clone(),
                    &assigner,
                    lateness,
                    late_tag.clone(),
                )),
            }),
        )
    }
}
