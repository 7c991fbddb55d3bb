//! The operator's reconciler against the in-memory API server with real JobManager and
//! TaskManager processes run from the rendered pods (see `ferroflink_e2e::kubernetes`), and S3
//! (moto) for checkpoints and savepoints: savepoints from the nonce, exactly once across an
//! operator restart; retention deleting the oldest savepoint files; periodic savepoints; `stopAt`; a 2 → 4 parallelism
//! upgrade through a savepoint, then suspend and resume; a last-state upgrade and a restartNonce
//! restart from the latest checkpoint; a failed upgrade rolled back from its savepoint — each
//! ending with committed output identical to an uninterrupted run; every example FlinkJob, and a
//! final savepoint on deletion.

#[path = "../../worker/tests/support/moto.rs"]
mod moto;

use ferroflink::state::storage;
use ferroflink_e2e::kubernetes::{Cluster, NS};
use ferroflink_e2e::{assert_same, binary, committed_lines, temp};
use ferroflink_operator::crd::{FlinkJob, FlinkJobSpec, LifecycleState, SavepointKind};
use ferroflink_operator::reconcile::reconcile;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "bids";
const BUCKET: &str = "flink";

/// Moto with the bucket, and the Secret with the credentials the job uses.
fn s3(cluster: &Cluster) -> moto::Moto {
    let server = moto::Moto::start();
    server.create_bucket(BUCKET);
    credentials(cluster, "s3-credentials");
    server
}

/// A Secret `name` with the S3 keys moto accepts.
fn credentials(cluster: &Cluster, name: &str) {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.data = Some(BTreeMap::from([
        ("AWS_ACCESS_KEY_ID".to_string(), ByteString(b"test".to_vec())),
        ("AWS_SECRET_ACCESS_KEY".to_string(), ByteString(b"test".to_vec())),
    ]));
    cluster.create(&secret);
}

/// Nexmark tumble-count (keyed 10 s windows) into the exactly-once file sink at `out`.
fn job_args(events: u64, rate: u64, out: &Path) -> Vec<String> {
    ["--query", "tumble-count", "--events", &events.to_string(), "--rate", &rate.to_string(), "--output"]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
}

fn spec(server: &moto::Moto, args: Vec<String>, parallelism: i32) -> FlinkJobSpec {
    serde_json::from_value(json!({
        "image": "ferroflink:test",
        "job": {"name": "nexmark", "args": args, "parallelism": parallelism, "upgradeMode": "savepoint"},
        "taskManager": {"slots": 2},
        "checkpointing": {"interval": "300ms", "storage": format!("s3://{BUCKET}/checkpoints")},
        "savepoints": {"storage": format!("s3://{BUCKET}/savepoints")},
        "s3": {"endpoint": server.endpoint, "region": "us-east-1", "pathStyle": true, "credentialsSecret": "s3-credentials"},
    }))
    .unwrap()
}

fn create(cluster: &Cluster, spec: FlinkJobSpec) {
    let mut job = FlinkJob::new(NAME, spec);
    job.metadata.namespace = Some(NS.into());
    cluster.create(&job);
}

fn lifecycle(job: &FlinkJob) -> Option<LifecycleState> {
    job.status.as_ref().map(|s| s.lifecycle_state)
}

fn run_number(job: &FlinkJob) -> i64 {
    job.status.as_ref().and_then(|s| s.run.as_ref()).map_or(0, |r| r.number)
}

