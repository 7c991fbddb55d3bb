//! `'connector' = 'filesystem'` with Flink's options: `path` (a file, or a directory whose files
//! are all read, recursively; hidden files and those starting with `_` are left out; local, or
//! `s3://bucket/prefix` with the job's S3 settings: every object under the prefix),
//! `format` = `csv`, `json` (one object per line) or `raw` (a line as one `STRING`),
//! `source.monitor-interval` (streaming: new files and appended lines keep coming),
//! `sink.rolling-policy.file-size`, `.rollover-interval`, `.check-interval`, `sink.parallelism`,
//! partitioned tables (`PARTITIONED BY`: Hive-style `k=v` directories, as Flink 2.3 names them,
//! read back with the partition columns from the directory names; `partition.default-name`,
//! `sink.partition-commit.policy.kind` = `success-file`, `sink.partition-commit.trigger`
//! (`process-time`, `partition-time`), `.delay`, `.success-file.name`,
//! `partition.time-extractor.timestamp-pattern`, `.timestamp-formatter`), and the formats' options
//! (`csv.field-delimiter`, `csv.quote-character`, `csv.disable-quote-character`,
//! `csv.allow-comments`, `csv.ignore-parse-errors`, `csv.null-literal`,
//! `json.fail-on-missing-field`, `json.ignore-parse-errors`, `json.timestamp-format.standard`,
//! `raw.charset`).
//!
//! The source reads files in byte ranges with exactly-once positions; a record is a line. A
//! malformed record fails the job with the file, the byte offset of its line and what is wrong,
//! unless the format's `ignore-parse-errors` is set: then it is skipped, counted in the source's
//! `numRecordsInErrors` metric, and each reader logs how many it skipped when it ends. The sink is the exactly-once file sink: part files committed
//! when a checkpoint completes (or at the end of bounded input), so the committed files are the
//! only ones whose names start with neither `.` nor `_`; it takes insert-only rows.

use super::{Options, Placement};
use crate::ast::{DataType, Type};
use crate::error::SqlError;
use crate::expr::cast_value;
use crate::format::RowPrinter;
use crate::functions::datetime::{JavaPattern, to_timestamp};
use crate::functions::timezone::LocalZone;
use crate::value::{Row, Value};
use chrono::Timelike;
use ferroflink_connectors::file::{CommitTrigger, FileSink, PartitionCommitter};
use ferroflink_connectors::text_file::{Decoded, Line, LineDecoder, TextFileSource};
use ferroflink_core::error::Error;
use ferroflink_datastream::{DataStream, StreamExecutionEnvironment};
use ferroflink_runtime::watermark::WatermarkStrategy;
use std::sync::Arc;
use std::time::Duration;

/// A table's format and its options.
#[derive(Clone, Debug)]
enum Format {
    Csv { delimiter: u8, quote: Option<u8>, comments: bool, null_literal: Option<String> },
    Json { fail_on_missing: bool, iso_timestamps: bool },
    Raw,
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    columns: Arc<Vec<(String, Type)>>,
    format: Format,
    ignore_errors: bool,
}

fn one_byte(options: &Options, key: &str, text: &str) -> Result<u8, SqlError> {
    let unescaped = match text {
        "\\t" => "\t",
        other => other,
    };
    match unescaped.as_bytes() {
        [b] => Ok(*b),
        _ => Err(options.error(format!("option '{key}' = '{text}': one ASCII character, such as ',' or '\\t'"))),
    }
}

