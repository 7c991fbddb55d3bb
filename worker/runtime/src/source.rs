//! Sources as in Flink's FLIP-27: a [`Source`] makes one [`SplitEnumerator`] per job, which runs
//! in the job's coordinator (on the JobManager; in the mini-cluster's supervisor locally), owns
//! split discovery and assignment and is checkpointed; and one [`SourceReader`] per subtask, which
//! asks the enumerator for a split whenever it has none to read, keeps each split's position (the
//! reader's checkpointed state) and each split's own watermark, so the job's watermark does not
//! depend on how the splits landed. The [`SourceDriver`] runs a reader inside a task.
//!
//! A checkpoint holds the enumerator's state (taken when the checkpoint is triggered, before any
//! barrier) and every reader's splits (at its barrier). Between the two, a reader gets no split (it
//! is told to ask again shortly; Flink's operator-event valve): so a split is either still the
//! enumerator's or already the reader's in the checkpoint, never both or neither, and every split
//! is read exactly once after a restore.

use crate::chain::Chain;
use crate::metrics::TaskMetrics;
use crate::watermark::{SplitWatermarks, WatermarkStrategy, WatermarkUpdate};
use ferroflink_core::clock::Clock;
use ferroflink_core::codec::{decode, encode};
use ferroflink_core::element::{AnyBatch, Element};
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, MAX_WATERMARK, Record};
use ferroflink_state::operator::Distribution;
use ferroflink_state::snapshot::{OperatorListSnapshot, OperatorSubtaskState};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Whether a source ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundedness {
    /// Ends by itself; its end finishes the job.
    Bounded,
    /// Runs until cancelled.
    Unbounded,
}

/// A unit of a source's input (a file range, a partition, a generator's stride) with the position
/// reached in it.
pub trait SourceSplit: Data {
    /// The split's identity: the same at every position.
    fn split_id(&self) -> String;
}

/// What an enumerator answers a reader that asks for a split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitAnswer<S> {
    /// Read this split.
    Split(S),
    /// None now, more may come (splits discovered later): ask again after about this long.
    NoneYet(Duration),
    /// No more splits for this reader, ever.
    NoMoreSplits,
}

impl<S> SplitAnswer<S> {
    /// The same answer with the split converted.
    pub fn map<U>(self, f: impl FnOnce(S) -> Result<U>) -> Result<SplitAnswer<U>> {
        Ok(match self {
            SplitAnswer::Split(s) => SplitAnswer::Split(f(s)?),
            SplitAnswer::NoneYet(d) => SplitAnswer::NoneYet(d),
            SplitAnswer::NoMoreSplits => SplitAnswer::NoMoreSplits,
        })
    }
}

/// Discovers a source's splits and hands them to the readers that ask, once per job.
pub trait SplitEnumerator<S>: Send {
    /// The reader of `subtask` has no split to read: its next one.
    fn next_split(&mut self, subtask: usize) -> Result<SplitAnswer<S>>;
    /// The enumerator's state for a checkpoint.
    fn snapshot(&self) -> Result<Vec<u8>>;
}

/// A split-based source of records of type `T`.
pub trait Source<T: Data>: Send + Sync + 'static {
    /// A split and its position.
    type Split: SourceSplit;

    /// Whether the source ends.
    fn boundedness(&self) -> Boundedness;

    /// The largest parallelism the source supports (`Some(1)` for a socket).
    fn max_parallelism(&self) -> Option<usize> {
        None
    }

    /// The enumerator of a job whose source runs with `parallelism` readers: new, or from the
    /// state it checkpointed (empty when the snapshot predates enumerators: its readers hold every
    /// split that was left).
    fn create_enumerator(
        &self,
        parallelism: usize,
        restored: Option<&[u8]>,
    ) -> Result<Box<dyn SplitEnumerator<Self::Split>>>;

    /// A reader, on the task thread.
    fn create_reader(&self) -> Result<Box<dyn SourceReader<T, Self::Split>>>;
}

/// What a reader's poll found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderStatus {
    /// More records may be read right away.
    MoreAvailable,
    /// Nothing now; poll again after about this long.
    NothingAvailable(Duration),
    /// Every split it holds was read to its end: it needs another.
    NeedsSplit,
}

/// What one poll of a reader produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Polled {
    /// What next.
    pub status: ReaderStatus,
    /// The split the records came from (all records of one poll come from one split).
    pub split: Option<String>,
    /// Splits read to their end by this poll.
    pub finished: Vec<String>,
    /// Malformed records this poll skipped (counted in `numRecordsInErrors`).
    pub skipped: u64,
}

