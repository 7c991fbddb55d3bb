//! State time-to-live (Flink's `StateTtlConfig`): a value expires `ttl` after it was last written
//! (or also read, with [`TtlUpdate::OnReadAndWrite`]), measured in processing time. A read never
//! returns an expired value unless [`StateVisibility::ReturnExpiredIfNotCleanedUp`] asks for it;
//! either way the read deletes it.
//!
//! Expired values are also cleaned up when nobody reads them: the heap backend checks a few
//! entries on every access to a state with TTL (Flink's incremental cleanup), RocksDB drops them in
//! a compaction filter, and snapshots never hold them.
//!
//! Stored form (the canonical snapshot and RocksDB rows): a value is `[expiry][value]` with the
//! expiry first, an LEB128 `u64` (`0`: never expires, else the expiry time in ms plus one), so
//! a compaction filter or a snapshot reads expiries without knowing the value type. A list is its
//! elements back to back, each `[length][expiry][value]` (length in LEB128), which is what
//! RocksDB's merge operator appends.

use crate::snapshot::{leb128, push_len_prefixed, take_len_prefixed};
use ferroflink_core::clock::Clock;
use ferroflink_core::codec::encode;
use ferroflink_core::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;
use std::time::Duration;

/// When a value's time-to-live restarts (Flink's `StateTtlConfig.UpdateType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TtlUpdate {
    /// On creation and every write (default).
    #[default]
    OnCreateAndWrite,
    /// Also on every read.
    OnReadAndWrite,
}

/// Whether a read may return an expired value that is still stored (Flink's
/// `StateTtlConfig.StateVisibility`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StateVisibility {
    /// Never (default).
    #[default]
    NeverReturnExpired,
    /// Returns it once, as long as no cleanup removed it; the read removes it.
    ReturnExpiredIfNotCleanedUp,
}

/// Time-to-live of a state's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateTtlConfig {
    /// How long a value lives.
    pub ttl: Duration,
    /// What refreshes it.
    pub update: TtlUpdate,
    /// Whether expired values may still be read.
    pub visibility: StateVisibility,
    /// Heap backend: entries checked for expiry per state access (Flink's incremental cleanup
    /// size, default 5).
    pub cleanup_size: usize,
    /// RocksDB backend: table files older than this are compacted (dropping expired values) even
    /// when nothing else would compact them (default: the TTL itself).
    pub periodic_compaction: Option<Duration>,
}

impl StateTtlConfig {
    /// Values expire `ttl` after their last write.
    pub fn new(ttl: Duration) -> Self {
        StateTtlConfig {
            ttl,
            update: TtlUpdate::OnCreateAndWrite,
            visibility: StateVisibility::NeverReturnExpired,
            cleanup_size: 5,
            periodic_compaction: None,
        }
    }

    /// Reads refresh the time-to-live too.
    pub fn refresh_on_read(mut self) -> Self {
        self.update = TtlUpdate::OnReadAndWrite;
        self
    }

    /// Sets when the time-to-live restarts.
    pub fn with_update(mut self, update: TtlUpdate) -> Self {
        self.update = update;
        self
    }

    /// Sets whether expired values may still be read.
    pub fn with_visibility(mut self, visibility: StateVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Heap backend: checks `entries` entries for expiry on every access (Flink's
    /// `cleanupIncrementally`).
    pub fn cleanup_incrementally(mut self, entries: usize) -> Self {
        self.cleanup_size = entries;
        self
    }

    /// RocksDB backend: compacts table files older than `age` (Flink's
    /// `cleanupInRocksdbCompactFilter` periodic compaction time).
    pub fn cleanup_in_rocksdb_compact_filter(mut self, age: Duration) -> Self {
        self.periodic_compaction = Some(age);
        self
    }
}

/// Expiry of a value that never expires.
pub const NEVER: i64 = i64::MAX;

/// A stored value with its expiry time ([`NEVER`]: never). Serialized expiry first (see the
/// module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped<V> {
    /// Processing time from which it is gone.
    #[serde(serialize_with = "put_expiry", deserialize_with = "take_expiry")]
    pub expires_at: i64,
    /// The value.
    pub value: V,
}

fn put_expiry<S: Serializer>(expires_at: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(if *expires_at == NEVER { 0 } else { (*expires_at).max(0) as u64 + 1 })
}

fn take_expiry<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(match u64::deserialize(d)? {
        0 => NEVER,
        n => i64::try_from(n - 1).unwrap_or(NEVER - 1),
    })
}

/// The expiry of a stored value, without decoding the value.
pub fn stored_expiry(bytes: &[u8]) -> Result<i64> {
    Ok(match leb128(bytes)?.0 {
        0 => NEVER,
        n => i64::try_from(n - 1).unwrap_or(NEVER - 1),
    })
}

/// Whether a value expiring at `expires_at` is gone at `now`.
#[inline]
pub fn is_expired(expires_at: i64, now: i64) -> bool {
    expires_at != NEVER && now >= expires_at
}

/// The stored elements of a list (see the module documentation), each as stored.
pub fn list_elements(mut bytes: &[u8]) -> impl Iterator<Item = Result<&[u8]>> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        Some(match take_len_prefixed(bytes) {
            Ok((element, rest)) => {
                bytes = rest;
                Ok(element)
            }
            Err(e) => {
                bytes = &[];
                Err(e)
            }
        })
    })
}

