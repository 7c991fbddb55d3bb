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

use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::context::RuntimeContext;
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

type Format<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// Name of the sink's operator state.
const STATE: &str = "file-sink";
/// Name of the state listing the S3 uploads of pending parts.
const UPLOADS: &str = "file-sink-uploads";

/// See the module documentation.
pub struct FileSink<T> {
    dir: PathBuf,
    format: Format<T>,
    max_part_bytes: u64,
}

impl<T: Data> FileSink<T> {
    /// Writes `format(record)` lines into part files under `dir`.
    pub fn new(dir: impl Into<PathBuf>, format: impl Fn(&T) -> String + Send + Sync + 'static) -> Self {
        FileSink { dir: dir.into(), format: Arc::new(format), max_part_bytes: 128 << 20 }
    }

    /// Rolls to a new part file after this many bytes.
    pub fn with_max_part_bytes(mut self, bytes: u64) -> Self {
        self.max_part_bytes = bytes.max(1);
        self
    }
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

/// What one subtask keeps in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SubtaskParts {
    subtask: usize,
    next_part: u64,
    pending: Vec<PendingPart>,
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
        let location = self.dir.to_string_lossy();
        let store: Box<dyn PartStore> = if location.starts_with("s3://") {
            Box::new(S3Parts { storage: S3Storage::open(&location, &ctx.s3)? })
        } else {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| Error::io(format!("cannot create output directory '{}'", self.dir.display()), e))?;
            Box::new(LocalParts { dir: self.dir.clone() })
        };
        let state: OperatorListState<SubtaskParts> = ctx.operator_state.union_list_state(STATE)?;
        let upload_state: OperatorListState<PendingUpload> = ctx.operator_state.union_list_state(UPLOADS)?;
        let (subtask, parallelism) = (ctx.task.subtask_index, ctx.task.parallelism);
        let restored = state.get();
        let uploads = upload_state.get().into_iter().map(|u| ((u.subtask, u.part), u.upload)).collect();
        let mut writer = FileWriter {
            store,
            format: self.format.clone(),
            max_part_bytes: self.max_part_bytes,
            subtask,
            next_part: restored.iter().map(|s| s.next_part).max().unwrap_or(0),
            current: None,
            pending: Vec::new(),
            commit_on_finish: !ctx.final_checkpoint,
            state,
            upload_state,
            uploads,
            line: String::new(),
        };
        writer.recover(&restored, parallelism)?;
        writer.state.clear();
        writer.upload_state.clear();
        Ok(Box::new(writer))
    }
}

/// Where part files go: a local directory or an S3 prefix.
trait PartStore: Send {
    /// Starts part `part` of `subtask`, in progress.
    fn open(&self, subtask: usize, part: u64) -> Result<Box<dyn PartFile>>;
    /// Makes a pending part final (idempotent: a committed part is left alone); `upload` is what
    /// [`PartFile::make_pending`] returned for it.
    fn commit(&self, subtask: usize, part: u64, upload: Option<&Upload>) -> Result<()>;
    /// Deletes (or aborts) every in-progress or pending part of the old subtasks `mine` accepts
    /// except `keep`.
    fn discard(&self, mine: &dyn Fn(usize) -> bool, keep: &HashSet<(usize, u64)>) -> Result<()>;
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
    fn open(&self, subtask: usize, part: u64) -> Result<Box<dyn PartFile>> {
        let path = self.dir.join(in_progress_name(subtask, part));
        let file = File::create(&path).map_err(|e| Error::io(format!("cannot create '{}'", path.display()), e))?;
        Ok(Box::new(LocalPart {
            file: BufWriter::new(file),
            path,
            pending: self.dir.join(pending_name(subtask, part)),
        }))
    }

    fn commit(&self, subtask: usize, part: u64, _: Option<&Upload>) -> Result<()> {
        let pending = self.dir.join(pending_name(subtask, part));
        let done = self.dir.join(final_name(subtask, part));
        tracing::debug!(file = %done.display(), "committing");
        if pending.exists() {
            return rename(&pending, &done);
        }
        if done.exists() {
            return Ok(());
        }
        Err(missing_pending(&pending.display().to_string()))
    }

