//! Built-in jobs, written with the DataStream API and run by `ferroflink run <job> [args]`.
//!
//! A job is built deterministically from its name and arguments: every process that builds it gets
//! the same graph, operator ids and key-group assignment (the contract the distributed runtime
//! relies on).

pub mod nexmark;
mod registry;
pub mod socket_wordcount;
pub mod wordcount;

pub use registry::Registry;

use crate::api::StreamExecutionEnvironment;
use crate::checkpoint::restore::{RestoreMode, RestoreSettings};
use crate::connectors::checksum::Checksum;
use crate::runtime::restart::RestartStrategy;
use crate::state::StateBackendConfig;
use crate::state::rocksdb::RocksDbConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Settings every built-in job takes.
#[derive(Clone, Debug, clap::Args)]
pub struct CommonArgs {
    /// Default parallelism of the job's operators.
    #[arg(long, short = 'p', default_value_t = 1)]
    pub parallelism: usize,
    /// Key groups of keyed operators (the most parallel subtasks keyed state can be split into;
    /// fixed for the job's lifetime, checkpoints and savepoints included).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=32768))]
    pub max_parallelism: Option<u64>,
    /// Slots per task manager of the local cluster (default: as many as the job needs).
    #[arg(long)]
    pub slots: Option<usize>,
    /// Task managers of the local cluster.
    #[arg(long, default_value_t = 1)]
    pub task_managers: usize,
    /// Records per batch on channels.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Time between checkpoints, e.g. `200ms`, `10s` (needs --checkpoint-dir).
    #[arg(long, value_parser = humantime::parse_duration, requires = "checkpoint_dir")]
    pub checkpoint_interval: Option<Duration>,
    /// Where checkpoints go: `<dir>/<job id>/chk-<n>/_metadata`.
    #[arg(long)]
    pub checkpoint_dir: Option<String>,
    /// A checkpoint that takes longer is aborted.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10min")]
    pub checkpoint_timeout: Duration,
    /// Completed checkpoints to keep.
    #[arg(long, default_value_t = 1)]
    pub checkpoints_retained: usize,
    /// Keyed state backend: `heap` (state in memory) or `rocksdb` (state on local disk).
    #[arg(long, value_parser = ["heap", "rocksdb"], default_value = "heap")]
    pub state_backend: String,
    /// rocksdb: working directory of the RocksDB instances (default: the system temp directory).
    #[arg(long)]
    pub rocksdb_dir: Option<PathBuf>,
    /// rocksdb: memory for all instances (block cache and write buffers), e.g. `512MiB`.
    #[arg(long, value_parser = crate::config::values::bytes, default_value = "256MiB")]
    pub rocksdb_memory: usize,
    /// rocksdb: share of `--rocksdb-memory` the write buffers (memtables) may use, in percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(5..=90))]
    pub rocksdb_write_buffer_ratio: u8,
    /// rocksdb: data block size, e.g. `16KiB`.
    #[arg(long, value_parser = crate::config::values::bytes, default_value = "16KiB")]
    pub rocksdb_block_size: usize,
    /// rocksdb: background flush and compaction threads per instance.
    #[arg(long, default_value_t = 2)]
    pub rocksdb_background_jobs: i32,
    /// rocksdb: compress table files with LZ4 (`true`) or not.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub rocksdb_compression: bool,
    /// rocksdb: full checkpoints instead of incremental ones (only new table files uploaded).
    #[arg(long)]
    pub full_checkpoints: bool,
    /// Start from this checkpoint (`chk-<n>`) or savepoint directory.
    #[arg(long)]
    pub restore: Option<String>,
    /// `no-claim`: never touch the restored files; `claim`: the job owns them (retention deletes them).
    #[arg(long, value_parser = ["no-claim", "claim"], default_value = "no-claim", requires = "restore")]
    pub restore_mode: String,
    /// Drop restored state of operators (or states) the job no longer has.
    #[arg(long, requires = "restore")]
    pub allow_non_restored_state: bool,
    /// The job's id (default: derived from the job name and its operators).
    #[arg(long)]
    pub job_id: Option<String>,
    /// Restart strategy after failures (default: exponential-delay with checkpoints, none without).
    #[arg(long, value_parser = ["none", "fixed-delay", "exponential-delay", "failure-rate"])]
    pub restart_strategy: Option<String>,
    /// fixed-delay: restarts allowed; failure-rate: failures allowed per --failure-rate-interval.
    #[arg(long, default_value_t = 3)]
    pub restart_attempts: usize,
    /// Delay before a restart (exponential-delay: the first one).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub restart_delay: Duration,
    /// exponential-delay: the longest delay.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1min")]
    pub restart_max_delay: Duration,
    /// failure-rate: the interval failures are counted in.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1min")]
    pub failure_rate_interval: Duration,
    /// Take a savepoint here when the job ends or is stopped with Ctrl-C (stop-with-savepoint).
    #[arg(long)]
    pub savepoint_on_exit: Option<String>,
    /// Default directory of savepoints triggered while running (SIGUSR1).
    #[arg(long)]
    pub savepoint_dir: Option<String>,
    /// S3 endpoint URL for `s3://` locations (default: `FERROFLINK__S3__ENDPOINT`, then
    /// `AWS_ENDPOINT_URL_S3`, then AWS).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Address S3 buckets in the path (MinIO, most test servers); also `FERROFLINK__S3__PATH_STYLE`.
    #[arg(long)]
    pub s3_path_style: bool,
}

