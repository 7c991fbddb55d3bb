//! The checkpoint coordinator: one thread per job that triggers periodic checkpoints (interval,
//! timeout, max concurrent, min pause), savepoints on request, and the final checkpoint once every
//! task finished; it stores the snapshots tasks send, writes `_metadata` last, notifies the tasks,
//! and deletes checkpoints beyond the retained count. Checkpoint ids never repeat for a job: they
//! continue after the restored checkpoint and after any `chk-<n>` already in the job's directory.

use crate::checkpoint::metadata::{
    CheckpointMetadata, EnumeratorState, FORMAT_VERSION, METADATA_FILE, OperatorStateMeta, SnapshotKind,
    SubtaskStateHandle, encode_state_file,
};
use crate::checkpoint::restore::{RestoreMode, RestoredSnapshot};
use crate::checkpoint::{CheckpointConfig, JobRecorder, TaskCommand, TaskSnapshot};
use crate::source_coordinator::SourceCoordinator;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use ferroflink_core::element::{CheckpointBarrier, SnapshotFormat};
use ferroflink_core::error::{Error, Result};
use ferroflink_state::incremental::{SharedFile, SharedRegistry};
use ferroflink_state::storage::{self, CheckpointStorage};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The tasks of one execution attempt, as the coordinator reaches them.
pub struct AttemptTasks {
    /// Attempt number (snapshots of other attempts are ignored).
    pub attempt: u64,
    /// How many tasks the attempt has.
    pub tasks: usize,
    /// How the coordinator's commands reach the tasks (channels, or RPC to TaskManagers).
    pub commands: Box<dyn TaskCommands>,
    /// Which tasks run and which finished their input.
    pub progress: Arc<AttemptProgress>,
    /// Set to stop the attempt's tasks (after a stop-with-savepoint).
    pub cancel: Arc<AtomicBool>,
    /// The attempt's split enumerators, snapshotted before each checkpoint's barriers.
    pub sources: Arc<SourceCoordinator>,
}

/// Delivers the coordinator's commands to every task of an attempt.
pub trait TaskCommands: Send {
    /// Checkpoint `barrier.id` starts; its files go to `target`.
    fn trigger(&self, barrier: CheckpointBarrier, target: &CheckpointTarget);
    /// Checkpoint `checkpoint_id` completed (with `then_exit`, tasks end after committing).
    fn complete(&self, checkpoint_id: u64, then_exit: bool);
}

/// One command channel per task, indexed by task: how tasks in this process are reached.
impl TaskCommands for Vec<Sender<TaskCommand>> {
    fn trigger(&self, barrier: CheckpointBarrier, _target: &CheckpointTarget) {
        for c in self {
            let _ = c.send(TaskCommand::Trigger(barrier));
        }
    }

    fn complete(&self, checkpoint_id: u64, then_exit: bool) {
        for c in self {
            let _ = c.send(TaskCommand::Complete { checkpoint_id, then_exit });
        }
    }
}

/// Where the files of one checkpoint or savepoint go.
#[derive(Clone, Debug)]
pub struct CheckpointTarget {
    /// The checkpoint's own directory (`chk-<n>`, or the savepoint's).
    pub storage: Arc<dyn CheckpointStorage>,
    /// The job's `shared/` directory, for incremental checkpoints.
    pub shared: Option<Arc<dyn CheckpointStorage>>,
}

/// Which tasks of an attempt run and which finished their input: checkpoints start when all run
/// (so a checkpoint being restored is never subsumed and deleted under them), and the final
/// checkpoint is taken when all finished.
#[derive(Debug, Default)]
pub struct AttemptProgress {
    running: AtomicUsize,
    finished: AtomicUsize,
}

/// What a task reports of its progress.
pub trait TaskEvents: Send + Sync {
    /// Task `task` opened its operators and restored its state.
    fn running(&self, task: usize);
    /// Task `task` reached the end of its input.
    fn finished(&self, task: usize);
}

impl TaskEvents for AttemptProgress {
    fn running(&self, _task: usize) {
        self.running.fetch_add(1, Ordering::SeqCst);
    }

