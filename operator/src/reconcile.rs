//! The reconciler: makes the cluster hold what a FlinkJob renders to, and reports what it sees.
//!
//! One pass: add the finalizer; server-side apply the ConfigMap, RBAC, Service and JobManager
//! Deployment; bring the TaskManager pods to the rendered set (create missing ones; delete failed
//! ones, extra ones and ones rendered from an older spec — pods are immutable, so a spec change
//! replaces them); ask the JobManager's REST API (through its Service: a standby forwards to the
//! leader, so an answer means a leader serves) for the job's state; then write the status
//! (observed generation, lifecycle, job state, TaskManagers desired and ready, conditions) and
//! record an Event when the lifecycle changes. Every step is idempotent: a
//! second pass over an unchanged cluster changes nothing. Deletion relies on owner references for
//! garbage collection; the finalizer only records the deletion and never blocks it. The finalizer
//! list is changed with the object's resource version, so a concurrent writer causes a conflict
//! and a retry rather than a lost update.

use crate::crd::{Condition, FlinkJob, FlinkJobStatus, LifecycleState};
use crate::render::{SPEC_HASH, render};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Field manager of everything the operator applies.
pub const MANAGER: &str = "ferroflink-operator";
/// The operator's finalizer.
pub const FINALIZER: &str = "ferroflink.io/cleanup";
/// How often a healthy FlinkJob is looked at again.
pub const RESYNC: Duration = Duration::from_secs(30);

/// Reconciliation errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request (retried).
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The FlinkJob is not namespaced.
    #[error("the FlinkJob has no namespace")]
    MissingNamespace,
}

/// Where a FlinkJob's JobManager REST API is reached.
pub type JobManagerUrl = Arc<dyn Fn(&FlinkJob) -> String + Send + Sync>;

/// What the reconciler shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// The REST base URL of a FlinkJob's JobManager.
    pub jobmanager_url: JobManagerUrl,
}

impl Context {
    /// A context for `client`; JobManagers are reached through their Services.
    pub fn new(client: Client) -> Self {
        Context::with_jobmanager_url(
            client,
            Arc::new(|job: &FlinkJob| {
                let ns = job.namespace().unwrap_or_default();
                format!("http://{}-jobmanager.{ns}.svc:{}", job.name_any(), crate::render::REST_PORT)
            }),
        )
    }

    /// A context reaching JobManagers at the URLs `jobmanager_url` gives (tests).
    pub fn with_jobmanager_url(client: Client, jobmanager_url: JobManagerUrl) -> Self {
        let reporter = Reporter { controller: MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        Context { recorder: Recorder::new(client.clone(), reporter), client, jobmanager_url }
    }
}

/// `GET base + path` of a JobManager: the status and the body (JSON, else its text), or why it
/// did not answer.
async fn get(base: &str, path: &str) -> Result<(u16, serde_json::Value), String> {
    let url = format!("{base}{path}");
    let base = base.to_string();
    tokio::task::spawn_blocking(move || {
        static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
        let agent = AGENT.get_or_init(|| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(3)))
                .build()
                .into()
        });
        let mut response =
            agent.get(&url).call().map_err(|e| format!("the JobManager at {base} does not answer: {e}"))?;
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.trim().to_string()));
        Ok((response.status().as_u16(), body))
    })
    .await
    .map_err(|e| format!("asking the JobManager failed: {e}"))?
}

/// What the JobManager says of the job: its state (Flink's names) and status message, or why it
/// could not be asked.
async fn job_view(base: &str, job_id: &str) -> Result<(String, Option<String>), String> {
    match get(base, &format!("/jobs/{job_id}")).await? {
        (200, body) => Ok((
            body["state"].as_str().unwrap_or("UNKNOWN").to_string(),
            body["status-message"].as_str().map(str::to_string),
        )),
        (404, _) => Ok(("NOT_STARTED".to_string(), None)),
        (s, body) => Err(format!("the JobManager at {base} answered {s}: {}", body["errors"])),
    }
}

