//! The engine's configuration: what `ferroflink jobmanager` and `ferroflink taskmanager` read, and the
//! contract between the Kubernetes operator (which renders it into a ConfigMap) and the engine.
//!
//! Layers, each overriding the one before: built-in defaults, a YAML file (`--config <file>`),
//! environment variables `FERROFLINK__<SECTION>__<KEY>` (upper case, `-` written as `_`, e.g.
//! `FERROFLINK__S3__PATH_STYLE=true`), then command-line flags. Every key is listed once, in
//! [`KEYS`], which README.md's configuration reference mirrors (a test keeps the two equal).
//!
//! Values may be written as their natural YAML type or as strings (`parallelism: "4"`), because the
//! operator's free-form `config` map and environment variables only carry strings. Durations take
//! `humantime` units (`200ms`, `10s`, `1min`); sizes take `KiB`/`MiB`/`GiB`. Unknown sections or
//! keys are errors naming the key, so a typo never silently falls back to a default.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// The share of a TaskManager's memory its RocksDB instances get when `state.rocksdb-memory` is not
/// set (Flink's default managed-memory fraction).
pub const MANAGED_FRACTION: f64 = 0.4;

/// Environment variables with this prefix override configuration keys.
pub const ENV_PREFIX: &str = "FERROFLINK__";

/// Every configuration key (`section.key`), its default and what it means: the one reference.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("job.id", "derived", "the job's id (the operator passes one derived from the FlinkJob's uid)"),
    ("job.builtin", "none", "the built-in job the JobManager runs at start (application mode)"),
    ("job.args", "[]", "the job's arguments, as on `ferroflink run <job> ...`"),
    ("job.parallelism", "the job's", "default parallelism of the job's operators"),
    ("job.max-parallelism", "128", "key groups of keyed operators (fixed for the job's lifetime)"),
    ("checkpointing.interval", "none", "time between checkpoints (needs `checkpointing.dir`)"),
    ("checkpointing.dir", "none", "checkpoint storage: a directory or `s3://bucket/prefix`"),
    ("checkpointing.retained", "1", "completed checkpoints kept"),
    ("checkpointing.timeout", "10min", "a checkpoint that takes longer is aborted"),
    ("state.backend", "heap", "keyed state backend: `heap` or `rocksdb`"),
    ("state.rocksdb-dir", "system temp dir", "RocksDB working directory"),
    (
        "state.rocksdb-memory",
        "TaskManager: 40% of taskmanager.memory",
        "one budget for the block cache and write buffers of every RocksDB instance of a TaskManager",
    ),
    ("state.incremental", "true", "RocksDB: upload only new table files at each checkpoint"),
    ("savepoints.dir", "none", "default target of savepoints"),
    (
        "restart-strategy.type",
        "exponential-delay with checkpoints, else none",
        "none, fixed-delay, exponential-delay or failure-rate",
    ),
    ("restart-strategy.attempts", "3", "fixed-delay: restarts allowed; failure-rate: failures per interval"),
    ("restart-strategy.delay", "1s", "delay before a restart (exponential-delay: the first one)"),
    ("restart-strategy.max-delay", "1min", "exponential-delay: the longest delay"),
    ("restart-strategy.failure-rate-interval", "1min", "failure-rate: the interval failures are counted in"),
    ("ha.mode", "none", "JobManager high availability: `none`, `file` or `kubernetes`"),
    (
        "ha.cluster-id",
        "`job.id`, else `default`",
        "names the HA records (the operator derives it from the FlinkJob's uid)",
    ),
    ("ha.dir", "none", "`file`: the shared directory of the leader record and job records"),
    (
        "ha.lease-duration",
        "15s",
        "a leader that has not renewed its lease this long is replaced; it renews every third of it",
    ),
    (
        "ha.namespace",
        "POD_NAMESPACE, then the service account's",
        "`kubernetes`: namespace of the Lease and the ConfigMap of job records",
    ),
    ("s3.endpoint", "AWS_ENDPOINT_URL_S3, then AWS", "S3-compatible endpoint URL for `s3://` locations"),
    ("s3.region", "AWS chain, then us-east-1", "S3 region"),
    ("s3.path-style", "false", "address buckets in the path (MinIO, most test servers)"),
    ("s3.credentials-file", "AWS chain", "an AWS shared-credentials file to read"),
    ("jobmanager.address", "localhost:6123", "TaskManagers: the JobManager's RPC address (`host:port`)"),
    ("rpc.bind", "0.0.0.0", "JobManager: address the RPC server listens on"),
    ("rpc.port", "6123", "JobManager: RPC port"),
    (
        "rpc.advertised-address",
        "the host name",
        "JobManager: the address TaskManagers and standbys reach it at (the pod IP)",
    ),
    ("rest.bind", "0.0.0.0", "JobManager: address the REST API and web UI listen on"),
    ("rest.port", "8081", "JobManager: REST API and web UI port"),
    ("data.bind", "0.0.0.0", "TaskManager: address the data plane listens on"),
    ("data.port", "0", "TaskManager: data port (0: the kernel picks one, reported to the JobManager)"),
    ("data.advertised-address", "the host name", "TaskManager: the address other processes reach it at (the pod IP)"),
    ("metrics.bind", "0.0.0.0", "TaskManager: address of `/metrics`, `/healthz`, `/readyz`"),
    ("metrics.port", "9249", "TaskManager: port of `/metrics`, `/healthz`, `/readyz`"),
    ("taskmanager.slots", "1", "TaskManager: task slots"),
    (
        "taskmanager.memory",
        "the cgroup's memory.max",
        "TaskManager: memory budget divided among slots and state backends",
    ),
    (
        "taskmanager.network-compression",
        "none",
        "TaskManager: `lz4` compresses the batches it sends to other TaskManagers (when that saves space)",
    ),
    ("heartbeat.interval", "1s", "time between heartbeats of JobManager and TaskManagers"),
    ("heartbeat.timeout", "5s", "a peer silent this long is considered lost"),
];

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    /// `job.*`
    pub job: JobSection,
    /// `checkpointing.*`
    pub checkpointing: CheckpointingSection,
    /// `state.*`
    pub state: StateSection,
    /// `savepoints.*`
    pub savepoints: SavepointsSection,
    /// `restart-strategy.*`
    pub restart_strategy: RestartSection,
    /// `ha.*`
    pub ha: HaSection,
    /// `s3.*`
    pub s3: S3Section,
    /// `jobmanager.*`
    pub jobmanager: JobManagerSection,
    /// `rpc.*`
    pub rpc: Endpoint,
    /// `rest.*`
    pub rest: Listen,
    /// `data.*`
    pub data: Endpoint,
    /// `metrics.*`
    pub metrics: Listen,
    /// `taskmanager.*`
    pub taskmanager: TaskManagerSection,
    /// `heartbeat.*`
    pub heartbeat: HeartbeatSection,
}

