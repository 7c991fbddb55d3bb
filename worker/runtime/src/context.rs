//! What an operator instance knows about where it runs: its task, its key-group range, its keyed
//! state backend and the processing-time clock.

use crate::metrics::TaskMetrics;
use ferroflink_core::clock::Clock;
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_state::KeyedStateBackend;
use ferroflink_state::operator::OperatorStateStore;
use ferroflink_state::s3::S3Config;
use std::sync::Arc;

/// Identity of one parallel instance of an operator.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// Name of the job.
    pub job_name: String,
    /// Name of the job vertex (the chain) this operator runs in.
    pub task_name: String,
    /// Name of the operator.
    pub operator_name: String,
    /// Stable operator id (from `uid`, else from the topology).
    pub operator_id: String,
    /// This instance's index, `0..parallelism`.
    pub subtask_index: usize,
    /// Number of parallel instances.
    pub parallelism: usize,
    /// Number of key groups.
    pub max_parallelism: usize,
}

/// Context handed to an operator's `open`.
pub struct RuntimeContext {
    /// Who this instance is.
    pub task: TaskInfo,
    /// Key groups this instance owns.
    pub key_groups: KeyGroupRange,
    /// This operator's keyed state.
    pub state: KeyedStateBackend,
    /// This operator's non-keyed state.
    pub operator_state: OperatorStateStore,
    /// Processing-time clock.
    pub clock: Arc<dyn Clock>,
    /// The task's counters (sinks add what they write).
    pub metrics: Arc<TaskMetrics>,
    /// Whether a final checkpoint (or savepoint) follows the end of input and commits what
    /// transactional sinks left pending; without one they commit when their input ends.
    pub final_checkpoint: bool,
    /// How the job reaches `s3://` locations (its checkpoint storage's settings).
    pub s3: Arc<S3Config>,
}

impl RuntimeContext {
    /// Current processing time in ms.
    pub fn processing_time(&self) -> i64 {
        self.clock.now()
    }
}
