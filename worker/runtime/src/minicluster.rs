//! Running a job: the supervisor that starts execution attempts under the job's restart strategy
//! and checkpoint coordinator, and the local mini-cluster (N task managers × M slots inside one
//! process) that is one way to run the attempts. The JobManager's launcher, which deploys attempts
//! to TaskManager processes, is the other. The first failing task cancels the others; its error is
//! the attempt's.

use crate::checkpoint::coordinator::{
    AttemptProgress, AttemptTasks, CompletedCheckpoint, Coordinator, SavepointTrigger,
};
use crate::checkpoint::restore::{RestoreMode, RestoreSettings, RestoredSnapshot};
use crate::checkpoint::{CheckpointConfig, JobRecorder};
use crate::deploy::{Deployment, deploy, panic_message};
use crate::graph::execution::{place, slots_needed};
use crate::graph::job_graph::JobGraph;
use crate::metrics::{TaskMetrics, TaskMetricsSnapshot};
use crate::restart::{RestartStrategy, RestartTracker};
use crate::source_coordinator::SourceCoordinator;
use crossbeam_channel::Receiver;
use ferroflink_core::error::{Domain, Error, Result};
use ferroflink_state::StateBackendConfig;
use ferroflink_state::rocksdb::RocksDbResources;
use ferroflink_state::s3::S3Config;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xxhash_rust::xxh64::xxh64;

/// Size of the local cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiniClusterConfig {
    /// Task managers.
    pub task_managers: usize,
    /// Slots per task manager; `None`: as many as the job needs on one task manager.
    pub slots_per_task_manager: Option<usize>,
}

impl Default for MiniClusterConfig {
    fn default() -> Self {
        MiniClusterConfig { task_managers: 1, slots_per_task_manager: None }
    }
}

/// How a job runs: cluster size, checkpoints, restore, restarts and identity.
#[derive(Clone, Debug, Default)]
pub struct ExecutionSettings {
    /// Size of the local cluster.
    pub cluster: MiniClusterConfig,
    /// Checkpointing.
    pub checkpoint: CheckpointConfig,
    /// Start from a checkpoint or savepoint.
    pub restore: Option<RestoreSettings>,
    /// Restart strategy (`None`: Flink's default for the checkpoint settings).
    pub restart: Option<RestartStrategy>,
    /// Job id (`None`: derived from the job name and its operator ids, see [`derive_job_id`]).
    pub job_id: Option<String>,
    /// Keyed state backend.
    pub state_backend: StateBackendConfig,
    /// Where the job's checkpoints and end are recorded for another JobManager (HA).
    pub recorder: Option<Arc<dyn JobRecorder>>,
}

/// The id of a job that was not given one: 32 hex digits, the xxHash64 of the job name followed by
/// the xxHash64 of its operator ids in order. The same program under the same name always gets the
/// same id, so its checkpoints are found again at `<checkpoint dir>/<job id>/`.
pub fn derive_job_id(job_name: &str, job: &JobGraph) -> String {
    format!("{:016x}{:016x}", xxh64(job_name.as_bytes(), 0), xxh64(job.operator_ids.join(",").as_bytes(), 0))
}

/// Metrics of one vertex after the run.
#[derive(Clone, Debug, Default)]
pub struct VertexResult {
    /// Vertex name.
    pub name: String,
    /// Per subtask.
    pub subtasks: Vec<TaskMetricsSnapshot>,
}

/// The outcome of a job.
#[derive(Clone, Debug)]
pub struct JobResult {
    /// Job name.
    pub job_name: String,
    /// Job id.
    pub job_id: String,
    /// Wall time.
    pub duration: Duration,
    /// Per vertex, of the last execution attempt.
    pub vertices: Vec<VertexResult>,
    /// Whether it was cancelled or stopped (rather than finishing).
    pub cancelled: bool,
    /// The savepoint taken as it stopped or ended.
    pub savepoint: Option<String>,
    /// Restarts after failures.
    pub restarts: usize,
    /// The failure behind each restart, oldest first (Flink's exception history).
    pub failures: Vec<String>,
    /// Checkpoints and savepoints completed, oldest first.
    pub checkpoints: Vec<CompletedCheckpoint>,
    /// Checkpoints that failed or timed out.
    pub failed_checkpoints: usize,
    /// The checkpoint or savepoint the first attempt restored.
    pub restored_from: Option<u64>,
}

