//! Your own job in your own binary: `examples/custom-job` registers `length-count` beside the
//! built-in jobs and gets the whole command line.
//! - `custom-job run length-count` at parallelism 1 and 3, and the same job submitted to a
//!   JobManager and TaskManager of `custom-job` (job flags after the job's arguments), give exactly
//!   the counts of words by length computed here without the engine.
//! - A stock `ferroflink` TaskManager, deployed `length-count` by a `custom-job` JobManager, refuses
//!   it: the job is FAILED at once and its status message names `length-count`.

use ferroflink_e2e::{Process, binary, binary_of, committed_lines, temp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn custom_job() -> PathBuf {
    binary_of("custom-job", "custom-job")
}

fn input() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker/data/hamlet.txt")
}

/// Words by length, counted here: split on all but ASCII letters, digits and `_`.
fn reference() -> BTreeMap<u64, u64> {
    let text = std::fs::read_to_string(input()).unwrap();
    let mut counts = BTreeMap::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        *counts.entry(word.len() as u64).or_default() += 1;
    }
    counts
}

fn parse(lines: impl IntoIterator<Item = String>) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let (length, n) = line.split_once('\t').unwrap_or_else(|| panic!("not length<TAB>count: {line:?}"));
        assert!(counts.insert(length.parse().unwrap(), n.parse().unwrap()).is_none(), "{length} twice");
    }
    counts
}

#[test]
fn length_count_runs_locally_at_parallelism_1_and_3() {
    for p in ["1", "3"] {
        let out = Command::new(custom_job())
            .args(["run", "length-count", "--input"])
            .arg(input())
            .args(["--parallelism", p])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(parse(lines), reference(), "parallelism {p}");
    }
}

struct Cluster {
    jobmanager: Process,
    _taskmanager: Process,
    rest: String,
}

/// A JobManager of `custom-job` and one TaskManager of `taskmanager_binary` with 2 slots.
fn cluster(taskmanager_binary: &Path) -> Cluster {
    let jobmanager = Process::start_binary(
        &custom_job(),
        &["jobmanager", "--bind", "127.0.0.1", "--rpc-port", "0", "--rest-port", "0"],
        &[],
    );
    let line = jobmanager.wait_for_line("REST API and web UI on", Duration::from_secs(30));
    let rpc = line.split("RPC on ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let rest = line.split("web UI on ").nth(1).unwrap().trim().to_string();
    let taskmanager = Process::start_binary(
        taskmanager_binary,
        &["taskmanager", "--bind", "127.0.0.1", "--metrics-port", "0", "--slots", "2", "--jobmanager-address", &rpc],
        &[],
    );
    taskmanager.wait_for_line("registered with the JobManager", Duration::from_secs(30));
    Cluster { jobmanager, _taskmanager: taskmanager, rest }
}

fn submit(cluster: &Cluster, output: &Path) -> String {
    let out = Command::new(custom_job())
        .args(["submit", "--jobmanager", &cluster.rest, "length-count", "--input"])
        .arg(input())
        .arg("--output")
        .arg(output)
        .args(["--parallelism", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn wait_terminal(cluster: &Cluster, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = format!("{}/jobs/{id}", cluster.rest);
        let job: Value =
            serde_json::from_str(&ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap()).unwrap();
        if ["FINISHED", "FAILED", "CANCELED"].contains(&job["state"].as_str().unwrap()) {
            return job;
        }
        assert!(Instant::now() < deadline, "{job}\n{}", cluster.jobmanager.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn length_count_runs_on_a_cluster_of_its_own_binary() {
    let root = temp("custom-job");
    let cluster = cluster(&custom_job());
    let output = root.join("out");
    let id = submit(&cluster, &output);
    let job = wait_terminal(&cluster, &id);
    assert_eq!(job["state"], "FINISHED", "{job}\n{}", cluster.jobmanager.log());
    assert_eq!(parse(committed_lines(&output)), reference());
    // The flag after the job's own arguments is a job setting of its spec, not an argument.
    let spec = &job["spec"];
    assert_eq!(spec["settings"]["job"]["parallelism"], 2, "{spec}");
    assert_eq!(spec["job"]["args"], serde_json::json!(["--input", input(), "--output", output]), "{spec}");
}

#[test]
fn a_stock_taskmanager_refuses_a_job_of_another_image() {
    let root = temp("custom-job-refused");
    let cluster = cluster(&binary());
    let started = Instant::now();
    let id = submit(&cluster, &root.join("out"));
    let job = wait_terminal(&cluster, &id);
    assert_eq!(job["state"], "FAILED", "{job}");
    let why = job["status-message"].as_str().unwrap();
    assert!(why.contains("runs 'length-count', which this TaskManager's image does not know"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(30), "refused at once, not retried: {:?}", started.elapsed());
}
