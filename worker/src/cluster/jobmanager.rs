//! The JobManager: TaskManagers register their slots with it over gRPC, it runs each submitted job
//! under the same supervisor as the local mini-cluster (restart strategy, checkpoint coordinator)
//! with a launcher that deploys attempts into TaskManager slots, and it serves the REST API.
//!
//! A job needs as many slots as [`slots_needed`] says; while too few are free, its attempt waits
//! and the job's status says how many it needs and how many there are. A TaskManager whose session
//! ends or that misses heartbeats for `heartbeat.timeout` is lost: every attempt with tasks on it
//! fails, and the job restarts from its latest completed checkpoint on the slots that remain (or
//! that a returning TaskManager brings).

use crate::checkpoint::JobRecorder;
use crate::checkpoint::coordinator::{
    AttemptProgress, AttemptTasks, CheckpointTarget, TaskCommands, TaskEvents, WriteResult, WrittenSender,
};
use crate::checkpoint::restore::{RestoreMode, RestoreSettings};
use crate::checkpoint::s3::S3Config;
use crate::cluster::ha::{HaServices, JobRecord, LeaderRecord, RecordedState, now_ms};
use crate::cluster::proto::job_manager_message::Body as JmBody;
use crate::cluster::proto::job_manager_server::{JobManager as JobManagerRpc, JobManagerServer};
use crate::cluster::proto::task_manager_message::Body as TmBody;
use crate::cluster::proto::{self, JobManagerMessage, TaskManagerMessage};
use crate::cluster::{VERSION, host_name, rest, runtime, socket_addr};
use crate::config::{Config, DEFAULT_REST_PORT, DEFAULT_RPC_PORT};
use crate::error::{Domain, Error, Result};
use crate::graph::execution::{place_on, slots_needed};
use crate::graph::job_graph::JobGraph;
use crate::jobs::Registry;
use crate::runtime::element::{CheckpointBarrier, SnapshotFormat};
use crate::runtime::metrics::TaskMetrics;
use crate::runtime::minicluster::{AttemptSpec, JobHandle, JobState, Launcher, RunningAttempt, supervise};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
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
    /// The built-in job and its arguments.
    pub builtin: String,
    /// Its arguments.
    pub args: Vec<String>,
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
}