impl JobResult {
    /// Records read by all sources (in the last attempt).
    pub fn source_records(&self, job: &JobGraph) -> u64 {
        job.vertices
            .iter()
            .filter(|v| v.is_source)
            .flat_map(|v| self.vertices[v.index].subtasks.iter())
            .map(|s| s.records_in)
            .sum()
    }

    /// The vertex whose name contains `name`.
    pub fn vertex(&self, name: &str) -> Option<&VertexResult> {
        self.vertices.iter().find(|v| v.name.contains(name))
    }
}

/// A job's state, by Flink's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    /// Accepted; its tasks are not deployed yet (waiting for slots, or restoring).
    Created,
    /// Its tasks are deployed.
    Running,
    /// An attempt failed; the next one starts after the restart delay.
    Restarting,
    /// Every task finished.
    Finished,
    /// Failed and not restarted.
    Failed,
    /// Cancelled, or stopped with a savepoint.
    Canceled,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Finished | JobState::Failed | JobState::Canceled)
    }
}

/// What the handle, the supervisor and signal handlers share.
struct JobShared {
    user_cancelled: AtomicBool,
    attempt_cancel: Mutex<Arc<AtomicBool>>,
    metrics: Mutex<Vec<Vec<Arc<TaskMetrics>>>>,
    /// The state and, while it is not running as asked, why.
    state: Mutex<(JobState, Option<String>)>,
    /// When it ended.
    ended: Mutex<Option<std::time::SystemTime>>,
    /// Restarts so far.
    restarts: std::sync::atomic::AtomicUsize,
}

impl JobShared {
    fn cancel(&self) {
        self.user_cancelled.store(true, Ordering::SeqCst);
        self.attempt_cancel.lock().expect("job lock").store(true, Ordering::SeqCst);
    }

    fn set_state(&self, state: JobState, why: Option<String>) {
        if state.is_terminal() {
            *self.ended.lock().expect("job lock") = Some(std::time::SystemTime::now());
        }
        *self.state.lock().expect("job lock") = (state, why);
    }
}

/// Cancels a job from any thread (a signal handler, a REST call).
#[derive(Clone)]
pub struct Canceller(Arc<JobShared>);

impl Canceller {
    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// A running job.
pub struct JobHandle {
    job_id: String,
    shared: Arc<JobShared>,
    coordinator: Arc<Coordinator>,
    job: Arc<JobGraph>,
    supervisor: JoinHandle<Result<JobResult>>,
}

impl JobHandle {
    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The job's graph.
    pub fn job(&self) -> &Arc<JobGraph> {
        &self.job
    }

    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    /// A handle that cancels the job from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.shared.clone())
    }

    /// Triggers a savepoint into `dir` (with `stop`, the job stops once it is complete); the
    /// receiver gets the savepoint's location.
    pub fn savepoint(&self, dir: &str, stop: bool) -> Receiver<Result<String>> {
        self.coordinator.trigger_savepoint(dir, stop)
    }

    /// Triggers savepoints from another thread.
    pub fn savepoint_trigger(&self) -> SavepointTrigger {
        self.coordinator.savepoint_trigger()
    }

    /// Checkpoints completed so far.
    pub fn checkpoints(&self) -> Vec<CompletedCheckpoint> {
        self.coordinator.history()
    }

    /// Checkpoints that failed so far.
    pub fn failed_checkpoints(&self) -> usize {
        self.coordinator.failed()
    }

    /// The job's state and, while it waits or restarts, why.
    pub fn state(&self) -> (JobState, Option<String>) {
        self.shared.state.lock().expect("job lock").clone()
    }