fn table(options: &mut Options, columns: &[(String, Type)]) -> Result<Table, SqlError> {
    let format = options.text("format").ok_or_else(|| options.error("needs a 'format': 'csv', 'json' or 'raw'"))?;
    let (format, ignore_errors) = match format.as_str() {
        "csv" => {
            let delimiter = match options.text("csv.field-delimiter") {
                Some(d) => one_byte(options, "csv.field-delimiter", &d)?,
                None => b',',
            };
            let quote = match options.text("csv.quote-character") {
                Some(q) => Some(one_byte(options, "csv.quote-character", &q)?),
                None => Some(b'"'),
            };
            let quote = if options.boolean("csv.disable-quote-character")?.unwrap_or(false) { None } else { quote };
            let comments = options.boolean("csv.allow-comments")?.unwrap_or(false);
            let null_literal = options.text("csv.null-literal");
            let ignore = options.boolean("csv.ignore-parse-errors")?.unwrap_or(false);
            (Format::Csv { delimiter, quote, comments, null_literal }, ignore)
        }
        "json" => {
            let fail_on_missing = options.boolean("json.fail-on-missing-field")?.unwrap_or(false);
            let ignore = options.boolean("json.ignore-parse-errors")?.unwrap_or(false);
            let iso_timestamps = match options.text("json.timestamp-format.standard").as_deref() {
                None | Some("SQL") => false,
                Some("ISO-8601") => true,
                Some(other) => {
                    return Err(options
                        .error(format!("option 'json.timestamp-format.standard' = '{other}': 'SQL' or 'ISO-8601'")));
                }
            };
            if fail_on_missing && ignore {
                return Err(
                    options.error("'json.fail-on-missing-field' and 'json.ignore-parse-errors' cannot both be true")
                );
            }
            (Format::Json { fail_on_missing, iso_timestamps }, ignore)
        }
        "raw" => {
            if let Some(charset) = options.text("raw.charset")
                && !charset.eq_ignore_ascii_case("UTF-8")
            {
                return Err(options.error(format!("option 'raw.charset' = '{charset}': only 'UTF-8' is supported")));
            }
            if columns.len() != 1 || !matches!(columns[0].1.data, DataType::VarChar(_) | DataType::Char(_)) {
                return Err(options.error("format 'raw' needs exactly one physical column, a STRING"));
            }
            (Format::Raw, false)
        }
        other => {
            return Err(options.error(format!("unknown format '{other}'; the formats are 'csv', 'json' and 'raw'")));
        }
    };
    Ok(Table { name: options.table(), columns: Arc::new(columns.to_vec()), format, ignore_errors })
}

/// The rows of a filesystem table.
pub(super) fn source(
    env: &StreamExecutionEnvironment,
    options: &mut Options,
    columns: &[(String, Type)],
    partition_keys: &[String],
    batch: bool,
    strategy: WatermarkStrategy<Row>,
) -> Result<DataStream<Row>, SqlError> {
    let path = table_path(options, "a file or a directory")?;
    let monitor = options.duration("source.monitor-interval")?;
    if batch && monitor.is_some() {
        return Err(options
            .error("'source.monitor-interval' makes the table unbounded, and batch mode reads bounded tables only"));
    }
    // The table may be written too: its sink's options are known here (as Flink checks them).
    for key in SINK_OPTIONS {
        options.text(key);
    }
    let (data_columns, keys) = split_columns(options, columns, partition_keys)?;
    let table = table(options, &data_columns)?;
    let zone = LocalZone::named("UTC").expect("UTC");
    let name = format!("Source: {}", table.name);
    let partitions = PartitionColumns {
        table: table.name.clone(),
        keys: keys.iter().map(|&i| (i, columns[i].0.clone(), columns[i].1.clone())).collect(),
        default_name: options.text("partition.default-name").unwrap_or_else(|| DEFAULT_PARTITION.into()),
        zone: zone.clone(),
    };
    let s3 = env.execution_settings().checkpoint.s3;
    let source = TextFileSource::new(path.into()).with_s3(s3).decoded_by(move || {
        let decode = decoder(table.clone(), zone.clone());
        if partitions.keys.is_empty() { decode } else { partitions.clone().around(decode) }
    });
    let source = match monitor {
        Some(interval) => source.monitor_continuously(interval),
        None => source,
    };
    Ok(env.from_source(source, strategy, &name))
}

/// The options only the sink reads.
const SINK_OPTIONS: [&str; 12] = [
    "sink.parallelism",
    "sink.rolling-policy.file-size",
    "sink.rolling-policy.rollover-interval",
    "sink.rolling-policy.check-interval",
    "sink.partition-commit.policy.kind",
    "sink.partition-commit.trigger",
    "sink.partition-commit.delay",
    "sink.partition-commit.success-file.name",
    "sink.partition-commit.watermark-time-zone",
    "partition.time-extractor.kind",
    "partition.time-extractor.timestamp-pattern",
    "partition.time-extractor.timestamp-formatter",
];

/// Flink's name for the directory of a NULL or empty partition value (`partition.default-name`).
const DEFAULT_PARTITION: &str = "__DEFAULT_PARTITION__";

/// Columns by name and type.
type Columns = Vec<(String, Type)>;

