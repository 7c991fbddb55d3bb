//! A task: one parallel instance of a job vertex, run on its own thread. It drives its operator
//! chain from a source reader or from its input gate, fires processing-time timers, flushes output
//! when its input runs dry, and stops on end of input, failure or cancellation.

use crate::chain::Chain;
use crate::checkpoint::coordinator::{SnapshotSender, TaskEvents};
use crate::checkpoint::{SubtaskSnapshot, TaskCommand, TaskSnapshot};
use crate::context::TaskInfo;
use crate::gate::{GateEvent, InputGate};
use crate::metrics::TaskMetrics;
use crate::source::{SourceDriver, SourceStep, SplitChannel};
use crossbeam_channel::Receiver;
use ferroflink_core::clock::Clock;
use ferroflink_core::element::{CheckpointBarrier, Element};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_state::snapshot::OperatorSubtaskState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting task looks at the cancel flag.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

/// Where a task's input comes from.
pub enum TaskInput {
    /// A source reader and its way to the source's enumerator.
    Source(Box<dyn SourceDriver>, SplitChannel),
    /// Channels from upstream tasks.
    Gate(InputGate),
}

/// A task's part in checkpointing.
pub struct TaskCheckpointing {
    /// Index of the task in its job attempt.
    pub task: usize,
    /// The attempt.
    pub attempt: u64,
    /// Commands from the coordinator.
    pub commands: Receiver<TaskCommand>,
    /// Where snapshots go.
    pub snapshots: SnapshotSender,
    /// Where the task reports that it finished its input.
    pub events: Arc<dyn TaskEvents>,
    /// After finishing, wait for the job's final checkpoint (checkpoints are on) instead of ending.
    pub await_final_checkpoint: bool,
    /// State the source restores from.
    pub source_state: Option<OperatorSubtaskState>,
    /// The newest checkpoint this task snapshotted.
    pub last_snapshot: u64,
    /// The newest checkpoint triggered while the task waited for its barrier.
    pub max_triggered: Option<CheckpointBarrier>,
}

/// Whether the task goes on after its commands.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

/// Everything a task thread needs.
pub struct Task {
    /// Who it is.
    pub info: TaskInfo,
    /// Its operators and writers.
    pub chain: Chain,
    /// Its input.
    pub input: TaskInput,
    /// Processing-time clock.
    pub clock: Arc<dyn Clock>,
    /// Set to stop every task of the job.
    pub cancel: Arc<AtomicBool>,
    /// Its counters.
    pub metrics: Arc<TaskMetrics>,
    /// Checkpointing.
    pub checkpointing: TaskCheckpointing,
}

impl Task {
    /// Runs the task to completion. Operators are closed whatever happens.
    pub fn run(mut self) -> Result<()> {
        let started = *self.metrics.started.get_or_init(Instant::now);
        let result = self.run_inner();
        let closed = self.chain.close();
        if let TaskInput::Source(s, _) = &mut self.input {
            let _ = s.close();
        }
        self.metrics.total_ns.store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.metrics.records_out.store(self.chain.records_out, Ordering::Relaxed);
        result.and(closed)
    }

