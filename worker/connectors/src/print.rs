//! Prints records to standard output, one per line, prefixed by `subtask> ` (1-based) when the
//! sink runs with parallelism above 1, as Flink's print sink does.

use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Record};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::sink::{Sink, SinkWriter};
use std::io::Write;
use std::sync::Arc;

type Format<T> = Arc<dyn Fn(&T) -> String + Send + Sync>;

/// See the module documentation.
pub struct PrintSink<T> {
    format: Format<T>,
    prefix: bool,
}

impl<T: Data> PrintSink<T> {
    /// Prints the `Debug` form.
    pub fn debug() -> Self {
        PrintSink { format: Arc::new(|v: &T| format!("{v:?}")), prefix: true }
    }

    /// Prints what `format` makes of each record.
    pub fn with_format(format: impl Fn(&T) -> String + Send + Sync + 'static) -> Self {
        PrintSink { format: Arc::new(format), prefix: true }
    }

    /// Leaves out the `subtask> ` prefix (for output that is parsed).
    pub fn without_prefix(mut self) -> Self {
        self.prefix = false;
        self
    }
}

impl<T: Data> Sink<T> for PrintSink<T> {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>> {
        let task = &ctx.task;
        let prefix =
            if self.prefix && task.parallelism > 1 { format!("{}> ", task.subtask_index + 1) } else { String::new() };
        Ok(Box::new(PrintWriter { format: self.format.clone(), prefix }))
    }
}

struct PrintWriter<T> {
    format: Format<T>,
    prefix: String,
}

impl<T: Data> SinkWriter<T> for PrintWriter<T> {
    fn write(&mut self, batch: Vec<Record<T>>) -> Result<()> {
        let mut text = String::new();
        for r in &batch {
            text.push_str(&self.prefix);
            text.push_str(&(self.format)(&r.value));
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Ok(()),
            // A closed pipe (`| head`) ends output quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Error::io("writing to standard output", e)),
        }
    }
}
