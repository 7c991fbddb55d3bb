//! The local mini-cluster: N task managers × M slots inside one process. It places the job's
//! subtasks into slots, wires their channels (a bounded channel per producer/consumer pair, so
//! back-pressure is per channel and barriers can be aligned), runs one thread per subtask, and
//! reports the result with per-subtask metrics. The first failing task cancels the others; its error
//! is the job's.

use crate::checkpoint::CheckpointConfig;
use crate::checkpoint::coordinator::{AttemptTasks, CompletedCheckpoint, Coordinator, SavepointTrigger};
use crate::checkpoint::restore::{RestoreMode, RestoreSettings, RestoredSnapshot};
use crate::checkpoint::s3::S3Config;
use crate::error::{Domain, Error, Result};
use crate::graph::execution::{Placement, place, slots_needed};
use crate::graph::job_graph::JobGraph;
use crate::graph::stream_graph::{NodeKind, SourceParams, WriterParams};
use crate::runtime::chain::{Chain, ChainNode, Target, TargetKind};
use crate::runtime::context::{RuntimeContext, TaskInfo};
use crate::runtime::element::Element;
use crate::runtime::gate::InputGate;
use crate::runtime::metrics::{TaskMetrics, TaskMetricsSnapshot};
use crate::runtime::partition::{ChannelSender, ShipStrategy};
use crate::runtime::restart::{RestartStrategy, RestartTracker};
use crate::runtime::task::{Task, TaskCheckpointing, TaskInput};
use crate::state::heap::HeapKeyedStateBackend;
use crate::state::keygroup::KeyGroupRange;
use crate::state::operator::OperatorStateStore;
use crate::state::rocksdb::{RocksDbConfig, RocksDbKeyedStateBackend, RocksDbResources, canonical_from_dbs};
use crate::state::snapshot::OperatorSubtaskState;
use crate::state::{KeyedStateBackend, StateBackendConfig};
use crossbeam_channel::{Receiver, bounded, unbounded};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
}

/// The id of a job that was not given one: 32 hex digits, the xxHash64 of the job name followed by
/// the xxHash64 of its operator ids in order. The same program under the same name always gets the
/// same id, so its checkpoints are found again at `<checkpoint dir>/<job id>/`.
pub fn derive_job_id(job_name: &str, job: &JobGraph) -> String {
    format!("{:016x}{:016x}", xxh64(job_name.as_bytes(), 0), xxh64(job.operator_ids.join(",").as_bytes(), 0))
}

/// Metrics of one vertex after the run.
#[derive(Clone, Debug)]
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

/// What the handle, the supervisor and signal handlers share.
#[derive(Default)]
struct JobShared {
    user_cancelled: AtomicBool,
    attempt_cancel: Mutex<Arc<AtomicBool>>,
    metrics: Mutex<Vec<Vec<Arc<TaskMetrics>>>>,
}

impl JobShared {
    fn cancel(&self) {
        self.user_cancelled.store(true, Ordering::SeqCst);
        self.attempt_cancel.lock().expect("job lock").store(true, Ordering::SeqCst);
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
    sources: Vec<bool>,
    supervisor: JoinHandle<Result<JobResult>>,
}

impl JobHandle {
    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.job_id
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

