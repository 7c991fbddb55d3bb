//! The distributed runtime as a user runs it: `ferroflink jobmanager` and `ferroflink taskmanager`
//! processes on 127.0.0.1, jobs submitted with `ferroflink submit` and watched through the REST API.
//! - A keyed, windowed job with the exactly-once file sink at parallelism 4 on two TaskManagers of
//!   two slots (so its key-by exchange crosses the data plane, LZ4-compressed) writes the same
//!   committed output as the same job run in one process, with checkpoints completed along the way;
//!   the JobManager's /metrics has the job's and its vertices' series.
//! - A job that needs more slots than are free waits with a status that says so, and runs once
//!   enough slots registered.
//! - One of the two TaskManagers killed with SIGKILL mid-run (checkpoints in an S3 server, moto) is
//!   detected at once (its session breaks); the job restarts from its latest checkpoint on the
//!   other one and a replacement, and its committed output is still exactly the reference.
//! - A TaskManager frozen with SIGSTOP is detected by missed heartbeats; the same holds.
//! - With file HA, two JobManagers given the same job (application mode): the leader runs it; killed
//!   with SIGKILL mid-run, the standby takes over, the TaskManagers find it, the job resumes from
//!   its latest checkpoint and its committed output is exactly the reference. A JobManager started
//!   after the job finished reports it FINISHED and never runs it again.
//! - A job submitted through REST to the leader of such a pair is in the HA records (its name and
//!   arguments); the leader killed with SIGKILL, the standby resumes it from its latest checkpoint
//!   and its committed output is exactly the reference.
//! - A leader frozen with SIGSTOP (heartbeat timeouts too long to notice) is replaced once its lease
//!   runs out; its TaskManager sees the newer epoch in the HA records and moves to the new leader;
//!   woken up, the old leader finds its lease taken and exits.
//! - With an OTLP endpoint set, the JobManager's checkpoint and deployment spans and the
//!   TaskManager's snapshot and task deployment spans reach the collector as one trace each.
//! - `wordcount --discovery-interval` over a directory whose files are appended to (partial lines
//!   completed later) and added while it runs, with a TaskManager killed mid-run: the enumerator on
//!   the JobManager hands out ranges of complete lines as they appear, and the committed running
//!   counts are exactly 1..n for every word, n being its count in what was written.
//! - A SQL script of two INSERTs submitted with `ferroflink sql -f .. --jobmanager <url>` runs as
//!   two jobs on two TaskManagers, each planning the SQL itself (the plan digests agree), and
//!   writes the rows computed here; a script the JobManager cannot plan and a query are refused
//!   with the reason. `ferroflink jobmanager --sql <file>` runs a one-job script (application
//!   mode) and refuses a script of two jobs.
//! - The web UI, loaded by headless Chromium, shows a running job: its graph with a box per vertex,
//!   parallelism and back-pressure, its checkpoints and the TaskManagers.

#[path = "../../worker/tests/support/moto.rs"]
mod moto;

use ferroflink::cluster::client::RestClient;
use ferroflink_e2e::{Process, assert_same, binary, committed_lines, temp};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A JobManager and its REST client.
struct JobManager {
    process: Process,
    rpc: String,
    rest: RestClient,
    url: String,
}

fn jobmanager(extra: &[&str]) -> JobManager {
    jobmanager_with_env(extra, &[])
}

