//! A task: one parallel instance of a job vertex, run on its own thread. It drives its operator
//! chain from a source reader or from its input gate, fires processing-time timers, flushes output
//! when its input runs dry, and stops on end of input, failure or cancellation.

use crate::error::{Error, Result};
use crate::runtime::chain::Chain;
use crate::runtime::context::TaskInfo;
use crate::runtime::element::Element;
use crate::runtime::gate::{GateEvent, InputGate};
use crate::runtime::metrics::TaskMetrics;
use crate::runtime::source::{SourceDriver, SourceStep};
use crate::time::clock::Clock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting task looks at the cancel flag.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

/// Where a task's input comes from.
pub enum TaskInput {
    /// A source reader.
    Source(Box<dyn SourceDriver>),
    /// Channels from upstream tasks.
    Gate(InputGate),
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
}

impl Task {
    /// Runs the task to completion. Operators are closed whatever happens.
    pub fn run(mut self) -> Result<()> {
        let started = Instant::now();
        let result = self.run_inner();
        let closed = self.chain.close();
        if let TaskInput::Source(s) = &mut self.input {
            let _ = s.close();
        }
        self.metrics.total_ns.store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.metrics.records_out.store(self.chain.records_out, Ordering::Relaxed);
        result.and(closed)
    }

    fn run_inner(&mut self) -> Result<()> {
        match &mut self.input {
            TaskInput::Source(_) => self.run_source(),
            TaskInput::Gate(_) => self.run_gate(),
        }
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

    fn run_source(&mut self) -> Result<()> {
        let TaskInput::Source(driver) = &mut self.input else { unreachable!() };
        driver.open(self.info.parallelism, self.info.subtask_index)?;
        loop {
            if self.cancelled() {
                return Err(Error::Cancelled);
            }
            let TaskInput::Source(driver) = &mut self.input else { unreachable!() };
            match driver.poll(&mut self.chain)? {
                SourceStep::Continue => {}
                SourceStep::Wait(d) => {
                    self.chain.flush()?;
                    let wait = self.wait_budget(d);
                    std::thread::sleep(wait);
                    self.metrics.add_idle(wait);
                }
                SourceStep::Finished => return self.chain.finish(),
            }
            self.fire_timers()?;
        }
    }

    fn run_gate(&mut self) -> Result<()> {
        loop {
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
                }
                GateEvent::Watermark(wm) => {
                    self.metrics.watermark.store(wm, Ordering::Relaxed);
                    self.chain.push_watermark(0, wm)?;
                }
                GateEvent::Idle(idle) => self.chain.broadcast(&Element::Idle(idle))?,
                GateEvent::Barrier(b) => self.chain.broadcast(&Element::Barrier(b))?,
                GateEvent::EndOfInput => return self.chain.finish(),
                GateEvent::Timeout => {}
                GateEvent::UpstreamLost => return Err(Error::Cancelled),
            }
            self.fire_timers()?;
        }
    }
}
