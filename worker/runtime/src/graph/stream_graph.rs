//! The stream graph: one node per operator the API created, edges with their partitioning, and the
//! job-wide execution configuration. Nodes hold factories that create an operator instance per
//! subtask on the task thread; edges hold a factory for their typed record writer.
//!
//! Planners (the DataStream API, SQL, your own) build it through its public methods: sources
//! ([`StreamGraph::add_source`]), one- and two-input operators and sinks ([`StreamGraph::add_operator`]
//! with [`one_input`], [`two_input`] or [`sink`]), and the typed
//! [`Input`]s that connect them, each with its partitioning (forward, rebalance, broadcast, by key)
//! and the codec its records travel in. A node's `uid`, name, parallelism and chaining are fields
//! of [`StreamNode`] ([`StreamGraph::node_mut`]).

use crate::chain::{ChainOperator, OneInput, TwoInput};
use crate::context::RuntimeContext;
use crate::metrics::TaskMetrics;
use crate::operator::{Operator, TwoInputOperator};
use crate::partition::{ChannelSender, KeyGroupFn, PartitionWriter, RecordWriter, ShipStrategy};
use crate::sink::{Sink, SinkOperator};
use crate::source::{EnumeratorFactory, Source, SourceDriver, TypedSourceDriver, enumerator_factory};
use crate::watermark::WatermarkStrategy;
use ferroflink_core::clock::{Clock, SystemClock};
use ferroflink_core::element::AnyBatch;
use ferroflink_core::keygroup::{DEFAULT_MAX_PARALLELISM, KeyGroupAssigner};
use ferroflink_core::record::{Data, Key};
use std::marker::PhantomData;
use std::sync::Arc;

/// The key group of a record's key, by the assigner of the job's max parallelism.
pub type KeyGroupOf<T> = Arc<dyn Fn(&T, &KeyGroupAssigner, &mut Vec<u8>) -> usize + Send + Sync>;

/// Creates an operator instance for a subtask; it is then opened with its [`RuntimeContext`].
pub type OperatorFactory = Arc<dyn Fn(&RuntimeContext) -> Box<dyn ChainOperator> + Send + Sync>;

/// Creates a source driver for a subtask.
pub type SourceFactory = Arc<dyn Fn(&SourceParams) -> Box<dyn SourceDriver> + Send + Sync>;

/// Creates the typed record writer of an edge for one producing subtask.
pub type WriterFactory =
    Arc<dyn Fn(ShipStrategy, Vec<ChannelSender>, &WriterParams) -> Box<dyn RecordWriter> + Send + Sync>;

/// What a source factory gets.
pub struct SourceParams {
    /// Records per batch.
    pub batch_size: usize,
    /// Processing-time clock.
    pub clock: Arc<dyn Clock>,
    /// The task's counters.
    pub metrics: Arc<TaskMetrics>,
}

/// What a writer factory gets.
pub struct WriterParams {
    /// Records per batch.
    pub batch_size: usize,
    /// Index of the producing subtask (where round robin starts).
    pub subtask_index: usize,
    /// Key groups of the consuming vertex.
    pub max_parallelism: usize,
}

