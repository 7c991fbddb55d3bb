//! The operator traits the runtime executes, and the typed output operators write to.
//!
//! An operator has one required method, [`Operator::process_batch`]; watermarks, processing-time
//! timers, end of input and close have default hooks. Operators forward watermarks themselves
//! (the default hook does), so an operator that assigns watermarks can hold upstream ones back.

use crate::context::RuntimeContext;
use ferroflink_core::element::AnyBatch;
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Record, Timestamp};
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// Names a side output of type `T` (Flink's `OutputTag`). Tags are compared by id.
#[derive(Debug)]
pub struct OutputTag<T> {
    id: Arc<str>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        OutputTag { id: self.id.clone(), _type: PhantomData }
    }
}

impl<T: Data> OutputTag<T> {
    /// A tag with a unique id within the job.
    pub fn new(id: &str) -> Self {
        OutputTag { id: Arc::from(id), _type: PhantomData }
    }

    /// The tag's id.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }
}

trait SideBuffer {
    fn tag(&self) -> &Arc<str>;
    fn take(&mut self) -> Option<AnyBatch>;
    fn as_any(&mut self) -> &mut dyn Any;
}

struct TypedSide<U> {
    tag: Arc<str>,
    records: Vec<Record<U>>,
}

impl<U: Data> SideBuffer for TypedSide<U> {
    fn tag(&self) -> &Arc<str> {
        &self.tag
    }
    fn take(&mut self) -> Option<AnyBatch> {
        (!self.records.is_empty()).then(|| AnyBatch::new(std::mem::take(&mut self.records)))
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Where an operator emits: main records, side outputs and (for operators that generate or hold
/// back watermarks) a watermark that follows the records emitted in the same call.
pub struct Output<T> {
    records: Vec<Record<T>>,
    sides: Vec<Box<dyn SideBuffer>>,
    watermark: Option<Timestamp>,
}

impl<T> Default for Output<T> {
    fn default() -> Self {
        Output { records: Vec::new(), sides: Vec::new(), watermark: None }
    }
}

impl<T: Data> Output<T> {
    /// Emits a record.
    #[inline]
    pub fn push(&mut self, record: Record<T>) {
        self.records.push(record);
    }

    /// Emits a value with a timestamp.
    #[inline]
    pub fn collect(&mut self, value: T, timestamp: Timestamp) {
        self.records.push(Record { value, timestamp });
    }

    /// Emits a record to a side output.
    pub fn side<U: Data>(&mut self, tag: &OutputTag<U>, record: Record<U>) {
        let pos = match self.sides.iter().position(|s| s.tag() == tag.id()) {
            Some(pos) => pos,
            None => {
                self.sides.push(Box::new(TypedSide::<U> { tag: tag.id.clone(), records: Vec::new() }));
                self.sides.len() - 1
            }
        };
        let side = self.sides[pos]
            .as_any()
            .downcast_mut::<TypedSide<U>>()
            .unwrap_or_else(|| panic!("side output tag '{}' used with two different types", tag.id()));
        side.records.push(record);
    }

    /// Emits a watermark after the records emitted so far.
    pub fn emit_watermark(&mut self, watermark: Timestamp) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
    }

    /// Records emitted so far in this call.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was emitted so far in this call.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn drain_into(&mut self, out: &mut ChainOutput) {
        if !self.records.is_empty() {
            out.main = Some(AnyBatch::new(std::mem::take(&mut self.records)));
        }
        for side in &mut self.sides {
            if let Some(batch) = side.take() {
                out.side.push((side.tag().clone(), batch));
            }
        }
        out.watermark = self.watermark.take();
    }
}

/// What one call of a type-erased operator produced.
#[derive(Default, Debug)]
pub struct ChainOutput {
    /// Main output.
    pub main: Option<AnyBatch>,
    /// Side outputs by tag id.
    pub side: Vec<(Arc<str>, AnyBatch)>,
    /// Watermark to forward after the records.
    pub watermark: Option<Timestamp>,
}

/// A one-input operator.
pub trait Operator: 'static {
    /// Input record type.
    type In: Data;
    /// Output record type.
    type Out: Data;

