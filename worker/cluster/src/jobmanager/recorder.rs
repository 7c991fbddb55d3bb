//! HA recording: a job's checkpoints and end written to the HA records by the leader of an epoch,
//! so a JobManager that takes over resumes the job from them.

use super::*;
use crate::ha::INLINE_SPEC_BYTES;
use ferroflink_state::storage;

impl Cluster {
    /// How job `job_id`'s record holds `spec`: inline when small, else stored as its own file under
    /// `ha.dir` (else the job's checkpoint storage) and named by its location.
    pub(super) fn record_spec(&self, job_id: &str, spec: &JobSpec) -> Result<(Option<JobSpec>, Option<String>)> {
        let json = serde_json::to_vec(spec).expect("a spec serializes");
        if json.len() <= INLINE_SPEC_BYTES {
            return Ok((Some(spec.clone()), None));
        }
        let Some(dir) = self.config.ha.dir.as_deref().or(spec.settings.checkpointing.dir.as_deref()) else {
            return Err(Error::InvalidJob(format!(
                "the spec of job {job_id} is {} bytes, too large for the HA records (at most \
                 {INLINE_SPEC_BYTES}); set ha.dir (Flink's high-availability.storageDir) or checkpointing.dir \
                 so it can be stored there",
                json.len()
            )));
        };
        let store = storage::open(dir, &S3Config::from(&spec.settings.s3))?;
        let path = format!("job-specs/{job_id}.json");
        store.write(&path, &json)?;
        Ok((None, Some(store.location(&path))))
    }

    /// The spec of a recorded job: inline, stored beside the records, or (records of ferroflink
    /// 0.1) its built-in name and command line, planned into a spec with this JobManager's job settings.
    pub(super) fn recorded_spec(&self, record: &JobRecord) -> Result<JobSpec> {
        if let Some(spec) = &record.spec {
            return Ok(spec.clone());
        }
        if let Some(location) = &record.spec_location {
            let (dir, file) = location.rsplit_once('/').unwrap_or((".", location));
            let bytes = storage::open(dir, &S3Config::from(&self.config.s3))?.read(file)?;
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::Cluster(format!("the stored spec of job {} at {location} is not a job spec: {e}", record.id))
            });
        }
        let Some(name) = &record.legacy.builtin else {
            return Err(Error::Cluster(format!("the HA record of job {} holds no job spec", record.id)));
        };
        self.planner.command_line_spec(name, &record.legacy.args, &self.config)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_runtime::planner::PlannedJob;

    /// A binary that knows no jobs: recording specs plans none.
    #[derive(Debug)]
    struct NoJobs;

    impl Planner for NoJobs {
        fn plan(&self, spec: &JobSpec) -> Result<PlannedJob> {
            Err(Error::InvalidJob(format!("unknown job '{}'", spec.name())))
        }
        fn knows(&self, _: &str) -> bool {
            false
        }
        fn names(&self) -> String {
            String::new()
        }
        fn command_line_spec(&self, name: &str, _: &[String], _: &Config) -> Result<JobSpec> {
            Err(Error::InvalidJob(format!("unknown job '{name}'")))
        }
    }

    fn record(id: &str, spec: Option<JobSpec>, spec_location: Option<String>) -> JobRecord {
        JobRecord {
            id: id.into(),
            name: "nexmark".into(),
            spec,
            spec_location,
            legacy: Default::default(),
            state: RecordedState::Running,
            error: None,
            submitted_ms: 0,
            ended_ms: None,
            checkpoint_counter: 1,
            resume_from: None,
            allow_non_restored_state: false,
        }
    }

    /// A small spec stays in the record; a large one is stored under `ha.dir` and read back whole;
    /// without a place to store it the job is refused, naming the keys that give one.
    #[test]
    fn large_specs_are_stored_beside_the_records() {
        let dir = std::env::temp_dir().join(format!("ff-spec-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = Config::default();
        config.ha.dir = Some(dir.to_str().unwrap().into());
        let cluster = Cluster::new(config, Arc::new(NoJobs), None);

        let small = JobSpec::registered("nexmark", &["--query".into(), "q1".into()]);
        let (inline, location) = cluster.record_spec("small", &small).unwrap();
        assert_eq!((inline.as_ref(), location), (Some(&small), None));

        let long: Vec<String> = (0..4000).map(|i| format!("--arg-{i}")).collect();
        let large = JobSpec::registered("nexmark", &long);
        let (inline, location) = cluster.record_spec("0123abcd", &large).unwrap();
        let location = location.expect("a large spec is stored");
        assert!(inline.is_none() && location.ends_with("job-specs/0123abcd.json"), "{location}");
        assert!(serde_json::to_vec(&record("0123abcd", None, Some(location.clone()))).unwrap().len() < 1024);
        assert_eq!(cluster.recorded_spec(&record("0123abcd", None, Some(location))).unwrap(), large);

        let nowhere = Cluster::new(Config::default(), Arc::new(NoJobs), None);
        let error = nowhere.record_spec("0123abcd", &large).unwrap_err().to_string();
        assert!(error.contains("too large for the HA records") && error.contains("ha.dir"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
