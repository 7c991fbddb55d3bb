//! A file sink writing rolling part files into a directory: each subtask writes
//! `.part-<subtask>-<n>.inprogress` and renames it to `part-<subtask>-<n>` when it rolls (by size)
//! or when input ends. Files still in progress when a job fails or is cancelled keep their
//! `.inprogress` name, so readers of `part-*` never see a partial file. (Exactly-once commits tied
//! to checkpoints come with checkpointing.)

use crate::error::{Error, Result};
use crate::record::{Data, Record};
use crate::runtime::context::TaskInfo;
use crate::runtime::sink::{Sink, SinkWriter};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

type Format<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

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

impl<T: Data> Sink<T> for FileSink<T> {
    fn create_writer(&self, task: &TaskInfo) -> Result<Box<dyn SinkWriter<T>>> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("cannot create output directory '{}'", self.dir.display()), e))?;
        Ok(Box::new(FileWriter {
            dir: self.dir.clone(),
            format: self.format.clone(),
            max_part_bytes: self.max_part_bytes,
            subtask: task.subtask_index,
            part: 0,
            current: None,
            line: String::new(),
        }))
    }
}

struct OpenPart {
    file: BufWriter<File>,
    bytes: u64,
    path: PathBuf,
    final_path: PathBuf,
}

struct FileWriter<T> {
    dir: PathBuf,
    format: Format<T>,
    max_part_bytes: u64,
    subtask: usize,
    part: usize,
    current: Option<OpenPart>,
    line: String,
}

impl<T> FileWriter<T> {
    fn open(&mut self) -> Result<&mut OpenPart> {
        if self.current.is_none() {
            let name = format!("part-{}-{}", self.subtask, self.part);
            let path = self.dir.join(format!(".{name}.inprogress"));
            let file = File::create(&path).map_err(|e| Error::io(format!("cannot create '{}'", path.display()), e))?;
            self.part += 1;
            self.current =
                Some(OpenPart { file: BufWriter::new(file), bytes: 0, path, final_path: self.dir.join(name) });
        }
        Ok(self.current.as_mut().expect("just opened"))
    }

    fn roll(&mut self) -> Result<()> {
        if let Some(mut p) = self.current.take() {
            p.file.flush().map_err(|e| Error::io(format!("cannot write '{}'", p.path.display()), e))?;
            std::fs::rename(&p.path, &p.final_path)
                .map_err(|e| Error::io(format!("cannot commit '{}'", p.final_path.display()), e))?;
        }
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
            part.file
                .write_all(line.as_bytes())
                .map_err(|e| Error::io(format!("cannot write '{}'", part.path.display()), e))?;
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
        self.roll()
    }

    fn close(&mut self) -> Result<()> {
        if let Some(p) = self.current.as_mut() {
            p.file.flush().map_err(|e| Error::io(format!("cannot write '{}'", p.path.display()), e))?;
        }
        Ok(())
    }
}
