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

use crate::crd::{
    Condition, DesiredState, FlinkJob, FlinkJobSpec, FlinkJobStatus, LifecycleState, PendingRestart, RunStatus,
    SavepointInfo, SavepointKind, SavepointOperation, UpgradeMode,
};
use crate::jobmanager::{
    SavepointState, Trouble, job_view, latest_checkpoint, leader_ready, savepoint_state, trigger_savepoint,
};
use crate::render::{SPEC_HASH, render};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
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
/// How often a savepoint in progress is looked at.
const POLL: Duration = Duration::from_secs(1);
/// A job restarted after a failure that fails again this soon after running is left Failed.
const FAILED_AGAIN: Duration = Duration::from_secs(60);
/// When to try again after a JobManager did not answer or a savepoint failed.
const RETRY: Duration = Duration::from_secs(5);

/// Reconciliation errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request (retried).
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The FlinkJob is not namespaced.
    #[error("the FlinkJob has no namespace")]
    MissingNamespace,
    /// The spec names something the cluster does not hold (reported in the status, not retried
    /// fast).
    #[error("{0}")]
    Spec(String),
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

pub use crate::jobmanager::LEADER_REST_ANNOTATION;

/// Reconciles one FlinkJob.
pub async fn reconcile(job: Arc<FlinkJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = job.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<FlinkJob> = Api::namespaced(ctx.client.clone(), &ns);
    let has_finalizer = job.finalizers().iter().any(|f| f == FINALIZER);
    if job.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            if let Some(action) = final_savepoint(&job, &ctx).await? {
                return Ok(action);
            }
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

/// How long a deletion waits for the final savepoint of `savepoints.onDelete`.
const FINAL_SAVEPOINT_TIMEOUT: Duration = Duration::from_secs(300);

/// The final savepoint of a deleted FlinkJob with `savepoints.onDelete`: asks for it (stopping the
/// job) and follows it; `None` once there is nothing (more) to wait for — it completed, failed,
/// the job was not running, or [`FINAL_SAVEPOINT_TIMEOUT`] passed — so the deletion never waits
/// for good.
async fn final_savepoint(job: &FlinkJob, ctx: &Context) -> Result<Option<Action>, Error> {
    let st = job.status.clone().unwrap_or_default();
    let Some(run) = st.run.clone().filter(|r| r.stopped_with.is_none()) else { return Ok(None) };
    if !job.spec.savepoints.as_ref().is_some_and(|s| s.on_delete) {
        return Ok(None);
    }
    let now = Timestamp::now();
    let since = job.metadata.deletion_timestamp.as_ref().map_or(now, |t| t.0);
    if now.duration_since(since).unsigned_abs() > FINAL_SAVEPOINT_TIMEOUT {
        let why = format!("no final savepoint within {FINAL_SAVEPOINT_TIMEOUT:?}: deleting without it");
        publish(ctx, job, EventType::Warning, "NoFinalSavepoint", why).await;
        return Ok(None);
    }
    let deployed = as_deployed(job, &st);
    let (base, id) = ((ctx.jobmanager_url)(&deployed), crate::render::job_id(&deployed));
    let seen = Seen::new(LifecycleState::Deleting);
    if let Some(op) = st.savepoint_in_progress.clone().filter(|op| op.kind == SavepointKind::OnDelete) {
        return follow_savepoint(job, ctx, st, seen, op, &base, &id, &run.spec).await.map(Some);
    }
    match job_view(&base, &id).await {
        Ok((state, _)) if state == "RUNNING" => {
            let op = SavepointOperation {
                kind: SavepointKind::OnDelete,
                trigger_id: crate::savepoints::trigger_id(job, &format!("on-delete:{}", run.number)),
                run: run.number,
                nonce: None,
                started: now.to_string(),
            };
            begin_savepoint(job, ctx, st, seen, op, &base, &id).await.map(Some)
        }
        other => {
            let why = match other {
                Ok((state, _)) => format!("no final savepoint: the job is {state}"),
                Err(e) => format!("no final savepoint: {e}"),
            };
            publish(ctx, job, EventType::Warning, "NoFinalSavepoint", why).await;
            Ok(None)
        }
    }
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

/// The fields of a spec a run is made of: all but those the operator acts on without
/// redeploying (`job.state`, `job.savepointTriggerNonce`, `job.stopAt`, `job.upgradeMode`,
/// `job.initialSavepointPath`, `job.restartNonce`, `job.rollbackAfter`, the savepoint schedule,
/// retention and `onDelete`, and `checkpointing.restartAfterMissed`). A SQL job's script is
/// recorded by its `digest`, never as text.
pub fn deployed_spec(spec: &FlinkJobSpec, digest: Option<String>) -> String {
    let mut s = spec.clone();
    if digest.is_some() {
        (s.job.sql, s.job.sql_config_map, s.job.sql_digest) = (None, None, digest);
    }
    s.job.state = None;
    s.job.savepoint_trigger_nonce = None;
    s.job.stop_at = None;
    s.job.upgrade_mode = None;
    s.job.initial_savepoint_path = None;
    s.job.restart_nonce = None;
    s.job.rollback_after = None;
    if let Some(sp) = &mut s.savepoints {
        (sp.interval, sp.max_count, sp.max_age, sp.on_delete) = (None, None, None, false);
    }
    if let Some(c) = &mut s.checkpointing {
        c.restart_after_missed = None;
    }
    serde_json::to_string(&s).expect("a spec serializes")
}

/// The SQL script of a FlinkJob's spec: `job.sql`, or the `job.sqlConfigMap` key; `Err` says
/// why it cannot be read.
async fn sql_script(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<Option<String>, Error> {
    let Some(key) = &job.spec.job.sql_config_map else { return Ok(job.spec.job.sql.clone()) };
    let map = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns).get_opt(&key.name).await?;
    let Some(map) = map else {
        return Err(Error::Spec(format!("job.sqlConfigMap: there is no ConfigMap {} in namespace {ns}", key.name)));
    };
    match map.data.as_ref().and_then(|d| d.get(&key.key)) {
        Some(script) => Ok(Some(script.clone())),
        None => Err(Error::Spec(format!("job.sqlConfigMap: ConfigMap {} has no key {}", key.name, key.key))),
    }
}

/// The digest of the SQL script a recorded spec deploys, if it is a SQL job's.
fn recorded_digest(spec: &str) -> Option<String> {
    serde_json::from_str::<FlinkJobSpec>(spec).ok()?.job.sql_digest
}

/// Keeps the SQL script `wanted` (digest and text) where runs find it, and deletes the kept scripts
/// no run in `st` (current, last stable, rolled back, pending restart) or `wanted` deploys.
async fn keep_sql_scripts(
    job: &FlinkJob,
    ctx: &Context,
    ns: &str,
    st: &FlinkJobStatus,
    wanted: Option<(&str, &str)>,
) -> Result<(), Error> {
    if let Some((digest, script)) = wanted {
        ssa(&ctx.client, ns, &crate::render::sql_script_config_map(job, digest, script)).await?;
    }
    let recorded = [
        st.run.as_ref().map(|r| &r.spec),
        st.last_stable_spec.as_ref(),
        st.rolled_back_spec.as_ref(),
        st.restart.as_ref().map(|r| &r.spec),
    ];
    let keep: Vec<String> = recorded
        .into_iter()
        .flatten()
        .filter_map(|spec| recorded_digest(spec))
        .chain(wanted.map(|(digest, _)| digest.to_string()))
        .map(|digest| crate::render::sql_script_name(job, &digest))
        .collect();
    let selector = format!(
        "app.kubernetes.io/instance={},app.kubernetes.io/component={}",
        job.name_any(),
        crate::render::SQL_SCRIPT_COMPONENT
    );
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    for map in maps.list(&ListParams::default().labels(&selector)).await?.items {
        if !keep.contains(&map.name_any()) {
            delete_if_present::<ConfigMap>(&ctx.client, ns, &map.name_any()).await?;
        }
    }
    Ok(())
}

/// `deployed` with the text of its SQL script (kept by [`keep_sql_scripts`]), which `wanted`
/// holds when it is the same.
async fn with_sql_script(
    mut deployed: FlinkJob,
    ctx: &Context,
    ns: &str,
    wanted: Option<(&str, &str)>,
) -> Result<FlinkJob, Error> {
    let Some(digest) = deployed.spec.job.sql_digest.clone() else { return Ok(deployed) };
    let script = match wanted {
        Some((d, script)) if d == digest => script.to_string(),
        _ => {
            let name = crate::render::sql_script_name(&deployed, &digest);
            let map = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns).get_opt(&name).await?;
            let kept = map.and_then(|m| m.data).and_then(|mut d| d.remove(crate::render::SQL_SCRIPT_KEY));
            kept.ok_or_else(|| {
                Error::Spec(format!(
                    "the ConfigMap {name}, which keeps the SQL script of run {}, was deleted: the operator \
                     cannot render that run; restore it (key {}) or re-create the FlinkJob",
                    deployed.status.as_ref().and_then(|s| s.run.as_ref()).map_or(0, |r| r.number),
                    crate::render::SQL_SCRIPT_KEY
                ))
            })?
        }
    };
    deployed.spec.job.sql = Some(script);
    Ok(deployed)
}

/// The FlinkJob as the run in `status` deploys it: that run's spec, with the rest of the object.
fn as_deployed(job: &FlinkJob, status: &FlinkJobStatus) -> FlinkJob {
    let mut deployed = job.clone();
    if let Some(spec) = status.run.as_ref().and_then(|r| serde_json::from_str(&r.spec).ok()) {
        deployed.spec = spec;
    }
    deployed.status = Some(status.clone());
    deployed
}

/// Starts the next run (the first when there is none) in the status: its number, why, the spec it
/// deploys and what it restores; the previous run's latest checkpoint is forgotten.
fn start_run(st: &mut FlinkJobStatus, reason: &str, spec: String, restored_from: Option<String>) -> RunStatus {
    let run = RunStatus {
        number: st.run.as_ref().map_or(1, |r| r.number + 1),
        reason: reason.into(),
        spec,
        restored_from,
        started: Timestamp::now().to_string(),
        stopped_with: None,
        running_since: None,
    };
    st.run = Some(run.clone());
    st.last_checkpoint = None;
    run
}

/// What one pass saw, for the status.
struct Seen {
    lifecycle: LifecycleState,
    desired: i32,
    ready: i32,
    error: Option<(&'static str, String)>,
    /// Why the job is not where it should be yet, for the Ready condition's message.
    waiting: Vec<String>,
}

impl Seen {
    fn new(lifecycle: LifecycleState) -> Self {
        Seen { lifecycle, desired: 0, ready: 0, error: None, waiting: Vec::new() }
    }
}

async fn apply(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<Action, Error> {
    match apply_spec(job, ctx, ns).await {
        Err(Error::Spec(why)) => {
            // Nothing the spec says is done until it can be read; what runs keeps running.
            let st = job.status.clone().unwrap_or_default();
            let mut seen = Seen::new(st.lifecycle_state);
            (seen.desired, seen.ready) = (st.task_managers_desired, st.task_managers_ready);
            seen.error = Some(("InvalidSpec", why));
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(RESYNC))
        }
        other => other,
    }
}

async fn apply_spec(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<Action, Error> {
    let now = Timestamp::now();
    let mut st = job.status.clone().unwrap_or_default();
    let previous = st.lifecycle_state;
    let script = sql_script(job, ctx, ns).await?;
    let script = script.as_deref().map(|s| (crate::render::sql_digest(s), s));
    let script = script.as_ref().map(|(digest, s)| (digest.as_str(), *s));
    keep_sql_scripts(job, ctx, ns, &st, script).await?;
    let wanted = deployed_spec(&job.spec, script.map(|(digest, _)| digest.to_string()));
    let suspend = job.spec.job.state == Some(DesiredState::Suspended);
    let stop_at = match job.spec.job.stop_at.as_deref().map(str::parse::<Timestamp>).transpose() {
        Ok(t) => t,
        Err(e) => {
            let mut seen = Seen::new(LifecycleState::Failed);
            seen.error = Some(("InvalidSpec", format!("job.stopAt is not an RFC 3339 time: {e}")));
            finish(job, ctx, st, seen).await?;
            return Ok(Action::await_change());
        }
    };
    let stop_due = stop_at.is_some_and(|t| t <= now);
    // Come back when stopAt is due.
    let resync = stop_at
        .and_then(|t| t.duration_since(now).try_into().ok())
        .map_or(RESYNC, |left: Duration| left.clamp(Duration::from_millis(100), RESYNC));

    let run = match st.run.clone() {
        Some(run) => run,
        None if suspend || stop_due => {
            // Never started: nothing to stop.
            let lifecycle = if suspend { LifecycleState::Suspended } else { LifecycleState::Finished };
            finish(job, ctx, st, Seen::new(lifecycle)).await?;
            return Ok(Action::requeue(resync));
        }
        None => {
            // The first run, deployed in this pass. Nonces set at creation are where counting
            // starts, not requests.
            st.last_savepoint_trigger_nonce = job.spec.job.savepoint_trigger_nonce;
            st.last_restart_nonce = job.spec.job.restart_nonce;
            start_run(&mut st, "created", wanted.clone(), job.spec.job.initial_savepoint_path.clone())
        }
    };
    let deployed = with_sql_script(as_deployed(job, &st), ctx, ns, script).await?;
    if let Err(e) = render(&deployed) {
        // A spec the API server accepted but that cannot be rendered: wait for the user to fix it.
        let mut seen = Seen::new(LifecycleState::Failed);
        seen.error = Some(("InvalidSpec", e.to_string()));
        finish(job, ctx, st, seen).await?;
        return Ok(Action::await_change());
    }

    if let Some(stopped) = run.stopped_with.clone() {
        // Stopped with a savepoint: nothing runs until the job is wanted again.
        teardown(job, ctx, ns).await?;
        if !suspend && !stop_due {
            let note = format!(
                "starting run {} from {}",
                run.number + 1,
                if stopped.is_empty() { "empty state" } else { &stopped }
            );
            publish(ctx, job, EventType::Normal, "Resuming", note).await;
            let from = Some(stopped).filter(|s| !s.is_empty());
            // A spec that was rolled back stays out until it changes.
            let spec = if st.rolled_back_spec.as_ref() == Some(&wanted) { run.spec.clone() } else { wanted };
            start_run(&mut st, "resume", spec, from);
            finish(job, ctx, st, Seen::new(LifecycleState::Deploying)).await?;
            return Ok(Action::requeue(Duration::ZERO));
        }
        let lifecycle = if suspend { LifecycleState::Suspended } else { LifecycleState::Finished };
        finish(job, ctx, st, Seen::new(lifecycle)).await?;
        return Ok(Action::requeue(resync));
    }

    if let Some(pending) = st.restart.clone() {
        return restart(job, &deployed, ctx, ns, st, pending, run).await;
    }

    let (desired, ready) = deploy(&deployed, ctx, ns).await?;
    let base = (ctx.jobmanager_url)(&deployed);
    let id = crate::render::job_id(&deployed);
    let jm_ready = Api::<Deployment>::namespaced(ctx.client.clone(), ns)
        .get_opt(&format!("{}-jobmanager", job.name_any()))
        .await?
        .and_then(|d| d.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let mut seen = Seen::new(previous);
    (seen.desired, seen.ready) = (desired, ready);
    let (view, leader) = if jm_ready >= 1 {
        (Some(job_view(&base, &id).await), Some(leader_ready(&deployed, ctx, ns).await))
    } else {
        seen.waiting.push("no JobManager is ready".into());
        (None, None)
    };
    let (state, message) = match view {
        Some(Ok((state, message))) => (Some(state), message),
        Some(Err(why)) => {
            seen.waiting.push(why);
            (None, None)
        }
        None => (None, None),
    };
    if let Some(Err(why)) = &leader {
        seen.waiting.push(why.clone());
    }
    if matches!(state.as_deref(), Some("RUNNING" | "FINISHED"))
        && let Ok(Some(c)) = latest_checkpoint(&base, &id).await
        && st.last_checkpoint.as_ref().is_none_or(|old| old.id != c.id)
    {
        st.last_checkpoint = Some(c);
    }

    if let Some(op) = st.savepoint_in_progress.clone() {
        if op.run == run.number {
            return follow_savepoint(job, ctx, st, seen, op, &base, &id, &wanted).await;
        }
        st.savepoint_in_progress = None;
    }

    if (suspend || stop_due) && matches!(state.as_deref(), Some("FINISHED" | "FAILED" | "CANCELED")) {
        // No savepoint can be taken of an ended job. A failed one resumes from its latest
        // checkpoint; a finished one has nothing to carry over.
        let keep = match state.as_deref() {
            Some("FINISHED") => None,
            _ => st.last_checkpoint.as_ref().map(|c| c.location.clone()).or(run.restored_from.clone()),
        };
        let why = format!(
            "the job is {}: stopped without a savepoint; it resumes from {}",
            state.as_deref().unwrap_or_default(),
            keep.as_deref().unwrap_or("empty state")
        );
        publish(ctx, job, EventType::Warning, "Stopped", why).await;
        st.run = Some(RunStatus { stopped_with: Some(keep.unwrap_or_default()), ..run });
        finish(job, ctx, st, seen).await?;
        return Ok(Action::requeue(Duration::ZERO));
    }
    let mode = job.spec.job.upgrade_mode.unwrap_or_default();
    if st.rolled_back_spec.as_ref().is_some_and(|s| *s != wanted) {
        st.rolled_back_spec = None; // changed since: the new spec is tried
    }
    let rolled_back = st.rolled_back_spec.is_some();
    let changed = wanted != run.spec && !rolled_back;

    // An upgraded run that fails, or is not running in time, goes back to the last stable spec,
    // from the state the upgrade started from.
    if let Some(after) = job.spec.job.rollback_after.as_deref().and_then(crate::savepoints::parse_duration)
        && matches!(run.reason.as_str(), "upgrade" | "spec change")
        && run.running_since.is_none()
        && let Some(stable) = st.last_stable_spec.clone().filter(|s| *s != run.spec)
    {
        let age = now.duration_since(run.started.parse::<Timestamp>().unwrap_or(now)).unsigned_abs();
        if age > after || state.as_deref() == Some("FAILED") {
            let why = format!(
                "run {} of the new spec is {} after {age:?}: rolling back to the last stable spec, from {}",
                run.number,
                state.as_deref().unwrap_or("not answering"),
                run.restored_from.as_deref().unwrap_or("empty state"),
            );
            publish(ctx, job, EventType::Warning, "RollingBack", why.clone()).await;
            st.rolled_back_spec = Some(run.spec.clone());
            start_run(&mut st, "rollback", stable, run.restored_from.clone());
            seen.lifecycle = LifecycleState::RollingBack;
            seen.error = Some(("RolledBack", why));
            finish(job, ctx, st, seen).await?;
            return Ok(Action::requeue(Duration::ZERO));
        }
    }

    // An upgrade that carries state over is checked before anything stops: one whose new job
    // would lose state, or does not plan, is refused while the job runs on. The running
    // JobManager plans the new job, so the check needs the same image.
    if changed
        && mode != UpgradeMode::Stateless
        && !(suspend || stop_due)
        && state.as_deref() == Some("RUNNING")
        && job.spec.image == deployed.spec.image
    {
        let new_job = match script {
            Some((_, script)) => json!({"kind": "sql", "script": script}),
            None => json!({"kind": "registered", "name": job.spec.job.registered(), "args": job.spec.job.args}),
        };
        let mut config = json!({"job.parallelism": job.spec.job.parallelism});
        if let Some(max) = job.spec.job.max_parallelism {
            config["job.max-parallelism"] = json!(max);
        }
        let allow = job.spec.job.allow_non_restored_state;
        if let Some(why) = crate::jobmanager::refused_upgrade(&base, &id, new_job, config, allow).await {
            if st.error.as_ref() != Some(&why) {
                publish(ctx, job, EventType::Warning, "UpgradeRefused", why.clone()).await;
            }
            seen.error = Some(("UpgradeRefused", why));
            seen.lifecycle = if ready == desired { LifecycleState::Running } else { starting_lifecycle(&run.reason) };
            st.job_state = state.clone();
            finish(job, ctx, st, seen).await?;
            return Ok(Action::requeue(resync));
        }
    }

    let nonce = job.spec.job.savepoint_trigger_nonce.filter(|n| Some(*n) != st.last_savepoint_trigger_nonce);
    if state.as_deref() == Some("RUNNING") {
        let failed = st.failed_savepoints;
        let stop = if stop_due {
            Some((SavepointKind::StopAt, format!("stop-at:{}:{failed}", run.number), None))
        } else if suspend {
            Some((SavepointKind::Suspend, format!("suspend:{}:{failed}", run.number), None))
        } else if changed && mode == UpgradeMode::Savepoint {
            Some((SavepointKind::Upgrade, format!("upgrade:{}:{failed}", run.number), None))
        } else if let (false, Some(n)) = (changed, nonce) {
            Some((SavepointKind::Manual, format!("nonce:{n}"), Some(n)))
        } else if changed {
            None
        } else {
            periodic_due(job, &st, &run, now)
                .map(|bucket| (SavepointKind::Periodic, format!("periodic:{}:{bucket}", run.number), None))
        };
        if let Some((kind, what, nonce)) = stop {
            let op = SavepointOperation {
                kind,
                trigger_id: crate::savepoints::trigger_id(job, &what),
                run: run.number,
                nonce,
                started: now.to_string(),
            };
            return begin_savepoint(job, ctx, st, seen, op, &base, &id).await;
        }
    } else if let Some(n) = nonce
        && matches!(state.as_deref(), Some("FINISHED" | "FAILED" | "CANCELED"))
    {
        let why = format!("no savepoint for savepointTriggerNonce {n}: the job is {}", state.as_deref().unwrap_or(""));
        publish(ctx, job, EventType::Warning, "SavepointSkipped", why).await;
        st.last_savepoint_trigger_nonce = Some(n);
    }
    if changed && (mode == UpgradeMode::Stateless || state.as_deref() == Some("FINISHED")) {
        // Stateless, or nothing left to carry over: the new spec starts empty.
        let why = format!("spec changed: run {} starts without state ({mode:?} upgrade)", run.number + 1);
        publish(ctx, job, EventType::Normal, "Upgrading", why).await;
        start_run(&mut st, "spec change", wanted, None);
        finish(job, ctx, st, Seen { lifecycle: LifecycleState::Upgrading, ..seen }).await?;
        return Ok(Action::requeue(Duration::ZERO));
    }

    // Restarts from the latest checkpoint: the JobManagers stop first (see `restart`).
    let restart_nonce = job.spec.job.restart_nonce.filter(|n| Some(*n) != st.last_restart_nonce);
    // A run that failed before it ever ran is a deployment problem, and one restarted after a
    // failure that fails again within FAILED_AGAIN of running has a cause a restart does not fix:
    // neither is restarted (no loop). They are reported Failed; a spec change, a rollback or
    // `restartNonce` moves on.
    let ran_for = run
        .running_since
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(|t| now.duration_since(t).unsigned_abs());
    let failed_again = run.reason == "failed" && ran_for.is_some_and(|d| d < FAILED_AGAIN);
    let restart = if state.as_deref() == Some("FAILED") && ran_for.is_some() && !failed_again {
        let why = message.clone().unwrap_or_else(|| "no reason given".into());
        Some((
            "failed",
            EventType::Warning,
            format!("the job failed ({why}); restarting it from its latest checkpoint"),
        ))
    } else if let Some(n) = restart_nonce {
        st.last_restart_nonce = Some(n);
        Some(("restart", EventType::Normal, format!("restartNonce {n}: restarting from the latest checkpoint")))
    } else if changed && mode == UpgradeMode::LastState {
        Some(("upgrade", EventType::Normal, "spec changed: last-state upgrade from the latest checkpoint".into()))
    } else if state.as_deref() == Some("RUNNING") {
        stalled(job, &st, &run, now).map(|why| ("stalled", EventType::Warning, format!("{why}; restarting it")))
    } else {
        None
    };
    if let Some((reason, type_, message)) = restart {
        // A changed spec goes along: a failed job cannot take the upgrade savepoint.
        let (reason, spec) = if changed { ("upgrade", wanted) } else { (reason, run.spec.clone()) };
        publish(ctx, job, type_, "Restarting", message.clone()).await;
        st.restart = Some(PendingRestart { reason: reason.into(), message, spec });
        finish(job, ctx, st, Seen { lifecycle: starting_lifecycle(reason), ..seen }).await?;
        return Ok(Action::requeue(Duration::ZERO));
    }
    if changed {
        seen.waiting.push(format!(
            "the spec changed; the upgrade savepoint waits for the job to run (it is {})",
            state.as_deref().unwrap_or("not answering")
        ));
    }

    // Every TaskManager pod ready, and a leading JobManager that says it is.
    let serving = ready == desired && matches!(leader, Some(Ok(())));
    let starting = starting_lifecycle(&run.reason);
    match &state {
        Some(state) => {
            seen.lifecycle = match state.as_str() {
                "RUNNING" if serving => LifecycleState::Running,
                "FINISHED" => LifecycleState::Finished,
                "FAILED" | "CANCELED" => LifecycleState::Failed,
                _ => starting,
            };
            seen.error = match state.as_str() {
                "FAILED" => {
                    let why = message.as_deref().unwrap_or("no reason given");
                    let message = match failed_again {
                        true => format!(
                            "the job failed again within {FAILED_AGAIN:?} of its restart from a checkpoint: {why}; \
                             fix the cause, then change job.restartNonce"
                        ),
                        false => format!("the job failed before it ran: {why}; fix the spec"),
                    };
                    Some(("JobFailed", message))
                }
                "CANCELED" => Some(("JobCancelled", "the job was cancelled outside the operator".to_string())),
                _ => None,
            };
            st.job_state = Some(state.clone());
        }
        // Not answering (yet): keep the last known job state.
        None => seen.lifecycle = starting,
    }
    if seen.lifecycle == LifecycleState::Running && run.running_since.is_none() {
        st.last_stable_spec = Some(run.spec.clone());
        st.run = Some(RunStatus { running_since: Some(now.to_string()), ..run });
    }
    if rolled_back && seen.error.is_none() {
        let why = "the spec was rolled back: it did not run (see the RollingBack event); change it to try again";
        seen.error = Some(("RolledBack", why.to_string()));
    }
    finish(job, ctx, st, seen).await?;
    Ok(Action::requeue(resync))
}

/// The lifecycle state of a run starting for `reason`.
fn starting_lifecycle(reason: &str) -> LifecycleState {
    match reason {
        "upgrade" | "spec change" => LifecycleState::Upgrading,
        "rollback" => LifecycleState::RollingBack,
        _ => LifecycleState::Deploying,
    }
}

/// Why the running job counts as stalled, if it does: no checkpoint completed for
/// `checkpointing.restartAfterMissed` (default 5) intervals since it started running or the
/// operator last saw a new one.
fn stalled(job: &FlinkJob, st: &FlinkJobStatus, run: &RunStatus, now: Timestamp) -> Option<String> {
    let checkpointing = job.spec.checkpointing.as_ref()?;
    let interval = crate::savepoints::parse_duration(&checkpointing.interval)?;
    let missed = checkpointing.restart_after_missed.unwrap_or(5).max(2) as u32;
    let running: Timestamp = run.running_since.as_ref()?.parse().ok()?;
    let last = st.last_checkpoint.as_ref().and_then(|c| c.seen.parse::<Timestamp>().ok());
    let since = last.filter(|l| *l > running).unwrap_or(running);
    let quiet = now.duration_since(since).unsigned_abs();
    (quiet > interval * missed).then(|| {
        format!(
            "no checkpoint completed for {}s ({missed} intervals of {}) while the job runs",
            quiet.as_secs(),
            checkpointing.interval
        )
    })
}

/// Restarts the job from its latest checkpoint: stops the JobManagers, waits until they are gone
/// (so the checkpoint they recorded last is final: nothing commits after it), then starts the next
/// run from it (from the HA records; without HA, the latest the operator saw, else what the run
/// started from).
async fn restart(
    job: &FlinkJob,
    deployed: &FlinkJob,
    ctx: &Context,
    ns: &str,
    mut st: FlinkJobStatus,
    pending: PendingRestart,
    run: RunStatus,
) -> Result<Action, Error> {
    teardown(job, ctx, ns).await?;
    st.savepoint_in_progress = None;
    let mut seen = Seen::new(starting_lifecycle(&pending.reason));
    let selector = format!("app.kubernetes.io/instance={},app.kubernetes.io/component=jobmanager", job.name_any());
    let remaining =
        Api::<Pod>::namespaced(ctx.client.clone(), ns).list(&ListParams::default().labels(&selector)).await?;
    if !remaining.items.is_empty() {
        seen.waiting.push(format!("{}; waiting for the JobManagers of run {} to stop", pending.message, run.number));
        finish(job, ctx, st, seen).await?;
        return Ok(Action::requeue(POLL));
    }
    let recorded = match ha_resume_point(deployed, ctx, ns).await {
        Ok(r) => r,
        Err(why) => {
            seen.waiting.push(why);
            finish(job, ctx, st, seen).await?;
            return Ok(Action::requeue(RETRY));
        }
    };
    let from = recorded.or_else(|| st.last_checkpoint.as_ref().map(|c| c.location.clone())).or(run.restored_from);
    let note = format!(
        "run {} starts from {} ({})",
        run.number + 1,
        from.as_deref().unwrap_or("empty state"),
        pending.message
    );
    publish(ctx, job, EventType::Normal, "Restarted", note).await;
    start_run(&mut st, &pending.reason, pending.spec, from);
    st.restart = None;
    finish(job, ctx, st, seen).await?;
    Ok(Action::requeue(Duration::ZERO))
}

/// Where the run's job resumes by its JobManagers' HA records (the `jobs.json` of the ConfigMap
/// `<cluster id>-jobmanager-ha`, see `worker/cluster/src/ha/`): its latest checkpoint, else what
/// it started from.
async fn ha_resume_point(deployed: &FlinkJob, ctx: &Context, ns: &str) -> Result<Option<String>, String> {
    if !crate::render::ha_enabled(deployed) {
        return Ok(None);
    }
    let name = format!("{}-jobmanager-ha", crate::render::ha_cluster_id(deployed));
    let map = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns)
        .get_opt(&name)
        .await
        .map_err(|e| format!("cannot read the HA records {name}: {e}"))?;
    let Some(text) = map.and_then(|m| m.data).and_then(|d| d.get("jobs.json").cloned()) else { return Ok(None) };
    let records: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("the HA records {name} are not JSON: {e}"))?;
    Ok(records["jobs"][crate::render::job_id(deployed)]["resume_from"].as_str().map(str::to_string))
}

/// The periodic savepoint due now, if one is: its number in the run (how many intervals passed
/// since the run started), the same on every pass until it is taken.
fn periodic_due(job: &FlinkJob, st: &FlinkJobStatus, run: &RunStatus, now: Timestamp) -> Option<u64> {
    let interval = job.spec.savepoints.as_ref()?.interval.as_deref().and_then(crate::savepoints::parse_duration)?;
    let started: Timestamp = run.started.parse().ok()?;
    let last = st.savepoints.iter().filter_map(|s| s.time.parse::<Timestamp>().ok()).max();
    let since = last.filter(|l| *l > started).unwrap_or(started);
    let due = now.duration_since(since).unsigned_abs() >= interval;
    due.then(|| (now.duration_since(started).unsigned_abs().as_millis() / interval.as_millis().max(1)) as u64)
}

/// Asks the JobManager for the savepoint `op` and records it as in progress.
async fn begin_savepoint(
    job: &FlinkJob,
    ctx: &Context,
    mut st: FlinkJobStatus,
    mut seen: Seen,
    op: SavepointOperation,
    base: &str,
    id: &str,
) -> Result<Action, Error> {
    let target = job.spec.savepoints.as_ref().map(|s| s.storage.as_str());
    match trigger_savepoint(base, id, &op.trigger_id, target, op.kind.stops()).await {
        Ok(()) => {
            let note = format!("{:?} savepoint of run {} asked for (trigger {})", op.kind, op.run, op.trigger_id);
            publish(ctx, job, EventType::Normal, "SavepointTriggered", note).await;
            if op.kind == SavepointKind::Upgrade {
                seen.lifecycle = LifecycleState::Upgrading;
            }
            st.savepoint_in_progress = Some(op);
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(POLL))
        }
        Err(Trouble::Refused(why)) => {
            savepoint_failed(job, ctx, &mut st, &mut seen, &op, why).await;
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(RETRY))
        }
        Err(Trouble::Unreachable(why)) => {
            seen.waiting.push(why);
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(RETRY))
        }
    }
}