/// The columns in a table's files (all but the partition keys), and the positions of the keys.
fn split_columns(
    options: &Options,
    columns: &[(String, Type)],
    partition_keys: &[String],
) -> Result<(Columns, Vec<usize>), SqlError> {
    let mut keys: Vec<usize> = partition_keys
        .iter()
        .map(|k| columns.iter().position(|(c, _)| c == k).expect("partition keys are checked columns"))
        .collect();
    let data: Vec<(String, Type)> =
        columns.iter().enumerate().filter(|(i, _)| !keys.contains(i)).map(|(_, c)| c.clone()).collect();
    if data.is_empty() {
        return Err(options.error("every column is a partition key: a partitioned table needs a column in its files"));
    }
    keys.sort_unstable();
    Ok((data, keys))
}

/// The partition keys of a partitioned table's source: their values come from the `key=value`
/// directories a file is in.
#[derive(Clone)]
struct PartitionColumns {
    table: String,
    /// Position in the row, name and type of each key, by position.
    keys: Vec<(usize, String, Type)>,
    default_name: String,
    zone: LocalZone,
}

impl PartitionColumns {
    /// The keys' values for a file at `path`.
    fn values(&self, path: &str) -> Result<Vec<Value>, Error> {
        let segments: Vec<(&str, &str)> = path.split('/').filter_map(|s| s.split_once('=')).collect();
        self.keys
            .iter()
            .map(|(_, key, ty)| {
                let Some((_, text)) = segments.iter().rev().find(|(k, _)| unescape_path_name(k) == *key) else {
                    return Err(Error::Record(format!(
                        "table `{}`: file '{path}' is in no `{key}=..` directory, and `{key}` is a partition key: \
                         the files of a partitioned table are in its partitions' directories",
                        self.table
                    )));
                };
                let text = unescape_path_name(text);
                if text == self.default_name {
                    return Ok(Value::Null);
                }
                partition_value(&text, key, ty, &self.zone).map_err(|e| {
                    Error::Record(format!("table `{}`: the partition directory of '{path}': {e}", self.table))
                })
            })
            .collect()
    }

    /// `decode` with the keys' values put in each row.
    fn around(self, mut decode: LineDecoder<Row>) -> LineDecoder<Row> {
        let mut cached: Option<(String, Vec<Value>)> = None;
        Box::new(move |line: Line<'_>| {
            let path = line.path;
            let mut row = match decode(line)? {
                Decoded::Record(row) => row,
                other => return Ok(other),
            };
            if cached.as_ref().is_none_or(|(p, _)| p != path) {
                cached = Some((path.to_string(), self.values(path)?));
            }
            let (_, values) = cached.as_ref().expect("just cached");
            for ((position, ..), value) in self.keys.iter().zip(values) {
                row.values.insert(*position, value.clone());
            }
            Ok(Decoded::Record(row))
        })
    }
}

/// The decoder of one reader: lines to rows, counting what it skips.
fn decoder(table: Table, zone: LocalZone) -> LineDecoder<Row> {
    let mut skipped = Skipped { table: table.name.clone(), count: 0 };
    let mut fields: Vec<String> = Vec::new();
    let mut splitter = match &table.format {
        Format::Csv { delimiter, quote, .. } => Some(CsvSplitter::new(*delimiter, *quote)),
        _ => None,
    };
    Box::new(move |line: Line<'_>| {
        let parsed = match &table.format {
            Format::Csv { comments: true, .. } if line.text.starts_with('#') => return Ok(Decoded::Nothing),
            Format::Csv { null_literal, .. } => {
                splitter.as_mut().expect("a CSV table has a splitter").split(line.text, &mut fields);
                csv_row(&table, &fields, null_literal.as_deref(), &zone)
            }
            Format::Json { fail_on_missing, iso_timestamps } => {
                json_row(&table, line.text, *fail_on_missing, *iso_timestamps, &zone)
            }
            Format::Raw => Ok(Row::insert(vec![Value::String(line.text.to_string())])),
        };
        match parsed {
            Ok(row) => Ok(Decoded::Record(row)),
            Err(_) if table.ignore_errors => {
                skipped.add();
                Ok(Decoded::Skipped)
            }
            Err(what) => Err(Error::Record(format!(
                "table `{}`: the record at byte {} of '{}' is malformed: {what}; fix it, or set '{}.ignore-parse-errors' = 'true' to skip such records",
                table.name,
                line.offset,
                line.path,
                if matches!(table.format, Format::Json { .. }) { "json" } else { "csv" }
            ))),
        }
    })
}

