//! Sources: split-based readers (Flink's FLIP-27 model). A [`Source`] enumerates its splits; each
//! split goes to one reader (split `j` to subtask `j mod parallelism`, the same on every process);
//! a reader's position in its splits is its state, which is what makes sources replayable and
//! their offsets redistributable on rescale. The [`SourceDriver`] runs a reader inside a task,
//! applying the stream's watermark strategy.

use crate::chain::Chain;
use crate::metrics::TaskMetrics;
use crate::watermark::{WatermarkGenerator, WatermarkStrategy};
use ferroflink_core::clock::Clock;
use ferroflink_core::codec::{decode, encode};
use ferroflink_core::element::{AnyBatch, Element};
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, MAX_WATERMARK, Record};
use ferroflink_state::operator::Distribution;
use ferroflink_state::snapshot::{OperatorListSnapshot, OperatorSubtaskState};
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

/// What a reader's poll found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderStatus {
    /// More records may be read right away.
    MoreAvailable,
    /// Nothing now; poll again after about this long.
    NothingAvailable(Duration),
    /// All assigned splits are exhausted.
    Finished,
}

/// A split-based source of records of type `T`.
pub trait Source<T: Data>: Send + Sync + 'static {
    /// A split and its position.
    type Split: Data;

    /// Whether the source ends.
    fn boundedness(&self) -> Boundedness;

    /// The largest parallelism the source supports (`Some(1)` for a socket).
    fn max_parallelism(&self) -> Option<usize> {
        None
    }

    /// All splits, deterministically, for a job whose source runs with `parallelism` readers.
    fn enumerate_splits(&self, parallelism: usize) -> Result<Vec<Self::Split>>;

    /// A reader, on the task thread.
    fn create_reader(&self) -> Result<Box<dyn SourceReader<T, Self::Split>>>;
}

/// Reads the records of the splits assigned to one subtask.
pub trait SourceReader<T, S> {
    /// Takes splits to read.
    fn add_splits(&mut self, splits: Vec<S>) -> Result<()>;
    /// Appends up to `max` records to `out`.
    fn poll_next(&mut self, out: &mut Vec<Record<T>>, max: usize) -> Result<ReaderStatus>;
    /// The splits with their current positions.
    fn snapshot_splits(&self) -> Vec<S>;
    /// Releases resources.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The splits subtask `index` of `parallelism` reads.
pub fn assign_splits<S>(splits: Vec<S>, parallelism: usize, index: usize) -> Vec<S> {
    splits.into_iter().enumerate().filter(|(j, _)| j % parallelism == index).map(|(_, s)| s).collect()
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
    /// Creates the reader and takes this subtask's splits: from `restored` state if given, else a
    /// fresh assignment.
    fn open(&mut self, parallelism: usize, index: usize, restored: Option<OperatorSubtaskState>) -> Result<()>;
    /// The reader's splits and positions as operator state.
    fn snapshot(&self) -> Result<OperatorSubtaskState>;
    /// Reads one batch and pushes it, with watermarks, into the chain.
    fn poll(&mut self, chain: &mut Chain) -> Result<SourceStep>;
    /// Whether the end of this source ends the job (bounded).
    fn is_bounded(&self) -> bool;
    /// Closes the reader.
    fn close(&mut self) -> Result<()>;
}

/// The [`SourceDriver`] of a typed source.
pub struct TypedSourceDriver<T: Data, S: Source<T>> {
    source: Arc<S>,
    reader: Option<Box<dyn SourceReader<T, S::Split>>>,
    watermarks: WatermarkGenerator<T>,
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
            watermarks: strategy.generator(),
            batch_size: batch_size.max(1),
            clock,
            metrics,
        }
    }
}

impl<T: Data, S: Source<T>> SourceDriver for TypedSourceDriver<T, S> {
    fn open(&mut self, parallelism: usize, index: usize, restored: Option<OperatorSubtaskState>) -> Result<()> {
        let restored = restored.and_then(|s| s.operator.into_iter().find(|l| l.name == SPLITS_STATE));
        let splits = match restored {
            Some(list) => {
                let splits = list.elements.iter().map(|b| decode(b)).collect::<Result<Vec<S::Split>>>()?;
                tracing::info!(subtask = index, ?splits, "source resumes at restored split positions");
                splits
            }
            None => assign_splits(self.source.enumerate_splits(parallelism)?, parallelism, index),
        };
        let mut reader = self.source.create_reader()?;
        reader.add_splits(splits)?;
        self.reader = Some(reader);
        Ok(())
    }

    fn poll(&mut self, chain: &mut Chain) -> Result<SourceStep> {
        let reader = self.reader.as_mut().expect("opened");
        let mut batch = Vec::with_capacity(self.batch_size);
        let status = reader.poll_next(&mut batch, self.batch_size)?;
        let now = self.clock.now();
        if batch.is_empty() {
            if let Some(idle) = self.watermarks.on_no_records(now) {
                chain.broadcast(&Element::Idle(idle))?;
            }
        } else {
            self.metrics.records_in.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let update = self.watermarks.on_batch(&mut batch, now);
            if let Some(idle) = update.idle {
                chain.broadcast(&Element::Idle(idle))?;
            }
            chain.push_source_batch(AnyBatch::new(batch))?;
            self.metrics.records_out.store(chain.records_out, Ordering::Relaxed);
            if let Some(wm) = update.watermark {
                chain.push_source_watermark(wm)?;
            }
        }
        Ok(match status {
            ReaderStatus::MoreAvailable => SourceStep::Continue,
            ReaderStatus::NothingAvailable(d) => SourceStep::Wait(d),
            ReaderStatus::Finished => {
                if self.is_bounded() {
                    chain.push_source_watermark(MAX_WATERMARK)?;
                }
                SourceStep::Finished
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
