//! The generated CRD: what is checked in equals what `crdgen` prints; it stays small enough for
//! client-side `kubectl apply`; bad FlinkJobs are rejected by its OpenAPI schema (under a JSON-Schema
//! validator) or by its CEL rules (under a CEL interpreter), and the examples pass both.

use ferroflink_operator::crd::FlinkJob;
use kube::CustomResourceExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The repository this test runs from (read at run time: a build cache shared by clones must not
/// point the test at another clone's files).
fn repo() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test");
    Path::new(&crate_dir).parent().unwrap().to_path_buf()
}

fn generated() -> String {
    serde_saphyr::to_string(&FlinkJob::crd()).unwrap()
}

fn schema() -> Value {
    let crd = serde_json::to_value(FlinkJob::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn checked_in_crds_match_crdgen() {
    for path in ["crds/flinkjob.yaml", "charts/ferroflink/crds/flinkjob.yaml"] {
        let file = repo().join(path);
        if path.starts_with("charts") && !file.parent().unwrap().exists() {
            continue;
        }
        let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            checked_in == generated(),
            "{path} is stale: regenerate with `cargo run -p ferroflink-operator -- crdgen > {path}`"
        );
    }
    assert!(generated().len() < 256 * 1024, "the CRD must fit client-side kubectl apply");
}

fn good() -> Value {
    json!({
        "apiVersion": "ferroflink.io/v1alpha1",
        "kind": "FlinkJob",
        "metadata": {"name": "bids", "namespace": "streaming"},
        "spec": {
            "image": "ferroflink:0.1.0",
            "job": {"name": "nexmark", "args": ["--query", "q7"], "parallelism": 10},
            "jobManager": {"replicas": 2},
            "taskManager": {"slots": 4, "resources": {"cpu": "4", "memory": "8Gi"}},
            "checkpointing": {"interval": "10s", "storage": "s3://bucket/checkpoints", "retained": 3},
            "s3": {"endpoint": "http://minio:9000", "pathStyle": true, "credentialsSecret": "s3-creds"},
        }
    })
}

fn with(patch: Value) -> Value {
    fn merge(base: &mut Value, patch: Value) {
        match (base, patch) {
            (Value::Object(b), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        b.remove(&k);
                    } else {
                        merge(b.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
            (b, p) => *b = p,
        }
    }
    let mut v = good();
    merge(&mut v, json!({"spec": patch}));
    v
}

fn schema_errors(object: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    validator.iter_errors(object).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn cel_errors(object: &Value) -> Vec<String> {
    match kube::core::cel::Validator::new().validate(&schema(), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn good_specs_and_examples_pass_schema_and_cel() {
    assert!(schema_errors(&good()).is_empty(), "{:?}", schema_errors(&good()));
    assert!(cel_errors(&good()).is_empty(), "{:?}", cel_errors(&good()));
    let examples = repo().join("manifests/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let object: Value = serde_saphyr::from_str(&text).unwrap();
        assert!(schema_errors(&object).is_empty(), "{}: {:?}", path.display(), schema_errors(&object));
        assert!(cel_errors(&object).is_empty(), "{}: {:?}", path.display(), cel_errors(&object));
        let job: FlinkJob = serde_json::from_value(object).unwrap();
        ferroflink_operator::render::render(&job).unwrap();
        seen += 1;
    }
    assert!(seen >= 2, "examples exist");
}

#[test]
fn bad_specs_are_rejected_by_the_schema() {
    let cases = [
        ("zero parallelism", json!({"job": {"parallelism": 0}}), "/spec/job/parallelism"),
        ("negative parallelism", json!({"job": {"parallelism": -3}}), "/spec/job/parallelism"),
        ("zero slots", json!({"taskManager": {"slots": 0}}), "/spec/taskManager/slots"),
        ("negative replicas", json!({"jobManager": {"replicas": -1}}), "/spec/jobManager/replicas"),
        ("malformed S3 URI", json!({"checkpointing": {"storage": "s3:/bucket"}}), "/spec/checkpointing/storage"),
        ("not S3 at all", json!({"savepoints": {"storage": "http://x/y"}}), "/spec/savepoints/storage"),
        ("missing image", json!({"image": null}), "/spec"),
        ("empty image", json!({"image": ""}), "/spec/image"),
        ("bad interval", json!({"checkpointing": {"interval": "soon"}}), "/spec/checkpointing/interval"),
        ("bad cpu", json!({"taskManager": {"resources": {"cpu": "four"}}}), "/spec/taskManager/resources/cpu"),
        ("bad job name", json!({"job": {"name": "Word Count"}}), "/spec/job/name"),
        ("bad former job name", json!({"job": {"name": null, "builtin": "Word Count"}}), "/spec/job/builtin"),
        ("unknown upgrade mode", json!({"job": {"upgradeMode": "yolo"}}), "/spec/job/upgradeMode"),
        ("unknown job state", json!({"job": {"state": "paused"}}), "/spec/job/state"),
        ("bad max age", json!({"savepoints": {"storage": "s3://b/s", "maxAge": "1 week"}}), "/spec/savepoints/maxAge"),
        ("zero max count", json!({"savepoints": {"storage": "s3://b/s", "maxCount": 0}}), "/spec/savepoints/maxCount"),
    ];
    for (what, patch, path) in cases {
        let errors = schema_errors(&with(patch));
        assert!(errors.iter().any(|e| e.ends_with(&format!("at {path}"))), "{what}: {errors:?}");
    }
}

#[test]
fn cel_rule_requires_storage_for_standby_jobmanagers() {
    let bad = with(json!({"checkpointing": null}));
    assert!(schema_errors(&bad).is_empty(), "the schema alone allows it");
    let errors = cel_errors(&bad);
    assert!(errors.iter().any(|e| e.contains("requires checkpointing.storage")), "{errors:?}");
    let single = with(json!({"checkpointing": null, "jobManager": {"replicas": 1}}));
    assert!(cel_errors(&single).is_empty());
}

#[test]
fn cel_rule_takes_one_job_by_name_its_former_builtin_field_or_sql() {
    let former = with(json!({"job": {"name": null, "builtin": "nexmark"}}));
    assert!(schema_errors(&former).is_empty() && cel_errors(&former).is_empty(), "{:?}", cel_errors(&former));
    let job: ferroflink_operator::crd::FlinkJob = serde_json::from_value(former).unwrap();
    assert_eq!(job.spec.job.registered(), "nexmark");
    let sql = "INSERT INTO out SELECT * FROM bids;";
    for good in [
        json!({"job": {"name": null, "args": null, "sql": sql}}),
        json!({"job": {"name": null, "args": null, "sqlConfigMap": {"name": "bids-sql", "key": "job.sql"}}}),
    ] {
        let object = with(good);
        assert!(schema_errors(&object).is_empty() && cel_errors(&object).is_empty(), "{:?}", cel_errors(&object));
    }
    for (what, patch) in [
        ("both", json!({"job": {"builtin": "nexmark"}})),
        ("neither", json!({"job": {"name": null}})),
        ("name and sql", json!({"job": {"sql": sql}})),
        ("sql twice", json!({"job": {"name": null, "sql": sql, "sqlConfigMap": {"name": "s", "key": "k"}}})),
    ] {
        let errors = cel_errors(&with(patch));
        assert!(errors.iter().any(|e| e.contains("give exactly one of job.name")), "{what}: {errors:?}");
    }
    let args = cel_errors(&with(json!({"job": {"name": null, "sql": sql}})));
    assert!(args.iter().any(|e| e.contains("job.args are a registered job's arguments")), "{args:?}");
    // The recorded digest is the operator's: not in the schema, so the API server prunes it.
    assert!(!serde_json::to_string(&schema()).unwrap().contains("sqlDigest"));
}

#[test]
fn cel_rules_require_savepoint_storage_where_savepoints_are_taken() {
    let cases = [
        (json!({"job": {"upgradeMode": "savepoint"}}), "upgradeMode savepoint requires savepoints.storage"),
        (json!({"job": {"state": "suspended"}}), "it requires savepoints.storage"),
        (json!({"job": {"savepointTriggerNonce": 3}}), "savepointTriggerNonce requires savepoints.storage"),
        (json!({"job": {"stopAt": "2027-01-01T00:00:00Z"}}), "stopAt stops the job with a savepoint"),
    ];
    for (patch, message) in cases {
        let errors = cel_errors(&with(patch.clone()));
        assert!(errors.iter().any(|e| e.contains(message)), "{patch}: {errors:?}");
        let mut fixed = patch;
        fixed["savepoints"] = json!({"storage": "s3://bucket/savepoints"});
        assert!(cel_errors(&with(fixed.clone())).is_empty(), "{fixed}");
    }
    let stateless = with(json!({"job": {"upgradeMode": "stateless", "state": "running"}}));
    assert!(cel_errors(&stateless).is_empty(), "{:?}", cel_errors(&stateless));
}
