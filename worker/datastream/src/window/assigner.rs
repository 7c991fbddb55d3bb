//! Window assigners and the time window type.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A half-open interval of time `[start, end)` in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeWindow {
    /// First ms in the window.
    pub start: i64,
    /// First ms after the window.
    pub end: i64,
}

impl TimeWindow {
    /// A window `[start, end)`.
    pub fn new(start: i64, end: i64) -> Self {
        TimeWindow { start, end }
    }

    /// The last timestamp in the window: when it fires, and the timestamp of its results.
    pub fn max_timestamp(&self) -> i64 {
        self.end.saturating_sub(1)
    }

    /// Whether the windows overlap or touch (Flink merges touching session windows).
    pub fn intersects(&self, other: &TimeWindow) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// The smallest window covering both.
    pub fn cover(&self, other: &TimeWindow) -> TimeWindow {
        TimeWindow { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// The start of the window of `size` (shifted by `offset`) that contains `timestamp`.
pub fn window_start(timestamp: i64, offset: i64, size: i64) -> i64 {
    timestamp - (timestamp - offset).rem_euclid(size)
}

/// Whether windows are driven by event time or processing time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowTime {
    /// Element timestamps and watermarks.
    EventTime,
    /// The wall clock at arrival.
    ProcessingTime,
}

/// How elements are grouped into windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Fixed-size, non-overlapping windows.
    Tumbling {
        /// Window length (ms).
        size: i64,
        /// Shift of window starts (ms).
        offset: i64,
        /// Time domain.
        time: WindowTime,
    },
    /// Fixed-size windows starting every `slide`.
    Sliding {
        /// Window length (ms).
        size: i64,
        /// Distance between window starts (ms).
        slide: i64,
        /// Shift of window starts (ms).
        offset: i64,
        /// Time domain.
        time: WindowTime,
    },
    /// Windows that share a start every `size` and end every `step` up to it: `[s, s + step)`,
    /// `[s, s + 2 step)`, .., `[s, s + size)` (Flink SQL's `CUMULATE`).
    Cumulative {
        /// Length of the largest window (ms), a multiple of `step`.
        size: i64,
        /// Distance between window ends (ms).
        step: i64,
        /// Shift of window starts (ms).
        offset: i64,
        /// Time domain.
        time: WindowTime,
    },
    /// Windows that grow while elements arrive less than `gap` apart, merging when they meet.
    Session {
        /// Inactivity gap (ms).
        gap: i64,
        /// Time domain.
        time: WindowTime,
    },
    /// One window per key over all time, firing when input ends.
    Global,
}

impl WindowAssigner {
    /// The time domain.
    pub fn time(&self) -> WindowTime {
        match *self {
            WindowAssigner::Tumbling { time, .. }
            | WindowAssigner::Sliding { time, .. }
            | WindowAssigner::Cumulative { time, .. }
            | WindowAssigner::Session { time, .. } => time,
            WindowAssigner::Global => WindowTime::EventTime,
        }
    }

    /// Why the assigner is invalid, if it is.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            WindowAssigner::Tumbling { size, offset, .. } if size <= 0 || offset.abs() >= size => {
                Err(format!("tumbling window needs size > 0 and |offset| < size (size {size} ms, offset {offset} ms)"))
            }
            WindowAssigner::Sliding { size, slide, offset, .. } if size <= 0 || slide <= 0 || offset.abs() >= slide => {
                Err(format!(
                    "sliding window needs size > 0, slide > 0 and |offset| < slide (size {size} ms, slide {slide} ms, offset {offset} ms)"
                ))
            }
            WindowAssigner::Cumulative { size, step, offset, .. }
                if step <= 0 || size <= 0 || size % step != 0 || offset.abs() >= size =>
            {
                Err(format!(
                    "cumulative window needs step > 0, a size that is a multiple of it and |offset| < size (size {size} ms, step {step} ms, offset {offset} ms)"
                ))
            }
            WindowAssigner::Session { gap, .. } if gap <= 0 => Err(format!("session gap must be > 0 (got {gap} ms)")),
            _ => Ok(()),
        }
    }
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Tumbling windows on event time.
#[derive(Debug)]
pub struct TumblingEventTimeWindows;
impl TumblingEventTimeWindows {
    /// Windows of `size`.
    pub fn of(size: Duration) -> WindowAssigner {
        WindowAssigner::Tumbling { size: ms(size), offset: 0, time: WindowTime::EventTime }
    }
    /// Windows of `size` starting at `offset` past multiples of `size`.
    pub fn of_with_offset(size: Duration, offset: Duration) -> WindowAssigner {
        WindowAssigner::Tumbling { size: ms(size), offset: ms(offset), time: WindowTime::EventTime }
    }
}