/// `job.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct JobSection {
    /// The job id.
    pub id: Option<String>,
    /// The built-in job run at start.
    pub builtin: Option<String>,
    /// Its arguments.
    #[serde(deserialize_with = "lenient::strings")]
    pub args: Vec<String>,
    /// Default parallelism.
    #[serde(with = "lenient::opt_usize")]
    pub parallelism: Option<usize>,
    /// Max parallelism.
    #[serde(with = "lenient::opt_usize")]
    pub max_parallelism: Option<usize>,
}

/// `checkpointing.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct CheckpointingSection {
    /// Time between checkpoints.
    #[serde(with = "lenient::opt_duration")]
    pub interval: Option<Duration>,
    /// Storage location.
    pub dir: Option<String>,
    /// Completed checkpoints kept.
    #[serde(with = "lenient::usize")]
    pub retained: usize,
    /// Abort after this long.
    #[serde(with = "lenient::duration")]
    pub timeout: Duration,
}

impl Default for CheckpointingSection {
    fn default() -> Self {
        CheckpointingSection { interval: None, dir: None, retained: 1, timeout: Duration::from_secs(600) }
    }
}

/// `state.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct StateSection {
    /// `heap` or `rocksdb`.
    pub backend: StateBackendKind,
    /// RocksDB working directory.
    pub rocksdb_dir: Option<String>,
    /// RocksDB memory budget of a TaskManager in bytes (`None`: [`MANAGED_FRACTION`] of its memory).
    #[serde(with = "lenient::opt_bytes")]
    pub rocksdb_memory: Option<usize>,
    /// Incremental RocksDB checkpoints.
    #[serde(with = "lenient::bool")]
    pub incremental: bool,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection { backend: StateBackendKind::Heap, rocksdb_dir: None, rocksdb_memory: None, incremental: true }
    }
}

