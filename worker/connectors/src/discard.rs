//! Drops every record (Flink's `DiscardingSink`), for benchmarks.

use ferroflink_core::error::Result;
use ferroflink_core::record::Record;
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::sink::{Sink, SinkWriter};

/// See the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardSink;

impl<T: 'static> Sink<T> for DiscardSink {
    fn create_writer(&self, _ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>> {
        Ok(Box::new(DiscardSink))
    }
}

impl<T> SinkWriter<T> for DiscardSink {
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()> {
        drop(batch);
        Ok(())
    }
}
