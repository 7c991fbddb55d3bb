//! The TaskManager: registers its slots with the JobManager, runs the tasks the JobManager deploys,
//! forwards checkpoint triggers and completions to them, stores their snapshots itself (so state
//! never travels through the JobManager) and reports task states, snapshot handles, counters and
//! heartbeats. It serves `/healthz`, `/readyz` (registered with a JobManager) and `/metrics` on its
//! metrics port.
//!
//! When its session ends (the JobManager died, restarted, or declared it lost after missed
//! heartbeats), the TaskManager cancels every task it runs, since their attempts have failed, and
//! registers again: a restarted JobManager or a new leader finds it without a restart of the pod.

use crate::ha::HaServices;
use crate::jobmanager::LEADER_METADATA;
use crate::prometheus::{CONTENT_TYPE, Exposition};
use crate::proto::job_manager_client::JobManagerClient;
use crate::proto::job_manager_message::Body as JmBody;
use crate::proto::task_manager_message::Body as TmBody;
use crate::proto::{self, JobManagerMessage, TaskManagerMessage, task_state::State};
use crate::{VERSION, host_name, runtime, socket_addr};
use crossbeam_channel::Sender;
use ferroflink_core::element::{CheckpointBarrier, SnapshotFormat};
use ferroflink_core::error::{Domain, Error, Result};
use ferroflink_runtime::checkpoint::TaskCommand;
use ferroflink_runtime::checkpoint::TaskSnapshot;
use ferroflink_runtime::checkpoint::coordinator::{CheckpointTarget, SnapshotSender, TaskEvents, write_states};
use ferroflink_runtime::checkpoint::restore::{RestoreMode, RestoreSettings, RestoredSnapshot};
use ferroflink_runtime::deploy::{Deployment, RemoteWiring, deploy, task_index};
use ferroflink_runtime::metrics::TaskMetrics;
use ferroflink_runtime::network::inbound::DataServer;
use ferroflink_runtime::planner::{PlannedJob, Planner};
use ferroflink_runtime::source::{SplitAnswer, SplitRequester};
use ferroflink_state::StateBackendConfig;
use ferroflink_state::rocksdb::{RocksDbConfig, RocksDbResources};
use ferroflink_state::s3::S3Config;
use ferroflink_state::storage;
use ferroflink_types::config::{Config, DEFAULT_METRICS_PORTS, MANAGED_FRACTION, NetworkCompression};
use ferroflink_types::spec::{Job, JobSpec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// How long a snapshot waits for its checkpoint's trigger to name where it goes (a barrier from
/// another TaskManager can overtake the trigger).
const TARGET_WAIT: Duration = Duration::from_secs(60);

/// Snapshot writer threads per TaskManager.
const WRITERS: usize = 2;

/// Where the checkpoints of one attempt go, as the triggers announce them.
#[derive(Default)]
struct Targets {
    by_id: Mutex<HashMap<u64, CheckpointTarget>>,
    announced: Condvar,
}

impl Targets {
    fn announce(&self, id: u64, target: CheckpointTarget) {
        let mut by_id = self.by_id.lock().expect("targets lock");
        by_id.retain(|old, _| *old + 16 > id);
        by_id.insert(id, target);
        self.announced.notify_all();
    }

    fn wait(&self, id: u64, cancel: &AtomicBool) -> Option<CheckpointTarget> {
        let deadline = Instant::now() + TARGET_WAIT;
        let mut by_id = self.by_id.lock().expect("targets lock");
        loop {
            if let Some(t) = by_id.get(&id) {
                return Some(t.clone());
            }
            if cancel.load(Ordering::SeqCst) || Instant::now() > deadline {
                return None;
            }
            by_id = self.announced.wait_timeout(by_id, Duration::from_millis(100)).expect("targets lock").0;
        }
    }
}

/// The tasks of one attempt running here.
struct Attempt {
    job_id: String,
    number: u64,
    cancel: Arc<AtomicBool>,
    /// Each task's command channel, once the tasks started.
    commands: OnceLock<Vec<Sender<TaskCommand>>>,
    metrics: Vec<(usize, Arc<TaskMetrics>)>,
    targets: Arc<Targets>,
    s3: S3Config,
    /// Why the attempt failed here outside its tasks (a data connection broke).
    failure: Mutex<Option<String>>,
    /// Per checkpoint, the JobManager's checkpoint span (W3C traceparent).
    traces: Mutex<HashMap<u64, String>>,
}

/// A snapshot to store.
struct WriteJob {
    attempt: Arc<Attempt>,
    snapshot: TaskSnapshot,
}

/// The TaskManager's state, shared by its session, its task threads and its writers.
struct Shared {
    config: Config,
    /// The jobs this TaskManager's binary knows.
    planner: Arc<dyn Planner>,
    id: String,
    slots: usize,
    memory: u64,
    /// The current session's outbound stream (`None` between sessions).
    outbound: Mutex<Option<UnboundedSender<TaskManagerMessage>>>,
    attempts: Mutex<HashMap<(String, u64), Arc<Attempt>>>,
    writes: Sender<WriteJob>,
    /// Where channels from other TaskManagers arrive.
    data: DataServer,
    /// `host:port` other TaskManagers reach `data` at.
    data_address: String,
    /// The RocksDB memory budget, once a job needs it.
    rocksdb: Mutex<Option<Arc<RocksDbResources>>>,
    /// Where the leading JobManager is published (with HA).
    ha: Option<Arc<HaServices>>,
    /// The leader a standby named when it refused this TaskManager.
    redirect: Mutex<Option<String>>,
    /// The newest leader epoch this TaskManager served: older leaders were deposed.
    known_epoch: AtomicU64,
    /// Source readers waiting for the JobManager's answer to their split request, by request id.
    split_requests: Mutex<HashMap<u64, crossbeam_channel::Sender<proto::SplitAssignment>>>,
    next_split_request: AtomicU64,
}

impl Shared {
    fn send(&self, body: TmBody) {
        if let Some(tx) = self.outbound.lock().expect("session lock").as_ref() {
            // A closed session means the JobManager has given up on these tasks anyway.
            let _ = tx.send(TaskManagerMessage { body: Some(body) });
        }
    }

    fn task_state(&self, job_id: &str, attempt: u64, task: usize, state: State, error: Option<&Error>) {
        self.send(TmBody::TaskState(proto::TaskState {
            job_id: job_id.to_string(),
            attempt,
            task: task as u32,
            state: state as i32,
            error: error.map(ToString::to_string).unwrap_or_default(),
            user_error: error.is_some_and(|e| e.domain() == Domain::User),
        }));
    }

    fn attempt(&self, job_id: &str, number: u64) -> Option<Arc<Attempt>> {
        self.attempts.lock().expect("attempts lock").get(&(job_id.to_string(), number)).cloned()
    }

    /// Stops every task: their JobManager session is gone.
    fn cancel_all(&self) {
        for a in self.attempts.lock().expect("attempts lock").values() {
            a.cancel.store(true, Ordering::SeqCst);
        }
    }

    /// The RocksDB budget of this TaskManager, shared by every instance of every job it runs:
    /// `state.rocksdb-memory`, else [`MANAGED_FRACTION`] of its memory. The first RocksDB job's
    /// tuning settings apply.
    fn rocksdb(&self, job: &RocksDbConfig) -> Arc<RocksDbResources> {
        let mut shared = self.rocksdb.lock().expect("rocksdb lock");
        if let Some(r) = shared.as_ref() {
            return r.clone();
        }
        let mut config = job.clone();
        let state = &self.config.state;
        config.memory_bytes = state.rocksdb_memory.unwrap_or((self.memory as f64 * MANAGED_FRACTION) as usize);
        if let Some(dir) = &state.rocksdb_dir {
            config.local_dir = dir.into();
        }
        tracing::info!(bytes = config.memory_bytes, "RocksDB memory budget of this TaskManager");
        shared.insert(RocksDbResources::new(config)).clone()
    }

    /// Builds the job of `d` and starts the tasks it places here; a deployment that cannot start
    /// fails each of its tasks with the reason.
    fn deploy(self: &Arc<Self>, d: proto::Deploy) {
        let span = tracing::info_span!("deploy tasks", job_id = %d.job_id, attempt = d.attempt, tasks = d.tasks.len());
        ferroflink_telemetry::set_parent(&span, &d.traceparent);
        if let Err(e) = span.in_scope(|| self.try_deploy(&d)) {
            tracing::error!(job_id = %d.job_id, attempt = d.attempt, "cannot deploy: {e}");
            for t in &d.tasks {
                self.task_state(&d.job_id, d.attempt, t.index as usize, State::Failed, Some(&e));
            }
        }
    }

    fn try_deploy(self: &Arc<Self>, d: &proto::Deploy) -> Result<()> {
        let PlannedJob { graph, settings, .. } = plan(self.planner.as_ref(), d)?;
        let graph = Arc::new(graph);
        let s3 = settings.checkpoint.s3.clone().or(S3Config::from(&self.config.s3));
        let mut tasks = Vec::new();
        for t in &d.tasks {
            let (v, i) = (t.vertex as usize, t.subtask as usize);
            if graph.vertices.get(v).is_none_or(|vertex| i >= vertex.parallelism)
                || task_index(&graph, v, i) != t.index as usize
            {
                return Err(Error::Internal(format!(
                    "the JobManager deployed subtask {i} of vertex {v}, which the job built here does not have: \
                     JobManager and TaskManager must run the same ferroflink version with the same job arguments"
                )));
            }
            tasks.push((v, i));
        }
        let restored = if d.restore_location.is_empty() {
            None
        } else {
            let settings = RestoreSettings {
                path: d.restore_location.clone(),
                mode: RestoreMode::NoClaim,
                allow_non_restored_state: d.allow_non_restored_state,
            };
            let snapshot = RestoredSnapshot::load(&settings, &s3)?;
            snapshot.check_fits(graph.operators())?;
            Some(Arc::new(snapshot))
        };
        let metrics: HashMap<(usize, usize), Arc<TaskMetrics>> =
            tasks.iter().map(|&t| (t, Arc::new(TaskMetrics::default()))).collect();
        let attempt = Arc::new(Attempt {
            job_id: d.job_id.clone(),
            number: d.attempt,
            cancel: Arc::new(AtomicBool::new(false)),
            commands: OnceLock::new(),
            metrics: tasks.iter().map(|&(v, i)| (task_index(&graph, v, i), metrics[&(v, i)].clone())).collect(),
            targets: Arc::new(Targets::default()),
            s3: s3.clone(),
            failure: Mutex::new(None),
            traces: Mutex::new(HashMap::new()),
        });
        let snapshots = {
            let (writes, attempt) = (self.writes.clone(), attempt.clone());
            SnapshotSender::new(move |snapshot| {
                let _ = writes.send(WriteJob { attempt: attempt.clone(), snapshot });
            })
        };
        let rocksdb = match &settings.state_backend {
            StateBackendConfig::Heap => None,
            StateBackendConfig::RocksDb(config) => Some(self.rocksdb(config)),
        };
        let events = Arc::new(RemoteEvents { shared: self.clone(), job_id: d.job_id.clone(), attempt: d.attempt });
        let mut locations = HashMap::new();
        for l in &d.locations {
            let t = l.task.ok_or_else(|| Error::Internal("a task location without its task".into()))?;
            locations.insert((t.vertex as usize, t.subtask as usize), l.data_address.clone());
        }
        let failed: Arc<dyn Fn(Error) + Send + Sync> = {
            let attempt = attempt.clone();
            Arc::new(move |e: Error| {
                tracing::warn!(job_id = %attempt.job_id, attempt = attempt.number, "{e}");
                attempt.failure.lock().expect("attempt lock").get_or_insert(e.to_string());
            })
        };
        let deployed = deploy(Deployment {
            job: &graph,
            job_name: &d.job_name,
            attempt: d.attempt,
            tasks: &tasks,
            restored,
            cancel: &attempt.cancel,
            metrics: &metrics,
            rocksdb,
            s3: Arc::new(s3),
            final_snapshot: d.final_snapshot,
            snapshots,
            events,
            remote: Some(RemoteWiring {
                job_id: &d.job_id,
                locations: &locations,
                server: &self.data,
                failed,
                compress: self.config.taskmanager.network_compression == NetworkCompression::Lz4,
            }),
            splits: Arc::new(RemoteSplits {
                shared: self.clone(),
                job_id: d.job_id.clone(),
                attempt: d.attempt,
                cancel: attempt.cancel.clone(),
            }),
        })?;
        let _ = attempt.commands.set(deployed.commands.iter().map(|(_, c)| c.clone()).collect());
        let key = (d.job_id.clone(), d.attempt);
        // Known before its tasks run, so a trigger that follows their start finds them.
        self.attempts.lock().expect("attempts lock").insert(key.clone(), attempt.clone());
        let threads = match deployed.start() {
            Ok(t) => t,
            Err(e) => {
                self.attempts.lock().expect("attempts lock").remove(&key);
                return Err(e);
            }
        };
        tracing::info!(job_id = %d.job_id, attempt = d.attempt, tasks = tasks.len(), "deployed");
        let shared = self.clone();
        std::thread::Builder::new()
            .name("task-reaper".into())
            .spawn(move || {
                for (task, thread) in threads {
                    let outcome = ferroflink_runtime::minicluster::join_tasks(std::iter::once(thread));
                    // A task cancelled because a data connection broke failed with that reason.
                    let failure = attempt.failure.lock().expect("attempt lock").clone().map(Error::Cluster);
                    match outcome.err().or(failure) {
                        None => shared.task_state(&key.0, key.1, task, State::Ended, None),
                        Some(e) => shared.task_state(&key.0, key.1, task, State::Failed, Some(&e)),
                    }
                }
                shared.send_metrics(&attempt);
                shared.data.unregister(&key.0, key.1);
                shared.attempts.lock().expect("attempts lock").remove(&key);
            })
            .map_err(|e| Error::io("starting a task reaper", e))?;
        Ok(())
    }

    fn trigger(&self, t: proto::TriggerCheckpoint) {
        let Some(attempt) = self.attempt(&t.job_id, t.attempt) else { return };
        let storage = match storage::open(&t.location, &attempt.s3) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(checkpoint_id = t.checkpoint_id, "cannot open the checkpoint's storage: {e}");
                return;
            }
        };
        let shared =
            if t.shared_location.is_empty() { None } else { storage::open(&t.shared_location, &attempt.s3).ok() };
        if !t.traceparent.is_empty() {
            let mut traces = attempt.traces.lock().expect("attempt lock");
            traces.retain(|id, _| *id + 16 > t.checkpoint_id);
            traces.insert(t.checkpoint_id, t.traceparent.clone());
        }
        attempt.targets.announce(t.checkpoint_id, CheckpointTarget { storage, shared });
        let format =
            if t.incremental { SnapshotFormat::Incremental { base: t.base } } else { SnapshotFormat::Canonical };
        let barrier = CheckpointBarrier { id: t.checkpoint_id, timestamp: t.timestamp_ms, format };
        for c in attempt.commands.get().into_iter().flatten() {
            let _ = c.send(TaskCommand::Trigger(barrier));
        }
    }

    fn complete(&self, c: proto::CheckpointComplete) {
        let Some(attempt) = self.attempt(&c.job_id, c.attempt) else { return };
        for tx in attempt.commands.get().into_iter().flatten() {
            let _ = tx.send(TaskCommand::Complete { checkpoint_id: c.checkpoint_id, then_exit: c.then_exit });
        }
    }

    fn send_metrics(&self, attempt: &Attempt) {
        let tasks = attempt
            .metrics
            .iter()
            .map(|(task, m)| proto::TaskCounters {
                task: *task as u32,
                records_in: m.records_in.load(Ordering::Relaxed),
                records_out: m.records_out.load(Ordering::Relaxed),
                sink_records: m.sink_records.load(Ordering::Relaxed),
                records_in_errors: m.records_in_errors.load(Ordering::Relaxed),
                idle_ns: m.idle_ns.load(Ordering::Relaxed),
                backpressured_ns: m.backpressured_ns.load(Ordering::Relaxed),
                total_ns: m.total(),
                watermark: m.watermark.load(Ordering::Relaxed),
            })
            .collect();
        self.send(TmBody::Metrics(proto::MetricsReport {
            job_id: attempt.job_id.clone(),
            attempt: attempt.number,
            tasks,
        }));
    }

    /// Stores snapshots as they come, reporting each to the JobManager.
    fn write_loop(&self, jobs: crossbeam_channel::Receiver<WriteJob>) {
        for WriteJob { attempt, snapshot } in jobs {
            let id = snapshot.checkpoint_id;
            let Some(target) = attempt.targets.wait(id, &attempt.cancel) else {
                if !attempt.cancel.load(Ordering::SeqCst) {
                    tracing::warn!(
                        checkpoint_id = id,
                        "no trigger named where checkpoint {id} goes; its snapshot is dropped"
                    );
                }
                continue;
            };
            let span =
                tracing::info_span!("snapshot", job_id = %attempt.job_id, checkpoint_id = id, task = snapshot.task);
            if let Some(parent) = attempt.traces.lock().expect("attempt lock").get(&id) {
                ferroflink_telemetry::set_parent(&span, parent);
            }
            let result = span.in_scope(|| write_states(&target.storage, target.shared.as_ref(), snapshot.states));
            let (written, bytes, error) = match result {
                Ok((written, bytes)) => match serde_json::to_vec(&written) {
                    Ok(json) => (json, bytes, String::new()),
                    Err(e) => (Vec::new(), 0, format!("cannot encode the snapshot report: {e}")),
                },
                Err(e) => (Vec::new(), 0, e),
            };
            self.send(TmBody::SnapshotWritten(proto::SnapshotWritten {
                job_id: attempt.job_id.clone(),
                attempt: attempt.number,
                checkpoint_id: id,
                task: snapshot.task as u32,
                written,
                bytes,
                error,
            }));
        }
    }
}

