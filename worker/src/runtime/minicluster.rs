//! The local mini-cluster: N task managers × M slots inside one process. It places the job's
//! subtasks into slots, wires their channels (a bounded channel per producer/consumer pair, so
//! back-pressure is per channel and barriers can be aligned), runs one thread per subtask, and
//! reports the result with per-subtask metrics. The first failing task cancels the others; its error
//! is the job's.

use crate::error::{Error, Result};
use crate::graph::execution::{Placement, place, slots_needed};
use crate::graph::job_graph::JobGraph;
use crate::graph::stream_graph::{NodeKind, SourceParams, WriterParams};
use crate::runtime::chain::{Chain, ChainNode, Target, TargetKind};
use crate::runtime::context::{RuntimeContext, TaskInfo};
use crate::runtime::element::Element;
use crate::runtime::gate::InputGate;
use crate::runtime::metrics::{TaskMetrics, TaskMetricsSnapshot};
use crate::runtime::partition::{ChannelSender, ShipStrategy};
use crate::runtime::task::{Task, TaskInput};
use crate::state::KeyedStateBackend;
use crate::state::heap::HeapKeyedStateBackend;
use crate::state::keygroup::KeyGroupRange;
use crate::state::operator::OperatorStateStore;
use crossbeam_channel::{Receiver, bounded};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// Wall time.
    pub duration: Duration,
    /// Per vertex.
    pub vertices: Vec<VertexResult>,
    /// Whether it was cancelled (rather than finishing).
    pub cancelled: bool,
}

