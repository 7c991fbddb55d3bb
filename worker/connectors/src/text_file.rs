//! A source of the lines of a file or of every file in a directory tree (sorted by name, hidden
//! files skipped), local or every object under an `s3://bucket/prefix` (read with ranged GETs of
//! 8 MiB, with the job's S3 settings: [`TextFileSource::with_s3`]). Large files are cut into byte ranges; a range reads the lines that start inside it (a
//! line crossing the range's end belongs to it), so ranges read in parallel produce every line
//! exactly once. A split's position is its byte offset. The enumerator hands ranges to the readers
//! as they ask.
//!
//! Lines are records as they are (`String`), or what a decoder makes of each line with the file
//! and byte offset it was read at ([`TextFileSource::decoded_by`]: the SQL formats parse lines so,
//! and name the file and offset of a malformed one).
//!
//! Bounded by default: the files as they are when the job starts. With
//! [`TextFileSource::monitor_continuously`] (Flink's `monitorContinuously`) the source is unbounded:
//! every interval the enumerator looks at the directory again and makes ranges of new files and of
//! what was appended to known ones, up to their last complete line (a line being written is read
//! once its newline is there). Files are never read again from their start: rewriting one in place
//! is not seen, and a file's last line is read only once it ends with a newline.
//!
//! Compressed files (`.gz`, `.zst`, by their names) cannot be cut: each is one split, read whole
//! through its decompressor, its position the offset in the decompressed text (a restored reader
//! decompresses again up to it). A monitored directory reads a compressed file once, when it
//! appears: it must be written whole before it is moved in. A monitored `s3://` prefix reads each
//! new object once, whole (objects appear complete).

use ferroflink_core::codec::{decode, encode};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::source::{
    Boundedness, FixedSplits, Polled, ReaderStatus, Source, SourceReader, SourceSplit, SplitAnswer, SplitEnumerator,
};
use ferroflink_state::s3::{S3Config, S3Storage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes per split of a large file.
const SPLIT_BYTES: u64 = 32 << 20;

/// How a file is compressed, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    Gzip,
    Zstd,
}

fn compression(path: &str) -> Option<Compression> {
    if path.ends_with(".gz") {
        Some(Compression::Gzip)
    } else if path.ends_with(".zst") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

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

impl SourceSplit for FileSplit {
    /// The file and the end of the range (fixed while the offset moves).
    fn split_id(&self) -> String {
        format!("{}@{}", self.path, self.end)
    }
}

/// A line of input, where it was read.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// The file.
    pub path: &'a str,
    /// The byte offset of the line's start in the file.
    pub offset: u64,
    /// The line, without its line break.
    pub text: &'a str,
}

/// What a decoder made of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A record.
    Record(T),
    /// No record: a line that holds none (a comment).
    Nothing,
    /// A malformed record, skipped as the format allows: counted in the source's
    /// `numRecordsInErrors` metric.
    Skipped,
}