/// Reports task progress to the JobManager.
struct RemoteEvents {
    shared: Arc<Shared>,
    job_id: String,
    attempt: u64,
}

impl TaskEvents for RemoteEvents {
    fn running(&self, task: usize) {
        self.shared.task_state(&self.job_id, self.attempt, task, State::Running, None);
    }

    fn finished(&self, task: usize) {
        self.shared.task_state(&self.job_id, self.attempt, task, State::FinishedInput, None);
    }
}

/// Asks the JobManager's enumerators for splits, over the session.
struct RemoteSplits {
    shared: Arc<Shared>,
    job_id: String,
    attempt: u64,
    cancel: Arc<AtomicBool>,
}

/// How long a reader waits for the JobManager's answer before its task fails.
const SPLIT_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

impl SplitRequester for RemoteSplits {
    fn request(&self, operator_id: &str, subtask: usize, checkpoint: u64) -> Result<SplitAnswer<Vec<u8>>> {
        use proto::split_assignment::Kind;
        let request_id = self.shared.next_split_request.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.shared.split_requests.lock().expect("split lock").insert(request_id, tx);
        self.shared.send(TmBody::SplitRequest(proto::SplitRequest {
            job_id: self.job_id.clone(),
            attempt: self.attempt,
            operator_id: operator_id.to_string(),
            subtask: subtask as u32,
            request_id,
            checkpoint_id: checkpoint,
        }));
        let deadline = Instant::now() + SPLIT_ANSWER_TIMEOUT;
        let answer = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(answer) => break Ok(answer),
                Err(_) if self.cancel.load(Ordering::SeqCst) => break Err(Error::Cancelled),
                Err(_) if Instant::now() > deadline => {
                    break Err(Error::Cluster(format!(
                        "the JobManager did not answer a split request of source {operator_id} within \
                         {SPLIT_ANSWER_TIMEOUT:?}; is it reachable?"
                    )));
                }
                Err(_) => {}
            }
        };
        self.shared.split_requests.lock().expect("split lock").remove(&request_id);
        let answer = answer?;
        match Kind::try_from(answer.kind) {
            Ok(Kind::Split) => Ok(SplitAnswer::Split(answer.split)),
            Ok(Kind::NoneYet) => Ok(SplitAnswer::NoneYet(Duration::from_millis(answer.wait_ms))),
            Ok(Kind::NoMoreSplits) => Ok(SplitAnswer::NoMoreSplits),
            Ok(Kind::Failed) => {
                Err(Error::Cluster(format!("the JobManager's split enumerator failed: {}", answer.error)))
            }
            Err(_) => {
                Err(Error::Cluster(format!("the JobManager sent a split answer of unknown kind {}", answer.kind)))
            }
        }
    }
}

