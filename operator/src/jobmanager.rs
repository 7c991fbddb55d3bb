//! The operator's side of a JobManager's REST API: job state, checkpoints, readiness of the
//! leader, and savepoints (trigger with a client-chosen trigger id, which the JobManager treats
//! idempotently, then poll).

use crate::crd::{CheckpointInfo, FlinkJob};
use crate::reconcile::Context;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::{Value, json};
use std::time::Duration;

/// Where the JobManagers' Kubernetes HA publishes the leader's REST address on its Lease (see
/// `worker/cluster/src/ha/kubernetes.rs`).
pub const LEADER_REST_ANNOTATION: &str = "ferroflink.io/rest-address";

/// `method base + path` of a JobManager, with a JSON body: the status and the answer (JSON, else
/// its text), or why it did not answer.
async fn call(method: &'static str, base: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
    let url = format!("{base}{path}");
    let base = base.to_string();
    tokio::task::spawn_blocking(move || {
        static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
        let agent = AGENT.get_or_init(|| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into()
        });
        let answer = match body {
            Some(body) => agent.post(&url).send_json(&body),
            None if method == "GET" => agent.get(&url).call(),
            None => agent.post(&url).send_empty(),
        };
        let mut response = answer.map_err(|e| format!("the JobManager at {base} does not answer: {e}"))?;
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text.trim().to_string()));
        Ok((response.status().as_u16(), body))
    })
    .await
    .map_err(|e| format!("asking the JobManager failed: {e}"))?
}

fn refused(base: &str, status: u16, body: &Value) -> String {
    let why = body["errors"].as_array().and_then(|e| e.first()).and_then(Value::as_str).map(str::to_string);
    format!("the JobManager at {base} answered {status}: {}", why.unwrap_or_else(|| body.to_string()))
}

/// What the JobManager says of the job: its state (Flink's names) and status message, or why it
/// could not be asked. A job it does not know is `NOT_STARTED`.
pub async fn job_view(base: &str, job_id: &str) -> Result<(String, Option<String>), String> {
    match call("GET", base, &format!("/jobs/{job_id}"), None).await? {
        (200, body) => Ok((
            body["state"].as_str().unwrap_or("UNKNOWN").to_string(),
            body["status-message"].as_str().map(str::to_string),
        )),
        (404, _) => Ok(("NOT_STARTED".to_string(), None)),
        (s, body) => Err(refused(base, s, &body)),
    }
}

/// Asks the JobManager whether the job's latest snapshot would restore into `job` (a
/// `POST /jobs` job: registered or SQL) with `config` over its settings: `None` when it would
/// (losing state counts only without `allow_lost`), else why not: the state it would lose, or
/// the planner's error when the new job does not plan. A JobManager that cannot tell (an image
/// without the check) lets the upgrade go on.
pub async fn refused_upgrade(base: &str, job_id: &str, job: Value, config: Value, allow_lost: bool) -> Option<String> {
    let body = json!({"job": job, "config": config});
    match call("POST", base, &format!("/jobs/{job_id}/restore-check"), Some(body)).await {
        Ok((200, body)) => {
            let count = |field: &str| body["verdict"][field].as_array().map_or(0, Vec::len);
            let fits = count("rekeyed") == 0 && (count("lost") == 0 || allow_lost);
            let snapshot = body["snapshot"].as_str().unwrap_or("its latest snapshot");
            let message = body["message"].as_str().unwrap_or_default().trim_end();
            (!fits).then(|| {
                format!(
                    "the new spec cannot take over the job's state ({snapshot}): {message}; keep those operators, \
                     set job.allowNonRestoredState to drop their state, or use upgradeMode stateless"
                )
            })
        }
        Ok((400, body)) => Some(format!("the new spec does not plan: {}", refused(base, 400, &body))),
        Ok((status, body)) => {
            tracing::warn!(job_id, status, %body, "the JobManager cannot check the upgrade; going on without the check");
            None
        }
        Err(why) => {
            tracing::warn!(job_id, "cannot check the upgrade ({why}); going on without the check");
            None
        }
    }
}