/// Keyed state backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateBackendKind {
    /// On the heap.
    #[default]
    Heap,
    /// In RocksDB.
    Rocksdb,
}

/// `savepoints.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SavepointsSection {
    /// Default savepoint target.
    pub dir: Option<String>,
}

/// `restart-strategy.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RestartSection {
    /// Strategy name (`None`: the default for the checkpoint settings).
    #[serde(rename = "type")]
    pub kind: Option<RestartKind>,
    /// Restarts or failures allowed.
    #[serde(with = "lenient::usize")]
    pub attempts: usize,
    /// Delay before a restart.
    #[serde(with = "lenient::duration")]
    pub delay: Duration,
    /// Longest exponential delay.
    #[serde(with = "lenient::duration")]
    pub max_delay: Duration,
    /// Failure-rate interval.
    #[serde(with = "lenient::duration")]
    pub failure_rate_interval: Duration,
}

impl Default for RestartSection {
    fn default() -> Self {
        RestartSection {
            kind: None,
            attempts: 3,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            failure_rate_interval: Duration::from_secs(60),
        }
    }
}

/// Restart strategies, by their flag names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartKind {
    /// Never restart.
    None,
    /// A fixed number of restarts with a fixed delay.
    FixedDelay,
    /// Doubling delays.
    ExponentialDelay,
    /// At most N failures per interval.
    FailureRate,
}

impl RestartKind {
    fn flag_value(self) -> &'static str {
        match self {
            RestartKind::None => "none",
            RestartKind::FixedDelay => "fixed-delay",
            RestartKind::ExponentialDelay => "exponential-delay",
            RestartKind::FailureRate => "failure-rate",
        }
    }
}

/// `ha.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct HaSection {
    /// `none`, `file` or `kubernetes`.
    pub mode: HaMode,
    /// Names the HA records.
    pub cluster_id: Option<String>,
    /// Where HA records live.
    pub dir: Option<String>,
    /// How long a leader's lease lasts without renewal.
    #[serde(with = "lenient::duration")]
    pub lease_duration: Duration,
    /// `kubernetes`: namespace of the Lease and ConfigMap.
    pub namespace: Option<String>,
}

impl Default for HaSection {
    fn default() -> Self {
        HaSection {
            mode: HaMode::None,
            cluster_id: None,
            dir: None,
            lease_duration: Duration::from_secs(15),
            namespace: None,
        }
    }
}

/// JobManager high-availability modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HaMode {
    /// One JobManager, no durable records.
    #[default]
    None,
    /// Leader lock and records in a shared directory (local tests).
    File,
    /// A Lease and a ConfigMap of job records.
    Kubernetes,
}

/// `s3.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct S3Section {
    /// Endpoint URL.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Path-style addressing.
    #[serde(with = "lenient::bool")]
    pub path_style: bool,
    /// Credentials file.
    pub credentials_file: Option<String>,
}

/// `jobmanager.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct JobManagerSection {
    /// `host:port` of the JobManager's RPC server.
    pub address: String,
}

impl Default for JobManagerSection {
    fn default() -> Self {
        JobManagerSection { address: format!("localhost:{DEFAULT_RPC_PORT}") }
    }
}

/// Flink's default JobManager RPC port.
pub const DEFAULT_RPC_PORT: u16 = 6123;
/// Flink's default REST and web UI port.
pub const DEFAULT_REST_PORT: u16 = 8081;
/// The TaskManager's metrics and health port.
pub const DEFAULT_METRICS_PORT: u16 = 9249;

/// Where a server peers connect to listens, and the address it announces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Endpoint {
    /// Listen address.
    pub bind: String,
    /// Port (`None`: the section's default).
    #[serde(with = "lenient::opt_u16")]
    pub port: Option<u16>,
    /// Address announced to peers (`None`: the host name).
    pub advertised_address: Option<String>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint { bind: "0.0.0.0".into(), port: None, advertised_address: None }
    }
}