/// Why a session ended.
enum SessionEnd {
    /// The JobManager refused this TaskManager: retrying cannot help.
    Refused(String),
    /// The connection failed or was lost: register again.
    Lost(String),
}

/// The memory budget: `taskmanager.memory`, else the cgroup's `memory.max`, else the machine's.
fn memory_budget(config: &Config) -> u64 {
    if let Some(m) = config.taskmanager.memory {
        return m as u64;
    }
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|t| t.trim().parse::<u64>().ok());
    let machine = || {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
    };
    cgroup.or_else(machine).unwrap_or(0)
}

/// Runs a TaskManager until it is refused by its JobManager or the process is stopped.
pub fn run(config: Config, planner: Arc<dyn Planner>) -> Result<()> {
    let rt = runtime("taskmanager")?;
    let (writes, jobs) = crossbeam_channel::unbounded();
    let data = DataServer::start(socket_addr(&config.data.bind, config.data.port.unwrap_or(0))?)?;
    let advertised = config.data.advertised_address.clone().unwrap_or_else(host_name);
    let data_address = format!("{advertised}:{}", data.local_addr().port());
    let shared = Arc::new(Shared {
        planner,
        id: format!(
            "{}-{}-{:x}",
            host_name(),
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
        ),
        slots: config.taskmanager.slots.max(1),
        memory: memory_budget(&config),
        ha: match HaServices::from_config(&config, "taskmanager") {
            Ok(ha) => ha.map(Arc::new),
            Err(e) => {
                tracing::warn!("cannot read the HA records ({e}); registering with {}", config.jobmanager_address());
                None
            }
        },
        redirect: Mutex::new(None),
        known_epoch: AtomicU64::new(0),
        split_requests: Mutex::new(HashMap::new()),
        next_split_request: AtomicU64::new(0),
        config,
        outbound: Mutex::new(None),
        attempts: Mutex::new(HashMap::new()),
        writes,
        data,
        data_address,
        rocksdb: Mutex::new(None),
    });
    for i in 0..WRITERS {
        let (shared, jobs) = (shared.clone(), jobs.clone());
        std::thread::Builder::new()
            .name(format!("snapshot-writer-{i}"))
            .spawn(move || shared.write_loop(jobs))
            .map_err(|e| Error::io("starting a snapshot writer", e))?;
    }
    rt.block_on(async move {
        let listener = metrics_listener(&shared.config).await?;
        let metrics_addr = listener.local_addr().map_err(|e| Error::io("reading the metrics address", e))?;
        if let Some(file) = &shared.config.metrics.port_file {
            std::fs::write(file, metrics_addr.port().to_string())
                .map_err(|e| Error::io(format!("writing the metrics port to {file} (metrics.port-file)"), e))?;
        }
        let app = health_router(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the metrics server stopped: {e}");
            }
        });
        tracing::info!(
            id = %shared.id,
            slots = shared.slots,
            data = %shared.data_address,
            metrics = %metrics_addr,
            "TaskManager started"
        );
        loop {
            match session(&shared, metrics_addr).await {
                SessionEnd::Refused(why) => {
                    return Err(Error::Cluster(format!("the JobManager refused this TaskManager: {why}")));
                }
                SessionEnd::Lost(why) => {
                    *shared.outbound.lock().expect("session lock") = None;
                    if !shared.attempts.lock().expect("attempts lock").is_empty() {
                        tracing::warn!("{why}; cancelling the tasks of this TaskManager");
                    } else {
                        tracing::warn!("{why}; registering again in 1 s");
                    }
                    shared.cancel_all();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}

/// Plans the job of `d` as this TaskManager's image does, and checks that the plan is the one the
/// JobManager deployed ([`ferroflink_runtime::graph::job_graph::JobGraph::plan_digest`]). A job the image does not know, or one it plans
/// differently, is refused as the user's error, so the job fails at once and is not retried.
fn plan(planner: &dyn Planner, d: &proto::Deploy) -> Result<PlannedJob> {
    let spec: JobSpec = serde_json::from_str(&d.spec).map_err(|e| {
        Error::InvalidJob(format!(
            "job '{}' ({}): the JobManager sent a spec this TaskManager cannot read ({e}): run JobManager and \
             TaskManagers from the same image",
            d.job_name, d.job_id
        ))
    })?;
    if matches!(spec.job, Job::Registered { .. }) && !planner.knows(spec.name()) {
        return Err(Error::InvalidJob(format!(
            "job '{}' ({}) runs '{}', which this TaskManager's image does not know (it has {}): run the \
             TaskManagers from the JobManager's image",
            d.job_name,
            d.job_id,
            spec.name(),
            planner.names()
        )));
    }
    let planned = planner.plan(&spec)?;
    let digest = planned.graph.plan_digest();
    if digest != d.plan_digest {
        return Err(Error::InvalidJob(format!(
            "job '{}' ({}): this TaskManager plans another job graph than the JobManager (plan digest {digest} \
             here, {} on the JobManager): run JobManager and TaskManagers from the same image",
            d.job_name, d.job_id, d.plan_digest
        )));
    }
    Ok(planned)
}

/// Listens on the first free port of `metrics.port` (a port or a range). Without one configured,
/// the first free port of [`DEFAULT_METRICS_PORTS`], else any free port: several TaskManagers on
/// one host all start, and each reports its port to the JobManager.
async fn metrics_listener(config: &Config) -> Result<tokio::net::TcpListener> {
    let range = config.metrics.port.unwrap_or(DEFAULT_METRICS_PORTS);
    let mut last_error = None;
    for port in range.ports() {
        let addr = socket_addr(&config.metrics.bind, port)?;
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    let e = last_error.expect("a range holds a port");
    if config.metrics.port.is_none() && e.kind() == std::io::ErrorKind::AddrInUse {
        tracing::warn!("the metrics ports {range} are all taken; the kernel picks one");
        let addr = socket_addr(&config.metrics.bind, 0)?;
        return tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("cannot listen for metrics on {addr}"), e));
    }
    Err(Error::io(
        format!(
            "cannot listen for metrics on {}:{range} (metrics.port); give a free port or a range such as \
             9249-9260",
            config.metrics.bind
        ),
        e,
    ))
}

/// The JobManager to register with: the one a standby named, else the leader of the HA records,
/// else the configured one ([`Config::jobmanager_address`]).
async fn leader_address(shared: &Arc<Shared>) -> String {
    if let Some(a) = shared.redirect.lock().expect("session lock").take() {
        return a;
    }
    if let Some(ha) = shared.ha.clone() {
        match tokio::task::spawn_blocking(move || ha.leader()).await {
            Ok(Ok(Some(leader))) => return leader.rpc_address,
            Ok(Ok(None)) => tracing::info!("no JobManager leads yet"),
            Ok(Err(e)) => tracing::warn!("cannot read the leader from the HA records: {e}"),
            Err(e) => tracing::warn!("the leader lookup failed: {e}"),
        }
    }
    shared.config.jobmanager_address()
}

async fn session(shared: &Arc<Shared>, metrics_addr: std::net::SocketAddr) -> SessionEnd {
    let address = &leader_address(shared).await;
    let endpoint = if address.contains("://") { address.clone() } else { format!("http://{address}") };
    let mut client = match JobManagerClient::connect(endpoint.clone()).await {
        Ok(c) => c,
        Err(e) => return SessionEnd::Lost(format!("cannot reach the JobManager at {address}: {e}")),
    };
    let (tx, rx) = unbounded_channel();
    let advertised = shared.config.data.advertised_address.clone().unwrap_or_else(host_name);
    let register = proto::Register {
        version: VERSION.to_string(),
        taskmanager_id: shared.id.clone(),
        slots: shared.slots as u32,
        data_address: shared.data_address.clone(),
        memory_bytes: shared.memory,
        metrics_address: format!("{advertised}:{}", metrics_addr.port()),
        known_epoch: shared.known_epoch.load(Ordering::SeqCst),
    };
    let _ = tx.send(TaskManagerMessage { body: Some(TmBody::Register(register)) });
    let mut inbound = match client.session(UnboundedReceiverStream::new(rx)).await {
        Ok(r) => r.into_inner(),
        Err(s) if matches!(s.code(), tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument) => {
            return SessionEnd::Refused(s.message().to_string());
        }
        Err(s) if s.code() == tonic::Code::Unavailable && s.metadata().contains_key(LEADER_METADATA) => {
            let leader = s.metadata().get(LEADER_METADATA).and_then(|v| v.to_str().ok()).map(str::to_string);
            *shared.redirect.lock().expect("session lock") = leader;
            return SessionEnd::Lost(s.message().to_string());
        }
        Err(s) => {
            return SessionEnd::Lost(format!(
                "the JobManager at {address} did not accept the session: {}",
                s.message()
            ));
        }
    };
    let (registered, epoch) = match inbound.next().await {
        Some(Ok(JobManagerMessage { body: Some(JmBody::Registered(r)), epoch })) => (r, epoch),
        Some(Ok(_)) => return SessionEnd::Lost("the JobManager did not confirm the registration".into()),
        Some(Err(s)) => return SessionEnd::Lost(format!("the JobManager ended the session: {}", s.message())),
        None => return SessionEnd::Lost("the JobManager closed the session".into()),
    };
    let interval = Duration::from_millis(registered.heartbeat_interval_ms.max(10));
    let timeout = Duration::from_millis(registered.heartbeat_timeout_ms.max(100));
    let known = shared.known_epoch.fetch_max(epoch, Ordering::SeqCst);
    if epoch < known {
        return SessionEnd::Lost(format!(
            "the JobManager at {address} leads epoch {epoch}, but this TaskManager served epoch {known}: it was \
             deposed; looking for the current leader"
        ));
    }
    *shared.outbound.lock().expect("session lock") = Some(tx.clone());
    tracing::info!(jobmanager = %address, epoch, "registered with the JobManager");
    // The JobManager's commands are carried out in order (a cancel never overtakes the deployment
    // it cancels), on a thread of their own: building a job and opening storage block.
    let (commands, queue) = crossbeam_channel::unbounded::<JmBody>();
    let handler = shared.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("jobmanager-commands".into())
        .spawn(move || queue.iter().for_each(|body| handle(&handler, body)))
    {
        return SessionEnd::Lost(format!("cannot start the command thread: {e}"));
    }
    let mut ticks = tokio::time::interval(interval);
    // With HA, the records are read now and then: a newer leader ends a session with a deposed one
    // even while that one still sends.
    let mut leader_checks = tokio::time::interval(interval * 5);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = leader_checks.tick(), if shared.ha.is_some() => {
                let ha = shared.ha.clone().expect("checked");
                if let Ok(Ok(Some(leader))) = tokio::task::spawn_blocking(move || ha.leader()).await
                    && leader.epoch > epoch
                {
                    shared.known_epoch.fetch_max(leader.epoch, Ordering::SeqCst);
                    *shared.redirect.lock().expect("session lock") = Some(leader.rpc_address.clone());
                    return SessionEnd::Lost(format!(
                        "a newer JobManager (epoch {}) leads at {}; leaving the one of epoch {epoch}",
                        leader.epoch, leader.rpc_address
                    ));
                }
            }
            message = inbound.next() => match message {
                Some(Ok(JobManagerMessage { epoch: e, .. })) if e < shared.known_epoch.load(Ordering::SeqCst) => {
                    return SessionEnd::Lost(format!("the JobManager of epoch {e} was deposed by a newer leader"));
                }
                Some(Ok(JobManagerMessage { body: Some(body), .. })) => {
                    last_heard = Instant::now();
                    let _ = commands.send(body);
                }
                Some(Ok(JobManagerMessage { body: None, .. })) => {}
                Some(Err(s)) => return SessionEnd::Lost(format!("the JobManager session failed: {}", s.message())),
                None => return SessionEnd::Lost("the JobManager closed the session".into()),
            },
            _ = ticks.tick() => {
                if last_heard.elapsed() > timeout {
                    return SessionEnd::Lost(format!("no heartbeat from the JobManager for {timeout:?}"));
                }
                if tx.send(TaskManagerMessage { body: Some(TmBody::Heartbeat(proto::Heartbeat {})) }).is_err() {
                    return SessionEnd::Lost("the session closed".into());
                }
                let attempts: Vec<Arc<Attempt>> = shared.attempts.lock().expect("attempts lock").values().cloned().collect();
                for a in attempts {
                    shared.send_metrics(&a);
                }
            }
        }
    }
}