    fn run_inner(&mut self) -> Result<()> {
        let ended = match &mut self.input {
            TaskInput::Source(..) => self.run_source()?,
            TaskInput::Gate(_) => self.run_gate()?,
        };
        if ended == Flow::Exit {
            return Ok(());
        }
        self.chain.finish()?;
        self.after_finish()
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// How long to wait for input before the next processing-time timer (bounded by the cancel check).
    fn wait_budget(&self, cap: Duration) -> Duration {
        let cap = cap.min(CANCEL_CHECK);
        match self.chain.next_processing_time() {
            Some(t) => Duration::from_millis((t - self.clock.now()).clamp(0, cap.as_millis() as i64) as u64),
            None => cap,
        }
    }

    fn fire_timers(&mut self) -> Result<()> {
        if let Some(t) = self.chain.next_processing_time() {
            let now = self.clock.now();
            if t <= now {
                self.chain.fire_processing_time(now)?;
            }
        }
        Ok(())
    }

    fn is_source(&self) -> bool {
        matches!(self.input, TaskInput::Source(..))
    }

    /// Carries out the coordinator's commands, waiting up to `wait` for the first one.
    fn handle_commands(&mut self, wait: Option<Duration>, finished: bool) -> Result<Flow> {
        let cp = &self.checkpointing;
        let mut commands: Vec<TaskCommand> = match wait {
            Some(d) => cp.commands.recv_timeout(d).into_iter().collect(),
            None => Vec::new(),
        };
        commands.extend(cp.commands.try_iter());
        for command in commands {
            match command {
                TaskCommand::Trigger(barrier) if self.is_source() || finished => self.checkpoint(barrier, finished)?,
                TaskCommand::Trigger(barrier) => {
                    // Snapshotted when the barrier arrives on every input (or at the end of input).
                    let newest = &mut self.checkpointing.max_triggered;
                    if newest.is_none_or(|b| b.id < barrier.id) {
                        *newest = Some(barrier);
                    }
                }
                TaskCommand::Complete { checkpoint_id, then_exit } => {
                    self.chain.notify_checkpoint_complete(checkpoint_id)?;
                    if then_exit {
                        return Ok(Flow::Exit);
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Snapshots the task for `barrier`'s checkpoint, then (while running) forwards the barrier.
    fn checkpoint(&mut self, barrier: CheckpointBarrier, finished: bool) -> Result<()> {
        if barrier.id <= self.checkpointing.last_snapshot {
            return Ok(());
        }
        self.checkpointing.last_snapshot = barrier.id;
        let mut states = Vec::new();
        if let TaskInput::Source(driver, _) = &self.input {
            states.push(SubtaskSnapshot {
                operator_id: self.info.operator_id.clone(),
                name: self.info.operator_name.clone(),
                subtask: self.info.subtask_index,
                parallelism: self.info.parallelism,
                max_parallelism: self.info.max_parallelism,
                key_groups: KeyGroupRange::for_operator(
                    self.info.max_parallelism,
                    self.info.parallelism,
                    self.info.subtask_index,
                ),
                state: driver.snapshot()?,
                incremental: None,
            });
        }
        states.extend(self.chain.snapshot(&barrier)?);
        let cp = &self.checkpointing;
        cp.snapshots.send(TaskSnapshot { attempt: cp.attempt, checkpoint_id: barrier.id, task: cp.task, states });
        if !finished {
            self.chain.broadcast(&Element::Barrier(barrier))?;
        }
        Ok(())
    }

    /// After end of input: count the task as finished and, with checkpoints on, take part in the
    /// checkpoints still to come until the final one completes (so sinks commit exactly once).
    fn after_finish(&mut self) -> Result<()> {
        self.chain.flush()?;
        self.checkpointing.events.finished(self.checkpointing.task);
        if !self.checkpointing.await_final_checkpoint {
            return Ok(());
        }
        if let Some(missed) = self.checkpointing.max_triggered.filter(|b| b.id > self.checkpointing.last_snapshot) {
            self.checkpoint(missed, true)?;
        }
        loop {
            if self.handle_commands(Some(CANCEL_CHECK), true)? == Flow::Exit {
                return Ok(());
            }
            if self.cancelled() {
                return Err(Error::Cancelled);
            }
        }
    }

    fn run_source(&mut self) -> Result<Flow> {
        let TaskInput::Source(driver, splits) = &mut self.input else { unreachable!() };
        let restored = self.checkpointing.source_state.take();
        driver.open(splits.clone(), restored)?;
        loop {
            if self.handle_commands(None, false)? == Flow::Exit {
                return Ok(Flow::Exit);
            }
            if self.cancelled() {
                return Err(Error::Cancelled);
            }
            let TaskInput::Source(driver, _) = &mut self.input else { unreachable!() };
            match driver.poll(&mut self.chain, self.checkpointing.last_snapshot)? {
                SourceStep::Continue => {}
                SourceStep::Wait(d) => {
                    self.chain.flush()?;
                    let wait = self.wait_budget(d);
                    std::thread::sleep(wait);
                    self.metrics.add_idle(wait);
                }
                SourceStep::Finished => return Ok(Flow::Continue),
            }
            self.fire_timers()?;
        }
    }

    fn run_gate(&mut self) -> Result<Flow> {
        loop {
            if self.handle_commands(None, false)? == Flow::Exit {
                return Ok(Flow::Exit);
            }
            if self.cancelled() {
                return Err(Error::Cancelled);
            }
            let TaskInput::Gate(gate) = &mut self.input else { unreachable!() };
            let event = match gate.try_next() {
                Some(ev) => ev,
                None => {
                    self.chain.flush()?;
                    let deadline = Instant::now() + self.wait_budget(CANCEL_CHECK);
                    let waited = Instant::now();
                    let TaskInput::Gate(gate) = &mut self.input else { unreachable!() };
                    let ev = gate.next(deadline);
                    self.metrics.add_idle(waited.elapsed());
                    ev
                }
            };
            match event {
                GateEvent::Batch(input, batch) => {
                    self.metrics.records_in.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.chain.push_batch(0, input, batch)?;
                    self.metrics.records_out.store(self.chain.records_out, Ordering::Relaxed);
                }
                GateEvent::Watermark(wm) => {
                    self.metrics.watermark.store(wm, Ordering::Relaxed);
                    self.chain.push_watermark(0, wm)?;
                }
                GateEvent::Idle(idle) => self.chain.broadcast(&Element::Idle(idle))?,
                GateEvent::Barrier(b) => self.checkpoint(b, false)?,
                GateEvent::EndOfInput => return Ok(Flow::Continue),
                GateEvent::Timeout => {}
                GateEvent::UpstreamLost => {
                    // An upstream task ended early: after a stop-with-savepoint that is expected, and
                    // this task's own command to end is already queued.
                    return match self.handle_commands(None, false)? {
                        Flow::Exit => Ok(Flow::Exit),
                        Flow::Continue => Err(Error::Cancelled),
                    };
                }
            }
            self.fire_timers()?;
        }
    }
}
