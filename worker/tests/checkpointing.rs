//! Fault tolerance of whole jobs: exactly-once output under injected failures, savepoints restored
//! at other parallelisms, a checked-in savepoint that must stay readable, and clear errors for
//! broken checkpoints and unwritable storage. Every result is compared with a reference computed
//! here without the engine.

mod support;

use ferroflink::connectors::file::FileSink;
use ferroflink::connectors::generator::GeneratorSource;
use ferroflink::datastream::window::assigner::TumblingEventTimeWindows;
use ferroflink::prelude::*;
use ferroflink::record::Record;
use ferroflink::runtime::checkpoint::metadata::{CheckpointMetadata, METADATA_FILE};
use ferroflink::runtime::checkpoint::restore::{RestoreMode, RestoreSettings};
use ferroflink::runtime::context::RuntimeContext;
use ferroflink::runtime::minicluster::JobResult;
use ferroflink::runtime::restart::RestartStrategy;
use ferroflink::runtime::sink::{Sink, SinkWriter};
use ferroflink::runtime::watermark::WatermarkStrategy;
use ferroflink::state::StateBackendConfig;
use ferroflink::state::rocksdb::RocksDbConfig;
use ferroflink::state::s3::S3Storage;
use ferroflink::state::storage::{CheckpointStorage, LocalStorage};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::moto::{Moto, Proxy};

/// Event time of record `i`: 10 ms apart, so a 1 s window holds 100 consecutive records.
const TICK_MS: u64 = 10;
const WINDOW_KEYS: u64 = 37;
const ROLLING_KEYS: u64 = 2000;

/// Sum and count of a window.
#[derive(Clone)]
struct SumCount;

