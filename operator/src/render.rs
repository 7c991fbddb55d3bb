//! What a `FlinkJob` becomes: a ConfigMap with the engine's configuration file, a ServiceAccount
//! with the Role its pods need (Leases and ConfigMaps for JobManager HA), the JobManager Deployment
//! and Service, and the TaskManager pods. Pure functions of the resource, so `render` can show the
//! result without a cluster and reconciling twice changes nothing.

use crate::crd::{FlinkJob, PullPolicy};
use ferroflink_types::config::HaMode;
use ferroflink_types::config::keys::{self, Resolved};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, HTTPGetAction, ObjectFieldSelector, Pod, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SecretKeySelector, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
    Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// JobManager RPC port (Flink's default).
pub const RPC_PORT: i32 = 6123;
/// JobManager REST API and web UI port (Flink's default).
pub const REST_PORT: i32 = 8081;
/// TaskManager metrics and health port (in a pod of its own network namespace; under `hostNetwork`
/// the TaskManager takes the first free one of its default range, see [`METRICS_PORT_FILE`]).
pub const METRICS_PORT: i32 = 9249;
/// Under `hostNetwork`, where a TaskManager writes the metrics port it listens on; its probes
/// (`ferroflink probe`) read it.
pub const METRICS_PORT_FILE: &str = "/tmp/metrics-port";
/// Where pods mount the configuration file.
pub const CONFIG_DIR: &str = "/etc/ferroflink";
/// The configuration file's name in the ConfigMap.
pub const CONFIG_FILE: &str = "ferroflink.yaml";
/// The uid used when rendering a resource that the API server has not assigned one yet.
pub const UNASSIGNED_UID: &str = "00000000-0000-0000-0000-000000000000";

/// Why a FlinkJob cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The resource has no name.
    #[error("the FlinkJob has no metadata.name")]
    MissingName,
    /// `spec.podTemplate` does not have the shape of a pod.
    #[error("spec.podTemplate is not a valid pod: {0}")]
    BadPodTemplate(String),
    /// A quantity could not be parsed.
    #[error("{field}: '{value}' is not a Kubernetes quantity (e.g. \"4\", \"500m\", \"8Gi\")")]
    BadQuantity {
        /// Which field.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// A `spec.config` key is neither the engine's nor Flink's.
    #[error(
        "spec.config: `{0}` is neither a ferroflink nor a Flink configuration key (see the configuration \
         reference in README.md)"
    )]
    UnknownConfigKey(String),
    /// Two `spec.config` keys name the same setting with different values.
    #[error("spec.config: `{0}` and `{1}` both set `{2}` to different values: keep one")]
    ConflictingConfigKeys(String, String, &'static str),
    /// A SQL job whose script is not in the spec (`job.sqlConfigMap`): the operator reads it
    /// from the cluster before rendering.
    #[error("job.sqlConfigMap is read from the cluster: render a FlinkJob with the script inline in job.sql")]
    UnresolvedSql,
}

/// Everything a FlinkJob becomes.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The engine configuration file.
    pub config_map: ConfigMap,
    /// Identity of the job's pods.
    pub service_account: ServiceAccount,
    /// What the job's pods may do (Lease and ConfigMap access for HA).
    pub role: Role,
    /// Binds the role to the service account.
    pub role_binding: RoleBinding,
    /// JobManager(s).
    pub jobmanager: Deployment,
    /// JobManager RPC and REST.
    pub jobmanager_service: Service,
    /// TaskManager pods, `ceil(parallelism / slots)` of them.
    pub taskmanagers: Vec<Pod>,
    /// The web UI's Ingress, when asked for.
    pub ingress: Option<Ingress>,
}

impl Rendered {
    /// All objects as one multi-document YAML text, in apply order.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::ser::Error> {
        let mut docs: Vec<Value> = vec![
            object("v1", "ConfigMap", &self.config_map),
            object("v1", "ServiceAccount", &self.service_account),
            object("rbac.authorization.k8s.io/v1", "Role", &self.role),
            object("rbac.authorization.k8s.io/v1", "RoleBinding", &self.role_binding),
            object("v1", "Service", &self.jobmanager_service),
            object("apps/v1", "Deployment", &self.jobmanager),
        ];
        docs.extend(self.ingress.iter().map(|i| object("networking.k8s.io/v1", "Ingress", i)));
        docs.extend(self.taskmanagers.iter().map(|p| object("v1", "Pod", p)));
        serde_saphyr::to_string_multiple(&docs)
    }
}

fn object<T: serde::Serialize>(api_version: &str, kind: &str, o: &T) -> Value {
    let mut v = serde_json::to_value(o).expect("Kubernetes objects serialize");
    let map = v.as_object_mut().expect("an object");
    map.insert("apiVersion".into(), json!(api_version));
    map.insert("kind".into(), json!(kind));
    v
}

/// Parses a CPU quantity into millicores.
pub fn cpu_millis(q: &str) -> Option<i64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().filter(|c| *c >= 0.0).map(|c| (c * 1000.0).round() as i64),
    }
}

/// Parses a memory quantity into bytes.
pub fn memory_bytes(q: &str) -> Option<u64> {
    let units: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, factor) = units.iter().find_map(|(u, f)| q.strip_suffix(u).map(|n| (n, *f))).unwrap_or((q, 1.0));
    number.parse::<f64>().ok().filter(|n| *n >= 0.0).map(|n| (n * factor) as u64)
}

