//! Built-in jobs, written with the DataStream API and run by `ferroflink run <job> [args]`, and the
//! [`Registry`] that plans a [`crate::spec::JobSpec`] of a registered job.
//!
//! A job is built deterministically from its spec: every process that plans it gets the same graph,
//! operator ids and key-group assignment (the contract the distributed runtime relies on, checked by
//! the plan digest).

pub mod nexmark;
mod registry;
pub mod socket_wordcount;
pub mod wordcount;

pub use registry::Registry;

use crate::config::Config;
use crate::config::values;
use crate::connectors::checksum::Checksum;
use crate::datastream::StreamExecutionEnvironment;
use crate::error::{Error, Result};
use crate::spec::{Job, JobSettings, JobSpec, Overrides, Submission};
use clap::Args as _;
use serde_json::Value;
use std::time::Duration;

/// The execution flags every job takes on the command line, anywhere among its own arguments
/// (`ferroflink run wordcount --input f -p 4`): each sets one job setting of the job's
/// [`crate::spec::JobSpec`], named in its help by its configuration key; `-D <key>=<value>` sets any
/// job setting by its key, ours or Flink's. What they do not set comes from the configuration.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Job settings (also from the configuration; -D <key>=<value> sets any)")]
pub struct JobFlags {
    /// Default parallelism of the job's operators (`job.parallelism`).
    #[arg(long, short = 'p')]
    pub parallelism: Option<usize>,
    /// Key groups of keyed operators, the most subtasks keyed state can be split into; fixed for the
    /// job's lifetime, checkpoints and savepoints included (`job.max-parallelism`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=32768))]
    pub max_parallelism: Option<u64>,
    /// Records per batch on channels (`job.batch-size`, default 1024).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The job's id (`job.id`; default: derived from the job's name and operators).
    #[arg(long)]
    pub job_id: Option<String>,
    /// Time between checkpoints, e.g. `200ms`, `10 s` (`checkpointing.interval`; needs a checkpoint
    /// directory).
    #[arg(long, value_parser = values::duration)]
    pub checkpoint_interval: Option<Duration>,
    /// Where checkpoints go: `<dir>/<job id>/chk-<n>/_metadata` (`checkpointing.dir`).
    #[arg(long)]
    pub checkpoint_dir: Option<String>,
    /// A checkpoint that takes longer is aborted (`checkpointing.timeout`, default 10 min).
    #[arg(long, value_parser = values::duration)]
    pub checkpoint_timeout: Option<Duration>,
    /// Completed checkpoints to keep (`checkpointing.retained`, default 1).
    #[arg(long)]
    pub checkpoints_retained: Option<usize>,
    /// Keyed state backend: `heap` (state in memory; Flink's `hashmap`) or `rocksdb` (state on local
    /// disk) (`state.backend`).
    #[arg(long, value_parser = ["heap", "hashmap", "rocksdb"])]
    pub state_backend: Option<String>,
    /// rocksdb: working directory of the RocksDB instances (`state.rocksdb-dir`).
    #[arg(long)]
    pub rocksdb_dir: Option<String>,
    /// rocksdb: memory for all instances (block cache and write buffers), e.g. `512mb`
    /// (`state.rocksdb-memory`; locally 256 MiB).
    #[arg(long, value_parser = values::bytes)]
    pub rocksdb_memory: Option<usize>,
    /// rocksdb: share of that memory the write buffers may use, e.g. `0.5`
    /// (`state.rocksdb-write-buffer-ratio`).
    #[arg(long, value_parser = values::fraction)]
    pub rocksdb_write_buffer_ratio: Option<f64>,
    /// rocksdb: data block size, e.g. `16kb` (`state.rocksdb-block-size`).
    #[arg(long, value_parser = values::bytes)]
    pub rocksdb_block_size: Option<usize>,
    /// rocksdb: background flush and compaction threads per instance (`state.rocksdb-background-jobs`).
    #[arg(long)]
    pub rocksdb_background_jobs: Option<usize>,
    /// rocksdb: compress table files with LZ4 (`state.rocksdb-compression`, default true).
    #[arg(long, value_parser = values::boolean)]
    pub rocksdb_compression: Option<bool>,
    /// rocksdb: where timers live, `rocksdb` or `heap` (`state.rocksdb-timers`, default rocksdb).
    #[arg(long, value_parser = ["rocksdb", "heap"])]
    pub rocksdb_timers: Option<String>,
    /// rocksdb: full checkpoints instead of incremental ones (`state.incremental: false`).
    #[arg(long)]
    pub full_checkpoints: bool,
    /// Start from this checkpoint (`chk-<n>`) or savepoint directory (`restore.path`).
    #[arg(long)]
    pub restore: Option<String>,
    /// `no-claim`: never touch the restored files; `claim`: the job owns them and its retention
    /// deletes them (`restore.mode`).
    #[arg(long, value_parser = ["no-claim", "claim"], requires = "restore")]
    pub restore_mode: Option<String>,
    /// Drop restored state of operators (or states) the job no longer has
    /// (`restore.allow-non-restored-state`; with `--restore`, or `sql --check-restore`).
    #[arg(long)]
    pub allow_non_restored_state: bool,
    /// Restart strategy after failures (`restart-strategy.type`; default: exponential-delay with
    /// checkpoints, none without).
    #[arg(long, value_parser = ["none", "fixed-delay", "exponential-delay", "failure-rate"])]
    pub restart_strategy: Option<String>,
    /// fixed-delay: restarts allowed; failure-rate: failures allowed per interval
    /// (`restart-strategy.attempts`, default 3).
    #[arg(long)]
    pub restart_attempts: Option<usize>,
    /// Delay before a restart; exponential-delay: the first one (`restart-strategy.delay`, default 1 s).
    #[arg(long, value_parser = values::duration)]
    pub restart_delay: Option<Duration>,
    /// exponential-delay: the longest delay (`restart-strategy.max-delay`, default 1 min).
    #[arg(long, value_parser = values::duration)]
    pub restart_max_delay: Option<Duration>,
    /// failure-rate: the interval failures are counted in (`restart-strategy.failure-rate-interval`).
    #[arg(long, value_parser = values::duration)]
    pub failure_rate_interval: Option<Duration>,
    /// Default directory of savepoints triggered while the job runs (`savepoints.dir`).
    #[arg(long)]
    pub savepoint_dir: Option<String>,
    /// S3 endpoint URL for `s3://` locations (`s3.endpoint`; default `AWS_ENDPOINT_URL_S3`, then AWS).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Address S3 buckets in the path, as MinIO and most test servers need (`s3.path-style`).
    #[arg(long)]
    pub s3_path_style: bool,
    /// Any job setting by its configuration key, ours or Flink's: `-D parallelism.default=4`.
    #[arg(short = 'D', value_name = "KEY=VALUE", value_parser = key_value)]
    pub define: Vec<(String, String)>,
}