    /// When the job ended (`None` while it runs).
    pub fn end_time(&self) -> Option<std::time::SystemTime> {
        *self.shared.ended.lock().expect("job lock")
    }

    /// How often the job restarted so far.
    pub fn restarts(&self) -> usize {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// Per vertex, the counters of the current attempt so far.
    pub fn vertices(&self) -> Vec<VertexResult> {
        results(&self.job, &self.shared.metrics.lock().expect("job lock"))
    }

    /// (records read by sources, records written by sinks) so far in the current attempt.
    pub fn progress(&self) -> (u64, u64) {
        let mut read = 0;
        let mut written = 0;
        for (v, tasks) in self.shared.metrics.lock().expect("job lock").iter().enumerate() {
            for m in tasks {
                if self.job.vertices[v].is_source {
                    read += m.records_in.load(Ordering::Relaxed);
                }
                written += m.sink_records.load(Ordering::Relaxed);
            }
        }
        (read, written)
    }

    /// Whether the job has ended.
    pub fn is_finished(&self) -> bool {
        self.supervisor.is_finished()
    }

    /// Waits for the job to end.
    pub fn wait(self) -> Result<JobResult> {
        match self.supervisor.join() {
            Ok(r) => r,
            Err(panic) => Err(Error::TaskFailed {
                task: "job supervisor".into(),
                message: panic_message(&panic),
                cause: Domain::Internal,
            }),
        }
    }
}

fn results(job: &JobGraph, metrics: &[Vec<Arc<TaskMetrics>>]) -> Vec<VertexResult> {
    job.vertices
        .iter()
        .zip(metrics)
        .map(|(v, tasks)| VertexResult { name: v.name.clone(), subtasks: tasks.iter().map(|m| m.snapshot()).collect() })
        .collect()
}

/// One execution attempt to start.
pub struct AttemptSpec {
    /// The job.
    pub job: Arc<JobGraph>,
    /// Its name.
    pub job_name: String,
    /// Attempt number, from 1.
    pub number: u64,
    /// The snapshot the attempt restores.
    pub restored: Option<Arc<RestoredSnapshot>>,
    /// Set to stop the attempt's tasks.
    pub cancel: Arc<AtomicBool>,
    /// Per vertex, per subtask: the counters the tasks (or their reports) update.
    pub metrics: Vec<Vec<Arc<TaskMetrics>>>,
    /// The job's checkpoint coordinator, which the launcher hands the attempt's tasks to.
    pub coordinator: Arc<Coordinator>,
    /// The attempt's split enumerators, which its source readers ask for splits.
    pub sources: Arc<SourceCoordinator>,
    /// Where the launcher says why the attempt cannot start yet.
    pub status: StatusReporter,
}

/// Lets a launcher say why a job is not running yet (shown with its state).
#[derive(Clone)]
pub struct StatusReporter(Arc<JobShared>);

impl StatusReporter {
    /// The job waits, for `why`.
    pub fn waiting(&self, why: String) {
        self.0.state.lock().expect("job lock").1 = Some(why);
    }

    /// The job no longer waits.
    pub fn clear(&self) {
        self.0.state.lock().expect("job lock").1 = None;
    }
}

/// Starts execution attempts of a job: in this process, or on TaskManagers.
pub trait Launcher: Send + Sync + 'static {
    /// Deploys the attempt's tasks and registers them with the coordinator
    /// ([`Coordinator::set_attempt`]). May wait (for task slots) until `spec.cancel` is set.
    fn launch(&self, spec: AttemptSpec) -> Result<Box<dyn RunningAttempt>>;
}

/// An attempt whose tasks were deployed.
pub trait RunningAttempt: Send {
    /// Waits until every task ended; the first real failure is the attempt's.
    fn join(&mut self) -> Result<()>;
}

/// Runs `job` on a mini-cluster and waits for it.
pub fn execute(job: &JobGraph, job_name: &str, settings: &ExecutionSettings) -> Result<JobResult> {
    submit(job, job_name, settings)?.wait()
}

