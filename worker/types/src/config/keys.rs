//! Every configuration key: ours (`section.key`), Flink's names for the same setting, its default
//! and meaning. [`resolve`] says what a key as a user wrote it is: one of ours (under any of its
//! names), a Flink key we do not support (the process warns and starts), or neither (an error).
//!
//! Flink's key list (`flink_keys.txt`, the names of Flink 2.3's documented options; `<name>` stands
//! for one user-chosen segment, or the rest of the key at its end) tells the last two apart, so a
//! typo in a Flink key is an error, as it would be a no-op in Flink. Older names Flink 2.3 still
//! reads (`flink_keys_deprecated.txt`: `old new` lines) are read as their new names.

/// One of our configuration keys.
#[derive(Debug, PartialEq, Eq)]
pub struct Key {
    /// Our name, `section.key`.
    pub name: &'static str,
    /// Flink's names for the same setting, newest first (equal to ours where Flink's is ours).
    pub flink: &'static [&'static str],
    /// The default, as the reference documents it.
    pub default: &'static str,
    /// What it means.
    pub doc: &'static str,
}

const fn key(name: &'static str, flink: &'static [&'static str], default: &'static str, doc: &'static str) -> Key {
    Key { name, flink, default, doc }
}

/// Every key, the one reference (README.md's configuration tables mirror it; a test keeps them equal).
pub const KEYS: &[Key] = &[
    key("job.id", &[], "derived", "the job's id (the operator passes one derived from the FlinkJob's uid)"),
    key(
        "job.name",
        &[],
        "none",
        "the registered job the JobManager runs at start (application mode); `job.builtin` is its former name",
    ),
    key("job.args", &[], "[]", "the job's own arguments, as on `ferroflink run <job> ...`"),
    key(
        "job.sql",
        &[],
        "none",
        "a SQL script (its text) whose one job the JobManager runs at start, instead of `job.name` (`ferroflink jobmanager --sql <file>`)",
    ),
    key("job.parallelism", &["parallelism.default"], "the job's", "default parallelism of the job's operators"),
    key(
        "job.max-parallelism",
        &["pipeline.max-parallelism"],
        "128",
        "key groups of keyed operators (fixed for the job's lifetime)",
    ),
    key("job.batch-size", &[], "1024", "records per batch on channels"),
    key(
        "checkpointing.interval",
        &["execution.checkpointing.interval"],
        "none",
        "time between checkpoints (needs `checkpointing.dir`)",
    ),
    key(
        "checkpointing.dir",
        &["execution.checkpointing.dir", "state.checkpoints.dir"],
        "none",
        "checkpoint storage: a directory or `s3://bucket/prefix`",
    ),
    key(
        "checkpointing.retained",
        &["execution.checkpointing.num-retained", "state.checkpoints.num-retained"],
        "1",
        "completed checkpoints kept",
    ),
    key(
        "checkpointing.timeout",
        &["execution.checkpointing.timeout"],
        "10min",
        "a checkpoint that takes longer is aborted",
    ),
    key(
        "state.backend",
        &["state.backend.type"],
        "heap",
        "keyed state backend: `heap` (Flink's `hashmap`) or `rocksdb`",
    ),
    key("state.rocksdb-dir", &["state.backend.rocksdb.localdir"], "system temp dir", "RocksDB working directory"),
    key(
        "state.rocksdb-memory",
        &["state.backend.rocksdb.memory.fixed-per-tm"],
        "TaskManager: 40% of taskmanager.memory",
        "one budget for the block cache and write buffers of every RocksDB instance of a TaskManager",
    ),
    key(
        "state.rocksdb-write-buffer-ratio",
        &["state.backend.rocksdb.memory.write-buffer-ratio"],
        "0.5",
        "the share of the RocksDB memory its write buffers (memtables) may use",
    ),
    key(
        "state.rocksdb-block-size",
        &["state.backend.rocksdb.block.blocksize"],
        "16kb",
        "RocksDB data block size (Flink's default is 4kb)",
    ),
    key(
        "state.rocksdb-background-jobs",
        &["state.backend.rocksdb.thread.num"],
        "2",
        "background flush and compaction threads per RocksDB instance",
    ),
    key("state.rocksdb-compression", &[], "true", "compress RocksDB's table files with LZ4"),
    key(
        "state.rocksdb-timers",
        &["state.backend.rocksdb.timer-service.factory"],
        "rocksdb",
        "where the RocksDB backend keeps timers: `rocksdb` or `heap`",
    ),
    key(
        "state.incremental",
        &["execution.checkpointing.incremental", "state.backend.incremental"],
        "true",
        "RocksDB: upload only new table files at each checkpoint",
    ),
    key(
        "savepoints.dir",
        &["execution.checkpointing.savepoint-dir", "state.savepoints.dir"],
        "none",
        "default target of savepoints",
    ),
    key(
        "restore.path",
        &["execution.state-recovery.path", "execution.savepoint.path"],
        "none",
        "the checkpoint or savepoint the configured job starts from",
    ),
    key(
        "restore.mode",
        &["execution.state-recovery.claim-mode", "execution.savepoint-restore-mode"],
        "no-claim",
        "`no-claim` never modifies the restored files; `claim` hands them to the job's retention",
    ),
    key(
        "restore.allow-non-restored-state",
        &["execution.state-recovery.ignore-unclaimed-state", "execution.savepoint.ignore-unclaimed-state"],
        "false",
        "drop restored state of operators the job no longer has instead of failing",
    ),
    key(
        "restart-strategy.type",
        &["restart-strategy.type"],
        "exponential-delay with checkpoints, else none",
        "none, fixed-delay, exponential-delay or failure-rate (Flink's spellings too: `off`, `fixeddelay`, ...)",
    ),
    key(
        "restart-strategy.attempts",
        &["restart-strategy.fixed-delay.attempts", "restart-strategy.failure-rate.max-failures-per-interval"],
        "3",
        "fixed-delay: restarts allowed; failure-rate: failures per interval",
    ),
    key(
        "restart-strategy.delay",
        &[
            "restart-strategy.fixed-delay.delay",
            "restart-strategy.failure-rate.delay",
            "restart-strategy.exponential-delay.initial-backoff",
        ],
        "1s",
        "delay before a restart (exponential-delay: the first one)",
    ),
    key(
        "restart-strategy.max-delay",
        &["restart-strategy.exponential-delay.max-backoff"],
        "1min",
        "exponential-delay: the longest delay",
    ),
    key(
        "restart-strategy.failure-rate-interval",
        &["restart-strategy.failure-rate.failure-rate-interval"],
        "1min",
        "failure-rate: the interval failures are counted in",
    ),
    key(
        "ha.mode",
        &["high-availability.type"],
        "none",
        "JobManager high availability: `none`, `file` or `kubernetes` (Flink's class name of it too)",
    ),
    key(
        "ha.cluster-id",
        &["high-availability.cluster-id", "kubernetes.cluster-id"],
        "`job.id`, else `default`",
        "names the HA records (the operator derives it from the FlinkJob's uid)",
    ),
    key(
        "ha.dir",
        &["high-availability.storageDir"],
        "none",
        "`file`: the shared directory of the leader record and job records",
    ),
    key(
        "ha.lease-duration",
        &["high-availability.kubernetes.leader-election.lease-duration"],
        "15s",
        "a leader that has not renewed its lease this long is replaced; it renews every third of it",
    ),
    key(
        "ha.namespace",
        &["kubernetes.namespace"],
        "POD_NAMESPACE, then the service account's",
        "`kubernetes`: namespace of the Lease and the ConfigMap of job records",
    ),
    key(
        "s3.endpoint",
        &["s3.endpoint"],
        "AWS_ENDPOINT_URL_S3, then AWS",
        "S3-compatible endpoint URL for `s3://` locations",
    ),
    key("s3.region", &[], "AWS chain, then us-east-1", "S3 region"),
    key(
        "s3.path-style",
        &["s3.path.style.access", "s3.path-style-access"],
        "false",
        "address buckets in the path (MinIO, most test servers)",
    ),
    key("s3.credentials-file", &[], "AWS chain", "an AWS shared-credentials file to read"),
    key(
        "jobmanager.address",
        &[],
        "`rpc.advertised-address`:`rpc.port`",
        "TaskManagers: the JobManager's RPC address (`host:port`, or a host with `rpc.port`)",
    ),
    key("rpc.bind", &["jobmanager.bind-host"], "0.0.0.0", "JobManager: address the RPC server listens on"),
    key("rpc.port", &["jobmanager.rpc.port"], "6123", "the JobManager's RPC port (TaskManagers connect to it)"),
    key(
        "rpc.advertised-address",
        &["jobmanager.rpc.address"],
        "the host name (TaskManagers: localhost)",
        "the JobManager's address for TaskManagers and standbys (the pod IP); TaskManagers connect to it",
    ),
    key("rest.bind", &["rest.bind-address"], "0.0.0.0", "JobManager: address the REST API and web UI listen on"),
    key("rest.port", &["rest.port"], "8081", "JobManager: REST API and web UI port"),
    key(
        "rest.advertised-address",
        &["rest.address"],
        "`rpc.advertised-address`",
        "JobManager: the host its REST API is announced at (HA records, the Lease the operator reads)",
    ),
    key("data.bind", &["taskmanager.bind-host"], "0.0.0.0", "TaskManager: address the data plane listens on"),
    key(
        "data.port",
        &["taskmanager.data.port"],
        "0",
        "TaskManager: data port (0: the kernel picks one, reported to the JobManager)",
    ),
    key(
        "data.advertised-address",
        &["taskmanager.host"],
        "the host name",
        "TaskManager: the address other processes reach it at (the pod IP)",
    ),
    key("metrics.bind", &[], "0.0.0.0", "TaskManager: address of `/metrics`, `/healthz`, `/readyz`"),
    key(
        "metrics.port",
        &["metrics.reporter.prom.port"],
        "9249-9260, then any free port",
        "TaskManager: port or range (`9249-9260`) of `/metrics`, `/healthz`, `/readyz`; the first free one is used and reported to the JobManager",
    ),
    key(
        "metrics.port-file",
        &[],
        "none",
        "TaskManager: a file it writes the metrics port it took to (`ferroflink probe --port-file` reads it)",
    ),
    key("taskmanager.slots", &["taskmanager.numberOfTaskSlots"], "1", "TaskManager: task slots"),
    key(
        "taskmanager.memory",
        &["taskmanager.memory.process.size"],
        "the cgroup's memory.max",
        "TaskManager: memory budget divided among slots and state backends",
    ),
    key(
        "taskmanager.network-compression",
        &[],
        "none",
        "TaskManager: `lz4` compresses the batches it sends to other TaskManagers (when that saves space)",
    ),
    key("heartbeat.interval", &["heartbeat.interval"], "1s", "time between heartbeats of JobManager and TaskManagers"),
    key("heartbeat.timeout", &["heartbeat.timeout"], "5s", "a peer silent this long is considered lost"),
];

/// Flink's documented option names (Flink 2.3), one per line; `<name>` is one user-chosen segment
/// (the rest of the key when it ends the name).
const FLINK_KEYS: &str = include_str!("flink_keys.txt");

/// Older names Flink 2.3 still reads, `old new` per line.
const FLINK_DEPRECATED: &str = include_str!("flink_keys_deprecated.txt");

/// Families of Flink keys it passes on to plugins without a list (file systems, Java options).
const FLINK_PASSTHROUGH_PREFIXES: &[&str] = &["fs.", "env.java.opts."];

/// Options of Flink's S3 file system plugins (which forward every `s3.` key to Hadoop or Presto;
/// only these common ones are known here, so that a typo in one of our `s3.` keys stays an error).
const FLINK_S3_KEYS: &[&str] = &[
    "s3.endpoint",
    "s3.path.style.access",
    "s3.path-style-access",
    "s3.access-key",
    "s3.secret-key",
    "s3.access.key",
    "s3.secret.key",
    "s3.ssl.enabled",
    "s3.entropy.key",
    "s3.entropy.length",
    "s3.upload.min.part.size",
    "s3.upload.max.concurrent.uploads",
    "s3.max.connections",
    "s3.connection.maximum",
];

/// Former names of our keys, still read: `(old, new)`.
const OUR_RENAMED: &[(&str, &str)] = &[("job.builtin", "job.name")];

/// What a key, as written, is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// One of ours, named by itself or by one of its Flink names.
    Ours(&'static Key),
    /// A Flink key without an equivalent here: it is ignored with a warning.
    FlinkOnly,
}

/// What `written` names: one of our keys (under our name or a Flink name of it), a Flink key we do
/// not support, or nothing known (`None`).
pub fn resolve(written: &str) -> Option<Resolved> {
    if let Some((_, new)) = OUR_RENAMED.iter().find(|(old, _)| *old == written) {
        return resolve(new);
    }
    if let Some(k) = KEYS.iter().find(|k| k.name == written || k.flink.contains(&written)) {
        return Some(Resolved::Ours(k));
    }
    let renamed = FLINK_DEPRECATED.lines().find_map(|l| l.split_once(' ').filter(|(old, _)| *old == written));
    if let Some((_, new)) = renamed {
        return resolve(new);
    }
    is_flink_key(written).then_some(Resolved::FlinkOnly)
}

/// Our key by our name.
pub fn ours(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Every name of every key of ours: our name and its Flink names.
fn our_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.flink.iter().copied()))
        .chain(OUR_RENAMED.iter().map(|(old, _)| *old))
}