fn key_value(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("'{text}' is not <key>=<value>")),
    }
}

impl JobFlags {
    /// The command the flags make, for parsing, splitting and help.
    pub(crate) fn command(name: &'static str) -> clap::Command {
        JobFlags::augment_args(clap::Command::new(name).no_binary_name(true))
    }

    /// Takes the execution flags out of a job's command line: the flags, and the job's own arguments
    /// in their order (everything after `--` is the job's).
    pub fn split(args: &[String]) -> Result<(JobFlags, Vec<String>)> {
        take_flags(args)
    }

    /// The spec of registered job `name` from its command line `args` (its own arguments and
    /// execution flags): its settings are `config`'s with the flags laid over them.
    pub fn spec(name: &str, args: &[String], config: &Config) -> Result<JobSpec> {
        let (flags, job_args) = JobFlags::split(args)?;
        let settings = JobSettings::from_config(config).with(&flags.overrides())?;
        Ok(JobSpec::registered(name, &job_args).with_settings(settings))
    }

    /// The submission of registered job `name` from its command line `args` (its own arguments and
    /// execution flags): the flags' settings over the JobManager's.
    pub fn submission(name: &str, args: &[String]) -> Result<Submission> {
        let (flags, args) = JobFlags::split(args)?;
        Ok(Submission { job: Job::Registered { name: name.to_string(), args }, config: flags.overrides() })
    }

