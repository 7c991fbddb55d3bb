//! The engine's configuration: what `ferroflink jobmanager` and `ferroflink taskmanager` read, and the
//! contract between the Kubernetes operator (which renders it into a ConfigMap) and the engine.
//!
//! Layers, each overriding the one before: built-in defaults, a YAML file (`--config <file>`), Flink's
//! `FLINK_PROPERTIES` variable (`key: value` lines, as Flink's images take it), environment variables
//! `FERROFLINK__<KEY>` (the key in upper case, `.` as `__`, `-` as `_`: `FERROFLINK__S3__PATH_STYLE`,
//! `FERROFLINK__TASKMANAGER__NUMBEROFTASKSLOTS`), then command-line flags.
//!
//! Keys are written nested (`rest: {port: 8081}`) or flat (`rest.port: 8081`, as Flink's
//! `config.yaml` and `flink-conf.yaml` write them), by our names or Flink's: every key and its Flink
//! names are in [`keys::KEYS`], which README.md's configuration reference mirrors (a test keeps the
//! two equal). A Flink key without an equivalent here is ignored with a warning
//! ([`ConfigLoader::warnings`]); a key that is neither ours nor Flink's is an error naming it as
//! written, so a typo never silently falls back to a default.
//!
//! Values may be written as their natural YAML type or as strings (`parallelism: "4"`), because the
//! operator's free-form `config` map and environment variables only carry strings, and take Flink's
//! forms ([`values`]): durations `10 s`, `1 min`, `200ms` or plain milliseconds; sizes `512 mb`,
//! `1gb`, `64KiB`; port ranges `9249-9260`.

pub mod keys;
pub mod values;

use keys::Resolved;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
pub use values::PortRange;

/// A configuration file, variable or flag is invalid; the message names the key as written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Result with a [`ConfigError`].
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// The share of a TaskManager's memory its RocksDB instances get when `state.rocksdb-memory` is not
/// set (Flink's default managed-memory fraction).
pub const MANAGED_FRACTION: f64 = 0.4;

/// Environment variables with this prefix override configuration keys.
pub const ENV_PREFIX: &str = "FERROFLINK__";

/// Flink's variable of extra `key: value` lines.
pub const FLINK_PROPERTIES: &str = "FLINK_PROPERTIES";

/// An enumeration whose values are read in any case, with `_` or `-`, under Flink's names too, and
/// written under the first name.
macro_rules! lenient_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $first:literal $(| $alias:literal)*,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The value's name (as a flag takes it).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $first,)*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> std::result::Result<Self, String> {
                let name = values::enum_name(text);
                $(if name == $first $(|| name == $alias)* {
                    return Ok($name::$variant);
                })*
                Err(format!("'{text}' is not one of {}", [$($first),*].join(", ")))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = lenient::text_or(d)?.ok_or_else(|| serde::de::Error::custom("expected a value"))?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

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
    /// `restore.*`
    pub restore: RestoreSection,
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
    pub rest: Endpoint,
    /// `data.*`
    pub data: Endpoint,
    /// `metrics.*`
    pub metrics: MetricsSection,
    /// `taskmanager.*`
    pub taskmanager: TaskManagerSection,
    /// `heartbeat.*`
    pub heartbeat: HeartbeatSection,
}

/// `job.*`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct JobSection {
    /// The job id.
    pub id: Option<String>,
    /// The registered job the JobManager runs at start (application mode).
    pub name: Option<String>,
    /// Its arguments.
    #[serde(deserialize_with = "lenient::strings")]
    pub args: Vec<String>,
    /// The SQL script whose one job the JobManager runs at start (application mode), instead of a
    /// registered job.
    pub sql: Option<String>,
    /// Default parallelism.
    #[serde(with = "lenient::opt_usize")]
    pub parallelism: Option<usize>,
    /// Max parallelism.
    #[serde(with = "lenient::opt_usize")]
    pub max_parallelism: Option<usize>,
    /// Records per batch on channels.
    #[serde(with = "lenient::usize")]
    pub batch_size: usize,
}

/// Records per batch on channels unless `job.batch-size` says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1024;