/// The job's latest completed checkpoint, if it has one.
pub async fn latest_checkpoint(base: &str, job_id: &str) -> Result<Option<CheckpointInfo>, String> {
    match call("GET", base, &format!("/jobs/{job_id}/checkpoints"), None).await? {
        (200, body) => {
            let latest = &body["latest"]["completed"];
            Ok(latest["id"].as_i64().map(|id| CheckpointInfo {
                id,
                location: latest["external_path"].as_str().unwrap_or_default().to_string(),
                seen: k8s_openapi::jiff::Timestamp::now().to_string(),
            }))
        }
        (s, body) => Err(refused(base, s, &body)),
    }
}

/// Asks for a savepoint of the job into `target` (the JobManager's `savepoints.dir` when `None`),
/// stopping the job with it when `stop`. Asking again with the same trigger id is answered with
/// the same request.
pub async fn trigger_savepoint(
    base: &str,
    job_id: &str,
    trigger_id: &str,
    target: Option<&str>,
    stop: bool,
) -> Result<(), Trouble> {
    let path = if stop { format!("/jobs/{job_id}/stop") } else { format!("/jobs/{job_id}/savepoints") };
    let mut body = json!({"triggerId": trigger_id, "cancel-job": stop});
    if let Some(t) = target {
        body["target-directory"] = json!(t);
    }
    match call("POST", base, &path, Some(body)).await.map_err(Trouble::Unreachable)? {
        (200..=299, _) => Ok(()),
        (s @ 400..=499, body) => Err(Trouble::Refused(refused(base, s, &body))),
        (s, body) => Err(Trouble::Unreachable(refused(base, s, &body))),
    }
}

/// Why a JobManager call did not succeed.
#[derive(Debug)]
pub enum Trouble {
    /// Nobody answered, or the answer was a server error: worth asking again.
    Unreachable(String),
    /// The JobManager refused the request (4xx): asking again will not help.
    Refused(String),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Unreachable(why) | Trouble::Refused(why) => f.write_str(why),
        }
    }
}

/// Where a savepoint request is.
#[derive(Debug, PartialEq)]
pub enum SavepointState {
    /// Still being taken.
    InProgress,
    /// Done, at this location.
    Completed(String),
    /// It failed, for this reason.
    Failed(String),
    /// The JobManager does not know the request (it restarted since): ask again.
    Unknown,
}

/// The state of the savepoint asked for under `trigger_id`.
pub async fn savepoint_state(base: &str, job_id: &str, trigger_id: &str) -> Result<SavepointState, String> {
    match call("GET", base, &format!("/jobs/{job_id}/savepoints/{trigger_id}"), None).await? {
        (200, body) => Ok(match (body["status"]["id"].as_str(), body["operation"]["location"].as_str()) {
            (Some("COMPLETED"), Some(location)) => SavepointState::Completed(location.to_string()),
            (Some("COMPLETED"), None) => SavepointState::Failed(
                body["operation"]["failure-cause"]["stack-trace"].as_str().unwrap_or("no reason given").to_string(),
            ),
            _ => SavepointState::InProgress,
        }),
        (404, _) => Ok(SavepointState::Unknown),
        (s, body) => Err(refused(base, s, &body)),
    }
}

/// Whether the leading JobManager is ready by its own `/readyz`: the one the job's HA Lease names
/// (the JobManagers publish their REST address there), else the only one, through the Service.
pub async fn leader_ready(job: &FlinkJob, ctx: &Context, ns: &str) -> Result<(), String> {
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
    match call("GET", &base, "/readyz", None).await? {
        (200, _) => Ok(()),
        (s, body) => Err(format!("the leading JobManager at {base} is not ready ({s}: {body})")),
    }
}