impl Polled {
    /// Records of `split`, maybe more.
    pub fn records(split: String, status: ReaderStatus) -> Polled {
        Polled { status, split: Some(split), finished: Vec::new(), skipped: 0 }
    }

    /// The last records of `split`, which was read to its end.
    pub fn last(split: String, status: ReaderStatus) -> Polled {
        Polled { status, split: Some(split.clone()), finished: vec![split], skipped: 0 }
    }

    /// No records.
    pub fn empty(status: ReaderStatus) -> Polled {
        Polled { status, split: None, finished: Vec::new(), skipped: 0 }
    }

    /// The same, having skipped `n` malformed records.
    pub fn skipping(self, n: u64) -> Polled {
        Polled { skipped: n, ..self }
    }
}

/// Reads the records of the splits its subtask was given.
pub trait SourceReader<T, S> {
    /// Takes a split to read (from the enumerator, or restored with its position).
    fn add_split(&mut self, split: S) -> Result<()>;
    /// Appends up to `max` records of one split to `out`.
    fn poll_next(&mut self, out: &mut Vec<Record<T>>, max: usize) -> Result<Polled>;
    /// The splits it holds, with their current positions.
    fn snapshot_splits(&self) -> Vec<S>;
    /// Releases resources.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The enumerator of a source whose splits are all known when the job starts (a generator's
/// strides, a collection, the ranges of files that do not change). Split `j` goes preferably to
/// subtask `j mod parallelism` (the same assignment as long as every reader keeps up), else to any
/// reader that asks; a reader asking when none is left ends. Its state is the splits not handed
/// out yet (empty bytes: none, as restored from a snapshot taken before enumerators existed).
///
/// Splits in an order of event time that one reader must keep (a generator's strides: stride `k`
/// read after stride `k + 1` by the same reader would be behind its watermark) are
/// [`FixedSplits::owned`]: split `j` goes to subtask `j mod parallelism` only.
pub struct FixedSplits<S> {
    parallelism: usize,
    pending: VecDeque<(usize, S)>,
    stealing: bool,
}

impl<S: SourceSplit> FixedSplits<S> {
    /// The enumerator for `parallelism` readers: from its checkpointed state (`restored`), else
    /// handing out `splits()`.
    pub fn restore_or(
        restored: Option<&[u8]>,
        parallelism: usize,
        splits: impl FnOnce() -> Result<Vec<S>>,
    ) -> Result<Box<dyn SplitEnumerator<S>>> {
        Self::boxed(restored, parallelism, splits, true)
    }

    /// As [`FixedSplits::restore_or`], but a reader only ever gets its own splits.
    pub fn owned(
        restored: Option<&[u8]>,
        parallelism: usize,
        splits: impl FnOnce() -> Result<Vec<S>>,
    ) -> Result<Box<dyn SplitEnumerator<S>>> {
        Self::boxed(restored, parallelism, splits, false)
    }

    fn boxed(
        restored: Option<&[u8]>,
        parallelism: usize,
        splits: impl FnOnce() -> Result<Vec<S>>,
        stealing: bool,
    ) -> Result<Box<dyn SplitEnumerator<S>>> {
        let pending = match restored {
            Some([]) => VecDeque::new(),
            Some(bytes) => decode::<Vec<(usize, S)>>(bytes)?.into(),
            None => splits()?.into_iter().enumerate().collect(),
        };
        Ok(Box::new(FixedSplits { parallelism: parallelism.max(1), pending, stealing }))
    }
}

impl<S: SourceSplit> SplitEnumerator<S> for FixedSplits<S> {
    fn next_split(&mut self, subtask: usize) -> Result<SplitAnswer<S>> {
        let own = self.pending.iter().position(|(j, _)| j % self.parallelism == subtask);
        let any = (self.stealing && !self.pending.is_empty()).then_some(0);
        Ok(match own.or(any).and_then(|i| self.pending.remove(i)) {
            Some((_, split)) => SplitAnswer::Split(split),
            None => SplitAnswer::NoMoreSplits,
        })
    }

    fn snapshot(&self) -> Result<Vec<u8>> {
        encode(&self.pending.iter().cloned().collect::<Vec<_>>())
    }
}

/// A source's enumerator with its splits encoded (the engine codec), as the job's coordinator and
/// the RPC between TaskManagers and the JobManager carry them.
pub trait EnumeratorDriver: Send {
    /// See [`SplitEnumerator::next_split`].
    fn next_split(&mut self, subtask: usize) -> Result<SplitAnswer<Vec<u8>>>;
    /// See [`SplitEnumerator::snapshot`].
    fn snapshot(&self) -> Result<Vec<u8>>;
}

struct TypedEnumerator<S> {
    inner: Box<dyn SplitEnumerator<S>>,
}

impl<S: SourceSplit> EnumeratorDriver for TypedEnumerator<S> {
    fn next_split(&mut self, subtask: usize) -> Result<SplitAnswer<Vec<u8>>> {
        self.inner.next_split(subtask)?.map(|s| encode(&s))
    }

