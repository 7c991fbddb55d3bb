//! The `FlinkJob` custom resource (`ferroflink.io/v1alpha1`), its validation (OpenAPI constraints and
//! CEL rules the API server enforces) and its status.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A dataflow job run by ferroflink: a JobManager Deployment and TaskManager pods.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ferroflink.io",
    version = "v1alpha1",
    kind = "FlinkJob",
    namespaced,
    shortname = "fj",
    status = "FlinkJobStatus",
    printcolumn(name = "Job", type_ = "string", json_path = ".status.jobState", description = "state of the job"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".status.lifecycleState"),
    printcolumn(name = "Parallelism", type_ = "integer", json_path = ".spec.job.parallelism"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(
        "(has(self.spec.job.name) ? 1 : 0) + (has(self.spec.job.builtin) ? 1 : 0) + (has(self.spec.job.sql) ? 1 : 0) \
         + (has(self.spec.job.sqlConfigMap) ? 1 : 0) == 1"
    )
    .message(
        "give exactly one of job.name (a job the image registers; job.builtin is its former name), job.sql (a Flink \
         SQL script) or job.sqlConfigMap (the ConfigMap key holding one)"
    ),
    validation = Rule::new("!has(self.spec.job.args) || has(self.spec.job.name) || has(self.spec.job.builtin)")
        .message("job.args are a registered job's arguments: a SQL job takes its settings from SET statements and spec.config"),
    validation = Rule::new("!has(self.spec.jobManager) || self.spec.jobManager.replicas <= 1 || has(self.spec.checkpointing)")
        .message("jobManager.replicas > 1 (standby JobManagers) requires checkpointing.storage for the HA pointers"),
    validation = Rule::new("has(self.spec.savepoints) || !has(self.spec.job.upgradeMode) || self.spec.job.upgradeMode != 'savepoint'")
        .message("job.upgradeMode savepoint requires savepoints.storage"),
    validation = Rule::new("has(self.spec.savepoints) || !has(self.spec.job.state) || self.spec.job.state != 'suspended'")
        .message("job.state suspended stops the job with a savepoint: it requires savepoints.storage"),
    validation = Rule::new("has(self.spec.savepoints) || !has(self.spec.job.savepointTriggerNonce)")
        .message("job.savepointTriggerNonce requires savepoints.storage"),
    validation = Rule::new("has(self.spec.savepoints) || !has(self.spec.job.stopAt)")
        .message("job.stopAt stops the job with a savepoint: it requires savepoints.storage"),
    validation = Rule::new("has(self.spec.checkpointing) || !has(self.spec.job.upgradeMode) || self.spec.job.upgradeMode != 'last-state'")
        .message("job.upgradeMode last-state resumes from the latest checkpoint: it requires checkpointing.storage"),
    validation = Rule::new("has(self.spec.savepoints) || !has(self.spec.job.rollbackAfter) || (has(self.spec.job.upgradeMode) && self.spec.job.upgradeMode == 'last-state')")
        .message("job.rollbackAfter returns to the upgrade savepoint: it requires savepoints.storage (or upgradeMode last-state)"),
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkJobSpec {
    /// Image holding the `ferroflink` binary.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// Image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// What to run.
    pub job: JobSpec,
    /// JobManager settings.
    #[serde(default)]
    pub job_manager: JobManagerSpec,
    /// TaskManager settings.
    #[serde(default)]
    pub task_manager: TaskManagerSpec,
    /// Periodic checkpoints; their storage also holds the HA pointers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpointing: Option<CheckpointingSpec>,
    /// Where savepoints go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoints: Option<SavepointsSpec>,
    /// S3-compatible storage settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Spec>,
    /// Expose the JobManager's REST API and web UI through an Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Extra engine settings, `section.key: value` (see the engine's configuration reference).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 128))]
    pub config: BTreeMap<String, String>,
    /// A pod template merged under the JobManager and TaskManager pods (node selectors,
    /// tolerations, sidecars, annotations...). The operator's own fields win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_fields")]
    pub pod_template: Option<serde_json::Value>,
}

fn preserve_unknown_fields(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// An Ingress for the web UI and REST API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name, e.g. `bids.flink.example.com`.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"))]
    pub host: String,
    /// Ingress class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations for the ingress controller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Secret with the TLS certificate for `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret: Option<String>,
}

/// Image pull policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull when missing.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// The job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// A job the image registers: a built-in one, or one of the crate the image was built from
    /// (`ferroflink jobs` in the image lists them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub name: Option<String>,
    /// The former name of `name`, still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9-]*$"))]
    pub builtin: Option<String>,
    /// The job's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub args: Vec<String>,
    /// A Flink SQL script (DDL, `SET`, then one `INSERT INTO` or `EXECUTE STATEMENT SET`), run
    /// instead of a registered job. Option values may say `${NAME}` for a variable of `secrets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 262144))]
    pub sql: Option<String>,
    /// The ConfigMap key holding the SQL script (for long scripts), instead of `sql`. An edit of
    /// it is a spec change, seen within 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_config_map: Option<ConfigMapKey>,
    /// What identifies a SQL job's script where a spec is recorded (the status): its digest, never
    /// its text. The operator's own; not part of the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub sql_digest: Option<String>,
    /// Environment variables of the job's pods taken from Secret keys: SQL option values say
    /// `${NAME}` for them, and never show their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub secrets: Vec<SecretVariable>,
    /// Parallelism: the slots the job needs.
    #[schemars(range(min = 1, max = 32768))]
    pub parallelism: i32,
    /// Key groups (upper bound for rescaling); engine default 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32768))]
    pub max_parallelism: Option<i32>,
    /// How a spec change reaches the running job: `stateless` starts the new spec empty;
    /// `savepoint` stops the job with a savepoint and starts the new spec from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_mode: Option<UpgradeMode>,
    /// `running`, or `suspended`: stopped with a savepoint, its pods removed; `running` again
    /// resumes from that savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DesiredState>,
    /// Change it (to any new value) to take one savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// The savepoint the first run starts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub initial_savepoint_path: Option<String>,
    /// Let a restore skip state of operators the job no longer has.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_non_restored_state: bool,
    /// Change it (to any new value) to restart the job from its latest checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// When a run started by an upgrade is not running after this long (`2m`), or fails first,
    /// return to the last spec that ran, from the state the upgrade started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h)$"))]
    pub rollback_after: Option<String>,
    /// An RFC 3339 time (`2027-01-31T23:59:59Z`): then the job stops with a savepoint and its pods
    /// are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), extend("format" = "date-time"))]
    pub stop_at: Option<String>,
}