/// Appends one element to a stored list.
pub fn push_list_element<V: Serialize>(buf: &mut Vec<u8>, element: &Stamped<V>) -> Result<()> {
    push_len_prefixed(buf, &encode(element)?);
    Ok(())
}

/// Decodes a stored list.
pub fn decode_list<V: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<Stamped<V>>> {
    list_elements(bytes).map(|e| ferroflink_core::codec::decode(e?)).collect()
}

/// The live part of a stored list at `now` (`None`: nothing expired, keep it as it is; empty:
/// everything did).
pub fn live_list(bytes: &[u8], now: i64) -> Result<Option<Vec<u8>>> {
    let (mut live, mut rest, mut start): (Option<Vec<u8>>, _, _) = (None, bytes, 0);
    while !rest.is_empty() {
        let (element, after) = take_len_prefixed(rest)?;
        let end = bytes.len() - after.len();
        if is_expired(stored_expiry(element)?, now) {
            live.get_or_insert_with(|| bytes[..start].to_vec());
        } else if let Some(live) = &mut live {
            live.extend_from_slice(&bytes[start..end]);
        }
        (rest, start) = (after, end);
    }
    Ok(live)
}

/// Converts a stored value of format 1 (see [`crate::snapshot::VALUE_FORMAT`]) into this format.
pub(crate) type Upgrade = fn(&[u8]) -> Result<Vec<u8>>;

/// Format 1 of stored values: a value was `(value, expiry)` (expiry zigzag-encoded), a list one
/// sequence of those, a map row `(user key, value, expiry)`.
pub(crate) mod v1 {
    use super::{Stamped, push_list_element};
    use ferroflink_core::codec::{decode, encode};
    use ferroflink_core::error::Result;
    use ferroflink_core::record::{Data, Key};

    /// A value state's value.
    pub fn value<V: Data>(bytes: &[u8]) -> Result<Vec<u8>> {
        let (value, expires_at): (V, i64) = decode(bytes)?;
        encode(&Stamped { expires_at, value })
    }

    /// A list state's list.
    pub fn list<V: Data>(bytes: &[u8]) -> Result<Vec<u8>> {
        let mut list = Vec::new();
        for (value, expires_at) in decode::<Vec<(V, i64)>>(bytes)? {
            push_list_element(&mut list, &Stamped { expires_at, value })?;
        }
        Ok(list)
    }

    /// A map state's row.
    pub fn map_row<UK: Key, UV: Data>(bytes: &[u8]) -> Result<Vec<u8>> {
        let (user_key, value, expires_at): (UK, UV, i64) = decode(bytes)?;
        encode(&(user_key, Stamped { expires_at, value }))
    }
}

/// What a read found.
pub enum Read {
    /// A live value (its expiry refreshed if reads refresh: write it back when `refreshed`).
    Live {
        /// Whether the expiry changed.
        refreshed: bool,
    },
    /// An expired value: delete it; return it only if `visible`.
    Expired {
        /// Whether the read returns it anyway.
        visible: bool,
    },
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

    /// The configuration.
    pub fn config(&self) -> Option<&StateTtlConfig> {
        self.config.as_ref()
    }

    /// Processing time now.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Stamps a value being written.
    pub fn stamp<V>(&self, value: V) -> Stamped<V> {
        Stamped { value, expires_at: self.expiry() }
    }

    /// The expiry of a value written now.
    pub fn expiry(&self) -> i64 {
        match self.config {
            Some(c) => self.clock.now().saturating_add(c.ttl.as_millis() as i64),
            None => NEVER,
        }
    }

    /// Checks a value being read and refreshes it if reads refresh.
    #[inline]
    pub fn read<V>(&self, s: &mut Stamped<V>) -> Read {
        let Some(c) = self.config else { return Read::Live { refreshed: false } };
        let now = self.clock.now();
        if is_expired(s.expires_at, now) {
            return Read::Expired { visible: c.visibility == StateVisibility::ReturnExpiredIfNotCleanedUp };
        }
        if c.update == TtlUpdate::OnReadAndWrite {
            s.expires_at = now.saturating_add(c.ttl.as_millis() as i64);
            return Read::Live { refreshed: true };
        }
        Read::Live { refreshed: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_core::codec::{decode, encode};

    #[test]
    fn expiry_leads_the_stored_form_and_lists_filter_without_types() {
        for expires_at in [NEVER, 0, 1, 1_700_000_000_000] {
            let bytes = encode(&Stamped { expires_at, value: "v".to_string() }).unwrap();
            assert_eq!(stored_expiry(&bytes).unwrap(), expires_at);
            assert_eq!(decode::<Stamped<String>>(&bytes).unwrap().expires_at, expires_at);
        }
        assert_eq!(encode(&Stamped { expires_at: NEVER, value: 7u8 }).unwrap(), vec![0, 7], "one byte when unused");
        let mut list = Vec::new();
        for (expires_at, value) in [(10, 1u64), (NEVER, 2), (5, 3), (20, 4)] {
            push_list_element(&mut list, &Stamped { expires_at, value }).unwrap();
        }
        assert_eq!(live_list(&list, 4).unwrap(), None, "nothing expired yet");
        let live = live_list(&list, 10).unwrap().unwrap();
        let values: Vec<u64> = decode_list::<u64>(&live).unwrap().into_iter().map(|s| s.value).collect();
        assert_eq!(values, vec![2, 4]);
        assert!(live_list(&list[..list.len() - 1], 0).is_err(), "a truncated list is an error, not a panic");
    }
}