/// Turns a line into a record; an error fails the job. Each reader has its own (a decoder may
/// keep buffers).
pub type LineDecoder<T> = Box<dyn FnMut(Line<'_>) -> Result<Decoded<T>> + Send>;

type MakeDecoder<T> = Arc<dyn Fn() -> LineDecoder<T> + Send + Sync>;

/// See the module documentation.
pub struct TextFileSource<T = String> {
    path: PathBuf,
    monitor: Option<Duration>,
    decoder: MakeDecoder<T>,
    s3: Arc<S3Config>,
}

impl TextFileSource<String> {
    /// Lines of `path` (a file or a directory).
    pub fn new(path: PathBuf) -> Self {
        TextFileSource {
            path,
            monitor: None,
            decoder: Arc::new(|| Box::new(|line: Line<'_>| Ok(Decoded::Record(line.text.to_string())))),
            s3: Arc::default(),
        }
    }
}

impl<T> TextFileSource<T> {
    /// Unbounded: looks for new files and appended lines every `interval`.
    pub fn monitor_continuously(mut self, interval: Duration) -> Self {
        self.monitor = Some(interval);
        self
    }

    /// How an `s3://bucket/prefix` path is reached (the job's S3 settings).
    pub fn with_s3(mut self, config: S3Config) -> Self {
        self.s3 = Arc::new(config);
        self
    }

    /// Records that the decoders `decoder` makes (one per reader) make of the lines.
    pub fn decoded_by<U>(self, decoder: impl Fn() -> LineDecoder<U> + Send + Sync + 'static) -> TextFileSource<U> {
        TextFileSource { path: self.path, monitor: self.monitor, decoder: Arc::new(decoder), s3: self.s3 }
    }
}

/// Whether `path` is an `s3://` location.
fn is_s3(path: &Path) -> bool {
    path.to_string_lossy().starts_with("s3://")
}

/// An S3 object read from an offset in chunks of ranged GETs.
struct S3Read {
    storage: S3Storage,
    key: String,
    position: u64,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

impl S3Read {
    /// Bytes per GET.
    const CHUNK: u64 = 8 << 20;

    /// Object `key` of the bucket `storage` is rooted at, from byte `position`.
    fn new(storage: S3Storage, key: String, position: u64) -> Self {
        S3Read { storage, key, position, chunk: Vec::new(), at: 0, ended: false }
    }
}

impl Read for S3Read {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.chunk.len() && !self.ended {
            self.chunk =
                self.storage.read_range(&self.key, self.position, Self::CHUNK).map_err(std::io::Error::other)?;
            self.ended = (self.chunk.len() as u64) < Self::CHUNK;
            self.position += self.chunk.len() as u64;
            self.at = 0;
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The files of `path`: itself, or those under it (sorted, hidden ones left out).
fn files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(format!("cannot read input '{}'", path.display()), e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    files.sort();
    Ok(files)
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

impl<T: Data> Source<T> for TextFileSource<T> {
    type Split = FileSplit;

    fn boundedness(&self) -> Boundedness {
        if self.monitor.is_some() { Boundedness::Unbounded } else { Boundedness::Bounded }
    }

    /// Bounded: the ranges of the files as they are when the job starts. Monitored: ranges of
    /// what appears, as it appears.
    fn create_enumerator(
        &self,
        parallelism: usize,
        restored: Option<&[u8]>,
    ) -> Result<Box<dyn SplitEnumerator<FileSplit>>> {
        let Some(interval) = self.monitor else {
            return FixedSplits::restore_or(restored, parallelism, || splits(&self.path, &self.s3));
        };
        let state = match restored {
            Some(bytes) => decode(bytes).map_err(|e| {
                Error::CorruptSnapshot(format!(
                    "the snapshot's state of the enumerator watching '{}' cannot be read ({e}): was it taken \
                     by a job that read the input once, without monitoring? Start this job without it",
                    self.path.display()
                ))
            })?,
            None => MonitorState::default(),
        };
        Ok(Box::new(MonitoringEnumerator {
            path: self.path.clone(),
            interval,
            state,
            scanned: None,
            s3: self.s3.clone(),
        }))
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<T, FileSplit>>> {
        Ok(Box::new(TextFileReader {
            pending: Vec::new(),
            current: None,
            line: Vec::new(),
            decode: (self.decoder)(),
            s3: self.s3.clone(),
            buckets: HashMap::new(),
        }))
    }
}

/// Every file's byte ranges, files in name order.
fn splits(path: &Path, s3: &S3Config) -> Result<Vec<FileSplit>> {
    let mut splits = Vec::new();
    if is_s3(path) {
        for (object, len) in s3_objects(path, s3)? {
            ranges(&object, 0, len, &mut splits);
        }
        return Ok(splits);
    }
    for f in files(path)? {
        let len = std::fs::metadata(&f).map_err(|e| Error::io(format!("cannot read '{}'", f.display()), e))?.len();
        ranges(&f.to_string_lossy(), 0, len, &mut splits);
    }
    Ok(splits)
}

/// Every object under the `s3://` prefix `path` (its `s3://` location) and its size, hidden ones
/// (a segment starting with `.` or `_`) left out.
fn s3_objects(path: &Path, s3: &S3Config) -> Result<Vec<(String, u64)>> {
    let root = path.to_string_lossy().trim_end_matches('/').to_string();
    let objects = S3Storage::open(&root, s3)?.objects()?;
    Ok(objects
        .into_iter()
        .filter(|(key, _)| !key.split('/').any(|segment| segment.starts_with(['.', '_'])))
        .map(|(key, len)| (format!("{root}/{key}"), len))
        .collect())
}

/// Cuts bytes `start..end` of `path` (`start` at a line start) into ranges of [`SPLIT_BYTES`]; a
/// compressed file is one split to its end, in decompressed bytes.
fn ranges(path: &str, start: u64, end: u64, out: &mut Vec<FileSplit>) {
    if compression(path).is_some() {
        out.push(FileSplit { path: path.to_string(), offset: 0, end: u64::MAX, aligned: true });
        return;
    }
    let mut from = start;
    loop {
        let to = (from + SPLIT_BYTES).min(end);
        out.push(FileSplit { path: path.to_string(), offset: from, end: to, aligned: from == start });
        if to >= end {
            break;
        }
        from = to;
    }
}

/// What a monitoring enumerator checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct MonitorState {
    /// Per file, how far ranges were made: the byte after its last complete line seen.
    known: BTreeMap<String, u64>,
    /// Ranges made and not handed out yet.
    pending: VecDeque<FileSplit>,
}

/// The enumerator of a monitored directory.
struct MonitoringEnumerator {
    path: PathBuf,
    interval: Duration,
    state: MonitorState,
    /// When it last looked.
    scanned: Option<Instant>,
    /// The job's S3 settings, for an `s3://` prefix.
    s3: Arc<S3Config>,
}

impl MonitoringEnumerator {
    /// Makes ranges of new files and of the complete lines appended to known ones.
    fn scan(&mut self) -> Result<()> {
        self.scanned = Some(Instant::now());
        let mut made = Vec::new();
        if is_s3(&self.path) {
            // Objects appear whole (an upload is visible only once complete): each new one is
            // read once, to its end.
            for (object, len) in s3_objects(&self.path, &self.s3)? {
                if let std::collections::btree_map::Entry::Vacant(known) = self.state.known.entry(object) {
                    ranges(known.key(), 0, len, &mut made);
                    known.insert(len);
                }
            }
        } else {
            self.scan_files(&mut made)?;
        }
        if !made.is_empty() {
            tracing::info!(ranges = made.len(), dir = %self.path.display(), "new lines to read");
        }
        self.state.pending.extend(made);
        Ok(())
    }

    /// Ranges of the new files of a local directory and of the complete lines appended to known
    /// ones.
    fn scan_files(&mut self, made: &mut Vec<FileSplit>) -> Result<()> {
        for f in files(&self.path)? {
            let path = f.to_string_lossy().into_owned();
            let from = self.state.known.get(&path).copied().unwrap_or(0);
            let len = match std::fs::metadata(&f) {
                Ok(m) => m.len(),
                // Deleted since it was listed: nothing more to read from it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("cannot read '{}'", f.display()), e)),
            };
            if len <= from {
                continue;
            }
            if compression(&path).is_some() {
                // Read once, whole, when it appears.
                if from == 0 {
                    ranges(&path, 0, len, made);
                    self.state.known.insert(path, len);
                }
                continue;
            }
            let Some(to) = end_of_last_line(&f, from, len)? else { continue };
            ranges(&path, from, to, made);
            self.state.known.insert(path, to);
        }
        Ok(())
    }
}

/// The byte after the last newline of `path` in `from..len`, if there is one.
fn end_of_last_line(path: &Path, from: u64, len: u64) -> Result<Option<u64>> {
    let fail = |e| Error::io(format!("cannot read '{}'", path.display()), e);
    let mut file = File::open(path).map_err(fail)?;
    let mut end = len;
    let mut buf = vec![0u8; 1 << 16];
    while end > from {
        let start = end.saturating_sub(buf.len() as u64).max(from);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start)).map_err(fail)?;
        file.read_exact(chunk).map_err(fail)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(start + i as u64 + 1));
        }
        end = start;
    }
    Ok(None)
}

impl SplitEnumerator<FileSplit> for MonitoringEnumerator {
    fn next_split(&mut self, _subtask: usize) -> Result<SplitAnswer<FileSplit>> {
        if self.state.pending.is_empty() && self.scanned.is_none_or(|at| at.elapsed() >= self.interval) {
            self.scan()?;
        }
        Ok(match self.state.pending.pop_front() {
            Some(split) => SplitAnswer::Split(split),
            None => SplitAnswer::NoneYet(self.interval),
        })
    }

    fn snapshot(&self) -> Result<Vec<u8>> {
        encode(&self.state)
    }
}

struct TextFileReader<T> {
    pending: Vec<FileSplit>,
    current: Option<(FileSplit, BufReader<Box<dyn Read + Send>>)>,
    line: Vec<u8>,
    decode: LineDecoder<T>,
    s3: Arc<S3Config>,
    /// A client per bucket read, made once.
    buckets: HashMap<String, S3Storage>,
}

impl<T> TextFileReader<T> {
    /// The current range was read to its end.
    fn finish_current(&mut self, id: String) -> Polled {
        self.current = None;
        let status = if self.pending.is_empty() { ReaderStatus::NeedsSplit } else { ReaderStatus::MoreAvailable };
        Polled::last(id, status)
    }

    /// Opens the next pending range, if any, as the current one.
    fn open_next(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut split = self.pending.remove(0);
        // Unaligned: start one byte early and skip through the first newline, so a line that begins
        // exactly at the range start is kept and one that began earlier is left to the previous range.
        let compressed = compression(&split.path);
        let seek_to = match compressed {
            Some(_) => 0,
            None if split.aligned => split.offset,
            None => split.offset - 1,
        };
        let file: Box<dyn Read + Send> = if split.path.starts_with("s3://") {
            let location = &split.path["s3://".len()..];
            let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
            let storage = match self.buckets.get(bucket) {
                Some(storage) => storage.clone(),
                None => {
                    let storage = S3Storage::open(&format!("s3://{bucket}"), &self.s3)?;
                    self.buckets.insert(bucket.to_string(), storage.clone());
                    storage
                }
            };
            Box::new(S3Read::new(storage, key.to_string(), seek_to))
        } else {
            let mut file =
                File::open(&split.path).map_err(|e| Error::io(format!("cannot open '{}'", split.path), e))?;
            file.seek(SeekFrom::Start(seek_to))
                .map_err(|e| Error::io(format!("cannot seek in '{}'", split.path), e))?;
            Box::new(file)
        };
        if let Some(kind) = compressed {
            let fail = |e| Error::io(format!("cannot decompress '{}'", split.path), e);
            let decompressed: Box<dyn Read + Send> = match kind {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
                Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file).map_err(fail)?),
            };
            let mut reader = BufReader::with_capacity(1 << 16, decompressed);
            // Restored: the lines before the position were read already.
            std::io::copy(&mut (&mut reader).take(split.offset), &mut std::io::sink()).map_err(fail)?;
            self.current = Some((split, reader));
            return Ok(());
        }
        let mut reader = BufReader::with_capacity(1 << 16, file);
        if !split.aligned {
            let mut skip = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skip)
                .map_err(|e| Error::io(format!("cannot read '{}'", split.path), e))?;
            split.offset = seek_to + n as u64;
            split.aligned = true;
        }
        self.current = Some((split, reader));
        Ok(())
    }
}

