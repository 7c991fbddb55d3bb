//! The split enumerators of one execution attempt (Flink's `SourceCoordinator`): one per source of
//! the job, created when the attempt starts (from the restored checkpoint's enumerator states),
//! answering the readers' split requests (directly in this process, through the JobManager's RPC
//! service for TaskManagers), and snapshotted when a checkpoint is triggered, before any barrier.
//!
//! From that snapshot until a reader's task has taken the same checkpoint, the reader gets no split
//! (it asks again shortly): a split is then either the enumerator's or a reader's in every
//! checkpoint, never both and never neither.

use crate::checkpoint::metadata::EnumeratorState;
use crate::checkpoint::restore::RestoredSnapshot;
use crate::graph::job_graph::JobGraph;
use crate::graph::stream_graph::NodeKind;
use crate::source::{EnumeratorDriver, SplitAnswer, SplitRequester};
use ferroflink_core::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// How soon a reader held back by a checkpoint in progress asks again.
const HELD_BACK: Duration = Duration::from_millis(5);

/// See the module documentation.
pub struct SourceCoordinator {
    inner: Mutex<Inner>,
}

struct Inner {
    /// By source operator id.
    enumerators: BTreeMap<String, Box<dyn EnumeratorDriver>>,
    /// The newest checkpoint the enumerators were snapshotted for.
    snapshotted: u64,
}

impl SourceCoordinator {
    /// The enumerators of every source of `job`, new or restored from `restored`.
    pub fn start(job: &JobGraph, restored: Option<&RestoredSnapshot>) -> Result<SourceCoordinator> {
        let mut enumerators = BTreeMap::new();
        for (node, n) in job.graph.nodes.iter().enumerate() {
            let NodeKind::Source(source) = &n.kind else { continue };
            let operator_id = &job.operator_ids[node];
            let state = match restored {
                None => None,
                Some(r) => match r.metadata.enumerator(operator_id) {
                    Some(state) => Some(state.bytes()?),
                    // A snapshot from before enumerators: its readers were given every split when
                    // they started, so the ones they hold are all that is left.
                    None if r.metadata.operator(operator_id).is_some() => Some(Vec::new()),
                    None => None,
                },
            };
            enumerators.insert(operator_id.clone(), (source.enumerator)(job.parallelism[node], state.as_deref())?);
        }
        Ok(SourceCoordinator { inner: Mutex::new(Inner { enumerators, snapshotted: 0 }) })
    }

    /// Every enumerator's state, for checkpoint `checkpoint_id` being triggered.
    pub fn snapshot(&self, checkpoint_id: u64) -> Result<Vec<EnumeratorState>> {
        let mut inner = self.inner.lock().expect("enumerator lock");
        inner.snapshotted = inner.snapshotted.max(checkpoint_id);
        inner.enumerators.iter().map(|(id, e)| Ok(EnumeratorState::new(id, &e.snapshot()?))).collect()
    }
}

impl SplitRequester for SourceCoordinator {
    fn request(&self, operator_id: &str, subtask: usize, checkpoint: u64) -> Result<SplitAnswer<Vec<u8>>> {
        let mut inner = self.inner.lock().expect("enumerator lock");
        if checkpoint < inner.snapshotted {
            return Ok(SplitAnswer::NoneYet(HELD_BACK));
        }
        let Some(enumerator) = inner.enumerators.get_mut(operator_id) else {
            return Err(Error::Internal(format!(
                "a reader asked for a split of source {operator_id}, which this job does not have"
            )));
        };
        enumerator.next_split(subtask)
    }
}
