//! The exactly-once file sink: rolling part files in a directory, committed by two-phase commit.
//!
//! Subtask `i` writes `.part-<i>-<n>.inprogress`. A part rolls when it reaches the size limit and at
//! every checkpoint barrier; a rolled part is *pending* (`.part-<i>-<n>.pending`), recorded in the
//! checkpoint, and *committed* — renamed to `part-<i>-<n>` — only when that checkpoint completes.
//! So a file whose name starts with `.` is in progress or pending, and every `part-*` file is final:
//! its records are covered by a completed checkpoint and are never written again after a restore.
//!
//! On restore, pending parts recorded in the checkpoint are committed (they belong to a completed
//! checkpoint), and any other in-progress or pending part of the old subtasks this subtask takes
//! over is deleted (it holds records the restored job writes again). Part numbers continue after
//! the highest one recorded, so names never repeat. Savepoints commit like checkpoints. When input
//! ends, the job's final checkpoint commits the rest; a job without checkpoints commits when its
//! input ends (so an unbounded job without checkpoints commits only at savepoints, as in Flink).
//!
//! An `s3://bucket/prefix` directory works the same with S3 multipart uploads in place of files:
//! a part is an upload to its final key `part-<i>-<n>` (invisible while in progress; its data goes
//! up in 8 MiB parts), pending once its last part is uploaded at the barrier, and committed by
//! completing the upload, when the object appears whole. Recovery completes the restored pending
//! uploads and aborts the other uploads of the old subtasks it takes over. The job's S3 settings
//! (`--s3-endpoint`, ...) apply.
//!
//! A *partitioned* sink ([`FileSink::partitioned`]) writes each record into a subdirectory named
//! by the record (Hive's `dt=2026-12-07/hr=10`), with parts of their own there. Its writer can run
//! as an operator ([`FileSink::writer`]) that reports the parts each checkpoint made pending to a
//! [`PartitionCommitter`] at parallelism 1, which commits them too (commits are idempotent) and
//! then marks each partition done with a success file once its trigger fires: by processing
//! time, or once every writer's watermark passes the time the partition stands for.
//!
//! Parts roll at the size limit, at every checkpoint barrier and, when open longer than the
//! rollover interval, at the next check (Flink's `sink.rolling-policy.*`).

use ferroflink_core::clock::Clock;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::operator::{Operator, Output};
use ferroflink_runtime::sink::{Sink, SinkWriter};
use ferroflink_state::operator::OperatorListState;
use ferroflink_state::s3::{PART_BYTES, S3Storage};
use ferroflink_state::storage::CheckpointStorage;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

type Format<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;
type Bucketer<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// Name of the sink's operator state.
const STATE: &str = "file-sink";
/// Name of the state listing the S3 uploads of pending parts.
const UPLOADS: &str = "file-sink-uploads";
/// Name of the state giving the partition directory of pending parts that are not at the top.
const BUCKETS: &str = "file-sink-buckets";
/// Name of the partition committer's state.
const COMMITTER: &str = "partition-committer";

/// When parts roll (Flink's `sink.rolling-policy.file-size`, `.rollover-interval` and
/// `.check-interval`; parts also roll at every checkpoint).
#[derive(Clone, Copy, Debug)]
struct RollingPolicy {
    max_part_bytes: u64,
    rollover: Duration,
    check_interval: Duration,
}

/// See the module documentation.
pub struct FileSink<T> {
    dir: PathBuf,
    format: Format<T>,
    bucket: Option<Bucketer<T>>,
    rolling: RollingPolicy,
}

impl<T> Clone for FileSink<T> {
    fn clone(&self) -> Self {
        FileSink {
            dir: self.dir.clone(),
            format: self.format.clone(),
            bucket: self.bucket.clone(),
            rolling: self.rolling,
        }
    }
}

impl<T: Data> FileSink<T> {
    /// Writes `format(record)` lines into part files under `dir`.
    pub fn new(dir: impl Into<PathBuf>, format: impl Fn(&T) -> String + Send + Sync + 'static) -> Self {
        FileSink {
            dir: dir.into(),
            format: Arc::new(format),
            bucket: None,
            rolling: RollingPolicy {
                max_part_bytes: 128 << 20,
                rollover: Duration::from_secs(30 * 60),
                check_interval: Duration::from_secs(60),
            },
        }
    }

    /// Rolls to a new part file after this many bytes.
    pub fn with_max_part_bytes(mut self, bytes: u64) -> Self {
        self.rolling.max_part_bytes = bytes.max(1);
        self
    }

    /// Rolls a part open longer than `rollover`, looking every `check_interval`.
    pub fn with_rollover_interval(mut self, rollover: Duration, check_interval: Duration) -> Self {
        self.rolling.rollover = rollover;
        self.rolling.check_interval = check_interval.max(Duration::from_millis(1));
        self
    }