/// Job-wide settings.
#[derive(Clone, Debug)]
pub struct ExecutionConfig {
    /// Parallelism of operators that set none.
    pub parallelism: usize,
    /// Key groups of operators that set none.
    pub max_parallelism: usize,
    /// Whether operators may be chained at all.
    pub chaining: bool,
    /// Records per batch on channels and from sources.
    pub batch_size: usize,
    /// Batches a channel holds before the sender blocks.
    pub channel_capacity: usize,
    /// Whether batches between tasks of one process go through the edge's codec too (encoded and
    /// decoded again), as between processes: a record type that does not round-trip then fails in
    /// a local run, not first on a cluster. On in debug builds (the test suite), off in release.
    pub serialize_edges: bool,
    /// Processing-time clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            parallelism: 1,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            chaining: true,
            batch_size: 1024,
            channel_capacity: 4,
            serialize_edges: cfg!(debug_assertions),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Whether an operator chains with its neighbours (Flink's `ChainingStrategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainingStrategy {
    /// Chains with predecessor and successors where the rules allow.
    Always,
    /// Starts a new chain; successors may chain to it (`start_new_chain()`; sources).
    Head,
    /// Never chains (`disable_chaining()`).
    Never,
}

/// What a source node runs: a reader in each subtask, one split enumerator for the job.
#[derive(Clone)]
pub struct SourceNode {
    /// Creates a subtask's reader.
    pub reader: SourceFactory,
    /// Creates the job's enumerator (in the job's coordinator).
    pub enumerator: EnumeratorFactory,
}

/// What a node runs.
#[derive(Clone)]
pub enum NodeKind {
    /// A source.
    Source(SourceNode),
    /// An operator (sinks included).
    Operator(OperatorFactory),
}

/// One operator of the logical graph.
#[derive(Clone)]
pub struct StreamNode {
    /// Index in [`StreamGraph::nodes`]; creation order, which is topological.
    pub id: usize,
    /// Display name.
    pub name: String,
    /// User-given stable id.
    pub uid: Option<String>,
    /// What it does, for plans and the web UI (Flink's `setDescription`; SQL puts each
    /// operator's changelog mode and state class here).
    pub description: Option<String>,
    /// Explicit parallelism.
    pub parallelism: Option<usize>,
    /// Explicit max parallelism.
    pub max_parallelism: Option<usize>,
    /// Upper bound imposed by the operator (a socket source: 1).
    pub parallelism_limit: Option<usize>,
    /// Chaining behaviour.
    pub chaining: ChainingStrategy,
    /// Slot-sharing group.
    pub slot_sharing_group: String,
    /// What it runs.
    pub kind: NodeKind,
}

/// How an edge's records are distributed, as the API declared it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partitioning {
    /// Forward when parallelism matches, else rebalance (Flink's default).
    Default,
    /// `forward()`.
    Forward,
    /// `rebalance()`.
    Rebalance,
    /// `broadcast()`.
    Broadcast,
    /// `key_by(..)`.
    Hash,
}

/// A data edge between two nodes.
#[derive(Clone)]
pub struct StreamEdge {
    /// Producing node.
    pub source: usize,
    /// Consuming node.
    pub target: usize,
    /// Input of the consumer (0, or 1 for the second input of `connect`).
    pub input: usize,
    /// Side-output tag, `None` for the main output.
    pub tag: Option<Arc<str>>,
    /// Declared partitioning.
    pub partitioning: Partitioning,
    /// Writer factory (typed by the API).
    pub writer: WriterFactory,
    /// Decoder of the edge's batches when they cross the network.
    pub decoder: ferroflink_core::element::BatchDecoder,
    /// The record type's name: with the codec (postcard of that type), the identity of what the
    /// edge carries in the plan digest.
    pub record_type: &'static str,
}

/// The logical graph of a job.
#[derive(Clone, Default)]
pub struct StreamGraph {
    /// Nodes in creation order.
    pub nodes: Vec<StreamNode>,
    /// Edges in creation order.
    pub edges: Vec<StreamEdge>,
    /// Settings.
    pub config: ExecutionConfig,
}

impl StreamGraph {
    /// Edges into `node`.
    pub fn in_edges(&self, node: usize) -> impl Iterator<Item = (usize, &StreamEdge)> {
        self.edges.iter().enumerate().filter(move |(_, e)| e.target == node)
    }

    /// Edges out of `node`.
    pub fn out_edges(&self, node: usize) -> impl Iterator<Item = (usize, &StreamEdge)> {
        self.edges.iter().enumerate().filter(move |(_, e)| e.source == node)
    }
}