/// Slots per TaskManager pod: as given, else the CPU rounded down, at least 1.
pub fn slots_per_pod(job: &FlinkJob) -> Result<i32, RenderError> {
    if let Some(s) = job.spec.task_manager.slots {
        return Ok(s.max(1));
    }
    match &job.spec.task_manager.resources.cpu {
        Some(cpu) => {
            let millis = cpu_millis(cpu)
                .ok_or_else(|| RenderError::BadQuantity { field: "taskManager.resources.cpu", value: cpu.clone() })?;
            Ok(((millis / 1000) as i32).max(1))
        }
        None => Ok(1),
    }
}

/// TaskManager pods: `ceil(parallelism / slots)`.
pub fn taskmanager_count(job: &FlinkJob) -> Result<i32, RenderError> {
    let slots = slots_per_pod(job)?;
    Ok((job.spec.job.parallelism.max(1) + slots - 1) / slots)
}

/// The run a FlinkJob renders: the one its status records, else the first.
pub fn run_number(job: &FlinkJob) -> i64 {
    job.status.as_ref().and_then(|s| s.run.as_ref()).map_or(1, |r| r.number)
}

/// What the rendered run restores from: what its status records, else (the first run)
/// `job.initialSavepointPath`.
pub fn restore_path(job: &FlinkJob) -> Option<String> {
    match job.status.as_ref().and_then(|s| s.run.as_ref()) {
        Some(run) => run.restored_from.clone(),
        None => job.spec.job.initial_savepoint_path.clone(),
    }
}

/// The job id (32 hex digits) of the rendered run: a hash of the FlinkJob's uid and the run number,
/// then the uid; never the name. Each run is a new job with its own id, so its checkpoints and
/// savepoints never meet an earlier run's.
pub fn job_id(job: &FlinkJob) -> String {
    let hex = uid(job).replace('-', "");
    let run = xxhash_rust::xxh64::xxh64(format!("{}:{}", uid(job), run_number(job)).as_bytes(), 0) as u32;
    format!("{run:08x}{}", &hex[..24.min(hex.len())])
}

/// The HA cluster id of the rendered run: the uid and the run number (a new run does not pick up
/// an earlier run's HA records).
pub fn ha_cluster_id(job: &FlinkJob) -> String {
    format!("{}{}", ha_cluster_prefix(job), run_number(job))
}

/// What the HA cluster ids of every run of the FlinkJob start with.
pub fn ha_cluster_prefix(job: &FlinkJob) -> String {
    format!("{}-", uid(job))
}

/// Whether the job's JobManagers run Kubernetes HA: with checkpoint storage, unless `spec.config`
/// says otherwise (`ha.mode`, Flink's `high-availability.type`).
pub fn ha_enabled(job: &FlinkJob) -> bool {
    let mode = job
        .spec
        .config
        .iter()
        .find(|(k, _)| matches!(keys::resolve(k), Some(Resolved::Ours(o)) if o.name == "ha.mode"));
    match mode {
        Some((_, mode)) => mode.parse::<HaMode>() == Ok(HaMode::Kubernetes),
        None => job.spec.checkpointing.is_some(),
    }
}

/// The label the JobManagers' Kubernetes HA puts on its Lease and ConfigMap (the HA cluster id; see
/// `worker/cluster/src/ha/kubernetes.rs`).
pub const HA_CLUSTER_LABEL: &str = "ferroflink.io/ha-cluster-id";

/// Annotation holding a hash of what a pod (template) was rendered from: a change replaces it.
pub const SPEC_HASH: &str = "ferroflink.io/spec-hash";

fn spec_hash<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("Kubernetes objects serialize");
    format!("{:016x}", xxhash_rust::xxh64::xxh64(&bytes, 0))
}

fn uid(job: &FlinkJob) -> &str {
    job.metadata.uid.as_deref().unwrap_or(UNASSIGNED_UID)
}

/// The engine configuration file (YAML), in the layout of the engine's configuration reference:
/// sections `job`, `checkpointing`, `savepoints`, `ha`, `s3`, `rpc`, `rest`, `metrics`,
/// `taskmanager`, then `spec.config` entries on top: each under our name, also when written with
/// Flink's (`taskmanager.numberOfTaskSlots`), so it replaces what the spec's fields gave; a Flink
/// key the engine does not support is passed on as written (the engine warns); any other key is an
/// error. Credentials never go here.
pub fn engine_config(job: &FlinkJob) -> Result<String, RenderError> {
    let spec = &job.spec;
    let what = match (&spec.job.sql, spec.job.is_sql()) {
        (Some(script), _) => json!({"sql": script}),
        (None, true) => return Err(RenderError::UnresolvedSql),
        (None, false) => json!({"name": spec.job.registered(), "args": spec.job.args}),
    };
    let mut cfg = json!({
        "job": {
            "id": job_id(job),
            "parallelism": spec.job.parallelism,
        },
        "rpc": {"port": RPC_PORT},
        "rest": {"port": REST_PORT},
        "metrics": {"port": METRICS_PORT},
        "taskmanager": {"slots": slots_per_pod(job)?},
        "ha": {"mode": "none"},
    });
    cfg["job"].as_object_mut().expect("an object").extend(what.as_object().expect("an object").clone());
    if let Some(m) = spec.job.max_parallelism {
        cfg["job"]["max-parallelism"] = json!(m);
    }
    if let Some(c) = &spec.checkpointing {
        cfg["checkpointing"] = json!({"interval": c.interval, "dir": c.storage, "retained": c.retained});
        cfg["ha"] = json!({
            "mode": "kubernetes",
            "cluster-id": ha_cluster_id(job),
            "dir": format!("{}/ha", c.storage.trim_end_matches('/')),
        });
    }
    if let Some(s) = &spec.savepoints {
        cfg["savepoints"] = json!({"dir": s.storage});
    }
    if let Some(s3) = &spec.s3 {
        let mut section = json!({"path-style": s3.path_style});
        if let Some(e) = &s3.endpoint {
            section["endpoint"] = json!(e);
        }
        if let Some(r) = &s3.region {
            section["region"] = json!(r);
        }
        cfg["s3"] = section;
    }
    let mut set_by: BTreeMap<&str, (&String, &String)> = BTreeMap::new();
    for (key, value) in &spec.config {
        match keys::resolve(key) {
            None => return Err(RenderError::UnknownConfigKey(key.clone())),
            Some(Resolved::FlinkOnly) => cfg[key] = json!(value),
            Some(Resolved::Ours(ours)) => {
                if let Some((before, v)) = set_by.insert(ours.name, (key, value))
                    && v != value
                {
                    return Err(RenderError::ConflictingConfigKeys(before.clone(), key.clone(), ours.name));
                }
                let (section, name) = ours.name.split_once('.').expect("our keys are section.key");
                if !cfg[section].is_object() {
                    cfg[section] = json!({});
                }
                cfg[section][name] = json!(value);
            }
        }
    }
    // The run's restore is the operator's (upgrades and resumes depend on it): it wins over
    // `spec.config`.
    if let Some(path) = restore_path(job) {
        cfg["restore"] = json!({"path": path, "allow-non-restored-state": spec.job.allow_non_restored_state});
    }
    Ok(serde_saphyr::to_string(&cfg).expect("a JSON value serializes to YAML"))
}

