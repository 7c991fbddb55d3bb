//! A client of the JobManager's REST API, behind `ferroflink submit | list | cancel | savepoint |
//! stop` (and usable by tests).

use ferroflink_core::error::{Error, Result};
use ferroflink_types::spec::Submission;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An HTTP agent for JobManager REST calls: error statuses are answers, not errors; 30 s at most.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Talks to one JobManager's REST API.
pub struct RestClient {
    base: String,
    agent: ureq::Agent,
}

impl RestClient {
    /// A client of the REST API at `base` (`http://host:port`; `host:port` also works).
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = if base.contains("://") { base.to_string() } else { format!("http://{base}") };
        RestClient { base, agent: agent() }
    }

    /// Calls `method path` with an optional JSON body; answers the JSON reply, or the API's error.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: ureq::Error| Error::Cluster(format!("cannot reach the JobManager at {}: {e}", self.base));
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("POST", Some(b)) => self.agent.post(&url).send_json(b),
            ("POST", None) => self.agent.post(&url).send_empty(),
            ("PATCH", _) => self.agent.patch(&url).send_empty(),
            _ => return Err(Error::Internal(format!("unsupported method {method}"))),
        }
        .map_err(unreachable)?;
        let status = response.status();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(value);
        }
        let message = value["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_else(|| value.to_string());
        Err(Error::Cluster(format!("{method} {path} failed ({status}): {message}")))
    }

    /// Submits a job (`POST /jobs`); answers its id. Settings it does not set are the JobManager's.
    pub fn submit(&self, submission: &Submission) -> Result<String> {
        let body = serde_json::to_value(submission).expect("a submission serializes");
        let reply = self.call("POST", "/jobs", Some(body))?;
        reply["jobid"].as_str().map(str::to_string).ok_or_else(|| Error::Cluster(format!("unexpected reply {reply}")))
    }

    /// `(id, status, name)` of every job.
    pub fn list(&self) -> Result<Vec<(String, String, String)>> {
        let reply = self.call("GET", "/jobs", None)?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Ok(reply["jobs"]
            .as_array()
            .map(|jobs| jobs.iter().map(|j| (text(&j["id"]), text(&j["status"]), text(&j["name"]))).collect())
            .unwrap_or_default())
    }

    /// The job's details (`GET /jobs/{id}`).
    pub fn job(&self, id: &str) -> Result<Value> {
        self.call("GET", &format!("/jobs/{id}"), None)
    }

    /// Cancels job `id`.
    pub fn cancel(&self, id: &str) -> Result<()> {
        self.call("PATCH", &format!("/jobs/{id}?mode=cancel"), None).map(|_| ())
    }

    /// Takes a savepoint of job `id` into `target` (default: the JobManager's `savepoints.dir`),
    /// stopping the job after it with `stop`; waits up to `timeout` and answers its location.
    pub fn savepoint(&self, id: &str, target: Option<&str>, stop: bool, timeout: Duration) -> Result<String> {
        let path = if stop { format!("/jobs/{id}/stop") } else { format!("/jobs/{id}/savepoints") };
        let reply = self.call("POST", &path, Some(json!({"target-directory": target, "cancel-job": stop})))?;
        let request =
            reply["request-id"].as_str().ok_or_else(|| Error::Cluster(format!("unexpected reply {reply}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.call("GET", &format!("/jobs/{id}/savepoints/{request}"), None)?;
            if status["status"]["id"] == "COMPLETED" {
                let op = &status["operation"];
                return match op["location"].as_str() {
                    Some(location) => Ok(location.to_string()),
                    None => {
                        Err(Error::Checkpoint(op["failure-cause"]["stack-trace"].as_str().unwrap_or("failed").into()))
                    }
                };
            }
            if Instant::now() > deadline {
                return Err(Error::Checkpoint(format!(
                    "savepoint {request} of job {id} did not complete within {timeout:?}; it may still complete: GET \
                     /jobs/{id}/savepoints/{request}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