    /// Writes each record into the subdirectory `bucket(record)` (a relative path such as
    /// `dt=2026-12-07/hr=10`; empty: the output directory itself).
    pub fn partitioned(mut self, bucket: impl Fn(&T) -> String + Send + Sync + 'static) -> Self {
        self.bucket = Some(Arc::new(bucket));
        self
    }

    /// The writer as an operator of each subtask, reporting the parts it makes pending to a
    /// [`PartitionCommitter`]: at every checkpoint barrier and at the end of input.
    pub fn writer(self) -> impl Fn() -> PartitionWriter<T> + Send + Sync + 'static {
        let sink = Arc::new(self);
        move || PartitionWriter { sink: sink.clone(), writer: None, parallelism: 1, watermark: Timestamp::MIN }
    }

    fn open_writer(&self, ctx: &mut RuntimeContext) -> Result<FileWriter<T>> {
        let store = part_store(&self.dir, ctx)?;
        let state: OperatorListState<SubtaskParts> = ctx.operator_state.union_list_state(STATE)?;
        let upload_state: OperatorListState<PendingUpload> = ctx.operator_state.union_list_state(UPLOADS)?;
        let bucket_state: OperatorListState<PartBucket> = ctx.operator_state.union_list_state(BUCKETS)?;
        let (subtask, parallelism) = (ctx.task.subtask_index, ctx.task.parallelism);
        let restored = state.get();
        let uploads = upload_state.get().into_iter().map(|u| ((u.subtask, u.part), u.upload)).collect();
        let restored_buckets = bucket_state.get().into_iter().map(|b| ((b.subtask, b.part), b.bucket)).collect();
        let mut writer = FileWriter {
            store,
            format: self.format.clone(),
            bucket: self.bucket.clone(),
            rolling: self.rolling,
            clock: ctx.clock.clone(),
            last_check: ctx.clock.now(),
            subtask,
            next_part: restored.iter().map(|s| s.next_part).max().unwrap_or(0),
            open: HashMap::new(),
            pending: Vec::new(),
            buckets: HashMap::new(),
            commit_on_finish: !ctx.final_checkpoint,
            state,
            upload_state,
            bucket_state,
            uploads,
            rolled: Vec::new(),
            line: String::new(),
        };
        writer.recover(&restored, &restored_buckets, parallelism)?;
        writer.state.clear();
        writer.upload_state.clear();
        writer.bucket_state.clear();
        Ok(writer)
    }
}

fn part_store(dir: &Path, ctx: &RuntimeContext) -> Result<Box<dyn PartStore>> {
    let location = dir.to_string_lossy();
    if location.starts_with("s3://") {
        return Ok(Box::new(S3Parts { storage: S3Storage::open(&location, &ctx.s3)? }));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create output directory '{}'", dir.display()), e))?;
    Ok(Box::new(LocalParts { dir: dir.to_path_buf() }))
}

/// A rolled part waiting for its checkpoint to complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PendingPart {
    /// The checkpoint it belongs to (`None`: the next one).
    checkpoint_id: Option<u64>,
    /// Part number; the files are `.part-<subtask>-<n>.pending` and `part-<subtask>-<n>`.
    part: u64,
}

/// The S3 upload of a part: completing it needs the id and the parts' ETags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Upload {
    upload_id: String,
    etags: Vec<String>,
}

/// A pending part's upload, in the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PendingUpload {
    subtask: usize,
    part: u64,
    upload: Upload,
}

/// The partition directory of a pending part, in the checkpoint (parts at the top have none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PartBucket {
    subtask: usize,
    part: u64,
    bucket: String,
}

/// What one subtask keeps in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SubtaskParts {
    subtask: usize,
    next_part: u64,
    pending: Vec<PendingPart>,
}

/// A part a writer made pending, as it reports it to the [`PartitionCommitter`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFile {
    bucket: String,
    subtask: usize,
    part: u64,
    upload: Option<Upload>,
}

/// What a writer subtask reports to the [`PartitionCommitter`] at a checkpoint barrier or at the
/// end of its input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionCommitInfo {
    subtask: usize,
    parallelism: usize,
    /// Parts made pending since the last report.
    parts: Vec<PendingFile>,
    /// The writer's watermark.
    watermark: Timestamp,
    /// Whether the writer's input ended (its last report).
    finished: bool,
}

fn in_progress_name(subtask: usize, part: u64) -> String {
    format!(".part-{subtask}-{part}.inprogress")
}

fn pending_name(subtask: usize, part: u64) -> String {
    format!(".part-{subtask}-{part}.pending")
}

fn final_name(subtask: usize, part: u64) -> String {
    format!("part-{subtask}-{part}")
}

/// `name` inside partition directory `bucket`.
fn in_bucket(bucket: &str, name: &str) -> String {
    if bucket.is_empty() { name.to_string() } else { format!("{bucket}/{name}") }
}

/// `(subtask, part)` of a final part file name.
fn parse_final(name: &str) -> Option<(usize, u64)> {
    let (subtask, part) = name.strip_prefix("part-")?.split_once('-')?;
    Some((subtask.parse().ok()?, part.parse().ok()?))
}

