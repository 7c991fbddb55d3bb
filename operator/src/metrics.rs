//! The operator's Prometheus metrics (`ferroflink_operator_*`): reconciles, failures, durations,
//! and whether this replica leads.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The metrics, registered in [`Metrics::registry`].
pub struct Metrics {
    /// Everything, for encoding.
    pub registry: Registry,
    reconciles: Counter,
    failures: Counter,
    duration: Histogram,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ferroflink_operator");
        let reconciles = Counter::default();
        let failures = Counter::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        let leader = Gauge::default();
        registry.register("reconciles", "FlinkJob reconcile passes", reconciles.clone());
        registry.register("reconcile_failures", "Reconcile passes that failed", failures.clone());
        registry.register("reconcile_duration_seconds", "Time per reconcile pass", duration.clone());
        registry.register("leader", "1 while this replica holds the leader lease", leader.clone());
        Metrics { registry, reconciles, failures, duration, leader }
    }
}

impl Metrics {
    /// Records one pass.
    pub fn reconciled(&self, took: Duration, ok: bool) {
        self.reconciles.inc();
        if !ok {
            self.failures.inc();
        }
        self.duration.observe(took.as_secs_f64());
    }

    /// Records leadership.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_counters() {
        let m = Metrics::default();
        m.reconciled(Duration::from_millis(20), true);
        m.reconciled(Duration::from_millis(30), false);
        m.set_leader(true);
        let text = m.encode();
        assert!(text.contains("ferroflink_operator_reconciles_total 2"), "{text}");
        assert!(text.contains("ferroflink_operator_reconcile_failures_total 1"), "{text}");
        assert!(text.contains("ferroflink_operator_reconcile_duration_seconds_count 2"), "{text}");
        assert!(text.contains("ferroflink_operator_leader 1"), "{text}");
    }
}