/// Logs the records a reader skipped when it ends.
struct Skipped {
    table: String,
    count: u64,
}

impl Skipped {
    /// One more skipped (a method, so the decoder owns the whole counter and logs when dropped).
    fn add(&mut self) {
        self.count += 1;
    }
}

impl Drop for Skipped {
    fn drop(&mut self) {
        if self.count > 0 {
            tracing::warn!("table `{}`: skipped {} malformed records (ignore-parse-errors)", self.table, self.count);
        }
    }
}

/// Splits CSV lines into their fields (quotes removed, doubled quotes unescaped); one per reader,
/// so its parser and buffers serve every line.
struct CsvSplitter {
    reader: csv_core::Reader,
    /// The parser's output, in chunks.
    chunk: Vec<u8>,
    /// The field being read.
    current: Vec<u8>,
}

impl CsvSplitter {
    fn new(delimiter: u8, quote: Option<u8>) -> CsvSplitter {
        let mut builder = csv_core::ReaderBuilder::new();
        builder.delimiter(delimiter);
        match quote {
            Some(q) => builder.quote(q),
            None => builder.quoting(false),
        };
        CsvSplitter { reader: builder.build(), chunk: vec![0; 4096], current: Vec::new() }
    }

    /// The fields of `line` into `fields`.
    fn split(&mut self, line: &str, fields: &mut Vec<String>) {
        fields.clear();
        if line.is_empty() {
            fields.push(String::new());
            return;
        }
        self.reader.reset();
        self.current.clear();
        let mut input = line.as_bytes();
        loop {
            let (result, nin, nout) = self.reader.read_field(input, &mut self.chunk);
            input = &input[nin..];
            self.current.extend_from_slice(&self.chunk[..nout]);
            let record_end = match result {
                csv_core::ReadFieldResult::OutputFull => continue,
                csv_core::ReadFieldResult::InputEmpty if !input.is_empty() => continue,
                csv_core::ReadFieldResult::InputEmpty => {
                    // The end of the line ends the record.
                    let (result, _, nout) = self.reader.read_field(&[], &mut self.chunk);
                    self.current.extend_from_slice(&self.chunk[..nout]);
                    matches!(
                        result,
                        csv_core::ReadFieldResult::Field { record_end: true } | csv_core::ReadFieldResult::End
                    )
                }
                csv_core::ReadFieldResult::Field { record_end } => record_end,
                csv_core::ReadFieldResult::End => return,
            };
            fields.push(String::from_utf8_lossy(&self.current).into_owned());
            self.current.clear();
            if record_end {
                return;
            }
        }
    }
}

/// A text value as a column of type `ty` (as Flink's formats read it: an empty field is no NULL
/// but an error for a type other than text; `csv.null-literal` names NULL).
fn text_value(text: &str, column: &str, ty: &Type, zone: &LocalZone) -> Result<Value, String> {
    match &ty.data {
        DataType::VarChar(_) | DataType::Char(_) => Ok(Value::String(text.to_string())),
        t => cast_value(Value::String(text.to_string()), &DataType::VarChar(crate::ast::MAX_LENGTH), t, zone)
            .ok_or_else(|| format!("column `{column}` is {t}, and '{text}' is not one")),
    }
}

fn csv_row(table: &Table, fields: &[String], null_literal: Option<&str>, zone: &LocalZone) -> Result<Row, String> {
    if fields.len() != table.columns.len() {
        return Err(format!("{} fields where the table has {} columns", fields.len(), table.columns.len()));
    }
    let mut values = Vec::with_capacity(fields.len());
    for (field, (name, ty)) in fields.iter().zip(table.columns.iter()) {
        if null_literal == Some(field.as_str()) {
            values.push(Value::Null);
            continue;
        }
        values.push(text_value(field, name, ty, zone)?);
    }
    Ok(Row::insert(values))
}

