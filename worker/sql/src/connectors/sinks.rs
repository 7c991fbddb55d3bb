//! The sinks that write no files: `print` (Flink's format and prefixes), `blackhole` (consumes
//! every field of every row into a checksum it logs when it ends, so nothing can be optimised
//! away), and the standard output of `ferroflink sql` for a query's rows.

use crate::format::{RowPrinter, print_row};
use crate::value::{Row, Value};
use chrono::Timelike;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::Record;
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::sink::{Sink, SinkWriter};
use std::io::Write;
use std::sync::{Arc, Mutex};
use xxhash_rust::xxh64::xxh64;

fn write_out(text: &str, stderr: bool) -> Result<()> {
    let result = if stderr {
        let mut e = std::io::stderr().lock();
        e.write_all(text.as_bytes()).and_then(|_| e.flush())
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes()).and_then(|_| o.flush())
    };
    result.map_err(|source| Error::Io { context: "writing to standard output".into(), source })
}

/// `'connector' = 'print'`: `+I[...]` lines on standard output (or error), prefixed by the
/// `print-identifier` and, at parallelism above 1, the subtask (`id:2> `), as Flink prints.
#[derive(Clone, Debug)]
pub struct PrintSink {
    identifier: Option<String>,
    stderr: bool,
}

impl PrintSink {
    /// A print sink.
    pub fn new(identifier: Option<String>, stderr: bool) -> PrintSink {
        PrintSink { identifier, stderr }
    }
}

impl Sink<Row> for PrintSink {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<Row>>> {
        let subtask = (ctx.task.parallelism > 1).then_some(ctx.task.subtask_index + 1);
        let prefix = match (&self.identifier, subtask) {
            (Some(id), Some(n)) => format!("{id}:{n}> "),
            (Some(id), None) => format!("{id}> "),
            (None, Some(n)) => format!("{n}> "),
            (None, None) => String::new(),
        };
        Ok(Box::new(PrintWriter { prefix, stderr: self.stderr }))
    }
}

struct PrintWriter {
    prefix: String,
    stderr: bool,
}

impl SinkWriter<Row> for PrintWriter {
    fn write(&mut self, batch: Vec<Record<Row>>) -> Result<()> {
        let mut text = String::new();
        for r in &batch {
            text.push_str(&self.prefix);
            print_row(&mut text, &r.value);
            text.push('\n');
        }
        write_out(&text, self.stderr)
    }
}

/// `'connector' = 'blackhole'`: takes every row, folds every field into a checksum (the wrapping
/// sum of xxHash64 over each row's fields, so equal results at any parallelism give the same sum)
/// and logs the rows and the checksum when the subtask ends.
#[derive(Clone, Debug)]
pub struct BlackholeSink {
    table: String,
}

impl BlackholeSink {
    /// A blackhole for table `table`.
    pub fn new(table: &str) -> BlackholeSink {
        BlackholeSink { table: table.to_string() }
    }
}

impl Sink<Row> for BlackholeSink {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<Row>>> {
        let subtask = format!("{}/{}", ctx.task.subtask_index + 1, ctx.task.parallelism);
        Ok(Box::new(BlackholeWriter { table: self.table.clone(), subtask, rows: 0, sum: 0, buf: Vec::new() }))
    }
}

struct BlackholeWriter {
    table: String,
    subtask: String,
    rows: u64,
    sum: u64,
    buf: Vec<u8>,
}