/// Where an HTTP server listens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Listen {
    /// Listen address.
    pub bind: String,
    /// Port (`None`: the section's default).
    #[serde(with = "lenient::opt_u16")]
    pub port: Option<u16>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen { bind: "0.0.0.0".into(), port: None }
    }
}

/// `taskmanager.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct TaskManagerSection {
    /// Task slots.
    #[serde(with = "lenient::usize")]
    pub slots: usize,
    /// Memory budget in bytes (`None`: the cgroup limit).
    #[serde(with = "lenient::opt_bytes")]
    pub memory: Option<usize>,
    /// How batches to other TaskManagers are compressed.
    pub network_compression: NetworkCompression,
}

impl Default for TaskManagerSection {
    fn default() -> Self {
        TaskManagerSection { slots: 1, memory: None, network_compression: NetworkCompression::None }
    }
}

/// Compression of the data plane's batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkCompression {
    /// Sent as encoded.
    #[default]
    None,
    /// LZ4 blocks, where that makes a batch smaller.
    Lz4,
}

/// `heartbeat.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct HeartbeatSection {
    /// Time between heartbeats.
    #[serde(with = "lenient::duration")]
    pub interval: Duration,
    /// Silence after which a peer is lost.
    #[serde(with = "lenient::duration")]
    pub timeout: Duration,
}

impl Default for HeartbeatSection {
    fn default() -> Self {
        HeartbeatSection { interval: Duration::from_secs(1), timeout: Duration::from_secs(5) }
    }
}

/// Builds a [`Config`] layer by layer.
#[derive(Debug, Default)]
pub struct ConfigLoader {
    tree: Map<String, Value>,
}

impl ConfigLoader {
    /// Starts from the built-in defaults.
    pub fn new() -> Self {
        ConfigLoader::default()
    }

    /// Merges a YAML configuration file.
    pub fn file(mut self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read the configuration file {}: {e}", path.display())))?;
        self.merge_yaml(&text, &path.display().to_string())?;
        Ok(self)
    }

    /// Merges YAML text (`origin` names it in errors).
    pub fn merge_yaml(&mut self, text: &str, origin: &str) -> Result<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let value: Value =
            serde_saphyr::from_str(text).map_err(|e| Error::Config(format!("{origin} is not valid YAML: {e}")))?;
        let Value::Object(sections) = value else {
            return Err(Error::Config(format!("{origin}: expected a mapping of sections such as `job:` and `s3:`")));
        };
        for (section, keys) in sections {
            let Value::Object(keys) = keys else {
                return Err(Error::Config(format!("{origin}: section `{section}` must be a mapping of keys")));
            };
            for (key, value) in keys {
                self.set(&section, &key, value);
            }
        }
        Ok(())
    }

    /// Merges `FERROFLINK__SECTION__KEY` variables from `vars` (the process environment in
    /// [`Self::env`]).
    pub fn vars(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
            let Some((section, key)) = rest.split_once("__") else {
                return Err(Error::Config(format!(
                    "environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>"
                )));
            };
            let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
            let (section, key) = (norm(section), norm(key));
            if !is_key(&section, &key) {
                return Err(Error::Config(format!(
                    "environment variable {name}: `{section}.{key}` is not a configuration key"
                )));
            }
            self.set(&section, &key, Value::String(value));
        }
        Ok(self)
    }

    /// Merges the process's `FERROFLINK__SECTION__KEY` variables.
    pub fn env(self) -> Result<Self> {
        self.vars(std::env::vars())
    }

    /// Sets one key (`section.key`), as a command-line flag does.
    pub fn set(&mut self, section: &str, key: &str, value: Value) {
        let entry = self.tree.entry(section.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(keys) = entry {
            keys.insert(key.to_string(), value);
        }
    }

    /// Sets `section.key` when `value` is given.
    pub fn set_opt(mut self, section: &str, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(v) = value {
            self.set(section, key, v.into());
        }
        self
    }

    /// The configuration, with every key checked.
    pub fn load(self) -> Result<Config> {
        for (section, keys) in &self.tree {
            if let Value::Object(keys) = keys {
                for key in keys.keys() {
                    if !is_key(section, key) {
                        return Err(Error::Config(format!(
                            "`{section}.{key}` is not a configuration key; see the configuration reference in README.md"
                        )));
                    }
                }
            }
        }
        serde_json::from_value(Value::Object(self.tree))
            .map_err(|e| Error::Config(format!("invalid configuration: {e}")))
    }
}

