//! Per-task metrics: records in and out, and where the task's time went (busy, idle waiting for
//! input, back-pressured waiting for output space).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one subtask, shared with the cluster for progress reporting.
#[derive(Debug)]
pub struct TaskMetrics {
    /// Records that entered the task (read from the source, for source tasks).
    pub records_in: AtomicU64,
    /// Records the task sent downstream.
    pub records_out: AtomicU64,
    /// Records written by sink operators in this task.
    pub sink_records: AtomicU64,
    /// Malformed records a source skipped (Flink's `numRecordsInErrors`), as its format allows.
    pub records_in_errors: AtomicU64,
    /// Nanoseconds spent waiting for input.
    pub idle_ns: AtomicU64,
    /// Nanoseconds spent blocked on full output channels.
    pub backpressured_ns: AtomicU64,
    /// Nanoseconds from start to finish, once finished (see [`TaskMetrics::total`]).
    pub total_ns: AtomicU64,
    /// When the task started running.
    pub started: std::sync::OnceLock<std::time::Instant>,
    /// Current input watermark (ms), `i64::MIN` before the first.
    pub watermark: AtomicI64,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        TaskMetrics {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            sink_records: AtomicU64::new(0),
            records_in_errors: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            started: std::sync::OnceLock::new(),
            watermark: AtomicI64::new(i64::MIN),
        }
    }
}

impl TaskMetrics {
    /// Adds blocked-on-output time.
    pub fn add_backpressured(&self, d: Duration) {
        self.backpressured_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds waiting-for-input time.
    pub fn add_idle(&self, d: Duration) {
        self.idle_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Nanoseconds the task ran: from start to finish, or to now while it runs.
    pub fn total(&self) -> u64 {
        match self.total_ns.load(Ordering::Relaxed) {
            0 => self.started.get().map_or(0, |s| s.elapsed().as_nanos() as u64),
            total => total,
        }
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> TaskMetricsSnapshot {
        let total = self.total();
        let idle = self.idle_ns.load(Ordering::Relaxed);
        let bp = self.backpressured_ns.load(Ordering::Relaxed);
        TaskMetricsSnapshot {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            sink_records: self.sink_records.load(Ordering::Relaxed),
            records_in_errors: self.records_in_errors.load(Ordering::Relaxed),
            idle: Duration::from_nanos(idle),
            backpressured: Duration::from_nanos(bp),
            busy: Duration::from_nanos(total.saturating_sub(idle + bp)),
            watermark: Some(self.watermark.load(Ordering::Relaxed)).filter(|w| *w != i64::MIN),
        }
    }
}

/// A copy of [`TaskMetrics`] at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskMetricsSnapshot {
    /// See [`TaskMetrics::records_in`].
    pub records_in: u64,
    /// See [`TaskMetrics::records_out`].
    pub records_out: u64,
    /// See [`TaskMetrics::sink_records`].
    pub sink_records: u64,
    /// See [`TaskMetrics::records_in_errors`].
    pub records_in_errors: u64,
    /// Time spent processing.
    pub busy: Duration,
    /// Time spent waiting for input.
    pub idle: Duration,
    /// Time spent blocked on output.
    pub backpressured: Duration,
    /// The task's input watermark (ms), once it has one.
    pub watermark: Option<i64>,
}