/// A JSON value as a column of type `ty`.
fn json_value(v: &serde_json::Value, name: &str, ty: &Type, iso: bool, zone: &LocalZone) -> Result<Value, String> {
    use serde_json::Value as J;
    match (v, &ty.data) {
        (J::Null, _) => Ok(Value::Null),
        (J::String(s), DataType::Timestamp(_) | DataType::TimestampLtz(_)) if iso => {
            text_value(s.replacen('T', " ", 1).trim_end_matches('Z'), name, ty, zone)
        }
        (J::String(s), _) => text_value(s, name, ty, zone),
        (J::Bool(b), DataType::Boolean) => Ok(Value::Boolean(*b)),
        (J::Number(n), DataType::VarChar(_) | DataType::Char(_)) => Ok(Value::String(n.to_string())),
        (J::Number(n), _) => text_value(&n.to_string(), name, ty, zone),
        (J::Array(items), DataType::Array(element)) => items
            .iter()
            .map(|i| json_value(i, name, element, iso, zone))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (J::Object(fields), DataType::Row(row_fields)) => row_fields
            .iter()
            .map(|f| fields.get(&f.name).map_or(Ok(Value::Null), |x| json_value(x, &f.name, &f.ty, iso, zone)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Row),
        (other, t) => Err(format!("column `{name}` is {t}, and {other} is not one")),
    }
}

fn json_row(table: &Table, text: &str, fail_on_missing: bool, iso: bool, zone: &LocalZone) -> Result<Row, String> {
    let doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object ({e})"))?;
    let mut values = Vec::with_capacity(table.columns.len());
    for (name, ty) in table.columns.iter() {
        match doc.get(name) {
            Some(v) => values.push(json_value(v, name, ty, iso, zone)?),
            None if fail_on_missing => return Err(format!("the field `{name}` is missing")),
            None => values.push(Value::Null),
        }
    }
    Ok(Row::insert(values))
}

/// How a row is written as a line of the table's format: the row's columns at `positions`, the
/// table's columns (a partitioned table's files leave its partition columns out).
fn encoder(table: &Table, positions: Vec<usize>) -> impl Fn(&Row) -> String + Send + Sync + 'static {
    let printer =
        RowPrinter::new(table.columns.iter().map(|(_, t)| t.clone()).collect(), LocalZone::named("UTC").expect("UTC"));
    let (format, columns) = (table.format.clone(), table.columns.clone());
    move |row: &Row| {
        let mut line = String::new();
        let values = positions.iter().map(|&p| &row.values[p]);
        match &format {
            Format::Raw => {
                if let Some(Value::String(s)) = values.clone().next() {
                    line.push_str(s);
                }
            }
            Format::Csv { delimiter, quote, null_literal, .. } => {
                for (i, v) in values.enumerate() {
                    if i > 0 {
                        line.push(*delimiter as char);
                    }
                    let text = match v {
                        Value::Null => null_literal.clone().unwrap_or_default(),
                        Value::Boolean(b) => b.to_string(),
                        v => printer.text_of(i, v),
                    };
                    let q = quote.map(char::from);
                    let needs_quotes = q.is_some()
                        && (text.contains(*delimiter as char)
                            || text.contains('\n')
                            || text.contains('\r')
                            || q.is_some_and(|q| text.contains(q)));
                    match (needs_quotes, q) {
                        (true, Some(q)) => {
                            line.push(q);
                            line.push_str(&text.replace(q, &format!("{q}{q}")));
                            line.push(q);
                        }
                        _ => line.push_str(&text),
                    }
                }
            }
            Format::Json { .. } => {
                let mut object = serde_json::Map::new();
                for (i, ((name, _), v)) in columns.iter().zip(values).enumerate() {
                    let json = match v {
                        Value::Null => serde_json::Value::Null,
                        Value::Boolean(b) => serde_json::Value::Bool(*b),
                        Value::TinyInt(_) | Value::SmallInt(_) | Value::Int(_) | Value::BigInt(_) => {
                            serde_json::Value::from(v.as_i64().unwrap_or_default())
                        }
                        Value::Double(x) => {
                            serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, serde_json::Value::Number)
                        }
                        Value::Decimal(d) => serde_json::from_str(&d.to_string()).unwrap_or(serde_json::Value::Null),
                        v => serde_json::Value::String(printer.text_of(i, v)),
                    };
                    object.insert(name.clone(), json);
                }
                line = serde_json::Value::Object(object).to_string();
            }
        }
        line
    }
}

