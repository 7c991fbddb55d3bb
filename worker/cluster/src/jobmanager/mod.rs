//! The JobManager: TaskManagers register their slots with it over gRPC, it runs each submitted job
//! under the same supervisor as the local mini-cluster (restart strategy, checkpoint coordinator)
//! with a launcher that deploys attempts into TaskManager slots, and it serves the REST API.
//!
//! A job needs as many slots as [`slots_needed`] says; while too few are free, its attempt waits
//! and the job's status says how many it needs and how many there are. A TaskManager whose session
//! ends or that misses heartbeats for `heartbeat.timeout` is lost: every attempt with tasks on it
//! fails, and the job restarts from its latest completed checkpoint on the slots that remain (or
//! that a returning TaskManager brings).
//!
//! Here: the cluster's state (TaskManagers, jobs, attempts' routes), starting, submitting and taking
//! over jobs. Beside it: `launcher` (slot allocation and deployment), `recorder` (HA recording),
//! `rpc` (the TaskManagers' sessions), `bootstrap` (the process, leader election).

mod bootstrap;
mod launcher;
mod recorder;
mod rpc;

pub use bootstrap::JobManager;
use launcher::RemoteLauncher;
use recorder::HaRecorder;
pub use rpc::LEADER_METADATA;
use rpc::RpcService;

use crate::ha::{HaServices, JobRecord, LeaderRecord, RecordedState, now_ms};
use crate::proto::job_manager_message::Body as JmBody;
use crate::proto::job_manager_server::{JobManager as JobManagerRpc, JobManagerServer};
use crate::proto::task_manager_message::Body as TmBody;
use crate::proto::{self, JobManagerMessage, TaskManagerMessage};
use crate::{VERSION, host_name, rest, runtime, socket_addr};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use ferroflink_core::element::{CheckpointBarrier, SnapshotFormat};
use ferroflink_core::error::{Domain, Error, Result};
use ferroflink_runtime::checkpoint::JobRecorder;
use ferroflink_runtime::checkpoint::coordinator::{
    AttemptProgress, AttemptTasks, CheckpointTarget, CompletedCheckpoint, TaskCommands, TaskEvents, WriteResult,
    WrittenSender,
};
use ferroflink_runtime::checkpoint::restore::{
    RestoreMode, RestoreSettings, RestoreVerdict, read_metadata, snapshot_storage,
};
use ferroflink_runtime::graph::execution::{place_on, slots_needed};
use ferroflink_runtime::graph::job_graph::JobGraph;
use ferroflink_runtime::metrics::TaskMetrics;
use ferroflink_runtime::minicluster::{AttemptSpec, JobHandle, JobState, Launcher, RunningAttempt, supervise};
use ferroflink_runtime::planner::Planner;
use ferroflink_runtime::source::{SplitAnswer, SplitRequester};
use ferroflink_runtime::source_coordinator::SourceCoordinator;
use ferroflink_state::s3::S3Config;
use ferroflink_types::config::{Config, DEFAULT_REST_PORT, DEFAULT_RPC_PORT};
use ferroflink_types::spec::{Job, JobSettings, JobSpec, Overrides};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// A registered TaskManager.
#[derive(Debug)]
pub struct TaskManagerInfo {
    /// Its id.
    pub id: String,
    /// Task slots.
    pub slots: usize,
    /// Slots taken, per job id.
    pub allocated: HashMap<String, usize>,
    /// Data plane address.
    pub data_address: String,
    /// Metrics and health address.
    pub metrics_address: String,
    /// Memory budget in bytes.
    pub memory_bytes: u64,
    /// When it registered (ms since the epoch).
    pub registered_ms: u64,
    /// When its last message arrived.
    pub last_heard: Instant,
    tx: Outbox,
}

/// The session to one TaskManager: every message carries the epoch of the leader that sends it,
/// so a TaskManager that served a newer leader refuses it.
#[derive(Clone, Debug)]
struct Outbox {
    tx: UnboundedSender<JobManagerMessage>,
    epoch: u64,
}

impl Outbox {
    /// Sends `body`; `false` when the session is closed.
    fn send(&self, body: JmBody) -> bool {
        self.tx.send(JobManagerMessage { body: Some(body), epoch: self.epoch }).is_ok()
    }
}

impl TaskManagerInfo {
    /// Slots not taken by any job.
    pub fn free_slots(&self) -> usize {
        self.slots.saturating_sub(self.allocated.values().sum())
    }
}

