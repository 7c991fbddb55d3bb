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

use crate::error::{Error, Result};
use crate::record::{Data, Record};
use crate::runtime::context::RuntimeContext;
use crate::runtime::sink::{Sink, SinkWriter};
use crate::state::operator::OperatorListState;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Format<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// Name of the sink's operator state.
const STATE: &str = "file-sink";

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

/// `(subtask, part)` of a hidden part file name.
fn parse_hidden(name: &str) -> Option<(usize, u64)> {
    let rest = name.strip_prefix(".part-")?;
    let rest = rest.strip_suffix(".inprogress").or_else(|| rest.strip_suffix(".pending"))?;
    let (subtask, part) = rest.split_once('-')?;
    Some((subtask.parse().ok()?, part.parse().ok()?))
}

impl<T: Data> Sink<T> for FileSink<T> {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("cannot create output directory '{}'", self.dir.display()), e))?;
        let state: OperatorListState<SubtaskParts> = ctx.operator_state.union_list_state(STATE)?;
        let (subtask, parallelism) = (ctx.task.subtask_index, ctx.task.parallelism);
        let restored = state.get();
        let mut writer = FileWriter {
            dir: self.dir.clone(),
            format: self.format.clone(),
            max_part_bytes: self.max_part_bytes,
            subtask,
            next_part: restored.iter().map(|s| s.next_part).max().unwrap_or(0),
            current: None,
            pending: Vec::new(),
            commit_on_finish: !ctx.final_checkpoint,
            state,
            line: String::new(),
        };
        writer.recover(&restored, parallelism)?;
        writer.state.clear();
        Ok(Box::new(writer))
    }
}

struct OpenPart {
    file: BufWriter<File>,
    bytes: u64,
    part: u64,
}

struct FileWriter<T> {
    dir: PathBuf,
    format: Format<T>,
    max_part_bytes: u64,
    subtask: usize,
    next_part: u64,
    current: Option<OpenPart>,
    pending: Vec<PendingPart>,
    commit_on_finish: bool,
    state: OperatorListState<SubtaskParts>,
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
        let mine = |old: usize| old % parallelism == self.subtask;
        let mut committed = HashSet::new();
        for old in restored.iter().filter(|s| mine(s.subtask)) {
            for p in &old.pending {
                self.commit(old.subtask, p.part)?;
                committed.insert((old.subtask, p.part));
            }
        }
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("cannot list output directory '{}'", self.dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("cannot list '{}'", self.dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((old, part)) = parse_hidden(&name)
                && mine(old)
                && !committed.contains(&(old, part))
            {
                tracing::info!(file = %name, "deleting a part file no completed checkpoint covers");
                std::fs::remove_file(entry.path())
                    .map_err(|e| Error::io(format!("cannot delete '{}'", entry.path().display()), e))?;
            }
        }
        Ok(())
    }

    /// Renames a pending part to its final name (idempotent: an already committed part is left).
    fn commit(&self, subtask: usize, part: u64) -> Result<()> {
        let pending = self.dir.join(pending_name(subtask, part));
        let done = self.dir.join(final_name(subtask, part));
        tracing::debug!(file = %done.display(), "committing");
        if pending.exists() {
            return rename(&pending, &done);
        }
        if done.exists() {
            return Ok(());
        }
        Err(Error::CorruptSnapshot(format!(
            "pending part '{}' of a completed checkpoint is missing and was never committed; it was removed \
             outside ferroflink, so its records are lost from the output",
            pending.display()
        )))
    }

    fn open(&mut self) -> Result<&mut OpenPart> {
        if self.current.is_none() {
            let part = self.next_part;
            let path = self.dir.join(in_progress_name(self.subtask, part));
            let file = File::create(&path).map_err(|e| Error::io(format!("cannot create '{}'", path.display()), e))?;
            self.next_part += 1;
            self.current = Some(OpenPart { file: BufWriter::new(file), bytes: 0, part });
        }
        Ok(self.current.as_mut().expect("just opened"))
    }

    /// Closes the open part; it is pending until a checkpoint covers it.
    fn roll(&mut self) -> Result<()> {
        let Some(mut p) = self.current.take() else { return Ok(()) };
        let path = self.dir.join(in_progress_name(self.subtask, p.part));
        let write_error = |e| Error::io(format!("cannot write '{}'", path.display()), e);
        p.file.flush().map_err(write_error)?;
        p.file.get_ref().sync_all().map_err(write_error)?;
        rename(&path, &self.dir.join(pending_name(self.subtask, p.part)))?;
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
            part.file.write_all(line.as_bytes()).map_err(|e| Error::io("cannot write a part file", e))?;
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
                self.commit(self.subtask, p.part)?;
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
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        tracing::debug!(checkpoint_id, subtask = self.subtask, pending = ?self.pending, "commit");
        let (due, later): (Vec<_>, Vec<_>) =
            self.pending.drain(..).partition(|p| p.checkpoint_id.is_some_and(|c| c <= checkpoint_id));
        self.pending = later;
        for p in due {
            self.commit(self.subtask, p.part)?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(p) = self.current.as_mut() {
            p.file.flush().map_err(|e| Error::io("cannot write a part file", e))?;
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
    }
}