fn is_flink_key(written: &str) -> bool {
    FLINK_PASSTHROUGH_PREFIXES.iter().any(|p| written.starts_with(p))
        || FLINK_S3_KEYS.contains(&written)
        || FLINK_KEYS.lines().any(|pattern| matches_pattern(pattern, written))
}

/// Whether `written` is an instance of `pattern` (`<...>` matches one segment, or at the end of the
/// pattern the rest of the key: `flink.hadoop.<key>` holds `flink.hadoop.fs.s3a.endpoint`).
fn matches_pattern(pattern: &str, written: &str) -> bool {
    let (mut p, mut w) = (pattern.split('.').peekable(), written.split('.'));
    loop {
        match (p.next(), w.next()) {
            (None, None) => return true,
            (Some(ps), Some(ws)) if is_placeholder(ps) && !ws.is_empty() => {
                if p.peek().is_none() {
                    return w.all(|s| !s.is_empty());
                }
            }
            (Some(ps), Some(ws)) if ps == ws => {}
            _ => return false,
        }
    }
}

/// Whether some key (ours, a Flink name of ours, a Flink key) is `prefix` or starts with it, segment
/// by segment: a nested mapping under `prefix` may hold keys.
pub fn is_known_prefix(prefix: &str) -> bool {
    let deprecated = FLINK_DEPRECATED.lines().filter_map(|l| l.split(' ').next());
    let mut all = our_names().chain(FLINK_KEYS.lines()).chain(deprecated).chain(FLINK_S3_KEYS.iter().copied());
    all.any(|name| {
        let mut n = name.split('.');
        prefix.split('.').all(|p| n.next().is_some_and(|s| s == p || (is_placeholder(s) && !p.is_empty())))
    }) || FLINK_PASSTHROUGH_PREFIXES.iter().any(|p| format!("{prefix}.").starts_with(p) || p.starts_with(prefix))
}

