//! End-to-end tests live in `tests/`; they run the `ferroflink` binary built by Cargo. This crate
//! holds what they share.

pub mod kubernetes;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `ferroflink` binary of this build (next to the test executables), built first if needed.
pub fn binary() -> PathBuf {
    binary_of("ferroflink", "ferroflink")
}

/// Binary `bin` of workspace package `package` (next to the test executables), built first if
/// needed (`cargo test` builds the binaries of the package under test only).
pub fn binary_of(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps");
    let path = dir.join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo).args(["build", "-p", package, "--bin", bin]).status().expect("cargo runs");
        assert!(status.success(), "building the {bin} binary failed");
    }
    path
}

/// A child process, killed when dropped; its standard output and error are collected into one
/// log, line by line, as a container runtime does.
pub struct Process {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts the `ferroflink` binary with `args` and `env`.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
        Process::start_binary(&binary(), args, env)
    }

    /// Starts `binary` with `args` and `env`.
    pub fn start_binary(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut cmd = Command::new(binary);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).env("RUST_LOG", "ferroflink=info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        fn collect(stream: impl std::io::Read + Send + 'static, log: Arc<Mutex<String>>) {
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        collect(child.stdout.take().unwrap(), log.clone());
        collect(child.stderr.take().unwrap(), log.clone());
        Process { child, log }
    }

    /// What it printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How it exited, once it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until the log has a line containing `needle`; returns that line.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(Instant::now() < deadline, "no line with '{needle}' within {timeout:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`-KILL`, `-STOP`...).
    pub fn signal(&self, signal: &str) {
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

/// A fresh scratch directory for `name`.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ff-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Committed lines (files not starting with `.` or `_`), sorted.
pub fn committed_lines(dir: &Path) -> Vec<String> {
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

/// Asserts two sorted line lists are equal, showing what differs.
pub fn assert_same(got: &[String], want: &[String]) {
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