/// Starts `job` on a mini-cluster: restores it if asked, runs it under its restart strategy, and
/// checkpoints it if configured.
pub fn submit(job: &JobGraph, job_name: &str, settings: &ExecutionSettings) -> Result<JobHandle> {
    let launcher = LocalLauncher::new(settings);
    launcher.check_slots(job)?;
    supervise(job, job_name, settings, Arc::new(launcher))
}

/// Starts `job`: restores it if asked, starts its checkpoint coordinator, and runs attempts
/// through `launcher` under the restart strategy until the job ends.
pub fn supervise(
    job: &JobGraph,
    job_name: &str,
    settings: &ExecutionSettings,
    launcher: Arc<dyn Launcher>,
) -> Result<JobHandle> {
    let job_id = settings.job_id.clone().unwrap_or_else(|| derive_job_id(job_name, job));
    let restored = match &settings.restore {
        Some(r) => {
            let snapshot = RestoredSnapshot::load(r, &settings.checkpoint.s3)?;
            snapshot.check_fits(job.operators())?;
            tracing::info!(
                checkpoint_id = snapshot.metadata.checkpoint_id,
                location = %snapshot.location(),
                "restoring the job"
            );
            Some(Arc::new(snapshot))
        }
        None => None,
    };
    let restored_from = restored.as_ref().map(|r| r.metadata.checkpoint_id);
    let coordinator = Arc::new(Coordinator::start(
        settings.checkpoint.clone(),
        &job_id,
        job_name,
        restored.as_deref(),
        settings.recorder.clone(),
    )?);
    let shared = Arc::new(JobShared {
        user_cancelled: AtomicBool::new(false),
        attempt_cancel: Mutex::new(Arc::new(AtomicBool::new(false))),
        metrics: Mutex::new(Vec::new()),
        state: Mutex::new((JobState::Created, None)),
        ended: Mutex::new(None),
        restarts: std::sync::atomic::AtomicUsize::new(0),
    });
    let job = Arc::new(job.clone());
    let run = Supervisor {
        job: job.clone(),
        job_id: job_id.clone(),
        job_name: job_name.to_string(),
        coordinator: coordinator.clone(),
        shared: shared.clone(),
        launcher,
    };
    let strategy = settings.restart.unwrap_or_else(|| RestartStrategy::default_for(settings.checkpoint.enabled()));
    let allow_non_restored = settings.restore.as_ref().is_some_and(|r| r.allow_non_restored_state);
    let recorder = settings.recorder.clone();
    let supervisor = std::thread::Builder::new()
        .name("job-supervisor".into())
        .spawn(move || {
            let result = run.supervise(strategy, restored, restored_from, allow_non_restored);
            let state = match &result {
                Ok(r) if r.cancelled => JobState::Canceled,
                Ok(_) => JobState::Finished,
                Err(Error::Cancelled) => JobState::Canceled,
                Err(_) => JobState::Failed,
            };
            let why = result.as_ref().err().map(|e| e.to_string());
            tracing::info!(job_id = %run.job_id, ?state, "job ended{}", why.as_ref().map_or(String::new(), |w| format!(": {w}")));
            if let Some(r) = &recorder {
                r.ended(state, why.as_deref());
            }
            run.shared.set_state(state, why);
            result
        })
        .map_err(|e| Error::io("starting the job supervisor", e))?;
    Ok(JobHandle { job_id, shared, coordinator, job, supervisor })
}

/// Runs the attempts of one job.
struct Supervisor {
    job: Arc<JobGraph>,
    job_id: String,
    job_name: String,
    coordinator: Arc<Coordinator>,
    shared: Arc<JobShared>,
    launcher: Arc<dyn Launcher>,
}