/// A job the JobManager runs.
pub struct JobEntry {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it runs and how.
    pub spec: JobSpec,
    /// When it was submitted (ms since the epoch).
    pub start_ms: u64,
    /// Its graph.
    pub graph: Arc<JobGraph>,
    /// The job this JobManager runs (or ran); `None` for a job that ended under an earlier leader.
    pub handle: Option<JobHandle>,
    /// How a job that ended under an earlier leader ended, and when (from the HA records).
    recorded: Option<(JobState, Option<String>, Option<u64>)>,
}

impl JobEntry {
    /// Its latest completed checkpoint or savepoint, if this JobManager runs it and it has one.
    pub fn latest_checkpoint(&self) -> Option<CompletedCheckpoint> {
        self.handle.as_ref().and_then(|h| h.checkpoints().into_iter().max_by_key(|c| c.id))
    }

    /// Its state, and why it failed or waits.
    pub fn state(&self) -> (JobState, Option<String>) {
        match (&self.handle, &self.recorded) {
            (Some(h), _) => h.state(),
            (None, Some((state, why, _))) => (*state, why.clone()),
            (None, None) => (JobState::Created, None),
        }
    }

    /// When it ended (ms since the epoch).
    pub fn end_ms(&self) -> Option<u64> {
        match &self.handle {
            Some(h) => {
                h.end_time().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64)
            }
            None => self.recorded.as_ref().and_then(|r| r.2),
        }
    }
}

impl From<RecordedState> for JobState {
    fn from(s: RecordedState) -> JobState {
        match s {
            RecordedState::Running => JobState::Running,
            RecordedState::Finished => JobState::Finished,
            RecordedState::Failed => JobState::Failed,
            RecordedState::Canceled => JobState::Canceled,
        }
    }
}

/// A job id reserved while its job starts; released when dropped.
struct Reservation<'a> {
    cluster: &'a Cluster,
    job_id: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.cluster.starting.lock().expect("cluster lock").remove(&self.job_id);
    }
}

/// How a job comes to run.
enum Start<'a> {
    /// Submitted through the REST API or `ferroflink submit`: may run again after it ended.
    Submitted,
    /// The job of the configuration (application mode): runs once; a recorded one is left alone.
    Configured,
    /// Resumed by a new leader from its record.
    Resumed(&'a JobRecord),
}

/// What the TaskManager sessions report about one attempt.
enum AttemptEvent {
    /// A task ended (with its failure, if it failed).
    Ended { task: usize, error: Option<Error> },
    /// A TaskManager holding some of the attempt's tasks was lost.
    Lost { taskmanager: String, why: String },
}

/// Where reports about a job's current attempt go.
struct AttemptRoute {
    attempt: u64,
    events: Sender<AttemptEvent>,
    progress: Arc<AttemptProgress>,
    written: WrittenSender,
    metrics: HashMap<usize, Arc<TaskMetrics>>,
    /// The attempt's split enumerators.
    sources: Arc<SourceCoordinator>,
}

/// The JobManager's state, shared by its RPC sessions, its launchers and the REST API.
pub struct Cluster {
    config: Config,
    /// The jobs this JobManager's binary knows.
    planner: Arc<dyn Planner>,
    taskmanagers: Mutex<BTreeMap<String, TaskManagerInfo>>,
    /// Signalled when slots are freed or registered.
    slots_changed: Condvar,
    jobs: Mutex<Vec<Arc<JobEntry>>>,
    /// Ids of jobs being started (outside the jobs lock).
    starting: Mutex<HashSet<String>>,
    routes: Mutex<HashMap<String, AttemptRoute>>,
    ha: Option<Arc<HaServices>>,
    /// The epoch this JobManager leads in (0: it does not lead yet). Without HA it leads in epoch 0.
    epoch: AtomicU64,
    /// Set once the leader took over its jobs: it serves from then on.
    serving: AtomicBool,
    /// Set when leadership is lost, or the JobManager shuts down: jobs are stopped here but stay
    /// RUNNING in the HA records, for the next leader.
    suspended: Arc<AtomicBool>,
    /// The RPC and REST addresses it advertises.
    advertised: OnceLock<(String, String)>,
    /// The leader as last read from the HA records (kept by the election thread).
    leader: Mutex<Option<LeaderRecord>>,
}

