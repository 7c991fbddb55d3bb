//! Deploying the tasks of one execution attempt in this process: the bounded channels between
//! them, and one thread per task that builds its operator chain (restoring its state) and runs it.
//! The local mini-cluster deploys every task of a job this way; a TaskManager deploys the tasks the
//! JobManager placed in its slots.

use crate::chain::{Chain, ChainNode, Target, TargetKind};
use crate::checkpoint::TaskCommand;
use crate::checkpoint::coordinator::{SnapshotSender, TaskEvents};
use crate::checkpoint::restore::RestoredSnapshot;
use crate::context::{RuntimeContext, TaskInfo};
use crate::gate::{InputChannel, InputGate};
use crate::graph::job_graph::JobGraph;
use crate::graph::stream_graph::{NodeKind, SourceParams, WriterParams};
use crate::metrics::TaskMetrics;
use crate::network::ChannelKey;
use crate::network::inbound::DataServer;
use crate::network::outbound::{Outbound, OutboundChannel};
use crate::partition::{ChannelSender, ShipStrategy};
use crate::source::{SplitChannel, SplitRequester};
use crate::task::{Task, TaskCheckpointing, TaskInput};
use crossbeam_channel::{Sender, bounded, unbounded};
use ferroflink_core::element::Element;
use ferroflink_core::error::{Domain, Error, Result};
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_state::KeyedStateBackend;
use ferroflink_state::heap::HeapKeyedStateBackend;
use ferroflink_state::operator::OperatorStateStore;
use ferroflink_state::rocksdb::{RocksDbConfig, RocksDbKeyedStateBackend, RocksDbResources, canonical_from_dbs};
use ferroflink_state::s3::S3Config;
use ferroflink_state::snapshot::OperatorSubtaskState;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The index of subtask `subtask` of vertex `vertex` among all tasks of the job (vertex by vertex),
/// which is how the checkpoint coordinator numbers tasks.
pub fn task_index(job: &JobGraph, vertex: usize, subtask: usize) -> usize {
    job.vertices[..vertex].iter().map(|v| v.parallelism).sum::<usize>() + subtask
}

/// The channel ends of the tasks of one attempt in this process.
#[derive(Default)]
struct Wiring {
    /// Per (vertex, subtask): per stream edge, one sender per consumer channel.
    senders: HashMap<(usize, usize), HashMap<usize, Vec<ChannelSender>>>,
    /// Per (vertex, subtask): its input channels.
    receivers: HashMap<(usize, usize), Vec<InputChannel>>,
    /// Channels towards tasks in other TaskManagers, by their data address.
    outbound: HashMap<String, Vec<OutboundChannel>>,
}

/// How an attempt's tasks in this process reach its tasks in other TaskManagers.
pub struct RemoteWiring<'a> {
    pub job_id: &'a str,
    /// The data address of the TaskManager of every task of the attempt.
    pub locations: &'a HashMap<(usize, usize), String>,
    /// This TaskManager's data server, where channels from other TaskManagers arrive.
    pub server: &'a DataServer,
    /// Told when a data connection fails (the attempt is cancelled too).
    pub failed: Arc<dyn Fn(Error) + Send + Sync>,
    /// Whether batches sent to other TaskManagers are LZ4-compressed.
    pub compress: bool,
}