impl JobSpec {
    /// The registered job to run: `name`, else the former `builtin` (the CEL rule makes one of
    /// them, `sql` or `sqlConfigMap` set).
    pub fn registered(&self) -> &str {
        self.name.as_deref().or(self.builtin.as_deref()).unwrap_or_default()
    }

    /// Whether the job is a SQL script (inline, in a ConfigMap, or recorded by its digest).
    pub fn is_sql(&self) -> bool {
        self.sql.is_some() || self.sql_config_map.is_some() || self.sql_digest.is_some()
    }
}

/// A key of a ConfigMap in the FlinkJob's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct ConfigMapKey {
    /// The ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Its key.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// An environment variable of the job's pods from a Secret key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct SecretVariable {
    /// The variable (`PG_PASSWORD`): SQL option values name it as `${PG_PASSWORD}`.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub env: String,
    /// The Secret, in the FlinkJob's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub secret: String,
    /// Its key.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// How a spec change is rolled out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    /// The new spec starts without state.
    #[default]
    Stateless,
    /// Stop with a savepoint, start the new spec from it.
    Savepoint,
    /// Stop the JobManagers, start the new spec from the latest checkpoint they recorded.
    LastState,
}

/// The state the user wants the job in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DesiredState {
    /// Deployed and running.
    #[default]
    Running,
    /// Stopped with a savepoint, pods removed.
    Suspended,
}

