//! ferroflink: a Flink-style dataflow engine.
//!
//! Jobs are written against the DataStream API ([`datastream`]), turned into a logical stream graph,
//! chained into a job graph and expanded into parallel subtasks placed in task slots
//! ([`runtime::graph`]), and executed by the runtime ([`runtime`]): one thread per subtask,
//! exchanging batches of records and in-band control events (watermarks, checkpoint barriers, end of
//! input) over bounded channels.
//!
//! This crate is the engine's one entry point: it re-exports the crates of its layers, which depend
//! on each other in one direction only (Cargo refuses a cycle):
//!
//! ```text
//! ferroflink-types       config keys, JobSpec (serde only; the operator depends on nothing else)
//! ferroflink-core        records, codecs, key groups, batches, clocks, function traits, errors
//! ferroflink-state       keyed and operator state (heap, RocksDB), TTL, timers, snapshot format,
//!                        checkpoint storage (local, S3)                              -> core
//! ferroflink-runtime     operators, chains, gates, partitioners, tasks, the job graph, checkpoints,
//!                        the data plane, the mini-cluster                            -> core, state
//! ferroflink-connectors  sources and sinks                                           -> runtime
//! ferroflink-datastream  the DataStream API, windows                                 -> runtime, connectors
//! ferroflink-cluster     JobManager, TaskManager, REST, HA; handed a [`runtime::Planner`] -> runtime
//! ferroflink             the built-in jobs and their [`jobs::Registry`], the command line ([`cli`])
//! ```
//!
//! ```
//! use ferroflink::prelude::*;
//!
//! let env = StreamExecutionEnvironment::new();
//! let words = env.from_collection(vec!["a b".to_string(), "b c".into(), "b".into()]);
//! let counts = words
//!     .flat_map(|line: String| line.split(' ').map(|w| (w.to_string(), 1u64)).collect::<Vec<_>>())
//!     .key_by(|(w, _): &(String, u64)| w.clone())
//!     .reduce(|a, b| (a.0, a.1 + b.1))
//!     .collect();
//! env.execute("doc").unwrap();
//! let mut finals = counts.take();
//! finals.sort();
//! assert!(finals.contains(&("b".to_string(), 3)));
//! ```

pub mod cli;
pub mod jobs;
pub mod sql_client;
pub mod state_bench;

/// The cluster: JobManager, TaskManager, REST, HA (`ferroflink-cluster`).
pub use ferroflink_cluster as cluster;
/// Sources and sinks (`ferroflink-connectors`).
pub use ferroflink_connectors as connectors;
/// Records, codecs, key groups, batches, clocks, function traits and errors (`ferroflink-core`).
pub use ferroflink_core::{Error, Result, clock, codec, element, error, functions, keygroup, record};
/// The DataStream API and windows (`ferroflink-datastream`).
pub use ferroflink_datastream as datastream;
/// Operators, tasks, the job graph, checkpoints, the data plane, the mini-cluster (`ferroflink-runtime`).
pub use ferroflink_runtime as runtime;
/// Flink SQL: the dialect, the planner, the table connectors (`ferroflink-sql`).
pub use ferroflink_sql as sql;
/// Keyed and operator state, their backends and snapshot format, checkpoint storage (`ferroflink-state`).
pub use ferroflink_state as state;
/// The configuration (shared with the operator): keys, Flink's names for them, the layered loader.
pub use ferroflink_types::{config, spec};

/// The names most jobs need.
pub mod prelude {
    pub use crate::datastream::window::assigner::{
        EventTimeSessionWindows, GlobalWindows, ProcessingTimeSessionWindows, SlidingEventTimeWindows,
        SlidingProcessingTimeWindows, TimeWindow, TumblingEventTimeWindows, TumblingProcessingTimeWindows,
    };
    pub use crate::datastream::{
        AggregateFunction, CoProcessContext, Count, DataStream, KeyedCoProcessFunction, KeyedContext,
        KeyedProcessFunction, KeyedStream, OutputTag, ProcessContext, ProcessFunction, ProcessWindowFunction,
        StreamExecutionEnvironment, WindowedStream,
    };
    pub use crate::record::{Data, Key, Record, Timestamp};
    pub use crate::runtime::watermark::WatermarkStrategy;
}
