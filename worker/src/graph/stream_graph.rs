//! The stream graph: one node per operator the API created, edges with their partitioning, and the
//! job-wide execution configuration. Nodes hold factories that create an operator instance per
//! subtask on the task thread; edges hold a factory for their typed record writer.

use crate::runtime::chain::ChainOperator;
use crate::runtime::context::RuntimeContext;
use crate::runtime::metrics::TaskMetrics;
use crate::runtime::partition::{ChannelSender, RecordWriter, ShipStrategy};
use crate::runtime::source::SourceDriver;
use crate::state::keygroup::DEFAULT_MAX_PARALLELISM;
use crate::time::clock::{Clock, SystemClock};
use std::sync::Arc;

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

/// What a node runs.
#[derive(Clone)]
pub enum NodeKind {
    /// A source.
    Source(SourceFactory),
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
    pub decoder: crate::runtime::element::BatchDecoder,
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
