//! What the engine's processes and the Kubernetes operator share, with nothing of the engine in it:
//! the configuration (our keys and Flink's names for them, Flink's value forms, the layered loader)
//! and the job spec every process plans a job from.
//! The operator depends on this crate alone, so it renders and checks a FlinkJob's `config` with
//! the same table the engine reads it with.

pub mod config;
pub mod spec;
