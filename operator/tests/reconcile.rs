//! The reconciler against an in-memory API server (kube-fake-client: resource versions, conflicts,
//! status subresource, server-side apply): create, idempotent re-reconcile, readiness and status,
//! spec change redeploy, failed TaskManager pod replaced, deletion through the finalizer; the job
//! state and the Ready condition from a JobManager's REST API (a stand-in server on 127.0.0.1).

use ferroflink_operator::crd::{FlinkJob, FlinkJobSpec, LifecycleState};
use ferroflink_operator::reconcile::{Context, FINALIZER, reconcile};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::sync::Arc;

const NS: &str = "streaming";

async fn client() -> Client {
    kube_fake_client::ClientBuilder::new()
        .with_resource::<FlinkJob>()
        .with_resource::<Lease>()
        .with_status_subresource::<Pod>()
        .build()
        .await
        .unwrap()
}

fn spec(parallelism: i32) -> FlinkJobSpec {
    serde_json::from_value(json!({
        "image": "ferroflink:test",
        "job": {"name": "nexmark", "args": ["--query", "q5"], "parallelism": parallelism},
        "taskManager": {"slots": 4, "resources": {"cpu": "4", "memory": "4Gi"}},
        "checkpointing": {"storage": "s3://bucket/ck"},
    }))
    .unwrap()
}

async fn create(client: &Client, parallelism: i32) -> Api<FlinkJob> {
    let api: Api<FlinkJob> = Api::namespaced(client.clone(), NS);
    let mut job = FlinkJob::new("bids", spec(parallelism));
    job.metadata.namespace = Some(NS.into());
    api.create(&PostParams::default(), &job).await.unwrap();
    api
}

async fn pass(client: &Client, api: &Api<FlinkJob>) {
    let job = api.get("bids").await.unwrap();
    reconcile(Arc::new(job), Arc::new(Context::new(client.clone()))).await.unwrap();
}