impl<T: Data> SourceReader<T, FileSplit> for TextFileReader<T> {
    fn add_split(&mut self, split: FileSplit) -> Result<()> {
        self.pending.push(split);
        Ok(())
    }

    /// Lines of the current range; the poll that reaches its end says it finished.
    fn poll_next(&mut self, out: &mut Vec<Record<T>>, max: usize) -> Result<Polled> {
        if self.current.is_none() {
            self.open_next()?;
        }
        let Some((split, reader)) = self.current.as_mut() else { return Ok(Polled::empty(ReaderStatus::NeedsSplit)) };
        let id = split.split_id();
        let (mut produced, mut skipped) = (0, 0);
        while produced < max {
            // A line belongs to the split if it starts before its end (offset == end only for empty tails).
            if split.offset >= split.end && !(split.offset == 0 && split.end == 0) {
                return Ok(self.finish_current(id).skipping(skipped));
            }
            self.line.clear();
            let n = reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| Error::io(format!("cannot read '{}'", split.path), e))?;
            if n == 0 {
                return Ok(self.finish_current(id).skipping(skipped));
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
            match (self.decode)(Line { path: &split.path, offset: at, text })? {
                Decoded::Record(record) => out.push(Record::untimed(record)),
                Decoded::Nothing => {}
                Decoded::Skipped => skipped += 1,
            }
            produced += 1;
        }
        Ok(Polled::records(id, ReaderStatus::MoreAvailable).skipping(skipped))
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
        let decode: LineDecoder<String> = Box::new(|line: Line<'_>| Ok(Decoded::Record(line.text.to_string())));
        let mut reader = TextFileReader {
            pending: splits,
            current: None,
            line: Vec::new(),
            decode,
            s3: Arc::default(),
            buckets: HashMap::new(),
        };
        let mut out = Vec::new();
        while reader.poll_next(&mut out, 13).unwrap().status != ReaderStatus::NeedsSplit {}
        let got: Vec<String> = out.into_iter().map(|r| r.value).collect();
        assert_eq!(got, lines);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Gzip and zstd files are one split each, read whole; a reader restored from a position
    /// inside one goes on from the next line, and the plain file beside them is read as before.
    #[test]
    fn compressed_files_are_read_whole_and_resume_from_their_position() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("ff-compressed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lines = |file: &str| (0..2000).map(|i| format!("{file} {i} {}", "y".repeat(i % 23))).collect::<Vec<_>>();
        let text = |file: &str| lines(file).join("\n") + "\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text("gz").as_bytes()).unwrap();
        std::fs::write(dir.join("a.log.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.join("b.log.zst"), zstd::stream::encode_all(text("zst").as_bytes(), 3).unwrap()).unwrap();
        std::fs::write(dir.join("c.log"), text("plain")).unwrap();
        let source = TextFileSource::new(dir.clone());
        let mut enumerator = source.create_enumerator(1, None).unwrap();
        let mut splits = Vec::new();
        while let SplitAnswer::Split(s) = enumerator.next_split(0).unwrap() {
            splits.push(s);
        }
        assert_eq!(splits.iter().filter(|s| s.end == u64::MAX).count(), 2, "{splits:?}");
        let mut expected: Vec<String> = ["gz", "zst", "plain"].iter().flat_map(|f| lines(f)).collect();
        expected.sort();
        let read = |splits: Vec<FileSplit>, stop_after: Option<usize>| {
            let mut reader = source.create_reader().unwrap();
            for s in splits {
                reader.add_split(s).unwrap();
            }
            let mut out = Vec::new();
            while reader.poll_next(&mut out, 100).unwrap().status != ReaderStatus::NeedsSplit {
                if stop_after.is_some_and(|n| out.len() >= n) {
                    break;
                }
            }
            (out.into_iter().map(|r| r.value).collect::<Vec<String>>(), reader.snapshot_splits())
        };
        let (mut all, _) = read(splits.clone(), None);
        all.sort();
        assert_eq!(all, expected);
        // Stopped in the middle of the gzip file, then restored from its positions.
        let (mut first, positions) = read(splits, Some(700));
        assert!(positions.iter().any(|s| s.end == u64::MAX && s.offset > 0), "{positions:?}");
        let (rest, _) = read(positions, None);
        first.extend(rest);
        first.sort();
        assert_eq!(first, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The monitoring enumerator makes ranges of complete lines only, of appended bytes and new
    /// files, and a restored one goes on where its snapshot was.
    #[test]
    fn a_monitored_directory_yields_each_complete_line_once() {
        let dir = std::env::temp_dir().join(format!("ff-monitor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        let source = TextFileSource::new(dir.clone()).monitor_continuously(Duration::ZERO);
        let mut enumerator = source.create_enumerator(2, None).unwrap();
        let read = |enumerator: &mut Box<dyn SplitEnumerator<FileSplit>>| {
            let mut reader = source.create_reader().unwrap();
            let mut out = Vec::new();
            while let SplitAnswer::Split(s) = enumerator.next_split(0).unwrap() {
                reader.add_split(s).unwrap();
                while reader.poll_next(&mut out, 5).unwrap().status != ReaderStatus::NeedsSplit {}
            }
            out.into_iter().map(|r| r.value).collect::<Vec<String>>()
        };
        write("a.txt", "one\ntwo\nthr");
        assert_eq!(read(&mut enumerator), ["one", "two"]);
        write("a.txt", "ee\nfour\n");
        write("b.txt", "five\n");
        let snapshot = enumerator.snapshot().unwrap();
        assert_eq!(read(&mut enumerator), ["three", "four", "five"]);
        assert!(read(&mut enumerator).is_empty());
        // A restore from the snapshot reads what was made after it again, and nothing before it.
        let mut restored = source.create_enumerator(2, Some(&snapshot)).unwrap();
        write("b.txt", "six\n");
        assert_eq!(read(&mut restored), ["three", "four", "five", "six"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