/// `(subtask, part)` of a hidden part file name.
fn parse_hidden(name: &str) -> Option<(usize, u64)> {
    let rest = name.strip_prefix(".part-")?;
    let rest = rest.strip_suffix(".inprogress").or_else(|| rest.strip_suffix(".pending"))?;
    let (subtask, part) = rest.split_once('-')?;
    Some((subtask.parse().ok()?, part.parse().ok()?))
}

impl<T: Data> Sink<T> for FileSink<T> {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>> {
        Ok(Box::new(self.open_writer(ctx)?))
    }
}

/// Where part files go: a local directory or an S3 prefix.
trait PartStore: Send {
    /// Starts part `part` of `subtask` in partition directory `bucket`, in progress.
    fn open(&self, bucket: &str, subtask: usize, part: u64) -> Result<Box<dyn PartFile>>;
    /// Makes a pending part final (idempotent, also when another task commits it at the same
    /// time); `upload` is what [`PartFile::make_pending`] returned for it.
    fn commit(&self, bucket: &str, subtask: usize, part: u64, upload: Option<&Upload>) -> Result<()>;
    /// Deletes (or aborts) every in-progress or pending part, in any partition, of the old
    /// subtasks `mine` accepts except `keep`.
    fn discard(&self, mine: &dyn Fn(usize) -> bool, keep: &HashSet<(usize, u64)>) -> Result<()>;
    /// Writes the empty file `name` into partition directory `bucket`.
    fn mark(&self, bucket: &str, name: &str) -> Result<()>;
}

/// A part being written.
trait PartFile: Send {
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Stores everything written so far durably, as a pending part: not visible as output, and
    /// committable by any later writer that knows `(subtask, part)` and the upload returned.
    fn make_pending(self: Box<Self>) -> Result<Option<Upload>>;
    /// Hands buffered bytes to the storage (before the task closes without a checkpoint).
    fn flush(&mut self) -> Result<()>;
}

/// Parts as files of a directory: `.inprogress`, renamed `.pending`, renamed final.
struct LocalParts {
    dir: PathBuf,
}

struct LocalPart {
    file: BufWriter<File>,
    path: PathBuf,
    pending: PathBuf,
}

impl PartStore for LocalParts {
    fn open(&self, bucket: &str, subtask: usize, part: u64) -> Result<Box<dyn PartFile>> {
        let dir = self.dir.join(bucket);
        if !bucket.is_empty() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("cannot create partition directory '{}'", dir.display()), e))?;
        }
        let path = dir.join(in_progress_name(subtask, part));
        let file = File::create(&path).map_err(|e| Error::io(format!("cannot create '{}'", path.display()), e))?;
        Ok(Box::new(LocalPart { file: BufWriter::new(file), path, pending: dir.join(pending_name(subtask, part)) }))
    }

    fn commit(&self, bucket: &str, subtask: usize, part: u64, _: Option<&Upload>) -> Result<()> {
        let dir = self.dir.join(bucket);
        let pending = dir.join(pending_name(subtask, part));
        let done = dir.join(final_name(subtask, part));
        tracing::debug!(file = %done.display(), "committing");
        if pending.exists() {
            match rename(&pending, &done) {
                Err(_) if done.exists() => return Ok(()),
                other => return other,
            }
        }
        if done.exists() {
            return Ok(());
        }
        Err(missing_pending(&pending.display().to_string()))
    }

    fn discard(&self, mine: &dyn Fn(usize) -> bool, keep: &HashSet<(usize, u64)>) -> Result<()> {
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            let list_error = |e| Error::io(format!("cannot list output directory '{}'", dir.display()), e);
            for entry in std::fs::read_dir(&dir).map_err(list_error)? {
                let entry = entry.map_err(list_error)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type().map_err(list_error)?.is_dir() {
                    dirs.push(entry.path());
                } else if let Some((old, part)) = parse_hidden(&name)
                    && mine(old)
                    && !keep.contains(&(old, part))
                {
                    tracing::info!(file = %entry.path().display(), "deleting a part file no completed checkpoint covers");
                    std::fs::remove_file(entry.path())
                        .map_err(|e| Error::io(format!("cannot delete '{}'", entry.path().display()), e))?;
                }
            }
        }
        Ok(())
    }

    fn mark(&self, bucket: &str, name: &str) -> Result<()> {
        let path = self.dir.join(bucket).join(name);
        File::create(&path).map(drop).map_err(|e| Error::io(format!("cannot create '{}'", path.display()), e))
    }
}

impl PartFile for LocalPart {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(|e| Error::io(format!("cannot write '{}'", self.path.display()), e))
    }

    fn make_pending(mut self: Box<Self>) -> Result<Option<Upload>> {
        let write_error = |e| Error::io(format!("cannot write '{}'", self.path.display()), e);
        self.file.flush().map_err(write_error)?;
        self.file.get_ref().sync_all().map_err(write_error)?;
        rename(&self.path, &self.pending)?;
        Ok(None)
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(format!("cannot write '{}'", self.path.display()), e))
    }
}