fn is_key(section: &str, key: &str) -> bool {
    KEYS.iter().any(|(k, _, _)| k.split_once('.') == Some((section, key)))
}

impl Config {
    /// The arguments a built-in job is built from: `job.args` with the settings of the `job`,
    /// `checkpointing`, `state`, `savepoints`, `restart-strategy` and `s3` sections appended as the
    /// job's flags, unless `job.args` already gives that flag (the job's own arguments win).
    /// Every process builds the job from these same arguments, so all get the same graph.
    pub fn job_args(&self) -> Vec<String> {
        let mut args = self.job.args.clone();
        let mut extra: Vec<(&str, Option<String>)> = Vec::new();
        let mut add = |flag: &'static str, value: Option<String>| extra.push((flag, value));
        if let Some(p) = self.job.parallelism {
            add("--parallelism", Some(p.to_string()));
        }
        if let Some(p) = self.job.max_parallelism {
            add("--max-parallelism", Some(p.to_string()));
        }
        if let Some(id) = &self.job.id {
            add("--job-id", Some(id.clone()));
        }
        let c = &self.checkpointing;
        if let Some(dir) = &c.dir {
            add("--checkpoint-dir", Some(dir.clone()));
            if let Some(i) = c.interval {
                add("--checkpoint-interval", Some(humantime::format_duration(i).to_string()));
            }
            add("--checkpoints-retained", Some(c.retained.to_string()));
            add("--checkpoint-timeout", Some(humantime::format_duration(c.timeout).to_string()));
        }
        let s = &self.state;
        if s.backend == StateBackendKind::Rocksdb {
            add("--state-backend", Some("rocksdb".into()));
            if let Some(m) = s.rocksdb_memory {
                add("--rocksdb-memory", Some(m.to_string()));
            }
            if let Some(dir) = &s.rocksdb_dir {
                add("--rocksdb-dir", Some(dir.clone()));
            }
            if !s.incremental {
                add("--full-checkpoints", None);
            }
        }
        if let Some(dir) = &self.savepoints.dir {
            add("--savepoint-dir", Some(dir.clone()));
        }
        let r = &self.restart_strategy;
        if let Some(kind) = r.kind {
            add("--restart-strategy", Some(kind.flag_value().into()));
            add("--restart-attempts", Some(r.attempts.to_string()));
            add("--restart-delay", Some(humantime::format_duration(r.delay).to_string()));
            add("--restart-max-delay", Some(humantime::format_duration(r.max_delay).to_string()));
            add("--failure-rate-interval", Some(humantime::format_duration(r.failure_rate_interval).to_string()));
        }
        if let Some(e) = &self.s3.endpoint {
            add("--s3-endpoint", Some(e.clone()));
        }
        if self.s3.path_style {
            add("--s3-path-style", None);
        }
        for (flag, value) in extra {
            let given = args.iter().any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')));
            if !given {
                args.push(flag.to_string());
                args.extend(value);
            }
        }
        args
    }

    /// The S3 settings (region and credentials file included, which have no job flag).
    pub fn s3_config(&self) -> crate::checkpoint::s3::S3Config {
        crate::checkpoint::s3::S3Config {
            endpoint: self.s3.endpoint.clone(),
            region: self.s3.region.clone(),
            path_style: self.s3.path_style,
            credentials_file: self.s3.credentials_file.clone().map(Into::into),
        }
    }
}

/// Deserializers that take a value in its YAML type or as a string, and serializers that write
/// durations and sizes back in their documented units.
mod lenient {
    use super::*;

