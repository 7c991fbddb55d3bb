//! The runtime: operators, operator chains, the exchange between tasks, tasks, the job graph
//! ([`graph`]), checkpoints ([`checkpoint`]), the data plane between processes ([`network`]),
//! watermark generation ([`watermark`]) and the local mini-cluster that runs them.
//!
//! The unit of data movement is a batch of records ([`element::AnyBatch`]); watermarks, watermark
//! status, checkpoint barriers and end of input travel in-band between batches ([`element::Element`]).
//! The runtime never imports the API layer: it sees operators through [`operator::Operator`] (typed)
//! and [`chain::ChainOperator`] (type-erased per batch, not per record).

pub mod chain;
pub mod checkpoint;
pub mod context;
pub mod deploy;
pub mod gate;
pub mod graph;
pub mod keyed;
pub mod metrics;
pub mod minicluster;
pub mod network;
pub mod operator;
pub mod partition;
pub mod planner;
pub mod restart;
pub mod sink;
pub mod source;
pub mod source_coordinator;
pub mod task;
pub mod watermark;

pub use planner::{PlannedJob, Planner};

/// The engine version TaskManagers must share with their JobManager (and data-plane peers with each other).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
