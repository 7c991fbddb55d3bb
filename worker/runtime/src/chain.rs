//! Operator chains: the operators of one job vertex, run on one thread, handing batches to each
//! other by direct calls. Type erasure happens once per batch ([`ChainOperator`]); the typed
//! operator behind it sees `Vec<Record<T>>`.

use crate::checkpoint::SubtaskSnapshot;
use crate::context::RuntimeContext;
use crate::operator::{ChainOutput, Operator, Output, TwoInputOperator};
use crate::partition::RecordWriter;
use ferroflink_core::element::{AnyBatch, CheckpointBarrier, Element};
use ferroflink_core::error::Result;
use ferroflink_core::record::Timestamp;
use ferroflink_state::snapshot::OperatorSubtaskState;
use std::sync::Arc;

/// A type-erased operator as the chain drives it.
pub trait ChainOperator {
    /// See [`Operator::open`].
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()>;
    /// Processes a batch arriving on `input` (0 or 1).
    fn process(&mut self, input: usize, batch: AnyBatch, out: &mut ChainOutput) -> Result<()>;
    /// See [`Operator::process_watermark`].
    fn watermark(&mut self, watermark: Timestamp, out: &mut ChainOutput) -> Result<()>;
    /// See [`Operator::next_processing_time`].
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// See [`Operator::on_processing_time`].
    fn processing_time(&mut self, now: Timestamp, out: &mut ChainOutput) -> Result<()>;
    /// See [`Operator::finish`].
    fn finish(&mut self, out: &mut ChainOutput) -> Result<()>;
    /// See [`Operator::more_to_finish`].
    fn more_to_finish(&self) -> bool {
        false
    }
    /// See [`Operator::snapshot_state`].
    fn snapshot_state(&mut self, checkpoint_id: u64, out: &mut ChainOutput) -> Result<()>;
    /// See [`Operator::notify_checkpoint_complete`].
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()>;
    /// See [`Operator::close`].
    fn close(&mut self) -> Result<()>;
}

/// Erases a one-input [`Operator`].
pub struct OneInput<O: Operator> {
    op: O,
    out: Output<O::Out>,
}

impl<O: Operator> OneInput<O> {
    /// Wraps `op`.
    pub fn boxed(op: O) -> Box<dyn ChainOperator> {
        Box::new(OneInput { op, out: Output::default() })
    }
}