/// A stand-in for a JobManager's REST API: `GET /jobs/{id}` answers the state set last, `GET
/// /readyz` 200 while it leads.
struct FakeJobManager {
    url: String,
    state: Arc<std::sync::Mutex<(&'static str, &'static str)>>,
    leading: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeJobManager {
    async fn start() -> FakeJobManager {
        let state = Arc::new(std::sync::Mutex::new(("RUNNING", "")));
        let leading = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (shared, ready) = (state.clone(), leading.clone());
        let app = axum::Router::new()
            .route(
                "/jobs/{id}",
                axum::routing::get(move |axum::extract::Path(id): axum::extract::Path<String>| {
                    let (state, message) = *shared.lock().unwrap();
                    async move { axum::Json(json!({"jid": id, "state": state, "status-message": message})) }
                }),
            )
            .route(
                "/jobs/{id}/checkpoints",
                axum::routing::get(|| async {
                    axum::Json(json!({"latest": {"completed": {"id": 7, "external_path": "s3://bucket/ck/x/chk-7"}}}))
                }),
            )
            .route(
                "/readyz",
                axum::routing::get(move || {
                    let leading = ready.load(std::sync::atomic::Ordering::SeqCst);
                    async move {
                        match leading {
                            true => (axum::http::StatusCode::OK, "leading\n"),
                            false => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "standby\n"),
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeJobManager { url, state, leading }
    }

    /// Publishes this JobManager as the leader on the job's HA Lease, as the engine's Kubernetes
    /// HA does.
    async fn lead(&self, client: &Client, api: &Api<FlinkJob>) {
        let job = api.get("bids").await.unwrap();
        let name = format!("{}-jobmanager-leader", ferroflink_operator::render::ha_cluster_id(&job));
        let mut lease = Lease::default();
        lease.metadata.name = Some(name);
        lease.metadata.annotations = Some(std::collections::BTreeMap::from([(
            ferroflink_operator::reconcile::LEADER_REST_ANNOTATION.to_string(),
            self.url.trim_start_matches("http://").to_string(),
        )]));
        Api::<Lease>::namespaced(client.clone(), NS).create(&PostParams::default(), &lease).await.unwrap();
    }

    fn set(&self, state: &'static str, message: &'static str) {
        *self.state.lock().unwrap() = (state, message);
    }

    async fn pass(&self, client: &Client, api: &Api<FlinkJob>) {
        let job = api.get("bids").await.unwrap();
        let url = self.url.clone();
        let ctx = Context::with_jobmanager_url(client.clone(), Arc::new(move |_: &FlinkJob| url.clone()));
        reconcile(Arc::new(job), Arc::new(ctx)).await.unwrap();
    }
}

async fn taskmanagers(client: &Client) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut list =
        pods.list(&ListParams::default().labels("app.kubernetes.io/component=taskmanager")).await.unwrap().items;
    list.sort_by_key(|p| p.name_any());
    list
}

#[tokio::test]
async fn creates_everything_and_a_second_pass_changes_nothing() {
    let client = client().await;
    let api = create(&client, 10).await;
    pass(&client, &api).await; // adds the finalizer
    assert_eq!(api.get("bids").await.unwrap().finalizers(), [FINALIZER.to_string()]);
    pass(&client, &api).await;
    let cm: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    assert!(cm.get("bids-config").await.unwrap().data.unwrap()["ferroflink.yaml"].contains("parallelism: 10"));
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), NS);
    assert_eq!(deploy.get("bids-jobmanager").await.unwrap().spec.unwrap().replicas, Some(1));
    let roles: Api<Role> = Api::namespaced(client.clone(), NS);
    assert!(roles.get_opt("bids-job").await.unwrap().is_some());
    let pods = taskmanagers(&client).await;
    let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
    assert_eq!(names, ["bids-taskmanager-0", "bids-taskmanager-1", "bids-taskmanager-2"]);
    let status = api.get("bids").await.unwrap().status.unwrap();
    assert_eq!((status.task_managers_desired, status.task_managers_ready), (3, 0));
    assert_eq!(status.lifecycle_state, LifecycleState::Deploying);
    assert_eq!(status.observed_generation, api.get("bids").await.unwrap().metadata.generation);

    let before: Vec<(String, Option<String>)> = pods.iter().map(|p| (p.name_any(), p.uid())).collect();
    let status_before = api.get("bids").await.unwrap().status;
    pass(&client, &api).await;
    let after: Vec<(String, Option<String>)> =
        taskmanagers(&client).await.iter().map(|p| (p.name_any(), p.uid())).collect();
    assert_eq!(before, after, "no pod churn");
    assert_eq!(api.get("bids").await.unwrap().status, status_before, "status unchanged");
}

async fn make_ready(client: &Client) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    for p in taskmanagers(client).await {
        let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        pods.patch_status(&p.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    }
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let status = json!({"status": {"readyReplicas": 1}});
    deploy.patch_status("bids-jobmanager", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_pods_and_a_running_job_make_it_running_and_a_failed_pod_is_replaced() {
    let client = client().await;
    let api = create(&client, 8).await;
    let jm = FakeJobManager::start().await;
    jm.pass(&client, &api).await;
    jm.pass(&client, &api).await;
    make_ready(&client).await;
    jm.set("CREATED", "needs 8 slots; 1 TaskManager(s) with 4 free");
    jm.pass(&client, &api).await;
    let status = api.get("bids").await.unwrap().status.unwrap();
    assert_eq!((status.lifecycle_state, status.job_state.as_deref()), (LifecycleState::Deploying, Some("CREATED")));
    jm.set("RUNNING", "");
    jm.pass(&client, &api).await;
    let status = api.get("bids").await.unwrap().status.unwrap();
    assert_eq!(status.lifecycle_state, LifecycleState::Deploying, "no leader on the Lease yet");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert!(ready.status == "False" && ready.message.contains("no JobManager leads yet"), "{ready:?}");
    jm.lead(&client, &api).await;
    jm.pass(&client, &api).await;
    let status = api.get("bids").await.unwrap().status.unwrap();
    assert_eq!(status.lifecycle_state, LifecycleState::Running);
    assert_eq!(status.job_state.as_deref(), Some("RUNNING"));
    assert_eq!(status.task_managers_ready, 2);
    assert!(status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    // The JobManager the Lease names stops leading: not ready, and the status says so.
    jm.leading.store(false, std::sync::atomic::Ordering::SeqCst);
    jm.pass(&client, &api).await;
    let status = api.get("bids").await.unwrap().status.unwrap();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert!(ready.status == "False" && ready.message.contains("is not ready (503"), "{ready:?}");
    jm.leading.store(true, std::sync::atomic::Ordering::SeqCst);

    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let old = pods.get("bids-taskmanager-1").await.unwrap().uid();
    let failed = json!({"status": {"phase": "Failed"}});
    pods.patch_status("bids-taskmanager-1", &PatchParams::default(), &Patch::Merge(&failed)).await.unwrap();
    jm.pass(&client, &api).await; // deletes the failed pod
    jm.pass(&client, &api).await; // creates its replacement
    let new = pods.get("bids-taskmanager-1").await.unwrap();
    assert_ne!(new.uid(), old, "a fresh pod");
    assert_eq!(taskmanagers(&client).await.len(), 2);
    assert_eq!(api.get("bids").await.unwrap().status.unwrap().lifecycle_state, LifecycleState::Deploying);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_state_comes_from_the_jobmanager() {
    let client = client().await;
    let api = create(&client, 4).await;
    let jm = FakeJobManager::start().await;
    jm.pass(&client, &api).await; // the finalizer
    jm.pass(&client, &api).await; // the objects
    make_ready(&client).await;
    let status = |api: Api<FlinkJob>| async move { api.get("bids").await.unwrap().status.unwrap() };
    let condition = |s: &ferroflink_operator::crd::FlinkJobStatus, t: &str| {
        s.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
            .unwrap()
    };

    jm.set("FAILED", "task HotItems (1/4) failed: disk full");
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    assert_eq!((s.lifecycle_state, s.job_state.as_deref()), (LifecycleState::Failed, Some("FAILED")));
    let (degraded, reason, message) = condition(&s, "Degraded");
    assert_eq!((degraded.as_str(), reason.as_str()), ("True", "JobFailed"));
    assert!(message.contains("disk full"), "{message}");

    jm.set("FINISHED", "");
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    assert_eq!((s.lifecycle_state, s.job_state.as_deref()), (LifecycleState::Finished, Some("FINISHED")));
    assert_eq!(condition(&s, "Degraded").0, "False");

    // A JobManager that does not answer: not ready, the last known job state kept, the reason said.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let job = api.get("bids").await.unwrap();
    let ctx = Context::with_jobmanager_url(client.clone(), Arc::new(move |_: &FlinkJob| format!("http://{gone}")));
    reconcile(Arc::new(job), Arc::new(ctx)).await.unwrap();
    let s = status(api.clone()).await;
    assert_eq!((s.lifecycle_state, s.job_state.as_deref()), (LifecycleState::Deploying, Some("FINISHED")));
    let (ready, _, message) = condition(&s, "Ready");
    assert_eq!(ready, "False");
    assert!(message.contains("does not answer"), "{message}");
}

#[tokio::test]
async fn a_spec_change_redeploys_as_a_new_run() {
    let client = client().await;
    let api = create(&client, 8).await;
    pass(&client, &api).await;
    pass(&client, &api).await;
    let old_id = api.get("bids").await.unwrap().status.unwrap().job_id.unwrap();
    // What the first run's JobManagers wrote (their Kubernetes HA), and another FlinkJob's.
    let old_run = ferroflink_operator::render::ha_cluster_id(&api.get("bids").await.unwrap());
    ha_records(&client, &old_run).await;
    ha_records(&client, "0000-other-job-1").await;
    let old_pods: Vec<Option<String>> = taskmanagers(&client).await.iter().map(|p| p.uid()).collect();
    let change = json!({"spec": {"job": {"parallelism": 12}}});
    api.patch("bids", &PatchParams::default(), &Patch::Merge(&change)).await.unwrap();
    pass(&client, &api).await; // records run 2
    pass(&client, &api).await; // deploys it: the old pods go
    pass(&client, &api).await; // and new ones come under their names
    let pods = taskmanagers(&client).await;
    assert_eq!(pods.len(), 3, "12 / 4 slots");
    assert!(pods.iter().all(|p| !old_pods.contains(&p.uid())), "every TaskManager was replaced");
    let job = api.get("bids").await.unwrap();
    let status = job.status.unwrap();
    assert_eq!(status.observed_generation, job.metadata.generation);
    assert_ne!(status.job_id.unwrap(), old_id, "a new run gets a fresh job id");
    let cm: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    assert!(cm.get("bids-config").await.unwrap().data.unwrap()["ferroflink.yaml"].contains("parallelism: 12"));
    // The old run's HA records are dropped (a fresh run must not resume it); others stay.
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    assert!(leases.get_opt(&format!("{old_run}-jobmanager-leader")).await.unwrap().is_none());
    assert!(cm.get_opt(&format!("{old_run}-jobmanager-ha")).await.unwrap().is_none());
    assert!(leases.get_opt("0000-other-job-1-jobmanager-leader").await.unwrap().is_some());
    assert!(cm.get_opt("0000-other-job-1-jobmanager-ha").await.unwrap().is_some());
}

/// The Lease and ConfigMap the engine's Kubernetes HA keeps for HA cluster `id`.
async fn ha_records(client: &Client, id: &str) {
    let labels =
        std::collections::BTreeMap::from([(ferroflink_operator::render::HA_CLUSTER_LABEL.to_string(), id.to_string())]);
    let mut lease = Lease::default();
    lease.metadata.name = Some(format!("{id}-jobmanager-leader"));
    lease.metadata.labels = Some(labels.clone());
    Api::<Lease>::namespaced(client.clone(), NS).create(&PostParams::default(), &lease).await.unwrap();
    let mut map = ConfigMap::default();
    map.metadata.name = Some(format!("{id}-jobmanager-ha"));
    map.metadata.labels = Some(labels);
    Api::<ConfigMap>::namespaced(client.clone(), NS).create(&PostParams::default(), &map).await.unwrap();
}

#[tokio::test]
async fn deletion_releases_the_finalizer_and_owned_objects_follow() {
    let client = client().await;
    let api = create(&client, 4).await;
    pass(&client, &api).await;
    pass(&client, &api).await;
    // What the API server does on delete while a finalizer is present: set deletionTimestamp and
    // hand the object to the controller (the in-memory server deletes at once, so do it by hand).
    let mut job = api.get("bids").await.unwrap();
    job.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()));
    let run = ferroflink_operator::render::ha_cluster_id(&job);
    ha_records(&client, &run).await;
    let ctx = Arc::new(Context::new(client.clone()));
    reconcile(Arc::new(job.clone()), ctx.clone()).await.unwrap();
    assert!(api.get("bids").await.unwrap().finalizers().is_empty(), "the finalizer let go");
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    assert!(leases.get_opt(&format!("{run}-jobmanager-leader")).await.unwrap().is_none(), "HA records go too");
    // A second delivery of the same (now stale) object must not loop or fail the deletion.
    let err = reconcile(Arc::new(job), ctx).await.unwrap_err();
    assert!(err.to_string().contains("409") || err.to_string().to_lowercase().contains("conflict"), "{err}");
    // Garbage collection by owner references takes the JobManager and TaskManagers with it.
    api.delete("bids", &DeleteParams::default()).await.unwrap();
    assert!(taskmanagers(&client).await.is_empty());
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), NS);
    assert!(deploy.get_opt("bids-jobmanager").await.unwrap().is_none());
}

#[tokio::test]
async fn a_stale_object_gets_a_conflict_not_a_lost_update() {
    let client = client().await;
    let api = create(&client, 4).await;
    let stale = api.get("bids").await.unwrap();
    // Someone else changes the FlinkJob after we read it.
    let change = json!({"metadata": {"labels": {"team": "x"}}});
    api.patch("bids", &PatchParams::default(), &Patch::Merge(&change)).await.unwrap();
    let err = reconcile(Arc::new(stale), Arc::new(Context::new(client.clone()))).await.unwrap_err();
    assert!(err.to_string().contains("409") || err.to_string().to_lowercase().contains("conflict"), "{err}");
    assert_eq!(api.get("bids").await.unwrap().labels()["team"], "x", "their change survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_stalled_and_nudged_jobs_restart_from_their_latest_checkpoint() {
    let client = client().await;
    let api = create(&client, 4).await;
    let patch = json!({"spec": {"checkpointing": {"interval": "1s", "restartAfterMissed": 2}}});
    api.patch("bids", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let jm = FakeJobManager::start().await;
    let status = |api: Api<FlinkJob>| async move { api.get("bids").await.unwrap().status.unwrap() };
    // Deploys the current run and brings it to Running.
    let run_it = async |api: &Api<FlinkJob>| {
        jm.pass(&client, api).await;
        make_ready(&client).await;
        jm.lead(&client, api).await;
        jm.set("RUNNING", "");
        jm.pass(&client, api).await;
        let s = api.get("bids").await.unwrap().status.unwrap();
        assert_eq!(s.lifecycle_state, LifecycleState::Running, "{s:?}");
        assert!(s.run.unwrap().running_since.is_some());
        assert_eq!(s.last_checkpoint.unwrap().id, 7);
    };
    jm.pass(&client, &api).await; // the finalizer
    jm.pass(&client, &api).await; // run 1
    run_it(&api).await;

    // It fails: the JobManagers go first, then run 2 starts from what their HA records name.
    let job = api.get("bids").await.unwrap();
    let records = json!({"fence": 1, "jobs": {ferroflink_operator::render::job_id(&job): {"resume_from": "s3://bucket/ck/x/chk-9"}}});
    let mut map = ConfigMap::default();
    map.metadata.name = Some(format!("{}-jobmanager-ha", ferroflink_operator::render::ha_cluster_id(&job)));
    map.data = Some(std::collections::BTreeMap::from([("jobs.json".to_string(), records.to_string())]));
    Api::<ConfigMap>::namespaced(client.clone(), NS).create(&PostParams::default(), &map).await.unwrap();
    jm.set("FAILED", "task HotItems (1/4) failed: disk full");
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    assert_eq!(s.restart.as_ref().unwrap().reason, "failed");
    assert!(s.restart.unwrap().message.contains("disk full"));
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    let run = s.run.unwrap();
    assert_eq!((run.number, run.reason.as_str()), (2, "failed"));
    assert_eq!(run.restored_from.as_deref(), Some("s3://bucket/ck/x/chk-9"), "the HA records win");
    assert!(s.restart.is_none());

    // Running, but no new checkpoint for more than two intervals: stalled, restarted.
    run_it(&api).await;
    let config = Api::<ConfigMap>::namespaced(client.clone(), NS).get("bids-config").await.unwrap();
    assert!(config.data.unwrap()["ferroflink.yaml"].contains("chk-9"), "the run restores it");
    // It fails again right after its restart: left Failed, not restarted again (no loop).
    jm.set("FAILED", "task HotItems (1/4) failed: disk full");
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    assert_eq!((s.run.as_ref().unwrap().number, s.restart.is_none()), (2, true));
    assert_eq!(s.lifecycle_state, LifecycleState::Failed);
    assert!(s.error.unwrap().contains("failed again"));
    jm.set("RUNNING", "");
    jm.pass(&client, &api).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    let restart = s.restart.unwrap();
    assert_eq!(restart.reason, "stalled");
    assert!(restart.message.contains("no checkpoint completed"), "{}", restart.message);
    jm.pass(&client, &api).await;
    let run = status(api.clone()).await.run.unwrap();
    assert_eq!((run.number, run.reason.as_str()), (3, "stalled"));
    assert_eq!(run.restored_from.as_deref(), Some("s3://bucket/ck/x/chk-7"), "no HA records: the latest seen");

    // restartNonce: once per value.
    run_it(&api).await;
    let patch = json!({"spec": {"job": {"restartNonce": 1}}});
    api.patch("bids", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    jm.pass(&client, &api).await;
    assert_eq!(status(api.clone()).await.restart.unwrap().reason, "restart");
    jm.pass(&client, &api).await;
    assert_eq!(status(api.clone()).await.run.unwrap().number, 4);
    run_it(&api).await;
    jm.pass(&client, &api).await;
    let s = status(api.clone()).await;
    assert_eq!((s.run.unwrap().number, s.restart.is_none()), (4, true), "the same nonce restarts nothing");
}