impl AggregateFunction<u64> for SumCount {
    type Acc = (u64, u64);
    type Out = (u64, u64);
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, value: u64, acc: &mut (u64, u64)) {
        acc.0 += value;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(u64, u64)) -> (u64, u64) {
        *acc
    }
    fn merge(&self, acc: &mut (u64, u64), other: (u64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
}

/// Failures to inject, each at most once per test.
#[derive(Default)]
struct Faults {
    /// Panic when one of these records passes.
    at_records: Vec<u64>,
    /// Fail the sink's pre-commit of the first checkpoint with an id at least this.
    in_snapshot: Option<u64>,
    /// Fail on the completion notice of the first checkpoint at least this, before committing.
    before_commit: Option<u64>,
    /// Fail right after committing the first checkpoint at least this.
    after_commit: Option<u64>,
    fired: Mutex<HashSet<String>>,
}

impl Faults {
    fn fire_once(&self, what: String) -> bool {
        self.fired.lock().unwrap().insert(what)
    }

    fn injected(what: &str) -> ferroflink::Error {
        ferroflink::Error::io(format!("injected failure {what}"), std::io::Error::other("fault injection"))
    }
}

/// A sink that fails where [`Faults`] says, around a real file sink.
struct FaultySink<T> {
    inner: FileSink<T>,
    faults: Arc<Faults>,
}

struct FaultyWriter<T> {
    inner: Box<dyn SinkWriter<T>>,
    faults: Arc<Faults>,
}

impl<T: ferroflink::record::Data> Sink<T> for FaultySink<T> {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> ferroflink::Result<Box<dyn SinkWriter<T>>> {
        Ok(Box::new(FaultyWriter { inner: self.inner.create_writer(ctx)?, faults: self.faults.clone() }))
    }
}

impl<T: ferroflink::record::Data> SinkWriter<T> for FaultyWriter<T> {
    fn write(&mut self, batch: Vec<Record<T>>) -> ferroflink::Result<()> {
        self.inner.write(batch)
    }
    fn finish(&mut self) -> ferroflink::Result<()> {
        self.inner.finish()
    }
    fn snapshot_state(&mut self, id: u64) -> ferroflink::Result<()> {
        if self.faults.in_snapshot.is_some_and(|at| id >= at) && self.faults.fire_once("snapshot".into()) {
            return Err(Faults::injected("during a snapshot"));
        }
        self.inner.snapshot_state(id)
    }
    fn notify_checkpoint_complete(&mut self, id: u64) -> ferroflink::Result<()> {
        if self.faults.before_commit.is_some_and(|at| id >= at) && self.faults.fire_once("before".into()) {
            return Err(Faults::injected("after _metadata, before the commit"));
        }
        self.inner.notify_checkpoint_complete(id)?;
        if self.faults.after_commit.is_some_and(|at| id >= at) && self.faults.fire_once("after".into()) {
            return Err(Faults::injected("inside the sink's commit"));
        }
        Ok(())
    }
    fn close(&mut self) -> ferroflink::Result<()> {
        self.inner.close()
    }
}

fn window_line(&(key, end, sum, count): &(u64, i64, u64, u64)) -> String {
    format!("{key},{end},{sum},{count}")
}

fn rolling_line(&(key, count): &(u64, u64)) -> String {
    format!("{key},{count}")
}

/// The job under test: `n` numbers at `rate` per second; per key (`i mod 37`) the sum and count of
/// each 1 s event-time window, and per key (`i mod 2000`) a running count, each into exactly-once
/// part files under `out/windows` and `out/rolling`.
fn build(env: &StreamExecutionEnvironment, n: u64, rate: f64, out: &Path, faults: &Arc<Faults>) {
    let source = GeneratorSource::new(Some(n), |i| i).with_timestamps(|i: &u64| (*i * TICK_MS) as i64).with_rate(rate);
    let numbers = env
        .from_source(source, WatermarkStrategy::for_bounded_out_of_orderness(Duration::ZERO), "Numbers")
        .uid("numbers");
    let f = faults.clone();
    let numbers = numbers
        .map(move |i: u64| {
            if f.at_records.contains(&i) && f.fire_once(format!("record {i}")) {
                panic!("injected failure at record {i}");
            }
            i
        })
        .uid("maybe-fail");
    numbers
        .key_by(|i: &u64| i % WINDOW_KEYS)
        .window(TumblingEventTimeWindows::of(Duration::from_secs(1)))
        .aggregate_with(SumCount, |k: &u64, w, (sum, count)| (*k, w.end, sum, count))
        .uid("windows")
        .sink_to(FaultySink {
            inner: FileSink::new(out.join("windows"), window_line).with_max_part_bytes(300),
            faults: faults.clone(),
        })
        .uid("window-sink");
    numbers
        .map(|i: u64| (i % ROLLING_KEYS, 1u64))
        .key_by(|(k, _): &(u64, u64)| *k)
        .reduce(|a, b| (a.0, a.1 + b.1))
        .uid("rolling")
        .sink_to(FileSink::new(out.join("rolling"), rolling_line).with_max_part_bytes(4096))
        .uid("rolling-sink");
}

/// What the job must commit for `n` numbers, computed directly.
fn reference(n: u64) -> (Vec<String>, Vec<String>) {
    let mut windows = std::collections::BTreeMap::<(u64, i64), (u64, u64)>::new();
    let mut rolling = Vec::new();
    let mut counts = vec![0u64; ROLLING_KEYS as usize];
    for i in 0..n {
        let end = ((i * TICK_MS) / 1000 + 1) as i64 * 1000;
        let w = windows.entry((i % WINDOW_KEYS, end)).or_default();
        w.0 += i;
        w.1 += 1;
        let k = (i % ROLLING_KEYS) as usize;
        counts[k] += 1;
        rolling.push(rolling_line(&(k as u64, counts[k])));
    }
    let mut windows: Vec<String> = windows.into_iter().map(|((k, end), (s, c))| window_line(&(k, end, s, c))).collect();
    windows.sort();
    rolling.sort();
    (windows, rolling)
}

/// Committed lines of a part-file directory, sorted.
fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if !e.file_name().to_string_lossy().starts_with('.') {
            lines.extend(std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
}

/// The committed output of a finished job equals the reference, with nothing left in progress.
fn assert_output(out: &Path, n: u64) {
    for dir in ["windows", "rolling"] {
        for e in std::fs::read_dir(out.join(dir)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with('.'), "in-progress or pending file left in {dir}: {name}");
        }
    }
    let (windows, rolling) = reference(n);
    assert_same(&committed_lines(&out.join("windows")), &windows, "window results");
    assert_same(&committed_lines(&out.join("rolling")), &rolling, "running counts");
}

/// Equal sorted line lists, or a failure naming what is missing and what is extra.
fn assert_same(got: &[String], want: &[String], what: &str) {
    if got == want {
        return;
    }
    let (mut missing, mut extra) = (want.to_vec(), Vec::new());
    for line in got {
        match missing.iter().position(|l| l == line) {
            Some(i) => {
                missing.swap_remove(i);
            }
            None => extra.push(line.clone()),
        }
    }
    missing.sort();
    panic!(
        "{what}: {} lines, {} expected; missing {:?}...; extra {:?}...",
        got.len(),
        want.len(),
        &missing[..missing.len().min(8)],
        &extra[..extra.len().min(8)]
    );
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ff-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The RocksDB backend with its files under `root`.
fn rocksdb(root: &Path) -> StateBackendConfig {
    StateBackendConfig::RocksDb(RocksDbConfig {
        local_dir: root.join("rocksdb"),
        memory_bytes: 32 << 20,
        ..RocksDbConfig::default()
    })
}

fn env(parallelism: usize) -> StreamExecutionEnvironment {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(parallelism).set_batch_size(64);
    env.set_restart_strategy(RestartStrategy::FixedDelay { attempts: 10, delay: Duration::from_millis(10) });
    env
}

fn restore(path: &str) -> RestoreSettings {
    RestoreSettings { path: path.to_string(), mode: RestoreMode::NoClaim, allow_non_restored_state: false }
}

#[test]
fn injected_failures_keep_the_output_exactly_once() {
    injected_failures(temp("faults"), |_| StateBackendConfig::Heap);
}

#[test]
fn injected_failures_keep_the_output_exactly_once_on_rocksdb() {
    injected_failures(temp("faults-rocksdb"), rocksdb);
}

fn injected_failures(root: PathBuf, backend: impl Fn(&Path) -> StateBackendConfig) {
    let n = 24_000;
    let faults = Arc::new(Faults {
        at_records: vec![3_001, 9_500, 17_222],
        in_snapshot: Some(4),
        before_commit: Some(8),
        after_commit: Some(12),
        ..Faults::default()
    });
    let env = env(2);
    env.set_state_backend(backend(&root));
    env.enable_checkpointing(Duration::from_millis(100), root.join("checkpoints").to_str().unwrap());
    build(&env, n, 6_000.0, &root.join("out"), &faults);
    let result = env.execute("faults").unwrap();
    assert_eq!(faults.fired.lock().unwrap().len(), 6, "every injected failure happened: {:?}", faults.fired);
    // Two failures in the same attempt (in different tasks) cause one restart.
    assert!((3..=6).contains(&result.restarts), "{} restarts", result.restarts);
    assert_output(&root.join("out"), n);
    if matches!(backend(&root), StateBackendConfig::RocksDb(_)) {
        let job: Arc<dyn CheckpointStorage> =
            Arc::new(LocalStorage::new(root.join("checkpoints").join(&result.job_id)));
        assert_shared_files_are_those_retained(&job);
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// The RocksDB directories of a running job are deleted (a disk lost under the TaskManager): the
/// next flush fails, the task fails with an error naming the state, its operator and RocksDB's
/// cause, the job restarts from its last checkpoint in new directories, and the output is exactly
/// once. Nothing panics.
#[test]
fn a_rocksdb_directory_removed_under_a_running_job_fails_the_task_and_the_job_recovers() {
    let root = temp("rocksdb-removed");
    let n = 24_000;
    let env = env(2);
    env.set_state_backend(rocksdb(&root));
    env.enable_checkpointing(Duration::from_millis(100), root.join("checkpoints").to_str().unwrap());
    build(&env, n, 6_000.0, &root.join("out"), &Arc::new(Faults::default()));
    let panics = Arc::new(Mutex::new(Vec::new()));
    let hook = std::panic::take_hook();
    let seen = panics.clone();
    // Tests in this binary run in parallel and some inject panics on purpose: keep the others.
    std::panic::set_hook(Box::new(move |info| {
        let message = info.to_string();
        if !message.contains("injected failure") {
            seen.lock().unwrap().push(message);
        }
    }));
    let (handle, _) = env.execute_async("rocksdb-removed").unwrap();
    let (rocksdb, started) = (root.join("rocksdb"), Instant::now());
    while handle.checkpoints().is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut removed = 0;
    for dir in std::fs::read_dir(&rocksdb).unwrap().flatten() {
        if std::fs::remove_dir_all(dir.path()).is_ok() {
            removed += 1;
        }
    }
    assert!(removed > 0, "the running job has RocksDB directories under {}", rocksdb.display());
    let result = handle.wait().unwrap();
    std::panic::set_hook(hook);
    assert!(panics.lock().unwrap().is_empty(), "panics: {:?}", panics.lock().unwrap());
    assert!(result.restarts >= 1, "the lost directories failed a task");
    let cause = &result.failures[0];
    assert!(cause.contains("RocksDB") && cause.contains("operator '") && cause.contains("No such file"), "{cause}");
    assert_output(&root.join("out"), n);
    std::fs::remove_dir_all(root).unwrap();
}

/// Incremental RocksDB checkpoints: the job directory's `shared/` holds exactly the files its
/// retained checkpoints list (none left behind by subsumed, failed or aborted checkpoints).
fn assert_shared_files_are_those_retained(job: &Arc<dyn CheckpointStorage>) {
    let mut listed = HashSet::new();
    let mut incremental = false;
    for chk in job.list("").unwrap().into_iter().filter(|d| d.starts_with("chk-")) {
        let dir = job.scoped(&chk);
        let meta = CheckpointMetadata::from_bytes(&dir.read(METADATA_FILE).unwrap(), &chk).unwrap();
        for db in meta.operators.iter().flat_map(|o| &o.subtasks).filter_map(|h| h.rocksdb.as_ref()) {
            incremental = true;
            listed.extend(db.shared.iter().map(|f| f.path.clone()));
            assert!(db.private.iter().all(|f| dir.exists(&f.path).unwrap()), "{chk}: {db:?}");
        }
    }
    assert!(incremental, "the retained checkpoints are incremental");
    let stored: HashSet<String> = job.list("shared").unwrap().into_iter().collect();
    assert_eq!(stored, listed, "shared/ holds exactly what the retained checkpoints list");
}

/// Runs the job at `parallelism` until `stop` returns a savepoint location.
fn run_until_savepoint(parallelism: usize, n: u64, out: &Path, savepoints: &Path) -> String {
    let env = env(parallelism);
    build(&env, n, 8_000.0, out, &Arc::new(Faults::default()));
    let (handle, _) = env.execute_async("rescale").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let location = handle.savepoint(savepoints.to_str().unwrap(), true).recv().unwrap().unwrap();
    let result: JobResult = handle.wait().unwrap();
    assert!(result.cancelled, "stop-with-savepoint stops the job");
    assert_eq!(result.savepoint.as_deref(), Some(location.as_str()));
    location
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn finish_from(location: &str, parallelism: usize, n: u64, out: &Path, checkpoints: Option<&Path>) -> JobResult {
    finish_on(StateBackendConfig::Heap, location, parallelism, n, out, checkpoints)
}

fn finish_on(
    backend: StateBackendConfig,
    location: &str,
    parallelism: usize,
    n: u64,
    out: &Path,
    checkpoints: Option<&Path>,
) -> JobResult {
    let env = env(parallelism);
    env.set_state_backend(backend);
    env.restore_from(restore(location));
    if let Some(dir) = checkpoints {
        env.enable_checkpointing(Duration::from_millis(100), dir.to_str().unwrap());
    }
    build(&env, n, 1e9, out, &Arc::new(Faults::default()));
    env.execute("rescale").unwrap()
}

#[test]
fn savepoint_restores_at_lower_and_higher_parallelism() {
    let root = temp("rescale");
    let n = 20_000;
    let location = run_until_savepoint(4, n, &root.join("out-4"), &root.join("savepoints"));
    let meta = std::fs::read_to_string(Path::new(&location).join("_metadata")).unwrap();
    assert!(meta.contains("\"kind\": \"savepoint\"") && meta.contains("\"parallelism\": 4"), "{meta}");
    let committed_before = committed_lines(&root.join("out-4/rolling")).len() as u64;
    assert!(committed_before > 0 && committed_before < n, "the savepoint is taken mid-run ({committed_before} of {n})");
    // Down to 2 on the heap, up to 8 in RocksDB (heap to RocksDB through the canonical format).
    for (p, backend) in [(2, StateBackendConfig::Heap), (8, rocksdb(&root))] {
        let out = root.join(format!("out-{p}"));
        copy_dir(&root.join("out-4"), &out);
        let result = finish_on(backend, &location, p, n, &out, None);
        assert!(result.restored_from.is_some());
        assert_eq!(result.restarts, 0);
        assert_output(&out, n);
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// A retained checkpoint of the RocksDB backend, restored at another parallelism.
#[test]
fn retained_checkpoint_restores_at_another_parallelism() {
    let root = temp("retained");
    let n = 20_000;
    let (out, checkpoints) = (root.join("out"), root.join("checkpoints"));
    let env = env(4);
    env.set_state_backend(rocksdb(&root));
    env.enable_checkpointing(Duration::from_millis(100), checkpoints.to_str().unwrap());
    build(&env, n, 8_000.0, &out, &Arc::new(Faults::default()));
    let (handle, _) = env.execute_async("retained").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.checkpoints().len() < 3 {
        assert!(Instant::now() < deadline, "no checkpoints");
        std::thread::sleep(Duration::from_millis(20));
    }
    handle.cancel();
    let result = handle.wait().unwrap();
    let latest = result.checkpoints.last().unwrap().storage.location("");
    let job: Arc<dyn CheckpointStorage> = Arc::new(LocalStorage::new(checkpoints.join(&result.job_id)));
    assert_shared_files_are_those_retained(&job);
    let shared_before = job.list("shared").unwrap();
    // The incremental checkpoint restores on the heap too (at 2), and on RocksDB at 3.
    let heap_out = root.join("out-heap");
    copy_dir(&out, &heap_out);
    let result = finish_on(StateBackendConfig::Heap, &latest, 2, n, &heap_out, None);
    assert!(result.restored_from.is_some());
    assert_output(&heap_out, n);
    let result = finish_on(rocksdb(&root), &latest, 3, n, &out, Some(&checkpoints));
    assert!(result.checkpoints.first().is_some_and(|c| c.id > result.restored_from.unwrap()), "ids continue");
    assert_output(&out, n);
    assert_eq!(job.list("shared").unwrap(), shared_before, "a no-claim restore leaves the checkpoint's files alone");
    std::fs::remove_dir_all(root).unwrap();
}

/// `tests/golden/savepoint-v1`: a savepoint of this test's job taken mid-run at parallelism 4 with
/// the first format version, and the output committed when it was taken. Every later version
/// must restore it. `FERROFLINK_REGENERATE_GOLDEN=1` writes it anew (only when the format's
/// version changes on purpose).
#[test]
fn golden_savepoint_restores() {
    let golden = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/golden/savepoint-v1");
    let n = 20_000;
    if std::env::var_os("FERROFLINK_REGENERATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        let scratch = temp("golden-make");
        let location = run_until_savepoint(4, n, &scratch.join("out"), &scratch.join("savepoints"));
        copy_dir(Path::new(&location), &golden.join("savepoint"));
        copy_dir(&scratch.join("out"), &golden.join("committed"));
        std::fs::remove_dir_all(scratch).unwrap();
    }
    let root = temp("golden");
    let out = root.join("out");
    copy_dir(&golden.join("committed"), &out);
    let savepoint = root.join("savepoint");
    copy_dir(&golden.join("savepoint"), &savepoint);
    finish_from(savepoint.to_str().unwrap(), 2, n, &out, None);
    assert_output(&out, n);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn broken_checkpoints_get_clear_errors() {
    let root = temp("broken");
    let first = env(2);
    build(&first, 4_000, 4_000.0, &root.join("out"), &Arc::new(Faults::default()));
    let (handle, _) = first.execute_async("broken").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let location = handle.savepoint(root.join("sp").to_str().unwrap(), true).recv().unwrap().unwrap();
    handle.wait().unwrap();

    let attempt = |path: &str| {
        let env = env(2);
        env.restore_from(restore(path));
        build(&env, 4_000, 1e9, &root.join("out"), &Arc::new(Faults::default()));
        env.execute("broken").unwrap_err().to_string()
    };
    let dir = Path::new(&location);
    let state_file =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).find(|p| !p.ends_with("_metadata")).unwrap();
    let bytes = std::fs::read(&state_file).unwrap();
    let mut corrupt = bytes.clone();
    corrupt[bytes.len() / 2] ^= 0x5a;
    std::fs::write(&state_file, &corrupt).unwrap();
    let e = attempt(&location);
    assert!(e.contains("corrupt") && e.contains(&*state_file.file_name().unwrap().to_string_lossy()), "{e}");
    std::fs::remove_file(&state_file).unwrap();
    let e = attempt(&location);
    assert!(e.contains("is missing") && e.contains("incomplete"), "{e}");
    std::fs::write(&state_file, &bytes).unwrap();
    std::fs::write(dir.join("_metadata"), b"{\"version\": 1, \"kind\": ").unwrap();
    let e = attempt(&location);
    assert!(e.contains("_metadata") && e.contains("corrupt"), "{e}");
    std::fs::remove_file(dir.join("_metadata")).unwrap();
    let e = attempt(&location);
    assert!(e.contains("does not exist") && e.contains("chk-<n>"), "{e}");
    let e = attempt(root.join("nothing-here").to_str().unwrap());
    assert!(e.contains("does not exist"), "{e}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn unwritable_checkpoint_storage_fails_checkpoints_not_the_job() {
    let root = temp("unwritable");
    let n = 16_000;
    let checkpoints = root.join("checkpoints");
    let env = env(2);
    env.enable_checkpointing(Duration::from_millis(50), checkpoints.to_str().unwrap());
    build(&env, n, 8_000.0, &root.join("out"), &Arc::new(Faults::default()));
    let (handle, _) = env.execute_async("unwritable").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.checkpoints().is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The job's checkpoint directory becomes a plain file: nothing can be written under it.
    let job_dir = std::fs::read_dir(&checkpoints).unwrap().flatten().next().unwrap().path();
    let moved = root.join("moved");
    std::fs::rename(&job_dir, &moved).unwrap();
    std::fs::write(&job_dir, b"not a directory").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::fs::remove_file(&job_dir).unwrap();
    std::fs::rename(&moved, &job_dir).unwrap();
    let result = handle.wait().unwrap();
    assert!(result.failed_checkpoints > 0, "checkpoints failed while the storage was unwritable");
    assert_eq!(result.restarts, 0, "the job kept running");
    assert_output(&root.join("out"), n);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn s3_checkpoints_survive_injected_failures_and_savepoints_rescale() {
    let moto = Moto::start();
    moto.create_bucket("state");
    let root = temp("s3");
    let n = 16_000;
    let faults =
        Arc::new(Faults { at_records: vec![5_001], in_snapshot: Some(3), before_commit: Some(6), ..Faults::default() });
    let env = env(2);
    env.set_state_backend(rocksdb(&root));
    env.enable_checkpointing(Duration::from_millis(100), "s3://state/checkpoints");
    env.configure_checkpoints(|c| {
        c.s3 = moto.config(&moto.endpoint);
        c.retained = 2;
    });
    // The output goes to S3 too: part files as multipart uploads completed at checkpoints.
    build(&env, n, 6_000.0, Path::new("s3://state/out"), &faults);
    let result = env.execute("s3-faults").unwrap();
    assert_eq!(faults.fired.lock().unwrap().len(), 3);
    assert!(result.restarts >= 1);
    assert!(result.checkpoints.iter().all(|c| c.storage.location("").starts_with("s3://state/checkpoints/")));
    let output = S3Storage::open("s3://state/out", &moto.config(&moto.endpoint)).unwrap();
    for dir in ["windows", "rolling"] {
        assert_eq!(output.uploads(dir).unwrap(), vec![], "no upload left in progress or pending in {dir}");
        let local = root.join("out").join(dir);
        std::fs::create_dir_all(&local).unwrap();
        for name in output.list(dir).unwrap() {
            std::fs::write(local.join(&name), output.read(&format!("{dir}/{name}")).unwrap()).unwrap();
        }
    }
    assert_output(&root.join("out"), n);
    let s3 = S3Storage::open("s3://state/checkpoints", &moto.config(&moto.endpoint)).unwrap();
    let job = s3.list("").unwrap();
    assert_eq!(job, vec![result.job_id.clone()]);
    let kept: Vec<String> = s3.list(&result.job_id).unwrap();
    let retained = kept.iter().filter(|d| d.starts_with("chk-")).count();
    assert_eq!(retained, 2, "two retained checkpoints, older ones deleted: {kept:?}");
    assert_shared_files_are_those_retained(&s3.scoped(&result.job_id));

    // A savepoint into S3 at parallelism 3, finished at 2.
    let out = root.join("rescaled");
    let env = env_with_s3(3, &moto);
    build(&env, n, 8_000.0, &out, &Arc::new(Faults::default()));
    let (handle, _) = env.execute_async("s3-rescale").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let location = handle.savepoint("s3://state/savepoints", true).recv().unwrap().unwrap();
    assert!(location.starts_with("s3://state/savepoints/savepoint-"), "{location}");
    handle.wait().unwrap();
    let env = env_with_s3(2, &moto);
    env.restore_from(restore(&location));
    build(&env, n, 1e9, &out, &Arc::new(Faults::default()));
    env.execute("s3-rescale").unwrap();
    assert_output(&out, n);
    std::fs::remove_dir_all(root).unwrap();
}

fn env_with_s3(parallelism: usize, moto: &Moto) -> StreamExecutionEnvironment {
    let env = env(parallelism);
    let config = moto.config(&moto.endpoint);
    env.configure_checkpoints(move |c| c.s3 = config);
    env
}

#[test]
fn unreachable_s3_fails_checkpoints_not_the_job() {
    let moto = Moto::start();
    moto.create_bucket("state");
    let proxy = Proxy::start(&moto.endpoint);
    let root = temp("s3-down");
    let n = 20_000;
    let env = env(2);
    env.enable_checkpointing(Duration::from_millis(100), "s3://state/checkpoints");
    let config = moto.config(&proxy.endpoint);
    env.configure_checkpoints(move |c| {
        c.s3 = config;
        c.timeout = Duration::from_secs(1);
    });
    build(&env, n, 6_000.0, &root.join("out"), &Arc::new(Faults::default()));
    let (handle, _) = env.execute_async("s3-down").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.checkpoints().is_empty() {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(10));
    }
    proxy.set_down(true);
    std::thread::sleep(Duration::from_millis(1500));
    let completed_while_down = handle.checkpoints().len();
    proxy.set_down(false);
    let result = handle.wait().unwrap();
    assert!(result.failed_checkpoints > 0, "checkpoints failed while S3 was unreachable");
    assert!(result.checkpoints.len() > completed_while_down, "checkpoints completed again afterwards");
    assert_eq!(result.restarts, 0, "the job kept running");
    assert_output(&root.join("out"), n);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn s3_storage_writes_large_files_in_parts() {
    let moto = Moto::start();
    moto.create_bucket("big");
    let s3 = S3Storage::open("s3://big/some/prefix", &moto.config(&moto.endpoint)).unwrap();
    let bytes: Vec<u8> = (0..20u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    s3.write("chk-1/large", &bytes).unwrap();
    s3.write("chk-1/_metadata", b"{}").unwrap();
    s3.write("chk-2/x", b"x").unwrap();
    assert_eq!(s3.read("chk-1/large").unwrap(), bytes, "20 MiB in three parts, read back whole");
    assert_eq!(s3.list("").unwrap(), vec!["chk-1".to_string(), "chk-2".into()]);
    assert_eq!(s3.list("chk-1").unwrap(), vec!["_metadata".to_string(), "large".into()]);
    assert!(s3.exists("chk-1/_metadata").unwrap() && !s3.exists("chk-1/nothing").unwrap());
    let scoped = s3.scoped("chk-1");
    assert_eq!(scoped.location("large"), "s3://big/some/prefix/chk-1/large");
    scoped.delete_dir("").unwrap();
    assert_eq!(s3.list("").unwrap(), vec!["chk-2".to_string()]);
    let e = s3.read("chk-1/large").unwrap_err().to_string();
    assert!(e.contains("cannot read 's3://big/some/prefix/chk-1/large'"), "{e}");
}

/// An intermediate savepoint commits nothing (its parts stay pending until a checkpoint, as in
/// Flink since 1.15: a restart from an older checkpoint would write them again); stopping with a
/// savepoint commits before the job ends.
#[test]
fn intermediate_savepoints_commit_nothing_and_stop_with_savepoint_commits() {
    let root = temp("intermediate-savepoint");
    let (out, savepoints) = (root.join("out"), root.join("savepoints"));
    let env = env(1);
    // Checkpoints configured, but none comes before the savepoints below.
    env.enable_checkpointing(Duration::from_secs(3600), root.join("checkpoints").to_str().unwrap());
    build(&env, 1_000_000, 4_000.0, &out, &Arc::new(Faults::default()));
    let (handle, _) = env.execute_async("intermediate").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let first = handle.savepoint(savepoints.to_str().unwrap(), false).recv().unwrap().unwrap();
    assert!(first.contains("savepoint-"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(committed_lines(&out.join("rolling")).is_empty(), "an intermediate savepoint committed output");
    let last = handle.savepoint(savepoints.to_str().unwrap(), true).recv().unwrap().unwrap();
    let result = handle.wait().unwrap();
    assert_eq!(result.savepoint.as_deref(), Some(last.as_str()));
    assert!(!committed_lines(&out.join("rolling")).is_empty(), "stop-with-savepoint commits the output");
    std::fs::remove_dir_all(root).unwrap();
}