fn is_placeholder(segment: &str) -> bool {
    segment.starts_with('<') && segment.ends_with('>')
}

/// The key a `FERROFLINK__` variable names (the key upper-cased, `.` as `__`, `-` as `_`), among
/// ours, their Flink names and Flink's other keys (a Flink key's user-chosen segments come back in
/// lower case).
pub fn key_of_env_name(var: &str) -> Option<String> {
    let flink = FLINK_KEYS.lines().chain(FLINK_S3_KEYS.iter().copied());
    if let Some(name) = our_names().chain(flink).find(|n| !n.contains('<') && env_matches(n, var)) {
        return Some(name.to_string());
    }
    // A Flink key with user-chosen segments, or of a passthrough family: lower case, `__` as `.`.
    let rest = var.strip_prefix(super::ENV_PREFIX)?;
    let guess = rest.to_ascii_lowercase().replace("__", ".").replace('_', "-");
    is_flink_key(&guess).then_some(guess)
}

/// Whether `var` is the variable of key `name`.
fn env_matches(name: &str, var: &str) -> bool {
    var.strip_prefix(super::ENV_PREFIX)
        .is_some_and(|rest| rest == name.to_ascii_uppercase().replace('.', "__").replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_our_keys() {
        let slots = ours("taskmanager.slots").unwrap();
        assert_eq!(resolve("taskmanager.slots"), Some(Resolved::Ours(slots)));
        assert_eq!(resolve("taskmanager.numberOfTaskSlots"), Some(Resolved::Ours(slots)));
        assert_eq!(resolve("state.checkpoints.dir"), resolve("execution.checkpointing.dir"));
        assert_eq!(resolve("metrics.reporter.prom.factory.class"), Some(Resolved::FlinkOnly));
        assert_eq!(resolve("jobmanager.memory.process.size"), Some(Resolved::FlinkOnly));
        assert_eq!(resolve("taskmanager.numberOfTaskSlot"), None);
        assert_eq!(resolve("metrics.reporter"), None);
        // Older names Flink still reads, and keys with user-chosen parts.
        assert_eq!(resolve("state.backend.fs.checkpointdir"), resolve("checkpointing.dir"));
        assert_eq!(resolve("high-availability"), resolve("ha.mode"));
        assert_eq!(resolve("jobmanager.web.address"), resolve("rest.bind"));
        assert_eq!(resolve("akka.ask.timeout"), Some(Resolved::FlinkOnly));
        assert_eq!(resolve("flink.hadoop.fs.s3a.endpoint"), Some(Resolved::FlinkOnly));
        assert_eq!(resolve("metrics.reporter.prom.scope.variables.excludes"), Some(Resolved::FlinkOnly));
        assert_eq!(resolve("flink.hadoop."), None);
    }

    #[test]
    fn every_flink_name_is_a_flink_key_and_belongs_to_one_of_ours() {
        let mut seen = std::collections::BTreeSet::new();
        let deprecated = |f: &str| FLINK_DEPRECATED.lines().any(|l| l.split(' ').next() == Some(f));
        for k in KEYS {
            assert!(!k.name.contains('<'));
            for f in k.flink {
                assert!(is_flink_key(f) || deprecated(f), "{f} (for {}) is not in Flink's key lists", k.name);
                assert!(seen.insert(*f), "{f} names two of our keys");
            }
        }
    }

    #[test]
    fn environment_names_find_the_key() {
        assert_eq!(
            key_of_env_name("FERROFLINK__TASKMANAGER__NUMBEROFTASKSLOTS").unwrap(),
            "taskmanager.numberOfTaskSlots"
        );
        assert_eq!(key_of_env_name("FERROFLINK__S3__PATH_STYLE").unwrap(), "s3.path-style");
        assert_eq!(
            key_of_env_name("FERROFLINK__EXECUTION__CHECKPOINTING__INTERVAL").unwrap(),
            "execution.checkpointing.interval"
        );
        assert_eq!(
            key_of_env_name("FERROFLINK__METRICS__REPORTER__PROM__FACTORY__CLASS").unwrap(),
            "metrics.reporter.prom.factory.class"
        );
        assert_eq!(key_of_env_name("FERROFLINK__S3__ENDPPOINT"), None);
        assert_eq!(key_of_env_name("FERROFLINK__TASKMANAGER__SLOTZ"), None);
    }
}