impl CommonArgs {
    /// Applies the settings to `env`.
    pub fn apply(&self, env: &StreamExecutionEnvironment) {
        env.set_parallelism(self.parallelism)
            .set_batch_size(self.batch_size)
            .set_cluster(self.task_managers, self.slots);
        if let Some(m) = self.max_parallelism {
            env.set_max_parallelism(m as usize);
        }
        env.configure_checkpoints(|c| {
            c.interval = self.checkpoint_interval;
            c.dir = self.checkpoint_dir.clone();
            c.timeout = self.checkpoint_timeout;
            c.retained = self.checkpoints_retained.max(1);
            c.final_savepoint_dir = self.savepoint_on_exit.clone();
            c.savepoint_dir = self.savepoint_dir.clone().or_else(|| self.savepoint_on_exit.clone());
            if let Some(endpoint) = &self.s3_endpoint {
                c.s3.endpoint = Some(endpoint.clone());
            }
            c.s3.path_style |= self.s3_path_style;
        });
        if let Some(path) = &self.restore {
            env.restore_from(RestoreSettings {
                path: path.clone(),
                mode: if self.restore_mode == "claim" { RestoreMode::Claim } else { RestoreMode::NoClaim },
                allow_non_restored_state: self.allow_non_restored_state,
            });
        }
        if let Some(id) = &self.job_id {
            env.set_job_id(id);
        }
        if self.state_backend == "rocksdb" {
            let mut config = RocksDbConfig {
                memory_bytes: self.rocksdb_memory,
                write_buffer_ratio_percent: self.rocksdb_write_buffer_ratio.into(),
                block_size: self.rocksdb_block_size,
                background_jobs: self.rocksdb_background_jobs.max(1),
                compression: self.rocksdb_compression,
                incremental: !self.full_checkpoints,
                ..RocksDbConfig::default()
            };
            if let Some(dir) = &self.rocksdb_dir {
                config.local_dir = dir.clone();
            }
            env.set_state_backend(StateBackendConfig::RocksDb(config));
        }
        let strategy = match self.restart_strategy.as_deref() {
            Some("none") => Some(RestartStrategy::None),
            Some("fixed-delay") => {
                Some(RestartStrategy::FixedDelay { attempts: self.restart_attempts, delay: self.restart_delay })
            }
            Some("exponential-delay") => Some(RestartStrategy::ExponentialDelay {
                initial: self.restart_delay,
                max: self.restart_max_delay,
                multiplier: 2.0,
                reset_after: Duration::from_secs(3600),
            }),
            Some("failure-rate") => Some(RestartStrategy::FailureRate {
                max_failures: self.restart_attempts,
                interval: self.failure_rate_interval,
                delay: self.restart_delay,
            }),
            _ => None,
        };
        if let Some(s) = strategy {
            env.set_restart_strategy(s);
        }
    }
}

/// What the CLI reports when a job ends.
pub enum Report {
    /// Nothing beyond the job's own output.
    None,
    /// A summary line with the events processed and a checksum of the results.
    Summary {
        /// What ran, e.g. `nexmark q5`.
        title: String,
        /// Events the job was asked to process (`None`: unbounded).
        events: Option<u64>,
        /// Digest of the results.
        checksum: Checksum,
    },
}

/// A job ready to execute.
pub struct BuiltJob {
    /// The environment holding the job.
    pub env: StreamExecutionEnvironment,
    /// Job name.
    pub name: String,
    /// What to report at the end.
    pub report: Report,
}

/// Folds clap's multi-line message into one line: the reason, then the usage.
pub(crate) fn one_line(message: &str) -> String {
    let mut reason = Vec::new();
    let mut usage = None;
    for line in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.to_string());
        } else if !line.starts_with("For more information") {
            reason.push(line.trim_start_matches("error: "));
        }
    }
    let mut out = reason.join(" ");
    if let Some(u) = usage {
        out.push_str(&format!(" (usage: {u})"));
    }
    out
}

/// Splits text into words: ASCII letters lower-cased, digits and `_` kept, every other character
/// (including all non-ASCII ones) a separator; empty tokens dropped.
pub fn tokenize(line: &str) -> Vec<String> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_follows_the_contract() {
        assert_eq!(tokenize("Hello, WORLD_1 héllo--x  "), vec!["hello", "world_1", "h", "llo", "x"]);
        assert!(tokenize(" ,;é ").is_empty());
    }
}
