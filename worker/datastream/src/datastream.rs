//! `DataStream`: a stream of records of one type and the transformations on it.

use crate::connected::ConnectedStreams;
use crate::environment::StreamExecutionEnvironment;
use crate::functions::ProcessFunction;
use crate::keyed::KeyedStream;
use crate::operators::{FilterOp, FlatMapOp, MapOp, ProcessOp};
use ferroflink_connectors::collect::{CollectSink, Collected};
use ferroflink_connectors::print::PrintSink;
use ferroflink_core::keygroup::KeyGroupAssigner;
use ferroflink_core::record::{Data, Key, NO_TIMESTAMP};
use ferroflink_runtime::graph::stream_graph::{
    self, ChainingStrategy, Input, OperatorFactory, Partitioning, Producer, one_input,
};
use ferroflink_runtime::operator::{Operator, OutputTag};
use ferroflink_runtime::sink::Sink;
use ferroflink_runtime::watermark::{TimestampsAndWatermarksOperator, WatermarkStrategy};
use std::marker::PhantomData;
use std::sync::Arc;

/// A stream of `T` (Flink's `DataStream`). Transformations add operators to the job being built;
/// the methods that configure an operator (`name`, `uid`, `set_parallelism`, ...) apply to the
/// operator that produced this stream.
pub struct DataStream<T> {
    pub(crate) env: StreamExecutionEnvironment,
    input: Input<T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream { env: self.env.clone(), input: self.input.clone() }
    }
}

/// Results gathered by [`DataStream::collect`], available after the job ran.
pub type CollectedResults<T> = Collected<T>;

impl<T: Data> DataStream<T> {
    /// The stream `input` of the job `env` builds: how a planner working on the environment's graph
    /// ([`StreamExecutionEnvironment::with_graph`]) hands a stream back to the API.
    pub fn from_input(env: StreamExecutionEnvironment, input: Input<T>) -> Self {
        DataStream { env, input }
    }

    /// Where this stream's records come from and how they are partitioned, to connect it to an
    /// operator added to the environment's graph.
    pub fn input(&self) -> &Input<T> {
        &self.input
    }

    pub(crate) fn from_node(env: StreamExecutionEnvironment, node: usize) -> Self {
        DataStream::from_input(env, Input::of(node))
    }

    /// Adds a one-input operator.
    pub(crate) fn transform<U: Data>(&self, name: &str, factory: OperatorFactory) -> DataStream<U> {
        let node = self.env.with_graph(|g| {
            let node = g.add_operator(name, factory);
            g.connect(&self.input, node, 0);
            node
        });
        DataStream::from_node(self.env.clone(), node)
    }

    /// Applies `f` to every element.
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Clone + Send + Sync + 'static) -> DataStream<U> {
        self.transform("Map", one_input(move || MapOp { f: f.clone(), _t: PhantomData }))
    }

    /// Applies `f` to every element and emits all it returns.
    pub fn flat_map<U: Data, I: IntoIterator<Item = U> + 'static>(
        &self,
        f: impl Fn(T) -> I + Clone + Send + Sync + 'static,
    ) -> DataStream<U> {
        self.transform("Flat Map", one_input(move || FlatMapOp { f: f.clone(), _t: PhantomData }))
    }

    /// Keeps the elements for which `f` is true.
    pub fn filter(&self, f: impl Fn(&T) -> bool + Clone + Send + Sync + 'static) -> DataStream<T> {
        self.transform("Filter", one_input(move || FilterOp { f: f.clone(), _t: PhantomData }))
    }

    /// Runs a [`ProcessFunction`] on every element.
    pub fn process<O: Data, P: ProcessFunction<T, O>>(&self, f: P) -> DataStream<O> {
        self.transform(
            "Process",
            one_input(move || ProcessOp { f: f.clone(), watermark: NO_TIMESTAMP, _t: PhantomData }),
        )
    }

    /// Adds a custom operator.
    pub fn transform_with<O: Operator<In = T> + Clone + Send + Sync>(&self, name: &str, op: O) -> DataStream<O::Out> {
        self.transform_from(name, move || op.clone())
    }

    /// Adds a custom operator that each subtask makes with `make` (for operators that are not
    /// `Send` once open).
    pub fn transform_from<O: Operator<In = T>>(
        &self,
        name: &str,
        make: impl Fn() -> O + Send + Sync + 'static,
    ) -> DataStream<O::Out> {
        self.transform(name, one_input(make))
    }

    /// Partitions by key: each key's elements go to one subtask (by key group).
    pub fn key_by<K: Key>(&self, key: impl Fn(&T) -> K + Send + Sync + 'static) -> KeyedStream<T, K> {
        let key: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(key);
        let stream = DataStream::from_input(self.env.clone(), self.input.clone().keyed(key.clone()));
        KeyedStream { stream, key }
    }

    /// [`DataStream::key_by`] where the exchange finds an element's key group with `key_group`
    /// (given the key-group assigner), which must agree with `key`'s: for keys that are costly to
    /// make, when their codec bytes can be written from the element in place.
    pub fn key_by_with_groups<K: Key>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        key_group: impl Fn(&T, &KeyGroupAssigner, &mut Vec<u8>) -> usize + Send + Sync + 'static,
    ) -> KeyedStream<T, K> {
        let input = self.input.clone().keyed_by_group(Arc::new(key_group));
        KeyedStream { stream: DataStream::from_input(self.env.clone(), input), key: Arc::new(key) }
    }

    /// Merges streams of the same type.
    pub fn union(&self, others: &[DataStream<T>]) -> DataStream<T> {
        let mut input = self.input.clone();
        for o in others {
            if o.input.partitioning != self.input.partitioning {
                self.env.defer_error("union of streams with different partitioning; partition after the union".into());
            }
            input = input.union(&o.input);
        }
        DataStream::from_input(self.env.clone(), input)
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
        DataStream::from_input(self.env.clone(), self.input.clone().partitioned(p))
    }

    /// Assigns timestamps and watermarks inside the stream (replacing upstream watermarks).
    pub fn assign_timestamps_and_watermarks(&self, strategy: WatermarkStrategy<T>) -> DataStream<T> {
        self.transform("Timestamps/Watermarks", one_input(move || TimestampsAndWatermarksOperator::new(&strategy)))
    }

    /// The side output `tag` of the operator that produced this stream.
    pub fn get_side_output<U: Data>(&self, tag: &OutputTag<U>) -> DataStream<U> {
        let node = self.node("get_side_output");
        DataStream::from_input(self.env.clone(), Input::from(Producer { node, tag: Some(tag.id().clone()) }))
    }

    /// Writes to a sink.
    pub fn sink_to<S: Sink<T>>(&self, sink: S) -> DataStream<()> {
        self.transform("Sink", stream_graph::sink(sink))
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
        let producers = &self.input.producers;
        if producers.len() != 1 || producers[0].tag.is_some() {
            self.env.defer_error(format!("{what} applies to one operator, not to a union or side output"));
        }
        producers[0].node
    }

    fn configure(self, what: &str, f: impl FnOnce(&mut ferroflink_runtime::graph::stream_graph::StreamNode)) -> Self {
        let node = self.node(what);
        self.env.with_graph(|g| f(g.node_mut(node)));
        self
    }

    /// Names the operator.
    pub fn name(self, name: &str) -> Self {
        self.configure("name", |n| n.name = name.to_string())
    }

    /// Describes the operator for plans and the web UI (Flink's `setDescription`).
    pub fn set_description(self, description: &str) -> Self {
        self.configure("set_description", |n| n.description = Some(description.to_string()))
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
