//! An order-independent digest of everything written: the wrapping sum of `xxHash64` over each
//! record's codec bytes, and the count. Equal results at any parallelism and in any order give the
//! same digest, and no result can be optimised away.

use ferroflink_core::codec::encode_into;
use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::sink::{Sink, SinkWriter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use xxhash_rust::xxh64::xxh64;

/// The digest shared by all subtasks.
#[derive(Clone, Debug, Default)]
pub struct Checksum {
    sum: Arc<AtomicU64>,
    count: Arc<AtomicU64>,
}

impl Checksum {
    /// The digest so far.
    pub fn value(&self) -> u64 {
        self.sum.load(Ordering::SeqCst)
    }
    /// Records so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct ChecksumSink {
    checksum: Checksum,
}

impl ChecksumSink {
    /// A sink and the digest it feeds.
    pub fn new() -> (Self, Checksum) {
        let checksum = Checksum::default();
        (ChecksumSink { checksum: checksum.clone() }, checksum)
    }
}

impl<T: Data> Sink<T> for ChecksumSink {
    fn create_writer(&self, _ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>> {
        Ok(Box::new(ChecksumWriter { checksum: self.checksum.clone(), sum: 0, count: 0, buf: Vec::new() }))
    }
}

struct ChecksumWriter {
    checksum: Checksum,
    sum: u64,
    count: u64,
    buf: Vec<u8>,
}

impl<T: Data> SinkWriter<T> for ChecksumWriter {
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()> {
        for r in &batch {
            self.buf.clear();
            encode_into(&r.value, &mut self.buf)?;
            self.sum = self.sum.wrapping_add(xxh64(&self.buf, 0));
        }
        self.count += batch.len() as u64;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        self.checksum.sum.fetch_add(std::mem::take(&mut self.sum), Ordering::SeqCst);
        self.checksum.count.fetch_add(std::mem::take(&mut self.count), Ordering::SeqCst);
        Ok(())
    }
}