/// Creates the channels of every edge with a producer or consumer among `tasks`: a bounded channel
/// between two of them, and a bounded buffer plus a network channel towards or from a task in
/// another TaskManager. Back-pressure is per channel, so barriers can be aligned input by input.
fn wire(
    job: &JobGraph,
    attempt: u64,
    tasks: &[(usize, usize)],
    cancel: &Arc<AtomicBool>,
    metrics: &HashMap<(usize, usize), Arc<TaskMetrics>>,
    remote: Option<&RemoteWiring<'_>>,
) -> Result<Wiring> {
    let mut wiring = Wiring::default();
    let capacity = job.graph.config.channel_capacity.max(1);
    let remote_of = |a: &str, i: usize, b: &str, j: usize| {
        remote.ok_or_else(|| {
            Error::Internal(format!("{a} (subtask {i}) feeds {b} (subtask {j}), which is not deployed in this process"))
        })
    };
    for e in &job.edges {
        let (a, b) = (&job.vertices[e.source_vertex], &job.vertices[e.target_vertex]);
        let input = job.graph.edges[e.stream_edge].input;
        for i in 0..a.parallelism {
            let producer = metrics.get(&(a.index, i)).filter(|_| tasks.contains(&(a.index, i)));
            let targets: Vec<usize> =
                if e.strategy == ShipStrategy::Forward { vec![i] } else { (0..b.parallelism).collect() };
            let mut txs = Vec::new();
            for j in targets {
                let consumer_here = tasks.contains(&(b.index, j));
                let key = |job_id: &str| ChannelKey {
                    job_id: job_id.to_string(),
                    attempt,
                    edge: e.stream_edge as u32,
                    from: i as u32,
                    to: j as u32,
                };
                match (producer, consumer_here) {
                    (Some(m), true) => {
                        let (tx, rx) = bounded::<Element>(capacity);
                        let mut sender = ChannelSender::new(tx, cancel.clone(), m.clone());
                        if job.graph.config.serialize_edges {
                            let edge = &job.graph.edges[e.stream_edge];
                            sender = sender.with_round_trip(edge.decoder, edge.record_type);
                        }
                        txs.push(sender);
                        wiring.receivers.entry((b.index, j)).or_default().push(InputChannel {
                            rx,
                            input,
                            credit: None,
                        });
                    }
                    (Some(m), false) => {
                        let remote = remote_of(&a.name, i, &b.name, j)?;
                        let address = remote.locations.get(&(b.index, j)).ok_or_else(|| {
                            Error::Internal(format!("no TaskManager was named for {} (subtask {j})", b.name))
                        })?;
                        let (tx, rx) = bounded::<Element>(capacity);
                        txs.push(ChannelSender::new(tx, cancel.clone(), m.clone()));
                        let k = key(remote.job_id);
                        let channel = OutboundChannel { edge: k.edge, from: k.from, to: k.to, rx };
                        wiring.outbound.entry(address.clone()).or_default().push(channel);
                    }
                    (None, true) => {
                        let remote = remote_of(&a.name, i, &b.name, j)?;
                        let (tx, rx) = bounded::<Element>(capacity);
                        let decoder = job.graph.edges[e.stream_edge].decoder;
                        let credit = remote.server.register(key(remote.job_id), tx, decoder, capacity);
                        let channel = InputChannel { rx, input, credit: Some(credit) };
                        wiring.receivers.entry((b.index, j)).or_default().push(channel);
                    }
                    (None, false) => {}
                }
            }
            if producer.is_some() {
                wiring.senders.entry((a.index, i)).or_default().insert(e.stream_edge, txs);
            }
        }
    }
    Ok(wiring)
}

/// What to deploy: some tasks of one attempt of a job.
pub struct Deployment<'a> {
    pub job: &'a Arc<JobGraph>,
    pub job_name: &'a str,
    pub attempt: u64,
    /// (vertex, subtask) of each task to run here.
    pub tasks: &'a [(usize, usize)],
    pub restored: Option<Arc<RestoredSnapshot>>,
    pub cancel: &'a Arc<AtomicBool>,
    /// The counters of each task to run here.
    pub metrics: &'a HashMap<(usize, usize), Arc<TaskMetrics>>,
    pub rocksdb: Option<Arc<RocksDbResources>>,
    pub s3: Arc<S3Config>,
    /// Whether finished tasks wait for the job's final checkpoint.
    pub final_snapshot: bool,
    pub snapshots: SnapshotSender,
    pub events: Arc<dyn TaskEvents>,
    /// How tasks in other TaskManagers are reached (`None`: every task is in this process).
    pub remote: Option<RemoteWiring<'a>>,
    /// Where source readers ask for splits.
    pub splits: Arc<dyn SplitRequester>,
}

/// The tasks of a deployment, wired and ready to start, by their index in the job.
pub struct Deployed {
    /// Each task's command channel.
    pub commands: Vec<(usize, Sender<TaskCommand>)>,
    specs: Vec<(usize, TaskSpec)>,
    events: Arc<dyn TaskEvents>,
    outbound: Vec<Outbound>,
    cancel: Arc<AtomicBool>,
    failed: Option<Arc<dyn Fn(Error) + Send + Sync>>,
}

impl Deployed {
    /// Starts the task threads and the data connections to other TaskManagers.
    pub fn start(self) -> Result<Vec<(usize, JoinHandle<Result<()>>)>> {
        for connection in self.outbound {
            let failed = self.failed.clone().expect("outbound channels come with remote wiring");
            connection.start(self.cancel.clone(), move |e| failed(e))?;
        }
        let mut threads = Vec::new();
        for (task, spec) in self.specs {
            threads.push((task, spawn(spec, self.events.clone())?));
        }
        Ok(threads)
    }
}

