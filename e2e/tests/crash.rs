//! Process-level fault tolerance of `ferroflink run nexmark --query q7` with the exactly-once file
//! sink and checkpoints every 200 ms:
//! - killed with SIGKILL after at least two completed checkpoints with committed files, then started
//!   again with `--restore` of the latest complete `chk-<n>`: the files committed before the kill
//!   stay unchanged (bytes and inode), the restored sources start at the positions stored in the
//!   checkpoint, and the final committed output equals an uninterrupted run;
//! - with its checkpoint directory on a size-limited tmpfs (in a private mount namespace) that fills
//!   up mid-run: checkpoints fail with "No space left on device", the job keeps running, and its
//!   output is still exact.

#[path = "../../worker/tests/support/moto.rs"]
mod moto;

use ferroflink::codec::decode;
use ferroflink::connectors::generator::GeneratorSplit;
use ferroflink::keygroup::KeyGroupRange;
use ferroflink::runtime::checkpoint::metadata::METADATA_FILE;
use ferroflink::runtime::checkpoint::restore::{RestoreMode, RestoreSettings, RestoredSnapshot};
use ferroflink::state::s3::S3Config;
use ferroflink::state::storage;
use ferroflink_e2e::binary;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EVENTS: &str = "600000";

fn q7_args(output: &Path, checkpoints: &str) -> Vec<String> {
    [
        "run",
        "nexmark",
        "--query",
        "q7",
        "--events",
        EVENTS,
        "--rate",
        "120000",
        "--parallelism",
        "2",
        "--output",
        output.to_str().unwrap(),
        "--checkpoint-interval",
        "200ms",
        "--checkpoint-dir",
        checkpoints,
        "--checkpoints-retained",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Completed checkpoints (directories with `_metadata`) under a checkpoint location, oldest first.
fn completed_checkpoints(location: &str, s3: &S3Config) -> Vec<String> {
    let root = storage::open(location, s3).unwrap();
    let mut found = Vec::new();
    for job in root.list("").unwrap_or_default() {
        let job = root.scoped(&job);
        for chk in job.list("").unwrap_or_default() {
            if let Some(n) = chk.strip_prefix("chk-").and_then(|n| n.parse::<u64>().ok())
                && job.exists(&format!("{chk}/{METADATA_FILE}")).unwrap_or(false)
            {
                found.push((n, job.location(&chk)));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// Committed part files: name → (bytes, inode).
fn committed(dir: &Path) -> BTreeMap<String, (Vec<u8>, u64)> {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && !name.starts_with('_') {
            files.insert(name, (std::fs::read(e.path()).unwrap(), e.metadata().unwrap().ino()));
        }
    }
    files
}

fn sorted_lines(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = committed(dir)
        .into_values()
        .flat_map(|(bytes, _)| String::from_utf8(bytes).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    lines.sort();
    lines
}

/// The source split positions stored in a checkpoint, by the library that reads checkpoints.
fn checkpointed_positions(chk: &str, s3: &S3Config) -> BTreeSet<(u64, u64)> {
    let settings =
        RestoreSettings { path: chk.to_string(), mode: RestoreMode::NoClaim, allow_non_restored_state: false };
    let snapshot = RestoredSnapshot::load(&settings, s3).unwrap();
    let source = snapshot.metadata.operators.iter().find(|o| o.name == "Nexmark Source").expect("source state");
    let mut positions = BTreeSet::new();
    for i in 0..source.parallelism {
        let range = KeyGroupRange::for_operator(source.max_parallelism, source.parallelism, i);
        let state = snapshot.subtask_state(&source.operator_id, source.parallelism, i, range).unwrap().unwrap();
        for e in &state.operator[0].elements {
            let s: GeneratorSplit = decode(e).unwrap();
            positions.insert((s.next, s.stride));
        }
    }
    positions
}

/// The positions the restored run's sources report: `GeneratorSplit { next: N, stride: S }`.
fn reported_positions(log: &str) -> BTreeSet<(u64, u64)> {
    let mut positions = BTreeSet::new();
    for line in log.lines().filter(|l| l.contains("source resumes at restored split positions")) {
        for part in line.split("GeneratorSplit { next: ").skip(1) {
            let (next, rest) = part.split_once(", stride: ").unwrap();
            let stride = rest.split(' ').next().unwrap();
            positions.insert((next.parse().unwrap(), stride.parse().unwrap()));
        }
    }
    positions
}

#[test]
fn killed_run_restores_with_exactly_once_output() {
    let root = std::env::temp_dir().join(format!("ff-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let checkpoints = root.join("checkpoints");
    killed_run_restores(&root, checkpoints.to_str().unwrap(), &S3Config::default(), &[]);
}

#[test]
fn killed_run_restores_from_s3_checkpoints() {
    let server = moto::Moto::start();
    server.create_bucket("ckpts");
    let root = std::env::temp_dir().join(format!("ff-crash-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = server.config(&server.endpoint);
    let flags = ["--s3-endpoint", server.endpoint.as_str(), "--s3-path-style"];
    let credentials = server.credentials_file().to_str().unwrap();
    let env = [("FERROFLINK__S3__CREDENTIALS_FILE", credentials), ("AWS_REGION", "us-east-1")];
    killed_run_restores_with(&root, "s3://ckpts/jobs", &config, &flags, &env);
}

fn killed_run_restores(root: &Path, checkpoints: &str, s3: &S3Config, flags: &[&str]) {
    killed_run_restores_with(root, checkpoints, s3, flags, &[]);
}

fn killed_run_restores_with(root: &Path, checkpoints: &str, s3: &S3Config, flags: &[&str], env: &[(&str, &str)]) {
    let (out, reference) = (root.join("out"), root.join("reference"));
    let command = || {
        let mut c = Command::new(binary());
        c.args(q7_args(&out, checkpoints)).args(flags).envs(env.iter().copied());
        c
    };

    let mut child = command().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no two checkpoints with committed output within 120 s");
        assert!(child.try_wait().unwrap().is_none(), "the job ended before it could be killed; raise EVENTS");
        if completed_checkpoints(checkpoints, s3).len() >= 2 && !committed(&out).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let before = committed(&out);
    let latest = completed_checkpoints(checkpoints, s3).pop().unwrap();
    let stored = checkpointed_positions(&latest, s3);
    assert!(!stored.is_empty());

    let restored = command().args(["--restore", &latest]).env("RUST_LOG", "ferroflink=info").output().unwrap();
    let log = String::from_utf8_lossy(&restored.stderr);
    assert!(restored.status.success(), "{log}");
    assert_eq!(reported_positions(&log), stored, "restored sources must start at the checkpointed positions");

    let after = committed(&out);
    for (name, (bytes, inode)) in &before {
        let (now_bytes, now_inode) = after.get(name).unwrap_or_else(|| panic!("committed file {name} disappeared"));
        assert_eq!(now_bytes, bytes, "committed file {name} changed");
        assert_eq!(now_inode, inode, "committed file {name} was replaced");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "in-progress or pending files left after the job finished: {leftovers:?}");

    let plain = Command::new(binary())
        .args(["run", "nexmark", "--query", "q7", "--events", EVENTS, "--parallelism", "2", "--output"])
        .arg(&reference)
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
    let expected = sorted_lines(&reference);
    assert!(expected.len() > 3, "q7 over {EVENTS} events has several windows");
    assert_eq!(sorted_lines(&out), expected, "committed output differs from an uninterrupted run");
    std::fs::remove_dir_all(root).unwrap();
}

/// Runs `script` as root in a private mount namespace, or says why it cannot.
fn in_mount_namespace(script: &str) -> std::process::Output {
    Command::new("unshare").args(["-m", "sh", "-c", script]).output().expect("unshare (util-linux) is installed")
}

#[test]
fn full_checkpoint_disk_fails_checkpoints_not_the_job() {
    let probe = in_mount_namespace("mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt");
    assert!(
        probe.status.success(),
        "this test needs root and `unshare -m` to mount a small tmpfs: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let root = std::env::temp_dir().join(format!("ff-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (out, ck, reference) = (root.join("out"), root.join("checkpoints"), root.join("reference"));
    std::fs::create_dir_all(&ck).unwrap();
    let args: Vec<String> = q7_args(&out, ck.to_str().unwrap()).into_iter().map(|a| format!("'{a}'")).collect();
    // Fill the tmpfs after one second, free it a second later; the job runs about five seconds.
    let script = format!(
        "mount -t tmpfs -o size=4m tmpfs '{ck}' || exit 90
         '{bin}' {args} 2> '{log}' & job=$!
         sleep 1; dd if=/dev/zero of='{ck}/filler' bs=4k 2>/dev/null; sleep 1; rm '{ck}/filler'
         wait $job",
        ck = ck.display(),
        bin = binary().display(),
        args = args.join(" "),
        log = root.join("log").display()
    );
    let run = in_mount_namespace(&script);
    let log = std::fs::read_to_string(root.join("log")).unwrap_or_default();
    assert!(run.status.success(), "exit {:?}: {log}", run.status.code());
    assert!(log.contains("No space left on device"), "a checkpoint failed on the full disk: {log}");
    let summary = log.lines().find(|l| l.contains("checkpoints completed")).expect("summary line");
    assert!(!summary.contains(" 0 failed") && summary.contains(" 0 restarts"), "{summary}");

    let plain = Command::new(binary())
        .args(["run", "nexmark", "--query", "q7", "--events", EVENTS, "--parallelism", "2", "--output"])
        .arg(&reference)
        .output()
        .unwrap();
    assert!(plain.status.success());
    assert_eq!(sorted_lines(&out), sorted_lines(&reference), "committed output differs from an uninterrupted run");
    std::fs::remove_dir_all(&root).unwrap();
}
