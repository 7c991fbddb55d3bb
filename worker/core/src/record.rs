//! Records, timestamps and the bounds every record and key type meets.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;

/// Event or processing time in milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// Timestamp of a record that has none (Flink's `Long.MIN_VALUE`).
pub const NO_TIMESTAMP: Timestamp = i64::MIN;

/// The watermark that ends event time: emitted when bounded input ends.
pub const MAX_WATERMARK: Timestamp = i64::MAX;

/// A value travelling through the dataflow, with its event timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Record<T> {
    /// The payload.
    pub value: T,
    /// Event time, or [`NO_TIMESTAMP`].
    pub timestamp: Timestamp,
}

impl<T> Record<T> {
    /// A record with a timestamp.
    pub fn new(value: T, timestamp: Timestamp) -> Self {
        Record { value, timestamp }
    }

    /// A record without a timestamp.
    pub fn untimed(value: T) -> Self {
        Record { value, timestamp: NO_TIMESTAMP }
    }
}

/// What a record type must be: cloneable (fan-out), sendable between task threads, and serializable
/// with the engine's codec ([`crate::codec`]) so a network exchange or a state snapshot can
/// move it.
pub trait Data: Clone + Send + Sync + Debug + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Sync + Debug + Serialize + DeserializeOwned + 'static> Data for T {}

/// What a key type must be: [`Data`] plus equality and hashing for in-memory lookups. Key *groups*
/// never use `Hash`: they hash the key's codec bytes (see [`crate::keygroup`]).
pub trait Key: Data + Hash + Eq {}
impl<T: Data + Hash + Eq> Key for T {}