    fn discard(&self, mine: &dyn Fn(usize) -> bool, keep: &HashSet<(usize, u64)>) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("cannot list output directory '{}'", self.dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("cannot list '{}'", self.dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((old, part)) = parse_hidden(&name)
                && mine(old)
                && !keep.contains(&(old, part))
            {
                tracing::info!(file = %name, "deleting a part file no completed checkpoint covers");
                std::fs::remove_file(entry.path())
                    .map_err(|e| Error::io(format!("cannot delete '{}'", entry.path().display()), e))?;
            }
        }
        Ok(())
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
    fn open(&self, subtask: usize, part: u64) -> Result<Box<dyn PartFile>> {
        let key = final_name(subtask, part);
        let upload = Upload { upload_id: self.storage.start_upload(&key)?, etags: Vec::new() };
        Ok(Box::new(S3Part { storage: self.storage.clone(), key, upload, buffer: Vec::new() }))
    }

    fn commit(&self, subtask: usize, part: u64, upload: Option<&Upload>) -> Result<()> {
        let key = final_name(subtask, part);
        match upload {
            Some(u) => self.storage.complete_upload(&key, &u.upload_id, &u.etags),
            None if self.storage.exists(&key)? => Ok(()),
            None => Err(missing_pending(&self.storage.location(&key))),
        }
    }

    fn discard(&self, mine: &dyn Fn(usize) -> bool, keep: &HashSet<(usize, u64)>) -> Result<()> {
        for (key, id) in self.storage.uploads("")? {
            if let Some((old, part)) = parse_final(&key)
                && mine(old)
                && !keep.contains(&(old, part))
            {
                tracing::info!(key = %self.storage.location(&key), "aborting a part upload no completed checkpoint covers");
                self.storage.abort_upload(&key, &id)?;
            }
        }
        Ok(())
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
}

struct FileWriter<T> {
    store: Box<dyn PartStore>,
    format: Format<T>,
    max_part_bytes: u64,
    subtask: usize,
    next_part: u64,
    current: Option<OpenPart>,
    pending: Vec<PendingPart>,
    commit_on_finish: bool,
    state: OperatorListState<SubtaskParts>,
    upload_state: OperatorListState<PendingUpload>,
    /// Uploads of pending parts (S3), by `(subtask, part)`.
    uploads: HashMap<(usize, u64), Upload>,
    line: String,
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("cannot rename '{}' to '{}'", from.display(), to.display()), e))
}

impl<T> FileWriter<T> {
    /// Commits the restored pending parts of the old subtasks this one takes over (`j mod p == i`)
    /// and deletes their other hidden parts.
    fn recover(&mut self, restored: &[SubtaskParts], parallelism: usize) -> Result<()> {
        let subtask = self.subtask;
        let mine = move |old: usize| old % parallelism == subtask;
        let mut committed = HashSet::new();
        for old in restored.iter().filter(|s| mine(s.subtask)) {
            for p in &old.pending {
                self.store.commit(old.subtask, p.part, self.uploads.get(&(old.subtask, p.part)))?;
                committed.insert((old.subtask, p.part));
            }
        }
        self.uploads.clear();
        self.store.discard(&mine, &committed)
    }

    fn commit(&mut self, part: u64) -> Result<()> {
        let upload = self.uploads.remove(&(self.subtask, part));
        self.store.commit(self.subtask, part, upload.as_ref())
    }

    fn open(&mut self) -> Result<&mut OpenPart> {
        if self.current.is_none() {
            let part = self.next_part;
            let file = self.store.open(self.subtask, part)?;
            self.next_part += 1;
            self.current = Some(OpenPart { file, bytes: 0, part });
        }
        Ok(self.current.as_mut().expect("just opened"))
    }

    /// Closes the open part; it is pending until a checkpoint covers it.
    fn roll(&mut self) -> Result<()> {
        let Some(p) = self.current.take() else { return Ok(()) };
        if let Some(upload) = p.file.make_pending()? {
            self.uploads.insert((self.subtask, p.part), upload);
        }
        self.pending.push(PendingPart { checkpoint_id: None, part: p.part });
        Ok(())
    }
}

impl<T: Data> SinkWriter<T> for FileWriter<T> {
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()> {
        for r in batch {
            self.line.clear();
            self.line.push_str(&(self.format)(&r.value));
            self.line.push('\n');
            let line = std::mem::take(&mut self.line);
            let part = self.open()?;
            part.file.write(line.as_bytes())?;
            part.bytes += line.len() as u64;
            let full = part.bytes >= self.max_part_bytes;
            self.line = line;
            if full {
                self.roll()?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.roll()?;
        if self.commit_on_finish {
            for p in std::mem::take(&mut self.pending) {
                self.commit(p.part)?;
            }
        }
        Ok(())
    }

    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<()> {
        self.roll()?;
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

    fn close(&mut self) -> Result<()> {
        if let Some(p) = self.current.as_mut() {
            p.file.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names_parse() {
        assert_eq!(parse_hidden(&in_progress_name(3, 17)), Some((3, 17)));
        assert_eq!(parse_hidden(&pending_name(0, 2)), Some((0, 2)));
        assert_eq!(parse_hidden(&final_name(0, 2)), None);
        assert_eq!(parse_hidden(".part-x-2.pending"), None);
        assert_eq!(parse_final(&final_name(4, 9)), Some((4, 9)));
        assert_eq!(parse_final(&pending_name(4, 9)), None);
    }
}
