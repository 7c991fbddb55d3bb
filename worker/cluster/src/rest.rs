//! The JobManager's REST API, on Flink's paths and in Flink's shapes where the path is Flink's:
//!
//! | method and path | does |
//! | --- | --- |
//! | `GET /` | the web UI (`ui/index.html`): overview, jobs, the job graph with parallelism and back-pressure, checkpoint history, TaskManagers |
//! | `GET /overview` | TaskManagers, slots, jobs by state |
//! | `GET /jobs` | `{"jobs":[{"id","status"}]}` |
//! | `POST /jobs` | submits `{"job": {"kind": "registered", "name", "args"}, "config": {key: value}}` (settings by our keys or Flink's; the rest from the JobManager's configuration); answers `{"jobid"}` |
//! | `GET /jobs/{id}` | state, the job's spec, vertices with parallelism, status and counters, the plan's edges |
//! | `PATCH /jobs/{id}?mode=cancel` | cancels the job (202) |
//! | `GET /jobs/{id}/checkpoints` | counts, latest and history of completed checkpoints |
//! | `POST /jobs/{id}/savepoints` | `{"target-directory","cancel-job","triggerId"}`: triggers a savepoint, answers `{"request-id"}`; the same `triggerId` again returns the same request |
//! | `GET /jobs/{id}/savepoints/{request}` | `{"status":{"id":"IN_PROGRESS"\|"COMPLETED"},"operation":{"location"}\|{"failure-cause"}}` |
//! | `POST /jobs/{id}/stop` | `{"targetDirectory"}`: stop with a savepoint, answers `{"request-id"}` |
//! | `GET /taskmanagers` | registered TaskManagers with slots and heartbeats |
//! | `GET /metrics` | Prometheus text |
//! | `GET /healthz`, `GET /readyz` | the process is alive; it leads and serves |
//!
//! A standby JobManager (HA) answers `/healthz`, `/readyz` (503) and `/metrics` itself and forwards
//! every other call to the leader, so a Service may route to every JobManager pod.
//!
//! Errors answer `{"errors":["..."]}` with a 4xx or 5xx status, as Flink's do.

use crate::VERSION;
use crate::jobmanager::{Cluster, JobEntry};
use crate::prometheus::{CONTENT_TYPE, Exposition};
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crossbeam_channel::Receiver;
use ferroflink_core::error::Error;
use ferroflink_runtime::checkpoint::restore::read_metadata;
use ferroflink_runtime::minicluster::{JobHandle, JobState};
use ferroflink_types::spec::Submission;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One savepoint request and its outcome once known.
struct SavepointRequest {
    job_id: String,
    pending: Option<Receiver<ferroflink_core::error::Result<String>>>,
    outcome: Option<Result<String, String>>,
}

#[derive(Clone)]
struct Api {
    cluster: Arc<Cluster>,
    savepoints: Arc<Mutex<HashMap<String, SavepointRequest>>>,
}

/// The REST API of `cluster`.
pub fn router(cluster: Arc<Cluster>) -> axum::Router {
    let api = Api { cluster, savepoints: Arc::new(Mutex::new(HashMap::new())) };
    axum::Router::new()
        .route("/", get(|| async { axum::response::Html(include_str!("ui/index.html")) }))
        .route("/overview", get(overview))
        .route("/jobs", get(list_jobs).post(submit))
        .route("/jobs/{id}", get(job_detail).patch(cancel))
        .route("/jobs/{id}/checkpoints", get(checkpoints))
        .route("/jobs/{id}/savepoints", post(trigger_savepoint))
        .route("/jobs/{id}/savepoints/{request}", get(savepoint_status))
        .route("/jobs/{id}/stop", post(stop))
        .route("/jobs/{id}/restore-check", post(restore_check))
        .route("/jobs/{id}/plan", get(plan))
        .route("/taskmanagers", get(taskmanagers))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(axum::middleware::from_fn_with_state(api.clone(), forward_to_leader))
        .with_state(api)
}