/// CPU and memory of a pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
pub struct Resources {
    /// CPU, as a Kubernetes quantity (`"4"`, `"500m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$"))]
    pub cpu: Option<String>,
    /// Memory, as a Kubernetes quantity (`"8Gi"`, `"512Mi"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"))]
    pub memory: Option<String>,
}

/// JobManager settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobManagerSpec {
    /// Replicas: one leader, the rest standbys (needs checkpoint storage).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 5))]
    pub replicas: i32,
    /// Resources per JobManager pod.
    #[serde(default)]
    pub resources: Resources,
}

fn one() -> i32 {
    1
}

impl Default for JobManagerSpec {
    fn default() -> Self {
        JobManagerSpec { replicas: 1, resources: Resources::default() }
    }
}

/// TaskManager settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerSpec {
    /// Slots per pod; default: the CPU request rounded down, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub slots: Option<i32>,
    /// Run TaskManager pods in the node's network namespace.
    #[serde(default)]
    pub host_network: bool,
    /// Resources per TaskManager pod.
    #[serde(default)]
    pub resources: Resources,
}

/// Checkpointing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct CheckpointingSpec {
    /// Interval, e.g. `10s`, `1m`, `500ms`.
    #[serde(default = "default_interval")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub interval: String,
    /// `s3://bucket/prefix` (or `file:///path` for a shared volume).
    #[schemars(length(max = 1024), regex(pattern = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.+)$"))]
    pub storage: String,
    /// Completed checkpoints to keep.
    #[serde(default = "default_retained")]
    #[schemars(range(min = 1, max = 100))]
    pub retained: i32,
    /// Restart the job from its latest checkpoint when this many intervals pass without a
    /// completed checkpoint while it runs (default 5).
    #[serde(default, rename = "restartAfterMissed", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 1000))]
    pub restart_after_missed: Option<i32>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn default_interval() -> String {
    "10s".into()
}

fn default_retained() -> i32 {
    3
}

/// Savepoints.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointsSpec {
    /// `s3://bucket/prefix` (or `file:///path`).
    #[schemars(length(max = 1024), regex(pattern = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.+)$"))]
    pub storage: String,
    /// Take a savepoint this often while the job runs (`1h`, `30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub interval: Option<String>,
    /// Keep at most this many of the savepoints the operator took; older ones are deleted from
    /// storage (`s3://` only). The newest, `job.initialSavepointPath` and those a run restored or
    /// stopped with are always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_count: Option<i32>,
    /// Delete savepoints the operator took that are older than this (`7d`, `12h`), with the same
    /// exceptions as `maxCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(s|m|h|d)$"))]
    pub max_age: Option<String>,
    /// Stop the job with a final savepoint when the FlinkJob is deleted (given up after five
    /// minutes, or when it fails: the deletion is never blocked for good).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_delete: bool,
}

/// S3-compatible storage.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Spec {
    /// Endpoint URL for non-AWS stores (MinIO, Ceph...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://.+$"))]
    pub endpoint: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing (needed by most non-AWS stores).
    #[serde(default)]
    pub path_style: bool,
    /// Secret with keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; without it the AWS default
    /// credential chain (e.g. workload identity) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub credentials_secret: Option<String>,
}

/// Where a FlinkJob is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema, Default)]
pub enum LifecycleState {
    /// Accepted, nothing deployed yet.
    #[default]
    Created,
    /// Objects created, pods starting.
    Deploying,
    /// The job runs.
    Running,
    /// A spec change is being rolled out.
    Upgrading,
    /// Returning to the last stable spec after a failed upgrade.
    RollingBack,
    /// Stopped on request, state kept in a savepoint.
    Suspended,
    /// The job finished (bounded input).
    Finished,
    /// The job failed.
    Failed,
    /// Being deleted.
    Deleting,
}

/// A condition, as Kubernetes conventions shape it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Progressing`, `Degraded` or `Savepointing`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// Generation the condition was computed for.
    pub observed_generation: i64,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: String,
}

