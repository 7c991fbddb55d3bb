//! Exactly-once for SQL jobs, as a user runs them with `ferroflink sql`: a job reading a
//! `datagen` table and writing a `filesystem` table (CSV), checkpointing every 200 ms,
//! - killed with SIGKILL after two completed checkpoints and started again with `--restore` of the
//!   latest one, writes exactly the rows of an uninterrupted run (each once), keeping the files
//!   committed before the kill;
//! - stopped with a savepoint (Ctrl-C with `--savepoint-on-exit`) at parallelism 2 and restored at
//!   parallelism 3 from it, does the same;
//! - reading a monitored directory (`source.monitor-interval`) while files keep coming, killed and
//!   restored, commits every line of every file exactly once.
//!
//! The expected rows are computed here, not by the engine.

use ferroflink::runtime::checkpoint::metadata::METADATA_FILE;
use ferroflink_e2e::{binary, committed_lines, temp};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: u64 = 60_000;

fn script(out: &Path) -> String {
    format!(
        "CREATE TABLE src (
  id BIGINT,
  label AS CONCAT('row-', CAST(id AS STRING)),
  cube AS id * id * id
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '{ROWS}',
  'rows-per-second' = '6000',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '{ROWS}'
);
CREATE TABLE out (id BIGINT, label STRING, cube BIGINT, half DECIMAL(12, 1))
WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO out SELECT id, label, cube, CAST(id AS DECIMAL(10, 0)) / 2 FROM src WHERE id % 7 <> 3;",
        out.display()
    )
}

/// The rows the job writes, computed here.
fn expected() -> Vec<String> {
    let mut lines: Vec<String> = (1..=ROWS as i64)
        .filter(|id| id % 7 != 3)
        .map(|id| format!("{id},row-{id},{},{}.{}", id * id * id, id / 2, if id % 2 == 1 { 5 } else { 0 }))
        .collect();
    lines.sort();
    lines
}