impl Cluster {
    fn new(config: Config, planner: Arc<dyn Planner>, ha: Option<HaServices>) -> Self {
        Cluster {
            config,
            planner,
            taskmanagers: Mutex::new(BTreeMap::new()),
            slots_changed: Condvar::new(),
            jobs: Mutex::new(Vec::new()),
            starting: Mutex::new(HashSet::new()),
            routes: Mutex::new(HashMap::new()),
            ha: ha.map(Arc::new),
            epoch: AtomicU64::new(0),
            serving: AtomicBool::new(false),
            suspended: Arc::new(AtomicBool::new(false)),
            advertised: OnceLock::new(),
            leader: Mutex::new(None),
        }
    }

    /// Whether this JobManager leads (always, without HA).
    pub fn is_leader(&self) -> bool {
        !self.suspended.load(Ordering::SeqCst) && self.serving.load(Ordering::SeqCst)
    }

    /// Whether this JobManager lost its leadership (it must stop; a restart makes it a standby).
    pub fn is_deposed(&self) -> bool {
        self.ha.is_some() && self.suspended.load(Ordering::SeqCst) && self.epoch.load(Ordering::SeqCst) > 0
    }

    /// The leader's REST address when another JobManager leads (where a standby forwards calls).
    pub fn leader_rest_address(&self) -> Option<String> {
        self.other_leader().map(|l| l.rest_address)
    }

    /// The leader when it is another JobManager.
    fn other_leader(&self) -> Option<LeaderRecord> {
        let identity = self.ha.as_ref()?.identity();
        let leader = self.leader.lock().expect("cluster lock").clone()?;
        Some(leader).filter(|l| !self.is_leader() && l.holder != identity)
    }

    fn not_leader(&self) -> Error {
        Error::Cluster(match self.leader_rest_address() {
            Some(rest) => format!("this JobManager is a standby; the leader serves at http://{rest}"),
            None => "this JobManager is a standby and no leader is known yet; retry shortly".into(),
        })
    }

    /// The configuration the JobManager runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls `f` with the registered TaskManagers.
    pub fn with_taskmanagers<T>(&self, f: impl FnOnce(&BTreeMap<String, TaskManagerInfo>) -> T) -> T {
        f(&self.taskmanagers.lock().expect("cluster lock"))
    }

    /// (TaskManagers, their slots, the slots no job holds).
    pub fn slot_counts(&self) -> (usize, usize, usize) {
        self.with_taskmanagers(|t| {
            (t.len(), t.values().map(|tm| tm.slots).sum(), t.values().map(TaskManagerInfo::free_slots).sum())
        })
    }

    /// The jobs, in submission order.
    pub fn jobs(&self) -> Vec<Arc<JobEntry>> {
        self.jobs.lock().expect("cluster lock").clone()
    }

    /// The job with id `id`.
    pub fn job(&self, id: &str) -> Option<Arc<JobEntry>> {
        self.jobs.lock().expect("cluster lock").iter().find(|j| j.id == id).cloned()
    }

