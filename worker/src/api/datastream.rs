//! `DataStream`: a stream of records of one type and the transformations on it.

use crate::api::connected::ConnectedStreams;
use crate::api::environment::StreamExecutionEnvironment;
use crate::api::functions::ProcessFunction;
use crate::api::keyed::KeyedStream;
use crate::api::operators::{FilterOp, FlatMapOp, MapOp, ProcessOp};
use crate::connectors::collect::{CollectSink, Collected};
use crate::connectors::print::PrintSink;
use crate::graph::stream_graph::{
    ChainingStrategy, NodeKind, OperatorFactory, Partitioning, StreamEdge, WriterFactory,
};
use crate::record::{Data, Key, NO_TIMESTAMP};
use crate::runtime::chain::OneInput;
use crate::runtime::context::RuntimeContext;
use crate::runtime::operator::{Operator, OutputTag};
use crate::runtime::partition::{PartitionWriter, key_group_fn};
use crate::runtime::sink::{Sink, SinkOperator};
use crate::time::watermark::{TimestampsAndWatermarksOperator, WatermarkStrategy};
use std::marker::PhantomData;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub node: usize,
    pub tag: Option<Arc<str>>,
}

/// A stream of `T` (Flink's `DataStream`). Transformations add operators to the job being built;
/// the methods that configure an operator (`name`, `uid`, `set_parallelism`, ...) apply to the
/// operator that produced this stream.
pub struct DataStream<T> {
    pub(crate) env: StreamExecutionEnvironment,
    pub(crate) origins: Vec<Origin>,
    pub(crate) partitioning: Partitioning,
    pub(crate) writer: WriterFactory,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream {
            env: self.env.clone(),
            origins: self.origins.clone(),
            partitioning: self.partitioning,
            writer: self.writer.clone(),
            _t: PhantomData,
        }
    }
}

/// The writer factory of an edge carrying `T`, unkeyed.
pub(crate) fn plain_writer<T: Data>() -> WriterFactory {
    Arc::new(|strategy, channels, p| {
        Box::new(PartitionWriter::<T>::new(channels, strategy, p.batch_size, p.subtask_index, None))
    })
}

/// The writer factory of an edge carrying `T`, keyed by `key`.
pub(crate) fn keyed_writer<T: Data, K: Key>(key: Arc<dyn Fn(&T) -> K + Send + Sync>) -> WriterFactory {
    Arc::new(move |strategy, channels, p| {
        let kg = key_group_fn(key.clone(), p.max_parallelism);
        Box::new(PartitionWriter::<T>::new(
            channels,
            strategy,
            p.batch_size,
            p.subtask_index,
            Some((kg, p.max_parallelism)),
        ))
    })
}

/// The operator factory of a cloneable operator prototype.
pub(crate) fn factory_of<O: Operator + Clone + Send + Sync>(op: O) -> OperatorFactory {
    Arc::new(move |_ctx: &RuntimeContext| OneInput::boxed(op.clone()))
}

/// Results gathered by [`DataStream::collect`], available after the job ran.
pub type CollectedResults<T> = Collected<T>;

impl<T: Data> DataStream<T> {
    pub(crate) fn from_node(env: StreamExecutionEnvironment, node: usize) -> Self {
        DataStream {
            env,
            origins: vec![Origin { node, tag: None }],
            partitioning: Partitioning::Default,
            writer: plain_writer::<T>(),
            _t: PhantomData,
        }
    }

    /// Adds the edges from this stream into `target`'s input `input`.
    pub(crate) fn connect_into(&self, target: usize, input: usize) {
        for o in &self.origins {
            self.env.add_edge(StreamEdge {
                source: o.node,
                target,
                input,
                tag: o.tag.clone(),
                partitioning: self.partitioning,
                writer: self.writer.clone(),
                decoder: crate::runtime::element::AnyBatch::decoder::<T>(),
                record_type: std::any::type_name::<T>(),
            });
        }
    }

    /// Adds a one-input operator.
    pub(crate) fn transform<U: Data>(&self, name: &str, factory: OperatorFactory) -> DataStream<U> {
        let node = self.env.add_node(name, NodeKind::Operator(factory), ChainingStrategy::Always);
        self.connect_into(node, 0);
        self.env.inherit_slot_sharing_group(node);
        DataStream::from_node(self.env.clone(), node)
    }

