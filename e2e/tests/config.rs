//! The first ten minutes of a Flink user: the processes started from a Flink-style configuration.
//! - A flat config file (`jobmanager.rpc.address`, `jobmanager.rpc.port`, `rest.port`,
//!   `taskmanager.numberOfTaskSlots: 3`) makes a JobManager and a TaskManager without any other
//!   flag; `/overview` on that REST port shows the 3 slots; a Flink key we do not support is a
//!   warning that names it.
//! - Three TaskManagers on one host with the default metrics settings all start (each takes its own
//!   metrics port and reports it), register, find the JobManager through `FLINK_PROPERTIES`, and run
//!   a job at parallelism 3 to the end.
//! - A key that is neither ours nor Flink's, in a file or a variable, stops the process at start-up
//!   with a non-zero exit and the key as written in the message.

use ferroflink_e2e::{Process, binary, committed_lines, temp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn get(url: &str) -> Value {
    serde_json::from_str(&ureq::get(url).call().unwrap().body_mut().read_to_string().unwrap()).unwrap()
}

/// Polls `url` until `done` holds for its JSON answer.
fn wait_json(url: &str, what: &str, log: &dyn Fn() -> String, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = get(url);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_flink_style_flat_config_file_runs_a_cluster() {
    let root = temp("flink-conf");
    let (rpc, rest) = (free_port(), free_port());
    let conf = root.join("config.yaml");
    std::fs::write(
        &conf,
        format!(
            "jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {rpc}\njobmanager.bind-host: 127.0.0.1\n\
             rest.port: {rest}\nrest.bind-address: 127.0.0.1\ntaskmanager.bind-host: 127.0.0.1\n\
             taskmanager.numberOfTaskSlots: 3\njobmanager.memory.process.size: 1600m\n"
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let jm = Process::start(&["jobmanager", "--config", conf], &[]);
    jm.wait_for_line(&format!("REST API and web UI on http://127.0.0.1:{rest}"), Duration::from_secs(30));
    jm.wait_for_line("`jobmanager.memory.process.size` (in ", Duration::from_secs(5));
    assert!(jm.log().contains("is a Flink option ferroflink does not support; it is ignored"), "{}", jm.log());
    let tm = Process::start(&["taskmanager", "--config", conf], &[]);
    tm.wait_for_line("registered with the JobManager", Duration::from_secs(30));
    let overview = wait_json(
        &format!("http://127.0.0.1:{rest}/overview"),
        "one TaskManager",
        &|| format!("{}\n{}", jm.log(), tm.log()),
        |o| o["taskmanagers"] == 1,
    );
    assert_eq!(overview["slots-total"], 3, "{overview}");
    assert_eq!(overview["slots-available"], 3, "{overview}");
}

#[test]
fn three_taskmanagers_on_one_host_register_and_run_a_job() {
    let root = temp("three-tms");
    let (rpc, rest) = (free_port(), free_port());
    let properties = format!("jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {rpc}\nrest.port: {rest}\n");
    let env = [("FLINK_PROPERTIES", properties.as_str())];
    let jm = Process::start(&["jobmanager", "--bind", "127.0.0.1"], &env);
    jm.wait_for_line("REST API and web UI on", Duration::from_secs(30));
    // Default settings but the bind address: no --slots, no --jobmanager-address, no --metrics-port.
    let tms: Vec<Process> = (0..3).map(|_| Process::start(&["taskmanager", "--bind", "127.0.0.1"], &env)).collect();
    for tm in &tms {
        tm.wait_for_line("registered with the JobManager", Duration::from_secs(30));
    }
    let base = format!("http://127.0.0.1:{rest}");
    let list = get(&format!("{base}/taskmanagers"));
    let metrics: BTreeSet<String> =
        list["taskmanagers"].as_array().unwrap().iter().map(|t| t["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(metrics.len(), 3, "three TaskManagers, each with its own metrics port: {list}");
    for address in &metrics {
        let port = address.rsplit(':').next().unwrap();
        let health = ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call();
        assert!(health.is_ok(), "the TaskManager at {address} does not answer /healthz");
    }

    let out = root.join("out");
    let input = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker/data/hamlet.txt");
    let submit = Command::new(binary())
        .args(["submit", "--jobmanager", &base, "wordcount", "--parallelism", "3", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(submit.status.success(), "{}", String::from_utf8_lossy(&submit.stderr));
    let id = String::from_utf8(submit.stdout).unwrap().trim().to_string();
    let job = wait_json(&format!("{base}/jobs/{id}"), "the job finishes", &|| jm.log(), |j| {
        assert_ne!(j["state"], "FAILED", "{j}");
        j["state"] == "FINISHED"
    });
    let parallelism: Vec<u64> =
        job["vertices"].as_array().unwrap().iter().map(|v| v["parallelism"].as_u64().unwrap()).collect();
    assert!(parallelism.contains(&3), "{job}");
    // The counts, against words counted here (split on all but ASCII letters, digits and `_`).
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let text = std::fs::read_to_string(&input).unwrap();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        *want.entry(word.to_ascii_lowercase()).or_default() += 1;
    }
    let mut got = BTreeMap::new();
    for line in committed_lines(&out) {
        let (word, n) = line.split_once('\t').unwrap();
        assert!(got.insert(word.to_string(), n.parse::<u64>().unwrap()).is_none(), "{word} twice");
    }
    assert_eq!(got, want);
}

#[test]
fn an_unknown_key_stops_the_process_and_names_it() {
    let root = temp("unknown-key");
    let conf = root.join("flink-conf.yaml");
    std::fs::write(&conf, "taskmanager.numberOfTaskSlot: 3\n").unwrap();
    let out = Command::new(binary()).args(["taskmanager", "--config"]).arg(&conf).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("`taskmanager.numberOfTaskSlot`"), "{stderr}");
    assert!(stderr.contains("is neither a ferroflink nor a Flink configuration key"), "{stderr}");

    let out = Command::new(binary())
        .args(["jobmanager", "--rpc-port", "0", "--rest-port", "0"])
        .env("FERROFLINK__REST__PROT", "8081")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("FERROFLINK__REST__PROT"), "{stderr}");
}