/// The digest that identifies a SQL script wherever a spec is recorded: 32 hex digits, two
/// 64-bit hashes of its text (an identity, not a signature: the script is the user's own).
pub fn sql_digest(script: &str) -> String {
    let hash = |seed| xxhash_rust::xxh64::xxh64(script.as_bytes(), seed);
    format!("{:016x}{:016x}", hash(0), hash(0x5eed_5c71_f7d1_9e57))
}

/// The component label of the ConfigMaps that keep the SQL scripts a FlinkJob's runs deploy.
pub const SQL_SCRIPT_COMPONENT: &str = "sql-script";

/// The ConfigMap that keeps the SQL script with `digest` for the runs that deploy it (the status
/// names a run's script by its digest only): `<name>-sql-<digest>`, owned by the FlinkJob.
pub fn sql_script_config_map(job: &FlinkJob, digest: &str, script: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(job, sql_script_name(job, digest), SQL_SCRIPT_COMPONENT),
        data: Some(BTreeMap::from([(SQL_SCRIPT_KEY.to_string(), script.to_string())])),
        ..Default::default()
    }
}

/// The name of the ConfigMap that keeps the SQL script with `digest`.
pub fn sql_script_name(job: &FlinkJob, digest: &str) -> String {
    format!("{}-sql-{}", job.metadata.name.as_deref().unwrap_or_default(), &digest[..digest.len().min(16)])
}

/// The key of the script in its ConfigMap.
pub const SQL_SCRIPT_KEY: &str = "script.sql";

fn labels(job: &FlinkJob, component: &str) -> BTreeMap<String, String> {
    let name = job.metadata.name.clone().unwrap_or_default();
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "ferroflink".into()),
        ("app.kubernetes.io/instance".into(), name),
        ("app.kubernetes.io/component".into(), component.into()),
        ("app.kubernetes.io/managed-by".into(), "ferroflink-operator".into()),
    ])
}

fn owner(job: &FlinkJob) -> OwnerReference {
    OwnerReference {
        api_version: "ferroflink.io/v1alpha1".into(),
        kind: "FlinkJob".into(),
        name: job.metadata.name.clone().unwrap_or_default(),
        uid: uid(job).into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn meta(job: &FlinkJob, name: String, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: job.metadata.namespace.clone(),
        labels: Some(labels(job, component)),
        owner_references: Some(vec![owner(job)]),
        ..Default::default()
    }
}

fn resources(r: &crate::crd::Resources) -> Option<ResourceRequirements> {
    let mut q = BTreeMap::new();
    if let Some(c) = &r.cpu {
        q.insert("cpu".to_string(), Quantity(c.clone()));
    }
    if let Some(m) = &r.memory {
        q.insert("memory".to_string(), Quantity(m.clone()));
    }
    // Requests = limits: the pod's share is what the engine sizes its slots and memory from.
    (!q.is_empty()).then(|| ResourceRequirements { limits: Some(q.clone()), requests: Some(q), ..Default::default() })
}

fn env(job: &FlinkJob) -> Vec<EnvVar> {
    let mut env = vec![EnvVar {
        name: "POD_IP".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: "status.podIP".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if let Some(secret) = job.spec.s3.as_ref().and_then(|s| s.credentials_secret.as_ref()) {
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            env.push(secret_variable(key, secret, key));
        }
    }
    env.extend(job.spec.job.secrets.iter().map(|v| secret_variable(&v.env, &v.secret, &v.key)));
    env
}

fn secret_variable(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.into(), key: key.into(), optional: Some(false) }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn http_probe(path: &str, port: i32, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction { path: Some(path.into()), port: IntOrString::Int(port), ..Default::default() }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

fn exec_probe(command: &[&str], period: i32) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(command.iter().map(|c| c.to_string()).collect()) }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

fn port(name: &str, port: i32) -> ContainerPort {
    ContainerPort { name: Some(name.into()), container_port: port, protocol: Some("TCP".into()), ..Default::default() }
}

fn container(
    job: &FlinkJob,
    name: &str,
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    probe: Probe,
    res: &crate::crd::Resources,
) -> Container {
    Container {
        name: name.into(),
        image: Some(job.spec.image.clone()),
        image_pull_policy: job.spec.image_pull_policy.map(|p| {
            match p {
                PullPolicy::Always => "Always",
                PullPolicy::IfNotPresent => "IfNotPresent",
                PullPolicy::Never => "Never",
            }
            .to_string()
        }),
        args: Some(args),
        env: Some(env(job)),
        ports: (!ports.is_empty()).then_some(ports),
        readiness_probe: Some(probe.clone()),
        liveness_probe: Some(Probe { failure_threshold: Some(6), initial_delay_seconds: Some(10), ..probe }),
        resources: resources(res),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".into(),
                mount_path: CONFIG_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() },
        ]),
        ..Default::default()
    }
}

