//! The distributed runtime as a user runs it: `ferroflink jobmanager` and `ferroflink taskmanager`
//! processes on 127.0.0.1, jobs submitted with `ferroflink submit` and watched through the REST API.
//! - A keyed, windowed job with the exactly-once file sink at parallelism 4 on two TaskManagers of
//!   two slots (so its key-by exchange crosses the data plane) writes the same committed output as
//!   the same job run in one process, with checkpoints completed along the way.
//! - A job that needs more slots than are free waits with a status that says so, and runs once
//!   enough slots registered.
//! - One of the two TaskManagers killed with SIGKILL mid-run is detected at once (its session
//!   breaks); the job restarts from its latest checkpoint on the other one and a replacement, and
//!   its committed output is still exactly the reference.
//! - A TaskManager frozen with SIGSTOP is detected by missed heartbeats; the same holds.

use ferroflink::cluster::client::RestClient;
use ferroflink_e2e::binary;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process, killed when dropped; its standard error is collected.
struct Process {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Process {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut cmd = Command::new(binary());
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped()).env("RUST_LOG", "ferroflink=info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Process { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log has a line containing `needle`; returns that line.
    fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(Instant::now() < deadline, "no line with '{needle}' within {timeout:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too, without letting it run again first.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JobManager and its REST client.
struct JobManager {
    process: Process,
    rpc: String,
    rest: RestClient,
    url: String,
}

fn jobmanager(extra: &[&str]) -> JobManager {
    let mut args = vec!["jobmanager", "--bind", "127.0.0.1", "--rpc-port", "0", "--rest-port", "0"];
    args.extend_from_slice(extra);
    let process = Process::start(&args, &[]);
    let line = process.wait_for_line("REST API and web UI on", Duration::from_secs(30));
    // "JobManager: RPC on 127.0.0.1:P, REST API and web UI on http://127.0.0.1:R"
    let rpc = line.split("RPC on ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let url = line.split("web UI on ").nth(1).unwrap().trim().to_string();
    JobManager { process, rpc, rest: RestClient::new(&url), url }
}

fn taskmanager(jm: &JobManager, slots: usize) -> Process {
    let slots = slots.to_string();
    let args = [
        "taskmanager",
        "--jobmanager-address",
        &jm.rpc,
        "--slots",
        &slots,
        "--bind",
        "127.0.0.1",
        "--metrics-port",
        "0",
    ];
    let tm = Process::start(&args, &[]);
    tm.wait_for_line("registered with the JobManager", Duration::from_secs(30));
    tm
}

fn submit(jm: &JobManager, args: &[String]) -> String {
    let out = Command::new(binary()).args(["submit", "--jobmanager", &jm.url]).args(args).output().unwrap();
    assert!(out.status.success(), "submit failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn state(jm: &JobManager, id: &str) -> (String, Value) {
    let job = jm.rest.job(id).unwrap();
    (job["state"].as_str().unwrap().to_string(), job)
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

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ff-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Committed lines (files not starting with `.` or `_`), sorted.
fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && !name.starts_with('_') {
            lines.extend(std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
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

fn assert_same(got: &[String], want: &[String]) {
    if got != want {
        fn count(v: &[String]) -> BTreeMap<&String, i64> {
            let mut m = BTreeMap::new();
            for l in v {
                *m.entry(l).or_default() += 1;
            }
            m
        }
        let (g, w) = (count(got), count(want));
        let missing: Vec<_> = w.iter().filter(|(l, n)| g.get(*l) != Some(n)).take(5).collect();
        let extra: Vec<_> = g.iter().filter(|(l, n)| w.get(*l) != Some(n)).take(5).collect();
        panic!("{} lines, {} expected; missing or different {missing:?}; extra {extra:?}", got.len(), want.len());
    }
}

#[test]
fn cluster_output_equals_a_local_run() {
    let root = temp("plain");
    let jm = jobmanager(&["--checkpoint-dir", root.join("checkpoints").to_str().unwrap()]);
    let _tms = [taskmanager(&jm, 2), taskmanager(&jm, 2)];
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
fn lose_a_taskmanager(name: &str, signal: &str) -> Duration {
    let root = temp(name);
    let jm = jobmanager(&["--checkpoint-dir", root.join("checkpoints").to_str().unwrap()]);
    let tm = taskmanager(&jm, 2);
    let _survivor = taskmanager(&jm, 2);
    let out = root.join("out");
    let events = 400_000;
    let id = submit(&jm, &tumble_count(events, 100_000, &out, 4));
    wait_state(&jm, &id, "RUNNING", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while jm.rest.call("GET", &format!("/jobs/{id}/checkpoints"), None).unwrap()["counts"]["completed"]
        .as_u64()
        .unwrap()
        < 2
    {
        assert!(Instant::now() < deadline, "no checkpoints: {}", jm.process.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let replacement = taskmanager(&jm, 2);
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
    assert_same(&committed_lines(&out), &reference(events, &root));
    drop(replacement);
    drop(tm);
    let _ = std::fs::remove_dir_all(&root);
    recovery
}

#[test]
fn killed_taskmanager_is_replaced_and_the_output_is_exact() {
    let recovery = lose_a_taskmanager("kill", "-KILL");
    eprintln!("SIGKILL to running again: {recovery:?}");
}

#[test]
fn frozen_taskmanager_is_detected_by_heartbeats() {
    let recovery = lose_a_taskmanager("stop", "-STOP");
    eprintln!("SIGSTOP to running again: {recovery:?}");
}
