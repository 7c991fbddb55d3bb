//! Flink's table connectors, by the name of their `'connector'` option and with Flink's option
//! names and defaults: `datagen` and `nexmark` (sources), `filesystem` (source and exactly-once
//! sink), `print` and `blackhole` (sinks). A table's options
//! are checked as Flink checks them: an option the connector does not know is an error that lists
//! the ones it does.

mod datagen;
mod filesystem;
mod nexmark;
mod sinks;

pub use sinks::{BlackholeSink, PrintSink, StdoutSink};

use crate::ast::{ColumnKind, Type};
use crate::error::SqlError;
use crate::session::CatalogTable;
use crate::value::Row;
use ferroflink_datastream::{DataStream, StreamExecutionEnvironment};
use ferroflink_runtime::watermark::WatermarkStrategy;
use std::collections::BTreeMap;
use std::time::Duration;

/// The connectors this binary has (for error messages).
pub const CONNECTORS: &str = "'datagen', 'filesystem', 'nexmark', 'print', 'blackhole'";

/// A table's `WITH` options, taken one by one; what is left at the end was not understood.
///
/// A value may name environment variables as `${NAME}` (credentials: on Kubernetes, Secret keys
/// that `spec.job.secrets` maps to variables): they are substituted here, when the connector
/// takes its options, and nowhere else, so the script, the catalog, `EXPLAIN`, the plan, the HA
/// records and the messages of this type show the reference, never the value.
pub(crate) struct Options<'a> {
    table: &'a CatalogTable,
    connector: String,
    left: BTreeMap<String, String>,
    /// The values as written, of the options that name variables (for messages).
    written: BTreeMap<String, String>,
    known: Vec<String>,
}

