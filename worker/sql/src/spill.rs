//! Batch mode's keyed operators in bounded memory (Flink's hash aggregate with its fallback to
//! sort, and its sort-merge join): a [`Fold`] says what a key's state is, how a row is added to
//! it, how two states of one key merge and what a state emits at the end. [`BatchFold`] runs one:
//! each subtask folds rows into a hash table until the table's estimated size reaches its share
//! of the job's managed memory (`taskmanager.memory.managed.size`), then writes the states, sorted
//! by key, to a run file on local disk (`io.tmp.dirs`, zstd-compressed) and starts again. At the
//! end of input, without runs the table's states are emitted; with runs the remaining states
//! become the last run, and a merge of the runs by key folds each key's states together and emits
//! them, so memory holds one key's state per run whatever the number of keys (with more runs than
//! its memory reads at once, groups of runs are merged into longer ones first). Final rows go out
//! in parts of about [`EMIT_ROWS`], each downstream before the next is made, and the final
//! watermark after them (downstream operators of batch mode emit when it comes).
//!
//! The folds: `GROUP BY`, `SELECT DISTINCT` and window aggregates (grouped by the windows' bounds
//! too) ([`GroupFold`]), top-N and deduplication
//! ([`crate::agg::TopNFold`]: a key's first N rows, merged by order), and the regular and window
//! join ([`crate::join::JoinFold`]: a key's rows of both sides, joined when the key is complete).
//! No watermark passes the operator before the end: its rows all come then.
//!
//! Runs are ordered by the keys' codec bytes, so a key is one group across runs as it is in the
//! table (values that are equal but encode differently, such as `0.0` and `-0.0`, stay apart).

use crate::agg::{Acc, Aggregates, GroupKey, GroupState};
use crate::value::{Row, RowKind, Value};
use ferroflink_core::codec::{decode, encode};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{MAX_WATERMARK, NO_TIMESTAMP, Record, Timestamp};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::operator::{Operator, Output};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, hash_map};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The managed memory of a job when `taskmanager.memory.managed.size` is not set.
pub const DEFAULT_MANAGED_MEMORY: usize = 128 << 20;

/// Rows a finishing aggregate emits per call.
pub const EMIT_ROWS: usize = 4096;

/// The least a subtask gets, however many share the memory.
const MIN_SHARE: usize = 1 << 20;

/// The part of a subtask's share its hash table may fill: a spill sorts a copy of its keys and
/// states beside it.
const TABLE_SHARE: f64 = 0.6;

/// A job's managed memory, shared by the operators that spill: each registers when it is
/// planned, and each subtask takes an equal share when it opens.
#[derive(Debug)]
pub struct SpillBudget {
    managed: usize,
    consumers: AtomicUsize,
    dir: PathBuf,
}

impl SpillBudget {
    /// `managed` bytes, spilling into `dir`.
    pub fn new(managed: usize, dir: PathBuf) -> Arc<SpillBudget> {
        Arc::new(SpillBudget { managed, consumers: AtomicUsize::new(0), dir })
    }

    /// One more operator shares the memory.
    pub fn register(&self) {
        self.consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// The bytes one of `parallelism` subtasks of an operator may use.
    fn share(&self, parallelism: usize) -> usize {
        let consumers = self.consumers.load(Ordering::Relaxed).max(1);
        (self.managed / consumers / parallelism.max(1)).max(MIN_SHARE)
    }
}

/// What a [`BatchFold`] keeps per key: see the module documentation.
pub trait Fold: Send + 'static {
    /// A key's state.
    type State: Serialize + DeserializeOwned + Send;

    /// The operator's name, for errors and logs.
    fn name(&self) -> &str;

    /// The key of `row`, or `None` when it belongs to no key (then [`Fold::unkeyed`] takes it).
    fn key<'a>(&self, row: &'a Row) -> Option<&'a [Value]>;

    /// A row of no key, as it comes.
    fn unkeyed(&self, _row: Row, _out: &mut Output<Row>) -> Result<()> {
        Ok(())
    }

    /// The state of a key without rows.
    fn create(&self) -> Self::State;

    /// Adds `row` to `state`; the bytes `state` grew by (an estimate; less than zero when it
    /// shrank).
    fn add(&self, state: &mut Self::State, row: Row) -> Result<isize>;

    /// An estimate of the heap bytes of `state`.
    fn size(&self, state: &Self::State) -> usize;

    /// Folds `other`, another state of the same key, into `state`.
    fn merge(&self, state: &mut Self::State, other: Self::State) -> Result<()>;

    /// Emits the rows of a complete key; how many.
    fn emit(&self, key: GroupKey, state: Self::State, out: &mut Output<Row>) -> Result<usize>;
}