/// Parts as S3 multipart uploads to their final keys: an upload in progress is invisible, its
/// parts go up as they fill, the last one at the barrier (then it is pending), and completing the
/// upload commits it: the object appears whole under `part-<i>-<n>`.
struct S3Parts {
    storage: S3Storage,
}

struct S3Part {
    storage: S3Storage,
    key: String,
    upload: Upload,
    buffer: Vec<u8>,
}

impl S3Part {
    fn upload(&mut self) -> Result<()> {
        let number = self.upload.etags.len() as i32 + 1;
        let bytes = std::mem::take(&mut self.buffer);
        let etag = self.storage.upload_part(&self.key, &self.upload.upload_id, number, bytes)?;
        self.upload.etags.push(etag);
        Ok(())
    }
}

impl PartStore for S3Parts {
    fn open(&self, bucket: &str, subtask: usize, part: u64) -> Result<Box<dyn PartFile>> {
        let key = in_bucket(bucket, &final_name(subtask, part));
        let upload = Upload { upload_id: self.storage.start_upload(&key)?, etags: Vec::new() };
        Ok(Box::new(S3Part { storage: self.storage.clone(), key, upload, buffer: Vec::new() }))
    }

    fn commit(&self, bucket: &str, subtask: usize, part: u64, upload: Option<&Upload>) -> Result<()> {
        let key = in_bucket(bucket, &final_name(subtask, part));
        match upload {
            Some(u) => match self.storage.complete_upload(&key, &u.upload_id, &u.etags) {
                Err(_) if self.storage.exists(&key)? => Ok(()),
                other => other,
            },
            None if self.storage.exists(&key)? => Ok(()),
            None => Err(missing_pending(&self.storage.location(&key))),
        }
    }

    fn discard(&self, mine: &dyn Fn(usize) -> bool, keep: &HashSet<(usize, u64)>) -> Result<()> {
        for (key, id) in self.storage.uploads("")? {
            let name = key.rsplit('/').next().unwrap_or(&key);
            if let Some((old, part)) = parse_final(name)
                && mine(old)
                && !keep.contains(&(old, part))
            {
                tracing::info!(key = %self.storage.location(&key), "aborting a part upload no completed checkpoint covers");
                self.storage.abort_upload(&key, &id)?;
            }
        }
        Ok(())
    }

    fn mark(&self, bucket: &str, name: &str) -> Result<()> {
        self.storage.write(&in_bucket(bucket, name), b"")
    }
}

impl PartFile for S3Part {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            self.upload()?;
        }
        Ok(())
    }

    fn make_pending(mut self: Box<Self>) -> Result<Option<Upload>> {
        if !self.buffer.is_empty() || self.upload.etags.is_empty() {
            self.upload()?;
        }
        Ok(Some(self.upload))
    }

    fn flush(&mut self) -> Result<()> {
        // Parts below 5 MiB may only end an upload: what is buffered stays for the barrier (a
        // restore writes it again anyway).
        Ok(())
    }
}

fn missing_pending(location: &str) -> Error {
    Error::CorruptSnapshot(format!(
        "pending part '{location}' of a completed checkpoint is missing and was never committed: either it was \
         removed outside ferroflink, so its records are lost from the output, or the job restored a checkpoint or \
         savepoint of a file sink that wrote to another directory (the sink names its parts relative to its \
         output directory: restore into the same one)"
    ))
}

struct OpenPart {
    file: Box<dyn PartFile>,
    bytes: u64,
    part: u64,
    /// Processing time it was opened at.
    opened: Timestamp,
}

struct FileWriter<T> {
    store: Box<dyn PartStore>,
    format: Format<T>,
    bucket: Option<Bucketer<T>>,
    rolling: RollingPolicy,
    clock: Arc<dyn Clock>,
    /// When open parts were last checked against the rollover interval.
    last_check: Timestamp,
    subtask: usize,
    next_part: u64,
    /// The open part of each partition directory.
    open: HashMap<String, OpenPart>,
    pending: Vec<PendingPart>,
    /// Partition directories of pending parts not at the top, by part.
    buckets: HashMap<u64, String>,
    commit_on_finish: bool,
    state: OperatorListState<SubtaskParts>,
    upload_state: OperatorListState<PendingUpload>,
    bucket_state: OperatorListState<PartBucket>,
    /// Uploads of pending parts (S3), by `(subtask, part)`.
    uploads: HashMap<(usize, u64), Upload>,
    /// Parts made pending since they were last taken for a report.
    rolled: Vec<PendingFile>,
    line: String,
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("cannot rename '{}' to '{}'", from.display(), to.display()), e))
}