/// Writes rows into a filesystem table (the exactly-once file sink); a partitioned table's rows go
/// into Hive-style `k=v` directories of its partition keys' values, which its files leave out, and
/// with `sink.partition-commit.policy.kind` = `success-file` a committer marks each partition done.
pub(super) fn sink(
    options: &mut Options,
    columns: &[(String, Type)],
    partition_keys: &[String],
    rows: &DataStream<Row>,
    placement: &Placement,
) -> Result<(), SqlError> {
    let path = table_path(options, "a directory")?;
    // The table may be read too: its source's options are known here.
    options.text("source.monitor-interval");
    let file_size = options.parsed("sink.rolling-policy.file-size", ferroflink_types::config::values::bytes)?;
    let rollover = options.duration("sink.rolling-policy.rollover-interval")?;
    let check = options.duration("sink.rolling-policy.check-interval")?;
    let (data_columns, keys) = split_columns(options, columns, partition_keys)?;
    let data: Vec<usize> = (0..columns.len()).filter(|i| !keys.contains(i)).collect();
    let table = table(options, &data_columns)?;
    let mut sink = FileSink::new(&path, encoder(&table, data));
    if let Some(bytes) = file_size {
        sink = sink.with_max_part_bytes(bytes as u64);
    }
    if rollover.is_some() || check.is_some() {
        sink = sink.with_rollover_interval(
            rollover.unwrap_or(Duration::from_secs(30 * 60)),
            check.unwrap_or(Duration::from_secs(60)),
        );
    }
    let commit = partition_commit(options, partition_keys)?;
    if keys.is_empty() {
        if commit.is_some() {
            return Err(options.error("partition commit options need a partitioned table (PARTITIONED BY)"));
        }
        placement.place(rows.sink_to(sink));
        return Ok(());
    }
    let default_name = options.text("partition.default-name").unwrap_or_else(|| DEFAULT_PARTITION.into());
    let printer =
        RowPrinter::new(columns.iter().map(|(_, t)| t.clone()).collect(), LocalZone::named("UTC").expect("UTC"));
    // Directories nest in the order of PARTITIONED BY.
    let position = |k: &String| columns.iter().position(|(c, _)| c == k).expect("partition keys are checked columns");
    let nesting: Vec<(String, usize)> = partition_keys.iter().map(|k| (k.clone(), position(k))).collect();
    let sink = sink.partitioned(move |row: &Row| {
        let mut dir = String::new();
        for (name, i) in &nesting {
            let i = *i;
            if !dir.is_empty() {
                dir.push('/');
            }
            let text = partition_text(&printer, i, &row.values[i]);
            escape_path_name(&mut dir, name);
            dir.push('=');
            escape_path_name(&mut dir, if text.is_empty() { &default_name } else { &text });
        }
        dir
    });
    match commit {
        None => {
            placement.place(rows.sink_to(sink));
        }
        Some((trigger, delay, success_file)) => {
            let reports = placement.place(rows.transform_from("Sink", sink.writer()));
            placement.place_single(
                "PartitionCommitter",
                reports.sink_to(PartitionCommitter::new(path, trigger, delay, &success_file)),
            );
        }
    }
    Ok(())
}

/// A partition value as Flink 2.3 writes it in a directory name: the text of its internal value,
/// so a `DATE` is its days since 1970, a `TIME` its milliseconds of the day and a `TIMESTAMP`
/// Java's `LocalDateTime` text (`2026-12-07T10:00`, seconds only when not zero); NULL is empty.
fn partition_text(printer: &RowPrinter, column: usize, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Date(d) => d.to_epoch_days().to_string(),
        Value::Time(t) => (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000).to_string(),
        Value::Timestamp(t) | Value::TimestampLtz(t) => {
            let mut text = t.format("%Y-%m-%dT%H:%M").to_string();
            let nanos = t.nanosecond();
            if t.second() != 0 || nanos != 0 {
                text.push_str(&format!(":{:02}", t.second()));
            }
            if nanos % 1_000_000_000 != 0 {
                text.push_str(&match nanos {
                    n if n % 1_000_000 == 0 => format!(".{:03}", n / 1_000_000),
                    n if n % 1000 == 0 => format!(".{:06}", n / 1000),
                    n => format!(".{n:09}"),
                });
            }
            text
        }
        v => printer.text_of(column, v),
    }
}

