//! Savepoints the operator takes: their trigger ids, their retention (`savepoints.maxCount`,
//! `savepoints.maxAge`) and the deletion of retired ones from S3, done by the operator itself with
//! the job's credentials so it works while the job is suspended.

use crate::crd::{FlinkJob, FlinkJobStatus, SavepointInfo};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::{Api, ResourceExt};
use std::time::Duration;

/// A trigger id (32 hex digits) for what asks for a savepoint: a hash of the FlinkJob's uid and
/// `what`, so the same request always carries the same id and the JobManager takes it once.
pub fn trigger_id(job: &FlinkJob, what: &str) -> String {
    let seed = format!("{}:{what}", job.metadata.uid.as_deref().unwrap_or(crate::render::UNASSIGNED_UID));
    let a = xxhash_rust::xxh64::xxh64(seed.as_bytes(), 0);
    let b = xxhash_rust::xxh64::xxh64(seed.as_bytes(), 1);
    format!("{a:016x}{b:016x}")
}

/// Parses `500ms`, `10s`, `5m`, `2h`, `7d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => return None,
    })
}

/// The savepoints of `status.savepoints` that retention retires: beyond `maxCount` (oldest first)
/// or older than `maxAge`, never the newest one, `job.initialSavepointPath`, or one the current run
/// restored from or stopped with (an upgrade, a resume or a rollback still needs those); only those
/// in S3.
pub fn retired(job: &FlinkJob, status: &FlinkJobStatus, now: Timestamp) -> Vec<SavepointInfo> {
    let Some(spec) = &job.spec.savepoints else { return Vec::new() };
    let max_age = spec.max_age.as_deref().and_then(parse_duration);
    let max_count = spec.max_count.map(|c| c.max(1) as usize);
    if max_age.is_none() && max_count.is_none() {
        return Vec::new();
    }
    let run = status.run.as_ref();
    let protected = |location: &str| {
        Some(location) == job.spec.job.initial_savepoint_path.as_deref()
            || run.is_some_and(|r| {
                r.restored_from.as_deref() == Some(location) || r.stopped_with.as_deref() == Some(location)
            })
            || status.upgrade_savepoint.as_deref() == Some(location)
    };
    let history = &status.savepoints;
    let mut out = Vec::new();
    for (i, sp) in history.iter().enumerate() {
        let newer = history.len() - 1 - i;
        // Only S3 is reachable from the operator: savepoints on a volume of the job's pods stay.
        if newer == 0 || protected(&sp.location) || !sp.location.starts_with("s3://") {
            continue;
        }
        let too_many = max_count.is_some_and(|max| newer >= max);
        let too_old = max_age
            .is_some_and(|age| sp.time.parse::<Timestamp>().is_ok_and(|t| now.duration_since(t).unsigned_abs() > age));
        if too_many || too_old {
            out.push(sp.clone());
        }
    }
    out
}

/// Deletes every object of the savepoint at `location` (`s3://bucket/path`): the files under
/// `path/`. Returns how many were deleted.
pub async fn delete(job: &FlinkJob, client: &kube::Client, location: &str) -> Result<usize, String> {
    let Some(rest) = location.strip_prefix("s3://") else {
        return Err(format!("{location} is not in S3: the operator deletes only s3:// savepoints; remove it by hand"));
    };
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = format!("{}/", path.trim_matches('/'));
    if bucket.is_empty() || prefix == "/" {
        return Err(format!("{location} names no savepoint directory; not deleting it"));
    }
    let s3 = s3_client(job, client).await?;
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("cannot {what} {location}: {e}");
    let mut deleted = 0;
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| fail("list", &aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let keys: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| ObjectIdentifier::builder().key(k).build().expect("a key is set"))
            .collect();
        if !keys.is_empty() {
            deleted += keys.len();
            let batch = Delete::builder().set_objects(Some(keys)).quiet(true).build().expect("objects are set");
            let result = s3
                .delete_objects()
                .bucket(bucket)
                .delete(batch)
                .send()
                .await
                .map_err(|e| fail("delete", &aws_sdk_s3::error::DisplayErrorContext(e)))?;
            if let Some(e) = result.errors().first() {
                return Err(fail("delete", &format_args!("{} ({})", e.key().unwrap_or(""), e.message().unwrap_or(""))));
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(deleted),
        }
    }
}