async fn readyz(State(api): State<Api>) -> Response {
    if api.cluster.is_leader() {
        return "leading\n".into_response();
    }
    let why = match api.cluster.leader_rest_address() {
        Some(leader) => format!("standby; the leader serves at http://{leader}\n"),
        None => "not leading; no leader known yet\n".to_string(),
    };
    (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

/// On a standby, every call but the probes and `/metrics` is answered by the leader.
async fn forward_to_leader(State(api): State<Api>, request: Request, next: Next) -> Response {
    // Probes and metrics are the process's own.
    if api.cluster.is_leader() || matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    let Some(leader) = api.cluster.leader_rest_address() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this JobManager is a standby and no leader is known yet; retry shortly",
        );
    };
    let method = request.method().to_string();
    let url = format!("http://{leader}{}", request.uri().path_and_query().map_or("/", |p| p.as_str()));
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match axum::body::to_bytes(request.into_body(), 16 << 20).await {
        Ok(b) => b.to_vec(),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
    };
    let forwarded = tokio::task::spawn_blocking(move || forward(&method, &url, content_type.as_deref(), body)).await;
    match forwarded {
        Ok(Ok((status, content_type, bytes))) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = content_type.unwrap_or_else(|| "application/octet-stream".into());
            (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Ok(Err(e)) => error(StatusCode::BAD_GATEWAY, format!("this standby cannot reach the leader at {leader}: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("forwarding failed: {e}")),
    }
}

/// Sends one call to `url`: (status, content type, body).
fn forward(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<(u16, Option<String>, Vec<u8>), ureq::Error> {
    // One agent for every forwarded call: it keeps connections to the leader open.
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let agent = AGENT.get_or_init(crate::client::agent);
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let mut response = if body.is_empty() { agent.run(builder.body(())?)? } else { agent.run(builder.body(body)?)? };
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = response.body_mut().read_to_vec()?;
    Ok((response.status().as_u16(), content_type, bytes))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"errors": [message.into()]}))).into_response()
}

/// The answer to a command for a job that ended under an earlier leader.
fn ended_earlier(job: &JobEntry) -> Response {
    error(
        StatusCode::CONFLICT,
        format!(
            "job {} ended ({:?}) under an earlier JobManager leader; submit it again to rerun it",
            job.id,
            job.state().0
        ),
    )
}

fn not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("job {id} is not known to this JobManager (see GET /jobs)"))
}

async fn overview(State(api): State<Api>) -> Json<Value> {
    let (tms, slots, free) = api.cluster.slot_counts();
    let states: Vec<JobState> = api.cluster.jobs().iter().map(|j| j.state().0).collect();
    let count = |s: JobState| states.iter().filter(|x| **x == s).count();
    Json(json!({
        "flink-version": format!("ferroflink {VERSION}"),
        "taskmanagers": tms,
        "slots-total": slots,
        "slots-available": free,
        "jobs-running": states.iter().filter(|s| !s.is_terminal()).count(),
        "jobs-finished": count(JobState::Finished),
        "jobs-cancelled": count(JobState::Canceled),
        "jobs-failed": count(JobState::Failed),
    }))
}

async fn list_jobs(State(api): State<Api>) -> Json<Value> {
    let jobs: Vec<Value> =
        api.cluster.jobs().iter().map(|j| json!({"id": j.id, "status": j.state().0, "name": j.name})).collect();
    Json(json!({ "jobs": jobs }))
}

async fn submit(State(api): State<Api>, body: Option<Json<Submission>>) -> Response {
    let Some(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON body {\"job\": {\"kind\": \"registered\", \"name\": \"<job>\", \"args\": [...]}, \
             \"config\": {\"<key>\": <value>}}",
        );
    };
    let cluster = api.cluster.clone();
    match tokio::task::spawn_blocking(move || cluster.submit(body.job, &body.config)).await {
        Ok(Ok(id)) => Json(json!({ "jobid": id })).into_response(),
        Ok(Err(e @ (Error::InvalidJob(_) | Error::Config(_) | Error::CorruptSnapshot(_)))) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("the submission failed: {e}")),
    }
}

