//! The runtime: operators, operator chains, the exchange between tasks, tasks and the local
//! mini-cluster that runs them.
//!
//! The unit of data movement is a batch of records ([`element::AnyBatch`]); watermarks, watermark
//! status, checkpoint barriers and end of input travel in-band between batches ([`element::Element`]).
//! The runtime never imports the API layer: it sees operators through [`operator::Operator`] (typed)
//! and [`chain::ChainOperator`] (type-erased per batch, not per record).

pub mod chain;
pub mod codec;
pub mod context;
pub mod deploy;
pub mod element;
pub mod gate;
pub mod metrics;
pub mod minicluster;
pub mod operator;
pub mod partition;
pub mod restart;
pub mod sink;
pub mod source;
pub mod task;
