//! Restart strategies (Flink's): after a task failure the job restarts from its latest completed
//! checkpoint, after a delay, until the strategy gives up. Failures the user must fix (an invalid job,
//! a snapshot that does not fit) are never retried.

use ferroflink_core::error::{Domain, Error};
use ferroflink_types::config::{RestartKind, RestartSection};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When and how often a failed job restarts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RestartStrategy {
    /// Never: the first failure fails the job.
    None,
    /// Up to `attempts` restarts, `delay` apart.
    FixedDelay {
        /// Restarts allowed.
        attempts: usize,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Unlimited restarts with a delay that grows by `multiplier` up to `max` and falls back to
    /// `initial` after `reset_after` without failure.
    ExponentialDelay {
        /// First delay.
        initial: Duration,
        /// Largest delay.
        max: Duration,
        /// Growth per failure.
        multiplier: f64,
        /// Quiet time after which the delay resets.
        reset_after: Duration,
    },
    /// Restarts `delay` apart while fewer than `max_failures` failures happened within `interval`.
    FailureRate {
        /// Failures tolerated per interval.
        max_failures: usize,
        /// The sliding interval.
        interval: Duration,
        /// Wait before each restart.
        delay: Duration,
    },
}

impl RestartStrategy {
    /// The strategy `restart-strategy.*` configures (`None` without `restart-strategy.type`: the
    /// default for the job's checkpoint settings).
    pub fn configured(section: &RestartSection) -> Option<Self> {
        Some(match section.kind? {
            RestartKind::None => RestartStrategy::None,
            RestartKind::FixedDelay => RestartStrategy::FixedDelay { attempts: section.attempts, delay: section.delay },
            RestartKind::ExponentialDelay => RestartStrategy::ExponentialDelay {
                initial: section.delay,
                max: section.max_delay,
                multiplier: 2.0,
                reset_after: Duration::from_secs(3600),
            },
            RestartKind::FailureRate => RestartStrategy::FailureRate {
                max_failures: section.attempts,
                interval: section.failure_rate_interval,
                delay: section.delay,
            },
        })
    }

    /// Flink's default: exponential delay (1 s doubling up to 1 min) when checkpoints are on,
    /// otherwise none.
    pub fn default_for(checkpointing: bool) -> Self {
        if checkpointing {
            RestartStrategy::ExponentialDelay {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
                multiplier: 2.0,
                reset_after: Duration::from_secs(3600),
            }
        } else {
            RestartStrategy::None
        }
    }
}

/// Applies a strategy to a job's failures.
#[derive(Debug)]
pub struct RestartTracker {
    strategy: RestartStrategy,
    restarts: usize,
    failures: VecDeque<Instant>,
    next_delay: Option<Duration>,
}

impl RestartTracker {
    /// A tracker with no failures yet.
    pub fn new(strategy: RestartStrategy) -> Self {
        RestartTracker { strategy, restarts: 0, failures: VecDeque::new(), next_delay: None }
    }

    /// Restarts so far.
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// After `error` at `now`: the delay before restarting, or `None` to fail the job.
    pub fn on_failure(&mut self, error: &Error, now: Instant) -> Option<Duration> {
        if error.domain() == Domain::User {
            return None;
        }
        let last = self.failures.back().copied();
        self.failures.push_back(now);
        let delay = match self.strategy {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => (self.restarts < attempts).then_some(delay),
            RestartStrategy::ExponentialDelay { initial, max, multiplier, reset_after } => {
                let quiet = last.is_none_or(|l| now.duration_since(l) >= reset_after);
                let delay = match self.next_delay {
                    Some(d) if !quiet => d,
                    _ => initial,
                };
                self.next_delay = Some(delay.mul_f64(multiplier.max(1.0)).min(max));
                Some(delay)
            }
            RestartStrategy::FailureRate { max_failures, interval, delay } => {
                while self.failures.front().is_some_and(|f| now.duration_since(*f) > interval) {
                    self.failures.pop_front();
                }
                (self.failures.len() <= max_failures).then_some(delay)
            }
        };
        if delay.is_some() {
            self.restarts += 1;
        }
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Error {
        Error::io("reading", std::io::Error::other("boom"))
    }

    #[test]
    fn strategies_follow_their_rules() {
        let t0 = Instant::now();
        let mut fixed = RestartTracker::new(RestartStrategy::FixedDelay { attempts: 2, delay: Duration::from_secs(1) });
        assert_eq!(fixed.on_failure(&failure(), t0), Some(Duration::from_secs(1)));
        assert_eq!(fixed.on_failure(&failure(), t0), Some(Duration::from_secs(1)));
        assert_eq!(fixed.on_failure(&failure(), t0), None);
        assert_eq!(fixed.restarts(), 2);

        let mut exp = RestartTracker::new(RestartStrategy::default_for(true));
        let secs: Vec<u64> =
            (0..8).map(|i| exp.on_failure(&failure(), t0 + Duration::from_secs(i)).unwrap().as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(exp.on_failure(&failure(), t0 + Duration::from_secs(5000)), Some(Duration::from_secs(1)));

        let mut rate = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures: 2,
            interval: Duration::from_secs(10),
            delay: Duration::ZERO,
        });
        assert!(rate.on_failure(&failure(), t0).is_some());
        assert!(rate.on_failure(&failure(), t0 + Duration::from_secs(1)).is_some());
        assert!(rate.on_failure(&failure(), t0 + Duration::from_secs(2)).is_none());
        let mut rate2 = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures: 1,
            interval: Duration::from_secs(10),
            delay: Duration::ZERO,
        });
        assert!(rate2.on_failure(&failure(), t0).is_some());
        assert!(
            rate2.on_failure(&failure(), t0 + Duration::from_secs(11)).is_some(),
            "the old failure left the window"
        );

        assert_eq!(RestartTracker::new(RestartStrategy::None).on_failure(&failure(), t0), None);
        let user = Error::InvalidJob("bad".into());
        assert_eq!(RestartTracker::new(RestartStrategy::default_for(true)).on_failure(&user, t0), None);
    }
}