/// Whether the leading JobManager is ready by its own `/readyz`: the one the job's HA Lease names
/// (the JobManagers publish their REST address there), else the only one, through the Service.
async fn leader_ready(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<(), String> {
    let base = if crate::render::ha_enabled(job) {
        let name = format!("{}-jobmanager-leader", crate::render::ha_cluster_id(job));
        let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), ns);
        let lease = leases
            .get_opt(&name)
            .await
            .map_err(|e| format!("cannot read the Lease {name}: {e}"))?
            .ok_or_else(|| format!("no JobManager leads yet (no Lease {name})"))?;
        let rest = lease
            .metadata
            .annotations
            .and_then(|a| a.get(LEADER_REST_ANNOTATION).cloned())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("the Lease {name} names no leader"))?;
        format!("http://{rest}")
    } else {
        (ctx.jobmanager_url)(job)
    };
    match get(&base, "/readyz").await? {
        (200, _) => Ok(()),
        (s, body) => Err(format!("the leading JobManager at {base} is not ready ({s}: {body})")),
    }
}

/// Where the JobManagers' Kubernetes HA publishes the leader's REST address on its Lease (see
/// `worker/src/cluster/ha/kubernetes.rs`).
pub const LEADER_REST_ANNOTATION: &str = "ferroflink.io/rest-address";

/// Reconciles one FlinkJob.
pub async fn reconcile(job: Arc<FlinkJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = job.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<FlinkJob> = Api::namespaced(ctx.client.clone(), &ns);
    let has_finalizer = job.finalizers().iter().any(|f| f == FINALIZER);
    if job.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            cleanup(&job, &ctx).await;
            let others: Vec<&String> = job.finalizers().iter().filter(|f| *f != FINALIZER).collect();
            set_finalizers(&api, &job, json!(others)).await?;
        }
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        let mut all: Vec<&String> = job.finalizers().iter().collect();
        let ours = FINALIZER.to_string();
        all.push(&ours);
        set_finalizers(&api, &job, json!(all)).await?;
        // Continue on the updated object, in the next pass.
        return Ok(Action::requeue(Duration::ZERO));
    }
    apply(&job, &ctx, &ns).await
}

/// Replaces the finalizer list, failing with a conflict if the object changed since it was read.
async fn set_finalizers(api: &Api<FlinkJob>, job: &FlinkJob, finalizers: serde_json::Value) -> Result<(), Error> {
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": job.resource_version()}});
    api.patch(&job.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// What to do after a failed pass: retry soon.
pub fn error_policy(_job: Arc<FlinkJob>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(10))
}

async fn ssa<K>(client: &Client, ns: &str, object: &K) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = object.meta().name.clone().expect("rendered objects are named");
    let mut object = serde_json::to_value(object).expect("serializes");
    object["apiVersion"] = K::api_version(&()).into();
    object["kind"] = K::kind(&()).into();
    api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&object)).await?;
    Ok(())
}