/// Wires the deployment's channels and prepares its tasks.
pub fn deploy(d: Deployment<'_>) -> Result<Deployed> {
    let mut wiring = wire(d.job, d.attempt, d.tasks, d.cancel, d.metrics, d.remote.as_ref())?;
    let outbound = std::mem::take(&mut wiring.outbound)
        .into_iter()
        .map(|(address, channels)| Outbound {
            address,
            job_id: d.remote.as_ref().map(|r| r.job_id.to_string()).unwrap_or_default(),
            attempt: d.attempt,
            channels,
            compress: d.remote.as_ref().is_some_and(|r| r.compress),
        })
        .collect();
    let mut deployed = Deployed {
        commands: Vec::new(),
        specs: Vec::new(),
        events: d.events.clone(),
        outbound,
        cancel: d.cancel.clone(),
        failed: d.remote.as_ref().map(|r| r.failed.clone()),
    };
    for &(vertex, subtask) in d.tasks {
        let task = task_index(d.job, vertex, subtask);
        let (command_tx, command_rx) = unbounded();
        let checkpointing = TaskCheckpointing {
            task,
            attempt: d.attempt,
            commands: command_rx,
            snapshots: d.snapshots.clone(),
            events: d.events.clone(),
            await_final_checkpoint: d.final_snapshot,
            source_state: None,
            last_snapshot: 0,
            max_triggered: None,
        };
        let spec = TaskSpec {
            job: d.job.clone(),
            job_name: d.job_name.to_string(),
            vertex,
            subtask,
            senders: wiring.senders.remove(&(vertex, subtask)).unwrap_or_default(),
            receivers: wiring.receivers.remove(&(vertex, subtask)).unwrap_or_default(),
            cancel: d.cancel.clone(),
            metrics: d.metrics[&(vertex, subtask)].clone(),
            restored: d.restored.clone(),
            rocksdb: d.rocksdb.clone(),
            s3: d.s3.clone(),
            splits: d.splits.clone(),
            checkpointing,
        };
        deployed.commands.push((task, command_tx));
        deployed.specs.push((task, spec));
    }
    Ok(deployed)
}

/// Starts the thread of one task: it builds the task, reports it running, runs it to the end and
/// returns how it ended. A failure (or panic) sets the attempt's cancel flag, so the other tasks stop.
fn spawn(spec: TaskSpec, events: Arc<dyn TaskEvents>) -> Result<JoinHandle<Result<()>>> {
    let v = &spec.job.vertices[spec.vertex];
    let name = format!("{} ({}/{})", v.name, spec.subtask + 1, v.parallelism);
    let task = spec.checkpointing.task;
    let cancel = spec.cancel.clone();
    std::thread::Builder::new()
        .name(name.chars().take(60).collect())
        .spawn(move || {
            let display = name.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let task_ = spec.build()?;
                events.running(task);
                task_.run()
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
                other => Error::TaskFailed { task: display, message: other.to_string(), cause: other.domain() },
            });
            if result.is_err() {
                cancel.store(true, Ordering::SeqCst);
            }
            result
        })
        .map_err(|e| Error::io("starting a task thread", e))
}

/// The message of a panic payload.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked".into()
    }
}

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
    splits: Arc<dyn SplitRequester>,
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
                Some(resources) => KeyedStateBackend::RocksDb(
                    RocksDbKeyedStateBackend::new(
                        resources.clone(),
                        &format!("{}-{}", task.operator_id, self.subtask),
                        maxp,
                        key_groups,
                        cfg.clock.clone(),
                        restored.keyed,
                        dbs,
                    )
                    .for_operator(&task.operator_name),
                ),
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
                let NodeKind::Source(source) = &job.graph.nodes[s].kind else { unreachable!() };
                let params = SourceParams {
                    batch_size: cfg.batch_size,
                    clock: cfg.clock.clone(),
                    metrics: self.metrics.clone(),
                };
                let splits = SplitChannel {
                    requester: self.splits.clone(),
                    operator_id: task.operator_id,
                    subtask: self.subtask,
                };
                TaskInput::Source((source.reader)(&params), splits)
            }
            None => TaskInput::Gate(InputGate::with_channels(std::mem::take(&mut self.receivers))),
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