    /// Starts `job` with the job settings of the configuration (not the configured job's id and
    /// restore point) and `overrides` laid over them. Returns its id.
    pub fn submit(self: &Arc<Self>, job: Job, overrides: &Overrides) -> Result<String> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        let mut base = JobSettings::from_config(&self.config);
        base.job.id = None;
        base.restore = Default::default();
        let settings = base.with(overrides)?;
        self.start_job(JobSpec { job, settings }, Start::Submitted)
    }

    /// What restoring job `id`'s latest snapshot (its latest completed checkpoint or savepoint,
    /// else the snapshot it started from) into `job`, planned with `overrides` over the running
    /// job's settings, would do: the snapshot's location and the verdict; `None` when the job has
    /// no snapshot yet (a restore would bring nothing). How an upgrade is checked before anything
    /// stops.
    pub fn restore_check(&self, id: &str, job: Job, overrides: &Overrides) -> Result<Option<(String, RestoreVerdict)>> {
        let entry = self.job(id).ok_or_else(|| Error::InvalidJob(format!("there is no job {id}")))?;
        let settings = entry.spec.settings.with(overrides)?;
        let planned = self.planner.plan(&JobSpec { job, settings })?;
        let storage = match (entry.latest_checkpoint(), &planned.settings.restore) {
            (Some(c), _) => c.storage,
            (None, Some(from)) => snapshot_storage(&from.path, &planned.settings.checkpoint.s3)?,
            (None, None) => return Ok(None),
        };
        let metadata = read_metadata(storage.as_ref())?;
        Ok(Some((storage.location(""), RestoreVerdict::of(&metadata, planned.graph.operators()))))
    }

    /// Starts the job of the configuration (application mode), unless the HA records show it ran.
    fn start_configured(self: &Arc<Self>) -> Result<()> {
        if let Some(spec) = JobSpec::from_config(&self.config) {
            self.start_job(spec, Start::Configured)?;
        }
        Ok(())
    }

    fn start_job(self: &Arc<Self>, spec: JobSpec, start: Start) -> Result<String> {
        let built = self.planner.plan(&spec)?;
        let (graph, mut settings) = (built.graph, built.settings);
        let job_id = settings
            .job_id
            .clone()
            .unwrap_or_else(|| ferroflink_runtime::minicluster::derive_job_id(&built.name, &graph));
        let jobs = self.jobs.lock().expect("cluster lock");
        if matches!(start, Start::Configured) && jobs.iter().any(|j| j.id == job_id) {
            // A new leader resumed (or listed) it from the HA records.
            return Ok(job_id);
        }
        if let Some(running) = jobs.iter().find(|j| j.id == job_id && !j.state().0.is_terminal()) {
            return Err(Error::InvalidJob(format!(
                "job {} ({}) is already running; cancel it first or give the new one another --job-id",
                running.id, running.name
            )));
        }
        // Reserved while the HA records are written and its restore loads: the REST API and the
        // RPC sessions must not wait for that I/O on the jobs lock.
        if !self.starting.lock().expect("cluster lock").insert(job_id.clone()) {
            return Err(Error::InvalidJob(format!("job {job_id} is being started already")));
        }
        drop(jobs);
        let _reserved = Reservation { cluster: self, job_id: job_id.clone() };
        settings.job_id = Some(job_id.clone());
        let epoch = self.epoch.load(Ordering::SeqCst);
        if let Some(ha) = &self.ha {
            let recorded = ha.jobs()?.jobs.get(&job_id).cloned();
            let first_checkpoint = match (&start, &recorded) {
                (Start::Configured, Some(r)) => {
                    tracing::info!(%job_id, state = ?r.state, "the configured job is in the HA records: not started again");
                    return Ok(job_id);
                }
                (Start::Resumed(r), _) => {
                    if let Some(from) = &r.resume_from {
                        // Its own checkpoints are the job's to subsume; the snapshot it was started
                        // from keeps the mode it was started with.
                        if settings.restore.as_ref().is_none_or(|initial| &initial.path != from) {
                            settings.restore = Some(RestoreSettings {
                                path: from.clone(),
                                mode: RestoreMode::Claim,
                                allow_non_restored_state: r.allow_non_restored_state,
                            });
                        }
                    }
                    r.checkpoint_counter
                }
                (_, previous) => {
                    let (inline, stored) = self.record_spec(&job_id, &spec)?;
                    let record = JobRecord {
                        id: job_id.clone(),
                        name: built.name.clone(),
                        spec: inline,
                        spec_location: stored,
                        legacy: Default::default(),
                        state: RecordedState::Running,
                        error: None,
                        submitted_ms: now_ms(),
                        ended_ms: None,
                        checkpoint_counter: previous.as_ref().map_or(1, |p| p.checkpoint_counter),
                        resume_from: settings.restore.as_ref().map(|r| r.path.clone()),
                        allow_non_restored_state: settings.restore.as_ref().is_some_and(|r| r.allow_non_restored_state),
                    };
                    ha.update_job(epoch, &job_id, |_| Some(record.clone()))?;
                    record.checkpoint_counter
                }
            };
            settings.recorder = Some(Arc::new(HaRecorder {
                ha: ha.clone(),
                epoch,
                job_id: job_id.clone(),
                first_checkpoint,
                suspended: self.suspended.clone(),
            }));
        }
        let launcher = RemoteLauncher {
            cluster: self.clone(),
            job_id: job_id.clone(),
            spec: serde_json::to_string(&spec).expect("a spec serializes"),
            final_snapshot: settings.checkpoint.has_final_snapshot(),
            plan_digest: graph.plan_digest(),
        };
        let handle = match supervise(&graph, &built.name, &settings, Arc::new(launcher)) {
            Ok(h) => h,
            Err(e) => {
                if let Some(r) = &settings.recorder {
                    r.ended(JobState::Failed, Some(&e.to_string()));
                }
                return Err(e);
            }
        };
        tracing::info!(%job_id, job = %built.name, "job started");
        let mut jobs = self.jobs.lock().expect("cluster lock");
        jobs.retain(|j| j.id != job_id);
        jobs.push(Arc::new(JobEntry {
            id: job_id.clone(),
            name: built.name,
            spec,
            start_ms: now_ms(),
            graph: handle.job().clone(),
            handle: Some(handle),
            recorded: None,
        }));
        Ok(job_id)
    }

    /// Takes over as the leader of `epoch`: resumes the jobs the HA records show running (from
    /// their latest checkpoints), lists the ended ones, and starts the configured job if it never ran.
    fn lead(self: &Arc<Self>, epoch: u64) -> Result<()> {
        self.epoch.store(epoch, Ordering::SeqCst);
        self.take_over_jobs()?;
        self.serving.store(true, Ordering::SeqCst);
        if let Some(ha) = &self.ha {
            tracing::info!(epoch, records = %ha.describe(), "this JobManager leads");
        }
        Ok(())
    }

    fn take_over_jobs(self: &Arc<Self>) -> Result<()> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let Some(ha) = &self.ha else { return self.start_configured() };
        tracing::info!(epoch, "taking over the jobs of the HA records");
        for record in ha.jobs()?.jobs.into_values() {
            if record.state.is_terminal() {
                self.list_ended(&record);
                continue;
            }
            tracing::info!(job_id = %record.id, from = ?record.resume_from, "resuming the job");
            let resumed = self.recorded_spec(&record).and_then(|spec| self.start_job(spec, Start::Resumed(&record)));
            if let Err(e) = resumed {
                tracing::error!(job_id = %record.id, "cannot resume the job: {e}");
            }
        }
        self.start_configured()
    }

    /// Lists a job that ended under an earlier leader.
    fn list_ended(&self, record: &JobRecord) {
        let planned = self.recorded_spec(record).and_then(|spec| {
            let graph = self.planner.plan(&spec)?.graph;
            Ok((spec, graph))
        });
        let (spec, graph) = match planned {
            Ok((spec, graph)) => (spec, Arc::new(graph)),
            Err(e) => {
                tracing::warn!(job_id = %record.id, "a recorded job no longer plans ({e}); not listed");
                return;
            }
        };
        self.jobs.lock().expect("cluster lock").push(Arc::new(JobEntry {
            id: record.id.clone(),
            name: record.name.clone(),
            spec,
            start_ms: record.submitted_ms,
            graph,
            handle: None,
            recorded: Some((record.state.into(), record.error.clone(), record.ended_ms)),
        }));
    }

    /// Stops this JobManager's jobs without ending them in the HA records: leadership was lost,
    /// or the process stops and a standby carries on.
    fn suspend(&self) {
        self.suspended.store(true, Ordering::SeqCst);
        for job in self.jobs() {
            if let Some(h) = &job.handle {
                h.cancel();
            }
        }
    }

    fn register(&self, info: TaskManagerInfo) {
        tracing::info!(taskmanager = %info.id, slots = info.slots, data = %info.data_address, "TaskManager registered");
        let stale = self.taskmanagers.lock().expect("cluster lock").insert(info.id.clone(), info);
        if stale.is_some() {
            tracing::warn!("a TaskManager registered again under the id of a live session; the old session is dropped");
        }
        self.slots_changed.notify_all();
    }

    /// Gives back `slots` slots job `job_id` took on `taskmanager`.
    fn release(&self, job_id: &str, taskmanager: &str, slots: usize) {
        let mut tms = self.taskmanagers.lock().expect("cluster lock");
        if let Some(tm) = tms.get_mut(taskmanager)
            && let Some(n) = tm.allocated.get_mut(job_id)
        {
            *n = n.saturating_sub(slots);
            if *n == 0 {
                tm.allocated.remove(job_id);
            }
        }
        drop(tms);
        self.slots_changed.notify_all();
    }

    fn heard(&self, id: &str) {
        if let Some(tm) = self.taskmanagers.lock().expect("cluster lock").get_mut(id) {
            tm.last_heard = Instant::now();
        }
    }

    /// Forgets TaskManager `id` and fails the attempts that had tasks on it.
    fn lose(&self, id: &str, why: &str) {
        let Some(tm) = self.taskmanagers.lock().expect("cluster lock").remove(id) else { return };
        tracing::warn!(taskmanager = %id, "TaskManager lost: {why}");
        let routes = self.routes.lock().expect("cluster lock");
        for job in tm.allocated.keys() {
            if let Some(route) = routes.get(job) {
                let _ = route.events.send(AttemptEvent::Lost { taskmanager: id.to_string(), why: why.to_string() });
            }
        }
        self.slots_changed.notify_all();
    }

    fn on_message(&self, taskmanager: &str, body: TmBody) {
        self.heard(taskmanager);
        if let TmBody::SplitRequest(r) = body {
            self.assign_split(taskmanager, r);
            return;
        }
        let routes = self.routes.lock().expect("cluster lock");
        let route = |job: &str, attempt: u64| routes.get(job).filter(|r| r.attempt == attempt);
        match body {
            TmBody::Register(_) => tracing::warn!(%taskmanager, "ignored a second Register in one session"),
            TmBody::Heartbeat(_) | TmBody::SplitRequest(_) => {}
            TmBody::TaskState(s) => {
                let Some(r) = route(&s.job_id, s.attempt) else { return };
                let task = s.task as usize;
                match proto::task_state::State::try_from(s.state) {
                    Ok(proto::task_state::State::Running) => r.progress.running(task),
                    Ok(proto::task_state::State::FinishedInput) => r.progress.finished(task),
                    Ok(proto::task_state::State::Ended) => {
                        let _ = r.events.send(AttemptEvent::Ended { task, error: None });
                    }
                    Ok(proto::task_state::State::Failed) => {
                        let cause = if s.user_error { Domain::User } else { Domain::External };
                        let error = Error::TaskFailed { task: format!("task {task}"), message: s.error, cause };
                        let _ = r.events.send(AttemptEvent::Ended { task, error: Some(error) });
                    }
                    Err(_) => tracing::warn!(%taskmanager, state = s.state, "unknown task state"),
                }
            }
            TmBody::SnapshotWritten(w) => {
                let Some(r) = route(&w.job_id, w.attempt) else { return };
                let result: WriteResult = if w.error.is_empty() {
                    serde_json::from_slice(&w.written)
                        .map(|written| (written, w.bytes))
                        .map_err(|e| format!("TaskManager {taskmanager} sent an unreadable snapshot report: {e}"))
                } else {
                    Err(w.error)
                };
                r.written.send(w.attempt, w.checkpoint_id, w.task as usize, result);
            }
            TmBody::Metrics(m) => {
                let Some(r) = route(&m.job_id, m.attempt) else { return };
                for c in m.tasks {
                    if let Some(t) = r.metrics.get(&(c.task as usize)) {
                        t.records_in.store(c.records_in, Ordering::Relaxed);
                        t.records_out.store(c.records_out, Ordering::Relaxed);
                        t.sink_records.store(c.sink_records, Ordering::Relaxed);
                        t.records_in_errors.store(c.records_in_errors, Ordering::Relaxed);
                        t.idle_ns.store(c.idle_ns, Ordering::Relaxed);
                        t.backpressured_ns.store(c.backpressured_ns, Ordering::Relaxed);
                        t.total_ns.store(c.total_ns, Ordering::Relaxed);
                        t.watermark.store(c.watermark, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Answers a source reader's request for a split with the attempt's enumerator of that source.
    fn assign_split(&self, taskmanager: &str, r: proto::SplitRequest) {
        use proto::split_assignment::Kind;
        let sources = {
            let routes = self.routes.lock().expect("cluster lock");
            routes.get(&r.job_id).filter(|route| route.attempt == r.attempt).map(|route| route.sources.clone())
        };
        let mut answer = proto::SplitAssignment {
            job_id: r.job_id.clone(),
            attempt: r.attempt,
            request_id: r.request_id,
            ..Default::default()
        };
        let result = match sources {
            Some(s) => s.request(&r.operator_id, r.subtask as usize, r.checkpoint_id),
            None => Err(Error::Cluster(format!("attempt {} of job {} is not running", r.attempt, r.job_id))),
        };
        match result {
            Ok(SplitAnswer::Split(split)) => answer.split = split,
            Ok(SplitAnswer::NoneYet(wait)) => {
                answer.kind = Kind::NoneYet as i32;
                answer.wait_ms = wait.as_millis() as u64;
            }
            Ok(SplitAnswer::NoMoreSplits) => answer.kind = Kind::NoMoreSplits as i32,
            Err(e) => {
                answer.kind = Kind::Failed as i32;
                answer.error = e.to_string();
            }
        }
        let tms = self.taskmanagers.lock().expect("cluster lock");
        if let Some(tm) = tms.get(taskmanager) {
            tm.tx.send(JmBody::SplitAssignment(answer));
        }
    }
}