async fn apply(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<Action, Error> {
    let rendered = match render(job) {
        Ok(r) => r,
        Err(e) => {
            // A spec the API server accepted but that cannot be rendered: wait for the user to fix it.
            let status = status(job, LifecycleState::Failed, 0, 0, Some(("InvalidSpec", e.to_string())));
            write_status(job, ctx, status).await?;
            return Ok(Action::await_change());
        }
    };
    let client = &ctx.client;
    ssa::<ConfigMap>(client, ns, &rendered.config_map).await?;
    ssa::<ServiceAccount>(client, ns, &rendered.service_account).await?;
    ssa::<Role>(client, ns, &rendered.role).await?;
    ssa::<RoleBinding>(client, ns, &rendered.role_binding).await?;
    ssa::<Service>(client, ns, &rendered.jobmanager_service).await?;
    ssa::<Deployment>(client, ns, &rendered.jobmanager).await?;
    match &rendered.ingress {
        Some(ingress) => ssa::<Ingress>(client, ns, ingress).await?,
        None => {
            let api: Api<Ingress> = Api::namespaced(client.clone(), ns);
            if api.get_opt(&format!("{}-ui", job.name_any())).await?.is_some() {
                api.delete(&format!("{}-ui", job.name_any()), &DeleteParams::default()).await?;
            }
        }
    }

    drop_ha_records(job, ctx, ns, |id| id != crate::render::ha_cluster_id(job)).await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!("app.kubernetes.io/instance={},app.kubernetes.io/component=taskmanager", job.name_any());
    let existing = pods.list(&ListParams::default().labels(&selector)).await?.items;
    let desired: BTreeMap<String, &Pod> = rendered.taskmanagers.iter().map(|p| (p.name_any(), p)).collect();
    let mut kept = BTreeMap::new();
    for pod in existing {
        let name = pod.name_any();
        let failed = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed");
        let current = desired.get(&name).is_some_and(|d| annotation(d) == annotation(&pod));
        if pod.metadata.deletion_timestamp.is_some() {
            kept.insert(name, None); // going away: recreate once it is gone
        } else if failed || !current {
            tracing::info!(pod = %name, failed, "replacing TaskManager pod");
            pods.delete(&name, &DeleteParams::default()).await?;
            kept.insert(name, None);
        } else {
            kept.insert(name, Some(pod));
        }
    }
    for (name, pod) in &desired {
        if !kept.contains_key(name) {
            match pods.create(&PostParams::default(), pod).await {
                Ok(_) => {}
                // Created by a concurrent pass, or the old pod is still terminating: next pass.
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let ready = kept.values().flatten().filter(|p| desired.contains_key(&p.name_any()) && pod_ready(p)).count() as i32;
    let jm_api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let jm_ready = jm_api
        .get_opt(&rendered.jobmanager.name_any())
        .await?
        .and_then(|d| d.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let desired_count = desired.len() as i32;
    let (view, leader) = if jm_ready >= 1 {
        let view = job_view(&(ctx.jobmanager_url)(job), &crate::render::job_id(job)).await;
        (Some(view), Some(leader_ready(job, ctx, ns).await))
    } else {
        (None, None)
    };
    // Every TaskManager pod ready, and a leading JobManager that says it is.
    let serving = ready == desired_count && matches!(leader, Some(Ok(())));
    let (lifecycle, job_state, error) = match &view {
        Some(Ok((state, message))) => {
            let lifecycle = match state.as_str() {
                "RUNNING" if serving => LifecycleState::Running,
                "FINISHED" => LifecycleState::Finished,
                "FAILED" | "CANCELED" => LifecycleState::Failed,
                _ => LifecycleState::Deploying,
            };
            let error = match state.as_str() {
                "FAILED" => {
                    Some(("JobFailed", format!("the job failed: {}", message.as_deref().unwrap_or("no reason given"))))
                }
                "CANCELED" => Some(("JobCancelled", "the job was cancelled outside the operator".to_string())),
                _ => None,
            };
            (lifecycle, Some(state.clone()), error)
        }
        // Not answering (yet): keep the last known job state.
        _ => (LifecycleState::Deploying, job.status.as_ref().and_then(|s| s.job_state.clone()), None),
    };
    let mut status = status(job, lifecycle, desired_count, ready, error);
    status.job_state = job_state;
    for why in [view.and_then(Result::err), leader.and_then(Result::err)].into_iter().flatten() {
        tracing::debug!(job = %job.name_any(), "{why}");
        status.conditions[0].message = format!("{}; {why}", status.conditions[0].message);
    }
    write_status(job, ctx, status).await?;
    Ok(Action::requeue(RESYNC))
}

/// Deletes the JobManagers' HA records (Lease and ConfigMap) of this FlinkJob's runs whose HA
/// cluster id `drop` accepts: those of earlier generations once a spec change started a new run,
/// all of them when the FlinkJob goes.
async fn drop_ha_records(job: &FlinkJob, ctx: &Context, ns: &str, drop: impl Fn(&str) -> bool) -> Result<(), Error> {
    let prefix = crate::render::ha_cluster_prefix(job);
    let listed = ListParams::default().labels(crate::render::HA_CLUSTER_LABEL);
    let ours = |meta: &kube::api::ObjectMeta| {
        let id = meta.labels.as_ref().and_then(|l| l.get(crate::render::HA_CLUSTER_LABEL)).cloned().unwrap_or_default();
        id.starts_with(&prefix) && drop(&id)
    };
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), ns);
    for lease in leases.list(&listed).await?.items.into_iter().filter(|l| ours(&l.metadata)) {
        tracing::info!(lease = %lease.name_any(), "dropping the HA record of an earlier run");
        leases.delete(&lease.name_any(), &DeleteParams::default()).await?;
    }
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    for map in maps.list(&listed).await?.items.into_iter().filter(|m| ours(&m.metadata)) {
        tracing::info!(config_map = %map.name_any(), "dropping the HA record of an earlier run");
        maps.delete(&map.name_any(), &DeleteParams::default()).await?;
    }
    Ok(())
}

async fn cleanup(job: &FlinkJob, ctx: &Context) {
    if let Err(e) = drop_ha_records(job, ctx, &job.namespace().unwrap_or_default(), |_| true).await {
        tracing::warn!(error = %e, "could not delete the JobManagers' HA records");
    }
    // Owned objects go with the FlinkJob (owner references); nothing may block the deletion.
    let event = Event {
        type_: EventType::Normal,
        reason: "Deleting".into(),
        note: Some("FlinkJob deleted; its pods and objects are garbage-collected".into()),
        action: "Cleanup".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &job.object_ref(&())).await {
        tracing::warn!(error = %e, "could not record the deletion event");
    }
}

fn annotation(pod: &Pod) -> Option<&String> {
    pod.metadata.annotations.as_ref()?.get(SPEC_HASH)
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn condition(job: &FlinkJob, type_: &str, ok: bool, reason: &str, message: String) -> Condition {
    let generation = job.metadata.generation.unwrap_or(0);
    let previous = job.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == type_));
    let status = if ok { "True" } else { "False" }.to_string();
    // The transition time moves only when the status does (idempotent re-reconciles).
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => k8s_openapi::jiff::Timestamp::now().to_string(),
    };
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

fn status(
    job: &FlinkJob,
    lifecycle: LifecycleState,
    desired: i32,
    ready: i32,
    error: Option<(&str, String)>,
) -> FlinkJobStatus {
    let running = lifecycle == LifecycleState::Running;
    let failed = error.is_some();
    let progress = format!("{ready}/{desired} TaskManager pods ready");
    FlinkJobStatus {
        observed_generation: job.metadata.generation,
        lifecycle_state: lifecycle,
        job_state: job.status.as_ref().and_then(|s| s.job_state.clone()),
        job_id: Some(crate::render::job_id(job)),
        task_managers_desired: desired,
        task_managers_ready: ready,
        conditions: vec![
            condition(job, "Ready", running, if running { "Running" } else { "NotReady" }, progress.clone()),
            condition(
                job,
                "Progressing",
                !running && !failed,
                if running { "Deployed" } else { "Deploying" },
                progress,
            ),
            condition(
                job,
                "Degraded",
                failed,
                error.as_ref().map_or("Healthy", |(reason, _)| reason),
                error.as_ref().map(|(_, message)| message.clone()).unwrap_or_default(),
            ),
        ],
        error: error.map(|(_, message)| message),
    }
}

async fn write_status(job: &FlinkJob, ctx: &Context, status: FlinkJobStatus) -> Result<(), Error> {
    let old = job.status.clone().unwrap_or_default();
    if old == status {
        return Ok(());
    }
    let api: Api<FlinkJob> = Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    api.patch_status(&job.name_any(), &PatchParams::default(), &Patch::Merge(&serde_json::json!({"status": status})))
        .await?;
    if old.lifecycle_state != status.lifecycle_state || job.status.is_none() {
        let event = Event {
            type_: if status.error.is_some() { EventType::Warning } else { EventType::Normal },
            reason: format!("{:?}", status.lifecycle_state),
            note: Some(
                status
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("{:?} → {:?}", old.lifecycle_state, status.lifecycle_state)),
            ),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &job.object_ref(&())).await {
            tracing::warn!(error = %e, "could not record an event");
        }
    }
    Ok(())
}