fn handle(shared: &Arc<Shared>, body: JmBody) {
    match body {
        JmBody::Deploy(d) => shared.deploy(d),
        JmBody::TriggerCheckpoint(t) => shared.trigger(t),
        JmBody::CheckpointComplete(c) => shared.complete(c),
        JmBody::CancelAttempt(c) => {
            if let Some(a) = shared.attempt(&c.job_id, c.attempt) {
                a.cancel.store(true, Ordering::SeqCst);
            }
        }
        JmBody::SplitAssignment(a) => {
            if let Some(waiting) = shared.split_requests.lock().expect("split lock").get(&a.request_id) {
                let _ = waiting.try_send(a);
            }
        }
        JmBody::Heartbeat(_) | JmBody::Registered(_) | JmBody::Refused(_) => {}
    }
}

/// `/healthz` (the process is alive), `/readyz` (registered with a JobManager), `/metrics`.
fn health_router(shared: Arc<Shared>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::routing::get;
    let ready = shared.clone();
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let registered = ready.outbound.lock().expect("session lock").is_some();
                async move {
                    if registered {
                        (StatusCode::OK, "registered with the JobManager\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not registered with a JobManager\n")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = prometheus_text(&shared);
                async move { ([("content-type", CONTENT_TYPE)], text) }
            }),
        )
}