    /// Applies `f` to every element.
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Clone + Send + Sync + 'static) -> DataStream<U> {
        self.transform(
            "Map",
            Arc::new(move |_: &RuntimeContext| OneInput::boxed(MapOp { f: f.clone(), _t: PhantomData })),
        )
    }

    /// Applies `f` to every element and emits all it returns.
    pub fn flat_map<U: Data, I: IntoIterator<Item = U> + 'static>(
        &self,
        f: impl Fn(T) -> I + Clone + Send + Sync + 'static,
    ) -> DataStream<U> {
        self.transform(
            "Flat Map",
            Arc::new(move |_: &RuntimeContext| OneInput::boxed(FlatMapOp { f: f.clone(), _t: PhantomData })),
        )
    }

    /// Keeps the elements for which `f` is true.
    pub fn filter(&self, f: impl Fn(&T) -> bool + Clone + Send + Sync + 'static) -> DataStream<T> {
        self.transform(
            "Filter",
            Arc::new(move |_: &RuntimeContext| OneInput::boxed(FilterOp { f: f.clone(), _t: PhantomData })),
        )
    }

    /// Runs a [`ProcessFunction`] on every element.
    pub fn process<O: Data, P: ProcessFunction<T, O>>(&self, f: P) -> DataStream<O> {
        self.transform(
            "Process",
            Arc::new(move |_: &RuntimeContext| {
                OneInput::boxed(ProcessOp { f: f.clone(), watermark: NO_TIMESTAMP, _t: PhantomData })
            }),
        )
    }

    /// Adds a custom operator.
    pub fn transform_with<O: Operator<In = T> + Clone + Send + Sync>(&self, name: &str, op: O) -> DataStream<O::Out> {
        self.transform(name, factory_of(op))
    }

    /// Partitions by key: each key's elements go to one subtask (by key group).
    pub fn key_by<K: Key>(&self, key: impl Fn(&T) -> K + Send + Sync + 'static) -> KeyedStream<T, K> {
        let key: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(key);
        let mut stream = self.clone();
        stream.partitioning = Partitioning::Hash;
        stream.writer = keyed_writer(key.clone());
        KeyedStream { stream, key }
    }

    /// Merges streams of the same type.
    pub fn union(&self, others: &[DataStream<T>]) -> DataStream<T> {
        let mut s = self.clone();
        for o in others {
            if o.partitioning != self.partitioning {
                self.env.defer_error("union of streams with different partitioning; partition after the union".into());
            }
            s.origins.extend(o.origins.iter().cloned());
        }
        s
    }

    /// Pairs with a stream of another type for a two-input operator.
    pub fn connect<U: Data>(&self, other: &DataStream<U>) -> ConnectedStreams<T, U> {
        ConnectedStreams { first: self.clone(), second: other.clone() }
    }

    /// Round robin over the next operator's subtasks.
    pub fn rebalance(&self) -> DataStream<T> {
        self.repartition(Partitioning::Rebalance)
    }

    /// Every element to every subtask of the next operator.
    pub fn broadcast(&self) -> DataStream<T> {
        self.repartition(Partitioning::Broadcast)
    }

    /// Subtask i to subtask i (needs equal parallelism).
    pub fn forward(&self) -> DataStream<T> {
        self.repartition(Partitioning::Forward)
    }

    fn repartition(&self, p: Partitioning) -> DataStream<T> {
        let mut s = self.clone();
        s.partitioning = p;
        s.writer = plain_writer::<T>();
        s
    }

    /// Assigns timestamps and watermarks inside the stream (replacing upstream watermarks).
    pub fn assign_timestamps_and_watermarks(&self, strategy: WatermarkStrategy<T>) -> DataStream<T> {
        self.transform(
            "Timestamps/Watermarks",
            Arc::new(move |_: &RuntimeContext| OneInput::boxed(TimestampsAndWatermarksOperator::new(&strategy))),
        )
    }

    /// The side output `tag` of the operator that produced this stream.
    pub fn get_side_output<U: Data>(&self, tag: &OutputTag<U>) -> DataStream<U> {
        let node = self.node("get_side_output");
        let mut s = DataStream::<U>::from_node(self.env.clone(), node);
        s.origins[0].tag = Some(tag.id().clone());
        s
    }

    /// Writes to a sink.
    pub fn sink_to<S: Sink<T>>(&self, sink: S) -> DataStream<()> {
        let sink = Arc::new(sink);
        self.transform("Sink", Arc::new(move |_: &RuntimeContext| OneInput::boxed(SinkOperator::new(sink.clone()))))
    }

    /// Prints every element (`Debug`) to standard output, prefixed by `subtask> ` when parallel.
    pub fn print(&self) -> DataStream<()> {
        self.sink_to(PrintSink::debug()).name("Print to Std. Out")
    }

    /// Gathers every element in memory; read them after `execute` (tests and examples).
    pub fn collect(&self) -> CollectedResults<T> {
        let sink = CollectSink::new();
        let results = sink.results();
        self.sink_to(sink).name("Collect");
        results
    }

    fn node(&self, what: &str) -> usize {
        if self.origins.len() != 1 || self.origins[0].tag.is_some() {
            self.env.defer_error(format!("{what} applies to one operator, not to a union or side output"));
        }
        self.origins[0].node
    }

    fn configure(self, what: &str, f: impl FnOnce(&mut crate::graph::stream_graph::StreamNode)) -> Self {
        let node = self.node(what);
        self.env.with_node(node, f);
        self
    }

    /// Names the operator.
    pub fn name(self, name: &str) -> Self {
        self.configure("name", |n| n.name = name.to_string())
    }

    /// Gives the operator a stable id (state is matched by it on restore).
    pub fn uid(self, uid: &str) -> Self {
        self.configure("uid", |n| n.uid = Some(uid.to_string()))
    }

    /// Sets the operator's parallelism.
    pub fn set_parallelism(self, parallelism: usize) -> Self {
        self.configure("set_parallelism", |n| n.parallelism = Some(parallelism))
    }

    /// Sets the operator's number of key groups.
    pub fn set_max_parallelism(self, max_parallelism: usize) -> Self {
        self.configure("set_max_parallelism", |n| n.max_parallelism = Some(max_parallelism))
    }

    /// The operator chains with neither neighbour.
    pub fn disable_chaining(self) -> Self {
        self.configure("disable_chaining", |n| n.chaining = ChainingStrategy::Never)
    }

    /// The operator starts a new chain (its successors may chain to it).
    pub fn start_new_chain(self) -> Self {
        self.configure("start_new_chain", |n| n.chaining = ChainingStrategy::Head)
    }

    /// Puts the operator in a slot-sharing group.
    pub fn slot_sharing_group(self, group: &str) -> Self {
        self.configure("slot_sharing_group", |n| n.slot_sharing_group = group.to_string())
    }
}