    fn finished(&self, _task: usize) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

impl AttemptProgress {
    /// Tasks running.
    pub fn running_count(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Tasks that finished their input.
    pub fn finished_count(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }
}

/// A completed checkpoint as the coordinator remembers it.
#[derive(Clone, Debug)]
pub struct CompletedCheckpoint {
    /// Its id.
    pub id: u64,
    /// Storage rooted at its directory.
    pub storage: Arc<dyn CheckpointStorage>,
    /// How long it took from trigger to `_metadata`.
    pub duration: Duration,
    /// Bytes of state written.
    pub bytes: u64,
    /// Shared files it lists (incremental RocksDB checkpoints).
    pub shared: Vec<SharedFile>,
    /// Whether it is in this job's directory, so later checkpoints may build on it.
    pub own: bool,
}

/// What the job's other parts can ask of the coordinator and learn from it.
#[derive(Default)]
struct Shared {
    latest: Mutex<Option<CompletedCheckpoint>>,
    history: Mutex<Vec<CompletedCheckpoint>>,
    exit_savepoint: Mutex<Option<String>>,
    stopped: AtomicBool,
    failed: AtomicUsize,
}

/// What was stored of one task's snapshot: per operator, its metadata and file.
pub type Written = Vec<(OperatorStateMeta, Option<SubtaskStateHandle>)>;

/// The outcome of storing one task's snapshot: what `_metadata` lists and the bytes written, or
/// why it failed.
pub type WriteResult = std::result::Result<(Written, u64), String>;

enum Msg {
    Attempt(Option<AttemptTasks>, Sender<()>),
    Snapshot(TaskSnapshot),
    Written { attempt: u64, checkpoint_id: u64, task: usize, result: WriteResult },
    Savepoint { dir: String, stop: bool, reply: Sender<Result<String>> },
    Shutdown,
}

/// Where tasks send their snapshots: the coordinator's writers in this process, or a
/// TaskManager's own writers that report to a remote coordinator.
#[derive(Clone)]
pub struct SnapshotSender(Arc<dyn Fn(TaskSnapshot) + Send + Sync>);

impl SnapshotSender {
    /// Snapshots go to `f`.
    pub fn new(f: impl Fn(TaskSnapshot) + Send + Sync + 'static) -> Self {
        SnapshotSender(Arc::new(f))
    }