impl Default for JobSection {
    fn default() -> Self {
        JobSection {
            id: None,
            name: None,
            args: Vec::new(),
            sql: None,
            parallelism: None,
            max_parallelism: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
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
    /// The share of the RocksDB memory the write buffers (memtables) may use.
    #[serde(with = "lenient::fraction")]
    pub rocksdb_write_buffer_ratio: f64,
    /// RocksDB data block size in bytes.
    #[serde(with = "lenient::bytes")]
    pub rocksdb_block_size: usize,
    /// Background flush and compaction threads per RocksDB instance.
    #[serde(with = "lenient::usize")]
    pub rocksdb_background_jobs: usize,
    /// LZ4 compression of RocksDB's table files.
    #[serde(with = "lenient::bool")]
    pub rocksdb_compression: bool,
    /// Where the RocksDB backend keeps timers.
    pub rocksdb_timers: TimerServiceKind,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            backend: StateBackendKind::Heap,
            rocksdb_dir: None,
            rocksdb_memory: None,
            incremental: true,
            rocksdb_write_buffer_ratio: 0.5,
            rocksdb_block_size: 16 << 10,
            rocksdb_background_jobs: 2,
            rocksdb_compression: true,
            rocksdb_timers: TimerServiceKind::Rocksdb,
        }
    }
}

lenient_enum! {
    /// Where the RocksDB backend keeps timers (Flink's `state.backend.rocksdb.timer-service.factory`).
    TimerServiceKind {
        /// In RocksDB, with the state (Flink's default).
        Rocksdb = "rocksdb",
        /// On the heap, checkpointed with the state.
        Heap = "heap",
    }
}

lenient_enum! {
    /// Keyed state backends.
    #[derive(Default)]
    StateBackendKind {
        /// On the heap (Flink's `hashmap`).
        #[default]
        Heap = "heap" | "hashmap",
        /// In RocksDB.
        Rocksdb = "rocksdb",
    }
}

/// `savepoints.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SavepointsSection {
    /// Default savepoint target.
    pub dir: Option<String>,
}

/// `restore.*`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RestoreSection {
    /// The checkpoint or savepoint the configured job starts from.
    pub path: Option<String>,
    /// What the job may do with the restored files.
    pub mode: RestoreMode,
    /// Drop state of operators the job no longer has.
    #[serde(with = "lenient::bool")]
    pub allow_non_restored_state: bool,
}

