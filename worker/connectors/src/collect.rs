//! Gathers records in memory, for tests and examples.

use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::sink::{Sink, SinkWriter};
use std::sync::{Arc, Mutex};

/// The records a [`CollectSink`] gathered.
pub struct Collected<T> {
    records: Arc<Mutex<Vec<Record<T>>>>,
}

impl<T> Clone for Collected<T> {
    fn clone(&self) -> Self {
        Collected { records: self.records.clone() }
    }
}

impl<T: Data> Collected<T> {
    /// Takes the values gathered so far.
    pub fn take(&self) -> Vec<T> {
        self.take_records().into_iter().map(|r| r.value).collect()
    }

    /// Takes the records (with timestamps) gathered so far.
    pub fn take_records(&self) -> Vec<Record<T>> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// See the module documentation.
pub struct CollectSink<T> {
    records: Arc<Mutex<Vec<Record<T>>>>,
}

impl<T: Data> Default for CollectSink<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Data> CollectSink<T> {
    /// An empty sink.
    pub fn new() -> Self {
        CollectSink { records: Arc::new(Mutex::new(Vec::new())) }
    }

    /// The handle to read results from.
    pub fn results(&self) -> Collected<T> {
        Collected { records: self.records.clone() }
    }
}

impl<T: Data> Sink<T> for CollectSink<T> {
    fn create_writer(&self, _ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>> {
        Ok(Box::new(CollectWriter { records: self.records.clone() }))
    }
}

struct CollectWriter<T> {
    records: Arc<Mutex<Vec<Record<T>>>>,
}

impl<T: Data> SinkWriter<T> for CollectWriter<T> {
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()> {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).extend(batch);
        Ok(())
    }
}