/// Follows the savepoint in progress: on completion records it and goes on with what it was for
/// (an upgrade starts the next run from it; a suspend or `stopAt` ends the run).
#[allow(clippy::too_many_arguments)]
async fn follow_savepoint(
    job: &FlinkJob,
    ctx: &Context,
    mut st: FlinkJobStatus,
    mut seen: Seen,
    op: SavepointOperation,
    base: &str,
    id: &str,
    wanted: &str,
) -> Result<Action, Error> {
    if op.kind == SavepointKind::Upgrade {
        seen.lifecycle = LifecycleState::Upgrading;
    }
    let state = match savepoint_state(base, id, &op.trigger_id).await {
        Ok(s) => s,
        Err(why) => {
            seen.waiting.push(why);
            finish(job, ctx, st, seen).await?;
            return Ok(Action::requeue(RETRY));
        }
    };
    match state {
        SavepointState::InProgress => {
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(POLL))
        }
        // The JobManager lost the request (it restarted): ask again, under the same trigger id.
        SavepointState::Unknown => begin_savepoint(job, ctx, st, seen, op, base, id).await,
        SavepointState::Failed(why) => {
            st.savepoint_in_progress = None;
            savepoint_failed(job, ctx, &mut st, &mut seen, &op, why).await;
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(RETRY))
        }
        SavepointState::Completed(location) => {
            st.savepoint_in_progress = None;
            st.failed_savepoints = 0;
            if !st.savepoints.iter().any(|s| s.trigger_id == op.trigger_id) {
                st.savepoints.push(SavepointInfo {
                    location: location.clone(),
                    time: Timestamp::now().to_string(),
                    kind: op.kind,
                    trigger_id: op.trigger_id.clone(),
                    nonce: op.nonce,
                });
            }
            let note = format!("{:?} savepoint of run {} at {location}", op.kind, op.run);
            publish(ctx, job, EventType::Normal, "SavepointCompleted", note).await;
            let run = st.run.clone().expect("a run is in progress");
            match op.kind {
                SavepointKind::Manual => st.last_savepoint_trigger_nonce = op.nonce,
                SavepointKind::Periodic => {}
                SavepointKind::Upgrade => {
                    let why = format!("run {} starts from the upgrade savepoint {location}", run.number + 1);
                    publish(ctx, job, EventType::Normal, "Upgrading", why).await;
                    st.upgrade_savepoint = Some(location.clone());
                    start_run(&mut st, "upgrade", wanted.to_string(), Some(location));
                }
                SavepointKind::Suspend | SavepointKind::StopAt | SavepointKind::OnDelete => {
                    st.run = Some(RunStatus { stopped_with: Some(location), ..run });
                }
            }
            finish(job, ctx, st, seen).await?;
            Ok(Action::requeue(Duration::ZERO))
        }
    }
}