lenient_enum! {
    /// Who owns a restored checkpoint's files (Flink's claim mode).
    #[derive(Default)]
    RestoreMode {
        /// The job never modifies or deletes them.
        #[default]
        NoClaim = "no-claim",
        /// The job's retention deletes them once subsumed.
        Claim = "claim",
    }
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

lenient_enum! {
    /// Restart strategies, by their flag names (and Flink's other spellings).
    RestartKind {
        /// Never restart.
        None = "none" | "off" | "disable",
        /// A fixed number of restarts with a fixed delay.
        FixedDelay = "fixed-delay" | "fixeddelay",
        /// Doubling delays.
        ExponentialDelay = "exponential-delay" | "exponentialdelay",
        /// At most N failures per interval.
        FailureRate = "failure-rate" | "failurerate",
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

lenient_enum! {
    /// JobManager high-availability modes (Flink's `high-availability.type` values too).
    #[derive(Default)]
    HaMode {
        /// One JobManager, no durable records.
        #[default]
        None = "none",
        /// Leader lock and records in a shared directory (local tests).
        File = "file",
        /// A Lease and a ConfigMap of job records.
        Kubernetes = "kubernetes" | "org.apache.flink.kubernetes.highavailability.kuberneteshaservicesfactory",
    }
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct JobManagerSection {
    /// `host:port` (or a host, with `rpc.port`) of the JobManager's RPC server, for TaskManagers
    /// (`None`: `rpc.advertised-address`:`rpc.port`).
    pub address: Option<String>,
}

/// Flink's default JobManager RPC port.
pub const DEFAULT_RPC_PORT: u16 = 6123;
/// Flink's default REST and web UI port.
pub const DEFAULT_REST_PORT: u16 = 8081;
/// The TaskManager's metrics and health ports: the first free one is used (Flink's Prometheus
/// reporter's port, and the ports of up to eleven more TaskManagers on the host).
pub const DEFAULT_METRICS_PORTS: PortRange = PortRange { first: 9249, last: 9260 };

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

/// `metrics.*`: where a TaskManager serves `/metrics`, `/healthz` and `/readyz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Listen address.
    pub bind: String,
    /// Port or range (`None`: [`DEFAULT_METRICS_PORTS`], then any free port).
    #[serde(with = "lenient::opt_ports")]
    pub port: Option<PortRange>,
    /// A file the port taken is written to.
    pub port_file: Option<String>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection { bind: "0.0.0.0".into(), port: None, port_file: None }
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

lenient_enum! {
    /// Compression of the data plane's batches.
    #[derive(Default)]
    NetworkCompression {
        /// Sent as encoded.
        #[default]
        None = "none",
        /// LZ4 blocks, where that makes a batch smaller.
        Lz4 = "lz4",
    }
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

/// A value set for one of our keys, and how it was written (for messages).
#[derive(Clone, Debug)]
struct Setting {
    value: Value,
    /// The key as written and where: "`taskmanager.numberOfTaskSlots` in config.yaml".
    written: String,
}

/// Builds a [`Config`] layer by layer.
#[derive(Debug, Default)]
pub struct ConfigLoader {
    settings: BTreeMap<&'static str, Setting>,
    warnings: Vec<String>,
}

impl ConfigLoader {
    /// Starts from the built-in defaults.
    pub fn new() -> Self {
        ConfigLoader::default()
    }

    /// Merges a YAML configuration file.
    pub fn file(mut self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the configuration file {}: {e}", path.display())))?;
        self.merge_yaml(&text, &path.display().to_string())?;
        Ok(self)
    }

    /// Merges YAML text (`origin` names it in messages): keys nested, flat, or both.
    pub fn merge_yaml(&mut self, text: &str, origin: &str) -> Result<()> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let value: Value =
            serde_saphyr::from_str(text).map_err(|e| ConfigError(format!("{origin} is not valid YAML: {e}")))?;
        let Value::Object(top) = value else {
            return Err(ConfigError(format!(
                "{origin}: expected a mapping of keys such as `rest.port: 8081` or `rest: {{port: 8081}}`"
            )));
        };
        let mut entries = Vec::new();
        for (key, value) in top {
            flatten(key, value, &mut entries);
        }
        self.merge_layer(entries, &format!("in {origin}"))
    }

    /// Merges Flink's `FLINK_PROPERTIES` text: `key: value` lines (blank lines and `#` comments
    /// skipped; a later line wins), as Flink's images append it to their configuration file.
    pub fn flink_properties(mut self, text: &str) -> Result<Self> {
        let mut lines = BTreeMap::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let Some((key, value)) = line.split_once(':') else {
                return Err(ConfigError(format!("{FLINK_PROPERTIES}: '{line}' is not a `key: value` line")));
            };
            lines.insert(key.trim().to_string(), Value::String(unquote(value.trim()).to_string()));
        }
        self.merge_layer(lines.into_iter().collect(), &format!("in {FLINK_PROPERTIES}"))?;
        Ok(self)
    }

    /// Merges `FERROFLINK__<KEY>` variables from `vars` (the process environment in [`Self::env`]).
    pub fn vars(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        for (name, value) in vars {
            if !name.starts_with(ENV_PREFIX) {
                continue;
            }
            let key = keys::key_of_env_name(&name).ok_or_else(|| {
                ConfigError(format!(
                    "environment variable {name} names neither a ferroflink nor a Flink configuration key; \
                     see the configuration reference in README.md"
                ))
            })?;
            self.merge_layer(vec![(key, Value::String(value))], &format!("from {name}"))?;
        }
        Ok(self)
    }

    /// Merges the process's `FLINK_PROPERTIES`, then its `FERROFLINK__<KEY>` variables.
    pub fn env(self) -> Result<Self> {
        let loader = match std::env::var(FLINK_PROPERTIES) {
            Ok(text) => self.flink_properties(&text)?,
            Err(_) => self,
        };
        loader.vars(std::env::vars())
    }

    /// Merges settings given on the command line (`-D key=value`), by our names or Flink's.
    pub fn command_line(mut self, entries: impl IntoIterator<Item = (String, Value)>) -> Result<Self> {
        self.merge_layer(entries.into_iter().collect(), "on the command line")?;
        Ok(self)
    }

    /// Sets one of our keys by our name, as a command-line flag does.
    ///
    /// # Panics
    /// When `key` is not one of ours: flags are the program's own, not the user's.
    pub fn set(&mut self, key: &str, value: Value) {
        let key = keys::ours(key).unwrap_or_else(|| panic!("`{key}` is not a configuration key"));
        self.settings.insert(key.name, Setting { value, written: format!("`{}` from the command line", key.name) });
    }

    /// Sets one of our keys when `value` is given.
    pub fn set_opt(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(v) = value {
            self.set(key, v.into());
        }
        self
    }

    /// The Flink keys read so far that have no equivalent here (each is ignored), as messages.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Merges one layer: each key resolved, a setting named twice in it (under two names, with two
    /// values) refused, then laid over the layers before.
    fn merge_layer(&mut self, entries: Vec<(String, Value)>, origin: &str) -> Result<()> {
        let mut layer: BTreeMap<&'static str, Setting> = BTreeMap::new();
        for (written, value) in entries {
            match keys::resolve(&written) {
                None => {
                    return Err(ConfigError(format!(
                        "`{written}` ({origin}) is neither a ferroflink nor a Flink configuration key; see the \
                         configuration reference in README.md"
                    )));
                }
                Some(Resolved::FlinkOnly) => self.warnings.push(format!(
                    "`{written}` ({origin}) is a Flink option ferroflink does not support; it is ignored"
                )),
                Some(Resolved::Ours(key)) => {
                    let setting = Setting { value, written: format!("`{written}` {origin}") };
                    if let Some(before) = layer.get(key.name)
                        && before.value != setting.value
                    {
                        return Err(ConfigError(format!(
                            "{} and {} both set `{}`, to {} and {}: keep one",
                            before.written, setting.written, key.name, before.value, setting.value
                        )));
                    }
                    layer.insert(key.name, setting);
                }
            }
        }
        self.settings.extend(layer);
        Ok(())
    }

    /// The configuration, with every value checked; an invalid one is named as it was written.
    pub fn load(self) -> Result<Config> {
        let tree = |settings: &mut dyn Iterator<Item = (&&'static str, &Setting)>| {
            let mut sections = Map::new();
            for (name, setting) in settings {
                let (section, key) = name.split_once('.').expect("our keys are section.key");
                let entry = sections.entry(section).or_insert_with(|| Value::Object(Map::new()));
                entry.as_object_mut().expect("a section").insert(key.to_string(), setting.value.clone());
            }
            serde_json::from_value::<Config>(Value::Object(sections))
        };
        tree(&mut self.settings.iter()).map_err(|e| {
            // Name the setting at fault: the first that fails on its own.
            let culprit = self.settings.iter().find_map(|s| tree(&mut std::iter::once(s)).err().map(|e| (s.1, e)));
            match culprit {
                Some((setting, e)) => ConfigError(format!("{}: {e}", setting.written)),
                None => ConfigError(format!("invalid configuration: {e}")),
            }
        })
    }
}

/// Flattens a YAML mapping into `a.b.c` keys; a Flink key whose value is a mapping of other keys
/// than its sub-keys (a map-typed option such as `kubernetes.jobmanager.annotations`) stays whole.
/// A key without a value sets nothing.
fn flatten(key: String, value: Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Null => {}
        Value::Object(map)
            if keys::resolve(&key) != Some(Resolved::FlinkOnly)
                || map.keys().all(|k| keys::is_known_prefix(&format!("{key}.{k}"))) =>
        {
            for (k, v) in map {
                flatten(format!("{key}.{k}"), v, out);
            }
        }
        v => out.push((key, v)),
    }
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

impl Config {
    /// Where a TaskManager finds the JobManager's RPC server: `jobmanager.address` (with `rpc.port`
    /// when it names only a host), else `rpc.advertised-address` (Flink's `jobmanager.rpc.address`,
    /// default `localhost`) and `rpc.port` (`jobmanager.rpc.port`, default 6123).
    pub fn jobmanager_address(&self) -> String {
        let port = self.rpc.port.unwrap_or(DEFAULT_RPC_PORT);
        match &self.jobmanager.address {
            Some(a) if a.contains(':') => a.clone(),
            Some(host) => format!("{host}:{port}"),
            None => format!("{}:{port}", self.rpc.advertised_address.as_deref().unwrap_or("localhost")),
        }
    }
}

/// Deserializers that take a value in its YAML type or as a string, in Flink's forms
/// ([`values`]), and serializers that write durations and sizes back in their documented units.
pub(crate) mod lenient {
    use super::*;

    pub(super) fn text_or<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => return Err(serde::de::Error::custom(format!("expected a single value, found {other}"))),
        })
    }

    fn parse<T, D: serde::de::Error>(
        text: &str,
        f: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, D> {
        f(text).map_err(D::custom)
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

    fn number<T: std::str::FromStr>(text: &str, what: &str) -> std::result::Result<T, String> {
        text.trim().parse().map_err(|_| format!("'{text}' is not {what}"))
    }

    macro_rules! field {
        ($module:ident, $t:ty, $parse:expr, $write:expr) => {
            pub mod $module {
                use super::*;
                pub fn serialize<S: Serializer>(v: &$t, s: S) -> Result<S::Ok, S::Error> {
                    $write(v).serialize(s)
                }
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                    match text_or(d)? {
                        Some(t) => parse::<_, D::Error>(&t, $parse),
                        None => Err(serde::de::Error::custom("expected a value")),
                    }
                }
            }
        };
    }
    macro_rules! opt_field {
        ($module:ident, $t:ty, $parse:expr, $write:expr) => {
            pub mod $module {
                use super::*;
                pub fn serialize<S: Serializer>(v: &Option<$t>, s: S) -> Result<S::Ok, S::Error> {
                    v.as_ref().map($write).serialize(s)
                }
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
                    text_or(d)?.map(|t| parse::<_, D::Error>(&t, $parse)).transpose()
                }
            }
        };
    }
    field!(usize, usize, |t: &str| number(t, "a whole number"), |v: &usize| *v);
    opt_field!(opt_usize, usize, |t: &str| number(t, "a whole number"), |v: &usize| *v);
    opt_field!(opt_u16, u16, |t: &str| number(t, "a port number"), |v: &u16| *v);
    field!(bool, bool, values::boolean, |v: &bool| *v);
    field!(bytes, usize, values::bytes, |v: &usize| *v);
    field!(fraction, f64, values::fraction, |v: &f64| *v);
    field!(duration, Duration, values::duration, |v: &Duration| humantime::format_duration(*v).to_string());
    opt_field!(opt_duration, Duration, values::duration, |v: &Duration| humantime::format_duration(*v).to_string());
    opt_field!(opt_bytes, usize, values::bytes, |v: &usize| *v);
    opt_field!(opt_ports, PortRange, |t: &str| t.parse(), |v: &PortRange| v.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn yaml(text: &str) -> Result<ConfigLoader> {
        let mut loader = ConfigLoader::new();
        loader.merge_yaml(text, "test.yaml")?;
        Ok(loader)
    }

    fn load(text: &str) -> Config {
        yaml(text).and_then(ConfigLoader::load).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> String {
        match yaml(text).and_then(ConfigLoader::load) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("{text} loaded: {c:?}"),
        }
    }

    #[test]
    fn every_key_is_documented_once_and_accepted() {
        let names: BTreeSet<&str> = keys::KEYS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), keys::KEYS.len(), "a key is listed twice");
        let mut structural = BTreeSet::new();
        for (section, v) in serde_json::to_value(Config::default()).unwrap().as_object().unwrap() {
            for key in v.as_object().unwrap().keys() {
                structural.insert(format!("{section}.{key}"));
            }
        }
        assert_eq!(structural.iter().map(String::as_str).collect::<BTreeSet<_>>(), names);
        let readme = std::fs::read_to_string(format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
        for k in keys::KEYS {
            assert!(
                readme.contains(&format!("| `{}` |", k.name)),
                "README.md's configuration reference lacks {}",
                k.name
            );
            for f in k.flink {
                assert!(
                    readme.contains(&format!("| `{f}` | `{}` |", k.name)),
                    "README.md's table of Flink's keys lacks `{f}` -> `{}`",
                    k.name
                );
            }
        }
    }

    /// Each Flink name, with a value in Flink's form, gives the configuration our name gives.
    #[test]
    fn flink_keys_give_the_same_configuration_as_ours() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("parallelism.default", "4", "job.parallelism", "4"),
            ("pipeline.max-parallelism", "256", "job.max-parallelism", "256"),
            ("execution.checkpointing.interval", "30 s", "checkpointing.interval", "30s"),
            ("execution.checkpointing.dir", "s3://b/ck", "checkpointing.dir", "s3://b/ck"),
            ("state.checkpoints.dir", "file:///ck", "checkpointing.dir", "file:///ck"),
            ("execution.checkpointing.num-retained", "3", "checkpointing.retained", "3"),
            ("state.checkpoints.num-retained", "2", "checkpointing.retained", "2"),
            ("execution.checkpointing.timeout", "300000", "checkpointing.timeout", "5min"),
            ("state.backend.type", "hashmap", "state.backend", "heap"),
            ("state.backend.type", "ROCKSDB", "state.backend", "rocksdb"),
            ("state.backend.rocksdb.localdir", "/tmp/rocks", "state.rocksdb-dir", "/tmp/rocks"),
            ("state.backend.rocksdb.memory.fixed-per-tm", "512 mb", "state.rocksdb-memory", "512MiB"),
            ("execution.checkpointing.incremental", "false", "state.incremental", "false"),
            ("state.backend.rocksdb.memory.write-buffer-ratio", "0.25", "state.rocksdb-write-buffer-ratio", "0.25"),
            ("state.backend.rocksdb.block.blocksize", "4 kb", "state.rocksdb-block-size", "4KiB"),
            ("state.backend.rocksdb.thread.num", "4", "state.rocksdb-background-jobs", "4"),
            ("state.backend.rocksdb.timer-service.factory", "HEAP", "state.rocksdb-timers", "heap"),
            ("state.backend.incremental", "FALSE", "state.incremental", "false"),
            ("execution.checkpointing.savepoint-dir", "s3://b/sp", "savepoints.dir", "s3://b/sp"),
            ("state.savepoints.dir", "/sp", "savepoints.dir", "/sp"),
            ("execution.state-recovery.path", "/sp/savepoint-1", "restore.path", "/sp/savepoint-1"),
            ("execution.savepoint.path", "/sp/savepoint-2", "restore.path", "/sp/savepoint-2"),
            ("execution.state-recovery.claim-mode", "CLAIM", "restore.mode", "claim"),
            ("execution.savepoint-restore-mode", "NO_CLAIM", "restore.mode", "no-claim"),
            ("execution.state-recovery.ignore-unclaimed-state", "true", "restore.allow-non-restored-state", "true"),
            ("execution.savepoint.ignore-unclaimed-state", "true", "restore.allow-non-restored-state", "true"),
            ("restart-strategy.type", "fixeddelay", "restart-strategy.type", "fixed-delay"),
            ("restart-strategy.type", "off", "restart-strategy.type", "none"),
            ("restart-strategy.fixed-delay.attempts", "7", "restart-strategy.attempts", "7"),
            ("restart-strategy.failure-rate.max-failures-per-interval", "5", "restart-strategy.attempts", "5"),
            ("restart-strategy.fixed-delay.delay", "10 s", "restart-strategy.delay", "10s"),
            ("restart-strategy.failure-rate.delay", "2 s", "restart-strategy.delay", "2s"),
            ("restart-strategy.exponential-delay.initial-backoff", "500 ms", "restart-strategy.delay", "500ms"),
            ("restart-strategy.exponential-delay.max-backoff", "5 min", "restart-strategy.max-delay", "5min"),
            (
                "restart-strategy.failure-rate.failure-rate-interval",
                "1 h",
                "restart-strategy.failure-rate-interval",
                "1h",
            ),
            ("high-availability.type", "KUBERNETES", "ha.mode", "kubernetes"),
            (
                "high-availability.type",
                "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory",
                "ha.mode",
                "kubernetes",
            ),
            ("high-availability.cluster-id", "jobs-1", "ha.cluster-id", "jobs-1"),
            ("kubernetes.cluster-id", "jobs-2", "ha.cluster-id", "jobs-2"),
            ("high-availability.storageDir", "/ha", "ha.dir", "/ha"),
            ("high-availability.kubernetes.leader-election.lease-duration", "30 s", "ha.lease-duration", "30s"),
            ("kubernetes.namespace", "streaming", "ha.namespace", "streaming"),
            ("s3.endpoint", "http://minio:9000", "s3.endpoint", "http://minio:9000"),
            ("s3.path.style.access", "true", "s3.path-style", "true"),
            ("s3.path-style-access", "true", "s3.path-style", "true"),
            ("jobmanager.bind-host", "127.0.0.1", "rpc.bind", "127.0.0.1"),
            ("jobmanager.rpc.port", "6124", "rpc.port", "6124"),
            ("jobmanager.rpc.address", "jm.example", "rpc.advertised-address", "jm.example"),
            ("rest.bind-address", "127.0.0.1", "rest.bind", "127.0.0.1"),
            ("rest.port", "8082", "rest.port", "8082"),
            ("rest.address", "ui.example", "rest.advertised-address", "ui.example"),
            ("taskmanager.bind-host", "127.0.0.1", "data.bind", "127.0.0.1"),
            ("taskmanager.data.port", "6121", "data.port", "6121"),
            ("taskmanager.host", "10.0.0.7", "data.advertised-address", "10.0.0.7"),
            ("metrics.reporter.prom.port", "9250-9260", "metrics.port", "9250-9260"),
            ("taskmanager.numberOfTaskSlots", "3", "taskmanager.slots", "3"),
            ("taskmanager.memory.process.size", "1728m", "taskmanager.memory", "1728MiB"),
            ("heartbeat.interval", "10000", "heartbeat.interval", "10s"),
            ("heartbeat.timeout", "50 s", "heartbeat.timeout", "50s"),
        ];
        let mut covered = BTreeSet::new();
        for (flink, flink_value, ours, our_value) in cases {
            let theirs = load(&format!("{flink}: '{flink_value}'"));
            assert_eq!(theirs, load(&format!("{ours}: '{our_value}'")), "{flink}: {flink_value}");
            if !matches!(*our_value, "heap" | "no-claim") {
                assert_ne!(theirs, Config::default(), "{flink}: {flink_value} changed nothing");
            }
            assert_eq!(keys::resolve(flink), keys::resolve(ours), "{flink} is a name of {ours}");
            covered.insert(*flink);
        }
        for k in keys::KEYS {
            for f in k.flink {
                assert!(covered.contains(f), "no case for Flink's {f}");
            }
        }
    }

    #[test]
    fn keys_are_read_nested_flat_and_mixed() {
        let nested = load("rest: {port: 8082}\ntaskmanager: {numberOfTaskSlots: 3}\njobmanager: {rpc: {port: 6124}}");
        let flat = load("rest.port: 8082\ntaskmanager.numberOfTaskSlots: 3\njobmanager.rpc.port: 6124");
        let mixed = load("rest.port: 8082\ntaskmanager: {slots: 3}\njobmanager: {rpc.port: 6124}");
        assert_eq!((nested.rest.port, nested.taskmanager.slots, nested.rpc.port), (Some(8082), 3, Some(6124)));
        assert_eq!(nested, flat);
        assert_eq!(nested, mixed);
    }

    /// The shape of Flink 2's shipped `config.yaml` (nested) and of a legacy `flink-conf.yaml` (flat):
    /// both load; what has no equivalent here is reported, not refused.
    #[test]
    fn flinks_own_configuration_files_load() {
        let nested = "env:\n  java:\n    opts:\n      all: --add-exports=java.base/sun.net.util=ALL-UNNAMED\n\
                      jobmanager:\n  bind-host: localhost\n  rpc:\n    address: localhost\n    port: 6123\n\
                      \x20 memory:\n    process:\n      size: 1600m\n  execution:\n    failover-strategy: region\n\
                      taskmanager:\n  bind-host: localhost\n  host: localhost\n  numberOfTaskSlots: 1\n\
                      \x20 memory:\n    process:\n      size: 1728m\n\
                      parallelism:\n  default: 1\n\
                      rest:\n  address: localhost\n  bind-address: localhost\n";
        let loader = yaml(nested).unwrap();
        let warned = loader.warnings().join("\n");
        assert_eq!(loader.warnings().len(), 3, "{warned}");
        assert!(warned.contains("`jobmanager.memory.process.size` (in test.yaml) is a Flink option"), "{warned}");
        assert!(warned.contains("`jobmanager.execution.failover-strategy`"), "{warned}");
        assert!(warned.contains("`env.java.opts.all`"), "{warned}");
        let c = loader.load().unwrap();
        assert_eq!(c.taskmanager.memory, Some(1728 << 20));
        assert_eq!(c.rest.advertised_address.as_deref(), Some("localhost"));
        assert_eq!(c.jobmanager_address(), "localhost:6123");

        let flat = "jobmanager.rpc.address: jobmanager\njobmanager.rpc.port: 6123\n\
                    taskmanager.numberOfTaskSlots: 4\nparallelism.default: 2\n\
                    state.backend.type: rocksdb\nstate.checkpoints.dir: s3://bucket/ck\n\
                    execution.checkpointing.interval: 10 s\n\
                    metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory\n\
                    metrics.reporter.prom.port: 9250-9260\n";
        let loader = yaml(flat).unwrap();
        assert_eq!(loader.warnings().len(), 1, "{:?}", loader.warnings());
        let c = loader.load().unwrap();
        assert_eq!(c.jobmanager_address(), "jobmanager:6123");
        assert_eq!((c.taskmanager.slots, c.job.parallelism), (4, Some(2)));
        assert_eq!(c.state.backend, StateBackendKind::Rocksdb);
        assert_eq!(c.metrics.port, Some(PortRange { first: 9250, last: 9260 }));
        assert_eq!(c.checkpointing.interval, Some(Duration::from_secs(10)));
    }

    #[test]
    fn layers_override_in_order() {
        let mut loader = yaml(
            "job: {builtin: nexmark, args: [--query, q7], parallelism: 4}\n\
             checkpointing: {interval: 10s, dir: s3://b/ck, retained: 3}\n\
             s3: {path-style: 'true'}\ntaskmanager.numberOfTaskSlots: 2\nrest.port: 8090\n",
        )
        .unwrap();
        loader = loader
            .flink_properties("taskmanager.numberOfTaskSlots: 5\n# a comment\n\nrest.port: 8091\nrest.port: 8092\n")
            .unwrap();
        let config = loader
            .vars([
                ("FERROFLINK__JOB__PARALLELISM".to_string(), "8".to_string()),
                ("FERROFLINK__RESTART_STRATEGY__TYPE".into(), "fixed-delay".into()),
                ("FERROFLINK__TASKMANAGER__NUMBEROFTASKSLOTS".into(), "6".into()),
                ("PATH".into(), "/bin".into()),
            ])
            .unwrap()
            .set_opt("taskmanager.memory", Some("1GiB"))
            .load()
            .unwrap();
        assert_eq!(config.job.parallelism, Some(8));
        assert_eq!(config.checkpointing.interval, Some(Duration::from_secs(10)));
        assert_eq!(config.checkpointing.retained, 3);
        assert!(config.s3.path_style);
        assert_eq!(config.restart_strategy.kind, Some(RestartKind::FixedDelay));
        assert_eq!(config.taskmanager.slots, 6);
        assert_eq!(config.rest.port, Some(8092), "FLINK_PROPERTIES: the later line wins");
        assert_eq!(config.taskmanager.memory, Some(1 << 30));
        assert_eq!(config.heartbeat.timeout, Duration::from_secs(5));
        assert_eq!(config.job.name.as_deref(), Some("nexmark"));
        assert_eq!(config.job.args, ["--query", "q7"]);
        let c = load("execution.savepoint.path: /sp/1\nexecution.state-recovery.claim-mode: CLAIM");
        assert_eq!((c.restore.path.as_deref(), c.restore.mode), (Some("/sp/1"), RestoreMode::Claim));
    }

    #[test]
    fn mistakes_are_named_as_written() {
        assert!(error("chekpointing: {dir: x}").contains("`chekpointing.dir` (in test.yaml) is neither"));
        assert!(error("checkpointing: {intervall: 1s}").contains("`checkpointing.intervall`"));
        assert!(error("taskmanager.numberOfTaskSlot: 3").contains("`taskmanager.numberOfTaskSlot` (in test.yaml)"));
        let e = error("execution.checkpointing.interval: soon");
        assert!(e.contains("`execution.checkpointing.interval` in test.yaml: 'soon' is not a duration"), "{e}");
        let e = error("taskmanager: {numberOfTaskSlots: many}");
        assert!(e.contains("`taskmanager.numberOfTaskSlots` in test.yaml: 'many' is not a whole number"), "{e}");
        assert!(error("state.backend.type: forst").contains("'forst' is not one of heap, rocksdb"));
        assert!(
            error("high-availability.type: zookeeper").contains("'zookeeper' is not one of none, file, kubernetes")
        );
        assert!(error("metrics.port: 9260-9249").contains("not a range of ports"));
        assert!(error("- a\n- b").contains("expected a mapping of keys"));
        let e = error("state.checkpoints.dir: /a\nexecution.checkpointing.dir: /b");
        assert!(
            e.contains("`state.checkpoints.dir` in test.yaml") && e.contains("`execution.checkpointing.dir` in"),
            "{e}"
        );
        assert!(e.contains("both set `checkpointing.dir`") && e.contains("keep one"), "{e}");
        // The same value under two names is no conflict.
        load("state.checkpoints.dir: /a\nexecution.checkpointing.dir: /a");
        let env = ConfigLoader::new().vars([("FERROFLINK__S3__ENDPPOINT".into(), "x".into())]).unwrap_err();
        assert!(env.to_string().contains("FERROFLINK__S3__ENDPPOINT"), "{env}");
        let props = ConfigLoader::new().flink_properties("rest.prot: 1").unwrap_err();
        assert!(props.to_string().contains("`rest.prot` (in FLINK_PROPERTIES)"), "{props}");
        assert!(ConfigLoader::new().flink_properties("just words").is_err());
    }

    #[test]
    fn the_operators_rendering_loads() {
        // What `ferroflink-operator render` writes into the ConfigMap (strings from `spec.config`).
        let c = load(
            "job:\n  id: 0a1b2c3d\n  name: nexmark\n  args: [--query, q5]\n  parallelism: 10\n\
             rpc: {port: 6123}\nrest: {port: 8081}\nmetrics: {port: 9249}\ntaskmanager: {slots: 4}\n\
             ha: {mode: kubernetes, cluster-id: abc-1, dir: s3://b/ck/ha}\n\
             checkpointing: {interval: 10s, dir: s3://b/ck, retained: 3}\n\
             savepoints: {dir: s3://b/sp}\ns3: {path-style: true, endpoint: 'http://minio:9000'}\n\
             heartbeat: {timeout: '20s'}\nexecution.checkpointing.mode: EXACTLY_ONCE\n\
             kubernetes.jobmanager.annotations: {team: streaming}\n\
             restore: {path: s3://b/sp/savepoint-1, allow-non-restored-state: true}\n",
        );
        assert_eq!(c.job.name.as_deref(), Some("nexmark"));
        assert_eq!(c.restore.path.as_deref(), Some("s3://b/sp/savepoint-1"));
        assert!(c.restore.allow_non_restored_state);
        assert_eq!(c.ha.mode, HaMode::Kubernetes);
        assert_eq!(c.rpc.port, Some(6123));
        assert_eq!(c.metrics.port, Some(PortRange::single(9249)));
        assert_eq!(c.heartbeat.timeout, Duration::from_secs(20));
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://minio:9000"));
    }
}