/// A partition directory's value as a column of type `ty`: what [`partition_text`] writes, or the
/// SQL text of a date, time or timestamp.
fn partition_value(text: &str, column: &str, ty: &Type, zone: &LocalZone) -> Result<Value, String> {
    match &ty.data {
        DataType::Date if !text.contains('-') => text
            .parse::<i32>()
            .ok()
            .and_then(chrono::NaiveDate::from_epoch_days)
            .map(Value::Date)
            .ok_or_else(|| format!("column `{column}` is DATE, and '{text}' is not one")),
        DataType::Time(_) if !text.contains(':') => text
            .parse::<u32>()
            .ok()
            .and_then(|ms| chrono::NaiveTime::from_num_seconds_from_midnight_opt(ms / 1000, ms % 1000 * 1_000_000))
            .map(Value::Time)
            .ok_or_else(|| format!("column `{column}` is TIME, and '{text}' is not one")),
        DataType::Timestamp(_) | DataType::TimestampLtz(_) => text_value(&text.replacen('T', " ", 1), column, ty, zone),
        _ => text_value(text, column, ty, zone),
    }
}

/// Appends `text` to a partition path as Hive escapes it: `%XX` for the characters a path or its
/// `k=v` syntax reserves and for control characters.
/// The table's `'path'` (`what` it names): a local path, the same as a `file:` URI (`file:///tmp/t`,
/// `file:/tmp/t`, as Flink takes them), or `s3://bucket/prefix`.
fn table_path(options: &mut Options, what: &str) -> Result<String, SqlError> {
    let path = options.text("path").ok_or_else(|| options.error(format!("needs a 'path' ({what})")))?;
    if let Some(local) = path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")) {
        if !local.starts_with('/') {
            return Err(options.error(format!("'{path}' is not a local file URI: write file:///<absolute path>")));
        }
        return Ok(local.to_string());
    }
    if !path.starts_with("s3://") && path.contains("://") {
        return Err(options.error(format!("'{path}': the file systems are local paths, file:// and s3://")));
    }
    Ok(path)
}

fn escape_path_name(out: &mut String, text: &str) {
    for c in text.chars() {
        if c < ' ' || c == '\u{7f}' || "\"#%'*/:=?\\{[]^".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
}

/// Flink's partition commit options: the trigger, its delay and the success file's name, if a
/// commit policy is set.
fn partition_commit(
    options: &mut Options,
    partition_keys: &[String],
) -> Result<Option<(CommitTrigger, Duration, String)>, SqlError> {
    let policy = options.text("sink.partition-commit.policy.kind");
    let trigger = options.text("sink.partition-commit.trigger");
    let delay = options.duration("sink.partition-commit.delay")?.unwrap_or(Duration::ZERO);
    let success_file = options.text("sink.partition-commit.success-file.name").unwrap_or_else(|| "_SUCCESS".into());
    let kind = options.text("partition.time-extractor.kind");
    let pattern = options.text("partition.time-extractor.timestamp-pattern");
    let formatter = options.text("partition.time-extractor.timestamp-formatter");
    if let Some(zone) = options.text("sink.partition-commit.watermark-time-zone")
        && zone != "UTC"
    {
        return Err(options.error(format!(
            "option 'sink.partition-commit.watermark-time-zone' = '{zone}': only 'UTC' is supported (watermarks of TIMESTAMP_LTZ columns in other zones are not yet)"
        )));
    }
    let Some(policy) = policy else { return Ok(None) };
    for p in policy.split(',').map(str::trim) {
        match p {
            "success-file" => {}
            "metastore" => {
                return Err(options.error(
                    "partition commit policy 'metastore' needs a Hive metastore, which filesystem tables do not have: use 'success-file'",
                ));
            }
            other => {
                return Err(options.error(format!(
                    "unsupported partition commit policy '{other}' in 'sink.partition-commit.policy.kind': use 'success-file'"
                )));
            }
        }
    }
    if let Some(kind) = kind
        && kind != "default"
    {
        return Err(options.error(format!(
            "option 'partition.time-extractor.kind' = '{kind}': only 'default' is supported (custom extractors are Java classes)"
        )));
    }
    let trigger = match trigger.as_deref() {
        None | Some("process-time") => CommitTrigger::ProcessTime,
        Some("partition-time") => {
            let formatter = formatter
                .map(|f| {
                    JavaPattern::new(&f).map_err(|e| {
                        options.error(format!("option 'partition.time-extractor.timestamp-formatter' = '{f}': {e}"))
                    })
                })
                .transpose()?;
            let keys = partition_keys.to_vec();
            CommitTrigger::PartitionTime(Arc::new(move |dir: &str| {
                partition_time(dir, &keys, pattern.as_deref(), formatter.as_ref())
            }))
        }
        Some(other) => {
            return Err(options.error(format!(
                "option 'sink.partition-commit.trigger' = '{other}': 'process-time' or 'partition-time'"
            )));
        }
    };
    Ok(Some((trigger, delay, success_file)))
}

/// The time partition directory `dir` stands for, as Flink's default extractor gives it: the
/// `timestamp-pattern` with each `$key` replaced by the key's value (without a pattern, the first
/// key's value), parsed by the formatter (without one, as `CAST(.. AS TIMESTAMP)` parses).
fn partition_time(
    dir: &str,
    keys: &[String],
    pattern: Option<&str>,
    formatter: Option<&JavaPattern>,
) -> Result<i64, String> {
    let values: Vec<(&str, String)> =
        dir.split('/').filter_map(|segment| segment.split_once('=')).map(|(k, v)| (k, unescape_path_name(v))).collect();
    let text = match pattern {
        None => values.first().map(|(_, v)| v.clone()).unwrap_or_default(),
        Some(pattern) => {
            // Longer names first, so `$hour` is not taken for `$h` followed by `our`.
            let mut by_length: Vec<&String> = keys.iter().collect();
            by_length.sort_by_key(|k| std::cmp::Reverse(k.len()));
            let mut text = pattern.to_string();
            for key in by_length {
                let value = values.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str());
                text = text.replace(&format!("${key}"), value);
            }
            text
        }
    };
    let time = match formatter {
        Some(f) => to_timestamp(&text, f),
        None => crate::functions::cast::to_timestamp(&text, 3),
    };
    time.map(|t| t.and_utc().timestamp_millis()).ok_or_else(|| {
        format!(
            "'{text}' is not a timestamp (set 'partition.time-extractor.timestamp-pattern' and '.timestamp-formatter')"
        )
    })
}