    /// Hands a task's snapshot on to be stored.
    pub fn send(&self, snapshot: TaskSnapshot) {
        (self.0)(snapshot)
    }
}

/// Reports snapshots that were stored elsewhere (by a TaskManager) to the coordinator.
#[derive(Clone)]
pub struct WrittenSender(Sender<Msg>);

impl WrittenSender {
    /// Task `task` of `attempt` stored its part of checkpoint `checkpoint_id` (or failed to).
    pub fn send(&self, attempt: u64, checkpoint_id: u64, task: usize, result: WriteResult) {
        // The coordinator outlives every attempt; a send fails only while the job shuts down.
        let _ = self.0.send(Msg::Written { attempt, checkpoint_id, task, result });
    }
}

/// The handle of a running coordinator.
pub struct Coordinator {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Coordinator {
    /// Starts the coordinator of job `job_id`, continuing after `restored` if given, reporting to
    /// `recorder` if given.
    pub fn start(
        config: CheckpointConfig,
        job_id: &str,
        job_name: &str,
        restored: Option<&RestoredSnapshot>,
        recorder: Option<Arc<dyn JobRecorder>>,
    ) -> Result<Coordinator> {
        let job_storage = match &config.dir {
            Some(dir) => Some(storage::open(dir, &config.s3)?.scoped(job_id)),
            None => None,
        };
        let mut next_id = restored.map_or(1, |r| r.metadata.checkpoint_id + 1);
        if let Some(r) = &recorder {
            next_id = next_id.max(r.next_checkpoint_id());
        }
        if let Some(s) = &job_storage {
            for name in s.list("")? {
                if let Some(n) = name.strip_prefix("chk-").and_then(|n| n.parse::<u64>().ok()) {
                    next_id = next_id.max(n + 1);
                }
            }
        }
        let mut completed = VecDeque::new();
        let mut shared_files = SharedRegistry::default();
        if let Some(r) = restored.filter(|r| r.mode == RestoreMode::Claim) {
            let shared = r.shared_files();
            shared_files.acquire(&shared);
            completed.push_back(CompletedCheckpoint {
                id: r.metadata.checkpoint_id,
                storage: r.storage.clone(),
                duration: Duration::ZERO,
                bytes: 0,
                shared,
                own: false,
            });
        }
        let shared = Arc::new(Shared::default());
        let (tx, rx) = unbounded();
        let (write_tx, write_rx) = unbounded::<WriteJob>();
        for i in 0..WRITERS {
            let (jobs, done) = (write_rx.clone(), tx.clone());
            std::thread::Builder::new()
                .name(format!("checkpoint-writer-{i}"))
                .spawn(move || {
                    for job in jobs {
                        let result = write_states(&job.storage, job.shared.as_ref(), job.snapshot.states);
                        let snapshot = (job.snapshot.attempt, job.snapshot.checkpoint_id, job.snapshot.task);
                        let msg =
                            Msg::Written { attempt: snapshot.0, checkpoint_id: snapshot.1, task: snapshot.2, result };
                        if done.send(msg).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| Error::io("starting a checkpoint writer", e))?;
        }
        let state = CoordinatorLoop {
            writers: write_tx,
            config,
            job_id: job_id.to_string(),
            job_name: job_name.to_string(),
            job_storage,
            next_id,
            recorder,
            attempt: None,
            pending: BTreeMap::new(),
            completed,
            shared_files,
            draining: HashMap::new(),
            last_trigger: None,
            last_completion: None,
            done: false,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("checkpoint-coordinator".into())
            .spawn(move || state.run(rx))
            .map_err(|e| Error::io("starting the checkpoint coordinator", e))?;
        Ok(Coordinator { tx, shared, thread: Some(thread) })
    }

    /// Where tasks in this process send snapshots.
    pub fn snapshot_sender(&self) -> SnapshotSender {
        let tx = self.tx.clone();
        // The coordinator outlives every attempt; a send fails only while the job shuts down.
        SnapshotSender::new(move |s| {
            let _ = tx.send(Msg::Snapshot(s));
        })
    }

    /// Where snapshots stored by other processes are reported.
    pub fn written_sender(&self) -> WrittenSender {
        WrittenSender(self.tx.clone())
    }

    /// An attempt started (its tasks take part from now on) or ended (`None`). Returns once the
    /// coordinator has handled everything the previous attempt's tasks sent, so [`Self::latest`]
    /// is final for it.
    pub fn set_attempt(&self, tasks: Option<AttemptTasks>) {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.tx.send(Msg::Attempt(tasks, done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Triggers a savepoint into `dir`; the receiver gets its location when complete. With `stop`,
    /// the job stops once it is complete.
    pub fn trigger_savepoint(&self, dir: &str, stop: bool) -> Receiver<Result<String>> {
        self.savepoint_trigger().trigger(dir, stop)
    }

    /// A handle to trigger savepoints from other threads.
    pub fn savepoint_trigger(&self) -> SavepointTrigger {
        SavepointTrigger(self.tx.clone())
    }

    /// The latest completed checkpoint.
    pub fn latest(&self) -> Option<CompletedCheckpoint> {
        self.shared.latest.lock().expect("coordinator lock").clone()
    }

    /// Every checkpoint completed so far, oldest first.
    pub fn history(&self) -> Vec<CompletedCheckpoint> {
        self.shared.history.lock().expect("coordinator lock").clone()
    }

    /// Checkpoints that failed or timed out.
    pub fn failed(&self) -> usize {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// The savepoint taken as the job stopped (stop-with-savepoint) or ended (final savepoint).
    pub fn exit_savepoint(&self) -> Option<String> {
        self.shared.exit_savepoint.lock().expect("coordinator lock").clone()
    }

    /// Whether the job was stopped with a savepoint.
    pub fn stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Triggers savepoints of a running job from any thread.
#[derive(Clone)]
pub struct SavepointTrigger(Sender<Msg>);

impl SavepointTrigger {
    /// See [`Coordinator::trigger_savepoint`].
    pub fn trigger(&self, dir: &str, stop: bool) -> Receiver<Result<String>> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let _ = self.0.send(Msg::Savepoint { dir: dir.to_string(), stop, reply });
        rx
    }
}

/// A checkpoint in flight.
struct Pending {
    kind: SnapshotKind,
    storage: Arc<dyn CheckpointStorage>,
    started: Instant,
    timestamp_ms: i64,
    acked: HashMap<usize, Written>,
    /// Snapshots handed to writer threads and not yet reported back.
    in_flight: usize,
    bytes: u64,
    then_exit: bool,
    stop: bool,
    reply: Option<Sender<Result<String>>>,
    /// Shared files of the base checkpoint, held while this one is in flight.
    base: Vec<SharedFile>,
    /// The sources' enumerators, taken before the barriers.
    enumerators: Vec<EnumeratorState>,
    /// The checkpoint's trace span, closed with it.
    _span: tracing::Span,
}

/// A task's snapshot to store.
struct WriteJob {
    storage: Arc<dyn CheckpointStorage>,
    /// The job's `shared/` directory (checkpoints only).
    shared: Option<Arc<dyn CheckpointStorage>>,
    snapshot: TaskSnapshot,
}

/// Threads that write state files, so the coordinator stays responsive to slow storage.
const WRITERS: usize = 4;

/// Writes the state files of one task's snapshot; returns what `_metadata` lists and the bytes.
pub fn write_states(
    storage: &Arc<dyn CheckpointStorage>,
    shared: Option<&Arc<dyn CheckpointStorage>>,
    states: Vec<crate::checkpoint::SubtaskSnapshot>,
) -> WriteResult {
    let mut written = Vec::new();
    let mut total = 0;
    for st in states {
        let meta = OperatorStateMeta {
            operator_id: st.operator_id.clone(),
            name: st.name.clone(),
            parallelism: st.parallelism,
            max_parallelism: st.max_parallelism,
            subtasks: Vec::new(),
        };
        if st.state.declares_nothing() && st.incremental.is_none() {
            written.push((meta, None));
            continue;
        }
        let file = format!("{}-{}", st.operator_id, st.subtask);
        let rocksdb = match (st.incremental, shared) {
            (Some(snapshot), Some(shared)) => {
                let (handle, bytes) =
                    snapshot.store(shared, storage, &format!("{file}.db")).map_err(|e| e.to_string())?;
                total += bytes;
                Some(handle)
            }
            (Some(_), None) => return Err("an incremental snapshot needs the job's checkpoint directory".into()),
            (None, _) => None,
        };
        let (bytes, sum) = encode_state_file(&st.state).map_err(|e| e.to_string())?;
        storage.write(&file, &bytes).map_err(|e| e.to_string())?;
        total += bytes.len() as u64;
        let handle = SubtaskStateHandle {
            subtask: st.subtask,
            key_groups: st.key_groups,
            file,
            bytes: bytes.len() as u64,
            checksum: format!("{sum:016x}"),
            has_operator_state: st.state.operator.iter().any(|l| !l.elements.is_empty()),
            rocksdb,
        };
        written.push((meta, Some(handle)));
    }
    Ok((written, total))
}

/// Name of the directory, in a job's checkpoint directory, of files shared by checkpoints.
pub const SHARED_DIR: &str = "shared";

/// The shared files a task's stored snapshot lists.
fn shared_of(job_storage: Option<&Arc<dyn CheckpointStorage>>, written: &Written) -> Vec<SharedFile> {
    let Some(dir) = job_storage.map(|j| j.scoped(SHARED_DIR)) else { return Vec::new() };
    let handles = written.iter().filter_map(|(_, h)| h.as_ref()?.rocksdb.as_ref());
    handles.flat_map(|h| &h.shared).map(|f| SharedFile { dir: dir.clone(), path: f.path.clone() }).collect()
}

/// Deletes what a failed checkpoint wrote.
fn delete_failed(id: u64, storage: &Arc<dyn CheckpointStorage>) {
    if let Err(e) = storage.delete_dir("") {
        tracing::warn!(checkpoint_id = id, "cannot delete the files of a failed checkpoint: {e}");
    }
}

struct CoordinatorLoop {
    writers: Sender<WriteJob>,
    config: CheckpointConfig,
    job_id: String,
    job_name: String,
    job_storage: Option<Arc<dyn CheckpointStorage>>,
    next_id: u64,
    recorder: Option<Arc<dyn JobRecorder>>,
    attempt: Option<AttemptTasks>,
    pending: BTreeMap<u64, Pending>,
    completed: VecDeque<CompletedCheckpoint>,
    /// Reference counts of the files in `shared/` directories.
    shared_files: SharedRegistry,
    /// Aborted checkpoints whose files are deleted once their last write returns.
    draining: HashMap<u64, (Arc<dyn CheckpointStorage>, usize)>,
    last_trigger: Option<Instant>,
    last_completion: Option<Instant>,
    /// The attempt's final snapshot completed: nothing more to trigger.
    done: bool,
    shared: Arc<Shared>,
}

const TICK: Duration = Duration::from_millis(20);

impl CoordinatorLoop {
    fn run(mut self, rx: Receiver<Msg>) {
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Msg::Attempt(tasks, done)) => {
                    self.abort_all(None);
                    self.attempt = tasks;
                    self.done = false;
                    self.last_trigger = Some(Instant::now());
                    let _ = done.send(());
                }
                Ok(Msg::Snapshot(s)) => self.on_snapshot(s),
                Ok(Msg::Written { attempt, checkpoint_id, task, result }) => {
                    self.on_written(attempt, checkpoint_id, task, result)
                }
                Ok(Msg::Savepoint { dir, stop, reply }) => self.trigger_savepoint(&dir, stop, reply),
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.abort_all(None);
                    self.finish_draining(&rx);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.tick();
        }
    }

    /// Waits (a bounded time) for the writes of aborted checkpoints, so their files are deleted
    /// rather than left behind when the job ends.
    fn finish_draining(&mut self, rx: &Receiver<Msg>) {
        let deadline = Instant::now() + self.config.timeout.min(Duration::from_secs(60));
        while !self.draining.is_empty() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            match rx.recv_timeout(left) {
                Ok(Msg::Written { attempt, checkpoint_id, task, result }) => {
                    self.on_written(attempt, checkpoint_id, task, result)
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<u64> =
            self.pending.iter().filter(|(_, p)| now - p.started > self.config.timeout).map(|(id, _)| *id).collect();
        for id in expired {
            self.abort(id, Some(&format!("it did not complete within {:?}", self.config.timeout)));
        }
        let Some(attempt) = self.attempt.as_ref().filter(|_| !self.done) else { return };
        if attempt.progress.running_count() < attempt.tasks {
            return;
        }
        let all_finished = attempt.progress.finished_count() == attempt.tasks;
        let paused = self.last_completion.is_some_and(|t| now - t < self.config.min_pause);
        if all_finished {
            // The final snapshot: the finished tasks' last state, after which sinks commit and the
            // job ends. A final savepoint directory makes it a savepoint.
            if !self.pending.is_empty() || paused {
                return;
            }
            if let Some(dir) = self.config.final_savepoint_dir.clone() {
                match storage::open(&dir, &self.config.s3) {
                    Ok(s) => self.trigger(SnapshotKind::Savepoint, s, true, false, None),
                    Err(e) => tracing::warn!("cannot take the final savepoint: {e}"),
                }
            } else if let Some(job_storage) = self.job_storage.clone() {
                self.trigger(SnapshotKind::Checkpoint, job_storage, true, false, None);
            }
            return;
        }
        let Some(job_storage) = self.job_storage.clone() else { return };
        let Some(interval) = self.config.interval else { return };
        let due = self.last_trigger.is_none_or(|t| now - t >= interval);
        let in_flight = self.pending.values().filter(|p| p.kind == SnapshotKind::Checkpoint).count();
        if due && !paused && in_flight < self.config.max_concurrent.max(1) {
            self.trigger(SnapshotKind::Checkpoint, job_storage, false, false, None);
        }
    }

    fn trigger_savepoint(&mut self, dir: &str, stop: bool, reply: Sender<Result<String>>) {
        let starting = self.attempt.as_ref().is_some_and(|a| a.progress.running_count() < a.tasks);
        if starting {
            let _ = reply.send(Err(Error::Checkpoint(
                "the job's tasks are still starting or restoring; trigger the savepoint again in a moment".into(),
            )));
            return;
        }
        if self.attempt.is_none() {
            let _ = reply.send(Err(Error::Checkpoint("the job is not running; no savepoint was taken".into())));
            return;
        }
        match storage::open(dir, &self.config.s3) {
            Ok(s) => self.trigger(SnapshotKind::Savepoint, s, false, stop, Some(reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn trigger(
        &mut self,
        kind: SnapshotKind,
        parent: Arc<dyn CheckpointStorage>,
        then_exit: bool,
        stop: bool,
        reply: Option<Sender<Result<String>>>,
    ) {
        let Some(attempt) = &self.attempt else { return };
        let id = self.next_id;
        // The enumerators first: from now until its task took this checkpoint, a reader gets no
        // split, so each split is in exactly one of the two snapshots.
        let enumerators = match attempt.sources.snapshot(id) {
            Ok(states) => states,
            Err(e) => {
                tracing::warn!(checkpoint_id = id, "{kind:?} {id} not started: a split enumerator failed ({e})");
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e));
                }
                return;
            }
        };
        if let Some(Err(e)) = self.recorder.as_ref().map(|r| r.checkpoint_started(id)) {
            tracing::warn!(checkpoint_id = id, "{kind:?} {id} not started: {e}");
            if let Some(reply) = reply {
                let _ = reply.send(Err(e));
            }
            return;
        }
        self.next_id += 1;
        let dir = match kind {
            SnapshotKind::Checkpoint => format!("chk-{id}"),
            SnapshotKind::Savepoint => format!("savepoint-{}-{id}", &self.job_id[..self.job_id.len().min(6)]),
        };
        let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        // Checkpoints build on the newest one of this job's directory, holding its shared files
        // until this one completes or fails; savepoints are self-contained.
        let (format, base) = match (kind, self.completed.iter().rev().find(|c| c.own)) {
            (SnapshotKind::Checkpoint, Some(c)) => (SnapshotFormat::Incremental { base: c.id }, c.shared.clone()),
            (SnapshotKind::Checkpoint, None) => (SnapshotFormat::Incremental { base: 0 }, Vec::new()),
            (SnapshotKind::Savepoint, _) => (SnapshotFormat::Canonical, Vec::new()),
        };
        self.shared_files.acquire(&base);
        let barrier = CheckpointBarrier { id, timestamp: timestamp_ms, format };
        let target = CheckpointTarget { storage: parent.scoped(&dir), shared: self.shared_dir(kind) };
        // Open from trigger to completion or abort; TaskManagers' snapshot spans join it.
        let span = tracing::info_span!("checkpoint", job_id = %self.job_id, checkpoint_id = id, kind = ?kind);
        span.in_scope(|| attempt.commands.trigger(barrier, &target));
        tracing::debug!(checkpoint_id = id, ?kind, "triggered");
        self.last_trigger = Some(Instant::now());
        self.pending.insert(
            id,
            Pending {
                kind,
                storage: target.storage,
                started: Instant::now(),
                timestamp_ms,
                acked: HashMap::new(),
                in_flight: 0,
                bytes: 0,
                then_exit: then_exit || stop,
                stop,
                reply,
                base,
                enumerators,
                _span: span,
            },
        );
    }

    fn on_snapshot(&mut self, s: TaskSnapshot) {
        if self.attempt.as_ref().is_none_or(|a| a.attempt != s.attempt) {
            return;
        }
        let Some(kind) = self.pending.get(&s.checkpoint_id).map(|p| p.kind) else { return };
        let shared = self.shared_dir(kind);
        let Some(p) = self.pending.get_mut(&s.checkpoint_id) else { return };
        p.in_flight += 1;
        let job = WriteJob { storage: p.storage.clone(), shared, snapshot: s };
        let _ = self.writers.send(job);
    }

    /// The job's `shared/` directory, which checkpoints (not savepoints) may upload files to.
    fn shared_dir(&self, kind: SnapshotKind) -> Option<Arc<dyn CheckpointStorage>> {
        self.job_storage.as_ref().filter(|_| kind == SnapshotKind::Checkpoint).map(|j| j.scoped(SHARED_DIR))
    }

    fn on_written(&mut self, attempt: u64, id: u64, task: usize, result: WriteResult) {
        if let Some((storage, left)) = self.draining.get_mut(&id) {
            if let Ok((written, _)) = &result {
                self.shared_files.discard_unheld(&shared_of(self.job_storage.as_ref(), written));
            }
            *left -= 1;
            if *left == 0 {
                delete_failed(id, storage);
                self.draining.remove(&id);
            }
            return;
        }
        let Some(p) = self.pending.get_mut(&id) else { return };
        // Snapshots stored by TaskManagers were never counted in flight here.
        p.in_flight = p.in_flight.saturating_sub(1);
        let Some(tasks) = self.attempt.as_ref().filter(|a| a.attempt == attempt).map(|a| a.tasks) else {
            return;
        };
        match result {
            Ok((written, bytes)) => {
                p.bytes += bytes;
                p.acked.insert(task, written);
                if p.acked.len() == tasks {
                    self.complete(id);
                }
            }
            Err(why) => self.abort(id, Some(&why)),
        }
    }

    fn complete(&mut self, id: u64) {
        let p = self.pending.remove(&id).expect("pending checkpoint");
        let shared: Vec<SharedFile> = p.acked.values().flat_map(|w| shared_of(self.job_storage.as_ref(), w)).collect();
        let mut operators: Vec<OperatorStateMeta> = Vec::new();
        let mut tasks: Vec<_> = p.acked.into_iter().collect();
        tasks.sort_by_key(|(t, _)| *t);
        for (meta, handle) in tasks.into_iter().flat_map(|(_, w)| w) {
            let op = match operators.iter_mut().find(|o| o.operator_id == meta.operator_id) {
                Some(op) => op,
                None => {
                    operators.push(meta);
                    operators.last_mut().expect("pushed")
                }
            };
            op.subtasks.extend(handle);
        }
        operators.retain(|o| !o.subtasks.is_empty());
        for op in &mut operators {
            op.subtasks.sort_by_key(|h| h.subtask);
        }
        let metadata = CheckpointMetadata {
            version: FORMAT_VERSION,
            kind: p.kind,
            job_id: self.job_id.clone(),
            job_name: self.job_name.clone(),
            checkpoint_id: id,
            timestamp_ms: p.timestamp_ms,
            finished: p.then_exit && !p.stop,
            operators,
            enumerators: p.enumerators,
        };
        let location = p.storage.location("");
        if let Err(e) = metadata.to_bytes().and_then(|bytes| p.storage.write(METADATA_FILE, &bytes)) {
            self.fail(id, p.kind, &location, &e.to_string(), p.reply);
            let _ = p.storage.delete_dir("");
            self.shared_files.discard_unheld(&shared);
            self.shared_files.release(&p.base);
            return;
        }
        // Recorded before any task commits: a deposed leader's snapshot commits nothing. Where the
        // job resumes moves to checkpoints and to savepoints the job ends with (whose commits
        // its sinks then made).
        let resume_here = p.kind == SnapshotKind::Checkpoint || p.then_exit;
        if let Some(Err(e)) = self.recorder.as_ref().map(|r| r.checkpoint_completed(id, &location, resume_here)) {
            // Its files stay: a record write that failed may still have taken effect.
            self.fail(id, p.kind, &location, &e.to_string(), p.reply);
            self.shared_files.release(&p.base);
            return;
        }
        self.shared_files.acquire(&shared);
        self.shared_files.release(&p.base);
        let duration = p.started.elapsed();
        tracing::info!(checkpoint_id = id, ?duration, bytes = p.bytes, %location, "{:?} completed", p.kind);
        self.last_completion = Some(Instant::now());
        self.done |= p.then_exit;
        let done = CompletedCheckpoint { id, storage: p.storage.clone(), duration, bytes: p.bytes, shared, own: true };
        self.shared.history.lock().expect("coordinator lock").push(done.clone());
        if p.kind == SnapshotKind::Checkpoint {
            *self.shared.latest.lock().expect("coordinator lock") = Some(done.clone());
            self.completed.push_back(done);
            while self.completed.len() > self.config.retained.max(1) {
                let old = self.completed.pop_front().expect("non-empty");
                if let Err(e) = old.storage.delete_dir("") {
                    tracing::warn!(checkpoint_id = old.id, "cannot delete a subsumed checkpoint: {e}");
                }
                self.shared_files.release(&old.shared);
            }
        }
        if p.then_exit && p.kind == SnapshotKind::Savepoint {
            *self.shared.exit_savepoint.lock().expect("coordinator lock") = Some(location.clone());
        }
        if p.stop {
            self.shared.stopped.store(true, Ordering::SeqCst);
        }
        if let Some(attempt) = &self.attempt {
            // An intermediate savepoint commits no side effects (as in Flink since 1.15): the job
            // restarts from checkpoints, so what a savepoint committed would be written again. Its
            // sinks' pending output commits with the next checkpoint.
            if resume_here {
                attempt.commands.complete(id, p.then_exit);
            }
            if p.stop {
                attempt.cancel.store(true, Ordering::SeqCst);
            }
        }
        if let Some(reply) = p.reply {
            let _ = reply.send(Ok(location));
        }
    }

    /// Aborts checkpoint `id`: it failed (`why`), or its tasks ended (`None`).
    fn abort(&mut self, id: u64, why: Option<&str>) {
        if let Some(p) = self.pending.remove(&id) {
            let location = p.storage.location("");
            let uploaded: Vec<SharedFile> =
                p.acked.values().flat_map(|w| shared_of(self.job_storage.as_ref(), w)).collect();
            self.shared_files.discard_unheld(&uploaded);
            self.shared_files.release(&p.base);
            match why {
                Some(why) => self.fail(id, p.kind, &location, why, p.reply),
                None => {
                    tracing::debug!(checkpoint_id = id, "aborted: the job's tasks ended");
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Checkpoint(format!(
                            "savepoint {id} was abandoned: the job's tasks ended before it completed"
                        ))));
                    }
                }
            }
            if p.in_flight == 0 {
                delete_failed(id, &p.storage);
            } else {
                self.draining.insert(id, (p.storage, p.in_flight));
            }
        }
    }

    fn fail(&self, id: u64, kind: SnapshotKind, location: &str, why: &str, reply: Option<Sender<Result<String>>>) {
        self.shared.failed.fetch_add(1, Ordering::Relaxed);
        let last = self.shared.latest.lock().expect("coordinator lock").as_ref().map(|c| c.id);
        tracing::warn!(
            checkpoint_id = id,
            "{kind:?} {id} at '{location}' failed: {why}; the job keeps running{}",
            last.map_or(String::new(), |l| format!(" and would restore from checkpoint {l}"))
        );
        if let Some(reply) = reply {
            let _ = reply.send(Err(Error::Checkpoint(format!("savepoint {id} at '{location}' failed: {why}"))));
        }
    }

    fn abort_all(&mut self, why: Option<&str>) {
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            self.abort(id, why);
        }
    }
}
