//! A bounded source of the lines of a file or of every file in a directory (sorted by name,
//! hidden files skipped). Large files are cut into byte ranges; a range reads the lines that start
//! inside it (a line crossing the range's end belongs to it), so ranges read in parallel produce
//! every line exactly once. A split's position is its byte offset.

use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::Record;
use ferroflink_runtime::source::{Boundedness, ReaderStatus, Source, SourceReader};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes per split of a large file.
const SPLIT_BYTES: u64 = 32 << 20;

/// A byte range of a file and the position reached in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSplit {
    /// The file.
    pub path: String,
    /// Next byte to read (the start of a line once reading began).
    pub offset: u64,
    /// Lines starting before this offset belong to the split.
    pub end: u64,
    /// Whether `offset` is known to be at a line start.
    pub aligned: bool,
}

/// See the module documentation.
pub struct TextFileSource {
    path: PathBuf,
}

impl TextFileSource {
    /// Lines of `path` (a file or a directory).
    pub fn new(path: PathBuf) -> Self {
        TextFileSource { path }
    }

    fn files(&self) -> Result<Vec<PathBuf>> {
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| Error::io(format!("cannot read input '{}'", self.path.display()), e))?;
        if meta.is_file() {
            return Ok(vec![self.path.clone()]);
        }
        let mut files = Vec::new();
        collect_files(&self.path, &mut files)?;
        files.sort();
        Ok(files)
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("cannot list '{}'", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot list '{}'", dir.display()), e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(['.', '_']) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

impl Source<String> for TextFileSource {
    type Split = FileSplit;

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn enumerate_splits(&self, _parallelism: usize) -> Result<Vec<FileSplit>> {
        let mut splits = Vec::new();
        for f in self.files()? {
            let len = std::fs::metadata(&f).map_err(|e| Error::io(format!("cannot read '{}'", f.display()), e))?.len();
            let path = f.to_string_lossy().into_owned();
            let mut start = 0;
            loop {
                let end = (start + SPLIT_BYTES).min(len);
                splits.push(FileSplit { path: path.clone(), offset: start, end, aligned: start == 0 });
                if end >= len {
                    break;
                }
                start = end;
            }
        }
        Ok(splits)
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<String, FileSplit>>> {
        Ok(Box::new(TextFileReader { pending: Vec::new(), current: None, line: Vec::new() }))
    }
}

struct TextFileReader {
    pending: Vec<FileSplit>,
    current: Option<(FileSplit, BufReader<File>)>,
    line: Vec<u8>,
}

impl TextFileReader {
    fn open_next(&mut self) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        let mut split = self.pending.remove(0);
        let file = File::open(&split.path).map_err(|e| Error::io(format!("cannot open '{}'", split.path), e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        // Unaligned: start one byte early and skip through the first newline, so a line that begins
        // exactly at the range start is kept and one that began earlier is left to the previous range.
        let seek_to = if split.aligned { split.offset } else { split.offset - 1 };
        reader.seek(SeekFrom::Start(seek_to)).map_err(|e| Error::io(format!("cannot seek in '{}'", split.path), e))?;
        if !split.aligned {
            let mut skip = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skip)
                .map_err(|e| Error::io(format!("cannot read '{}'", split.path), e))?;
            split.offset = seek_to + n as u64;
            split.aligned = true;
        }
        self.current = Some((split, reader));
        Ok(true)
    }
}

impl SourceReader<String, FileSplit> for TextFileReader {
    fn add_splits(&mut self, splits: Vec<FileSplit>) -> Result<()> {
        self.pending.extend(splits);
        Ok(())
    }

    fn poll_next(&mut self, out: &mut Vec<Record<String>>, max: usize) -> Result<ReaderStatus> {
        let mut produced = 0;
        while produced < max {
            let Some((split, reader)) = self.current.as_mut() else {
                if self.open_next()? {
                    continue;
                }
                return Ok(ReaderStatus::Finished);
            };
            // A line belongs to the split if it starts before its end (offset == end only for empty tails).
            if split.offset >= split.end && !(split.offset == 0 && split.end == 0) {
                self.current = None;
                continue;
            }
            self.line.clear();
            let n = reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| Error::io(format!("cannot read '{}'", split.path), e))?;
            if n == 0 {
                self.current = None;
                continue;
            }
            let at = split.offset;
            split.offset += n as u64;
            let mut bytes = &self.line[..];
            if let Some(b) = bytes.strip_suffix(b"\n") {
                bytes = b.strip_suffix(b"\r").unwrap_or(b);
            }
            let text = std::str::from_utf8(bytes).map_err(|e| {
                Error::InvalidJob(format!("'{}' is not UTF-8 text (line at byte {at}: {e})", split.path))
            })?;
            out.push(Record::untimed(text.to_string()));
            produced += 1;
        }
        Ok(ReaderStatus::MoreAvailable)
    }

    fn snapshot_splits(&self) -> Vec<FileSplit> {
        self.current.iter().map(|(s, _)| s.clone()).chain(self.pending.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_produce_every_line_once() {
        let dir = std::env::temp_dir().join(format!("ff-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.txt");
        let lines: Vec<String> = (0..500).map(|i| format!("line {i} {}", "x".repeat(i % 37))).collect();
        std::fs::write(&path, lines.join("\r\n") + "\n").unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        // Cut into many small ranges by hand, at arbitrary byte offsets.
        let mut splits = Vec::new();
        let mut start = 0;
        while start < len {
            let end = (start + 97).min(len);
            splits.push(FileSplit { path: path.to_string_lossy().into(), offset: start, end, aligned: start == 0 });
            start = end;
        }
        let mut reader = TextFileReader { pending: splits, current: None, line: Vec::new() };
        let mut out = Vec::new();
        while reader.poll_next(&mut out, 13).unwrap() != ReaderStatus::Finished {}
        let got: Vec<String> = out.into_iter().map(|r| r.value).collect();
        assert_eq!(got, lines);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