impl JobResult {
    /// Records read by all sources.
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

/// A running job.
pub struct JobHandle {
    job_name: String,
    started: Instant,
    cancel: Arc<AtomicBool>,
    user_cancelled: Arc<AtomicBool>,
    names: Vec<String>,
    metrics: Vec<Vec<Arc<TaskMetrics>>>,
    sources: Vec<bool>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl JobHandle {
    /// Asks every task to stop.
    pub fn cancel(&self) {
        self.user_cancelled.store(true, Ordering::SeqCst);
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// A flag that cancels the job when set (for signal handlers).
    pub fn cancel_flags(&self) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
        (self.cancel.clone(), self.user_cancelled.clone())
    }

    /// (records read by sources, records written by sinks) so far.
    pub fn progress(&self) -> (u64, u64) {
        let mut read = 0;
        let mut written = 0;
        for (v, tasks) in self.metrics.iter().enumerate() {
            for m in tasks {
                if self.sources[v] {
                    read += m.records_in.load(Ordering::Relaxed);
                }
                written += m.sink_records.load(Ordering::Relaxed);
            }
        }
        (read, written)
    }

    /// Whether every task has ended.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Waits for the job to end.
    pub fn wait(self) -> Result<JobResult> {
        let mut failure: Option<Error> = None;
        for t in self.threads {
            let outcome = match t.join() {
                Ok(r) => r,
                Err(panic) => Err(Error::TaskFailed { task: "unknown".into(), message: panic_message(&panic) }),
            };
            match outcome {
                Ok(()) | Err(Error::Cancelled) => {}
                Err(e) => {
                    if failure.is_none() {
                        failure = Some(e);
                    }
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let cancelled = self.user_cancelled.load(Ordering::SeqCst);
        if self.cancel.load(Ordering::SeqCst) && !cancelled {
            return Err(Error::Cancelled);
        }
        let vertices = self
            .names
            .into_iter()
            .zip(self.metrics)
            .map(|(name, tasks)| VertexResult { name, subtasks: tasks.iter().map(|m| m.snapshot()).collect() })
            .collect();
        Ok(JobResult { job_name: self.job_name, duration: self.started.elapsed(), vertices, cancelled })
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

/// Runs `job` on a mini-cluster of `cluster`'s size and waits for it.
pub fn execute(job: &JobGraph, job_name: &str, cluster: MiniClusterConfig) -> Result<JobResult> {
    submit(job, job_name, cluster)?.wait()
}

/// Starts `job` on a mini-cluster of `cluster`'s size.
pub fn submit(job: &JobGraph, job_name: &str, cluster: MiniClusterConfig) -> Result<JobHandle> {
    let needed = slots_needed(job);
    let slots = cluster.slots_per_task_manager.unwrap_or(needed.div_ceil(cluster.task_managers.max(1)));
    let placement: Placement = place(job, cluster.task_managers, slots)?;
    tracing::info!(job = job_name, slots = placement.slots_used, "submitting job\n{}", job.describe());
    let cfg = &job.graph.config;
    let cancel = Arc::new(AtomicBool::new(false));

    // Channels: senders per (vertex, subtask) per stream edge; receivers per (vertex, subtask).
    let mut senders: HashMap<(usize, usize), HashMap<usize, Vec<ChannelSender>>> = HashMap::new();
    let mut receivers: HashMap<(usize, usize), Vec<InputChannel>> = HashMap::new();
    let metrics: Vec<Vec<Arc<TaskMetrics>>> =
        job.vertices.iter().map(|v| (0..v.parallelism).map(|_| Arc::new(TaskMetrics::default())).collect()).collect();
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

    let job_graph = Arc::new(job.clone());
    let mut threads = Vec::new();
    for v in &job.vertices {
        for (i, task_metrics) in metrics[v.index].iter().enumerate() {
            let spec = TaskSpec {
                job: job_graph.clone(),
                job_name: job_name.to_string(),
                vertex: v.index,
                subtask: i,
                senders: senders.remove(&(v.index, i)).unwrap_or_default(),
                receivers: receivers.remove(&(v.index, i)).unwrap_or_default(),
                cancel: cancel.clone(),
                metrics: task_metrics.clone(),
            };
            let name = format!("{} ({}/{})", v.name, i + 1, v.parallelism);
            let cancel = cancel.clone();
            let thread = std::thread::Builder::new()
                .name(truncate(&name, 60))
                .spawn(move || {
                    let display = name.clone();
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spec.build()?.run()));
                    let result = match outcome {
                        Ok(r) => r,
                        Err(panic) => Err(Error::TaskFailed { task: display.clone(), message: panic_message(&panic) }),
                    };
                    let result = result.map_err(|e| match e {
                        Error::Cancelled | Error::TaskFailed { .. } => e,
                        other => Error::TaskFailed { task: display, message: other.to_string() },
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
    Ok(JobHandle {
        job_name: job_name.to_string(),
        started: Instant::now(),
        cancel,
        user_cancelled: Arc::new(AtomicBool::new(false)),
        names: job.vertices.iter().map(|v| v.name.clone()).collect(),
        metrics,
        sources: job.vertices.iter().map(|v| v.is_source).collect(),
        threads,
    })
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
        let mut targets_of = |node: usize| -> Result<Vec<Target>> {
            let mut targets = Vec::new();
            for (ei, e) in job.graph.out_edges(node) {
                let kind = if job.chained[ei] {
                    TargetKind::Chained { node: position(e.target).expect("chained node in vertex"), input: e.input }
                } else {
                    let channels = self.senders.remove(&ei).expect("channels for every job edge");
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
            let mut ctx = RuntimeContext {
                task: info(n),
                key_groups: KeyGroupRange::for_operator(maxp, v.parallelism, self.subtask),
                state: KeyedStateBackend::Heap(HeapKeyedStateBackend::new(cfg.clock.clone())),
                operator_state: OperatorStateStore::default(),
                clock: cfg.clock.clone(),
                metrics: self.metrics.clone(),
            };
            let mut op = factory(&ctx);
            op.open(&mut ctx)?;
            nodes.push(ChainNode { op, targets: targets_of(n)? });
        }
        let chain = Chain { nodes, writers, source_targets, records_out: 0 };
        let input = match source {
            Some(s) => {
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
        })
    }
}
