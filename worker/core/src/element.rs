//! What travels on a channel between two tasks: batches of records and in-band control events.

use crate::codec::{decode, encode_into};
use crate::error::Result;
use crate::record::{Data, Record, Timestamp};
use std::any::Any;

/// A batch of records of some type, erased so channels and chains need not be generic. The concrete
/// type is `Vec<Record<T>>` for the DataStream API; other layers (SQL) may put their own batch types
/// in it without changing the channels.
pub struct AnyBatch {
    data: Box<dyn Any + Send>,
    len: usize,
    clone_fn: fn(&(dyn Any + Send)) -> Box<dyn Any + Send>,
    encode_fn: fn(&(dyn Any + Send), &mut Vec<u8>) -> Result<()>,
}

fn clone_records<T: Data>(data: &(dyn Any + Send)) -> Box<dyn Any + Send> {
    let records = data.downcast_ref::<Vec<Record<T>>>().expect("batch type checked at creation");
    Box::new(records.clone())
}

fn encode_records<T: Data>(data: &(dyn Any + Send), buf: &mut Vec<u8>) -> Result<()> {
    let records = data.downcast_ref::<Vec<Record<T>>>().expect("batch type checked at creation");
    encode_into(records, buf)
}

fn decode_records<T: Data>(bytes: &[u8]) -> Result<AnyBatch> {
    Ok(AnyBatch::new(decode::<Vec<Record<T>>>(bytes)?))
}

/// Decodes the bytes [`AnyBatch::encode`] wrote into a batch of the edge's record type.
pub type BatchDecoder = fn(&[u8]) -> Result<AnyBatch>;

impl AnyBatch {
    /// Wraps typed records.
    pub fn new<T: Data>(records: Vec<Record<T>>) -> Self {
        AnyBatch {
            len: records.len(),
            data: Box::new(records),
            clone_fn: clone_records::<T>,
            encode_fn: encode_records::<T>,
        }
    }

    /// The decoder of batches of `T` records.
    pub fn decoder<T: Data>() -> BatchDecoder {
        decode_records::<T>
    }

    /// Appends the records' codec bytes to `buf` (for the network).
    pub fn encode(&self, buf: &mut Vec<u8>) -> Result<()> {
        (self.encode_fn)(self.data.as_ref(), buf)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The typed records. Panics if the batch holds another type: the job graph wires edges by type,
    /// so a mismatch is an engine bug.
    pub fn into_records<T: Data>(self) -> Vec<Record<T>> {
        match self.data.downcast::<Vec<Record<T>>>() {
            Ok(records) => *records,
            Err(_) => {
                panic!("engine bug: batch of another type where {} records were expected", std::any::type_name::<T>())
            }
        }
    }

    /// A copy, for fan-out to several consumers.
    pub fn duplicate(&self) -> AnyBatch {
        AnyBatch {
            data: (self.clone_fn)(self.data.as_ref()),
            len: self.len,
            clone_fn: self.clone_fn,
            encode_fn: self.encode_fn,
        }
    }
}

impl std::fmt::Debug for AnyBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnyBatch({} records)", self.len)
    }
}

/// A checkpoint barrier: everything before it on a channel belongs to checkpoint `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointBarrier {
    /// Checkpoint id, increasing.
    pub id: u64,
    /// When the coordinator triggered it (processing time, ms).
    pub timestamp: Timestamp,
    /// How keyed state is snapshotted for it.
    pub format: SnapshotFormat,
}

/// How keyed state backends snapshot their state for one checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotFormat {
    /// The canonical, self-contained form every backend reads (savepoints; heap checkpoints).
    #[default]
    Canonical,
    /// A backend that can (RocksDB) uploads only its files that checkpoint `base` does not
    /// already hold and refers to the rest; `base` 0: no checkpoint to build on.
    Incremental {
        /// The checkpoint whose files may be referenced: the coordinator keeps them while this
        /// checkpoint is in flight.
        base: u64,
    },
}

/// One item on a channel.
#[derive(Debug)]
pub enum Element {
    /// Records.
    Batch(AnyBatch),
    /// Event time on this channel has reached the value: no record with a smaller or equal timestamp
    /// follows (except late ones).
    Watermark(Timestamp),
    /// The channel became idle (`true`: exclude it from the watermark minimum) or active again.
    Idle(bool),
    /// A checkpoint barrier.
    Barrier(CheckpointBarrier),
    /// Nothing more follows on this channel.
    EndOfInput,
}
