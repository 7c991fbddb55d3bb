//! The operator's reconciler against the in-memory API server with real JobManager and
//! TaskManager processes run from the rendered pods (see `ferroflink_e2e::kubernetes`), and S3
//! (moto) for checkpoints and savepoints: savepoints from the nonce, exactly once across an
//! operator restart; retention deleting the oldest savepoint files; periodic savepoints; `stopAt`; a 2 → 4 parallelism
//! upgrade through a savepoint, then suspend and resume; a last-state upgrade and a restartNonce
//! restart from the latest checkpoint; an upgrade that does not plan refused while the job runs
//! on, one that fails rolled back from its savepoint; a SQL FlinkJob from a ConfigMap upgraded by
//! editing its script, an incompatible edit refused — each ending with committed output identical
//! to an uninterrupted run; every example FlinkJob, and a final savepoint on deletion.

#[path = "../../worker/tests/support/moto.rs"]
mod moto;

use ferroflink::state::storage;
use ferroflink_e2e::kubernetes::{Cluster, NS};
use ferroflink_e2e::{assert_same, binary, committed_lines, temp};
use ferroflink_operator::crd::{ConfigMapKey, FlinkJob, FlinkJobSpec, LifecycleState, SavepointKind, SecretVariable};
use ferroflink_operator::reconcile::reconcile;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
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