/// Completed checkpoints under `dir` (with `_metadata`), oldest first.
fn completed_checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for job in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for chk in std::fs::read_dir(job.path()).into_iter().flatten().flatten() {
            let name = chk.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_prefix("chk-").and_then(|n| n.parse::<u64>().ok())
                && chk.path().join(METADATA_FILE).exists()
            {
                found.push((n, chk.path()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

fn sql(root: &Path, extra: &[&str]) -> Command {
    let file = root.join("job.sql");
    std::fs::write(&file, script(&root.join("out"))).unwrap();
    let mut c = Command::new(binary());
    c.arg("sql").arg("-f").arg(&file).args(extra);
    c
}

#[test]
fn a_killed_sql_job_restored_from_its_checkpoint_writes_each_row_once() {
    let root = temp("sql-kill");
    let checkpoints = root.join("checkpoints");
    let flags = [
        "-p",
        "2",
        "--checkpoint-interval",
        "200ms",
        "--checkpoints-retained",
        "3",
        "--checkpoint-dir",
        checkpoints.to_str().unwrap(),
    ];
    let log = std::fs::File::create(root.join("first.log")).unwrap();
    let mut child = sql(&root, &flags).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no two checkpoints with committed output within 120 s");
        if child.try_wait().unwrap().is_some() {
            let log = std::fs::read_to_string(root.join("first.log")).unwrap_or_default();
            panic!("the job ended before two checkpoints with committed output; raise ROWS:\n{log}");
        }
        if completed_checkpoints(&checkpoints).len() >= 2 && !committed_lines(&root.join("out")).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = committed_lines(&root.join("out"));
    let latest = completed_checkpoints(&checkpoints).pop().unwrap();

    let restored = sql(&root, &flags).arg("--restore").arg(&latest).output().unwrap();
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    let after = committed_lines(&root.join("out"));
    assert!(before.iter().all(|l| after.binary_search(l).is_ok()), "rows committed before the kill were lost");
    assert_eq!(after, expected(), "the restored run must write every row exactly once");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_savepoint_of_a_sql_job_restores_at_another_parallelism() {
    let root = temp("sql-savepoint");
    let (checkpoints, savepoints) = (root.join("checkpoints"), root.join("savepoints"));
    let chk = ["--checkpoint-interval", "200ms", "--checkpoint-dir", checkpoints.to_str().unwrap()];
    let mut first = sql(&root, &chk)
        .args(["-p", "2", "--savepoint-on-exit", savepoints.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while committed_lines(&root.join("out")).is_empty() {
        assert!(Instant::now() < deadline, "no committed output within 120 s");
        assert!(first.try_wait().unwrap().is_none(), "the job ended before it could be stopped; raise ROWS");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Ctrl-C: stop with a savepoint.
    assert!(Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap().success());
    let stopped = first.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&stopped.stderr);
    let location = log
        .lines()
        .find_map(|l| l.split("savepoint written: ").nth(1))
        .unwrap_or_else(|| panic!("no savepoint written:\n{log}"))
        .trim()
        .to_string();
    let partial = committed_lines(&root.join("out"));
    assert!(partial.len() < expected().len(), "the first run was stopped before its end");

    let restored = sql(&root, &chk).args(["-p", "3", "--restore", &location]).output().unwrap();
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    assert_eq!(committed_lines(&root.join("out")), expected(), "stopped at 2 and restored at 3: every row once");
    std::fs::remove_dir_all(&root).unwrap();
}

/// `n` CSV lines `<file>,<i>` for a file of the monitored directory.
fn lines_of(file: &str, n: usize) -> String {
    (0..n).map(|i| format!("{file},{i}\n")).collect()
}

#[test]
fn files_added_to_a_monitored_directory_around_a_kill_are_each_read_once() {
    let root = temp("sql-monitor");
    let (input, out, checkpoints) = (root.join("in"), root.join("out"), root.join("checkpoints"));
    std::fs::create_dir_all(&input).unwrap();
    // Written whole under a hidden name, then renamed in: the source reads complete files.
    let add = |name: &str, n: usize| {
        std::fs::write(input.join(format!(".{name}")), lines_of(name, n)).unwrap();
        std::fs::rename(input.join(format!(".{name}")), input.join(name)).unwrap();
    };
    add("a.csv", 20_000);
    let job = root.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE files (f STRING, i INT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', \
             'source.monitor-interval' = '100 ms');\n\
             CREATE TABLE out (f STRING, i INT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO out SELECT f, i FROM files;",
            input.display(),
            out.display()
        ),
    )
    .unwrap();
    let flags = ["-p", "2", "--checkpoint-interval", "200ms", "--checkpoint-dir", checkpoints.to_str().unwrap()];
    let run = |restore: Option<&Path>| {
        let mut c = Command::new(binary());
        c.arg("sql").arg("-f").arg(&job).args(flags);
        if let Some(chk) = restore {
            c.arg("--restore").arg(chk);
        }
        c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(Instant::now() < deadline, "not within 120 s: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut first = run(None);
    wait_for("a's lines committed", &|| committed_lines(&out).len() >= 20_000);
    // The number of the latest completed checkpoint.
    let latest_id = || {
        let latest = completed_checkpoints(&checkpoints).pop();
        latest.and_then(|p| p.file_name()?.to_str()?.strip_prefix("chk-")?.parse::<u64>().ok()).unwrap_or(0)
    };
    let before_b = latest_id();
    add("b.csv", 15_000);
    wait_for("two checkpoints after b", &|| latest_id() >= before_b + 2);
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    add("c.csv", 10_000);
    let latest = completed_checkpoints(&checkpoints).pop().unwrap();
    let mut second = run(Some(&latest));
    add("d.csv", 5_000);
    let mut expected: Vec<String> = [("a.csv", 20_000), ("b.csv", 15_000), ("c.csv", 10_000), ("d.csv", 5_000)]
        .iter()
        .flat_map(|(f, n)| lines_of(f, *n).lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    expected.sort();
    wait_for("every file's lines committed", &|| committed_lines(&out).len() >= expected.len());
    // A little longer: anything read twice would be committed by now.
    std::thread::sleep(Duration::from_millis(800));
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(committed_lines(&out), expected, "each line of each file exactly once across the kill");
    std::fs::remove_dir_all(&root).unwrap();
}