/// A Prometheus series: name, kind, help, and its value for one task (`None`: no sample).
type Series = (&'static str, &'static str, &'static str, fn(&TaskMetrics) -> Option<f64>);

fn prometheus_text(shared: &Shared) -> String {
    let attempts: Vec<Arc<Attempt>> = shared.attempts.lock().expect("attempts lock").values().cloned().collect();
    let mut out = Exposition::default();
    out.single("ferroflink_taskmanager_slots", "gauge", "Task slots of this TaskManager.", shared.slots as f64);
    let registered = if shared.outbound.lock().expect("session lock").is_some() { 1.0 } else { 0.0 };
    out.single("ferroflink_taskmanager_registered", "gauge", "1 while registered with a JobManager.", registered);
    let series: [Series; 7] = [
        ("ferroflink_task_records_in_total", "counter", "Records that entered the task.", |m| {
            Some(m.records_in.load(Ordering::Relaxed) as f64)
        }),
        (
            "ferroflink_task_records_in_errors_total",
            "counter",
            "Malformed records the task's source skipped (numRecordsInErrors).",
            |m| Some(m.records_in_errors.load(Ordering::Relaxed) as f64),
        ),
        ("ferroflink_task_records_out_total", "counter", "Records the task sent downstream.", |m| {
            Some(m.records_out.load(Ordering::Relaxed) as f64)
        }),
        ("ferroflink_task_backpressured_seconds_total", "counter", "Time blocked on full output channels.", |m| {
            Some(m.backpressured_ns.load(Ordering::Relaxed) as f64 / 1e9)
        }),
        ("ferroflink_task_idle_seconds_total", "counter", "Time waiting for input.", |m| {
            Some(m.idle_ns.load(Ordering::Relaxed) as f64 / 1e9)
        }),
        ("ferroflink_task_running_seconds_total", "counter", "Time since the task started.", |m| {
            Some(m.total() as f64 / 1e9)
        }),
        ("ferroflink_task_watermark_lag_seconds", "gauge", "Wall-clock time minus the task's input watermark.", |m| {
            let wm = m.watermark.load(Ordering::Relaxed);
            (wm != i64::MIN).then(|| (crate::ha::now_ms() as f64 - wm as f64) / 1000.0)
        }),
    ];
    for (name, kind, help, value) in series {
        out.family(name, kind, help);
        for a in &attempts {
            for (task, m) in &a.metrics {
                if let Some(v) = value(m) {
                    out.sample(name, &[("job_id", &a.job_id), ("task", &task.to_string())], v);
                }
            }
        }
    }
    out.finish()
}