    fn snapshot(&self) -> Result<Vec<u8>> {
        self.inner.snapshot()
    }
}

/// Creates the enumerator of a source (with its readers' parallelism and its restored state).
pub type EnumeratorFactory = Arc<dyn Fn(usize, Option<&[u8]>) -> Result<Box<dyn EnumeratorDriver>> + Send + Sync>;

/// The [`EnumeratorFactory`] of `source`.
pub fn enumerator_factory<T: Data, S: Source<T>>(source: Arc<S>) -> EnumeratorFactory {
    Arc::new(move |parallelism, restored| {
        Ok(Box::new(TypedEnumerator { inner: source.create_enumerator(parallelism, restored)? })
            as Box<dyn EnumeratorDriver>)
    })
}

/// Where a reader's requests for splits go: the job's coordinator in this process, or the
/// JobManager over RPC.
pub trait SplitRequester: Send + Sync {
    /// The next split of source `operator_id` for its reader `subtask` (encoded); `checkpoint` is
    /// the newest checkpoint the reader's task snapshotted.
    fn request(&self, operator_id: &str, subtask: usize, checkpoint: u64) -> Result<SplitAnswer<Vec<u8>>>;
}

/// A reader's way to its enumerator.
#[derive(Clone)]
pub struct SplitChannel {
    /// Where requests go.
    pub requester: Arc<dyn SplitRequester>,
    /// The source's operator id.
    pub operator_id: String,
    /// The reader's subtask.
    pub subtask: usize,
}

impl SplitChannel {
    /// The reader's next split (its task snapshotted `checkpoint` last).
    pub fn request(&self, checkpoint: u64) -> Result<SplitAnswer<Vec<u8>>> {
        self.requester.request(&self.operator_id, self.subtask, checkpoint)
    }
}

/// What the task should do after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceStep {
    /// Poll again.
    Continue,
    /// Nothing available: flush, wait about this long.
    Wait(Duration),
    /// The source ended.
    Finished,
}

/// Name of the operator list holding a source's splits and positions in a snapshot.
pub const SPLITS_STATE: &str = "source-splits";

/// Runs a source inside a task (type-erased).
pub trait SourceDriver {
    /// Creates the reader and gives it its restored splits, if any; it asks `splits` for more.
    fn open(&mut self, splits: SplitChannel, restored: Option<OperatorSubtaskState>) -> Result<()>;
    /// The reader's splits and positions as operator state.
    fn snapshot(&self) -> Result<OperatorSubtaskState>;
    /// Reads one batch and pushes it, with watermarks, into the chain (the task snapshotted
    /// `checkpoint` last).
    fn poll(&mut self, chain: &mut Chain, checkpoint: u64) -> Result<SourceStep>;
    /// Whether the end of this source ends the job (bounded).
    fn is_bounded(&self) -> bool;
    /// Closes the reader.
    fn close(&mut self) -> Result<()>;
}

/// The [`SourceDriver`] of a typed source.
pub struct TypedSourceDriver<T: Data, S: Source<T>> {
    source: Arc<S>,
    reader: Option<Box<dyn SourceReader<T, S::Split>>>,
    splits: Option<SplitChannel>,
    /// The reader has a split to read (else it asks for one before polling).
    reading: bool,
    /// The enumerator said there are no more splits.
    no_more_splits: bool,
    watermarks: SplitWatermarks<T>,
    batch_size: usize,
    clock: Arc<dyn Clock>,
    metrics: Arc<TaskMetrics>,
}

impl<T: Data, S: Source<T>> TypedSourceDriver<T, S> {
    /// A driver for `source` with `strategy`.
    pub fn new(
        source: Arc<S>,
        strategy: &WatermarkStrategy<T>,
        batch_size: usize,
        clock: Arc<dyn Clock>,
        metrics: Arc<TaskMetrics>,
    ) -> Self {
        TypedSourceDriver {
            source,
            reader: None,
            splits: None,
            reading: false,
            no_more_splits: false,
            watermarks: SplitWatermarks::new(strategy),
            batch_size: batch_size.max(1),
            clock,
            metrics,
        }
    }

    fn add_split(&mut self, split: S::Split) -> Result<()> {
        self.watermarks.add_split(split.split_id(), self.clock.now());
        self.reader.as_mut().expect("opened").add_split(split)?;
        self.reading = true;
        Ok(())
    }