/// `GROUP BY` (and `SELECT DISTINCT`, without aggregates): a group's accumulators, the input's
/// first `nkeys` columns its key.
pub struct GroupFold {
    aggregates: Aggregates,
    nkeys: usize,
    name: Arc<str>,
    /// Whether a group's accumulators may grow with its rows (`DISTINCT`, retractable
    /// `MIN`/`MAX`, a registered function's): then its size is measured again after each row.
    growing: bool,
}

impl GroupFold {
    /// An aggregate of `aggregates` (which must be [`Aggregates::mergeable`]) per key of the first
    /// `nkeys` columns.
    pub fn new(aggregates: Aggregates, nkeys: usize, name: Arc<str>) -> Self {
        let growing = aggregates.calls.iter().any(|c| c.distinct || c.retracts || c.udf.is_some());
        GroupFold { aggregates, nkeys, name, growing }
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::Record(format!("{}: {e}", self.name))
    }
}

impl Fold for GroupFold {
    type State = GroupState;

    fn name(&self) -> &str {
        &self.name
    }

    fn key<'a>(&self, row: &'a Row) -> Option<&'a [Value]> {
        Some(&row.values[..self.nkeys])
    }

    fn create(&self) -> GroupState {
        GroupState { accs: self.aggregates.create(), rows: 0 }
    }

    fn add(&self, state: &mut GroupState, row: Row) -> Result<isize> {
        let retract = !row.kind.is_accumulate();
        let before = if self.growing { self.size(state) } else { 0 };
        self.aggregates.accumulate(&mut state.accs, &row.values, retract).map_err(|e| self.fail(e))?;
        state.rows += if retract { -1 } else { 1 };
        Ok(if self.growing { self.size(state) as isize - before as isize } else { 0 })
    }

    fn size(&self, state: &GroupState) -> usize {
        state.accs.iter().map(acc_size).sum()
    }

    fn merge(&self, state: &mut GroupState, other: GroupState) -> Result<()> {
        self.aggregates.merge_states(state, other).map_err(|e| self.fail(e))
    }

    fn emit(&self, key: GroupKey, state: GroupState, out: &mut Output<Row>) -> Result<usize> {
        if state.rows <= 0 {
            return Ok(0);
        }
        let mut values = key.0;
        values.extend(self.aggregates.results(&state.accs).map_err(|e| self.fail(e))?);
        out.collect(Row { kind: RowKind::Insert, values }, NO_TIMESTAMP);
        Ok(1)
    }
}

/// See the module documentation.
pub struct BatchFold<F: Fold> {
    fold: F,
    budget: Arc<SpillBudget>,
    /// The subtask's share of the managed memory, and what its hash table may fill of it.
    share: usize,
    limit: usize,
    /// States in memory, and the estimate of their bytes.
    states: HashMap<GroupKey, F::State>,
    used: usize,
    runs: Vec<PathBuf>,
    subtask: usize,
    /// While finishing: the states still to emit.
    emitting: Option<Emitting<F::State>>,
}

enum Emitting<S> {
    Memory(hash_map::IntoIter<GroupKey, S>),
    Merge(Merge<S>),
    /// Every row and the final watermark went out.
    Done,
}

impl<F: Fold> BatchFold<F> {
    /// `fold` with memory from `budget`.
    pub fn new(fold: F, budget: Arc<SpillBudget>) -> Self {
        BatchFold {
            fold,
            budget,
            share: usize::MAX,
            limit: usize::MAX,
            states: HashMap::new(),
            used: 0,
            runs: Vec::new(),
            subtask: 0,
            emitting: None,
        }
    }

    /// Bytes a key costs beyond its values' and state's contents: its slot in the hash table (at
    /// 7/8 load, and up to half empty after the table doubled), the allocator's rounding.
    const KEY_OVERHEAD: usize = std::mem::size_of::<(GroupKey, F::State)>() * 2 + 32;

    /// Writes the states in memory, sorted by key, to a new run.
    fn spill(&mut self) -> Result<()> {
        // Taken, so the table's memory goes with it (a drained table keeps its capacity).
        let mut entries: Vec<(Vec<u8>, F::State)> = Vec::with_capacity(self.states.len());
        for (key, state) in std::mem::take(&mut self.states) {
            entries.push((encode(&key)?, state));
        }
        self.used = 0;
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        tracing::debug!(keys = entries.len(), "{}: spilling", self.fold.name());
        let mut run = RunWriter::create(&self.budget.dir, self.subtask)?;
        for (key, state) in &entries {
            run.write(key, state)?;
        }
        self.runs.push(run.finish()?);
        Ok(())
    }

