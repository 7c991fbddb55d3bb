//! The DataStream API, modelled on Flink's: an environment creates sources; streams are transformed
//! with `map`, `flat_map`, `filter`, `process`, partitioned with `key_by`, `rebalance`, `broadcast`,
//! combined with `union` and `connect`, windowed with `window(..)`, and written to sinks. Every
//! operator can set its `name`, `uid`, parallelism, max parallelism, slot-sharing group and chaining.
//!
//! Building a job only records a graph; `execute` runs it on the local mini-cluster.

mod connected;
mod datastream;
mod environment;
mod functions;
mod keyed;
mod operators;
pub mod window;
mod windowed;

pub use connected::{
    CoProcessContext, CoProcessFunction, ConnectedStreams, KeyedCoProcessFunction, KeyedConnectedStreams,
};
pub use datastream::{CollectedResults, DataStream};
pub use environment::StreamExecutionEnvironment;
pub use ferroflink_core::functions::{AggregateFunction, Count};
pub use ferroflink_runtime::operator::OutputTag;
pub use functions::{
    KeyedContext, KeyedProcessFunction, ProcessContext, ProcessFunction, ProcessWindowFunction, TimeDomain,
};
pub use keyed::KeyedStream;
pub use windowed::WindowedStream;