/// A partition path's value with Hive's `%XX` escapes undone.
fn unescape_path_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_escape_as_hive_does_and_give_their_time() {
        let mut dir = String::new();
        escape_path_name(&mut dir, "a/b:c=d%e #f\u{1}");
        assert_eq!(dir, "a%2Fb%3Ac%3Dd%25e %23f%01");
        assert_eq!(unescape_path_name(&dir), "a/b:c=d%e #f\u{1}");
        assert_eq!(unescape_path_name("100%"), "100%");
        let keys = ["dt".to_string(), "hr".to_string()];
        let hour = |dir: &str, pattern: Option<&str>| partition_time(dir, &keys, pattern, None);
        let at = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_millis()
        };
        assert_eq!(hour("dt=2026-12-07/hr=10", Some("$dt $hr:00:00")), Ok(at("2026-12-07 10:00:00")));
        assert_eq!(hour("dt=2026-12-07/hr=10", None), Ok(at("2026-12-07 00:00:00")));
        let formatter = JavaPattern::new("yyyyMMdd HH").unwrap();
        assert_eq!(
            partition_time("dt=20261207/hr=09", &keys, Some("$dt $hr"), Some(&formatter)),
            Ok(at("2026-12-07 09:00:00"))
        );
        assert!(
            hour("dt=today/hr=10", Some("$dt $hr:00:00")).unwrap_err().contains("'today 10:00:00' is not a timestamp")
        );
    }

    #[test]
    fn csv_lines_split_as_flink_reads_them() {
        let mut fields = Vec::new();
        let mut csv = CsvSplitter::new(b',', Some(b'"'));
        csv.split(r#"1,"a, b","say ""hi""",,x"#, &mut fields);
        assert_eq!(fields, ["1", "a, b", r#"say "hi""#, "", "x"]);
        // The same splitter, line after line, and a field longer than its chunk.
        let long = "y".repeat(10_000);
        csv.split(&format!("{long},z"), &mut fields);
        assert_eq!(fields, [long.as_str(), "z"]);
        csv.split("", &mut fields);
        assert_eq!(fields, [""]);
        CsvSplitter::new(b';', Some(b'"')).split("a;b", &mut fields);
        assert_eq!(fields, ["a", "b"]);
        CsvSplitter::new(b',', None).split(r#""x"y,z"#, &mut fields);
        assert_eq!(fields, [r#""x"y"#, "z"]);
    }
}