impl<T> FileWriter<T> {
    /// Commits the restored pending parts of the old subtasks this one takes over (`j mod p == i`)
    /// and deletes their other hidden parts.
    fn recover(
        &mut self,
        restored: &[SubtaskParts],
        buckets: &HashMap<(usize, u64), String>,
        parallelism: usize,
    ) -> Result<()> {
        let subtask = self.subtask;
        let mine = move |old: usize| old % parallelism == subtask;
        let mut committed = HashSet::new();
        for old in restored.iter().filter(|s| mine(s.subtask)) {
            for p in &old.pending {
                let key = (old.subtask, p.part);
                let bucket = buckets.get(&key).map_or("", String::as_str);
                self.store.commit(bucket, old.subtask, p.part, self.uploads.get(&key))?;
                committed.insert(key);
            }
        }
        self.uploads.clear();
        self.store.discard(&mine, &committed)
    }

    fn commit(&mut self, part: u64) -> Result<()> {
        let upload = self.uploads.remove(&(self.subtask, part));
        let bucket = self.buckets.remove(&part).unwrap_or_default();
        self.store.commit(&bucket, self.subtask, part, upload.as_ref())
    }

    /// Closes the open part of partition `bucket`; it is pending until a checkpoint covers it.
    fn roll(&mut self, bucket: &str) -> Result<()> {
        let Some((bucket, p)) = self.open.remove_entry(bucket) else { return Ok(()) };
        let upload = p.file.make_pending()?;
        if let Some(upload) = &upload {
            self.uploads.insert((self.subtask, p.part), upload.clone());
        }
        self.pending.push(PendingPart { checkpoint_id: None, part: p.part });
        self.rolled.push(PendingFile { bucket: bucket.clone(), subtask: self.subtask, part: p.part, upload });
        if !bucket.is_empty() {
            self.buckets.insert(p.part, bucket);
        }
        Ok(())
    }

    fn roll_all(&mut self) -> Result<()> {
        let buckets: Vec<String> = self.open.keys().cloned().collect();
        buckets.iter().try_for_each(|b| self.roll(b))
    }
}

impl<T: Data> SinkWriter<T> for FileWriter<T> {
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()> {
        for r in batch {
            let bucket = self.bucket.as_ref().map(|b| b(&r.value)).unwrap_or_default();
            self.line.clear();
            self.line.push_str(&(self.format)(&r.value));
            self.line.push('\n');
            let part = match self.open.get_mut(&bucket) {
                Some(part) => part,
                None => {
                    let part = self.next_part;
                    let file = self.store.open(&bucket, self.subtask, part)?;
                    self.next_part += 1;
                    let opened = self.clock.now();
                    self.open.entry(bucket.clone()).or_insert(OpenPart { file, bytes: 0, part, opened })
                }
            };
            part.file.write(self.line.as_bytes())?;
            part.bytes += self.line.len() as u64;
            if part.bytes >= self.rolling.max_part_bytes {
                self.roll(&bucket)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.roll_all()?;
        if self.commit_on_finish {
            for p in std::mem::take(&mut self.pending) {
                self.commit(p.part)?;
            }
        }
        Ok(())
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        self.roll_all()?;
        tracing::debug!(checkpoint_id, subtask = self.subtask, pending = ?self.pending, "pre-commit");
        for p in &mut self.pending {
            p.checkpoint_id.get_or_insert(checkpoint_id);
        }
        self.state.update(vec![SubtaskParts {
            subtask: self.subtask,
            next_part: self.next_part,
            pending: self.pending.clone(),
        }]);
        let uploads = self.pending.iter().filter_map(|p| {
            let upload = self.uploads.get(&(self.subtask, p.part))?.clone();
            Some(PendingUpload { subtask: self.subtask, part: p.part, upload })
        });
        self.upload_state.update(uploads.collect());
        let buckets = self.pending.iter().filter_map(|p| {
            let bucket = self.buckets.get(&p.part)?.clone();
            Some(PartBucket { subtask: self.subtask, part: p.part, bucket })
        });
        self.bucket_state.update(buckets.collect());
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        tracing::debug!(checkpoint_id, subtask = self.subtask, pending = ?self.pending, "commit");
        let (due, later): (Vec<_>, Vec<_>) =
            self.pending.drain(..).partition(|p| p.checkpoint_id.is_some_and(|c| c <= checkpoint_id));
        self.pending = later;
        for p in due {
            self.commit(p.part)?;
        }
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        let check = i64::try_from(self.rolling.check_interval.as_millis()).unwrap_or(i64::MAX);
        (!self.open.is_empty()).then(|| self.last_check.saturating_add(check))
    }

    fn on_processing_time(&mut self, now: Timestamp) -> Result<()> {
        self.last_check = now;
        let rollover = i64::try_from(self.rolling.rollover.as_millis()).unwrap_or(i64::MAX);
        let old: Vec<String> = self
            .open
            .iter()
            .filter(|(_, p)| p.opened.saturating_add(rollover) <= now)
            .map(|(b, _)| b.clone())
            .collect();
        old.iter().try_for_each(|b| self.roll(b))
    }

    fn close(&mut self) -> Result<()> {
        self.open.values_mut().try_for_each(|p| p.file.flush())
    }
}

/// A file sink's writer as an operator that reports its pending parts downstream, to a
/// [`PartitionCommitter`] (see [`FileSink::writer`]).
pub struct PartitionWriter<T> {
    sink: Arc<FileSink<T>>,
    writer: Option<FileWriter<T>>,
    parallelism: usize,
    watermark: Timestamp,
}

impl<T: Data> PartitionWriter<T> {
    fn writer(&mut self) -> &mut FileWriter<T> {
        self.writer.as_mut().expect("opened")
    }

    fn report(&mut self, finished: bool, out: &mut Output<PartitionCommitInfo>) {
        let (watermark, parallelism) = (self.watermark, self.parallelism);
        let writer = self.writer();
        let parts = std::mem::take(&mut writer.rolled);
        let info = PartitionCommitInfo { subtask: writer.subtask, parallelism, parts, watermark, finished };
        out.collect(info, watermark);
    }
}

impl<T: Data> Operator for PartitionWriter<T> {
    type In = T;
    type Out = PartitionCommitInfo;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.writer = Some(self.sink.open_writer(ctx)?);
        self.parallelism = ctx.task.parallelism;
        Ok(())
    }

    fn process_batch(&mut self, batch: Vec<Record<T>>, _out: &mut Output<PartitionCommitInfo>) -> Result<()> {
        self.writer().write(batch)
    }

    fn process_watermark(&mut self, watermark: Timestamp, _out: &mut Output<PartitionCommitInfo>) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.writer.as_ref().and_then(|w| w.next_processing_time())
    }

