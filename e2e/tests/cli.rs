//! The `ferroflink` binary as a user runs it: word count against an independent reference, part
//! files, the Nexmark summary line at two parallelisms, the socket word count, Ctrl-C on an
//! unbounded job, and one-line errors with a non-zero exit on bad arguments.

use ferroflink_e2e::binary;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository this test runs from (read at run time: a build cache shared by clones must not
/// point the test at another clone's files).
fn repo() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test");
    Path::new(&crate_dir).parent().unwrap().to_path_buf()
}

fn ferroflink(args: &[&str]) -> Output {
    Command::new(binary()).args(args).current_dir(repo()).output().unwrap()
}

/// Word counts computed without the engine: split on anything but ASCII letters, digits, `_`.
fn reference_counts(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            *counts.entry(std::mem::take(&mut word)).or_insert(0) += 1;
        }
    }
    counts
}

fn parse_counts(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .map(|l| {
            let (w, n) = l.split_once('\t').unwrap_or_else(|| panic!("not word<TAB>count: {l:?}"));
            (w.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn wordcount_prints_the_counts_of_the_shipped_file() {
    let out = ferroflink(&["run", "wordcount", "--input", "worker/data/hamlet.txt"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(repo().join("worker/data/hamlet.txt")).unwrap();
    assert_eq!(parse_counts(&String::from_utf8(out.stdout).unwrap()), reference_counts(&text));
}

#[test]
fn wordcount_writes_part_files_from_a_directory_at_parallelism_3() {
    let dir = std::env::temp_dir().join(format!("ff-e2e-wc-{}", std::process::id()));
    let input = dir.join("in");
    let output = dir.join("out");
    std::fs::create_dir_all(&input).unwrap();
    let a = "Hello wörld, hello_again 42 HELLO\n".repeat(50);
    let b = "naïve café--résumé; x_y x-y\n".repeat(30);
    std::fs::write(input.join("a.txt"), &a).unwrap();
    std::fs::write(input.join("b.txt"), &b).unwrap();
    let out = ferroflink(&[
        "run",
        "wordcount",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--parallelism",
        "3",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut written = String::new();
    for entry in std::fs::read_dir(&output).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-"), "only committed part files remain: {name}");
        written.push_str(&std::fs::read_to_string(&path).unwrap());
    }
    assert_eq!(parse_counts(&written), reference_counts(&(a + &b)));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn summary(args: &[&str]) -> (String, String) {
    let out = ferroflink(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string();
    let checksum = line.rsplit(' ').next().unwrap().to_string();
    (line, checksum)
}

#[test]
fn nexmark_summary_is_the_same_at_parallelism_1_and_4() {
    for query in ["q5", "q7", "tumble-count"] {
        let base = ["run", "nexmark", "--query", query, "--events", "300000"];
        let (line, one) = summary(&[&base[..], &["--parallelism", "1"]].concat());
        assert!(
            line.starts_with(&format!("nexmark {query}: 300000 events in ")) && line.contains("events/s"),
            "{line}"
        );
        let (_, four) = summary(&[&base[..], &["--parallelism", "4"]].concat());
        assert_eq!(one, four, "{query} checksum");
    }
}

#[test]
fn socket_window_wordcount_counts_what_the_socket_sends() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let child = Command::new(binary())
        .args(["run", "socket-window-wordcount", "--host", "127.0.0.1", "--port", &port])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.write_all(b"to be or not to be\nthat is the question\n").unwrap();
    drop(conn); // closing the socket ends the source; the open window is flushed
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["be : 2", "is : 1", "not : 1", "or : 1", "question : 1", "that : 1", "the : 1", "to : 2"]);
}

#[test]
fn ctrl_c_stops_an_unbounded_job_cleanly() {
    let mut child = Command::new(binary())
        .args(["run", "nexmark", "--query", "q1", "--rate", "50000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the job did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(stdout.starts_with("nexmark q1: "), "{stdout}");
}

#[test]
fn bad_arguments_fail_with_one_line() {
    for args in [
        vec!["run", "nope"],
        vec!["run", "wordcount"],
        vec!["run", "wordcount", "--input", "/does/not/exist"],
        vec!["run", "nexmark", "--query", "q99", "--events", "10"],
        vec!["run", "nexmark", "--query", "q1", "--events", "10", "--parallelism", "4", "--slots", "1"],
    ] {
        let out = ferroflink(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {stderr}");
        assert!(first.len() > 20, "{args:?}: the reason is given: {stderr}");
    }
}