/// An S3 client with the job's settings (`spec.s3`) and credentials: the keys of its
/// `credentialsSecret`, else the operator's own AWS default chain (workload identity).
async fn s3_client(job: &FlinkJob, client: &kube::Client) -> Result<aws_sdk_s3::Client, String> {
    let settings = job.spec.s3.clone().unwrap_or_default();
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(secret) = &settings.credentials_secret {
        let ns = job.namespace().unwrap_or_default();
        let secret = Api::<Secret>::namespaced(client.clone(), &ns)
            .get(secret)
            .await
            .map_err(|e| format!("cannot read the Secret {ns}/{secret} of spec.s3.credentialsSecret: {e}"))?;
        let key = |name: &str| {
            let data = secret.data.as_ref().and_then(|d| d.get(name)).map(|b| b.0.clone());
            let text = data.or_else(|| secret.string_data.as_ref()?.get(name).map(|s| s.clone().into_bytes()));
            text.and_then(|t| String::from_utf8(t).ok())
                .ok_or_else(|| format!("the Secret {ns}/{} has no key {name}", secret.name_any()))
        };
        let credentials = aws_sdk_s3::config::Credentials::new(
            key("AWS_ACCESS_KEY_ID")?,
            key("AWS_SECRET_ACCESS_KEY")?,
            None,
            None,
            "FlinkJob spec.s3.credentialsSecret",
        );
        loader = loader.credentials_provider(credentials);
    }
    let region = settings.region.clone().unwrap_or_else(|| "us-east-1".into());
    let shared = loader.region(aws_config::Region::new(region)).load().await;
    let config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(settings.path_style).build();
    Ok(aws_sdk_s3::Client::from_conf(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FlinkJobSpec, RunStatus, SavepointKind};
    use serde_json::json;

    fn job(savepoints: serde_json::Value) -> FlinkJob {
        let spec: FlinkJobSpec = serde_json::from_value(json!({
            "image": "i", "job": {"name": "nexmark", "parallelism": 1, "initialSavepointPath": "s3://b/sp/initial"},
            "savepoints": savepoints,
        }))
        .unwrap();
        FlinkJob::new("j", spec)
    }

    fn info(location: &str, time: &str) -> SavepointInfo {
        SavepointInfo {
            location: location.into(),
            time: time.into(),
            kind: SavepointKind::Manual,
            trigger_id: location.into(),
            nonce: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_and_what_runs_need() {
        let now: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
        let status = FlinkJobStatus {
            savepoints: vec![
                info("s3://b/sp/1", "2026-11-01T00:00:00Z"),
                info("s3://b/sp/initial", "2026-11-02T00:00:00Z"),
                info("s3://b/sp/2", "2026-12-01T00:00:00Z"),
                info("s3://b/sp/3", "2026-12-02T00:00:00Z"),
                info("s3://b/sp/4", "2026-12-03T00:00:00Z"),
                info("s3://b/sp/5", "2026-12-03T11:00:00Z"),
            ],
            run: Some(RunStatus { restored_from: Some("s3://b/sp/3".into()), ..Default::default() }),
            ..Default::default()
        };
        let names = |v: Vec<SavepointInfo>| v.into_iter().map(|s| s.location).collect::<Vec<_>>();
        let by_count = job(json!({"storage": "s3://b/sp", "maxCount": 2}));
        assert_eq!(names(retired(&by_count, &status, now)), ["s3://b/sp/1", "s3://b/sp/2"]);
        let by_age = job(json!({"storage": "s3://b/sp", "maxAge": "1d"}));
        assert_eq!(names(retired(&by_age, &status, now)), ["s3://b/sp/1", "s3://b/sp/2"]);
        let young = job(json!({"storage": "s3://b/sp", "maxAge": "2h"}));
        assert_eq!(names(retired(&young, &status, now)), ["s3://b/sp/1", "s3://b/sp/2", "s3://b/sp/4"]);
        let one =
            FlinkJobStatus { savepoints: vec![info("s3://b/sp/1", "2020-01-01T00:00:00Z")], ..Default::default() };
        assert!(retired(&young, &one, now).is_empty(), "the newest stays, however old");
        let local = FlinkJobStatus {
            savepoints: vec![info("file:///sp/1", "2020-01-01T00:00:00Z"), info("s3://b/sp/9", "2026-12-03T11:00:00Z")],
            ..Default::default()
        };
        assert!(retired(&young, &local, now).is_empty(), "the operator deletes only from S3");
        assert!(retired(&job(json!({"storage": "s3://b/sp"})), &status, now).is_empty());
    }

    #[test]
    fn trigger_ids_and_durations() {
        let mut a = job(json!({"storage": "s3://b/sp"}));
        a.metadata.uid = Some("u1".into());
        let mut b = a.clone();
        b.metadata.uid = Some("u2".into());
        assert_eq!(trigger_id(&a, "nonce:1"), trigger_id(&a, "nonce:1"));
        assert_ne!(trigger_id(&a, "nonce:1"), trigger_id(&a, "nonce:2"));
        assert_ne!(trigger_id(&a, "nonce:1"), trigger_id(&b, "nonce:1"));
        assert_eq!(trigger_id(&a, "x").len(), 32);
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("7"), None);
        assert_eq!(parse_duration("1w"), None);
    }
}
