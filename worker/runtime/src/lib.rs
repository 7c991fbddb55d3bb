//! The runtime: operators, operator chains, the exchange between tasks, tasks, the job graph and
//! the public API planners build it with ([`graph`]), the keyed-operator base ([`keyed`]), sources
//! as split enumerators plus readers ([`source`], [`source_coordinator`]), checkpoints
//! ([`checkpoint`]), the data plane between processes ([`network`]), watermark generation
//! ([`watermark`]), how a process plans a job spec ([`Planner`]) and the local mini-cluster that
//! runs it all.
//!
//! The unit of data movement is a batch of records ([`ferroflink_core::element::AnyBatch`]);
//! watermarks, watermark status, checkpoint barriers and end of input travel in-band between
//! batches ([`ferroflink_core::element::Element`]). The runtime never imports the API layer: it sees
//! operators through [`operator::Operator`] (typed) and [`chain::ChainOperator`] (type-erased per
//! batch, not per record).

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
