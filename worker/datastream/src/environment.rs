//! The execution environment: job-wide settings, sources, and `execute`.

use crate::datastream::DataStream;
use ferroflink_connectors::collection::CollectionSource;
use ferroflink_connectors::socket::SocketTextSource;
use ferroflink_connectors::text_file::TextFileSource;
use ferroflink_core::clock::Clock;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::Data;
use ferroflink_runtime::checkpoint::CheckpointConfig;
use ferroflink_runtime::checkpoint::restore::{RestoreMode, RestoreSettings};
use ferroflink_runtime::graph::job_graph::JobGraph;
use ferroflink_runtime::graph::stream_graph::StreamGraph;
use ferroflink_runtime::minicluster::{self, ExecutionSettings, JobHandle, JobResult, MiniClusterConfig};
use ferroflink_runtime::restart::RestartStrategy;
use ferroflink_runtime::source::Source;
use ferroflink_runtime::watermark::WatermarkStrategy;
use ferroflink_state::StateBackendConfig;
use ferroflink_state::rocksdb::RocksDbConfig;
use ferroflink_state::s3::S3Config;
use ferroflink_types::config::{self, StateBackendKind, TimerServiceKind};
use ferroflink_types::spec::JobSettings;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct EnvInner {
    pub graph: StreamGraph,
    pub execution: ExecutionSettings,
    pub errors: Vec<String>,
}

/// Where a job is defined and from where it is executed (Flink's `StreamExecutionEnvironment`).
/// Cheap to clone; clones share the job being built.
#[derive(Clone)]
pub struct StreamExecutionEnvironment {
    pub(crate) inner: Rc<RefCell<EnvInner>>,
}

impl Default for StreamExecutionEnvironment {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamExecutionEnvironment {
    /// An environment running on a local mini-cluster with one task manager.
    pub fn new() -> Self {
        StreamExecutionEnvironment {
            inner: Rc::new(RefCell::new(EnvInner {
                graph: StreamGraph::default(),
                execution: ExecutionSettings::default(),
                errors: Vec::new(),
            })),
        }
    }

    /// Default parallelism of operators.
    pub fn set_parallelism(&self, parallelism: usize) -> &Self {
        self.inner.borrow_mut().graph.config.parallelism = parallelism;
        self
    }

    /// The default parallelism.
    pub fn parallelism(&self) -> usize {
        self.inner.borrow().graph.config.parallelism
    }

    /// Default number of key groups (upper bound for rescaling keyed state).
    pub fn set_max_parallelism(&self, max_parallelism: usize) -> &Self {
        self.inner.borrow_mut().graph.config.max_parallelism = max_parallelism;
        self
    }

    /// Turns operator chaining off for the whole job.
    pub fn disable_operator_chaining(&self) -> &Self {
        self.inner.borrow_mut().graph.config.chaining = false;
        self
    }

    /// Records per batch (sources and channels). 1 makes watermarks follow every record.
    pub fn set_batch_size(&self, batch_size: usize) -> &Self {
        self.inner.borrow_mut().graph.config.batch_size = batch_size.max(1);
        self
    }

    /// Whether batches between tasks of one process go through their codec, as between processes
    /// (default: on in debug builds, off in release builds).
    pub fn set_serialize_edges(&self, on: bool) -> &Self {
        self.inner.borrow_mut().graph.config.serialize_edges = on;
        self
    }

    /// Batches a channel buffers before its sender blocks.
    pub fn set_channel_capacity(&self, batches: usize) -> &Self {
        self.inner.borrow_mut().graph.config.channel_capacity = batches.max(1);
        self
    }

    /// Processing-time clock (tests use a manual one).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) -> &Self {
        self.inner.borrow_mut().graph.config.clock = clock;
        self
    }

    /// Size of the local cluster: `task_managers` × `slots` (slots `None`: as many as needed).
    pub fn set_cluster(&self, task_managers: usize, slots: Option<usize>) -> &Self {
        self.inner.borrow_mut().execution.cluster =
            MiniClusterConfig { task_managers: task_managers.max(1), slots_per_task_manager: slots };
        self
    }

    /// Checkpoints every `interval` into `dir` (a local directory; `<dir>/<job id>/chk-<n>`).
    pub fn enable_checkpointing(&self, interval: Duration, dir: &str) -> &Self {
        let mut inner = self.inner.borrow_mut();
        inner.execution.checkpoint.interval = Some(interval);
        inner.execution.checkpoint.dir = Some(dir.to_string());
        self
    }

    /// Changes the checkpoint settings (timeout, pauses, retention...).
    pub fn configure_checkpoints(&self, f: impl FnOnce(&mut CheckpointConfig)) -> &Self {
        f(&mut self.inner.borrow_mut().execution.checkpoint);
        self
    }

    /// Starts the job from a checkpoint or savepoint.
    pub fn restore_from(&self, restore: RestoreSettings) -> &Self {
        self.inner.borrow_mut().execution.restore = Some(restore);
        self
    }

    /// How the job restarts after failures (default: Flink's, see [`RestartStrategy::default_for`]).
    pub fn set_restart_strategy(&self, strategy: RestartStrategy) -> &Self {
        self.inner.borrow_mut().execution.restart = Some(strategy);
        self
    }

    /// The keyed state backend of the job's operators.
    pub fn set_state_backend(&self, backend: StateBackendConfig) -> &Self {
        self.inner.borrow_mut().execution.state_backend = backend;
        self
    }