/// The JobManager's state, shared by its RPC sessions, its launchers and the REST API.
pub struct Cluster {
    config: Config,
    /// The jobs this JobManager's binary knows.
    registry: Arc<Registry>,
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
    fn new(config: Config, registry: Arc<Registry>, ha: Option<HaServices>) -> Self {
        Cluster {
            config,
            registry,
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

    /// Builds the built-in job `builtin` from `args` (the configuration's job settings added, see
    /// [`Config::job_args`], but not the configured job's id and restore point) and starts it.
    /// Returns its id.
    pub fn submit(self: &Arc<Self>, builtin: &str, args: &[String]) -> Result<String> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        let mut config = self.config.clone();
        config.job.args = args.to_vec();
        config.job.id = None;
        config.restore = Default::default();
        self.start_job(builtin, config.job_args(), Start::Submitted)
    }

    /// Starts the job of the configuration (application mode), unless the HA records show it ran.
    fn start_configured(self: &Arc<Self>) -> Result<()> {
        if let Some(builtin) = self.config.job.builtin.clone() {
            self.start_job(&builtin, self.config.job_args(), Start::Configured)?;
        }
        Ok(())
    }

    fn start_job(self: &Arc<Self>, builtin: &str, args: Vec<String>, start: Start) -> Result<String> {
        let built = self.registry.build(builtin, &args)?;
        let graph = built.env.job_graph()?;
        let mut settings = built.env.execution_settings();
        settings.checkpoint.s3 = settings.checkpoint.s3.clone().or(S3Config::from(&self.config.s3));
        let job_id =
            settings.job_id.clone().unwrap_or_else(|| crate::runtime::minicluster::derive_job_id(&built.name, &graph));
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
                    let record = JobRecord {
                        id: job_id.clone(),
                        name: built.name.clone(),
                        builtin: builtin.to_string(),
                        args: args.clone(),
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
            builtin: builtin.to_string(),
            args: args.clone(),
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
            builtin: builtin.to_string(),
            args,
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
            if let Err(e) = self.start_job(&record.builtin, record.args.clone(), Start::Resumed(&record)) {
                tracing::error!(job_id = %record.id, "cannot resume the job: {e}");
            }
        }
        self.start_configured()
    }

    /// Lists a job that ended under an earlier leader.
    fn list_ended(&self, record: &JobRecord) {
        let graph = match self.registry.build(&record.builtin, &record.args).and_then(|b| b.env.job_graph()) {
            Ok(g) => Arc::new(g),
            Err(e) => {
                tracing::warn!(job_id = %record.id, "a recorded job no longer builds ({e}); not listed");
                return;
            }
        };
        self.jobs.lock().expect("cluster lock").push(Arc::new(JobEntry {
            id: record.id.clone(),
            name: record.name.clone(),
            builtin: record.builtin.clone(),
            args: record.args.clone(),
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
        let routes = self.routes.lock().expect("cluster lock");
        let route = |job: &str, attempt: u64| routes.get(job).filter(|r| r.attempt == attempt);
        match body {
            TmBody::Register(_) => tracing::warn!(%taskmanager, "ignored a second Register in one session"),
            TmBody::Heartbeat(_) => {}
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
                        t.idle_ns.store(c.idle_ns, Ordering::Relaxed);
                        t.backpressured_ns.store(c.backpressured_ns, Ordering::Relaxed);
                        t.total_ns.store(c.total_ns, Ordering::Relaxed);
                        t.watermark.store(c.watermark, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// Records a job's checkpoints and end in the HA records, as the leader of `epoch`.
struct HaRecorder {
    ha: Arc<HaServices>,
    epoch: u64,
    job_id: String,
    first_checkpoint: u64,
    suspended: Arc<AtomicBool>,
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

/// Deploys a job's attempts into TaskManager slots.
struct RemoteLauncher {
    cluster: Arc<Cluster>,
    job_id: String,
    builtin: String,
    args: Vec<String>,
    final_snapshot: bool,
    /// What every TaskManager must plan from `builtin` and `args` ([`JobGraph::plan_digest`]).
    plan_digest: String,
}

/// The slots an attempt takes on one TaskManager, and the tasks it runs there.
struct Share {
    taskmanager: String,
    tx: Outbox,
    data_address: String,
    slots: usize,
    tasks: Vec<usize>,
}

impl RemoteLauncher {
    /// Takes `needed` slots, on as few TaskManagers as possible (those with the most free slots
    /// first, so more channels stay inside one process), waiting while fewer are free.
    fn allocate(&self, needed: usize, spec: &AttemptSpec) -> Result<Vec<Share>> {
        let mut tms = self.cluster.taskmanagers.lock().expect("cluster lock");
        loop {
            if spec.cancel.load(Ordering::SeqCst) {
                return Err(Error::Cancelled);
            }
            let free: usize = tms.values().map(TaskManagerInfo::free_slots).sum();
            if free >= needed {
                let mut order: Vec<&mut TaskManagerInfo> = tms.values_mut().filter(|t| t.free_slots() > 0).collect();
                order.sort_by_key(|t| std::cmp::Reverse(t.free_slots()));
                let mut left = needed;
                let mut shares = Vec::new();
                for tm in order {
                    if left == 0 {
                        break;
                    }
                    let take = tm.free_slots().min(left);
                    *tm.allocated.entry(self.job_id.clone()).or_default() += take;
                    left -= take;
                    shares.push(Share {
                        taskmanager: tm.id.clone(),
                        tx: tm.tx.clone(),
                        data_address: tm.data_address.clone(),
                        slots: take,
                        tasks: Vec::new(),
                    });
                }
                spec.status.clear();
                return Ok(shares);
            }
            spec.status.waiting(format!(
                "waiting for task slots: the job needs {needed} slots; {} TaskManager(s) are registered with {free} \
                 free slots. Start more TaskManagers or give them more --slots.",
                tms.len()
            ));
            tms = self.cluster.slots_changed.wait_timeout(tms, Duration::from_millis(200)).expect("cluster lock").0;
        }
    }
}

impl Launcher for RemoteLauncher {
    fn launch(&self, spec: AttemptSpec) -> Result<Box<dyn RunningAttempt>> {
        let job = &spec.job;
        let mut shares = self.allocate(slots_needed(job), &spec)?;
        let placement = match place_on(job, &shares.iter().map(|s| s.slots).collect::<Vec<_>>()) {
            Ok(p) => p,
            Err(e) => {
                for s in &shares {
                    self.cluster.release(&self.job_id, &s.taskmanager, s.slots);
                }
                return Err(e);
            }
        };
        let mut refs: Vec<Vec<proto::TaskRef>> = vec![Vec::new(); shares.len()];
        let mut locations = Vec::new();
        let mut metrics = HashMap::new();
        for v in &job.vertices {
            for i in 0..v.parallelism {
                let index = crate::runtime::deploy::task_index(job, v.index, i);
                let share = placement.subtasks[v.index][i].task_manager;
                let task = proto::TaskRef { vertex: v.index as u32, subtask: i as u32, index: index as u32 };
                refs[share].push(task);
                shares[share].tasks.push(index);
                locations
                    .push(proto::TaskLocation { task: Some(task), data_address: shares[share].data_address.clone() });
                metrics.insert(index, spec.metrics[v.index][i].clone());
            }
        }
        let tasks = metrics.len();
        let (events_tx, events) = unbounded();
        let progress = Arc::new(AttemptProgress::default());
        self.cluster.routes.lock().expect("cluster lock").insert(
            self.job_id.clone(),
            AttemptRoute {
                attempt: spec.number,
                events: events_tx,
                progress: progress.clone(),
                written: spec.coordinator.written_sender(),
                metrics,
            },
        );
        let span = tracing::info_span!("deploy", job_id = %self.job_id, attempt = spec.number, tasks);
        let traceparent = span.in_scope(ferroflink_telemetry::inject);
        let mut closed = Vec::new();
        for (share, tasks) in shares.iter().zip(refs) {
            let deploy = proto::Deploy {
                job_id: self.job_id.clone(),
                job_name: spec.job_name.clone(),
                builtin: self.builtin.clone(),
                args: self.args.clone(),
                attempt: spec.number,
                tasks,
                locations: locations.clone(),
                restore_location: spec.restored.as_ref().map(|r| r.location()).unwrap_or_default(),
                allow_non_restored_state: spec.restored.as_ref().is_some_and(|r| r.allow_non_restored_state),
                final_snapshot: self.final_snapshot,
                traceparent: traceparent.clone(),
                plan_digest: self.plan_digest.clone(),
            };
            tracing::info!(
                job_id = %self.job_id,
                attempt = spec.number,
                taskmanager = %share.taskmanager,
                tasks = share.tasks.len(),
                "deploying"
            );
            if !share.tx.send(JmBody::Deploy(deploy)) {
                closed.push(share.taskmanager.clone());
            }
        }
        spec.coordinator.set_attempt(Some(AttemptTasks {
            attempt: spec.number,
            tasks,
            commands: Box::new(RemoteCommands {
                job_id: self.job_id.clone(),
                attempt: spec.number,
                taskmanagers: shares.iter().map(|s| s.tx.clone()).collect(),
            }),
            progress,
            cancel: spec.cancel.clone(),
        }));
        for tm in closed {
            self.cluster.lose(&tm, "its session closed while the job was deployed");
        }
        Ok(Box::new(RemoteAttempt {
            cluster: self.cluster.clone(),
            job_id: self.job_id.clone(),
            number: spec.number,
            tasks,
            shares,
            events,
            cancel: spec.cancel.clone(),
        }))
    }
}

/// Sends the coordinator's commands to the TaskManagers running an attempt.
struct RemoteCommands {
    job_id: String,
    attempt: u64,
    taskmanagers: Vec<Outbox>,
}

impl RemoteCommands {
    fn send(&self, body: JmBody) {
        for tx in &self.taskmanagers {
            // A closed session is a lost TaskManager, which fails the attempt anyway.
            tx.send(body.clone());
        }
    }
}

impl TaskCommands for RemoteCommands {
    fn trigger(&self, barrier: CheckpointBarrier, target: &CheckpointTarget) {
        let (incremental, base) = match barrier.format {
            SnapshotFormat::Canonical => (false, 0),
            SnapshotFormat::Incremental { base } => (true, base),
        };
        self.send(JmBody::TriggerCheckpoint(proto::TriggerCheckpoint {
            job_id: self.job_id.clone(),
            attempt: self.attempt,
            checkpoint_id: barrier.id,
            timestamp_ms: barrier.timestamp,
            incremental,
            base,
            location: target.storage.location(""),
            shared_location: target.shared.as_ref().map(|s| s.location("")).unwrap_or_default(),
            traceparent: ferroflink_telemetry::inject(),
        }));
    }

    fn complete(&self, checkpoint_id: u64, then_exit: bool) {
        self.send(JmBody::CheckpointComplete(proto::CheckpointComplete {
            job_id: self.job_id.clone(),
            attempt: self.attempt,
            checkpoint_id,
            then_exit,
        }));
    }
}

/// An attempt deployed to TaskManagers.
struct RemoteAttempt {
    cluster: Arc<Cluster>,
    job_id: String,
    number: u64,
    tasks: usize,
    shares: Vec<Share>,
    events: Receiver<AttemptEvent>,
    cancel: Arc<AtomicBool>,
}

impl RemoteAttempt {
    fn cancel_tasks(&self) {
        for share in &self.shares {
            share.tx.send(JmBody::CancelAttempt(proto::CancelAttempt {
                job_id: self.job_id.clone(),
                attempt: self.number,
            }));
        }
    }
}

impl RunningAttempt for RemoteAttempt {
    fn join(&mut self) -> Result<()> {
        let mut ended = HashSet::new();
        let mut failure: Option<Error> = None;
        let mut cancel_sent = false;
        while ended.len() < self.tasks {
            if self.cancel.load(Ordering::SeqCst) && !cancel_sent {
                self.cancel_tasks();
                cancel_sent = true;
            }
            match self.events.recv_timeout(Duration::from_millis(50)) {
                Ok(AttemptEvent::Ended { task, error }) => {
                    ended.insert(task);
                    if let Some(e) = error.filter(|e| !matches!(e, Error::Cancelled)) {
                        failure.get_or_insert(e);
                        self.cancel.store(true, Ordering::SeqCst);
                    }
                }
                Ok(AttemptEvent::Lost { taskmanager, why }) => {
                    // Its tasks are gone with it; the others are cancelled.
                    if let Some(share) = self.shares.iter().find(|s| s.taskmanager == taskmanager) {
                        ended.extend(share.tasks.iter().copied());
                    }
                    failure.get_or_insert(Error::Cluster(format!(
                        "TaskManager {taskmanager} was lost ({why}) while it ran tasks of job {}",
                        self.job_id
                    )));
                    self.cancel.store(true, Ordering::SeqCst);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let mut routes = self.cluster.routes.lock().expect("cluster lock");
        if routes.get(&self.job_id).is_some_and(|r| r.attempt == self.number) {
            routes.remove(&self.job_id);
        }
        drop(routes);
        for share in &self.shares {
            self.cluster.release(&self.job_id, &share.taskmanager, share.slots);
        }
        failure.map_or(Ok(()), Err)
    }
}

/// The gRPC service TaskManagers connect to.
struct RpcService {
    cluster: Arc<Cluster>,
}

/// gRPC metadata of a standby's refusal: the leader's RPC address.
pub const LEADER_METADATA: &str = "x-ferroflink-leader";

type MessageStream = Pin<Box<dyn Stream<Item = std::result::Result<JobManagerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl JobManagerRpc for RpcService {
    type SessionStream = MessageStream;

    async fn session(
        &self,
        request: Request<Streaming<TaskManagerMessage>>,
    ) -> std::result::Result<Response<MessageStream>, Status> {
        let peer = request.remote_addr().map_or("unknown".into(), |a| a.to_string());
        let mut inbound = request.into_inner();
        let register = match inbound.message().await? {
            Some(TaskManagerMessage { body: Some(TmBody::Register(r)) }) => r,
            _ => return Err(Status::invalid_argument("the first message of a TaskManager session must be Register")),
        };
        if register.version != VERSION {
            tracing::warn!(%peer, version = %register.version, "refused a TaskManager of another version");
            return Err(Status::failed_precondition(format!(
                "this JobManager runs ferroflink {VERSION}; a TaskManager of version {} cannot join it. Run the \
                 same version on both.",
                register.version
            )));
        }
        if register.slots == 0 {
            return Err(Status::invalid_argument("a TaskManager needs at least one slot (--slots)"));
        }
        if !self.cluster.is_leader() {
            let leader = self.cluster.other_leader();
            let mut status = Status::unavailable(match &leader {
                Some(l) => format!("this JobManager is a standby; register with the leader at {}", l.rpc_address),
                None => "this JobManager does not lead (yet); register again shortly".to_string(),
            });
            if let Some(value) = leader.and_then(|l| l.rpc_address.parse().ok()) {
                status.metadata_mut().insert(LEADER_METADATA, value);
            }
            return Err(status);
        }
        let epoch = self.cluster.epoch.load(Ordering::SeqCst);
        if register.known_epoch > epoch {
            tracing::warn!(%peer, epoch, "a TaskManager served leader epoch {}: this JobManager was deposed", register.known_epoch);
            return Err(Status::unavailable(format!(
                "this JobManager leads epoch {epoch}, but the TaskManager served epoch {}: it was deposed",
                register.known_epoch
            )));
        }
        let heartbeat = self.cluster.config.heartbeat.clone();
        let (tx, rx) = unbounded_channel();
        let tx = Outbox { tx, epoch };
        let registered = proto::Registered {
            heartbeat_interval_ms: heartbeat.interval.as_millis() as u64,
            heartbeat_timeout_ms: heartbeat.timeout.as_millis() as u64,
        };
        tx.send(JmBody::Registered(registered));
        let id = register.taskmanager_id.clone();
        self.cluster.register(TaskManagerInfo {
            id: id.clone(),
            slots: register.slots as usize,
            allocated: HashMap::new(),
            data_address: register.data_address,
            metrics_address: register.metrics_address,
            memory_bytes: register.memory_bytes,
            registered_ms: now_ms(),
            last_heard: Instant::now(),
            tx: tx.clone(),
        });
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(heartbeat.interval);
            let mut last_heard = Instant::now();
            let why = loop {
                tokio::select! {
                    message = inbound.next() => match message {
                        Some(Ok(TaskManagerMessage { body: Some(body) })) => {
                            last_heard = Instant::now();
                            // Reports take locks the job threads hold briefly: off the async workers.
                            let c = cluster.clone();
                            let tm = id.clone();
                            if tokio::task::spawn_blocking(move || c.on_message(&tm, body)).await.is_err() {
                                break "handling its report panicked".to_string();
                            }
                        }
                        Some(Ok(TaskManagerMessage { body: None })) => break "it sent an empty message".to_string(),
                        Some(Err(status)) => break format!("its connection failed: {}", status.message()),
                        None => break "its connection closed".to_string(),
                    },
                    _ = ticks.tick() => {
                        if last_heard.elapsed() > heartbeat.timeout {
                            break format!("no heartbeat for {:?}", heartbeat.timeout);
                        }
                        if !tx.send(JmBody::Heartbeat(proto::Heartbeat {})) {
                            break "its session closed".to_string();
                        }
                    }
                }
            };
            tokio::task::spawn_blocking(move || cluster.lose(&id, &why));
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx).map(Ok))))
    }
}

/// A running JobManager process: its RPC server, REST API and jobs.
pub struct JobManager {
    cluster: Arc<Cluster>,
    rpc_addr: SocketAddr,
    rest_addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl JobManager {
    /// Starts the RPC server and the REST API as `config` says (port 0: any free port), and the
    /// job of `job.builtin` if one is configured (application mode), with the built-in jobs.
    pub fn start(config: Config) -> Result<JobManager> {
        JobManager::start_with(config, Arc::new(Registry::with_builtins()))
    }

    /// [`JobManager::start`] with the jobs of `registry`.
    pub fn start_with(config: Config, registry: Arc<Registry>) -> Result<JobManager> {
        let runtime = runtime("jobmanager")?;
        let rpc_bind = socket_addr(&config.rpc.bind, config.rpc.port.unwrap_or(DEFAULT_RPC_PORT))?;
        let rest_bind = socket_addr(&config.rest.bind, config.rest.port.unwrap_or(DEFAULT_REST_PORT))?;
        // Unique among the JobManagers of a cluster, and the same for a restarted container (whose
        // pid is the same), which then takes its lease back without waiting for it to expire.
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let identity = format!("{}-{}-{}", host_name(), std::process::id(), STARTED.fetch_add(1, Ordering::SeqCst));
        let ha = HaServices::from_config(&config, &identity)?;
        let cluster = Arc::new(Cluster::new(config, registry, ha));
        let (rpc_addr, rest_addr) = runtime.block_on(async {
            let rpc = tokio::net::TcpListener::bind(rpc_bind)
                .await
                .map_err(|e| Error::io(format!("cannot listen for RPC on {rpc_bind}"), e))?;
            let rest = tokio::net::TcpListener::bind(rest_bind)
                .await
                .map_err(|e| Error::io(format!("cannot listen for REST on {rest_bind}"), e))?;
            let addrs = (
                rpc.local_addr().map_err(|e| Error::io("reading the RPC address", e))?,
                rest.local_addr().map_err(|e| Error::io("reading the REST address", e))?,
            );
            let service = JobManagerServer::new(RpcService { cluster: cluster.clone() });
            tokio::spawn(async move {
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(rpc);
                if let Err(e) =
                    tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await
                {
                    tracing::error!("the RPC server stopped: {e}");
                }
            });
            let app = rest::router(cluster.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(rest, app).await {
                    tracing::error!("the REST server stopped: {e}");
                }
            });
            Ok::<_, Error>(addrs)
        })?;
        tracing::info!(rpc = %rpc_addr, rest = %rest_addr, "JobManager started");
        let host = cluster.config.rpc.advertised_address.clone().unwrap_or_else(host_name);
        let rest_host = cluster.config.rest.advertised_address.clone().unwrap_or_else(|| host.clone());
        let _ = cluster
            .advertised
            .set((format!("{host}:{}", rpc_addr.port()), format!("{rest_host}:{}", rest_addr.port())));
        match cluster.ha.clone() {
            None => cluster.lead(0)?,
            Some(ha) => {
                tracing::info!(identity = %ha.identity(), records = %ha.describe(), "campaigning for leadership");
                let c = cluster.clone();
                std::thread::Builder::new()
                    .name("leader-election".into())
                    .spawn(move || elect(&c, &ha))
                    .map_err(|e| Error::io("starting the leader election", e))?;
            }
        }
        Ok(JobManager { cluster, rpc_addr, rest_addr, runtime })
    }

    /// The address TaskManagers connect to.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// The address of the REST API and web UI.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// The shared state.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Stops the servers. Without HA its jobs are cancelled; with HA they stay running in the
    /// records and the lease is given up, so a standby resumes them at once.
    pub fn shutdown(self) {
        let epoch = self.cluster.epoch.load(Ordering::SeqCst);
        let leading = self.cluster.is_leader();
        match &self.cluster.ha {
            None => {
                for job in self.cluster.jobs() {
                    if let Some(h) = &job.handle {
                        h.cancel();
                    }
                }
            }
            Some(ha) => {
                self.cluster.suspend();
                if leading && let Err(e) = ha.release(epoch) {
                    tracing::warn!("cannot give up the leader lease ({e}); a standby takes over when it expires");
                }
            }
        }
        self.runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

/// Campaigns until this JobManager leads, leads while it renews its lease, and suspends its jobs
/// when the lease is lost (the process then exits: see [`Cluster::is_deposed`]).
fn elect(cluster: &Arc<Cluster>, ha: &HaServices) {
    let (rpc, rest) = cluster.advertised.get().cloned().unwrap_or_default();
    let period = ha.lease_duration() / 3;
    let epoch = loop {
        if cluster.suspended.load(Ordering::SeqCst) {
            return;
        }
        match ha.try_acquire(&rpc, &rest) {
            Ok(Some(epoch)) => break epoch,
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "cannot read the HA records at {} ({e}); check that ha.dir is shared and writable by every \
                 JobManager (file), or that their ServiceAccount may get, create and update leases and configmaps \
                 (kubernetes)",
                ha.describe()
            ),
        }
        let leader = ha.leader().unwrap_or(None);
        let mut known = cluster.leader.lock().expect("cluster lock");
        if leader.as_ref().map(|l| l.epoch) != known.as_ref().map(|l| l.epoch)
            && let Some(l) = &leader
        {
            tracing::info!(leader = %l.holder, epoch = l.epoch, rpc = %l.rpc_address, "standing by");
        }
        *known = leader;
        drop(known);
        std::thread::sleep(period);
    };
    *cluster.leader.lock().expect("cluster lock") = ha.leader().unwrap_or(None);
    // Taking over may restore many jobs from remote storage: the lease is renewed meanwhile.
    let leading = cluster.clone();
    let takeover = std::thread::Builder::new().name("leader-takeover".into()).spawn(move || {
        if let Err(e) = leading.lead(epoch) {
            tracing::error!("cannot take over the jobs of the HA records ({e}); stepping down");
            leading.suspend();
        }
    });
    if let Err(e) = takeover {
        tracing::error!("cannot start taking over the jobs ({e}); stepping down");
        cluster.suspend();
    }
    let mut renewed = Instant::now();
    loop {
        std::thread::sleep(period);
        if cluster.suspended.load(Ordering::SeqCst) {
            // Shutting down, or the takeover failed: let a standby lead at once.
            let _ = ha.release(epoch);
            return;
        }
        match ha.renew(epoch) {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => {
                tracing::error!(epoch, "this JobManager lost its leadership: another one took the lease");
                break;
            }
            Err(e) if renewed.elapsed() < ha.lease_duration() => {
                tracing::warn!("cannot renew the leader lease ({e}); retrying");
            }
            Err(e) => {
                tracing::error!(epoch, "the leader lease ran out while it could not be renewed ({e})");
                break;
            }
        }
    }
    cluster.suspend();
}