    /// The settings the flags give, by our keys (`-D` ones by the key given; a flag wins over `-D`).
    pub fn overrides(&self) -> Overrides {
        let mut o = Overrides::new();
        for (key, value) in &self.define {
            o.insert(key.clone(), Value::String(value.clone()));
        }
        let duration = |d: &Duration| Value::String(humantime::format_duration(*d).to_string());
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                o.insert(key.to_string(), v);
            }
        };
        set("job.parallelism", self.parallelism.map(Value::from));
        set("job.max-parallelism", self.max_parallelism.map(Value::from));
        set("job.batch-size", self.batch_size.map(Value::from));
        set("job.id", self.job_id.clone().map(Value::from));
        set("checkpointing.interval", self.checkpoint_interval.as_ref().map(duration));
        set("checkpointing.dir", self.checkpoint_dir.clone().map(Value::from));
        set("checkpointing.timeout", self.checkpoint_timeout.as_ref().map(duration));
        set("checkpointing.retained", self.checkpoints_retained.map(Value::from));
        set("state.backend", self.state_backend.clone().map(Value::from));
        set("state.rocksdb-dir", self.rocksdb_dir.clone().map(Value::from));
        set("state.rocksdb-memory", self.rocksdb_memory.map(Value::from));
        set("state.rocksdb-write-buffer-ratio", self.rocksdb_write_buffer_ratio.map(Value::from));
        set("state.rocksdb-block-size", self.rocksdb_block_size.map(Value::from));
        set("state.rocksdb-background-jobs", self.rocksdb_background_jobs.map(Value::from));
        set("state.rocksdb-compression", self.rocksdb_compression.map(Value::from));
        set("state.rocksdb-timers", self.rocksdb_timers.clone().map(Value::from));
        set("state.incremental", self.full_checkpoints.then_some(Value::Bool(false)));
        set("restore.path", self.restore.clone().map(Value::from));
        set("restore.mode", self.restore_mode.clone().map(Value::from));
        set("restore.allow-non-restored-state", self.allow_non_restored_state.then_some(Value::Bool(true)));
        set("restart-strategy.type", self.restart_strategy.clone().map(Value::from));
        set("restart-strategy.attempts", self.restart_attempts.map(Value::from));
        set("restart-strategy.delay", self.restart_delay.as_ref().map(duration));
        set("restart-strategy.max-delay", self.restart_max_delay.as_ref().map(duration));
        set("restart-strategy.failure-rate-interval", self.failure_rate_interval.as_ref().map(duration));
        set("savepoints.dir", self.savepoint_dir.clone().map(Value::from));
        set("s3.endpoint", self.s3_endpoint.clone().map(Value::from));
        set("s3.path-style", self.s3_path_style.then_some(Value::Bool(true)));
        o
    }
}

/// Takes the flags of `F` out of `args`, parsed: the flags, and the other arguments in their order
/// (everything after `--` is left).
pub(crate) fn take_flags<F: clap::Args + clap::FromArgMatches>(args: &[String]) -> Result<(F, Vec<String>)> {
    let command = F::augment_args(clap::Command::new("ferroflink run <job>").no_binary_name(true));
    let (flags, rest) = split_flags(&command, args);
    let matches = command.try_get_matches_from(flags).map_err(|e| Error::InvalidJob(one_line(&e.to_string())))?;
    let flags = F::from_arg_matches(&matches).map_err(|e| Error::InvalidJob(one_line(&e.to_string())))?;
    Ok((flags, rest))
}

/// Splits `args` into the flags `flags` defines (each with its value) and the rest, each in order;
/// everything from `--` on is the rest's.
fn split_flags(flags: &clap::Command, args: &[String]) -> (Vec<String>, Vec<String>) {
    // The flag a token is, and whether its value is attached (`--x=1`, `-p4`).
    let flag = |token: &str| -> Option<(bool, bool)> {
        let (arg, attached) = if let Some(long) = token.strip_prefix("--") {
            let (name, attached) = long.split_once('=').map_or((long, false), |(n, _)| (n, true));
            (flags.get_arguments().find(|a| a.get_long() == Some(name))?, attached)
        } else {
            let mut short = token.strip_prefix('-')?.chars();
            let c = short.next()?;
            (flags.get_arguments().find(|a| a.get_short() == Some(c))?, short.next().is_some())
        };
        Some((arg.get_action().takes_values(), attached))
    };
    let (mut mine, mut rest) = (Vec::new(), Vec::new());
    let mut tokens = args.iter();
    while let Some(token) = tokens.next() {
        if token == "--" {
            rest.push(token.clone());
            rest.extend(tokens.by_ref().cloned());
            break;
        }
        match flag(token) {
            Some((takes_value, attached)) => {
                mine.push(token.clone());
                if takes_value && !attached {
                    mine.extend(tokens.next().cloned());
                }
            }
            None => rest.push(token.clone()),
        }
    }
    (mine, rest)
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