/// Appends bytes that identify `v` (its kind and contents).
fn fold(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.push(0),
        Value::Boolean(b) => buf.extend([1, *b as u8]),
        Value::TinyInt(x) => buf.extend(x.to_le_bytes()),
        Value::SmallInt(x) => buf.extend(x.to_le_bytes()),
        Value::Int(x) => buf.extend(x.to_le_bytes()),
        Value::BigInt(x) => buf.extend(x.to_le_bytes()),
        Value::Float(x) => buf.extend(x.to_bits().to_le_bytes()),
        Value::Double(x) => buf.extend(x.to_bits().to_le_bytes()),
        Value::Decimal(d) => buf.extend(d.unscaled().to_le_bytes()),
        Value::String(s) => {
            buf.extend((s.len() as u32).to_le_bytes());
            buf.extend(s.as_bytes());
        }
        Value::Bytes(b) => {
            buf.extend((b.len() as u32).to_le_bytes());
            buf.extend(b);
        }
        Value::Date(d) => buf.extend(d.to_epoch_days().to_le_bytes()),
        Value::Time(t) => {
            buf.extend(t.num_seconds_from_midnight().to_le_bytes());
            buf.extend(t.nanosecond().to_le_bytes());
        }
        Value::Timestamp(t) | Value::TimestampLtz(t) => {
            buf.extend(t.and_utc().timestamp_micros().to_le_bytes());
        }
        Value::IntervalMonths(m) => buf.extend(m.to_le_bytes()),
        Value::IntervalMillis(m) => buf.extend(m.to_le_bytes()),
        Value::Array(items) | Value::Row(items) => items.iter().for_each(|v| fold(buf, v)),
        Value::Map(entries) => entries.iter().for_each(|(k, v)| {
            fold(buf, k);
            fold(buf, v);
        }),
    }
}

impl SinkWriter<Row> for BlackholeWriter {
    fn write(&mut self, batch: Vec<Record<Row>>) -> Result<()> {
        for r in &batch {
            self.buf.clear();
            self.buf.push(r.value.kind as u8);
            for v in &r.value.values {
                fold(&mut self.buf, v);
            }
            self.sum = self.sum.wrapping_add(xxh64(&self.buf, 0));
        }
        self.rows += batch.len() as u64;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        tracing::info!(
            "blackhole {} (subtask {}): {} rows, checksum {:016x}",
            self.table,
            self.subtask,
            self.rows,
            self.sum
        );
        Ok(())
    }
}

/// A query's rows on standard output, as `ferroflink sql` prints them (one writer: run it at
/// parallelism 1 so lines do not interleave).
#[derive(Clone, Debug)]
pub struct StdoutSink {
    printer: RowPrinter,
    names: Arc<Vec<String>>,
    tsv: bool,
    /// Whether the table's header is out, and the rows printed.
    printed: Arc<Mutex<(bool, u64)>>,
}

impl StdoutSink {
    /// Rows of columns `names` printed by `printer`, as TSV or as a table.
    pub fn new(printer: RowPrinter, names: Vec<String>, tsv: bool) -> StdoutSink {
        StdoutSink { printer, names: Arc::new(names), tsv, printed: Arc::new(Mutex::new((false, 0))) }
    }

    /// What ends the table once the query has ended: its bottom border and the count of rows
    /// (nothing for TSV).
    pub fn footer(&self) -> String {
        let (header, rows) = *self.printed.lock().expect("not poisoned");
        match (self.tsv, header) {
            (true, _) => String::new(),
            (false, false) => "Empty set\n".to_string(),
            (false, true) => {
                let mut text = String::new();
                self.printer.table_border(&mut text, &self.names);
                text.push_str(&format!("Received a total of {rows} row{}\n", if rows == 1 { "" } else { "s" }));
                text
            }
        }
    }
}

impl Sink<Row> for StdoutSink {
    fn create_writer(&self, _ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<Row>>> {
        Ok(Box::new(self.clone()))
    }
}

impl SinkWriter<Row> for StdoutSink {
    fn write(&mut self, batch: Vec<Record<Row>>) -> Result<()> {
        let mut text = String::new();
        let mut printed = self.printed.lock().expect("not poisoned");
        if !self.tsv && !printed.0 {
            self.printer.table_header(&mut text, &self.names);
            printed.0 = true;
        }
        printed.1 += batch.len() as u64;
        for r in &batch {
            if self.tsv {
                self.printer.tsv(&mut text, &r.value);
                text.push('\n');
            } else {
                self.printer.table_row(&mut text, &self.names, &r.value);
            }
        }
        write_out(&text, false)
    }
}