/// Records a savepoint that failed: a manual one is not retried (its nonce is served); the others
/// are asked for again under a new trigger id.
async fn savepoint_failed(
    job: &FlinkJob,
    ctx: &Context,
    st: &mut FlinkJobStatus,
    seen: &mut Seen,
    op: &SavepointOperation,
    why: String,
) {
    let message = format!("the {:?} savepoint of run {} failed: {why}", op.kind, op.run);
    publish(ctx, job, EventType::Warning, "SavepointFailed", message.clone()).await;
    match op.kind {
        SavepointKind::Manual => st.last_savepoint_trigger_nonce = op.nonce,
        // The deletion goes on without it.
        SavepointKind::OnDelete => {
            if let Some(run) = &mut st.run {
                run.stopped_with = Some(String::new());
            }
        }
        _ => st.failed_savepoints += 1,
    }
    seen.error = Some(("SavepointFailed", message));
}

/// Brings the cluster to what the deployed run renders to; returns the TaskManager pods wanted and
/// ready.
async fn deploy(deployed: &FlinkJob, ctx: &Context, ns: &str) -> Result<(i32, i32), Error> {
    let rendered = render(deployed).expect("checked by the caller");
    let client = &ctx.client;
    ssa::<ConfigMap>(client, ns, &rendered.config_map).await?;
    ssa::<ServiceAccount>(client, ns, &rendered.service_account).await?;
    ssa::<Role>(client, ns, &rendered.role).await?;
    ssa::<RoleBinding>(client, ns, &rendered.role_binding).await?;
    ssa::<Service>(client, ns, &rendered.jobmanager_service).await?;
    ssa::<Deployment>(client, ns, &rendered.jobmanager).await?;
    let ingress_name = format!("{}-ui", deployed.name_any());
    match &rendered.ingress {
        Some(ingress) => ssa::<Ingress>(client, ns, ingress).await?,
        None => delete_if_present::<Ingress>(client, ns, &ingress_name).await?,
    }
    drop_ha_records(deployed, ctx, ns, |id| id != crate::render::ha_cluster_id(deployed)).await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let desired: BTreeMap<String, &Pod> = rendered.taskmanagers.iter().map(|p| (p.name_any(), p)).collect();
    let mut kept = BTreeMap::new();
    for pod in taskmanager_pods(deployed, ctx, ns).await? {
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
    let ready = kept.values().flatten().filter(|p| desired.contains_key(&p.name_any()) && pod_ready(p)).count();
    Ok((desired.len() as i32, ready as i32))
}

async fn taskmanager_pods(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<Vec<Pod>, Error> {
    let selector = format!("app.kubernetes.io/instance={},app.kubernetes.io/component=taskmanager", job.name_any());
    Ok(Api::<Pod>::namespaced(ctx.client.clone(), ns).list(&ListParams::default().labels(&selector)).await?.items)
}

/// Removes the JobManager Deployment and the TaskManager pods of a stopped run.
async fn teardown(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<(), Error> {
    delete_if_present::<Deployment>(&ctx.client, ns, &format!("{}-jobmanager", job.name_any())).await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for pod in taskmanager_pods(job, ctx, ns).await? {
        if pod.metadata.deletion_timestamp.is_none() {
            pods.delete(&pod.name_any(), &DeleteParams::default()).await?;
        }
    }
    Ok(())
}

async fn delete_if_present<K>(client: &Client, ns: &str, name: &str) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn publish(ctx: &Context, job: &FlinkJob, type_: EventType, reason: &str, note: String) {
    tracing::info!(job = %job.name_any(), reason, "{note}");
    let event = Event { type_, reason: reason.into(), note: Some(note), action: "Reconcile".into(), secondary: None };
    if let Err(e) = ctx.recorder.publish(&event, &job.object_ref(&())).await {
        tracing::warn!(error = %e, "could not record an event");
    }
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

/// Fills in the status from what the pass saw (conditions, desired and ready pods, lifecycle,
/// error), retires savepoints retention no longer keeps, and writes it.
async fn finish(job: &FlinkJob, ctx: &Context, mut st: FlinkJobStatus, seen: Seen) -> Result<(), Error> {
    retire_savepoints(job, ctx, &mut st).await;
    let running = seen.lifecycle == LifecycleState::Running;
    let failed = seen.error.is_some();
    let mut progress = format!("{}/{} TaskManager pods ready", seen.ready, seen.desired);
    for why in &seen.waiting {
        progress = format!("{progress}; {why}");
    }
    let settled = matches!(
        seen.lifecycle,
        LifecycleState::Running | LifecycleState::Suspended | LifecycleState::Finished | LifecycleState::Failed
    );
    let savepointing = st.savepoint_in_progress.as_ref().map(|op| format!("{:?} savepoint {}", op.kind, op.trigger_id));
    st.observed_generation = job.metadata.generation;
    st.lifecycle_state = seen.lifecycle;
    st.job_id = st.run.as_ref().map(|_| crate::render::job_id(&as_deployed(job, &st)));
    st.task_managers_desired = seen.desired;
    st.task_managers_ready = seen.ready;
    st.conditions = vec![
        condition(job, "Ready", running, if running { "Running" } else { "NotReady" }, progress.clone()),
        condition(
            job,
            "Progressing",
            !settled && !failed,
            if settled { "Settled" } else { "Deploying" },
            format!("{:?}: {progress}", seen.lifecycle),
        ),
        condition(
            job,
            "Degraded",
            failed,
            seen.error.as_ref().map_or("Healthy", |(reason, _)| reason),
            seen.error.as_ref().map(|(_, message)| message.clone()).unwrap_or_default(),
        ),
        condition(
            job,
            "Savepointing",
            savepointing.is_some(),
            if savepointing.is_some() { "InProgress" } else { "Idle" },
            savepointing.unwrap_or_default(),
        ),
    ];
    st.error = seen.error.map(|(_, message)| message);
    write_status(job, ctx, st).await
}

/// Deletes the savepoints retention retires (see [`crate::savepoints::retired`]) from storage and
/// from the history; one that cannot be deleted stays listed, with a Warning event.
async fn retire_savepoints(job: &FlinkJob, ctx: &Context, st: &mut FlinkJobStatus) {
    for sp in crate::savepoints::retired(job, st, Timestamp::now()) {
        match crate::savepoints::delete(job, &ctx.client, &sp.location).await {
            Ok(files) => {
                let note = format!("deleted the {:?} savepoint {} ({files} files): retention", sp.kind, sp.location);
                publish(ctx, job, EventType::Normal, "SavepointDeleted", note).await;
                st.savepoints.retain(|s| s.trigger_id != sp.trigger_id);
            }
            Err(why) => publish(ctx, job, EventType::Warning, "SavepointNotDeleted", why).await,
        }
    }
}

fn condition(job: &FlinkJob, type_: &str, ok: bool, reason: &str, message: String) -> Condition {
    let generation = job.metadata.generation.unwrap_or(0);
    let previous = job.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == type_));
    let status = if ok { "True" } else { "False" }.to_string();
    // The transition time moves only when the status does (idempotent re-reconciles).
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Timestamp::now().to_string(),
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

/// Writes the status, conditioned on the resource version the pass read: a pass working from a
/// stale object (an operator restart, a lagging cache) gets a conflict and is retried on fresh data
/// instead of overwriting newer status.
async fn write_status(job: &FlinkJob, ctx: &Context, status: FlinkJobStatus) -> Result<(), Error> {
    let old = job.status.clone().unwrap_or_default();
    if old == status && job.status.is_some() {
        return Ok(());
    }
    let api: Api<FlinkJob> = Api::namespaced(ctx.client.clone(), &job.namespace().unwrap_or_default());
    let mut updated = job.clone();
    updated.status = Some(status.clone());
    // The status subresource ignores metadata; a deletion timestamp sent back would only be
    // refused by stricter stand-ins for the API server.
    updated.metadata.deletion_timestamp = None;
    api.replace_status(&job.name_any(), &PostParams::default(), &updated).await?;
    if old.lifecycle_state != status.lifecycle_state || job.status.is_none() {
        let type_ = if status.error.is_some() { EventType::Warning } else { EventType::Normal };
        let note =
            status.error.clone().unwrap_or_else(|| format!("{:?} → {:?}", old.lifecycle_state, status.lifecycle_state));
        publish(ctx, job, type_, &format!("{:?}", status.lifecycle_state), note).await;
    }
    Ok(())
}