fn pod_spec(job: &FlinkJob, container: Container, host_network: bool) -> PodSpec {
    let name = job.metadata.name.clone().unwrap_or_default();
    PodSpec {
        service_account_name: Some(format!("{name}-job")),
        containers: vec![container],
        host_network: host_network.then_some(true),
        dns_policy: host_network.then(|| "ClusterFirstWithHostNet".into()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            fs_group: Some(65532),
            ..Default::default()
        }),
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                config_map: Some(ConfigMapVolumeSource { name: format!("{name}-config"), ..Default::default() }),
                ..Default::default()
            },
            Volume { name: "tmp".into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() },
        ]),
        ..Default::default()
    }
}

/// Merges the user's pod template under a rendered pod: objects merge key by key, lists of named
/// items (containers, env, volumes, ports...) merge by name, and the rendered side wins conflicts.
pub fn merge_under(template: &Value, rendered: Value) -> Value {
    match (template, rendered) {
        (Value::Object(t), Value::Object(mut r)) => {
            for (k, tv) in t {
                let merged = match r.remove(k) {
                    Some(rv) => merge_under(tv, rv),
                    None => tv.clone(),
                };
                r.insert(k.clone(), merged);
            }
            Value::Object(r)
        }
        (Value::Array(t), Value::Array(r)) if is_named_list(t) && is_named_list(&r) => {
            let mut out: Vec<Value> = Vec::new();
            for rv in r {
                let name = rv["name"].clone();
                match t.iter().find(|tv| tv["name"] == name) {
                    Some(tv) => out.push(merge_under(tv, rv)),
                    None => out.push(rv),
                }
            }
            for tv in t {
                if !out.iter().any(|o| o["name"] == tv["name"]) {
                    out.push(tv.clone());
                }
            }
            Value::Array(out)
        }
        (_, Value::Null) => template.clone(),
        (_, rendered) => rendered,
    }
}

fn is_named_list(items: &[Value]) -> bool {
    items.iter().all(|i| i.get("name").is_some_and(Value::is_string))
}

/// Merges `spec.podTemplate` (a pod: `metadata` and `spec`) under a rendered pod or pod template.
fn with_template<T: serde::Serialize + serde::de::DeserializeOwned>(
    job: &FlinkJob,
    rendered: T,
) -> Result<T, RenderError> {
    let Some(template) = &job.spec.pod_template else { return Ok(rendered) };
    let merged = merge_under(template, serde_json::to_value(&rendered).expect("Kubernetes objects serialize"));
    serde_json::from_value(merged).map_err(|e| RenderError::BadPodTemplate(e.to_string()))
}