/// The savepoint directories in S3.
fn savepoints_in_s3(server: &moto::Moto) -> Vec<String> {
    let store = storage::open(&format!("s3://{BUCKET}/savepoints"), &server.config(&server.endpoint)).unwrap();
    let mut dirs: Vec<String> = store
        .list("")
        .unwrap()
        .into_iter()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .filter(|d| d.starts_with("savepoint-"))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn history(job: &FlinkJob) -> Vec<(SavepointKind, String)> {
    let status = job.status.as_ref().unwrap();
    status.savepoints.iter().map(|s| (s.kind, s.location.rsplit('/').next().unwrap().to_string())).collect()
}

/// The directories of the savepoints in the history, sorted as [`savepoints_in_s3`] sorts.
fn history_dirs(job: &FlinkJob) -> Vec<String> {
    let mut dirs: Vec<String> = history(job).into_iter().map(|(_, dir)| dir).collect();
    dirs.sort();
    dirs
}

fn running(job: &FlinkJob) -> bool {
    lifecycle(job) == Some(LifecycleState::Running)
}

#[test]
fn nonce_savepoints_are_taken_once_retention_deletes_the_oldest_and_stop_at_stops() {
    let root = temp("operator-nonce");
    let mut cluster = Cluster::start(&root);
    let server = s3(&cluster);
    // A job that runs for minutes: the savepoints are taken while it runs.
    create(&cluster, spec(&server, job_args(50_000_000, 20_000, &root.join("out")), 2));
    cluster.start_operator(NAME);
    cluster.wait_for(NAME, "running", Duration::from_secs(90), running);

    cluster.patch_spec(NAME, json!({"job": {"savepointTriggerNonce": 1}}));
    let job = cluster.wait_for(NAME, "savepointed for nonce 1", Duration::from_secs(60), |j| {
        j.status.as_ref().unwrap().last_savepoint_trigger_nonce == Some(1)
    });
    assert_eq!(history(&job).len(), 1, "{:?}", job.status);
    assert_eq!(savepoints_in_s3(&server), history_dirs(&job));

    // The operator dies right after asking for the savepoint of nonce 2; its successor works from
    // an object read before the request was recorded (a stale cache): one savepoint, not two.
    cluster.stop_operator();
    cluster.patch_spec(NAME, json!({"job": {"savepointTriggerNonce": 2}}));
    let stale = cluster.get(NAME);
    let first = cluster.block_on(reconcile(Arc::new(stale.clone()), Arc::new(cluster.context())));
    assert!(first.is_ok(), "{first:?}");
    let status = cluster.get(NAME).status.unwrap();
    assert!(status.savepoint_in_progress.is_some(), "the request is recorded");
    let savepointing = status.conditions.iter().find(|c| c.type_ == "Savepointing").unwrap();
    assert_eq!((savepointing.status.as_str(), savepointing.reason.as_str()), ("True", "InProgress"));
    let again = cluster.block_on(reconcile(Arc::new(stale), Arc::new(cluster.context())));
    assert!(again.is_err(), "a pass over the stale object must not write its status: {again:?}");
    cluster.start_operator(NAME);
    let job = cluster.wait_for(NAME, "savepointed for nonce 2", Duration::from_secs(60), |j| {
        j.status.as_ref().unwrap().last_savepoint_trigger_nonce == Some(2)
    });
    let kept = history(&job);
    assert_eq!(kept.iter().map(|k| k.0).collect::<Vec<_>>(), [SavepointKind::Manual, SavepointKind::Manual]);
    assert_eq!(savepoints_in_s3(&server), history_dirs(&job));

    // Keep two: the third savepoint retires the first, whose files go.
    cluster.patch_spec(NAME, json!({"job": {"savepointTriggerNonce": 3}, "savepoints": {"maxCount": 2}}));
    let job = cluster.wait_for(NAME, "savepointed for nonce 3", Duration::from_secs(60), |j| {
        let s = j.status.as_ref().unwrap();
        s.last_savepoint_trigger_nonce == Some(3) && s.savepoints.len() == 2
    });
    let now = history(&job);
    assert_eq!(now[0], kept[1], "the newer of the first two stays");
    assert_eq!(savepoints_in_s3(&server), history_dirs(&job));
    assert!(!savepoints_in_s3(&server).contains(&kept[0].1), "the oldest savepoint's files are deleted");

    // savepoints.interval: savepoints while it runs, under the same retention.
    cluster.patch_spec(NAME, json!({"savepoints": {"interval": "2s"}}));
    cluster.wait_for(NAME, "a periodic savepoint", Duration::from_secs(60), |j| {
        j.status.as_ref().unwrap().savepoints.iter().any(|s| s.kind == SavepointKind::Periodic)
    });
    cluster.patch_spec(NAME, json!({"savepoints": {"interval": null}}));
    let job = cluster.wait_for(NAME, "done savepointing", Duration::from_secs(60), |j| {
        j.status.as_ref().unwrap().savepoint_in_progress.is_none()
    });
    assert_eq!(history(&job).len(), 2, "{:?}", history(&job));
    assert_eq!(savepoints_in_s3(&server), history_dirs(&job));

    // stopAt in the past: stopped with a savepoint, pods gone.
    cluster.patch_spec(NAME, json!({"job": {"stopAt": "2020-01-01T00:00:00Z"}}));
    let job = cluster.wait_for(NAME, "stopped", Duration::from_secs(60), |j| {
        lifecycle(j) == Some(LifecycleState::Finished)
            && j.status.as_ref().unwrap().run.as_ref().unwrap().stopped_with.is_some()
    });
    let status = job.status.unwrap();
    let stopped = status.run.unwrap().stopped_with.unwrap();
    assert_eq!(status.savepoints.last().unwrap().kind, SavepointKind::StopAt);
    assert_eq!(status.savepoints.last().unwrap().location, stopped);
    assert!(savepoints_in_s3(&server).contains(&stopped.rsplit('/').next().unwrap().to_string()));
    cluster.wait_until_no_pods(Duration::from_secs(30));

    // Another FlinkJob carries on from that savepoint (job.initialSavepointPath), into the same
    // output: its checkpoint ids go on from the savepoint's.
    let savepoint_id: i64 = stopped.rsplit('-').next().unwrap().parse().unwrap();
    let mut copy = spec(&server, job_args(50_000_000, 20_000, &root.join("out")), 2);
    copy.job.initial_savepoint_path = Some(stopped.clone());
    let mut job = FlinkJob::new("copy", copy);
    job.metadata.namespace = Some(NS.into());
    cluster.create(&job);
    cluster.start_operator("copy");
    let job = cluster.wait_for("copy", "running from the savepoint", Duration::from_secs(90), |j| {
        running(j) && j.status.as_ref().unwrap().last_checkpoint.is_some()
    });
    let status = job.status.unwrap();
    assert_eq!(status.run.unwrap().restored_from, Some(stopped));
    assert!(status.last_checkpoint.unwrap().id > savepoint_id);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&root);
}