impl Supervisor {
    fn supervise(
        &self,
        strategy: RestartStrategy,
        restored: Option<Arc<RestoredSnapshot>>,
        restored_from: Option<u64>,
        allow_non_restored: bool,
    ) -> Result<JobResult> {
        let started = Instant::now();
        let mut tracker = RestartTracker::new(strategy);
        let mut failures = Vec::new();
        let mut from = restored.clone();
        loop {
            let number = tracker.restarts() as u64 + 1;
            let (cancel, outcome) = match self.start(number, from.clone()) {
                Ok((cancel, mut attempt)) => {
                    self.shared.set_state(JobState::Running, None);
                    let outcome = attempt.join();
                    self.coordinator.set_attempt(None);
                    (cancel, outcome)
                }
                Err(e) => (self.shared.attempt_cancel.lock().expect("job lock").clone(), Err(e)),
            };
            let stopped = self.coordinator.stopped();
            let cancelled = self.shared.user_cancelled.load(Ordering::SeqCst);
            let error = match outcome {
                _ if stopped => None,
                Err(_) if cancelled => None,
                Ok(()) if cancel.load(Ordering::SeqCst) && !cancelled => Some(Error::Cancelled),
                Ok(()) => None,
                Err(e) => Some(e),
            };
            let Some(error) = error else {
                return Ok(JobResult {
                    job_name: self.job_name.clone(),
                    job_id: self.job_id.clone(),
                    duration: started.elapsed(),
                    vertices: results(&self.job, &self.shared.metrics.lock().expect("job lock")),
                    cancelled: cancelled || stopped,
                    savepoint: self.coordinator.exit_savepoint(),
                    restarts: tracker.restarts(),
                    failures,
                    checkpoints: self.coordinator.history(),
                    failed_checkpoints: self.coordinator.failed(),
                    restored_from,
                });
            };
            let Some(delay) = tracker.on_failure(&error, Instant::now()) else { return Err(error) };
            failures.push(error.to_string());
            if let Some(c) = self.coordinator.latest() {
                from = Some(Arc::new(RestoredSnapshot::from_storage(
                    c.storage,
                    RestoreMode::NoClaim,
                    allow_non_restored,
                )?));
            }
            let why = format!(
                "{error}; restarting in {delay:?} from {}",
                from.as_ref().map_or("the beginning".to_string(), |r| format!(
                    "checkpoint {} ({})",
                    r.metadata.checkpoint_id,
                    r.location()
                ))
            );
            tracing::warn!(restart = tracker.restarts(), "{why}");
            self.shared.restarts.store(tracker.restarts(), Ordering::Relaxed);
            self.shared.set_state(JobState::Restarting, Some(why));
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if self.shared.user_cancelled.load(Ordering::SeqCst) {
                    return Err(Error::Cancelled);
                }
                std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
            }
        }
    }

    /// Starts attempt `number` with fresh counters and a fresh cancel flag.
    fn start(
        &self,
        number: u64,
        restored: Option<Arc<RestoredSnapshot>>,
    ) -> Result<(Arc<AtomicBool>, Box<dyn RunningAttempt>)> {
        let cancel = Arc::new(AtomicBool::new(false));
        *self.shared.attempt_cancel.lock().expect("job lock") = cancel.clone();
        if self.shared.user_cancelled.load(Ordering::SeqCst) {
            cancel.store(true, Ordering::SeqCst);
        }
        let metrics: Vec<Vec<Arc<TaskMetrics>>> = self
            .job
            .vertices
            .iter()
            .map(|v| (0..v.parallelism).map(|_| Arc::new(TaskMetrics::default())).collect())
            .collect();
        *self.shared.metrics.lock().expect("job lock") = metrics.clone();
        let sources = Arc::new(SourceCoordinator::start(&self.job, restored.as_deref())?);
        let spec = AttemptSpec {
            job: self.job.clone(),
            job_name: self.job_name.clone(),
            number,
            restored,
            cancel: cancel.clone(),
            metrics,
            coordinator: self.coordinator.clone(),
            sources,
            status: StatusReporter(self.shared.clone()),
        };
        Ok((cancel, self.launcher.launch(spec)?))
    }
}

