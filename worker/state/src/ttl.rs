//! State time-to-live (Flink's `StateTtlConfig`): a value expires `ttl` after it was last written
//! (or also read, with [`TtlUpdate::OnReadAndWrite`]), measured in processing time. Expired values
//! are never returned and are removed when touched.

use ferroflink_core::clock::Clock;
use std::sync::Arc;
use std::time::Duration;

/// When a value's time-to-live restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TtlUpdate {
    /// On creation and every write (default).
    #[default]
    OnCreateAndWrite,
    /// Also on every read.
    OnReadAndWrite,
}

/// Time-to-live of a state's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateTtlConfig {
    /// How long a value lives.
    pub ttl: Duration,
    /// What refreshes it.
    pub update: TtlUpdate,
}

impl StateTtlConfig {
    /// Values expire `ttl` after their last write.
    pub fn new(ttl: Duration) -> Self {
        StateTtlConfig { ttl, update: TtlUpdate::OnCreateAndWrite }
    }

    /// Reads refresh the time-to-live too.
    pub fn refresh_on_read(mut self) -> Self {
        self.update = TtlUpdate::OnReadAndWrite;
        self
    }
}

/// A stored value with its expiry time (`i64::MAX`: never).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamped<V> {
    /// The value.
    pub value: V,
    /// Processing time after which it is gone.
    pub expires_at: i64,
}

/// A state's TTL policy bound to a clock.
#[derive(Clone, Debug)]
pub struct Ttl {
    config: Option<StateTtlConfig>,
    clock: Arc<dyn Clock>,
}

impl Ttl {
    /// The policy for `config` (`None`: values never expire).
    pub fn new(config: Option<StateTtlConfig>, clock: Arc<dyn Clock>) -> Self {
        Ttl { config, clock }
    }

    /// Stamps a value being written.
    pub fn stamp<V>(&self, value: V) -> Stamped<V> {
        Stamped { value, expires_at: self.expiry() }
    }

    fn expiry(&self) -> i64 {
        match self.config {
            Some(c) => self.clock.now().saturating_add(c.ttl.as_millis() as i64),
            None => i64::MAX,
        }
    }

    /// Whether a value has expired.
    #[inline]
    pub fn expired<V>(&self, s: &Stamped<V>) -> bool {
        s.expires_at != i64::MAX && self.clock.now() >= s.expires_at
    }

    /// Whether reads refresh the time-to-live.
    pub fn refreshes_on_read(&self) -> bool {
        self.config.is_some_and(|c| c.update == TtlUpdate::OnReadAndWrite)
    }

    /// Refreshes a value that was just read, if reads refresh.
    #[inline]
    pub fn on_read<V>(&self, s: &mut Stamped<V>) {
        if self.config.is_some_and(|c| c.update == TtlUpdate::OnReadAndWrite) {
            s.expires_at = self.expiry();
        }
    }
}