impl<O: Operator> ChainOperator for OneInput<O> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.op.open(ctx)
    }
    fn process(&mut self, _input: usize, batch: AnyBatch, out: &mut ChainOutput) -> Result<()> {
        self.op.process_batch(batch.into_records(), &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn watermark(&mut self, watermark: Timestamp, out: &mut ChainOutput) -> Result<()> {
        self.op.process_watermark(watermark, &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.op.next_processing_time()
    }
    fn processing_time(&mut self, now: Timestamp, out: &mut ChainOutput) -> Result<()> {
        self.op.on_processing_time(now, &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn finish(&mut self, out: &mut ChainOutput) -> Result<()> {
        self.op.finish(&mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn more_to_finish(&self) -> bool {
        self.op.more_to_finish()
    }
    fn snapshot_state(&mut self, checkpoint_id: u64, out: &mut ChainOutput) -> Result<()> {
        self.op.snapshot_state(checkpoint_id, &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.op.notify_checkpoint_complete(checkpoint_id)
    }
    fn close(&mut self) -> Result<()> {
        self.op.close()
    }
}

/// Erases a [`TwoInputOperator`].
pub struct TwoInput<O: TwoInputOperator> {
    op: O,
    out: Output<O::Out>,
}

impl<O: TwoInputOperator> TwoInput<O> {
    /// Wraps `op`.
    pub fn boxed(op: O) -> Box<dyn ChainOperator> {
        Box::new(TwoInput { op, out: Output::default() })
    }
}

impl<O: TwoInputOperator> ChainOperator for TwoInput<O> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.op.open(ctx)
    }
    fn process(&mut self, input: usize, batch: AnyBatch, out: &mut ChainOutput) -> Result<()> {
        if input == 0 {
            self.op.process_batch1(batch.into_records(), &mut self.out)?;
        } else {
            self.op.process_batch2(batch.into_records(), &mut self.out)?;
        }
        self.out.drain_into(out);
        Ok(())
    }
    fn watermark(&mut self, watermark: Timestamp, out: &mut ChainOutput) -> Result<()> {
        self.op.process_watermark(watermark, &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.op.next_processing_time()
    }
    fn processing_time(&mut self, now: Timestamp, out: &mut ChainOutput) -> Result<()> {
        self.op.on_processing_time(now, &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn finish(&mut self, out: &mut ChainOutput) -> Result<()> {
        self.op.finish(&mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn snapshot_state(&mut self, checkpoint_id: u64, out: &mut ChainOutput) -> Result<()> {
        self.op.snapshot_state(checkpoint_id, &mut self.out)?;
        self.out.drain_into(out);
        Ok(())
    }
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.op.notify_checkpoint_complete(checkpoint_id)
    }
    fn close(&mut self) -> Result<()> {
        self.op.close()
    }
}

/// Where an operator's output goes.
#[derive(Clone, Copy, Debug)]
pub enum TargetKind {
    /// Into a later operator of the same chain, on its input 0 or 1.
    Chained {
        /// Index of the node in the chain.
        node: usize,
        /// Input index of that operator.
        input: usize,
    },
    /// Out of the task, through one of the chain's record writers.
    Writer(usize),
}

/// One output edge of an operator, optionally for a side output.
#[derive(Clone, Debug)]
pub struct Target {
    /// `None` for the main output, else the side-output tag id.
    pub tag: Option<Arc<str>>,
    /// Where it goes.
    pub kind: TargetKind,
}

/// One operator of a chain with its output edges and its state.
pub struct ChainNode {
    /// The operator.
    pub op: Box<dyn ChainOperator>,
    /// Its outputs; chained targets always have a higher index.
    pub targets: Vec<Target>,
    /// What it was opened with: identity and state backends.
    pub ctx: RuntimeContext,
}

/// The operators of one task and the writers leaving it. Node 0 is the head unless the task is a
/// source, whose output goes to `source_targets`.
pub struct Chain {
    /// Operators in topological order.
    pub nodes: Vec<ChainNode>,
    /// Outputs leaving the task.
    pub writers: Vec<Box<dyn RecordWriter>>,
    /// For source tasks: where the source's records go.
    pub source_targets: Vec<Target>,
    /// Records written to writers (for metrics).
    pub records_out: u64,
}

/// Where a call's output comes from: the source or a node.
#[derive(Clone, Copy)]
enum From {
    Source,
    Node(usize),
}

impl Chain {
    fn targets(&self, from: From) -> &[Target] {
        match from {
            From::Source => &self.source_targets,
            From::Node(i) => &self.nodes[i].targets,
        }
    }

    /// Feeds a batch into node `node`'s input `input`.
    pub fn push_batch(&mut self, node: usize, input: usize, batch: AnyBatch) -> Result<()> {
        let mut out = ChainOutput::default();
        self.nodes[node].op.process(input, batch, &mut out)?;
        self.route(From::Node(node), out)
    }

    /// Routes a batch emitted by the source.
    pub fn push_source_batch(&mut self, batch: AnyBatch) -> Result<()> {
        self.route_batch(From::Source, None, batch)
    }

    /// Advances event time at node `node`.
    pub fn push_watermark(&mut self, node: usize, watermark: Timestamp) -> Result<()> {
        let mut out = ChainOutput::default();
        self.nodes[node].op.watermark(watermark, &mut out)?;
        self.route(From::Node(node), out)
    }

    /// Forwards a watermark generated by the source.
    pub fn push_source_watermark(&mut self, watermark: Timestamp) -> Result<()> {
        self.forward_watermark(From::Source, watermark)
    }

    /// Sends a control element (idle status, barrier, end of input) to every writer.
    pub fn broadcast(&mut self, element: &Element) -> Result<()> {
        for w in &mut self.writers {
            w.broadcast(element)?;
        }
        Ok(())
    }

    /// Flushes buffered records of every writer.
    pub fn flush(&mut self) -> Result<()> {
        for w in &mut self.writers {
            w.flush()?;
        }
        Ok(())
    }

    /// The earliest processing-time timer of any operator.
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.nodes.iter().filter_map(|n| n.op.next_processing_time()).min()
    }

    /// Fires due processing-time callbacks, upstream operators first.
    pub fn fire_processing_time(&mut self, now: Timestamp) -> Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].op.next_processing_time().is_some_and(|t| t <= now) {
                let mut out = ChainOutput::default();
                self.nodes[i].op.processing_time(now, &mut out)?;
                self.route(From::Node(i), out)?;
            }
        }
        Ok(())
    }

    /// End of input: finishes every operator in order (each one's output reaches the later ones
    /// before they finish), then tells downstream tasks.
    pub fn finish(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            loop {
                let mut out = ChainOutput::default();
                self.nodes[i].op.finish(&mut out)?;
                self.route(From::Node(i), out)?;
                if !self.nodes[i].op.more_to_finish() {
                    break;
                }
            }
        }
        self.broadcast(&Element::EndOfInput)
    }

    /// Snapshots every operator (upstream first) for `barrier`'s checkpoint; what one emits while
    /// it snapshots reaches the later ones before they snapshot.
    pub fn snapshot(&mut self, barrier: &CheckpointBarrier) -> Result<Vec<SubtaskSnapshot>> {
        let mut states = Vec::with_capacity(self.nodes.len());
        for i in 0..self.nodes.len() {
            let mut out = ChainOutput::default();
            self.nodes[i].op.snapshot_state(barrier.id, &mut out)?;
            self.route(From::Node(i), out)?;
            let ctx = &self.nodes[i].ctx;
            let (keyed, incremental) = ctx.state.snapshot(barrier.format, barrier.id)?;
            states.push(SubtaskSnapshot {
                operator_id: ctx.task.operator_id.clone(),
                name: ctx.task.operator_name.clone(),
                subtask: ctx.task.subtask_index,
                parallelism: ctx.task.parallelism,
                max_parallelism: ctx.task.max_parallelism,
                key_groups: ctx.key_groups,
                state: OperatorSubtaskState { keyed, operator: ctx.operator_state.snapshot()? },
                incremental,
            });
        }
        Ok(states)
    }

    /// Tells every operator that checkpoint `checkpoint_id` completed.
    pub fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        for node in &mut self.nodes {
            node.op.notify_checkpoint_complete(checkpoint_id)?;
        }
        Ok(())
    }

    /// Closes every operator, returning the first error.
    pub fn close(&mut self) -> Result<()> {
        let mut first = Ok(());
        for n in &mut self.nodes {
            let r = n.op.close();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    fn route(&mut self, from: From, out: ChainOutput) -> Result<()> {
        if let Some(batch) = out.main {
            self.route_batch(from, None, batch)?;
        }
        for (tag, batch) in out.side {
            self.route_batch(from, Some(&tag), batch)?;
        }
        if let Some(wm) = out.watermark {
            self.forward_watermark(from, wm)?;
        }
        Ok(())
    }

    fn route_batch(&mut self, from: From, tag: Option<&Arc<str>>, batch: AnyBatch) -> Result<()> {
        // The last matching target gets the batch itself, earlier ones a copy (no allocation per batch).
        let Some(last) = self.targets(from).iter().rposition(|t| t.tag.as_ref() == tag) else { return Ok(()) };
        let mut batch = Some(batch);
        for i in 0..=last {
            let target = &self.targets(from)[i];
            if target.tag.as_ref() != tag {
                continue;
            }
            let kind = target.kind;
            let b = if i == last {
                batch.take().expect("moved once")
            } else {
                batch.as_ref().expect("still here").duplicate()
            };
            match kind {
                TargetKind::Chained { node, input } => self.push_batch(node, input, b)?,
                TargetKind::Writer(w) => {
                    self.records_out += b.len() as u64;
                    self.writers[w].write(b)?;
                }
            }
        }
        Ok(())
    }

    fn forward_watermark(&mut self, from: From, watermark: Timestamp) -> Result<()> {
        for i in 0..self.targets(from).len() {
            match self.targets(from)[i].kind {
                TargetKind::Chained { node, .. } => self.push_watermark(node, watermark)?,
                TargetKind::Writer(w) => self.writers[w].broadcast(&Element::Watermark(watermark))?,
            }
        }
        Ok(())
    }
}
