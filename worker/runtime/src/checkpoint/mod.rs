//! Checkpoints and savepoints: the coordinator that triggers them and completes them
//! ([`coordinator`]), where their files go ([`ferroflink_state::storage`]), their format ([`metadata`]) and how a job
//! restores from one at any parallelism ([`restore`]).
//!
//! The protocol (aligned barriers): the coordinator sends a trigger to every task; source tasks
//! snapshot their split positions and operator state and emit a barrier into their outputs; a task
//! with inputs snapshots when the barrier arrived on every input (the gate blocks inputs that
//! delivered theirs); a task that already finished snapshots its final state on the trigger. Each
//! snapshot goes to the coordinator, which writes the state files (off the task threads) and, when
//! every task's snapshot is stored, writes `_metadata` last and tells every task the checkpoint
//! completed, which is when transactional sinks commit.

pub mod coordinator;
pub mod metadata;
pub mod restore;

use ferroflink_core::element::CheckpointBarrier;
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_state::incremental::IncrementalSnapshot;
use ferroflink_state::s3::S3Config;
use ferroflink_state::snapshot::OperatorSubtaskState;
use std::time::Duration;

/// Checkpointing settings of a job.
#[derive(Clone, Debug)]
pub struct CheckpointConfig {
    /// Time between periodic checkpoints (`None`: no periodic checkpoints).
    pub interval: Option<Duration>,
    /// Where checkpoints go (a directory or `s3://bucket/prefix`): `<dir>/<job id>/chk-<n>`;
    /// `None`: no checkpoints (savepoints still work).
    pub dir: Option<String>,
    /// A checkpoint not completed after this long is aborted.
    pub timeout: Duration,
    /// Minimum time between the end of one checkpoint and the start of the next.
    pub min_pause: Duration,
    /// Checkpoints in flight at once.
    pub max_concurrent: usize,
    /// Completed checkpoints kept; older ones are deleted.
    pub retained: usize,
    /// When every task finished, take the final snapshot as a savepoint here.
    pub final_savepoint_dir: Option<String>,
    /// Default target of savepoints triggered while the job runs.
    pub savepoint_dir: Option<String>,
    /// How `s3://` locations are reached.
    pub s3: S3Config,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            interval: None,
            dir: None,
            timeout: Duration::from_secs(600),
            min_pause: Duration::ZERO,
            max_concurrent: 1,
            retained: 1,
            final_savepoint_dir: None,
            savepoint_dir: None,
            s3: S3Config::from_env(),
        }
    }
}

impl CheckpointConfig {
    /// Whether the job writes checkpoints (and so runs its sinks exactly once).
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// Whether finished tasks wait for a final checkpoint or savepoint before they end.
    pub fn has_final_snapshot(&self) -> bool {
        self.dir.is_some() || self.final_savepoint_dir.is_some()
    }
}

/// What the coordinator tells a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskCommand {
    /// Take part in checkpoint `barrier.id`: sources (and finished tasks) snapshot now.
    Trigger(CheckpointBarrier),
    /// The checkpoint (or savepoint) completed: commit what belongs to it; with `then_exit`, stop
    /// afterwards (stop-with-savepoint, or the job's final checkpoint).
    Complete {
        /// The completed checkpoint.
        checkpoint_id: u64,
        /// End the task after committing.
        then_exit: bool,
    },
}

/// The state of one operator instance in a task's snapshot.
#[derive(Debug)]
pub struct SubtaskSnapshot {
    /// Stable operator id.
    pub operator_id: String,
    /// Operator name.
    pub name: String,
    /// Subtask index.
    pub subtask: usize,
    /// Parallelism of the operator.
    pub parallelism: usize,
    /// Its max parallelism.
    pub max_parallelism: usize,
    /// Key groups the instance owns.
    pub key_groups: KeyGroupRange,
    /// The state (with an incremental snapshot: the timers and operator state only).
    pub state: OperatorSubtaskState,
    /// The keyed state's database files, when the backend snapshotted incrementally.
    pub incremental: Option<IncrementalSnapshot>,
}

/// One task's part of a checkpoint.
#[derive(Debug)]
pub struct TaskSnapshot {
    /// Execution attempt of the job the task belongs to.
    pub attempt: u64,
    /// The checkpoint.
    pub checkpoint_id: u64,
    /// Index of the task in the attempt.
    pub task: usize,
    /// Its operators' states.
    pub states: Vec<SubtaskSnapshot>,
}

/// Where a job reports what another JobManager would resume it from (JobManager HA): the
/// checkpoint-id counter, its latest completed checkpoint, and how it ended.
pub trait JobRecorder: Send + Sync + std::fmt::Debug {
    /// The smallest checkpoint id the job may use.
    fn next_checkpoint_id(&self) -> u64;
    /// Checkpoint (or savepoint) `id` starts. An error (a deposed leader) skips it.
    fn checkpoint_started(&self, id: u64) -> ferroflink_core::error::Result<()>;
    /// Checkpoint or savepoint `id` at `location` completed, before any task commits its side
    /// effects; with `resume_here`, a new leader resumes the job from it. An error (a deposed
    /// leader) fails it: nothing commits.
    fn checkpoint_completed(&self, id: u64, location: &str, resume_here: bool) -> ferroflink_core::error::Result<()>;
    /// The job ended in `state`.
    fn ended(&self, state: crate::minicluster::JobState, error: Option<&str>);
}
