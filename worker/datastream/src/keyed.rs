//! `KeyedStream`: a stream partitioned by key, with keyed state and timers downstream.

use crate::connected::KeyedConnectedStreams;
use crate::datastream::DataStream;
use crate::functions::KeyedProcessFunction;
use crate::operators::{KeyedProcessOp, RollingAggregateOp, RollingReduceOp};
use crate::window::assigner::WindowAssigner;
use crate::windowed::WindowedStream;
use ferroflink_core::functions::AggregateFunction;
use ferroflink_core::record::{Data, Key};
use ferroflink_runtime::graph::stream_graph::one_input;
use std::sync::Arc;

/// A stream partitioned by a key of type `K` (Flink's `KeyedStream`).
pub struct KeyedStream<T, K> {
    pub(crate) stream: DataStream<T>,
    pub(crate) key: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<T, K> Clone for KeyedStream<T, K> {
    fn clone(&self) -> Self {
        KeyedStream { stream: self.stream.clone(), key: self.key.clone() }
    }
}

impl<T: Data, K: Key> KeyedStream<T, K> {
    /// The running reduction per key, emitted after every element.
    pub fn reduce(&self, f: impl Fn(T, T) -> T + Clone + Send + Sync + 'static) -> DataStream<T> {
        let key = self.key.clone();
        self.stream.transform(
            "Keyed Reduce",
            one_input(move || RollingReduceOp { f: f.clone(), key: key.clone(), state: None }),
        )
    }

    /// The running aggregate per key, emitted after every element.
    pub fn aggregate<F: AggregateFunction<T>>(&self, f: F) -> DataStream<F::Out> {
        let key = self.key.clone();
        self.stream.transform(
            "Keyed Aggregate",
            one_input(move || RollingAggregateOp { f: f.clone(), key: key.clone(), state: None }),
        )
    }

    /// Runs a [`KeyedProcessFunction`] with keyed state and timers.
    pub fn process<O: Data, P: KeyedProcessFunction<K, T, O>>(&self, f: P) -> DataStream<O> {
        let key = self.key.clone();
        self.stream.transform("Keyed Process", one_input(move || KeyedProcessOp::new(f.clone(), key.clone())))
    }

    /// Adds a custom operator after the exchange by key (each key's elements reach one subtask),
    /// without keyed state: the operator keeps what it needs itself.
    pub fn transform_from<O: ferroflink_runtime::operator::Operator<In = T>>(
        &self,
        name: &str,
        make: impl Fn() -> O + Send + Sync + 'static,
    ) -> DataStream<O::Out> {
        self.stream.transform_from(name, make)
    }

    /// Groups each key's elements into windows.
    pub fn window(&self, assigner: impl Into<WindowAssigner>) -> WindowedStream<T, K> {
        WindowedStream::new(self.clone(), assigner.into())
    }

    /// Pairs with another stream keyed by the same key type, for a keyed two-input function.
    pub fn connect<U: Data>(&self, other: &KeyedStream<U, K>) -> KeyedConnectedStreams<T, U, K> {
        KeyedConnectedStreams { first: self.clone(), second: other.clone() }
    }
}