/// Observed state of a FlinkJob.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkJobStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle.
    #[serde(default)]
    pub lifecycle_state: LifecycleState,
    /// The engine's job state (`RUNNING`, `FINISHED`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_state: Option<String>,
    /// The job id (derived from the FlinkJob's uid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// TaskManager pods wanted.
    #[serde(default)]
    pub task_managers_desired: i32,
    /// TaskManager pods ready.
    #[serde(default)]
    pub task_managers_ready: i32,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last error, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run deployed now (or last, when stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunStatus>,
    /// The savepoint being taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_in_progress: Option<SavepointOperation>,
    /// Savepoints that failed in a row (those that stop the job are retried under a new trigger id).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_savepoints: i64,
    /// The `job.savepointTriggerNonce` last acted on (its savepoint completed or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint_trigger_nonce: Option<i64>,
    /// Savepoints the operator took and still keeps, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub savepoints: Vec<SavepointInfo>,
    /// The savepoint the current run was upgraded from (kept while it is needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_savepoint: Option<String>,
    /// The job's latest completed checkpoint, as its JobManager reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<CheckpointInfo>,
    /// The `job.restartNonce` last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restart_nonce: Option<i64>,
    /// A restart from the latest checkpoint under way: the JobManagers are stopped first, so the
    /// checkpoint they recorded last is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<PendingRestart>,
    /// The last spec that ran (JSON, as in `run.spec`): where a rollback returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_spec: Option<String>,
    /// A spec that was rolled back: not tried again until the spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_spec: Option<String>,
}

/// A restart from the latest checkpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingRestart {
    /// Why (`upgrade`, `restart`, `failed`, `stalled`).
    pub reason: String,
    /// What the operator saw, for people.
    pub message: String,
    /// The spec the next run deploys (JSON, as in `run.spec`).
    pub spec: String,
}

/// One deployment of the job: a spec, a job id and HA records of its own.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    /// Counts the runs from 1; the job id and HA cluster id derive from it and the uid.
    pub number: i64,
    /// Why this run started (`created`, `upgrade`, `resume`, `spec change`).
    pub reason: String,
    /// The deployed spec (JSON), without the fields that do not redeploy.
    pub spec: String,
    /// What the run restored its state from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// When it started (RFC 3339).
    pub started: String,
    /// When the run was stopped with a savepoint and its pods removed (suspend, `stopAt`): that
    /// savepoint (empty: stopped without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_with: Option<String>,
    /// When the run was first seen running (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_since: Option<String>,
}

/// Why a savepoint is taken.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum SavepointKind {
    /// `job.savepointTriggerNonce` changed.
    Manual,
    /// `savepoints.interval` passed.
    Periodic,
    /// A spec change under `upgradeMode: savepoint` (the job stops).
    Upgrade,
    /// `job.state: suspended` (the job stops).
    Suspend,
    /// `job.stopAt` passed (the job stops).
    StopAt,
    /// The FlinkJob is deleted with `savepoints.onDelete` (the job stops).
    OnDelete,
}

impl SavepointKind {
    /// Whether the job stops with this savepoint.
    pub fn stops(self) -> bool {
        self != SavepointKind::Manual && self != SavepointKind::Periodic
    }
}

/// A savepoint being taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointOperation {
    /// Why.
    pub kind: SavepointKind,
    /// The trigger id sent to the JobManager: a hash of the uid and what asked for it, so asking
    /// twice (an operator restart, a stale cache) takes one savepoint.
    pub trigger_id: String,
    /// The run it is taken of.
    pub run: i64,
    /// The nonce of a manual savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<i64>,
    /// When it was asked for (RFC 3339).
    pub started: String,
}

/// A savepoint the operator took.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointInfo {
    /// Where it is.
    pub location: String,
    /// When it completed (RFC 3339).
    pub time: String,
    /// Why it was taken.
    pub kind: SavepointKind,
    /// The trigger id it was taken under.
    pub trigger_id: String,
    /// The nonce of a manual savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<i64>,
}

/// A completed checkpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    /// Checkpoint id.
    pub id: i64,
    /// Where it is.
    pub location: String,
    /// When the operator first saw it (RFC 3339).
    pub seen: String,
}