    fn text_or<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => return Err(serde::de::Error::custom(format!("expected a single value, found {other}"))),
        })
    }

    fn parse<T, E: std::fmt::Display, D: serde::de::Error>(
        text: &str,
        what: &str,
        f: impl FnOnce(&str) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, D> {
        f(text.trim()).map_err(|e| D::custom(format!("'{text}' is not {what}: {e}")))
    }

    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    other => Err(serde::de::Error::custom(format!("expected a list of strings, found {other}"))),
                })
                .collect(),
            // One string (an environment variable): arguments separated by white space.
            Value::String(s) => Ok(s.split_whitespace().map(str::to_string).collect()),
            other => Err(serde::de::Error::custom(format!("expected a list of strings, found {other}"))),
        }
    }

    macro_rules! number {
        ($module:ident, $t:ty, $what:literal) => {
            pub mod $module {
                use super::*;
                pub fn serialize<S: Serializer>(v: &$t, s: S) -> Result<S::Ok, S::Error> {
                    v.serialize(s)
                }
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                    match text_or(d)? {
                        Some(t) => parse::<_, _, D::Error>(&t, $what, |t| t.parse::<$t>()),
                        None => Err(serde::de::Error::custom(concat!("expected ", $what))),
                    }
                }
            }
        };
    }
    macro_rules! opt_number {
        ($module:ident, $t:ty, $what:literal) => {
            pub mod $module {
                use super::*;
                pub fn serialize<S: Serializer>(v: &Option<$t>, s: S) -> Result<S::Ok, S::Error> {
                    v.serialize(s)
                }
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
                    text_or(d)?.map(|t| parse::<_, _, D::Error>(&t, $what, |t| t.parse::<$t>())).transpose()
                }
            }
        };
    }
    number!(usize, usize, "a whole number");
    opt_number!(opt_usize, usize, "a whole number");
    opt_number!(opt_u16, u16, "a port number");

    pub mod bool {
        use super::*;
        pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
            match text_or(d)?.as_deref().map(str::trim) {
                Some("true" | "1" | "yes") => Ok(true),
                Some("false" | "0" | "no") | None => Ok(false),
                Some(other) => Err(serde::de::Error::custom(format!("'{other}' is not true or false"))),
            }
        }
    }

    pub mod duration {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&humantime::format_duration(*v).to_string())
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            super::opt_duration::deserialize(d)?
                .ok_or_else(|| serde::de::Error::custom("expected a duration such as 10s"))
        }
    }

    pub mod opt_duration {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            v.map(|d| humantime::format_duration(d).to_string()).serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            text_or(d)?
                .map(|t| parse::<_, _, D::Error>(&t, "a duration such as 10s", humantime::parse_duration))
                .transpose()
        }
    }

    pub mod opt_bytes {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
            v.serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
            text_or(d)?
                .map(|t| parse::<_, _, D::Error>(&t, "a size such as 512MiB", crate::jobs::parse_bytes))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn flatten(value: &Value) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for (section, v) in value.as_object().unwrap() {
            for key in v.as_object().unwrap().keys() {
                keys.insert(format!("{section}.{key}"));
            }
        }
        keys
    }

    #[test]
    fn every_key_is_documented_once_and_accepted() {
        let mut documented: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
        documented.sort();
        let unique: BTreeSet<&str> = documented.iter().copied().collect();
        assert_eq!(unique.len(), documented.len(), "a key is listed twice");
        let structural = flatten(&serde_json::to_value(Config::default()).unwrap());
        assert_eq!(structural.iter().map(String::as_str).collect::<BTreeSet<_>>(), unique);
        let readme =
            std::fs::read_to_string(format!("{}/../README.md", std::env::var("CARGO_MANIFEST_DIR").unwrap())).unwrap();
        for key in &unique {
            assert!(readme.contains(&format!("| `{key}` |")), "README.md's configuration reference lacks {key}");
        }
    }

    #[test]
    fn layers_override_in_order() {
        let mut loader = ConfigLoader::new();
        loader
            .merge_yaml(
                "job: {builtin: nexmark, args: [--query, q7], parallelism: 4}\n\
                 checkpointing: {interval: 10s, dir: s3://b/ck, retained: 3}\n\
                 s3: {path-style: 'true'}\n",
                "test.yaml",
            )
            .unwrap();
        let config = loader
            .vars([
                ("FERROFLINK__JOB__PARALLELISM".to_string(), "8".to_string()),
                ("FERROFLINK__RESTART_STRATEGY__TYPE".into(), "fixed-delay".into()),
                ("PATH".into(), "/bin".into()),
            ])
            .unwrap()
            .set_opt("taskmanager", "slots", Some(3))
            .set_opt("taskmanager", "memory", Some("1GiB"))
            .load()
            .unwrap();
        assert_eq!(config.job.parallelism, Some(8));
        assert_eq!(config.checkpointing.interval, Some(Duration::from_secs(10)));
        assert_eq!(config.checkpointing.retained, 3);
        assert!(config.s3.path_style);
        assert_eq!(config.restart_strategy.kind, Some(RestartKind::FixedDelay));
        assert_eq!(config.taskmanager.slots, 3);
        assert_eq!(config.taskmanager.memory, Some(1 << 30));
        assert_eq!(config.heartbeat.timeout, Duration::from_secs(5));
        let args = config.job_args();
        let after = |flag: &str| args.iter().position(|a| a == flag).map(|i| args[i + 1].as_str());
        assert_eq!(&args[..2], ["--query", "q7"]);
        assert_eq!(after("--parallelism"), Some("8"));
        assert_eq!(after("--checkpoint-dir"), Some("s3://b/ck"));
        assert_eq!(after("--checkpoint-interval"), Some("10s"));
        assert_eq!(after("--restart-strategy"), Some("fixed-delay"));
        assert!(args.contains(&"--s3-path-style".to_string()));
        crate::jobs::build("nexmark", &args).unwrap();
    }

    #[test]
    fn the_jobs_own_arguments_win() {
        let mut loader = ConfigLoader::new();
        loader.merge_yaml("job: {args: ['--parallelism=2', --events, 10], parallelism: 6}", "t").unwrap();
        let args = loader.load().unwrap().job_args();
        assert_eq!(args, ["--parallelism=2", "--events", "10"]);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |yaml: &str| {
            let mut loader = ConfigLoader::new();
            match loader.merge_yaml(yaml, "f.yaml") {
                Err(e) => e.to_string(),
                Ok(()) => loader.load().unwrap_err().to_string(),
            }
        };
        assert!(err("chekpointing: {dir: x}").contains("`chekpointing.dir` is not a configuration key"));
        assert!(err("checkpointing: {intervall: 1s}").contains("checkpointing.intervall"));
        assert!(err("checkpointing: {interval: soon}").contains("'soon' is not a duration"));
        assert!(err("taskmanager: {slots: many}").contains("'many' is not a whole number"));
        assert!(err("state: {backend: leveldb}").contains("leveldb"));
        assert!(err("- a\n- b").contains("expected a mapping of sections"));
        assert!(err("job: [1]").contains("section `job` must be a mapping"));
        let env = ConfigLoader::new().vars([("FERROFLINK__S3__ENDPPOINT".into(), "x".into())]).unwrap_err();
        assert!(env.to_string().contains("FERROFLINK__S3__ENDPPOINT"), "{env}");
    }

    #[test]
    fn the_operators_rendering_loads() {
        // What `ferroflink-operator render` writes into the ConfigMap (strings from `spec.config`).
        let yaml = "job:\n  id: 0a1b2c3d\n  builtin: nexmark\n  args: [--query, q5]\n  parallelism: 10\n\
                    rpc: {port: 6123}\nrest: {port: 8081}\nmetrics: {port: 9249}\ntaskmanager: {slots: 4}\n\
                    ha: {mode: kubernetes, cluster-id: abc-1, dir: s3://b/ck/ha}\n\
                    checkpointing: {interval: 10s, dir: s3://b/ck, retained: 3}\n\
                    savepoints: {dir: s3://b/sp}\ns3: {path-style: true, endpoint: 'http://minio:9000'}\n\
                    heartbeat: {timeout: '20s'}\n";
        let mut loader = ConfigLoader::new();
        loader.merge_yaml(yaml, "configmap").unwrap();
        let c = loader.load().unwrap();
        assert_eq!(c.ha.mode, HaMode::Kubernetes);
        assert_eq!(c.rpc.port, Some(6123));
        assert_eq!(c.heartbeat.timeout, Duration::from_secs(20));
        assert_eq!(c.s3_config().endpoint.as_deref(), Some("http://minio:9000"));
    }
}