/// Whether the operator refused the spec's upgrade (Degraded, reason UpgradeRefused).
fn upgrade_refused(job: &FlinkJob) -> bool {
    job.status.as_ref().unwrap().conditions.iter().any(|c| c.type_ == "Degraded" && c.reason == "UpgradeRefused")
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
    assert_eq!(examples.len(), 4, "a new example needs its case here: {examples:?}");
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

    // SQL in the FlinkJob: generated orders counted per product into print (unbounded): it runs,
    // and the TaskManagers print the changelog.
    let orders = example("sql-orders-print.yaml", &server);
    cluster.create(&orders);
    cluster.start_operator("orders");
    cluster.wait_for("orders", "running", Duration::from_secs(120), running);
    let printed = |logs: &str| logs.lines().any(|l| l.contains("+I[") || l.contains("+U["));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !printed(&cluster.logs()) {
        assert!(std::time::Instant::now() < deadline, "no changelog printed\n{}", cluster.logs());
        std::thread::sleep(Duration::from_millis(500));
    }
    cluster.delete_flinkjob("orders", Duration::from_secs(60));

    // Batch SQL over CSV files in S3 through the filesystem connector: its report equals the counts
    // computed here.
    server.create_bucket("logs");
    let store = |prefix: &str| storage::open(&format!("s3://logs/{prefix}"), &server.config(&server.endpoint)).unwrap();
    let mut want: BTreeMap<i64, (i64, std::collections::BTreeSet<String>)> = BTreeMap::new();
    for file in 0..3 {
        let mut csv = String::new();
        for i in 0..2000_i64 {
            let (user, status) =
                (format!("u{}", (i * 7 + file) % 97), [200, 200, 200, 304, 404, 500][(i % 6) as usize]);
            csv.push_str(&format!("{user},/page/{},{status}\n", i % 13));
            let entry = want.entry(status).or_default();
            entry.0 += 1;
            entry.1.insert(user);
        }
        store("access").write(&format!("part-{file}.csv"), csv.as_bytes()).unwrap();
    }
    let report = example("sql-s3-status-report.yaml", &server);
    cluster.create(&report);
    cluster.start_operator("status-report");
    cluster.wait_for("status-report", "finished", Duration::from_secs(120), |j| {
        lifecycle(j) == Some(LifecycleState::Finished)
    });
    let out = store("reports/status");
    let mut got: Vec<String> = Vec::new();
    for name in out.list("").unwrap().into_iter().filter(|n| !n.starts_with(['.', '_'])) {
        got.extend(String::from_utf8(out.read(&name).unwrap()).unwrap().lines().map(str::to_string));
    }
    got.sort();
    let want: Vec<String> = want.iter().map(|(status, (n, users))| format!("{status},{n},{}", users.len())).collect();
    assert_same(&got, &want);
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
fn an_upgrade_that_does_not_plan_is_refused_and_one_that_does_not_run_rolls_back() {
    let bounded = Bounded::start("operator-rollback", |spec| spec.job.rollback_after = Some("20s".into()));
    let cluster = &bounded.cluster;

    // A spec that does not plan is refused before anything stops: the job runs on.
    let mut broken = bounded.args.clone();
    broken[1] = "no-such-query".into();
    cluster.patch_spec(NAME, json!({"job": {"args": broken}}));
    let job = cluster.wait_for(NAME, "the upgrade refused", Duration::from_secs(60), upgrade_refused);
    let status = job.status.unwrap();
    assert!(status.error.as_deref().unwrap().contains("does not plan") && status.run.unwrap().number == 1);

    // With a new image as well, the running JobManager cannot check it: the upgrade savepoint is
    // taken, the new run fails, the old spec comes back from that savepoint.
    cluster.patch_spec(NAME, json!({"image": "ferroflink:next"}));
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

/// The SQL job of [`sql_flinkjob_from_a_configmap_upgraded_by_editing_its_script_keeps_its_state`]:
/// `${ROWS}` ids (a Secret's value) at 100 a second, with times id × 100 ms, counted and summed
/// per 1 s event-time window into CSV files under `out`.
fn windows_script(out: &Path, edit: &str) -> String {
    format!(
        "{edit}
CREATE TABLE ticks (
  id BIGINT,
  ts AS TO_TIMESTAMP_LTZ(id * 100, 3),
  WATERMARK FOR ts AS ts
) WITH (
  'connector' = 'datagen', 'rows-per-second' = '100', 'number-of-rows' = '${{ROWS}}',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000000'
);
CREATE TABLE windows (ticks BIGINT, total BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO windows
SELECT COUNT(*), SUM(id) FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY window_start, window_end;
",
        out.display()
    )
}

#[test]
fn sql_flinkjob_from_a_configmap_upgraded_by_editing_its_script_keeps_its_state() {
    const ROWS: i64 = 4000;
    let root = temp("operator-sql-upgrade");
    let mut cluster = Cluster::start(&root);
    let server = s3(&cluster);
    let out = root.join("out");
    let mut secret = Secret::default();
    secret.metadata.name = Some("ticks-secrets".into());
    secret.data = Some(BTreeMap::from([("rows".to_string(), ByteString(ROWS.to_string().into_bytes()))]));
    cluster.create(&secret);
    let script = |text: String| ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some("ticks-sql".into()), ..Default::default() },
        data: Some(BTreeMap::from([("job.sql".to_string(), text)])),
        ..Default::default()
    };
    cluster.create(&script(windows_script(&out, "-- ticks, version 1")));
    let mut spec = spec(&server, Vec::new(), 2);
    spec.job.name = None;
    spec.job.sql_config_map = Some(ConfigMapKey { name: "ticks-sql".into(), key: "job.sql".into() });
    spec.job.secrets = vec![SecretVariable { env: "ROWS".into(), secret: "ticks-secrets".into(), key: "rows".into() }];
    create(&cluster, spec);
    cluster.start_operator(NAME);
    cluster.wait_for(NAME, "running with a checkpoint", Duration::from_secs(90), |j| {
        running(j) && j.status.as_ref().unwrap().last_checkpoint.is_some()
    });

    // A compatible edit of the script (a view no statement uses): a savepoint upgrade.
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), NS);
    let replace =
        |text: String| cluster.block_on(maps.replace("ticks-sql", &PostParams::default(), &script(text))).unwrap();
    let version_2 =
        windows_script(&out, "-- ticks, version 2\nCREATE TEMPORARY VIEW late AS SELECT id FROM ticks WHERE id > 100;");
    replace(version_2.clone());
    let job = cluster.wait_for(NAME, "upgraded", Duration::from_secs(90), |j| running(j) && run_number(j) == 2);
    let status = job.status.unwrap();
    assert_eq!(status.run.as_ref().unwrap().reason, "upgrade");
    assert_eq!(status.run.as_ref().unwrap().restored_from, status.upgrade_savepoint);
    let recorded = serde_json::to_string(&status).unwrap();
    assert!(!recorded.contains("TUMBLE"), "the status copies the script: {recorded}");
    assert!(status.run.unwrap().spec.contains(&ferroflink_operator::render::sql_digest(&version_2)));

    // An edit that would lose the windows' state (2 s windows: another operator) is refused
    // before anything stops; the job runs on, and undoing the edit clears the condition.
    replace(windows_script(&out, "-- ticks, version 3").replace("INTERVAL '1' SECOND", "INTERVAL '2' SECOND"));
    let job = cluster.wait_for(NAME, "the incompatible edit refused", Duration::from_secs(60), upgrade_refused);
    let status = job.status.unwrap();
    let why = status.error.clone().unwrap();
    assert!(why.contains("LOSES STATE") && why.contains("allowNonRestoredState"), "{why}");
    assert_eq!((status.run.unwrap().number, status.job_state.as_deref()), (2, Some("RUNNING")));
    replace(version_2);
    cluster.wait_for(NAME, "the condition cleared", Duration::from_secs(60), |j| running(j) && !upgrade_refused(j));

    let finished = |j: &FlinkJob| lifecycle(j) == Some(LifecycleState::Finished);
    cluster.wait_for(NAME, "finished", Duration::from_secs(120), finished);
    drop(cluster);
    // Window k holds the ids whose time id × 100 ms falls in [k s, k + 1 s).
    let mut want = BTreeMap::<i64, (i64, i64)>::new();
    for id in 1..=ROWS {
        let w = want.entry(id / 10).or_default();
        (w.0, w.1) = (w.0 + 1, w.1 + id);
    }
    let mut want: Vec<String> = want.values().map(|(n, sum)| format!("{n},{sum}")).collect();
    want.sort();
    let mut got = committed_lines(&out);
    got.sort();
    assert_same(&got, &want);
    let _ = std::fs::remove_dir_all(&root);
}