    /// Merges runs until at most `fan_in` are left, the oldest first (a merge reads a buffer
    /// per run: this bounds the memory the final one takes).
    fn reduce_runs(&mut self, fan_in: usize) -> Result<()> {
        while self.runs.len() > fan_in {
            let merged: Vec<PathBuf> = self.runs.drain(..fan_in).collect();
            let mut merge = Merge::open(&merged)?;
            let mut run = RunWriter::create(&self.budget.dir, self.subtask)?;
            while let Some((key, state)) = merge.next(&self.fold)? {
                run.write(&key, &state)?;
            }
            drop(merge);
            merged.iter().for_each(|p| drop(std::fs::remove_file(p)));
            self.runs.push(run.finish()?);
        }
        Ok(())
    }
}

/// What reading a run takes: its decompressor's window and blocks, and the file buffer.
const RUN_BUFFER: usize = 384 << 10;

/// The fewest runs merged at once, however little memory there is.
const MIN_FAN_IN: usize = 8;

/// The window of a run's compression (small, so reading many runs at once takes little memory).
const RUN_WINDOW_LOG: u32 = 17;

/// A run being written: `(key bytes, state)` pairs by ascending key, each as a length and bytes.
struct RunWriter {
    out: zstd::stream::Encoder<'static, BufWriter<File>>,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl RunWriter {
    fn create(dir: &Path, subtask: usize) -> Result<RunWriter> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let name =
            format!("ferroflink-spill-{}-{subtask}-{}.run", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed));
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| spill_error("create", &path, e))?;
        let write = |e| spill_error("write", &path, e);
        let mut out = zstd::stream::Encoder::new(BufWriter::with_capacity(1 << 16, file), 1).map_err(write)?;
        out.window_log(RUN_WINDOW_LOG).map_err(write)?;
        Ok(RunWriter { out, path, bytes: Vec::new() })
    }

    fn write(&mut self, key: &[u8], state: &impl Serialize) -> Result<()> {
        self.bytes.clear();
        ferroflink_core::codec::encode_into(state, &mut self.bytes)?;
        for bytes in [key, &self.bytes] {
            let len = u32::try_from(bytes.len()).map_err(|_| {
                Error::Record(format!(
                    "a key's state of {} bytes is more than a spill file holds (4 GiB): one key has too many rows",
                    bytes.len()
                ))
            })?;
            let written = self.out.write_all(&len.to_le_bytes()).and_then(|_| self.out.write_all(bytes));
            written.map_err(|e| spill_error("write", &self.path, e))?;
        }
        Ok(())
    }

    /// The run's file, complete.
    fn finish(self) -> Result<PathBuf> {
        let RunWriter { out, path, .. } = self;
        out.finish().and_then(|mut w| w.flush()).map_err(|e| spill_error("write", &path, e))?;
        Ok(path)
    }
}

fn spill_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(
        format!(
            "cannot {what} spill file '{}' of a batch operator (set 'io.tmp.dirs' to a directory with room, or \
             'taskmanager.memory.managed.size' higher to spill less)",
            path.display()
        ),
        e,
    )
}

/// An estimate of the heap bytes of `v`, itself included.
pub(crate) fn value_size(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::String(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Array(items) | Value::Row(items) => items.iter().map(value_size).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| value_size(k) + value_size(v)).sum(),
            _ => 0,
        }
}

/// An estimate of the heap bytes of `acc`, itself included.
fn acc_size(acc: &Acc) -> usize {
    std::mem::size_of::<Acc>()
        + match acc {
            Acc::Sum { sum, .. } => value_size(sum),
            Acc::Best(Some(v)) | Acc::Udf(v) => value_size(v),
            // Collections by their length (measured in constant time: they grow row by row); an
            // entry's text, if any, is guessed at 16 bytes.
            Acc::Values(values) => values.len() * (std::mem::size_of::<Value>() + 8 + 16),
            // A hash table's slot is its entry and a control byte, at 7/8 load.
            Acc::Distinct(seen) => seen.len() * ((std::mem::size_of::<Value>() + 9) * 8 / 7 + 16),
            Acc::Count(_) | Acc::Best(None) => 0,
        }
}