/// Sliding windows on event time.
#[derive(Debug)]
pub struct SlidingEventTimeWindows;
impl SlidingEventTimeWindows {
    /// Windows of `size` starting every `slide`.
    pub fn of(size: Duration, slide: Duration) -> WindowAssigner {
        WindowAssigner::Sliding { size: ms(size), slide: ms(slide), offset: 0, time: WindowTime::EventTime }
    }
}

/// Session windows on event time.
#[derive(Debug)]
pub struct EventTimeSessionWindows;
impl EventTimeSessionWindows {
    /// Sessions closed by `gap` of inactivity.
    pub fn with_gap(gap: Duration) -> WindowAssigner {
        WindowAssigner::Session { gap: ms(gap), time: WindowTime::EventTime }
    }
}

/// Tumbling windows on processing time.
#[derive(Debug)]
pub struct TumblingProcessingTimeWindows;
impl TumblingProcessingTimeWindows {
    /// Windows of `size`.
    pub fn of(size: Duration) -> WindowAssigner {
        WindowAssigner::Tumbling { size: ms(size), offset: 0, time: WindowTime::ProcessingTime }
    }
}

/// Sliding windows on processing time.
#[derive(Debug)]
pub struct SlidingProcessingTimeWindows;
impl SlidingProcessingTimeWindows {
    /// Windows of `size` starting every `slide`.
    pub fn of(size: Duration, slide: Duration) -> WindowAssigner {
        WindowAssigner::Sliding { size: ms(size), slide: ms(slide), offset: 0, time: WindowTime::ProcessingTime }
    }
}

/// Session windows on processing time.
#[derive(Debug)]
pub struct ProcessingTimeSessionWindows;
impl ProcessingTimeSessionWindows {
    /// Sessions closed by `gap` of inactivity.
    pub fn with_gap(gap: Duration) -> WindowAssigner {
        WindowAssigner::Session { gap: ms(gap), time: WindowTime::ProcessingTime }
    }
}

/// One window per key, firing at end of input (Flink's `GlobalWindows.createWithEndOfStreamTrigger`).
#[derive(Debug)]
pub struct GlobalWindows;
impl GlobalWindows {
    /// The global window with an end-of-stream trigger.
    pub fn create_with_end_of_stream_trigger() -> WindowAssigner {
        WindowAssigner::Global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_start_handles_offsets_and_negative_time() {
        assert_eq!(window_start(12_345, 0, 5_000), 10_000);
        assert_eq!(window_start(10_000, 0, 5_000), 10_000);
        assert_eq!(window_start(9_999, 0, 5_000), 5_000);
        assert_eq!(window_start(-1, 0, 5_000), -5_000);
        assert_eq!(window_start(12_345, 1_000, 5_000), 11_000);
        assert!(TimeWindow::new(0, 10).intersects(&TimeWindow::new(10, 20)));
        assert!(!TimeWindow::new(0, 10).intersects(&TimeWindow::new(11, 20)));
        assert!(SlidingEventTimeWindows::of(Duration::from_secs(1), Duration::ZERO).validate().is_err());
    }
}
