//! `KeyedStream`: a stream partitioned by key, with keyed state and timers downstream.

use crate::api::connected::KeyedConnectedStreams;
use crate::api::datastream::DataStream;
use crate::api::functions::KeyedProcessFunction;
use crate::api::operators::{KeyedProcessOp, RollingAggregateOp, RollingReduceOp};
use crate::api::windowed::WindowedStream;
use crate::functions::AggregateFunction;
use crate::record::{Data, Key};
use crate::runtime::chain::OneInput;
use crate::runtime::context::RuntimeContext;
use crate::window::assigner::WindowAssigner;
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
            Arc::new(move |_: &RuntimeContext| {
                OneInput::boxed(RollingReduceOp { f: f.clone(), key: key.clone(), state: None })
            }),
        )
    }

    /// The running aggregate per key, emitted after every element.
    pub fn aggregate<F: AggregateFunction<T>>(&self, f: F) -> DataStream<F::Out> {
        let key = self.key.clone();
        self.stream.transform(
            "Keyed Aggregate",
            Arc::new(move |_: &RuntimeContext| {
                OneInput::boxed(RollingAggregateOp { f: f.clone(), key: key.clone(), state: None })
            }),
        )
    }

    /// Runs a [`KeyedProcessFunction`] with keyed state and timers.
    pub fn process<O: Data, P: KeyedProcessFunction<K, T, O>>(&self, f: P) -> DataStream<O> {
        let key = self.key.clone();
        self.stream.transform(
            "Keyed Process",
            Arc::new(move |_: &RuntimeContext| OneInput::boxed(KeyedProcessOp::new(f.clone(), key.clone()))),
        )
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