impl<F: Fold> Operator for BatchFold<F> {
    type In = Row;
    type Out = Row;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.subtask = ctx.task.subtask_index;
        self.share = self.budget.share(ctx.task.parallelism);
        self.limit = (self.share as f64 * TABLE_SHARE) as usize;
        Ok(())
    }

    fn process_batch(&mut self, batch: Vec<Record<Row>>, out: &mut Output<Row>) -> Result<()> {
        for Record { value: row, .. } in batch {
            let Some(key) = self.fold.key(&row) else {
                self.fold.unkeyed(row, out)?;
                continue;
            };
            if let Some(state) = self.states.get_mut(key) {
                self.used = self.used.saturating_add_signed(self.fold.add(state, row)?);
            } else {
                let key = GroupKey(key.to_vec());
                let mut state = self.fold.create();
                self.fold.add(&mut state, row)?;
                self.used += Self::KEY_OVERHEAD + key.0.iter().map(value_size).sum::<usize>() + self.fold.size(&state);
                self.states.insert(key, state);
            }
            if self.used >= self.limit {
                self.spill()?;
            }
        }
        Ok(())
    }

    fn process_watermark(&mut self, _watermark: Timestamp, _out: &mut Output<Row>) -> Result<()> {
        // Every row comes at the end, so no watermark passes before it (downstream a row behind
        // the watermark would be late): `finish` sends the final one after the rows.
        Ok(())
    }

    fn finish(&mut self, out: &mut Output<Row>) -> Result<()> {
        if self.emitting.is_none() {
            self.emitting = Some(if self.runs.is_empty() {
                Emitting::Memory(std::mem::take(&mut self.states).into_iter())
            } else {
                if !self.states.is_empty() {
                    self.spill()?;
                }
                tracing::info!(runs = self.runs.len(), "{}: merging the spilled runs", self.fold.name());
                self.reduce_runs((self.share / RUN_BUFFER).clamp(MIN_FAN_IN, 256))?;
                Emitting::Merge(Merge::open(&self.runs)?)
            });
        }
        let mut emitted = 0;
        while emitted < EMIT_ROWS {
            let next = match self.emitting.as_mut().expect("set above") {
                Emitting::Memory(states) => states.next(),
                Emitting::Merge(merge) => match merge.next(&self.fold)? {
                    Some((key, state)) => Some((decode(&key)?, state)),
                    None => None,
                },
                Emitting::Done => None,
            };
            let Some((key, state)) = next else {
                self.emitting = Some(Emitting::Done);
                out.emit_watermark(MAX_WATERMARK);
                break;
            };
            emitted += self.fold.emit(key, state, out)?;
        }
        Ok(())
    }

    fn more_to_finish(&self) -> bool {
        matches!(self.emitting, Some(Emitting::Memory(_) | Emitting::Merge(_)))
    }

    fn close(&mut self) -> Result<()> {
        for run in self.runs.drain(..) {
            let _ = std::fs::remove_file(run);
        }
        Ok(())
    }
}

/// A run being read back: its next group.
struct RunReader {
    input: zstd::stream::Decoder<'static, BufReader<File>>,
    path: PathBuf,
}

impl RunReader {
    /// The next `(key bytes, state)`, or `None` at the end of the run.
    fn next<S: DeserializeOwned>(&mut self) -> Result<Option<(Vec<u8>, S)>> {
        let read = |e| spill_error("read", &self.path, e);
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other.map_err(read)?,
        }
        let mut key = vec![0; u32::from_le_bytes(len) as usize];
        self.input.read_exact(&mut key).map_err(read)?;
        self.input.read_exact(&mut len).map_err(read)?;
        let mut state = vec![0; u32::from_le_bytes(len) as usize];
        self.input.read_exact(&mut state).map_err(read)?;
        Ok(Some((key, decode(&state)?)))
    }
}

/// The k-way merge of the runs by key.
struct Merge<S> {
    runs: Vec<RunReader>,
    /// Each run's next state.
    heads: Vec<Option<S>>,
    /// The runs by their next key, smallest first.
    order: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
}

impl<S: DeserializeOwned> Merge<S> {
    fn open(paths: &[PathBuf]) -> Result<Merge<S>> {
        let mut merge = Merge { runs: Vec::new(), heads: Vec::new(), order: BinaryHeap::new() };
        for (i, path) in paths.iter().enumerate() {
            let file = File::open(path).map_err(|e| spill_error("open", path, e))?;
            let mut input = zstd::stream::Decoder::with_buffer(BufReader::with_capacity(1 << 16, file))
                .map_err(|e| spill_error("read", path, e))?;
            input.window_log_max(RUN_WINDOW_LOG).map_err(|e| spill_error("read", path, e))?;
            merge.runs.push(RunReader { input, path: path.clone() });
            merge.heads.push(None);
            merge.advance(i)?;
        }
        Ok(merge)
    }

    fn advance(&mut self, run: usize) -> Result<()> {
        if let Some((key, state)) = self.runs[run].next()? {
            self.heads[run] = Some(state);
            self.order.push(Reverse((key, run)));
        }
        Ok(())
    }

    /// The next key (its bytes), its states from every run merged.
    fn next<F: Fold<State = S>>(&mut self, fold: &F) -> Result<Option<(Vec<u8>, S)>> {
        let Some(Reverse((key, run))) = self.order.pop() else { return Ok(None) };
        let mut state = self.heads[run].take().expect("a run in the order has a head");
        self.advance(run)?;
        while self.order.peek().is_some_and(|Reverse((k, _))| *k == key) {
            let Reverse((_, other)) = self.order.pop().expect("peeked");
            let more = self.heads[other].take().expect("a run in the order has a head");
            fold.merge(&mut state, more)?;
            self.advance(other)?;
        }
        Ok(Some((key, state)))
    }
}
