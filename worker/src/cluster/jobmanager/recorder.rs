//! HA recording: a job's checkpoints and end written to the HA records by the leader of an epoch,
//! so a JobManager that takes over resumes the job from them.

use super::*;

/// Records a job's checkpoints and end in the HA records, as the leader of `epoch`.
pub(super) struct HaRecorder {
    pub(super) ha: Arc<HaServices>,
    pub(super) epoch: u64,
    pub(super) job_id: String,
    pub(super) first_checkpoint: u64,
    pub(super) suspended: Arc<AtomicBool>,
}

impl std::fmt::Debug for HaRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaRecorder").field("job_id", &self.job_id).field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

impl HaRecorder {
    fn update(&self, f: impl Fn(&mut JobRecord)) -> Result<()> {
        let found = std::cell::Cell::new(true);
        self.ha.update_job(self.epoch, &self.job_id, |r| {
            found.set(r.is_some());
            let mut r = r.cloned()?;
            f(&mut r);
            Some(r)
        })?;
        if found.get() {
            Ok(())
        } else {
            Err(Error::Cluster(format!(
                "job {} has no HA record at {} (deleted by hand?); it cannot commit, cancel and submit it again",
                self.job_id,
                self.ha.describe()
            )))
        }
    }
}

impl JobRecorder for HaRecorder {
    fn next_checkpoint_id(&self) -> u64 {
        self.first_checkpoint
    }

    fn checkpoint_started(&self, id: u64) -> Result<()> {
        self.update(|r| r.checkpoint_counter = r.checkpoint_counter.max(id + 1))
    }

    fn checkpoint_completed(&self, _id: u64, location: &str, resume_here: bool) -> Result<()> {
        // A fenced write either way: only the leader's snapshots commit.
        self.update(|r| {
            if resume_here {
                r.resume_from = Some(location.to_string());
            }
        })
    }

    fn ended(&self, state: JobState, error: Option<&str>) {
        if self.suspended.load(Ordering::SeqCst) {
            return;
        }
        let recorded = match state {
            JobState::Finished => RecordedState::Finished,
            JobState::Failed => RecordedState::Failed,
            JobState::Canceled => RecordedState::Canceled,
            JobState::Created | JobState::Running | JobState::Restarting => return,
        };
        let result = self.update(|r| {
            r.state = recorded;
            r.error = error.map(str::to_string);
            r.ended_ms = Some(now_ms());
        });
        if let Err(e) = result {
            tracing::error!(job_id = %self.job_id, "cannot record that the job ended ({state:?}): {e}");
        }
    }
}