    fn on_processing_time(&mut self, now: Timestamp, _out: &mut Output<PartitionCommitInfo>) -> Result<()> {
        self.writer().on_processing_time(now)
    }

    fn finish(&mut self, out: &mut Output<PartitionCommitInfo>) -> Result<()> {
        self.writer().finish()?;
        self.watermark = Timestamp::MAX;
        self.report(true, out);
        Ok(())
    }

    fn snapshot_state(&mut self, checkpoint_id: u64, out: &mut Output<PartitionCommitInfo>) -> Result<()> {
        self.writer().snapshot_state(checkpoint_id)?;
        self.report(false, out);
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.writer().notify_checkpoint_complete(checkpoint_id)
    }

    fn close(&mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.close(),
            None => Ok(()),
        }
    }
}

/// When a partition is done (Flink's `sink.partition-commit.trigger`).
#[derive(Clone)]
pub enum CommitTrigger {
    /// Once processing time passes the moment its first files were committed, plus the delay.
    ProcessTime,
    /// Once every writer's watermark passes the time the partition stands for, plus the delay:
    /// the function gives that time for a partition directory (`dt=2026-12-07/hr=10`) or says why
    /// it cannot.
    PartitionTime(PartitionTime),
}

/// The time a partition directory stands for, or why it has none.
pub type PartitionTime = Arc<dyn Fn(&str) -> std::result::Result<Timestamp, String> + Send + Sync>;

/// Commits what [`PartitionWriter`]s report, at parallelism 1: the parts of a checkpoint when it
/// completes (or at the end of input without checkpoints), then a success file in each
/// partition directory whose trigger fired (Flink's `success-file` commit policy). At the end of
/// the input every partition written is marked.
#[derive(Clone)]
pub struct PartitionCommitter {
    dir: PathBuf,
    trigger: CommitTrigger,
    delay: Duration,
    success_file: String,
}

impl PartitionCommitter {
    /// Marks partitions of output directory `dir` with an empty file `success_file`.
    pub fn new(dir: impl Into<PathBuf>, trigger: CommitTrigger, delay: Duration, success_file: &str) -> Self {
        PartitionCommitter { dir: dir.into(), trigger, delay, success_file: success_file.to_string() }
    }
}

/// What the committer keeps in a checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CommitterState {
    /// Reports received, with the checkpoint whose barrier they came before (`None`: the next one).
    reports: Vec<(Option<u64>, PartitionCommitInfo)>,
    /// Partitions whose files are committed, waiting for the trigger, with when they were first seen.
    waiting: Vec<(String, Timestamp)>,
    /// Each writer subtask's watermark as of the completed checkpoints (`Timestamp::MAX` once its
    /// input ended).
    watermarks: Vec<Timestamp>,
}

struct CommitterWriter {
    store: Box<dyn PartStore>,
    committer: PartitionCommitter,
    clock: Arc<dyn Clock>,
    state: OperatorListState<CommitterState>,
    now: CommitterState,
    finished: bool,
    commit_on_finish: bool,
}