    /// Applies a job's settings (a [`ferroflink_types::spec::JobSpec`]'s, from the configuration and the
    /// command line): parallelism, max parallelism, batch size, checkpointing, state backend, restore
    /// point, restart strategy, savepoint directory, S3 access and job id. A job's code may change
    /// any of them afterwards, as with Flink's `env.configure(..)`.
    pub fn configure(&self, settings: &JobSettings) -> &Self {
        let job = &settings.job;
        if let Some(p) = job.parallelism {
            self.set_parallelism(p);
        }
        if let Some(m) = job.max_parallelism {
            self.set_max_parallelism(m);
        }
        if let Some(id) = &job.id {
            self.set_job_id(id);
        }
        self.set_batch_size(job.batch_size);
        let c = &settings.checkpointing;
        if c.interval.is_some() && c.dir.is_none() {
            tracing::warn!(
                "a checkpoint interval is set but no checkpoint storage, so no checkpoints are taken: set \
                 execution.checkpointing.dir (state.checkpoints.dir, --checkpoint-dir)"
            );
        }
        self.configure_checkpoints(|config| {
            config.interval = c.interval.filter(|_| c.dir.is_some());
            config.dir = c.dir.clone();
            config.timeout = c.timeout;
            config.retained = c.retained.max(1);
            config.savepoint_dir = settings.savepoints.dir.clone();
            config.s3 = S3Config::from(&settings.s3);
        });
        if let Some(path) = &settings.restore.path {
            self.restore_from(RestoreSettings {
                path: path.clone(),
                mode: match settings.restore.mode {
                    config::RestoreMode::Claim => RestoreMode::Claim,
                    config::RestoreMode::NoClaim => RestoreMode::NoClaim,
                },
                allow_non_restored_state: settings.restore.allow_non_restored_state,
            });
        }
        let s = &settings.state;
        if s.backend == StateBackendKind::Rocksdb {
            let mut rocksdb = RocksDbConfig {
                write_buffer_ratio_percent: (s.rocksdb_write_buffer_ratio * 100.0).round() as usize,
                block_size: s.rocksdb_block_size,
                background_jobs: s.rocksdb_background_jobs.clamp(1, 64) as i32,
                compression: s.rocksdb_compression,
                incremental: s.incremental,
                timers_in_rocksdb: s.rocksdb_timers == TimerServiceKind::Rocksdb,
                ..RocksDbConfig::default()
            };
            if let Some(m) = s.rocksdb_memory {
                rocksdb.memory_bytes = m;
            }
            if let Some(dir) = &s.rocksdb_dir {
                rocksdb.local_dir = dir.into();
            }
            self.set_state_backend(StateBackendConfig::RocksDb(rocksdb));
        }
        if let Some(strategy) = RestartStrategy::configured(&settings.restart_strategy) {
            self.set_restart_strategy(strategy);
        }
        self
    }

    /// How the job will run.
    pub fn execution_settings(&self) -> ExecutionSettings {
        self.inner.borrow().execution.clone()
    }

    /// The job's id (default: derived, see [`minicluster::derive_job_id`]).
    pub fn set_job_id(&self, job_id: &str) -> &Self {
        self.inner.borrow_mut().execution.job_id = Some(job_id.to_string());
        self
    }

    /// A stream from a split-based source.
    pub fn from_source<T: Data, S: Source<T>>(
        &self,
        source: S,
        strategy: WatermarkStrategy<T>,
        name: &str,
    ) -> DataStream<T> {
        let node = self.with_graph(|g| g.add_source(name, source, strategy));
        DataStream::from_node(self.clone(), node)
    }

    /// A bounded stream of the given elements, in order (parallelism 1, like Flink's `fromData`).
    pub fn from_collection<T: Data>(&self, items: Vec<T>) -> DataStream<T> {
        self.from_source(CollectionSource::new(items), WatermarkStrategy::no_watermarks(), "Collection Source")
    }

    /// The lines of a file, or of every file in a directory (bounded).
    pub fn read_text_file(&self, path: impl Into<PathBuf>) -> DataStream<String> {
        self.from_source(TextFileSource::new(path.into()), WatermarkStrategy::no_watermarks(), "Text File Source")
    }

    /// The lines arriving on a TCP socket (unbounded, parallelism 1).
    pub fn socket_text_stream(&self, host: &str, port: u16) -> DataStream<String> {
        self.from_source(SocketTextSource::new(host, port), WatermarkStrategy::no_watermarks(), "Socket Stream")
    }

    /// The job graph of what was defined so far.
    pub fn job_graph(&self) -> Result<JobGraph> {
        let inner = self.inner.borrow();
        if let Some(e) = inner.errors.first() {
            return Err(Error::InvalidJob(e.clone()));
        }
        JobGraph::build(inner.graph.clone())
    }

    /// Runs the job on the local mini-cluster and waits for it to end.
    pub fn execute(&self, job_name: &str) -> Result<JobResult> {
        let job = self.job_graph()?;
        let settings = self.inner.borrow().execution.clone();
        minicluster::execute(&job, job_name, &settings)
    }

    /// Starts the job and returns its handle and graph.
    pub fn execute_async(&self, job_name: &str) -> Result<(JobHandle, JobGraph)> {
        let job = self.job_graph()?;
        let settings = self.inner.borrow().execution.clone();
        Ok((minicluster::submit(&job, job_name, &settings)?, job))
    }

    /// Works on the graph of the job being built: how a planner adds its sources, operators and
    /// sinks ([`StreamGraph`]'s builder methods) beside the API's.
    pub fn with_graph<R>(&self, f: impl FnOnce(&mut StreamGraph) -> R) -> R {
        f(&mut self.inner.borrow_mut().graph)
    }

    pub(crate) fn defer_error(&self, message: String) {
        self.inner.borrow_mut().errors.push(message);
    }
}