/// An operator's output that feeds an input: its main output (`tag: None`) or a side output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    /// The producing node.
    pub node: usize,
    /// The side output's tag id ([`crate::operator::OutputTag::id`]); `None` for the main output.
    pub tag: Option<Arc<str>>,
}

/// Records of `T` on their way into an operator: the outputs that produce them, and how they are
/// distributed over the consuming operator's subtasks. Their codec is `T`'s (postcard).
pub struct Input<T> {
    /// The outputs feeding the input (several: a union).
    pub producers: Vec<Producer>,
    /// How records are distributed.
    pub partitioning: Partitioning,
    writer: WriterFactory,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Input<T> {
    fn clone(&self) -> Self {
        Input {
            producers: self.producers.clone(),
            partitioning: self.partitioning,
            writer: self.writer.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Data> Input<T> {
    /// The main output of `node`, partitioned by Flink's default (forward at equal parallelism,
    /// else rebalance).
    pub fn of(node: usize) -> Input<T> {
        Input::from(Producer { node, tag: None })
    }

    /// The outputs of `producer`.
    pub fn from(producer: Producer) -> Input<T> {
        Input {
            producers: vec![producer],
            partitioning: Partitioning::Default,
            writer: plain_writer::<T>(),
            _t: PhantomData,
        }
    }

    /// Also the records of `other` (a union: the partitioning stays this input's).
    pub fn union(mut self, other: &Input<T>) -> Input<T> {
        self.producers.extend(other.producers.iter().cloned());
        self
    }

    /// Distributed as `partitioning` says; [`Partitioning::Hash`] needs a key: [`Input::keyed`].
    ///
    /// # Panics
    /// For [`Partitioning::Hash`].
    pub fn partitioned(mut self, partitioning: Partitioning) -> Input<T> {
        assert!(partitioning != Partitioning::Hash, "partitioning by key needs the key: use Input::keyed");
        self.partitioning = partitioning;
        self.writer = plain_writer::<T>();
        self
    }

    /// Partitioned by `key`: each key's records go to the subtask owning its key group.
    pub fn keyed<K: Key>(self, key: Arc<dyn Fn(&T) -> K + Send + Sync>) -> Input<T> {
        self.keyed_by_group(Arc::new(move |value: &T, assigner: &KeyGroupAssigner, scratch: &mut Vec<u8>| {
            assigner.key_group(&key(value), scratch)
        }))
    }

    /// Partitioned by key groups `key_group` gives a record (with the assigner of the job's max
    /// parallelism): it must be the key group of the record's key, computed without making the key
    /// (a key's codec bytes can often be written from the record in place).
    pub fn keyed_by_group(mut self, key_group: KeyGroupOf<T>) -> Input<T> {
        self.partitioning = Partitioning::Hash;
        self.writer = Arc::new(move |strategy, channels, p| {
            let (assigner, key_group) = (KeyGroupAssigner::new(p.max_parallelism), key_group.clone());
            let kg: KeyGroupFn<T> =
                Arc::new(move |value: &T, scratch: &mut Vec<u8>| key_group(value, &assigner, scratch));
            Box::new(PartitionWriter::<T>::new(
                channels,
                strategy,
                p.batch_size,
                p.subtask_index,
                Some((kg, p.max_parallelism)),
            ))
        });
        self
    }
}

/// The writer factory of an edge carrying `T`, unkeyed.
fn plain_writer<T: Data>() -> WriterFactory {
    Arc::new(|strategy, channels, p| {
        Box::new(PartitionWriter::<T>::new(channels, strategy, p.batch_size, p.subtask_index, None))
    })
}

/// The factory of a one-input operator: `make` creates one for every subtask (on the task's thread,
/// before `open`, so an operator's state handles need not be `Send`).
pub fn one_input<O: Operator>(make: impl Fn() -> O + Send + Sync + 'static) -> OperatorFactory {
    Arc::new(move |_: &RuntimeContext| OneInput::boxed(make()))
}

/// The factory of the operator writing to `sink` (every subtask opens its own writer).
pub fn sink<T: Data, S: Sink<T>>(sink: S) -> OperatorFactory {
    let sink = Arc::new(sink);
    Arc::new(move |_: &RuntimeContext| OneInput::boxed(SinkOperator::new(sink.clone())))
}

/// The factory of a two-input operator: `make` creates one for every subtask.
pub fn two_input<O: TwoInputOperator>(make: impl Fn() -> O + Send + Sync + 'static) -> OperatorFactory {
    Arc::new(move |_: &RuntimeContext| TwoInput::boxed(make()))
}

impl StreamGraph {
    /// Adds a node with Flink's defaults (parallelism and max parallelism of the job, slot-sharing
    /// group `default`); answers its id.
    pub fn add_node(&mut self, name: &str, kind: NodeKind, chaining: ChainingStrategy) -> usize {
        let id = self.nodes.len();
        self.nodes.push(StreamNode {
            id,
            name: name.to_string(),
            uid: None,
            description: None,
            parallelism: None,
            max_parallelism: None,
            parallelism_limit: None,
            chaining,
            slot_sharing_group: "default".into(),
            kind,
        });
        id
    }

    /// Adds a source of `T` reading `source`, with timestamps and watermarks by `strategy`.
    pub fn add_source<T: Data, S: Source<T>>(
        &mut self,
        name: &str,
        source: S,
        strategy: WatermarkStrategy<T>,
    ) -> usize {
        let limit = source.max_parallelism();
        let source = Arc::new(source);
        let enumerator = enumerator_factory(source.clone());
        let reader: SourceFactory = Arc::new(move |p: &SourceParams| {
            Box::new(TypedSourceDriver::new(
                source.clone(),
                &strategy,
                p.batch_size,
                p.clock.clone(),
                p.metrics.clone(),
            ))
        });
        let node = self.add_node(name, NodeKind::Source(SourceNode { reader, enumerator }), ChainingStrategy::Head);
        self.nodes[node].parallelism_limit = limit;
        node
    }

    /// Adds an operator (or sink) made by `factory`; connect its inputs with [`StreamGraph::connect`].
    pub fn add_operator(&mut self, name: &str, factory: OperatorFactory) -> usize {
        self.add_node(name, NodeKind::Operator(factory), ChainingStrategy::Always)
    }

    /// Connects `input` to input `index` of `node` (0, or 1 for a two-input operator's second).
    /// The node joins its inputs' slot-sharing group when they all share one (Flink's rule).
    pub fn connect<T: Data>(&mut self, input: &Input<T>, node: usize, index: usize) {
        for p in &input.producers {
            self.edges.push(StreamEdge {
                source: p.node,
                target: node,
                input: index,
                tag: p.tag.clone(),
                partitioning: input.partitioning,
                writer: input.writer.clone(),
                decoder: AnyBatch::decoder::<T>(),
                record_type: std::any::type_name::<T>(),
            });
        }
        let groups: Vec<&str> =
            self.in_edges(node).map(|(_, e)| self.nodes[e.source].slot_sharing_group.as_str()).collect();
        let group = match groups.first() {
            Some(first) if groups.iter().all(|g| g == first) => first.to_string(),
            _ => "default".to_string(),
        };
        self.nodes[node].slot_sharing_group = group;
    }

    /// Adds `text` (a line) to the description of the node with `uid`, if there is one.
    pub fn describe(&mut self, uid: &str, text: &str) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.uid.as_deref() == Some(uid)) {
            node.description = Some(match node.description.take() {
                Some(before) if !before.split('\n').any(|line| line == text) => format!("{before}\n{text}"),
                Some(before) => before,
                None => text.to_string(),
            });
        }
    }

    /// Node `node`, to set its uid, name, parallelism, chaining or slot-sharing group.
    pub fn node_mut(&mut self, node: usize) -> &mut StreamNode {
        &mut self.nodes[node]
    }
}