/// `POST /jobs/<id>/restore-check` with a submission's body: what restoring the job's latest
/// snapshot into that job would do (see [`Cluster::restore_check`]). Nothing is stopped or started.
async fn restore_check(State(api): State<Api>, Path(id): Path<String>, body: Option<Json<Submission>>) -> Response {
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "expected the body of POST /jobs: {\"job\": {...}, \"config\": {...}}");
    };
    if api.cluster.job(&id).is_none() {
        return not_found(&id);
    }
    let cluster = api.cluster.clone();
    match tokio::task::spawn_blocking(move || cluster.restore_check(&id, body.job, &body.config)).await {
        Ok(Ok(Some((snapshot, verdict)))) => Json(json!({
            "snapshot": snapshot,
            "compatible": verdict.compatible(false),
            "message": verdict.to_string(),
            "verdict": verdict,
        }))
        .into_response(),
        Ok(Ok(None)) => Json(json!({
            "snapshot": null,
            "compatible": true,
            "message": "the job has no snapshot yet: nothing would be restored",
        }))
        .into_response(),
        Ok(Err(e @ (Error::InvalidJob(_) | Error::Config(_) | Error::CorruptSnapshot(_)))) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("the check failed: {e}")),
    }
}

/// `GET /jobs/<id>/plan`: the job graph in Flink's shape (`{"plan": {"jid", "name", "type",
/// "nodes": [{"id", "parallelism", "operator", "operator_strategy", "description", "inputs",
/// "optimizer_properties"}]}}`), each node with its chained `operators` (id, name, description:
/// for SQL the operator, its changelog mode and state class) and their `state_size` in the
/// latest completed checkpoint.
async fn plan(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(job) = api.cluster.job(&id) else { return not_found(&id) };
    let latest = job.latest_checkpoint();
    // The sizes are in the checkpoint's `_metadata` (storage I/O: off the async threads).
    let sizes = tokio::task::spawn_blocking(move || {
        let metadata = latest.map(|c| read_metadata(c.storage.as_ref())).transpose();
        metadata.map(|m| m.map(|m| m.operators.iter().map(|o| (o.operator_id.clone(), o.state_size())).collect()))
    })
    .await;
    let sizes: HashMap<String, u64> = match sizes {
        Ok(Ok(sizes)) => sizes.unwrap_or_default(),
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the latest checkpoint: {e}")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let graph = &job.graph;
    let nodes: Vec<Value> = graph
        .vertices
        .iter()
        .map(|v| {
            let operators: Vec<Value> = v
                .nodes
                .iter()
                .map(|&n| {
                    let (node, id) = (&graph.graph.nodes[n], &graph.operator_ids[n]);
                    json!({
                        "id": id,
                        "name": node.name,
                        "description": node.description.clone().unwrap_or_else(|| node.name.clone()),
                        "state_size": sizes.get(id).copied().unwrap_or(0),
                    })
                })
                .collect();
            let description: Vec<&str> = operators.iter().filter_map(|o| o["description"].as_str()).collect();
            let inputs: Vec<Value> = graph
                .edges
                .iter()
                .filter(|e| e.target_vertex == v.index)
                .enumerate()
                .map(|(num, e)| {
                    json!({
                        "num": num,
                        "id": graph.vertices[e.source_vertex].id,
                        "ship_strategy": format!("{:?}", e.strategy).to_uppercase(),
                        "exchange": "pipelined_bounded",
                    })
                })
                .collect();
            json!({
                "id": v.id,
                "parallelism": v.parallelism,
                "operator": "",
                "operator_strategy": "",
                "description": description.join("\n"),
                "inputs": inputs,
                "optimizer_properties": {},
                "operators": operators,
            })
        })
        .collect();
    Json(json!({"plan": {"jid": job.id, "name": job.name, "type": "STREAMING", "nodes": nodes}})).into_response()
}

fn vertex_json(job: &JobEntry) -> Vec<Value> {
    let (state, _) = job.state();
    let graph = &job.graph;
    let results = job.handle.as_ref().map(JobHandle::vertices).unwrap_or_default();
    graph
        .vertices
        .iter()
        .map(|v| {
            let none = ferroflink_runtime::minicluster::VertexResult::default();
            let r = results.get(v.index).unwrap_or(&none);
            let sum = |f: fn(&ferroflink_runtime::metrics::TaskMetricsSnapshot) -> u64| r.subtasks.iter().map(f).sum::<u64>();
            let ms = |f: fn(&ferroflink_runtime::metrics::TaskMetricsSnapshot) -> std::time::Duration| {
                r.subtasks.iter().map(|s| f(s).as_millis() as u64).sum::<u64>()
            };
            let inputs: Vec<Value> = graph
                .edges
                .iter()
                .filter(|e| e.target_vertex == v.index)
                .map(|e| json!({"id": graph.vertices[e.source_vertex].id, "ship_strategy": format!("{:?}", e.strategy).to_uppercase()}))
                .collect();
            json!({
                "id": v.id,
                "name": v.name,
                "parallelism": v.parallelism,
                "maxParallelism": v.max_parallelism,
                "status": state,
                "inputs": inputs,
                "metrics": {
                    "read-records": sum(|s| s.records_in),
                    "numRecordsInErrors": sum(|s| s.records_in_errors),
                    "write-records": sum(|s| s.records_out),
                    "sink-records": sum(|s| s.sink_records),
                    "accumulated-busy-time": ms(|s| s.busy),
                    "accumulated-backpressured-time": ms(|s| s.backpressured),
                    "accumulated-idle-time": ms(|s| s.idle),
                },
            })
        })
        .collect()
}

async fn job_detail(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(job) = api.cluster.job(&id) else { return not_found(&id) };
    let (state, why) = job.state();
    let end = job.end_ms();
    let now = end.unwrap_or_else(crate::ha::now_ms);
    Json(json!({
        "jid": job.id,
        "name": job.name,
        "state": state,
        "status-message": why,
        "spec": job.spec,
        "start-time": job.start_ms,
        "end-time": end.map_or(-1, |e| e as i64),
        "duration": now.saturating_sub(job.start_ms),
        "vertices": vertex_json(&job),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct CancelQuery {
    mode: Option<String>,
}

async fn cancel(State(api): State<Api>, Path(id): Path<String>, Query(q): Query<CancelQuery>) -> Response {
    let Some(job) = api.cluster.job(&id) else { return not_found(&id) };
    if q.mode.as_deref().is_some_and(|m| m != "cancel") {
        return error(StatusCode::BAD_REQUEST, "the only mode is ?mode=cancel");
    }
    let Some(handle) = &job.handle else { return ended_earlier(&job) };
    handle.cancel();
    (StatusCode::ACCEPTED, Json(json!({}))).into_response()
}

async fn checkpoints(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let Some(job) = api.cluster.job(&id) else { return not_found(&id) };
    let history: Vec<Value> = job
        .handle
        .as_ref()
        .map(JobHandle::checkpoints)
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|c| {
            json!({
                "id": c.id,
                "status": "COMPLETED",
                "end_to_end_duration": c.duration.as_millis() as u64,
                "state_size": c.bytes,
                "external_path": c.storage.location(""),
                "is_savepoint": !c.own,
            })
        })
        .collect();
    Json(json!({
        "counts": {"completed": history.len(), "failed": job.handle.as_ref().map_or(0, JobHandle::failed_checkpoints)},
        "latest": {"completed": history.first()},
        "history": history,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SavepointBody {
    #[serde(rename = "target-directory", alias = "targetDirectory")]
    target: Option<String>,
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

fn start_savepoint(api: &Api, id: &str, body: SavepointBody, stop: bool) -> Response {
    let Some(job) = api.cluster.job(id) else { return not_found(id) };
    let Some(handle) = &job.handle else { return ended_earlier(&job) };
    let mut requests = api.savepoints.lock().expect("savepoint lock");
    if let Some(trigger) = &body.trigger_id
        && requests.get(trigger).is_some_and(|r| r.job_id == id)
    {
        return Json(json!({ "request-id": trigger })).into_response();
    }
    let Some(dir) = body.target.or_else(|| api.cluster.config().savepoints.dir.clone()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "no target directory: give \"target-directory\" or configure savepoints.dir",
        );
    };
    let request = body.trigger_id.unwrap_or_else(|| format!("{:032x}", rand_id()));
    let rx = handle.savepoint(&dir, stop || body.cancel_job);
    requests.insert(request.clone(), SavepointRequest { job_id: id.to_string(), pending: Some(rx), outcome: None });
    Json(json!({ "request-id": request })).into_response()
}

/// A request id nobody else has: the time and a process-wide counter, hashed.
fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let h = xxhash_rust::xxh64::xxh64(
        &[t.to_le_bytes(), u128::from(n).to_le_bytes()].concat(),
        u64::from(std::process::id()),
    );
    (u128::from(h) << 64) | u128::from(n)
}

async fn trigger_savepoint(
    State(api): State<Api>,
    Path(id): Path<String>,
    body: Option<Json<SavepointBody>>,
) -> Response {
    let body = body.map(|b| b.0).unwrap_or(SavepointBody { target: None, cancel_job: false, trigger_id: None });
    start_savepoint(&api, &id, body, false)
}

async fn stop(State(api): State<Api>, Path(id): Path<String>, body: Option<Json<SavepointBody>>) -> Response {
    let body = body.map(|b| b.0).unwrap_or(SavepointBody { target: None, cancel_job: true, trigger_id: None });
    start_savepoint(&api, &id, body, true)
}

async fn savepoint_status(State(api): State<Api>, Path((id, request)): Path<(String, String)>) -> Response {
    let mut requests = api.savepoints.lock().expect("savepoint lock");
    let Some(r) = requests.get_mut(&request).filter(|r| r.job_id == id) else {
        return error(StatusCode::NOT_FOUND, format!("no savepoint request {request} for job {id}"));
    };
    if let Some(rx) = &r.pending {
        match rx.try_recv() {
            Ok(outcome) => r.outcome = Some(outcome.map_err(|e| e.to_string())),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                r.outcome = Some(Err("the job ended before the savepoint completed".into()))
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        if r.outcome.is_some() {
            r.pending = None;
        }
    }
    match &r.outcome {
        None => Json(json!({"status": {"id": "IN_PROGRESS"}})).into_response(),
        Some(Ok(location)) => {
            Json(json!({"status": {"id": "COMPLETED"}, "operation": {"location": location}})).into_response()
        }
        Some(Err(why)) => Json(json!({
            "status": {"id": "COMPLETED"},
            "operation": {"failure-cause": {"class": "SavepointFailed", "stack-trace": why}}
        }))
        .into_response(),
    }
}

async fn taskmanagers(State(api): State<Api>) -> Json<Value> {
    let tms: Vec<Value> = api.cluster.with_taskmanagers(|t| {
        t.values()
            .map(|tm| {
                json!({
                    "id": tm.id,
                    "path": tm.metrics_address,
                    "dataPort": tm.data_address,
                    "slotsNumber": tm.slots,
                    "freeSlots": tm.free_slots(),
                    "memory": tm.memory_bytes,
                    "registered": tm.registered_ms,
                    "timeSinceLastHeartbeat": tm.last_heard.elapsed().as_millis() as u64,
                })
            })
            .collect()
    });
    Json(json!({ "taskmanagers": tms }))
}

async fn metrics(State(api): State<Api>) -> impl IntoResponse {
    let mut out = Exposition::default();
    let (tms, slots, free) = api.cluster.slot_counts();
    let leader = if api.cluster.is_leader() { 1.0 } else { 0.0 };
    out.single("ferroflink_jobmanager_leader", "gauge", "1 while this JobManager leads.", leader);
    out.single("ferroflink_jobmanager_taskmanagers", "gauge", "Registered TaskManagers.", tms as f64);
    out.single("ferroflink_jobmanager_slots", "gauge", "Task slots of the registered TaskManagers.", slots as f64);
    out.single("ferroflink_jobmanager_slots_free", "gauge", "Task slots no job holds.", free as f64);
    let all = api.cluster.jobs();
    let jobs: Vec<(&JobEntry, &JobHandle)> =
        all.iter().filter_map(|j| Some((j.as_ref(), j.handle.as_ref()?))).collect();
    let checkpoints: Vec<_> = jobs.iter().map(|(_, h)| h.checkpoints()).collect();
    let vertices: Vec<_> = jobs.iter().map(|(_, h)| h.vertices()).collect();
    let now = crate::ha::now_ms() as f64;
    type JobSeries<'a> = (&'a str, &'a str, &'a str, Box<dyn Fn(usize) -> Option<f64> + 'a>);
    let series: [JobSeries; 8] = [
        (
            "ferroflink_job_restarts_total",
            "counter",
            "Restarts of the job.",
            Box::new(|i| Some(jobs[i].1.restarts() as f64)),
        ),
        (
            "ferroflink_job_records_in_total",
            "counter",
            "Records read by the job's sources (current attempt).",
            Box::new(|i| Some(jobs[i].1.progress().0 as f64)),
        ),
        (
            "ferroflink_job_sink_records_total",
            "counter",
            "Records written by the job's sinks (current attempt).",
            Box::new(|i| Some(jobs[i].1.progress().1 as f64)),
        ),
        (
            "ferroflink_job_checkpoints_completed_total",
            "counter",
            "Completed checkpoints and savepoints.",
            Box::new(|i| Some(checkpoints[i].len() as f64)),
        ),
        (
            "ferroflink_job_checkpoints_failed_total",
            "counter",
            "Failed checkpoints.",
            Box::new(|i| Some(jobs[i].1.failed_checkpoints() as f64)),
        ),
        (
            "ferroflink_job_last_checkpoint_duration_seconds",
            "gauge",
            "How long the latest completed checkpoint took.",
            Box::new(|i| checkpoints[i].last().map(|c| c.duration.as_secs_f64())),
        ),
        (
            "ferroflink_job_last_checkpoint_size_bytes",
            "gauge",
            "Bytes the latest completed checkpoint stored.",
            Box::new(|i| checkpoints[i].last().map(|c| c.bytes as f64)),
        ),
        (
            "ferroflink_job_watermark_lag_seconds",
            "gauge",
            "Wall-clock time minus the job's lowest task watermark.",
            Box::new(|i| {
                let lowest = vertices[i].iter().flat_map(|v| v.subtasks.iter().filter_map(|s| s.watermark)).min()?;
                Some((now - lowest as f64) / 1000.0)
            }),
        ),
    ];
    for (name, kind, help, value) in &series {
        out.family(name, kind, help);
        for (i, (job, _)) in jobs.iter().enumerate() {
            if let Some(v) = value(i) {
                out.sample(name, &[("job_id", &job.id), ("job_name", &job.name)], v);
            }
        }
    }
    type VertexSeries<'a> = (&'a str, &'a str, fn(&ferroflink_runtime::metrics::TaskMetricsSnapshot) -> f64);
    let per_vertex: [VertexSeries; 6] = [
        ("ferroflink_vertex_records_in_total", "Records that entered the vertex's subtasks.", |s| s.records_in as f64),
        (
            "ferroflink_vertex_records_in_errors_total",
            "Malformed records the vertex's sources skipped (numRecordsInErrors).",
            |s| s.records_in_errors as f64,
        ),
        ("ferroflink_vertex_records_out_total", "Records the vertex's subtasks sent downstream.", |s| {
            s.records_out as f64
        }),
        ("ferroflink_vertex_busy_seconds_total", "Time the vertex's subtasks spent processing.", |s| {
            s.busy.as_secs_f64()
        }),
        ("ferroflink_vertex_idle_seconds_total", "Time the vertex's subtasks waited for input.", |s| {
            s.idle.as_secs_f64()
        }),
        (
            "ferroflink_vertex_backpressured_seconds_total",
            "Time the vertex's subtasks were blocked on full outputs.",
            |s| s.backpressured.as_secs_f64(),
        ),
    ];
    for (name, help, value) in per_vertex {
        out.family(name, "counter", help);
        for ((job, _), vertices) in jobs.iter().zip(&vertices) {
            for (v, r) in job.graph.vertices.iter().zip(vertices) {
                let total: f64 = r.subtasks.iter().map(value).sum();
                out.sample(name, &[("job_id", &job.id), ("vertex", &v.name)], total);
            }
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.finish())
}