fn jobmanager_with_env(extra: &[&str], env: &[(&str, &str)]) -> JobManager {
    let mut args = vec!["jobmanager", "--bind", "127.0.0.1", "--rpc-port", "0", "--rest-port", "0"];
    args.extend_from_slice(extra);
    let process = Process::start(&args, env);
    let line = process.wait_for_line("REST API and web UI on", Duration::from_secs(30));
    // "JobManager: RPC on 127.0.0.1:P, REST API and web UI on http://127.0.0.1:R"
    let rpc = line.split("RPC on ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let url = line.split("web UI on ").nth(1).unwrap().trim().to_string();
    JobManager { process, rpc, rest: RestClient::new(&url), url }
}

fn taskmanager(jm: &JobManager, slots: usize) -> Process {
    taskmanager_with(&["--jobmanager-address", &jm.rpc], slots, &[])
}

/// A TaskManager that finds its JobManager through `how` (`--jobmanager-address A` or `--ha H`).
fn taskmanager_with(how: &[&str], slots: usize, env: &[(&str, &str)]) -> Process {
    let slots = slots.to_string();
    let mut args = vec!["taskmanager", "--slots", &slots, "--bind", "127.0.0.1", "--metrics-port", "0"];
    args.extend_from_slice(how);
    let tm = Process::start(&args, env);
    tm.wait_for_line("registered with the JobManager", Duration::from_secs(30));
    tm
}

fn submit(jm: &JobManager, args: &[String]) -> String {
    let out = Command::new(binary()).args(["submit", "--jobmanager", &jm.url]).args(args).output().unwrap();
    assert!(out.status.success(), "submit failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn state(jm: &JobManager, id: &str) -> (String, Value) {
    let job = jm.rest.job(id).unwrap_or_else(|e| panic!("{e}; JobManager log:\n{}", jm.process.log()));
    (job["state"].as_str().unwrap().to_string(), job)
}

/// The Prometheus text at `base/metrics`.
fn prometheus(base: &str) -> String {
    let text = ureq::get(&format!("{base}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(text.contains("# TYPE"), "{text}");
    text
}

fn completed_checkpoints(jm: &JobManager, id: &str) -> u64 {
    jm.rest.call("GET", &format!("/jobs/{id}/checkpoints"), None).unwrap()["counts"]["completed"].as_u64().unwrap()
}

fn wait_checkpoints(jm: &JobManager, id: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while completed_checkpoints(jm, id) < n {
        assert!(Instant::now() < deadline, "no checkpoints: {}", jm.process.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_state(jm: &JobManager, id: &str, want: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (s, job) = state(jm, id);
        if s == want {
            return job;
        }
        assert!(
            Instant::now() < deadline && !(s == "FAILED" || s == "FINISHED" || s == "CANCELED"),
            "job {id} is {s}, not {want}: {job}\nJobManager log:\n{}",
            jm.process.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Nexmark tumble-count (bids per auction per 10 s window: keyed, windowed) into the exactly-once
/// file sink.
fn tumble_count(events: u64, rate: u64, output: &Path, parallelism: usize) -> Vec<String> {
    [
        "nexmark",
        "--query",
        "tumble-count",
        "--events",
        &events.to_string(),
        "--rate",
        &rate.to_string(),
        "--parallelism",
        &parallelism.to_string(),
        "--output",
        output.to_str().unwrap(),
        "--checkpoint-interval",
        "200ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The same job run by `ferroflink run` in one process: the reference output.
fn reference(events: u64, root: &Path) -> Vec<String> {
    let out = root.join("reference");
    let mut args = vec!["run".to_string()];
    args.extend(tumble_count(events, 0, &out, 1));
    args.retain(|a| a != "--checkpoint-interval" && a != "200ms");
    let run = Command::new(binary()).args(&args).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let lines = committed_lines(&out);
    assert!(lines.len() > 100, "the reference has {} lines", lines.len());
    lines
}

const SQL_ROWS: i64 = 20_000;

/// A SQL script of two jobs (two INSERTs from one `datagen` table, at parallelism 3) into CSV
/// tables under `root` (`a` and `b`).
fn sql_script(root: &Path) -> String {
    format!(
        "SET 'parallelism.default' = '3';
CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{SQL_ROWS}',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{SQL_ROWS}');
CREATE TABLE a (id BIGINT, tripled BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
CREATE TABLE b (id BIGINT, label STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO a SELECT id, id * 3 FROM src WHERE MOD(id, 3) = 0;
INSERT INTO b SELECT id, CONCAT('x', CAST(id AS STRING)) FROM src WHERE MOD(id, 3) = 1;",
        root.join("a").display(),
        root.join("b").display()
    )
}

/// The rows of [`sql_script`]'s tables `a` and `b`, computed here.
fn sql_expected() -> (Vec<String>, Vec<String>) {
    let mut a: Vec<String> = (1..=SQL_ROWS).filter(|i| i % 3 == 0).map(|i| format!("{i},{}", i * 3)).collect();
    let mut b: Vec<String> = (1..=SQL_ROWS).filter(|i| i % 3 == 1).map(|i| format!("{i},x{i}")).collect();
    a.sort();
    b.sort();
    (a, b)
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn a_sql_script_submitted_to_a_cluster_runs_each_job_there() {
    let root = temp("sql-submit");
    let jm = jobmanager(&[]);
    let _tms = [taskmanager(&jm, 2), taskmanager(&jm, 2)];
    let file = root.join("jobs.sql");
    std::fs::write(&file, sql_script(&root)).unwrap();
    let out = Command::new(binary()).arg("sql").arg("-f").arg(&file).args(["--jobmanager", &jm.url]).output().unwrap();
    assert!(out.status.success(), "sql --jobmanager failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("Job ID: ")).collect();
    assert_eq!(ids.len(), 2, "one id per INSERT: {stdout}");
    for id in &ids {
        let job = wait_state(&jm, id, "FINISHED", Duration::from_secs(60));
        assert!(job["name"].as_str().unwrap().starts_with("insert-into_"), "{job}");
    }
    // Both TaskManagers planned the SQL themselves and ran its subtasks (the plan digests agreed).
    let (a, b) = sql_expected();
    assert_same(&sorted(committed_lines(&root.join("a"))), &a);
    assert_same(&sorted(committed_lines(&root.join("b"))), &b);
    // A script the JobManager cannot plan is refused with the planner's reason, and nothing runs.
    let bad = root.join("bad.sql");
    std::fs::write(
        &bad,
        "CREATE TABLE t (id INT) WITH ('connector' = 'datagen'); INSERT INTO nowhere SELECT id FROM t;",
    )
    .unwrap();
    let out = Command::new(binary()).arg("sql").arg("-f").arg(&bad).args(["--jobmanager", &jm.url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("nowhere"), "{stderr}");
    // A query's rows would print on the client: it is refused, saying so.
    let out = Command::new(binary()).args(["sql", "-e", "SELECT 1;", "--jobmanager", &jm.url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("runs locally"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_jobmanager_given_a_sql_script_runs_its_job_in_application_mode() {
    let root = temp("sql-application");
    let file = root.join("job.sql");
    // Its first INSERT alone.
    let script = sql_script(&root);
    let one = &script[..script.rfind("INSERT INTO b").unwrap()];
    std::fs::write(&file, one).unwrap();
    let jm = jobmanager(&["--sql", file.to_str().unwrap()]);
    let _tm = taskmanager(&jm, 3);
    let jobs = jm.rest.list().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    wait_state(&jm, &jobs[0].0, "FINISHED", Duration::from_secs(60));
    assert_same(&sorted(committed_lines(&root.join("a"))), &sql_expected().0);
    // A script of two jobs is refused: application mode runs one.
    std::fs::write(&file, &script).unwrap();
    let out = Command::new(binary())
        .args(["jobmanager", "--rest-port", "0", "--rpc-port", "0", "--sql", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("application mode runs one job"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cluster_output_equals_a_local_run() {
    let root = temp("plain");
    let jm = jobmanager(&["--checkpoint-dir", root.join("checkpoints").to_str().unwrap()]);
    // The batches between the two TaskManagers go LZ4-compressed.
    let how = ["--jobmanager-address", jm.rpc.as_str()];
    let lz4 = [("FERROFLINK__TASKMANAGER__NETWORK_COMPRESSION", "lz4")];
    let _tms = [taskmanager_with(&how, 2, &lz4), taskmanager_with(&how, 2, &lz4)];
    let out = root.join("out");
    let id = submit(&jm, &tumble_count(200_000, 200_000, &out, 4));
    let running = wait_state(&jm, &id, "RUNNING", Duration::from_secs(30));
    let vertices = running["vertices"].as_array().unwrap();
    assert!(vertices.iter().all(|v| v["parallelism"] == 4 && v["status"] == "RUNNING"), "{running}");
    assert!(vertices.iter().any(|v| !v["inputs"].as_array().unwrap().is_empty()), "the plan has edges: {running}");
    let jobs = jm.rest.list().unwrap();
    assert_eq!(jobs.iter().map(|(i, s, _)| (i.as_str(), s.as_str())).collect::<Vec<_>>(), [(id.as_str(), "RUNNING")]);
    wait_state(&jm, &id, "FINISHED", Duration::from_secs(120));
    let checkpoints = jm.rest.call("GET", &format!("/jobs/{id}/checkpoints"), None).unwrap();
    assert!(checkpoints["counts"]["completed"].as_u64().unwrap() >= 2, "{checkpoints}");
    assert_same(&committed_lines(&out), &reference(200_000, &root));
    let overview = jm.rest.call("GET", "/overview", None).unwrap();
    assert_eq!(
        (overview["taskmanagers"].as_u64(), overview["jobs-finished"].as_u64()),
        (Some(2), Some(1)),
        "{overview}"
    );
    assert_eq!(overview["slots-available"].as_u64(), Some(4), "slots are given back: {overview}");
    let metrics = prometheus(&jm.url);
    let job = format!("job_id=\"{id}\"");
    for series in [
        "ferroflink_jobmanager_leader 1",
        "ferroflink_jobmanager_taskmanagers 2",
        &format!("ferroflink_job_restarts_total{{{job},job_name=\"nexmark tumble-count\"}} 0"),
        &format!("ferroflink_job_checkpoints_completed_total{{{job}"),
        &format!("ferroflink_job_last_checkpoint_size_bytes{{{job}"),
        &format!("ferroflink_job_last_checkpoint_duration_seconds{{{job}"),
        &format!("ferroflink_job_watermark_lag_seconds{{{job}"),
        &format!("ferroflink_vertex_records_in_total{{{job},vertex="),
        &format!("ferroflink_vertex_backpressured_seconds_total{{{job},vertex="),
    ] {
        assert!(metrics.contains(series), "no {series} in /metrics:\n{metrics}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_job_waits_for_slots_and_says_why() {
    let root = temp("slots");
    let jm = jobmanager(&[]);
    let _small = taskmanager(&jm, 1);
    let out = root.join("out");
    let mut args = tumble_count(20_000, 0, &out, 3);
    args.truncate(args.len() - 2);
    let id = submit(&jm, &args);
    std::thread::sleep(Duration::from_millis(600));
    let (s, job) = state(&jm, &id);
    assert_eq!(s, "CREATED", "{job}");
    let why = job["status-message"].as_str().unwrap_or_default();
    assert!(why.contains("needs 3 slots") && why.contains("with 1 free"), "{why}");
    let _more = taskmanager(&jm, 2);
    wait_state(&jm, &id, "FINISHED", Duration::from_secs(60));
    assert!(!committed_lines(&out).is_empty());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn unknown_jobs_and_arguments_are_refused_with_the_reason() {
    let jm = jobmanager(&[]);
    let out = Command::new(binary()).args(["submit", "--jobmanager", &jm.url, "nope"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown job 'nope'") && err.contains("wordcount"), "{err}");
    let out =
        Command::new(binary()).args(["submit", "--jobmanager", &jm.url, "nexmark", "--query", "q99"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("q99"));
    let missing = jm.rest.job("0123").unwrap_err().to_string();
    assert!(missing.contains("404") && missing.contains("not known"), "{missing}");
}

/// Kills (or freezes) the TaskManager running a job after two checkpoints, starts a replacement,
/// and checks that the job restarts from a checkpoint with exactly the reference output. Answers
/// the time from the signal to the job running again.
fn lose_a_taskmanager(name: &str, signal: &str, s3: Option<&moto::Moto>) -> Duration {
    let root = temp(name);
    // Checkpoints in the S3 server when one is given (every process reaches it), else on disk.
    let credentials = s3.map(|m| m.credentials_file().to_str().unwrap().to_string()).unwrap_or_default();
    let env: Vec<(&str, &str)> = match s3 {
        Some(m) => vec![
            ("FERROFLINK__S3__ENDPOINT", m.endpoint.as_str()),
            ("FERROFLINK__S3__PATH_STYLE", "true"),
            ("FERROFLINK__S3__REGION", "us-east-1"),
            ("FERROFLINK__S3__CREDENTIALS_FILE", credentials.as_str()),
        ],
        None => vec![],
    };
    let local = root.join("checkpoints");
    let dir = if s3.is_some() { "s3://ckpts/cluster" } else { local.to_str().unwrap() };
    let jm = jobmanager_with_env(&["--checkpoint-dir", dir], &env);
    let how = ["--jobmanager-address", jm.rpc.as_str()];
    let tm = taskmanager_with(&how, 2, &env);
    let _survivor = taskmanager_with(&how, 2, &env);
    let out = root.join("out");
    let events = 400_000;
    let id = submit(&jm, &tumble_count(events, 100_000, &out, 4));
    wait_state(&jm, &id, "RUNNING", Duration::from_secs(30));
    wait_checkpoints(&jm, &id, 2);
    let replacement = taskmanager_with(&how, 2, &env);
    let lost_at = Instant::now();
    tm.signal(signal);
    let restarted = Instant::now() + Duration::from_secs(60);
    // The job leaves RUNNING, then runs again on the replacement.
    while state(&jm, &id).0 == "RUNNING" && Instant::now() < restarted {
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_state(&jm, &id, "RUNNING", Duration::from_secs(60));
    let recovery = lost_at.elapsed();
    wait_state(&jm, &id, "FINISHED", Duration::from_secs(120));
    let log = jm.process.log();
    assert!(log.contains("TaskManager lost") && log.contains("from checkpoint"), "{log}");
    if s3.is_some() {
        assert!(log.contains("(s3://ckpts/cluster/"), "restored from the S3 server: {log}");
    }
    let restarts = format!("ferroflink_job_restarts_total{{job_id=\"{id}\",job_name=\"nexmark tumble-count\"}} ");
    let metrics = prometheus(&jm.url);
    let line = metrics.lines().find(|l| l.starts_with(&restarts)).unwrap_or_else(|| panic!("{metrics}"));
    assert!(line[restarts.len()..].parse::<u64>().unwrap() >= 1, "{line}");
    assert_same(&committed_lines(&out), &reference(events, &root));
    drop(replacement);
    drop(tm);
    let _ = std::fs::remove_dir_all(&root);
    recovery
}

#[test]
fn a_sql_job_survives_a_killed_taskmanager_and_a_jobmanager_failover_with_exact_output() {
    const ROWS: i64 = 600_000;
    let root = temp("sql-failover");
    let out = root.join("out");
    // Keyed 1 s event-time windows (id i at i ms) counted and summed per key, at 30 000 rows a second.
    let script = format!(
        "SET 'parallelism.default' = '4';
SET 'execution.checkpointing.interval' = '300 ms';
CREATE TABLE ticks (id BIGINT, ts AS TO_TIMESTAMP_LTZ(id, 3), WATERMARK FOR ts AS ts) WITH (
  'connector' = 'datagen', 'rows-per-second' = '30000', 'number-of-rows' = '{ROWS}',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}');
CREATE TABLE windows (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO windows
SELECT MOD(id, 7), COUNT(*), SUM(id) FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY MOD(id, 7), window_start, window_end;",
        out.display()
    );
    let file = root.join("job.sql");
    std::fs::write(&file, script).unwrap();
    let ha = format!("file:{}", root.join("ha").display());
    let checkpoints = root.join("checkpoints");
    let start_jobmanager = || {
        let args = ["--ha", &ha, "--checkpoint-dir", checkpoints.to_str().unwrap(), "--sql", file.to_str().unwrap()];
        jobmanager_with_env(&args, &[("FERROFLINK__HA__LEASE_DURATION", "2s")])
    };
    let leader = start_jobmanager();
    leader.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    let standby = start_jobmanager();
    standby.process.wait_for_line("standing by", Duration::from_secs(30));
    let how = ["--ha", ha.as_str()];
    let (lost, _kept) = (taskmanager_with(&how, 2, &[]), taskmanager_with(&how, 2, &[]));
    let id = leader.rest.list().unwrap()[0].0.clone();
    wait_state(&leader, &id, "RUNNING", Duration::from_secs(30));
    wait_checkpoints(&leader, &id, 2);

    // GET /jobs/<id>/plan (Flink's path) describes each operator as EXPLAIN does, with its state
    // in the latest checkpoint; the web UI shows them and the script.
    let plan = leader.rest.call("GET", &format!("/jobs/{id}/plan"), None).unwrap();
    let operators: Vec<&Value> =
        plan["plan"]["nodes"].as_array().unwrap().iter().flat_map(|n| n["operators"].as_array().unwrap()).collect();
    let window = operators.iter().find(|o| o["description"].as_str().unwrap().starts_with("WindowAggregate("));
    let window = window.unwrap_or_else(|| panic!("no window aggregate in {plan}"));
    assert!(window["description"].as_str().unwrap().ends_with("[insert-only, bounded state]"), "{window}");
    assert!(window["state_size"].as_u64().unwrap() > 0, "{window}");
    let dom = rendered_dom(&format!("{}/#/jobs/{id}", leader.url), &root);
    assert!(dom.contains("INTERVAL '1' SECOND") && dom.contains("insert-only, bounded state"), "{dom}");
    assert!(dom.contains(&format!("data-operator=\"{}\"", window["id"].as_str().unwrap())), "{dom}");

    // A TaskManager SIGKILLed: the job restarts from its checkpoint on the replacement.
    let _replacement = taskmanager_with(&how, 2, &[]);
    lost.signal("-KILL");
    let left = Instant::now() + Duration::from_secs(30);
    while state(&leader, &id).0 == "RUNNING" && Instant::now() < left {
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_state(&leader, &id, "RUNNING", Duration::from_secs(60));
    let before = completed_checkpoints(&leader, &id);
    wait_checkpoints(&leader, &id, before + 2);
    assert!(leader.process.log().contains("from checkpoint"), "{}", leader.process.log());

    // The leading JobManager SIGKILLed: the standby resumes the job from the HA records.
    leader.process.signal("-KILL");
    standby.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    wait_state(&standby, &id, "RUNNING", Duration::from_secs(60));
    wait_state(&standby, &id, "FINISHED", Duration::from_secs(120));
    assert!(standby.process.log().contains("resuming the job"), "{}", standby.process.log());

    // Computed here: window w holds ids [1000 w, 1000 w + 999] ∩ [1, ROWS].
    let mut want = std::collections::BTreeMap::<(i64, i64), (i64, i64)>::new();
    for id in 1..=ROWS {
        let w = want.entry((id / 1000, id % 7)).or_default();
        (w.0, w.1) = (w.0 + 1, w.1 + id);
    }
    let want: Vec<String> = want.iter().map(|((_, k), (n, sum))| format!("{k},{n},{sum}")).collect();
    assert_same(&sorted(committed_lines(&out)), &sorted(want));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn killed_taskmanager_is_replaced_and_the_output_is_exact() {
    let server = moto::Moto::start();
    server.create_bucket("ckpts");
    let recovery = lose_a_taskmanager("kill", "-KILL", Some(&server));
    eprintln!("SIGKILL to running again: {recovery:?}");
}

#[test]
fn frozen_taskmanager_is_detected_by_heartbeats() {
    let recovery = lose_a_taskmanager("stop", "-STOP", None);
    eprintln!("SIGSTOP to running again: {recovery:?}");
}

/// Both JobManagers of an HA pair: the same job (application mode), HA records in `ha`, a short
/// lease so the test is quick.
/// Appends `text` to `path`.
fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_monitored_directory_is_read_exactly_once_while_it_grows_and_a_taskmanager_dies() {
    let root = temp("monitor");
    let input = root.join("input");
    std::fs::create_dir_all(&input).unwrap();
    let word = |i: usize| format!("w{}", i * 7 % 23);
    let mut written: std::collections::BTreeMap<String, u64> = Default::default();
    let mut line_no = 0;
    let mut lines = |n: usize, written: &mut std::collections::BTreeMap<String, u64>| {
        let mut text = String::new();
        for _ in 0..n {
            let (a, b) = (word(line_no), word(line_no + 5));
            *written.entry(a.clone()).or_default() += 1;
            *written.entry(b.clone()).or_default() += 1;
            text.push_str(&format!("{a} {b}\n"));
            line_no += 1;
        }
        text
    };
    append(&input.join("a.txt"), &lines(200, &mut written));
    let jm = jobmanager(&["--checkpoint-dir", root.join("checkpoints").to_str().unwrap()]);
    let how = ["--jobmanager-address", jm.rpc.as_str()];
    let tm = taskmanager_with(&how, 2, &[]);
    let _survivor = taskmanager_with(&how, 2, &[]);
    let out = root.join("out");
    let args: Vec<String> = [
        "wordcount",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--discovery-interval",
        "100ms",
        "--parallelism",
        "4",
        "--checkpoint-interval",
        "200ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let id = submit(&jm, &args);
    wait_state(&jm, &id, "RUNNING", Duration::from_secs(30));
    let mut killed = None;
    for round in 0..30 {
        // Appends (the last line of b.txt left unfinished for a round), and a new file now and then.
        append(&input.join("a.txt"), &lines(40, &mut written));
        let text = lines(30, &mut written);
        let (done, partial) = text.split_at(text.len() - 4);
        append(&input.join("b.txt"), done);
        std::thread::sleep(Duration::from_millis(60));
        append(&input.join("b.txt"), partial);
        if round % 10 == 9 {
            append(&input.join(format!("c{round}.txt")), &lines(25, &mut written));
        }
        if round == 12 {
            wait_checkpoints(&jm, &id, 2);
            let replacement = taskmanager_with(&how, 2, &[]);
            tm.signal("-KILL");
            killed = Some(replacement);
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    assert!(killed.is_some());
    // Every running count 1..=n of every word, each committed once.
    let want: Vec<String> = {
        let mut w: Vec<String> = written.iter().flat_map(|(w, n)| (1..=*n).map(move |k| format!("{w}\t{k}"))).collect();
        w.sort();
        w
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = committed_lines(&out);
        if got.len() >= want.len() || Instant::now() > deadline {
            assert_same(&got, &want);
            break;
        }
        assert_ne!(state(&jm, &id).0, "FAILED", "{}", jm.process.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = jm.process.log();
    assert!(log.contains("TaskManager lost") && log.contains("from checkpoint"), "{log}");
    jm.rest.call("PATCH", &format!("/jobs/{id}?mode=cancel"), None).unwrap();
    wait_state(&jm, &id, "CANCELED", Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&root);
}

fn ha_jobmanager(ha: &str, checkpoints: &Path, job: &[String]) -> JobManager {
    let mut args = vec!["--ha", ha, "--checkpoint-dir", checkpoints.to_str().unwrap(), "--job"];
    args.extend(job.iter().map(String::as_str));
    jobmanager_with_env(&args, &[("FERROFLINK__HA__LEASE_DURATION", "2s")])
}

#[test]
fn killed_leading_jobmanager_is_replaced_by_the_standby_and_the_output_is_exact() {
    let root = temp("ha");
    let ha = format!("file:{}", root.join("ha").display());
    let checkpoints = root.join("checkpoints");
    let out = root.join("out");
    let events = 400_000;
    let job = tumble_count(events, 100_000, &out, 4);
    let leader = ha_jobmanager(&ha, &checkpoints, &job);
    leader.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    let standby = ha_jobmanager(&ha, &checkpoints, &job);
    standby.process.wait_for_line("standing by", Duration::from_secs(30));
    let _tms = [taskmanager_with(&["--ha", &ha], 2, &[]), taskmanager_with(&["--ha", &ha], 2, &[])];
    let jobs = leader.rest.list().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let id = jobs[0].0.clone();
    wait_state(&leader, &id, "RUNNING", Duration::from_secs(30));
    // Compared once the state has settled: the job moves on between two calls otherwise.
    let forwarded = standby.rest.list().unwrap();
    assert_eq!(forwarded, leader.rest.list().unwrap(), "the standby forwards REST calls to the leader");
    wait_checkpoints(&leader, &id, 2);

    let killed_at = Instant::now();
    leader.process.signal("-KILL");
    standby.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    wait_state(&standby, &id, "RUNNING", Duration::from_secs(60));
    eprintln!("leading JobManager SIGKILL to the job running again: {:?}", killed_at.elapsed());
    wait_state(&standby, &id, "FINISHED", Duration::from_secs(120));
    let log = standby.process.log();
    assert!(log.contains("resuming the job") && log.contains("chk-"), "{log}");
    let want = reference(events, &root);
    assert_same(&committed_lines(&out), &want);

    // A JobManager restarted after the job finished lists it as FINISHED and does not run it again.
    drop(standby);
    let restarted = ha_jobmanager(&ha, &checkpoints, &job);
    restarted.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    assert_eq!(state(&restarted, &id).0, "FINISHED");
    std::thread::sleep(Duration::from_millis(500));
    let log = restarted.process.log();
    assert!(!log.contains("job started"), "{log}");
    assert_same(&committed_lines(&out), &want);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_job_submitted_through_rest_is_recorded_and_resumed_by_the_standby() {
    let root = temp("ha-rest");
    let ha = format!("file:{}", root.join("ha").display());
    let checkpoints = root.join("checkpoints");
    let out = root.join("out");
    let events = 300_000;
    let session = |ha: &str| {
        let args = ["--ha", ha, "--checkpoint-dir", checkpoints.to_str().unwrap()];
        jobmanager_with_env(&args, &[("FERROFLINK__HA__LEASE_DURATION", "2s")])
    };
    let leader = session(&ha);
    leader.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    let standby = session(&ha);
    standby.process.wait_for_line("standing by", Duration::from_secs(30));
    let _tms = [taskmanager_with(&["--ha", &ha], 2, &[]), taskmanager_with(&["--ha", &ha], 2, &[])];
    let job = tumble_count(events, 100_000, &out, 4);
    let id = submit(&leader, &job);
    wait_state(&leader, &id, "RUNNING", Duration::from_secs(30));
    wait_checkpoints(&leader, &id, 2);
    // The HA records hold what every process plans the job from: its spec, the job's own arguments
    // apart from the settings its flags gave.
    let records: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("ha/default/jobs.json")).unwrap()).unwrap();
    let spec = &records["record"]["jobs"][&id]["spec"];
    assert_eq!(spec["job"]["name"], "nexmark", "{records}");
    let recorded: Vec<String> = serde_json::from_value(spec["job"]["args"].clone()).unwrap();
    assert_eq!(
        recorded,
        ["--query", "tumble-count", "--events", "300000", "--rate", "100000", "--output", out.to_str().unwrap()]
    );
    assert_eq!(spec["settings"]["job"]["parallelism"], 4, "{spec}");
    assert_eq!(spec["settings"]["checkpointing"]["interval"], "200ms", "{spec}");
    assert_eq!(spec["settings"]["checkpointing"]["dir"], checkpoints.to_str().unwrap(), "{spec}");

    leader.process.signal("-KILL");
    standby.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    wait_state(&standby, &id, "FINISHED", Duration::from_secs(120));
    let log = standby.process.log();
    assert!(log.contains("resuming the job") && log.contains("chk-"), "{log}");
    assert_same(&committed_lines(&out), &reference(events, &root));
    let _ = std::fs::remove_dir_all(&root);
}

/// The DOM of `url` after its scripts ran (headless Chromium, from Debian's `chromium` package).
fn rendered_dom(url: &str, scratch: &Path) -> String {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("no Chromium: install Debian's chromium package (.ci/setup does)");
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .arg(format!("--user-data-dir={}", scratch.join("chromium").display()))
        .args(["--virtual-time-budget=6000", "--dump-dom", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_web_ui_shows_a_running_job_in_a_browser() {
    let root = temp("ui");
    let jm = jobmanager(&["--checkpoint-dir", root.join("checkpoints").to_str().unwrap()]);
    let tm = taskmanager(&jm, 2);
    let id = submit(&jm, &tumble_count(50_000_000, 20_000, &root.join("out"), 2));
    let job = wait_state(&jm, &id, "RUNNING", Duration::from_secs(30));
    wait_checkpoints(&jm, &id, 1);
    let dom = rendered_dom(&jm.url, &root);
    assert!(dom.contains(&format!("data-job=\"{id}\"")), "the job is listed: {dom}");
    assert!(dom.contains("<span class=\"state RUNNING\">RUNNING</span>"), "{dom}");
    let vertices = job["vertices"].as_array().unwrap();
    assert!(vertices.len() >= 2);
    for v in vertices {
        assert!(dom.contains(&format!("data-vertex=\"{}\"", v["id"].as_str().unwrap())), "no box for {v}: {dom}");
    }
    assert_eq!(
        dom.matches("class=\"edge\"").count(),
        vertices.iter().map(|v| v["inputs"].as_array().unwrap().len()).sum::<usize>()
    );
    assert!(dom.contains("Parallelism: 2") && dom.contains("data-backpressure=\""), "{dom}");
    assert!(dom.contains("nexmark --query tumble-count") && dom.contains("data-operator=\""), "{dom}");
    assert!(dom.contains("completed,") && dom.contains("chk-"), "checkpoint history: {dom}");
    let tm_id =
        jm.rest.call("GET", "/taskmanagers", None).unwrap()["taskmanagers"][0]["id"].as_str().unwrap().to_string();
    assert!(dom.contains(&tm_id), "the TaskManager is listed: {dom}");
    // The TaskManager's own /metrics, on the port its log names.
    let started = tm.wait_for_line("TaskManager started", Duration::from_secs(5));
    let port = started.split("metrics=").nth(1).unwrap().split_whitespace().next().unwrap().rsplit(':').next().unwrap();
    let metrics = prometheus(&format!("http://127.0.0.1:{port}"));
    for series in [
        "ferroflink_taskmanager_registered 1",
        "ferroflink_task_records_in_total{",
        "ferroflink_task_watermark_lag_seconds{",
    ] {
        assert!(metrics.contains(series), "no {series} in the TaskManager's /metrics:\n{metrics}");
    }
    jm.rest.cancel(&id).unwrap();
    drop(tm);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn spans_of_jobmanager_and_taskmanager_join_in_one_trace() {
    let collector = ferroflink_telemetry::collector::Collector::start();
    let endpoint = collector.endpoint();
    let otel = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let root = temp("otel");
    let jm = jobmanager_with_env(&["--checkpoint-dir", root.join("checkpoints").to_str().unwrap()], &otel);
    let _tm = taskmanager_with(&["--jobmanager-address", &jm.rpc], 2, &otel);
    let id = submit(&jm, &tumble_count(200_000, 100_000, &root.join("out"), 2));
    wait_state(&jm, &id, "FINISHED", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(20);
    let (checkpoint, snapshot, deploy, deployed) = loop {
        let spans = collector.spans(0);
        let find = |name: &str, service: &str| spans.iter().find(|s| s.name == name && s.service == service).cloned();
        let checkpoint = find("checkpoint", "ferroflink-jobmanager");
        let deploy = find("deploy", "ferroflink-jobmanager");
        let snapshot = checkpoint
            .as_ref()
            .and_then(|c| spans.iter().find(|s| s.name == "snapshot" && s.parent_span_id == c.span_id).cloned());
        let deployed = find("deploy tasks", "ferroflink-taskmanager");
        if let (Some(c), Some(s), Some(d), Some(t)) = (checkpoint, snapshot, deploy, deployed) {
            break (c, s, d, t);
        }
        assert!(Instant::now() < deadline, "spans missing; received {spans:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(snapshot.service, "ferroflink-taskmanager");
    assert_eq!(snapshot.trace_id, checkpoint.trace_id, "a TaskManager's snapshot joins the checkpoint's trace");
    assert_eq!((deployed.trace_id, deployed.parent_span_id), (deploy.trace_id, deploy.span_id));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_frozen_leader_is_deposed_and_its_taskmanager_moves_to_the_new_one() {
    let root = temp("deposed");
    let ha = format!("file:{}", root.join("ha").display());
    // Heartbeats that would take a minute to notice anything: only the epochs can tell.
    let env = [("FERROFLINK__HA__LEASE_DURATION", "2s"), ("FERROFLINK__HEARTBEAT__TIMEOUT", "60s")];
    let mut old = jobmanager_with_env(&["--ha", &ha], &env);
    old.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    let tm = Process::start(
        &["taskmanager", "--ha", &ha, "--slots", "1", "--bind", "127.0.0.1", "--metrics-port", "0"],
        &[("FERROFLINK__HEARTBEAT__TIMEOUT", "60s")],
    );
    tm.wait_for_line("registered with the JobManager", Duration::from_secs(30));
    let new = jobmanager_with_env(&["--ha", &ha], &env);
    new.process.wait_for_line("standing by", Duration::from_secs(30));

    old.process.signal("-STOP");
    new.process.wait_for_line("this JobManager leads", Duration::from_secs(30));
    tm.wait_for_line("a newer JobManager (epoch 2) leads", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while new.rest.call("GET", "/overview", None).unwrap()["taskmanagers"] != 1 {
        assert!(Instant::now() < deadline, "the TaskManager never registered with the new leader: {}", tm.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The old leader wakes up, finds its lease taken, and exits.
    old.process.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = old.process.exit_status() {
            break status;
        }
        assert!(Instant::now() < deadline, "the deposed leader did not exit: {}", old.process.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    assert!(old.process.log().contains("lost its leadership"), "{}", old.process.log());
    let _ = std::fs::remove_dir_all(&root);
}