impl Sink<PartitionCommitInfo> for PartitionCommitter {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<PartitionCommitInfo>>> {
        let state: OperatorListState<CommitterState> = ctx.operator_state.union_list_state(COMMITTER)?;
        let mut now = CommitterState::default();
        for restored in state.get() {
            now.reports.extend(restored.reports);
            now.waiting.extend(restored.waiting);
            now.watermarks = restored.watermarks;
        }
        state.clear();
        let mut writer = CommitterWriter {
            store: part_store(&self.dir, ctx)?,
            committer: self.clone(),
            clock: ctx.clock.clone(),
            state,
            now,
            finished: false,
            commit_on_finish: !ctx.final_checkpoint,
        };
        // A restored checkpoint completed: its reports are due.
        writer.commit_reports(|_| true)?;
        Ok(Box::new(writer))
    }
}

impl CommitterWriter {
    /// Commits the parts of the reports `due` accepts (by checkpoint) and takes their writers'
    /// watermarks; the parts' partitions wait for their trigger.
    fn commit_reports(&mut self, due: impl Fn(Option<u64>) -> bool) -> Result<()> {
        let (ready, later): (Vec<_>, Vec<_>) = self.now.reports.drain(..).partition(|(c, _)| due(*c));
        self.now.reports = later;
        let now = self.clock.now();
        for (_, info) in ready {
            let marks = &mut self.now.watermarks;
            if marks.len() < info.parallelism {
                marks.resize(info.parallelism, Timestamp::MIN);
            }
            let mark = &mut marks[info.subtask];
            *mark = if info.finished { Timestamp::MAX } else { (*mark).max(info.watermark) };
            for p in info.parts {
                self.store.commit(&p.bucket, p.subtask, p.part, p.upload.as_ref())?;
                if !self.now.waiting.iter().any(|(b, _)| *b == p.bucket) {
                    self.now.waiting.push((p.bucket, now));
                }
            }
        }
        Ok(())
    }

    /// Marks the waiting partitions whose trigger fired (all of them when `all`).
    fn commit_partitions(&mut self, all: bool) -> Result<()> {
        let now = self.clock.now();
        let delay = i64::try_from(self.committer.delay.as_millis()).unwrap_or(i64::MAX);
        let watermark = self.now.watermarks.iter().copied().min().unwrap_or(Timestamp::MIN);
        let mut waiting = Vec::new();
        for (bucket, seen) in std::mem::take(&mut self.now.waiting) {
            let due = all
                || match &self.committer.trigger {
                    CommitTrigger::ProcessTime => now >= seen.saturating_add(delay),
                    CommitTrigger::PartitionTime(time_of) => {
                        let time = time_of(&bucket).map_err(|e| {
                            Error::Config(format!("cannot commit partition '{bucket}' by partition time: {e}"))
                        })?;
                        watermark > time.saturating_add(delay)
                    }
                };
            if due {
                tracing::info!(partition = %bucket, "committing partition");
                self.store.mark(&bucket, &self.committer.success_file)?;
            } else {
                waiting.push((bucket, seen));
            }
        }
        self.now.waiting = waiting;
        Ok(())
    }
}