/// The job run by `ferroflink run` in one process: the reference output.
fn reference(args: &[String], root: &Path) -> Vec<String> {
    let out = root.join("reference");
    let mut all: Vec<String> = ["run", "nexmark"].iter().map(|s| s.to_string()).collect();
    all.extend(args.iter().cloned());
    let at = all.iter().position(|a| a == "--output").unwrap();
    all[at + 1] = out.display().to_string();
    let at = all.iter().position(|a| a == "--rate").unwrap();
    all[at + 1] = "0".into();
    let run = Command::new(binary()).args(&all).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    committed_lines(&out)
}

/// The bounded tumble-count job (700 000 events at 20 000 a second: about 35 s) at parallelism
/// 2, its spec adjusted by the test, deployed and running with a checkpoint.
struct Bounded {
    root: std::path::PathBuf,
    cluster: Cluster,
    out: std::path::PathBuf,
    args: Vec<String>,
    _server: moto::Moto,
}

impl Bounded {
    fn start(name: &str, adjust: impl FnOnce(&mut FlinkJobSpec)) -> Bounded {
        let root = temp(name);
        let mut cluster = Cluster::start(&root);
        let server = s3(&cluster);
        let out = root.join("out");
        let args = job_args(700_000, 20_000, &out);
        let mut spec = spec(&server, args.clone(), 2);
        adjust(&mut spec);
        create(&cluster, spec);
        cluster.start_operator(NAME);
        cluster.wait_for(NAME, "running with a checkpoint", Duration::from_secs(90), |j| {
            running(j) && j.status.as_ref().unwrap().last_checkpoint.is_some()
        });
        Bounded { root, cluster, out, args, _server: server }
    }