    /// Called once on the task thread before any input.
    fn open(&mut self, _ctx: &mut RuntimeContext) -> Result<()> {
        Ok(())
    }

    /// Processes a batch of records.
    fn process_batch(&mut self, batch: Vec<Record<Self::In>>, out: &mut Output<Self::Out>) -> Result<()>;

    /// Event time advanced to `watermark`. The default forwards it.
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<Self::Out>) -> Result<()> {
        out.emit_watermark(watermark);
        Ok(())
    }

    /// The earliest processing time at which [`Operator::on_processing_time`] must run.
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }

    /// Processing time reached `now` (at or after [`Operator::next_processing_time`]).
    fn on_processing_time(&mut self, _now: Timestamp, _out: &mut Output<Self::Out>) -> Result<()> {
        Ok(())
    }

    /// All input has ended (after the final watermark): flush what is buffered.
    fn finish(&mut self, _out: &mut Output<Self::Out>) -> Result<()> {
        Ok(())
    }

    /// After [`Operator::finish`]: whether it has more to emit, so `finish` is called again once
    /// what it emitted has gone downstream (an operator whose final output does not fit in memory
    /// emits it in parts).
    fn more_to_finish(&self) -> bool {
        false
    }

    /// A checkpoint barrier passed: all input before it has been processed and nothing after it.
    /// Move state kept outside the state backends into them, and pre-commit (a transactional sink
    /// makes what it wrote so far pending). The backends are snapshotted right after. Records
    /// emitted here go downstream ahead of the barrier, so they belong to this checkpoint.
    fn snapshot_state(&mut self, _checkpoint_id: u64, _out: &mut Output<Self::Out>) -> Result<()> {
        Ok(())
    }

    /// Checkpoint `checkpoint_id` completed (its `_metadata` is written): commit what was
    /// pre-committed for it and earlier checkpoints. `u64::MAX` commits everything (end of a job
    /// that runs without checkpoints).
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Releases resources; called on success, failure and cancellation.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A two-input operator (`connect`). The watermark it sees is the minimum over both inputs.
pub trait TwoInputOperator: 'static {
    /// First input type.
    type In1: Data;
    /// Second input type.
    type In2: Data;
    /// Output type.
    type Out: Data;

    /// See [`Operator::open`].
    fn open(&mut self, _ctx: &mut RuntimeContext) -> Result<()> {
        Ok(())
    }
    /// Processes a batch from the first input.
    fn process_batch1(&mut self, batch: Vec<Record<Self::In1>>, out: &mut Output<Self::Out>) -> Result<()>;
    /// Processes a batch from the second input.
    fn process_batch2(&mut self, batch: Vec<Record<Self::In2>>, out: &mut Output<Self::Out>) -> Result<()>;
    /// See [`Operator::process_watermark`].
    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<Self::Out>) -> Result<()> {
        out.emit_watermark(watermark);
        Ok(())
    }
    /// See [`Operator::next_processing_time`].
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }
    /// See [`Operator::on_processing_time`].
    fn on_processing_time(&mut self, _now: Timestamp, _out: &mut Output<Self::Out>) -> Result<()> {
        Ok(())
    }
    /// See [`Operator::finish`].
    fn finish(&mut self, _out: &mut Output<Self::Out>) -> Result<()> {
        Ok(())
    }
    /// See [`Operator::snapshot_state`].
    fn snapshot_state(&mut self, _checkpoint_id: u64, _out: &mut Output<Self::Out>) -> Result<()> {
        Ok(())
    }
    /// See [`Operator::notify_checkpoint_complete`].
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
    /// See [`Operator::close`].
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}