impl SinkWriter<PartitionCommitInfo> for CommitterWriter {
    fn write(&mut self, batch: Vec<Record<PartitionCommitInfo>>) -> Result<()> {
        self.now.reports.extend(batch.into_iter().map(|r| (None, r.value)));
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        if self.commit_on_finish {
            self.commit_reports(|_| true)?;
            self.commit_partitions(true)?;
        }
        Ok(())
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        for (c, _) in &mut self.now.reports {
            c.get_or_insert(checkpoint_id);
        }
        self.state.update(vec![self.now.clone()]);
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.commit_reports(|c| c.is_some_and(|c| c <= checkpoint_id))?;
        self.commit_partitions(self.finished && self.now.reports.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_core::clock::ManualClock;
    use ferroflink_state::operator::OperatorStateStore;

    #[test]
    fn hidden_names_parse() {
        assert_eq!(parse_hidden(&in_progress_name(3, 17)), Some((3, 17)));
        assert_eq!(parse_hidden(&pending_name(0, 2)), Some((0, 2)));
        assert_eq!(parse_hidden(&final_name(0, 2)), None);
        assert_eq!(parse_hidden(".part-x-2.pending"), None);
        assert_eq!(parse_final(&final_name(4, 9)), Some((4, 9)));
        assert_eq!(parse_final(&pending_name(4, 9)), None);
    }

    /// A committer over `dir` with `trigger` and a delay of an hour, on a manual clock.
    fn committer(dir: &Path, trigger: CommitTrigger, clock: &ManualClock) -> CommitterWriter {
        CommitterWriter {
            store: Box::new(LocalParts { dir: dir.to_path_buf() }),
            committer: PartitionCommitter::new(dir, trigger, Duration::from_secs(3600), "_SUCCESS"),
            clock: Arc::new(clock.clone()),
            state: OperatorStateStore::default().union_list_state(COMMITTER).unwrap(),
            now: CommitterState::default(),
            finished: false,
            commit_on_finish: false,
        }
    }

    /// A pending part of `subtask` in partition `hr=<hour>`, on disk, and its report.
    fn pending(dir: &Path, hour: u32, subtask: usize, part: u64) -> PendingFile {
        let bucket = format!("hr={hour}");
        std::fs::create_dir_all(dir.join(&bucket)).unwrap();
        std::fs::write(dir.join(&bucket).join(pending_name(subtask, part)), "x\n").unwrap();
        PendingFile { bucket, subtask, part, upload: None }
    }

    fn report(subtask: usize, parts: Vec<PendingFile>, watermark: Timestamp) -> Vec<Record<PartitionCommitInfo>> {
        vec![Record {
            value: PartitionCommitInfo { subtask, parallelism: 2, parts, watermark, finished: false },
            timestamp: 0,
        }]
    }

    fn done(dir: &Path) -> Vec<String> {
        let mut done: Vec<String> =
            (0..24).map(|h| format!("hr={h}")).filter(|b| dir.join(b).join("_SUCCESS").exists()).collect();
        done.sort();
        done
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn partitions_commit_when_every_writers_watermark_passes_their_time_and_delay() {
        let dir = std::env::temp_dir().join(format!("ff-committer-wm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let hour_of = |bucket: &str| -> std::result::Result<Timestamp, String> {
            Ok(bucket.strip_prefix("hr=").unwrap().parse::<i64>().unwrap() * HOUR)
        };
        let clock = ManualClock::new(0);
        let mut c = committer(&dir, CommitTrigger::PartitionTime(Arc::new(hour_of)), &clock);
        // Checkpoint 1: both writers wrote hour 10, one hour 11; one writer's watermark is at 11:30.
        c.write(report(0, vec![pending(&dir, 10, 0, 0), pending(&dir, 11, 0, 1)], 11 * HOUR + HOUR / 2)).unwrap();
        c.write(report(1, vec![pending(&dir, 10, 1, 0)], 10 * HOUR)).unwrap();
        c.snapshot_state(1).unwrap();
        // Reports after the barrier belong to checkpoint 2.
        c.write(report(1, vec![pending(&dir, 12, 1, 1)], 11 * HOUR + HOUR / 2)).unwrap();
        c.notify_checkpoint_complete(1).unwrap();
        assert!(
            dir.join("hr=10/part-0-0").exists()
                && dir.join("hr=10/part-1-0").exists()
                && dir.join("hr=11/part-0-1").exists()
        );
        assert!(dir.join("hr=12").join(pending_name(1, 1)).exists(), "checkpoint 2's part waits for it");
        // As of checkpoint 1 the slowest writer was at 10:00 (its later report does not count:
        // the parts it made with it are not committed): nothing is done.
        assert_eq!(done(&dir), Vec::<String>::new());
        c.snapshot_state(2).unwrap();
        c.notify_checkpoint_complete(2).unwrap();
        assert_eq!(done(&dir), ["hr=10"], "both at 11:30: past 10:00 + 1 h; hours 11 and 12 wait for their delay");
        c.write(report(0, vec![], 12 * HOUR + 1)).unwrap();
        c.write(report(1, vec![], 13 * HOUR + 1)).unwrap();
        c.snapshot_state(3).unwrap();
        c.notify_checkpoint_complete(3).unwrap();
        assert_eq!(done(&dir), ["hr=10", "hr=11"]);
        // The end of the input commits the rest.
        c.finish().unwrap();
        c.snapshot_state(4).unwrap();
        c.notify_checkpoint_complete(4).unwrap();
        assert_eq!(done(&dir), ["hr=10", "hr=11", "hr=12"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn partitions_commit_by_processing_time_after_the_delay() {
        let dir = std::env::temp_dir().join(format!("ff-committer-pt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let clock = ManualClock::new(0);
        let mut c = committer(&dir, CommitTrigger::ProcessTime, &clock);
        c.write(report(0, vec![pending(&dir, 1, 0, 0)], 0)).unwrap();
        c.snapshot_state(1).unwrap();
        c.notify_checkpoint_complete(1).unwrap();
        assert!(dir.join("hr=1/part-0-0").exists());
        clock.advance(HOUR / 2);
        c.write(report(0, vec![pending(&dir, 2, 0, 1)], 0)).unwrap();
        c.snapshot_state(2).unwrap();
        c.notify_checkpoint_complete(2).unwrap();
        assert_eq!(done(&dir), Vec::<String>::new());
        clock.advance(HOUR / 2);
        c.snapshot_state(3).unwrap();
        c.notify_checkpoint_complete(3).unwrap();
        assert_eq!(done(&dir), ["hr=1"], "an hour after hour 1's files were committed, not yet for hour 2");
        // A restored committer commits what its checkpoint held and keeps the waiting partitions.
        c.snapshot_state(4).unwrap();
        let restored = c.state.get();
        assert_eq!(restored[0].waiting.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
