//! ferroflink: a Flink-style dataflow engine.
//!
//! Jobs are written against the DataStream API ([`api`]), turned into a logical stream graph, chained
//! into a job graph and expanded into parallel subtasks placed in task slots ([`graph`]), and executed
//! by the runtime ([`runtime`]): one thread per subtask, exchanging batches of records and in-band
//! control events (watermarks, checkpoint barriers, end of input) over bounded channels.
//!
//! Layering (dependencies point one way): `jobs`/`cli` → `api` → `graph` → `runtime` → `state`, `time`,
//! `window`, `connectors`. The runtime knows operators only through [`runtime::operator::Operator`].
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

pub mod api;
pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod connectors;
pub mod error;
pub mod functions;
pub mod graph;
pub mod jobs;
pub mod network;
pub mod record;
pub mod runtime;
pub mod state;
pub mod time;
pub mod window;

pub use error::{Error, Result};
/// The configuration (shared with the operator): keys, Flink's names for them, the layered loader.
pub use ferroflink_types::{config, spec};

/// The names most jobs need.
pub mod prelude {
    pub use crate::api::{
        AggregateFunction, CoProcessContext, Count, DataStream, KeyedCoProcessFunction, KeyedContext,
        KeyedProcessFunction, KeyedStream, OutputTag, ProcessContext, ProcessFunction, ProcessWindowFunction,
        StreamExecutionEnvironment, WindowedStream,
    };
    pub use crate::record::{Data, Key, Record, Timestamp};
    pub use crate::time::watermark::WatermarkStrategy;
    pub use crate::window::assigner::{
        EventTimeSessionWindows, GlobalWindows, ProcessingTimeSessionWindows, SlidingEventTimeWindows,
        SlidingProcessingTimeWindows, TimeWindow, TumblingEventTimeWindows, TumblingProcessingTimeWindows,
    };
}