impl<'a> Options<'a> {
    pub(crate) fn new(table: &'a CatalogTable) -> Result<Options<'a>, SqlError> {
        let (mut left, mut written) = (BTreeMap::new(), BTreeMap::new());
        for (key, value) in &table.definition.options {
            let resolved = substitute(value, |name| std::env::var(name).ok()).map_err(|name| {
                error(
                    table,
                    format!(
                        "option '{key}' names the environment variable ${{{name}}}, which is not set: set it (on \
                         Kubernetes, map a Secret key to it in the FlinkJob's spec.job.secrets)"
                    ),
                )
            })?;
            if resolved != *value {
                written.insert(key.clone(), value.clone());
            }
            left.insert(key.clone(), resolved);
        }
        let Some(connector) = left.remove("connector") else {
            return Err(error(table, format!("has no 'connector' option; Flink's connectors here are {CONNECTORS}")));
        };
        Ok(Options { table, connector, left, written, known: vec!["connector".into()] })
    }

    /// The table's name, for messages.
    pub(crate) fn table(&self) -> String {
        self.table.path.join(".")
    }

    /// The error `message` about this table, located at its `CREATE TABLE`.
    pub(crate) fn error(&self, message: impl std::fmt::Display) -> SqlError {
        error(self.table, message)
    }

    /// Option `key` as written, if given.
    pub(crate) fn text(&mut self, key: &str) -> Option<String> {
        self.known.push(key.to_string());
        self.left.remove(key)
    }

    /// Option `key` parsed by `parse` (whose error says what is expected).
    pub(crate) fn parsed<T>(
        &mut self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SqlError> {
        match self.text(key) {
            None => Ok(None),
            Some(v) => parse(v.trim()).map(Some).map_err(|e| {
                let shown = self.written.get(key).unwrap_or(&v);
                self.error(format!("option '{key}' = '{shown}': {e}"))
            }),
        }
    }

    /// A whole number.
    pub(crate) fn number<T: std::str::FromStr>(&mut self, key: &str) -> Result<Option<T>, SqlError> {
        self.parsed(key, |v| v.parse::<T>().map_err(|_| "not a number of the right range".to_string()))
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&mut self, key: &str) -> Result<Option<bool>, SqlError> {
        self.parsed(key, |v| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected true or false".into()),
        })
    }

    /// A duration in Flink's forms (`'60 s'`, `'1 min'`, `'500ms'`; a bare number is milliseconds).
    pub(crate) fn duration(&mut self, key: &str) -> Result<Option<Duration>, SqlError> {
        self.parsed(key, ferroflink_types::config::values::duration)
    }

    /// Fails with the options nobody took, naming the ones this connector knows.
    pub(crate) fn finish(self) -> Result<(), SqlError> {
        if self.left.is_empty() {
            return Ok(());
        }
        let unknown: Vec<&str> = self.left.keys().map(String::as_str).collect();
        let mut known: Vec<String> = self.known.clone();
        known.sort();
        known.dedup();
        Err(self.error(format!(
            "unsupported options for connector '{}': {}; its options are {}",
            self.connector,
            unknown.join(", "),
            known.join(", ")
        )))
    }
}

/// `value` with each `${NAME}` (a letter or `_`, then letters, digits and `_`) replaced by
/// `variable(NAME)`; `Err(NAME)` for one that is not set. Anything else is kept as written.
fn substitute(value: &str, variable: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let name_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        let name = &after[..name_len];
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if is_name && after[name_len..].starts_with('}') {
            out.push_str(&variable(name).ok_or_else(|| name.to_string())?);
            rest = &after[name_len + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `table`'s connector takes updates and deletions (`-U`, `+U`, `-D`), not only inserts.
pub(crate) fn takes_updates(table: &CatalogTable) -> bool {
    table.definition.options.iter().any(|(k, v)| k == "connector" && (v == "print" || v == "blackhole"))
}

fn error(table: &CatalogTable, message: impl std::fmt::Display) -> SqlError {
    SqlError::at(table.declared_at, format!("table `{}`: {message}", table.path.join(".")))
}

/// The table's `PARTITIONED BY` columns.
fn partition_keys(table: &CatalogTable) -> Vec<String> {
    table.definition.partitioned_by.iter().map(|c| c.value.clone()).collect()
}

/// The columns a connector reads or writes: the physical ones, in order.
pub(crate) fn physical_columns(table: &CatalogTable) -> Vec<(String, Type)> {
    table
        .definition
        .columns
        .iter()
        .filter_map(|c| match &c.kind {
            ColumnKind::Physical(t) => Some((c.name.value.clone(), t.clone())),
            _ => None,
        })
        .collect()
}

/// The rows of `table`'s physical columns (then metadata columns), from its connector; in batch
/// mode (`batch`) only a bounded table can be read.
pub(crate) fn source(
    env: &StreamExecutionEnvironment,
    table: &CatalogTable,
    batch: bool,
    strategy: WatermarkStrategy<Row>,
) -> Result<DataStream<Row>, SqlError> {
    let mut options = Options::new(table)?;
    if table.definition.columns.iter().any(|c| matches!(c.kind, ColumnKind::Metadata { .. })) {
        return Err(options.error(format!("connector '{}' has no metadata columns", options.connector)));
    }
    let stream = match options.connector.as_str() {
        "datagen" => datagen::source(env, &mut options, &physical_columns(table), batch, strategy)?,
        "filesystem" => {
            filesystem::source(env, &mut options, &physical_columns(table), &partition_keys(table), batch, strategy)?
        }
        "nexmark" => nexmark::source(env, &mut options, &physical_columns(table), batch, strategy)?,
        "print" | "blackhole" => {
            return Err(
                options.error(format!("connector '{}' is a sink: INSERT INTO it, do not read it", options.connector))
            );
        }
        other => return Err(options.error(format!("unknown connector '{other}'; the connectors are {CONNECTORS}"))),
    };
    options.finish()?;
    Ok(stream)
}

/// Where a table's sink goes in the job: its name, uid and parallelism (`sink.parallelism`).
pub(crate) struct Placement {
    name: String,
    uid: String,
    parallelism: Option<usize>,
}

impl Placement {
    /// Names `stream` and gives it its uid and parallelism.
    pub(crate) fn place<T: ferroflink_core::record::Data>(&self, stream: DataStream<T>) -> DataStream<T> {
        let stream = stream.name(&self.name).uid(&self.uid);
        match self.parallelism {
            Some(p) => stream.set_parallelism(p),
            None => stream,
        }
    }

    /// A helper operator after the sink, at parallelism 1 (a partition committer).
    pub(crate) fn place_single<T: ferroflink_core::record::Data>(
        &self,
        what: &str,
        stream: DataStream<T>,
    ) -> DataStream<T> {
        stream.name(&format!("{what}: {}", self.name)).uid(&format!("{}-{}", self.uid, what)).set_parallelism(1)
    }
}

/// Writes `rows` (of the table's physical columns) into `table` through its connector.
pub(crate) fn sink(rows: &DataStream<Row>, table: &CatalogTable, uid: &str) -> Result<(), SqlError> {
    let mut options = Options::new(table)?;
    let name = options.table();
    let placement = Placement {
        name: format!("Sink: {name}"),
        uid: uid.to_string(),
        parallelism: options.number("sink.parallelism")?,
    };
    match options.connector.as_str() {
        "print" => {
            let identifier = options.text("print-identifier");
            let stderr = options.boolean("standard-error")?.unwrap_or(false);
            placement.place(rows.sink_to(PrintSink::new(identifier, stderr)));
        }
        "blackhole" => {
            placement.place(rows.sink_to(BlackholeSink::new(&name)));
        }
        "filesystem" => {
            filesystem::sink(&mut options, &physical_columns(table), &partition_keys(table), rows, &placement)?;
        }
        source @ ("datagen" | "nexmark") => {
            return Err(
                options.error(format!("connector '{source}' is a source: SELECT from it, do not INSERT INTO it"))
            );
        }
        other => return Err(options.error(format!("unknown connector '{other}'; the connectors are {CONNECTORS}"))),
    };
    options.finish()
}

#[cfg(test)]
mod tests {
    use super::substitute;

    fn vars(name: &str) -> Option<String> {
        match name {
            "PG_PASSWORD" => Some("s3cr$t".into()),
            "_user1" => Some("flink".into()),
            _ => None,
        }
    }

    #[test]
    fn variables_are_substituted_and_anything_else_is_kept() {
        assert_eq!(substitute("${PG_PASSWORD}", vars).unwrap(), "s3cr$t");
        assert_eq!(substitute("u=${_user1};p=${PG_PASSWORD}!", vars).unwrap(), "u=flink;p=s3cr$t!");
        for literal in ["plain", "$HOME", "${", "${}", "${1A}", "${A-B}", "cost: $5 ${", "a}${b"] {
            assert_eq!(substitute(literal, vars).unwrap(), literal);
        }
        // What a variable holds is never read again as a reference.
        assert_eq!(substitute("${PG_PASSWORD}{x}", vars).unwrap(), "s3cr$t{x}");
        assert_eq!(substitute("x=${MISSING}", vars).unwrap_err(), "MISSING");
    }
}