    /// Raises the parallelism to 4 and waits for run 2 to be Running; prints how long that took.
    fn rescale_to_4(&self, mode: &str) -> FlinkJob {
        let asked = std::time::Instant::now();
        self.cluster.patch_spec(NAME, json!({"job": {"parallelism": 4}}));
        let upgraded = |j: &FlinkJob| running(j) && run_number(j) == 2;
        let job = self.cluster.wait_for(NAME, "upgraded to parallelism 4", Duration::from_secs(90), upgraded);
        eprintln!("{mode} upgrade 2 -> 4: Running again after {:?}", asked.elapsed());
        job
    }

    /// Waits for the end of the job; its committed output must equal a one-process run's.
    fn finishes_like_one_process(self) {
        let finished = |j: &FlinkJob| lifecycle(j) == Some(LifecycleState::Finished);
        self.cluster.wait_for(NAME, "finished", Duration::from_secs(180), finished);
        drop(self.cluster);
        assert_same(&committed_lines(&self.out), &reference(&self.args, &self.root));
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn upgrade_2_to_4_through_a_savepoint_then_suspend_and_resume_loses_and_repeats_nothing() {
    let bounded = Bounded::start("operator-upgrade", |_| {});
    let cluster = &bounded.cluster;
    let job = bounded.rescale_to_4("savepoint");
    let status = job.status.unwrap();
    assert_eq!(status.task_managers_desired, 2, "4 slots of 2 per pod");
    let upgrade = status.upgrade_savepoint.clone().unwrap();
    assert_eq!(status.run.unwrap().restored_from.as_deref(), Some(upgrade.as_str()));
    assert_eq!(status.savepoints.last().unwrap().kind, SavepointKind::Upgrade);

    cluster.patch_spec(NAME, json!({"job": {"state": "suspended"}}));
    let job = cluster
        .wait_for(NAME, "suspended", Duration::from_secs(60), |j| lifecycle(j) == Some(LifecycleState::Suspended));
    let suspended_at = job.status.unwrap().run.unwrap().stopped_with.unwrap();
    cluster.wait_until_no_pods(Duration::from_secs(30));

    let asked = std::time::Instant::now();
    cluster.patch_spec(NAME, json!({"job": {"state": "running"}}));
    let job = cluster.wait_for(NAME, "resumed", Duration::from_secs(90), |j| running(j) && run_number(j) == 3);
    eprintln!("resume: Running after {:?}", asked.elapsed());
    assert_eq!(job.status.unwrap().run.unwrap().restored_from, Some(suspended_at));
    bounded.finishes_like_one_process();
}

/// The FlinkJob examples of `manifests/examples/` as users apply them; only the S3 endpoint is
/// pointed at the test server.
fn example(file: &str, server: &moto::Moto) -> FlinkJob {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples").join(file);
    let mut object: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    object["metadata"]["namespace"] = json!(NS);
    if object["spec"]["s3"].is_object() {
        object["spec"]["s3"]["endpoint"] = json!(server.endpoint);
    }
    serde_json::from_value(object).unwrap()
}

#[test]
fn every_example_runs() {
    let examples: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(examples.len(), 2, "a new example needs its case here: {examples:?}");
    let root = temp("operator-examples");
    let mut cluster = Cluster::start(&root);
    let server = s3(&cluster);
    credentials(&cluster, "s3-creds");

    // The bounded word count runs to the end.
    let wordcount = example("wordcount.yaml", &server);
    cluster.create(&wordcount);
    cluster.start_operator("wordcount");
    let job = cluster.wait_for("wordcount", "finished", Duration::from_secs(120), |j| {
        lifecycle(j) == Some(LifecycleState::Finished)
    });
    assert_eq!(job.status.unwrap().job_state.as_deref(), Some("FINISHED"));
    cluster.stop_operator();

    // Nexmark q7 at parallelism 10 (three TaskManager pods of four slots), a leading and a
    // standby JobManager with Lease HA, checkpoints in S3: it runs.
    server.create_bucket("bucket");
    let bids = example("nexmark-q7.yaml", &server);
    cluster.create(&bids);
    cluster.start_operator("bids");
    let job = cluster.wait_for("bids", "running with a checkpoint", Duration::from_secs(180), |j| {
        running(j) && j.status.as_ref().unwrap().last_checkpoint.is_some()
    });
    let status = job.status.unwrap();
    assert_eq!((status.task_managers_desired, status.task_managers_ready), (3, 3));
    assert!(status.last_checkpoint.unwrap().location.starts_with("s3://bucket/checkpoints/"));

    // Deleted with savepoints.onDelete: the job stops with a final savepoint, then the FlinkJob goes.
    cluster.patch_spec("bids", json!({"savepoints": {"onDelete": true}}));
    cluster.delete_flinkjob("bids", Duration::from_secs(90));
    let store = storage::open("s3://bucket/savepoints", &server.config(&server.endpoint)).unwrap();
    let files = store.list("").unwrap();
    let complete = |dir: &String| dir.starts_with("savepoint-") && store.exists(&format!("{dir}/_metadata")).unwrap();
    assert!(files.iter().any(complete), "no final savepoint in {files:?}\n{}", cluster.logs());
    drop(cluster);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn last_state_upgrade_and_restart_nonce_resume_from_the_latest_checkpoint() {
    let bounded = Bounded::start("operator-last-state", |spec| {
        spec.job.upgrade_mode = Some(ferroflink_operator::crd::UpgradeMode::LastState)
    });
    let cluster = &bounded.cluster;
    let first_id = cluster.get(NAME).status.unwrap().job_id.unwrap();

    let job = bounded.rescale_to_4("last-state");
    let status = job.status.unwrap();
    let from = status.run.unwrap().restored_from.unwrap();
    assert!(from.starts_with(&format!("s3://{BUCKET}/checkpoints/{first_id}/chk-")), "{from}");
    assert!(status.savepoints.is_empty(), "last-state takes no savepoint");
    let second_id = status.job_id.unwrap();
    // Nudged once run 2 has a checkpoint of its own, which the restart then resumes from.
    cluster.wait_for(NAME, "checkpointed in run 2", Duration::from_secs(60), |j| {
        j.status.as_ref().unwrap().last_checkpoint.is_some()
    });

    cluster.patch_spec(NAME, json!({"job": {"restartNonce": 1}}));
    let job = cluster.wait_for(NAME, "restarted", Duration::from_secs(90), |j| running(j) && run_number(j) == 3);
    let run = job.status.unwrap().run.unwrap();
    assert_eq!(run.reason, "restart");
    assert!(run.restored_from.unwrap().starts_with(&format!("s3://{BUCKET}/checkpoints/{second_id}/chk-")));
    bounded.finishes_like_one_process();
}

#[test]
fn an_upgrade_that_does_not_run_rolls_back_from_its_savepoint() {
    let bounded = Bounded::start("operator-rollback", |spec| spec.job.rollback_after = Some("20s".into()));
    let cluster = &bounded.cluster;

    // A spec that cannot run: the upgrade savepoint is taken, the new run fails, the old spec
    // comes back from that savepoint.
    let mut broken = bounded.args.clone();
    broken[1] = "no-such-query".into();
    cluster.patch_spec(NAME, json!({"job": {"args": broken}}));
    let job = cluster.wait_for(NAME, "rolled back", Duration::from_secs(120), |j| {
        j.status.as_ref().unwrap().run.as_ref().is_some_and(|r| r.reason == "rollback")
    });
    let status = job.status.unwrap();
    let upgrade = status.upgrade_savepoint.unwrap();
    assert_eq!(status.run.unwrap().restored_from.as_deref(), Some(upgrade.as_str()));
    assert!(status.rolled_back_spec.is_some());
    let job = cluster.wait_for(NAME, "running the old spec", Duration::from_secs(90), running);
    let degraded = job.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Degraded").unwrap();
    assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", "RolledBack"));
    bounded.finishes_like_one_process();
}