    /// (records read by sources, records written by sinks) so far in the current attempt.
    pub fn progress(&self) -> (u64, u64) {
        let mut read = 0;
        let mut written = 0;
        for (v, tasks) in self.shared.metrics.lock().expect("job lock").iter().enumerate() {
            for m in tasks {
                if self.sources[v] {
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

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".into()
    }
}

/// Runs `job` on a mini-cluster and waits for it.
pub fn execute(job: &JobGraph, job_name: &str, settings: &ExecutionSettings) -> Result<JobResult> {
    submit(job, job_name, settings)?.wait()
}

/// Starts `job` on a mini-cluster: restores it if asked, runs it under its restart strategy, and
/// checkpoints it if configured.
pub fn submit(job: &JobGraph, job_name: &str, settings: &ExecutionSettings) -> Result<JobHandle> {
    let job_id = settings.job_id.clone().unwrap_or_else(|| derive_job_id(job_name, job));
    let restored = match &settings.restore {
        Some(r) => {
            let snapshot = RestoredSnapshot::load(r, &settings.checkpoint.s3)?;
            snapshot.check_fits(
                job.graph
                    .nodes
                    .iter()
                    .map(|n| (job.operator_ids[n.id].as_str(), n.name.as_str(), job.max_parallelism[n.id])),
            )?;
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
    let coordinator =
        Arc::new(Coordinator::start(settings.checkpoint.clone(), &job_id, job_name, restored.as_deref())?);
    let shared = Arc::new(JobShared::default());
    let job = Arc::new(job.clone());
    let rocksdb = match &settings.state_backend {
        StateBackendConfig::Heap => None,
        StateBackendConfig::RocksDb(config) => Some(RocksDbResources::new(config.clone())),
    };
    let run = AttemptRunner {
        rocksdb,
        s3: Arc::new(settings.checkpoint.s3.clone()),
        job: job.clone(),
        job_name: job_name.to_string(),
        cluster: settings.cluster,
        final_snapshot: settings.checkpoint.has_final_snapshot(),
        coordinator: coordinator.clone(),
        shared: shared.clone(),
    };
    let first = run.start(1, restored.clone())?;
    let strategy = settings.restart.unwrap_or_else(|| RestartStrategy::default_for(settings.checkpoint.enabled()));
    let allow_non_restored = settings.restore.as_ref().is_some_and(|r| r.allow_non_restored_state);
    let started = Instant::now();
    let id = job_id.clone();
    let supervisor = std::thread::Builder::new()
        .name("job-supervisor".into())
        .spawn(move || {
            let mut tracker = RestartTracker::new(strategy);
            let mut attempt = first;
            loop {
                let outcome = attempt.join();
                run.coordinator.set_attempt(None);
                let stopped = run.coordinator.stopped();
                let cancelled = run.shared.user_cancelled.load(Ordering::SeqCst);
                let error = match outcome {
                    _ if stopped => None,
                    Err(_) if cancelled => None,
                    Ok(()) if attempt.cancel.load(Ordering::SeqCst) && !cancelled => Some(Error::Cancelled),
                    Ok(()) => None,
                    Err(e) => Some(e),
                };
                let Some(error) = error else {
                    return Ok(JobResult {
                        job_name: run.job_name.clone(),
                        job_id: id,
                        duration: started.elapsed(),
                        vertices: attempt.results(&run.job),
                        cancelled: cancelled || stopped,
                        savepoint: run.coordinator.exit_savepoint(),
                        restarts: tracker.restarts(),
                        checkpoints: run.coordinator.history(),
                        failed_checkpoints: run.coordinator.failed(),
                        restored_from,
                    });
                };
                let Some(delay) = tracker.on_failure(&error, Instant::now()) else { return Err(error) };
                let from = match run.coordinator.latest() {
                    Some(c) => Some(Arc::new(RestoredSnapshot::from_storage(
                        c.storage,
                        RestoreMode::NoClaim,
                        allow_non_restored,
                    )?)),
                    None => restored.clone(),
                };
                tracing::warn!(
                    restart = tracker.restarts(),
                    "{error}; restarting in {delay:?} from {}",
                    from.as_ref().map_or("the beginning".to_string(), |r| format!(
                        "checkpoint {} ({})",
                        r.metadata.checkpoint_id,
                        r.location()
                    ))
                );
                let until = Instant::now() + delay;
                while Instant::now() < until {
                    if run.shared.user_cancelled.load(Ordering::SeqCst) {
                        return Err(Error::Cancelled);
                    }
                    std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
                }
                attempt = run.start(tracker.restarts() as u64 + 1, from)?;
            }
        })
        .map_err(|e| Error::io("starting the job supervisor", e))?;
    Ok(JobHandle {
        job_id,
        shared,
        coordinator,
        sources: job.vertices.iter().map(|v| v.is_source).collect(),
        supervisor,
    })
}

/// Starts execution attempts of one job.
struct AttemptRunner {
    /// The memory budget of the RocksDB backend, when the job uses it.
    rocksdb: Option<Arc<RocksDbResources>>,
    /// How `s3://` locations are reached (sinks writing there too).
    s3: Arc<S3Config>,
    job: Arc<JobGraph>,
    job_name: String,
    cluster: MiniClusterConfig,
    final_snapshot: bool,
    coordinator: Arc<Coordinator>,
    shared: Arc<JobShared>,
}

/// The task threads of one execution attempt.
struct Attempt {
    cancel: Arc<AtomicBool>,
    metrics: Vec<Vec<Arc<TaskMetrics>>>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl Attempt {
    /// Waits for every task; the first real failure is the attempt's.
    fn join(&mut self) -> Result<()> {
        let mut failure: Option<Error> = None;
        for t in self.threads.drain(..) {
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

    fn results(&self, job: &JobGraph) -> Vec<VertexResult> {
        job.vertices
            .iter()
            .zip(&self.metrics)
            .map(|(v, tasks)| VertexResult {
                name: v.name.clone(),
                subtasks: tasks.iter().map(|m| m.snapshot()).collect(),
            })
            .collect()
    }
}

impl AttemptRunner {
    fn start(&self, number: u64, restored: Option<Arc<RestoredSnapshot>>) -> Result<Attempt> {
        let job = &self.job;
        let job_name = self.job_name.as_str();
        let cluster = self.cluster;
        let needed = slots_needed(job);
        let slots = cluster.slots_per_task_manager.unwrap_or(needed.div_ceil(cluster.task_managers.max(1)));
        let placement: Placement = place(job, cluster.task_managers, slots)?;
        if number == 1 {
            tracing::info!(job = job_name, slots = placement.slots_used, "submitting job\n{}", job.describe());
        }
        let cfg = &job.graph.config;
        let cancel = Arc::new(AtomicBool::new(false));
        *self.shared.attempt_cancel.lock().expect("job lock") = cancel.clone();
        if self.shared.user_cancelled.load(Ordering::SeqCst) {
            cancel.store(true, Ordering::SeqCst);
        }

        // Channels: senders per (vertex, subtask) per stream edge; receivers per (vertex, subtask).
        let mut senders: HashMap<(usize, usize), HashMap<usize, Vec<ChannelSender>>> = HashMap::new();
        let mut receivers: HashMap<(usize, usize), Vec<InputChannel>> = HashMap::new();
        let metrics: Vec<Vec<Arc<TaskMetrics>>> = job
            .vertices
            .iter()
            .map(|v| (0..v.parallelism).map(|_| Arc::new(TaskMetrics::default())).collect())
            .collect();
        *self.shared.metrics.lock().expect("job lock") = metrics.clone();
        for e in &job.edges {
            let (a, b) = (&job.vertices[e.source_vertex], &job.vertices[e.target_vertex]);
            let input = job.graph.edges[e.stream_edge].input;
            for (i, producer_metrics) in metrics[a.index].iter().enumerate() {
                let targets: Vec<usize> =
                    if e.strategy == ShipStrategy::Forward { vec![i] } else { (0..b.parallelism).collect() };
                let mut txs = Vec::new();
                for j in targets {
                    let (tx, rx) = bounded::<Element>(cfg.channel_capacity.max(1));
                    txs.push(ChannelSender::new(tx, cancel.clone(), producer_metrics.clone()));
                    receivers.entry((b.index, j)).or_default().push((rx, input));
                }
                senders.entry((a.index, i)).or_default().insert(e.stream_edge, txs);
            }
        }

        let finished = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let mut commands = Vec::new();
        let mut threads = Vec::new();
        for v in &job.vertices {
            for (i, task_metrics) in metrics[v.index].iter().enumerate() {
                let (command_tx, command_rx) = unbounded();
                let checkpointing = TaskCheckpointing {
                    task: commands.len(),
                    attempt: number,
                    commands: command_rx,
                    snapshots: self.coordinator.snapshot_sender(),
                    finished: finished.clone(),
                    await_final_checkpoint: self.final_snapshot,
                    source_state: None,
                    last_snapshot: 0,
                    max_triggered: None,
                };
                commands.push(command_tx);
                let spec = TaskSpec {
                    job: job.clone(),
                    job_name: job_name.to_string(),
                    vertex: v.index,
                    subtask: i,
                    senders: senders.remove(&(v.index, i)).unwrap_or_default(),
                    receivers: receivers.remove(&(v.index, i)).unwrap_or_default(),
                    cancel: cancel.clone(),
                    metrics: task_metrics.clone(),
                    restored: restored.clone(),
                    rocksdb: self.rocksdb.clone(),
                    s3: self.s3.clone(),
                    checkpointing,
                };
                let name = format!("{} ({}/{})", v.name, i + 1, v.parallelism);
                let cancel = cancel.clone();
                let running = running.clone();
                let thread = std::thread::Builder::new()
                    .name(truncate(&name, 60))
                    .spawn(move || {
                        let display = name.clone();
                        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            let task = spec.build()?;
                            running.fetch_add(1, Ordering::SeqCst);
                            task.run()
                        }));
                        let result = match outcome {
                            Ok(r) => r,
                            Err(panic) => Err(Error::TaskFailed {
                                task: display.clone(),
                                message: panic_message(&panic),
                                cause: Domain::Internal,
                            }),
                        };
                        let result = result.map_err(|e| match e {
                            Error::Cancelled | Error::TaskFailed { .. } => e,
                            other => {
                                Error::TaskFailed { task: display, message: other.to_string(), cause: other.domain() }
                            }
                        });
                        if result.is_err() {
                            cancel.store(true, Ordering::SeqCst);
                        }
                        result
                    })
                    .map_err(|e| Error::io("starting a task thread", e))?;
                threads.push(thread);
            }
        }
        self.coordinator.set_attempt(Some(AttemptTasks {
            attempt: number,
            commands,
            running,
            finished,
            cancel: cancel.clone(),
        }));
        Ok(Attempt { cancel, metrics, threads })
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The receiving end of a channel and the operator input it feeds.
type InputChannel = (Receiver<Element>, usize);

/// What a task thread needs to build its task.
struct TaskSpec {
    job: Arc<JobGraph>,
    job_name: String,
    vertex: usize,
    subtask: usize,
    senders: HashMap<usize, Vec<ChannelSender>>,
    receivers: Vec<InputChannel>,
    cancel: Arc<AtomicBool>,
    metrics: Arc<TaskMetrics>,
    restored: Option<Arc<RestoredSnapshot>>,
    rocksdb: Option<Arc<RocksDbResources>>,
    s3: Arc<S3Config>,
    checkpointing: TaskCheckpointing,
}

impl TaskSpec {
    /// Creates and opens the chain's operators and writers, on the task thread.
    fn build(mut self) -> Result<Task> {
        let job = self.job.clone();
        let cfg = &job.graph.config;
        let v = &job.vertices[self.vertex];
        let info = |node: usize| TaskInfo {
            job_name: self.job_name.clone(),
            task_name: v.name.clone(),
            operator_name: job.graph.nodes[node].name.clone(),
            operator_id: job.operator_ids[node].clone(),
            subtask_index: self.subtask,
            parallelism: v.parallelism,
            max_parallelism: job.max_parallelism[node],
        };
        let head = v.nodes[0];
        let (source, op_nodes): (Option<usize>, &[usize]) = match job.graph.nodes[head].kind {
            NodeKind::Source(_) => (Some(head), &v.nodes[1..]),
            NodeKind::Operator(_) => (None, &v.nodes[..]),
        };
        let position = |node: usize| op_nodes.iter().position(|n| *n == node);
        let mut writers = Vec::new();
        let mut senders = std::mem::take(&mut self.senders);
        let mut targets_of = |node: usize| -> Result<Vec<Target>> {
            let mut targets = Vec::new();
            for (ei, e) in job.graph.out_edges(node) {
                let kind = if job.chained[ei] {
                    TargetKind::Chained { node: position(e.target).expect("chained node in vertex"), input: e.input }
                } else {
                    let channels = senders.remove(&ei).expect("channels for every job edge");
                    let params = WriterParams {
                        batch_size: cfg.batch_size,
                        subtask_index: self.subtask,
                        max_parallelism: job.max_parallelism[e.target],
                    };
                    writers.push((e.writer)(job.strategies[ei], channels, &params));
                    TargetKind::Writer(writers.len() - 1)
                };
                targets.push(Target { tag: e.tag.clone(), kind });
            }
            Ok(targets)
        };
        let source_targets = match source {
            Some(s) => targets_of(s)?,
            None => Vec::new(),
        };
        let mut nodes = Vec::new();
        for &n in op_nodes {
            let NodeKind::Operator(factory) = &job.graph.nodes[n].kind else {
                return Err(Error::InvalidJob("a source can only head a chain".into()));
            };
            let maxp = job.max_parallelism[n];
            let task = info(n);
            let key_groups = KeyGroupRange::for_operator(maxp, v.parallelism, self.subtask);
            let mut restored = self.restored_state(&task, key_groups)?.unwrap_or_default();
            let dbs = self.restored.as_ref().map(|r| r.restored_dbs(&task.operator_id, key_groups)).unwrap_or_default();
            let state = match &self.rocksdb {
                None => {
                    if !dbs.is_empty() {
                        let scratch = RocksDbConfig::default().local_dir;
                        restored.keyed.extend(canonical_from_dbs(&dbs, key_groups, &scratch)?);
                    }
                    KeyedStateBackend::Heap(HeapKeyedStateBackend::restoring(cfg.clock.clone(), maxp, restored.keyed))
                }
                Some(resources) => KeyedStateBackend::RocksDb(RocksDbKeyedStateBackend::new(
                    resources.clone(),
                    &format!("{}-{}", task.operator_id, self.subtask),
                    maxp,
                    key_groups,
                    cfg.clock.clone(),
                    restored.keyed,
                    dbs,
                )),
            };
            let mut ctx = RuntimeContext {
                task,
                key_groups,
                state,
                operator_state: OperatorStateStore::restoring(restored.operator),
                clock: cfg.clock.clone(),
                metrics: self.metrics.clone(),
                final_checkpoint: self.checkpointing.await_final_checkpoint,
                s3: self.s3.clone(),
            };
            let mut op = factory(&ctx);
            op.open(&mut ctx)?;
            self.check_all_restored(&ctx)?;
            nodes.push(ChainNode { op, targets: targets_of(n)?, ctx });
        }
        let chain = Chain { nodes, writers, source_targets, records_out: 0 };
        let input = match source {
            Some(s) => {
                let task = info(s);
                let range = KeyGroupRange::for_operator(task.max_parallelism, task.parallelism, task.subtask_index);
                self.checkpointing.source_state = self.restored_state(&task, range)?;
                let NodeKind::Source(factory) = &job.graph.nodes[s].kind else { unreachable!() };
                let params = SourceParams {
                    batch_size: cfg.batch_size,
                    clock: cfg.clock.clone(),
                    metrics: self.metrics.clone(),
                };
                TaskInput::Source(factory(&params))
            }
            None => TaskInput::Gate(InputGate::new(std::mem::take(&mut self.receivers))),
        };
        Ok(Task {
            info: info(head),
            chain,
            input,
            clock: cfg.clock.clone(),
            cancel: self.cancel,
            metrics: self.metrics,
            checkpointing: self.checkpointing,
        })
    }

    /// The state an operator instance restores, if the job restores a snapshot holding some.
    fn restored_state(&self, task: &TaskInfo, range: KeyGroupRange) -> Result<Option<OperatorSubtaskState>> {
        match &self.restored {
            Some(r) => r.subtask_state(&task.operator_id, task.parallelism, task.subtask_index, range),
            None => Ok(None),
        }
    }

    /// Refuses restored state the operator did not declare, unless the user allowed dropping it.
    fn check_all_restored(&self, ctx: &RuntimeContext) -> Result<()> {
        let Some(r) = &self.restored else { return Ok(()) };
        let mut missing = ctx.state.unrestored();
        missing.extend(ctx.operator_state.unrestored());
        if missing.is_empty() || r.allow_non_restored_state {
            return Ok(());
        }
        Err(Error::InvalidJob(format!(
            "the snapshot at '{}' has state {} for operator '{}' (id {}) that the operator no longer declares; \
             restore with --allow-non-restored-state to drop it",
            r.location(),
            missing.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", "),
            ctx.task.operator_name,
            ctx.task.operator_id
        )))
    }
}