    /// Asks the enumerator for a split; answers how long to wait when none came.
    fn request_split(&mut self, checkpoint: u64) -> Result<Option<SourceStep>> {
        let channel = self.splits.as_ref().expect("opened");
        match channel.request(checkpoint)?.map(|b| decode::<S::Split>(&b))? {
            SplitAnswer::Split(split) => {
                tracing::debug!(subtask = channel.subtask, split = %split.split_id(), "reading a split");
                self.add_split(split)?;
                Ok(None)
            }
            SplitAnswer::NoneYet(wait) => Ok(Some(SourceStep::Wait(wait))),
            SplitAnswer::NoMoreSplits => {
                self.no_more_splits = true;
                Ok(None)
            }
        }
    }

    fn emit(update: WatermarkUpdate, chain: &mut Chain) -> Result<()> {
        if let Some(idle) = update.idle {
            chain.broadcast(&Element::Idle(idle))?;
        }
        if let Some(wm) = update.watermark {
            chain.push_source_watermark(wm)?;
        }
        Ok(())
    }
}

impl<T: Data, S: Source<T>> SourceDriver for TypedSourceDriver<T, S> {
    fn open(&mut self, splits: SplitChannel, restored: Option<OperatorSubtaskState>) -> Result<()> {
        self.reader = Some(self.source.create_reader()?);
        let restored = restored.and_then(|s| s.operator.into_iter().find(|l| l.name == SPLITS_STATE));
        if let Some(list) = restored {
            let restored = list.elements.iter().map(|b| decode(b)).collect::<Result<Vec<S::Split>>>()?;
            tracing::info!(subtask = splits.subtask, ?restored, "source resumes at restored split positions");
            for split in restored {
                self.add_split(split)?;
            }
        }
        self.splits = Some(splits);
        Ok(())
    }

    fn poll(&mut self, chain: &mut Chain, checkpoint: u64) -> Result<SourceStep> {
        if !self.reading {
            if self.no_more_splits {
                // Read all it will get. Only a bounded source's end is the end of event time.
                if self.is_bounded() {
                    chain.push_source_watermark(MAX_WATERMARK)?;
                }
                return Ok(SourceStep::Finished);
            }
            if let Some(wait) = self.request_split(checkpoint)? {
                let update = self.watermarks.on_no_records(self.clock.now());
                Self::emit(update, chain)?;
                return Ok(wait);
            }
            if !self.reading {
                return Ok(SourceStep::Continue);
            }
        }
        let reader = self.reader.as_mut().expect("opened");
        let mut batch = Vec::with_capacity(self.batch_size);
        let polled = reader.poll_next(&mut batch, self.batch_size)?;
        if polled.skipped > 0 {
            self.metrics.records_in_errors.fetch_add(polled.skipped, Ordering::Relaxed);
        }
        let now = self.clock.now();
        if batch.is_empty() {
            Self::emit(self.watermarks.on_no_records(now), chain)?;
        } else {
            self.metrics.records_in.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let split = polled.split.as_deref().unwrap_or_default();
            let update = self.watermarks.on_batch(split, &mut batch, now);
            if let Some(idle) = update.idle {
                chain.broadcast(&Element::Idle(idle))?;
            }
            chain.push_source_batch(AnyBatch::new(batch))?;
            self.metrics.records_out.store(chain.records_out, Ordering::Relaxed);
            if let Some(wm) = update.watermark {
                chain.push_source_watermark(wm)?;
            }
        }
        for id in &polled.finished {
            Self::emit(self.watermarks.finish_split(id), chain)?;
        }
        Ok(match polled.status {
            ReaderStatus::MoreAvailable => SourceStep::Continue,
            ReaderStatus::NothingAvailable(d) => SourceStep::Wait(d),
            ReaderStatus::NeedsSplit => {
                self.reading = false;
                SourceStep::Continue
            }
        })
    }

    fn snapshot(&self) -> Result<OperatorSubtaskState> {
        let splits = self.reader.as_ref().map(|r| r.snapshot_splits()).unwrap_or_default();
        Ok(OperatorSubtaskState {
            keyed: Vec::new(),
            operator: vec![OperatorListSnapshot {
                name: SPLITS_STATE.into(),
                distribution: Distribution::Split,
                elements: splits.iter().map(encode).collect::<Result<_>>()?,
            }],
        })
    }

    fn is_bounded(&self) -> bool {
        self.source.boundedness() == Boundedness::Bounded
    }

    fn close(&mut self) -> Result<()> {
        match self.reader.as_mut() {
            Some(r) => r.close(),
            None => Ok(()),
        }
    }
}
