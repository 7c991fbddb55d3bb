//! Sinks: a [`Sink`] creates a [`SinkWriter`] per subtask; the [`SinkOperator`] feeds it. End of
//! input calls `finish`, where a writer flushes. Transactional sinks (two-phase commit) pre-commit
//! in `snapshot_state` at each checkpoint barrier, keeping what is pending in operator state, and
//! commit in `notify_checkpoint_complete`; without checkpoints they commit at `finish`.

use crate::context::RuntimeContext;
use crate::metrics::TaskMetrics;
use crate::operator::{Operator, Output};
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Record, Timestamp};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A destination for records of type `T`.
pub trait Sink<T>: Send + Sync + 'static {
    /// The writer of one subtask, created on its thread (it may declare operator state in `ctx`).
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>>;
}

/// Writes one subtask's records.
pub trait SinkWriter<T> {
    /// Writes a batch.
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()>;
    /// Input ended: flush everything.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// A checkpoint barrier passed: pre-commit what was written so far.
    fn snapshot_state(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
    /// A checkpoint completed: commit what was pre-committed up to it.
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
    /// The earliest processing time at which [`SinkWriter::on_processing_time`] must run.
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }
    /// Processing time reached `now` (a rolling policy closes parts open too long).
    fn on_processing_time(&mut self, _now: Timestamp) -> Result<()> {
        Ok(())
    }
    /// Release resources (also after failure or cancellation).
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Runs a [`Sink`]'s writer as an operator.
pub struct SinkOperator<T, S> {
    sink: Arc<S>,
    writer: Option<Box<dyn SinkWriter<T>>>,
    metrics: Option<Arc<TaskMetrics>>,
    _t: PhantomData<fn(T)>,
}

impl<T: Data, S: Sink<T>> SinkOperator<T, S> {
    /// An operator writing to `sink`.
    pub fn new(sink: Arc<S>) -> Self {
        SinkOperator { sink, writer: None, metrics: None, _t: PhantomData }
    }
}

impl<T: Data, S: Sink<T>> Operator for SinkOperator<T, S> {
    type In = T;
    type Out = ();

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.writer = Some(self.sink.create_writer(ctx)?);
        self.metrics = Some(ctx.metrics.clone());
        Ok(())
    }

    fn process_batch(&mut self, batch: Vec<Record<T>>, _out: &mut Output<()>) -> Result<()> {
        if let Some(m) = &self.metrics {
            m.sink_records.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        self.writer.as_mut().expect("opened").write(batch)
    }

    fn process_watermark(&mut self, _watermark: i64, _out: &mut Output<()>) -> Result<()> {
        Ok(())
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.writer.as_ref().and_then(|w| w.next_processing_time())
    }

    fn on_processing_time(&mut self, now: Timestamp, _out: &mut Output<()>) -> Result<()> {
        self.writer.as_mut().expect("opened").on_processing_time(now)
    }

    fn finish(&mut self, _out: &mut Output<()>) -> Result<()> {
        self.writer.as_mut().expect("opened").finish()
    }

    fn snapshot_state(&mut self, checkpoint_id: u64, _out: &mut Output<()>) -> Result<()> {
        self.writer.as_mut().expect("opened").snapshot_state(checkpoint_id)
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.writer.as_mut().expect("opened").notify_checkpoint_complete(checkpoint_id)
    }

    fn close(&mut self) -> Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.close(),
            None => Ok(()),
        }
    }
}