/// Runs attempts on task threads of this process.
pub struct LocalLauncher {
    cluster: MiniClusterConfig,
    /// The memory budget of the RocksDB backend, when the job uses it.
    rocksdb: Option<Arc<RocksDbResources>>,
    /// How `s3://` locations are reached (sinks writing there too).
    s3: Arc<S3Config>,
    final_snapshot: bool,
}

impl LocalLauncher {
    /// A launcher for a job run with `settings`.
    pub fn new(settings: &ExecutionSettings) -> Self {
        LocalLauncher {
            cluster: settings.cluster,
            rocksdb: match &settings.state_backend {
                StateBackendConfig::Heap => None,
                StateBackendConfig::RocksDb(config) => Some(RocksDbResources::new(config.clone())),
            },
            s3: Arc::new(settings.checkpoint.s3.clone()),
            final_snapshot: settings.checkpoint.has_final_snapshot(),
        }
    }

    fn slots(&self, job: &JobGraph) -> usize {
        let c = self.cluster;
        c.slots_per_task_manager.unwrap_or(slots_needed(job).div_ceil(c.task_managers.max(1)))
    }

    /// Fails when the cluster has too few slots for `job`.
    fn check_slots(&self, job: &JobGraph) -> Result<()> {
        place(job, self.cluster.task_managers, self.slots(job)).map(|_| ())
    }
}

impl Launcher for LocalLauncher {
    fn launch(&self, spec: AttemptSpec) -> Result<Box<dyn RunningAttempt>> {
        let job = &spec.job;
        let placement = place(job, self.cluster.task_managers, self.slots(job))?;
        if spec.number == 1 {
            tracing::info!(job = spec.job_name, slots = placement.slots_used, "submitting job\n{}", job.describe());
        }
        let mut tasks = Vec::new();
        let mut metrics = HashMap::new();
        for v in &job.vertices {
            for (i, m) in spec.metrics[v.index].iter().enumerate() {
                tasks.push((v.index, i));
                metrics.insert((v.index, i), m.clone());
            }
        }
        let progress = Arc::new(AttemptProgress::default());
        let deployed = deploy(Deployment {
            job,
            job_name: &spec.job_name,
            attempt: spec.number,
            tasks: &tasks,
            restored: spec.restored,
            cancel: &spec.cancel,
            metrics: &metrics,
            rocksdb: self.rocksdb.clone(),
            s3: self.s3.clone(),
            final_snapshot: self.final_snapshot,
            snapshots: spec.coordinator.snapshot_sender(),
            events: progress.clone(),
            remote: None,
            splits: spec.sources.clone(),
        })?;
        let commands: Vec<_> = deployed.commands.iter().map(|(_, c)| c.clone()).collect();
        let threads = deployed.start()?;
        spec.coordinator.set_attempt(Some(AttemptTasks {
            attempt: spec.number,
            tasks: tasks.len(),
            commands: Box::new(commands),
            progress,
            cancel: spec.cancel.clone(),
            sources: spec.sources.clone(),
        }));
        Ok(Box::new(LocalAttempt { threads: threads.into_iter().map(|(_, t)| t).collect() }))
    }
}

/// The task threads of one attempt in this process.
struct LocalAttempt {
    threads: Vec<JoinHandle<Result<()>>>,
}

impl RunningAttempt for LocalAttempt {
    fn join(&mut self) -> Result<()> {
        join_tasks(self.threads.drain(..))
    }
}

/// Waits for task threads; the first real failure (not a cancellation) is the result.
pub fn join_tasks(threads: impl Iterator<Item = JoinHandle<Result<()>>>) -> Result<()> {
    let mut failure: Option<Error> = None;
    for t in threads {
        let outcome = match t.join() {
            Ok(r) => r,
            Err(panic) => Err(Error::TaskFailed {
                task: "unknown".into(),
                message: panic_message(&panic),
                cause: Domain::Internal,
            }),
        };
        if let Err(e) = outcome
            && !matches!(e, Error::Cancelled)
            && failure.is_none()
        {
            failure = Some(e);
        }
    }
    failure.map_or(Ok(()), Err)
}