/// Renders everything a FlinkJob becomes.
pub fn render(job: &FlinkJob) -> Result<Rendered, RenderError> {
    let name = job.metadata.name.clone().ok_or(RenderError::MissingName)?;
    let spec = &job.spec;
    let config_path = format!("{CONFIG_DIR}/{CONFIG_FILE}");
    let config_map = ConfigMap {
        metadata: meta(job, format!("{name}-config"), "config"),
        data: Some(BTreeMap::from([(CONFIG_FILE.to_string(), engine_config(job)?)])),
        ..Default::default()
    };
    let account = format!("{name}-job");
    let service_account = ServiceAccount { metadata: meta(job, account.clone(), "rbac"), ..Default::default() };
    let verbs: Vec<String> =
        ["get", "list", "watch", "create", "update", "patch", "delete"].iter().map(|s| s.to_string()).collect();
    let role = Role {
        metadata: meta(job, account.clone(), "rbac"),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec!["coordination.k8s.io".into()]),
                resources: Some(vec!["leases".into()]),
                verbs: verbs.clone(),
                ..Default::default()
            },
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                verbs,
                ..Default::default()
            },
        ]),
    };
    let role_binding = RoleBinding {
        metadata: meta(job, account.clone(), "rbac"),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: account.clone() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: account,
            namespace: job.metadata.namespace.clone(),
            ..Default::default()
        }]),
    };

    let jm_labels = labels(job, "jobmanager");
    let jm_container = container(
        job,
        "jobmanager",
        vec![
            "jobmanager".into(),
            "--config".into(),
            config_path.clone(),
            "--advertised-address".into(),
            "$(POD_IP)".into(),
        ],
        vec![port("rpc", RPC_PORT), port("rest", REST_PORT)],
        http_probe("/healthz", REST_PORT, 5),
        &spec.job_manager.resources,
    );
    let mut jm_template = with_template(
        job,
        PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(jm_labels.clone()), ..Default::default() }),
            spec: Some(pod_spec(job, jm_container, false)),
        },
    )?;
    // The configuration is part of what the JobManager runs: a change restarts it.
    let jm_hash = spec_hash(&(&jm_template, &config_map.data));
    jm_template.metadata.get_or_insert_default().annotations.get_or_insert_default().insert(SPEC_HASH.into(), jm_hash);
    let jobmanager = Deployment {
        metadata: meta(job, format!("{name}-jobmanager"), "jobmanager"),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.job_manager.replicas),
            selector: LabelSelector { match_labels: Some(jm_labels.clone()), ..Default::default() },
            strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), ..Default::default() }),
            template: jm_template,
            ..Default::default()
        }),
        ..Default::default()
    };
    let jobmanager_service = Service {
        metadata: meta(job, format!("{name}-jobmanager"), "jobmanager"),
        spec: Some(ServiceSpec {
            selector: Some(jm_labels),
            ports: Some(vec![
                ServicePort {
                    name: Some("rpc".into()),
                    port: RPC_PORT,
                    target_port: Some(IntOrString::String("rpc".into())),
                    ..Default::default()
                },
                ServicePort {
                    name: Some("rest".into()),
                    port: REST_PORT,
                    target_port: Some(IntOrString::String("rest".into())),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    };

    let slots = slots_per_pod(job)?;
    let mut tm_args = vec![
        "taskmanager".to_string(),
        "--config".into(),
        config_path,
        "--jobmanager-address".into(),
        format!("{name}-jobmanager:{RPC_PORT}"),
        "--slots".into(),
        slots.to_string(),
        "--advertised-address".into(),
        "$(POD_IP)".into(),
    ];
    if let Some(mem) = &spec.task_manager.resources.memory {
        let bytes = memory_bytes(mem)
            .ok_or_else(|| RenderError::BadQuantity { field: "taskManager.resources.memory", value: mem.clone() })?;
        tm_args.extend(["--memory".into(), bytes.to_string()]);
    }
    // Several TaskManagers may share a node's network: the kernel picks the data port, the metrics
    // port is the first free one of the default range (no hostPort is claimed), and the probes ask
    // `ferroflink probe` to read the port the TaskManager wrote.
    let (tm_ports, tm_probe) = if spec.task_manager.host_network {
        tm_args.extend(["--data-port".into(), "0".into(), "--metrics-port-file".into(), METRICS_PORT_FILE.into()]);
        (vec![], exec_probe(&["ferroflink", "probe", "--port-file", METRICS_PORT_FILE], 5))
    } else {
        tm_args.extend(["--metrics-port".into(), METRICS_PORT.to_string()]);
        (vec![port("metrics", METRICS_PORT)], http_probe("/healthz", METRICS_PORT, 5))
    };
    let mut taskmanagers = Vec::new();
    for i in 0..taskmanager_count(job)? {
        let c = container(
            job,
            "taskmanager",
            tm_args.clone(),
            tm_ports.clone(),
            tm_probe.clone(),
            &spec.task_manager.resources,
        );
        let mut metadata = meta(job, format!("{name}-taskmanager-{i}"), "taskmanager");
        metadata.labels.get_or_insert_default().insert("ferroflink.io/taskmanager-index".into(), i.to_string());
        let pod = Pod { metadata, spec: Some(pod_spec(job, c, spec.task_manager.host_network)), ..Default::default() };
        let mut pod: Pod = with_template(job, pod)?;
        let hash = spec_hash(&(&pod.spec, &config_map.data));
        pod.metadata.annotations.get_or_insert_default().insert(SPEC_HASH.into(), hash);
        taskmanagers.push(pod);
    }
    let ingress = spec.ingress.as_ref().map(|i| Ingress {
        metadata: ObjectMeta {
            annotations: (!i.annotations.is_empty()).then(|| i.annotations.clone()),
            ..meta(job, format!("{name}-ui"), "jobmanager")
        },
        spec: Some(IngressSpec {
            ingress_class_name: i.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(i.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: format!("{name}-jobmanager"),
                                port: Some(ServiceBackendPort { name: Some("rest".into()), ..Default::default() }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            tls: i.tls_secret.as_ref().map(|secret| {
                vec![IngressTLS { hosts: Some(vec![i.host.clone()]), secret_name: Some(secret.clone()) }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    Ok(Rendered {
        config_map,
        service_account,
        role,
        role_binding,
        jobmanager,
        jobmanager_service,
        taskmanagers,
        ingress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::FlinkJobSpec;

    fn job(spec: Value) -> FlinkJob {
        let mut base = json!({
            "image": "ferroflink:test",
            "job": {"name": "nexmark", "args": ["--query", "q5"], "parallelism": 10},
        });
        merge_json(&mut base, spec);
        let spec: FlinkJobSpec = serde_json::from_value(base).unwrap();
        let mut job = FlinkJob::new("bids", spec);
        job.metadata.namespace = Some("streaming".into());
        job.metadata.uid = Some("0b5c3f2e-1d2a-4c3b-9e8f-7a6b5c4d3e2f".into());
        job
    }

    fn merge_json(base: &mut Value, patch: Value) {
        match (base, patch) {
            (Value::Object(b), Value::Object(p)) => {
                for (k, v) in p {
                    merge_json(b.entry(k).or_insert(Value::Null), v);
                }
            }
            (b, p) => *b = p,
        }
    }

    fn tm_args(r: &Rendered) -> Vec<String> {
        r.taskmanagers[0].spec.as_ref().unwrap().containers[0].args.clone().unwrap()
    }

    fn arg_after(args: &[String], flag: &str) -> Option<String> {
        args.iter().position(|a| a == flag).map(|i| args[i + 1].clone())
    }

    #[test]
    fn slots_and_taskmanager_count_table() {
        // (taskManager spec, parallelism, expected slots, expected pods)
        let table = [
            (json!({"slots": 4}), 10, 4, 3),
            (json!({"slots": 4}), 8, 4, 2),
            (json!({"resources": {"cpu": "4"}}), 10, 4, 3),
            (json!({"resources": {"cpu": "2500m"}}), 5, 2, 3),
            (json!({"resources": {"cpu": "500m"}}), 3, 1, 3),
            (json!({"resources": {"cpu": "1.9"}}), 1, 1, 1),
            (json!({}), 2, 1, 2),
            (json!({"slots": 16, "resources": {"cpu": "2"}}), 1, 16, 1),
        ];
        for (tm, parallelism, slots, pods) in table {
            let j = job(json!({"taskManager": tm, "job": {"parallelism": parallelism}}));
            let r = render(&j).unwrap();
            assert_eq!(slots_per_pod(&j).unwrap(), slots, "{tm}");
            assert_eq!(r.taskmanagers.len(), pods, "{tm} p={parallelism}");
            assert_eq!(arg_after(&tm_args(&r), "--slots"), Some(slots.to_string()));
            let names: Vec<_> = r.taskmanagers.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
            assert_eq!(names[0], "bids-taskmanager-0");
        }
        let bad = job(json!({"taskManager": {"resources": {"cpu": "lots"}}}));
        assert!(render(&bad).unwrap_err().to_string().contains("taskManager.resources.cpu"));
    }

    #[test]
    fn host_network_memory_and_ports() {
        let r = render(&job(json!({"taskManager": {"hostNetwork": true, "resources": {"memory": "8Gi"}}}))).unwrap();
        let spec = r.taskmanagers[0].spec.as_ref().unwrap();
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
        let args = tm_args(&r);
        assert_eq!(arg_after(&args, "--memory"), Some((8u64 << 30).to_string()));
        assert_eq!(arg_after(&args, "--data-port"), Some("0".into()));
        assert_eq!(arg_after(&args, "--advertised-address"), Some("$(POD_IP)".into()));
        assert_eq!(arg_after(&args, "--jobmanager-address"), Some("bids-jobmanager:6123".into()));
        // No container port (under hostNetwork it would claim a host port: one TaskManager per node);
        // the probes read the port the TaskManager took.
        let c = &spec.containers[0];
        assert_eq!(c.ports, None);
        assert_eq!(arg_after(&args, "--metrics-port"), None);
        assert_eq!(arg_after(&args, "--metrics-port-file"), Some(METRICS_PORT_FILE.into()));
        for probe in [&c.readiness_probe, &c.liveness_probe] {
            let command = probe.as_ref().unwrap().exec.as_ref().unwrap().command.clone().unwrap();
            assert_eq!(command, ["ferroflink", "probe", "--port-file", METRICS_PORT_FILE]);
        }
        // Without host networking: no host network, no ephemeral data port, the fixed metrics port.
        let r = render(&job(json!({}))).unwrap();
        assert_eq!(r.taskmanagers[0].spec.as_ref().unwrap().host_network, None);
        assert_eq!(arg_after(&tm_args(&r), "--data-port"), None);
        assert_eq!(arg_after(&tm_args(&r), "--metrics-port"), Some(METRICS_PORT.to_string()));
        let c = &r.taskmanagers[0].spec.as_ref().unwrap().containers[0];
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, METRICS_PORT);
        let probe = c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!((probe.path.as_deref(), &probe.port), (Some("/healthz"), &IntOrString::Int(METRICS_PORT)));
        assert_eq!(memory_bytes("512Mi"), Some(512 << 20));
        assert_eq!(memory_bytes("1G"), Some(1_000_000_000));
        assert_eq!(cpu_millis("250m"), Some(250));
    }

    #[test]
    fn jobmanager_deployment_service_and_ha() {
        let r = render(&job(json!({
            "jobManager": {"replicas": 2},
            "checkpointing": {"storage": "s3://bucket/ck"},
        })))
        .unwrap();
        let d = r.jobmanager.spec.as_ref().unwrap();
        assert_eq!(d.replicas, Some(2));
        assert_eq!(d.strategy.as_ref().unwrap().type_.as_deref(), Some("Recreate"));
        let pod = d.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        let probe = c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(probe.port, IntOrString::Int(REST_PORT));
        let ports: Vec<i32> =
            r.jobmanager_service.spec.as_ref().unwrap().ports.as_ref().unwrap().iter().map(|p| p.port).collect();
        assert_eq!(ports, vec![RPC_PORT, REST_PORT]);
        let config = &r.config_map.data.as_ref().unwrap()[CONFIG_FILE];
        assert!(
            config.contains("mode: kubernetes")
                && config.contains("cluster-id: 0b5c3f2e-1d2a-4c3b-9e8f-7a6b5c4d3e2f-1")
        );
        let id = job_id(&job(json!({})));
        assert!(id.ends_with("0b5c3f2e1d2a4c3b9e8f7a6b") && config.contains(&id), "job id from the uid: {config}");
        assert!(!config.contains("bids"), "the name never makes the ids");
        // HA follows checkpoint storage, whatever the replica count.
        let single = render(&job(json!({"checkpointing": {"storage": "s3://b/c"}}))).unwrap();
        assert!(single.config_map.data.as_ref().unwrap()[CONFIG_FILE].contains("mode: kubernetes"));
        let none = render(&job(json!({}))).unwrap();
        assert!(none.config_map.data.as_ref().unwrap()[CONFIG_FILE].contains("mode: none"));
    }

    #[test]
    fn secrets_are_referenced_never_copied() {
        let r =
            render(&job(json!({"s3": {"credentialsSecret": "s3-creds", "endpoint": "http://minio:9000"}}))).unwrap();
        let env = r.taskmanagers[0].spec.as_ref().unwrap().containers[0].env.clone().unwrap();
        let refs: Vec<_> = env
            .iter()
            .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref().map(|s| (e.name.clone(), s.name.clone())))
            .collect();
        assert_eq!(
            refs,
            vec![("AWS_ACCESS_KEY_ID".into(), "s3-creds".into()), ("AWS_SECRET_ACCESS_KEY".into(), "s3-creds".into())]
        );
        assert!(env.iter().all(|e| e.value.is_none()), "no literal values");
        let config = &r.config_map.data.as_ref().unwrap()[CONFIG_FILE];
        assert!(!config.contains("AWS_") && !config.contains("s3-creds"));
        // No secret: the SDK's default chain, so no AWS variables at all.
        let r = render(&job(json!({}))).unwrap();
        let env = r.taskmanagers[0].spec.as_ref().unwrap().containers[0].env.clone().unwrap();
        assert!(env.iter().all(|e| !e.name.starts_with("AWS_")));
    }

    #[test]
    fn a_sql_job_renders_its_script_and_its_secret_variables() {
        let mut sql = job(json!({}));
        (sql.spec.job.name, sql.spec.job.args) = (None, Vec::new());
        sql.spec.job.sql = Some("INSERT INTO out SELECT * FROM t WHERE p = '${PG_PASSWORD}';".into());
        sql.spec.job.secrets =
            vec![crate::crd::SecretVariable { env: "PG_PASSWORD".into(), secret: "pg".into(), key: "password".into() }];
        let r = render(&sql).unwrap();
        let config: Value = serde_saphyr::from_str(&r.config_map.data.as_ref().unwrap()[CONFIG_FILE]).unwrap();
        assert_eq!(config["job"]["sql"], json!(sql.spec.job.sql.as_deref().unwrap()));
        assert!(config["job"].get("name").is_none() && config["job"].get("args").is_none(), "{config}");
        for pod in [
            r.jobmanager.spec.as_ref().unwrap().template.spec.as_ref().unwrap(),
            r.taskmanagers[0].spec.as_ref().unwrap(),
        ] {
            let env = pod.containers[0].env.as_ref().unwrap();
            let var = env.iter().find(|e| e.name == "PG_PASSWORD").expect("the variable is set");
            let from = var.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
            assert_eq!((from.name.as_str(), from.key.as_str(), var.value.as_ref()), ("pg", "password", None));
        }
        // Its script by reference alone cannot be rendered without the cluster.
        (sql.spec.job.sql, sql.spec.job.sql_config_map) =
            (None, Some(crate::crd::ConfigMapKey { name: "bids-sql".into(), key: "job.sql".into() }));
        assert!(matches!(render(&sql), Err(RenderError::UnresolvedSql)));
        // The script a run keeps: named by its digest, owned by the FlinkJob.
        let digest = sql_digest("SELECT 1;");
        assert_eq!(digest.len(), 32);
        assert_ne!(digest, sql_digest("SELECT 2;"));
        let kept = sql_script_config_map(&sql, &digest, "SELECT 1;");
        assert_eq!(kept.metadata.name.as_deref(), Some(format!("bids-sql-{}", &digest[..16]).as_str()));
        assert_eq!(kept.metadata.owner_references.unwrap()[0].kind, "FlinkJob");
    }

    #[test]
    fn owners_labels_security_and_rbac() {
        let r = render(&job(json!({}))).unwrap();
        let yaml = r.to_yaml().unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(docs.len(), 6 + r.taskmanagers.len());
        for d in &docs {
            let m = &d["metadata"];
            assert_eq!(m["ownerReferences"][0]["kind"], "FlinkJob", "{d}");
            assert_eq!(m["ownerReferences"][0]["uid"], "0b5c3f2e-1d2a-4c3b-9e8f-7a6b5c4d3e2f");
            assert_eq!(m["ownerReferences"][0]["controller"], true);
            assert_eq!(m["labels"]["app.kubernetes.io/instance"], "bids");
            assert_eq!(m["namespace"], "streaming");
        }
        let pod = r.taskmanagers[0].spec.as_ref().unwrap();
        assert_eq!(pod.security_context.as_ref().unwrap().run_as_non_root, Some(true));
        let sc = pod.containers[0].security_context.as_ref().unwrap();
        assert_eq!((sc.read_only_root_filesystem, sc.allow_privilege_escalation), (Some(true), Some(false)));
        assert_eq!(pod.service_account_name.as_deref(), Some("bids-job"));
        let resources: Vec<String> =
            r.role.rules.as_ref().unwrap().iter().flat_map(|r| r.resources.clone().unwrap()).collect();
        assert_eq!(resources, vec!["leases", "configmaps"]);
    }

    #[test]
    fn pod_template_merges_under_the_rendered_pod() {
        let r = render(&job(json!({"podTemplate": {
            "metadata": {"annotations": {"a": "b"}, "labels": {"team": "x", "app.kubernetes.io/name": "overridden?"}},
            "spec": {
                "nodeSelector": {"disk": "ssd"},
                "hostNetwork": true,
                "containers": [
                    {"name": "taskmanager", "env": [{"name": "EXTRA", "value": "1"}]},
                    {"name": "sidecar", "image": "busybox"},
                ],
            },
        }})))
        .unwrap();
        let pod = &r.taskmanagers[0];
        let meta = &pod.metadata;
        assert_eq!(meta.annotations.as_ref().unwrap()["a"], "b");
        assert_eq!(meta.labels.as_ref().unwrap()["team"], "x");
        assert_eq!(meta.labels.as_ref().unwrap()["app.kubernetes.io/name"], "ferroflink", "rendered fields win");
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_selector.as_ref().unwrap()["disk"], "ssd");
        let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["taskmanager", "sidecar"]);
        let env: Vec<&str> = spec.containers[0].env.as_ref().unwrap().iter().map(|e| e.name.as_str()).collect();
        assert!(env.contains(&"EXTRA") && env.contains(&"POD_IP"));
        assert_eq!(spec.containers[0].image.as_deref(), Some("ferroflink:test"));
        let jm = r.jobmanager.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        assert_eq!(jm.node_selector.as_ref().unwrap()["disk"], "ssd");
        let bad = job(json!({"podTemplate": {"spec": {"nodeSelector": "nope"}}}));
        assert!(matches!(render(&bad), Err(RenderError::BadPodTemplate(_))));
    }

    #[test]
    fn ingress_only_when_asked() {
        assert!(render(&job(json!({}))).unwrap().ingress.is_none());
        let r = render(&job(json!({"ingress": {"host": "bids.example.com", "tlsSecret": "cert"}}))).unwrap();
        let ingress = r.ingress.unwrap();
        let spec = ingress.spec.unwrap();
        let backend = spec.rules.unwrap()[0].http.as_ref().unwrap().paths[0].backend.service.clone().unwrap();
        assert_eq!(backend.name, "bids-jobmanager");
        assert_eq!(spec.tls.unwrap()[0].secret_name.as_deref(), Some("cert"));
        assert_eq!(ingress.metadata.owner_references.unwrap()[0].kind, "FlinkJob");
    }

    #[test]
    fn each_run_has_its_own_job_id_ha_records_and_restore() {
        let first =
            job(json!({"checkpointing": {"storage": "s3://b/c"}, "job": {"initialSavepointPath": "s3://b/sp/x"}}));
        let restore =
            |j: &FlinkJob| serde_saphyr::from_str::<Value>(&engine_config(j).unwrap()).unwrap()["restore"].clone();
        assert_eq!(restore(&first), json!({"path": "s3://b/sp/x", "allow-non-restored-state": false}));
        let mut third = first.clone();
        third.status = Some(crate::crd::FlinkJobStatus {
            run: Some(crate::crd::RunStatus {
                number: 3,
                restored_from: Some("s3://b/sp/savepoint-1".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_ne!(job_id(&first), job_id(&third));
        assert_ne!(job_id(&first)[..6], job_id(&third)[..6], "savepoint directory names start with 6 digits of it");
        assert_eq!(ha_cluster_id(&third), "0b5c3f2e-1d2a-4c3b-9e8f-7a6b5c4d3e2f-3");
        assert_eq!(restore(&third)["path"], "s3://b/sp/savepoint-1");
        let fresh = crate::crd::FlinkJobStatus {
            run: Some(crate::crd::RunStatus { number: 2, ..Default::default() }),
            ..Default::default()
        };
        third.status = Some(fresh);
        assert_eq!(restore(&third), Value::Null, "a stateless run restores nothing");
    }

    #[test]
    fn config_takes_flinks_keys_and_refuses_unknown_ones() {
        let j = job(json!({
            "checkpointing": {"storage": "s3://b/c", "interval": "10s"},
            "config": {
                "execution.checkpointing.interval": "30 s",
                "taskmanager.numberOfTaskSlots": "8",
                "jobmanager.memory.process.size": "2g",
            },
        }));
        let config = engine_config(&j).unwrap();
        let parsed: Value = serde_saphyr::from_str(&config).unwrap();
        assert_eq!(parsed["checkpointing"]["interval"], "30 s", "{config}");
        assert_eq!(parsed["taskmanager"]["slots"], "8", "{config}");
        assert_eq!(parsed["jobmanager.memory.process.size"], "2g", "passed on as written: {config}");
        let unknown = job(json!({"config": {"taskmanager.numberOfTaskSlot": "8"}}));
        let e = render(&unknown).unwrap_err().to_string();
        assert!(e.contains("`taskmanager.numberOfTaskSlot` is neither"), "{e}");
        let twice =
            job(json!({"config": {"state.checkpoints.dir": "s3://a", "execution.checkpointing.dir": "s3://b"}}));
        assert!(render(&twice).unwrap_err().to_string().contains("both set `checkpointing.dir`"));
        let ha = job(json!({"checkpointing": {"storage": "s3://b/c"}, "config": {"high-availability.type": "NONE"}}));
        assert!(!ha_enabled(&ha));
    }

    #[test]
    fn rendering_is_deterministic() {
        let j = job(json!({"checkpointing": {"storage": "s3://b/c"}, "config": {"state.backend": "rocksdb"}}));
        assert_eq!(render(&j).unwrap().to_yaml().unwrap(), render(&j).unwrap().to_yaml().unwrap());
        assert!(engine_config(&j).unwrap().contains("backend: rocksdb"));
    }
}
