//! A SQL client session: the catalog the script's DDL builds (tables, views, functions) and the
//! options its `SET`s choose. Statements that run something (`INSERT`, statement sets, queries,
//! `EXPLAIN`) come back as [`Effect`]s for the planner.
//!
//! Names are case-sensitive, as in Flink. Objects live in Flink's default catalog and database:
//! `t`, `default_database.t` and `default_catalog.default_database.t` name the same table.

use crate::ast::{ColumnKind, CreateTable, DataType, DropKind, Insert, Located, Statement};
use crate::error::SqlError;
use crate::functions::timezone::LocalZone;
use ferroflink_types::config::keys::{Resolved, resolve};
use ferroflink_types::config::{ConfigLoader, values};
use sqlparser::ast::{Ident, ObjectName, Query};
use sqlparser::tokenizer::Location;
use std::collections::BTreeMap;
use std::time::Duration;

/// Flink's default catalog.
pub const DEFAULT_CATALOG: &str = "default_catalog";
/// Flink's default database.
pub const DEFAULT_DATABASE: &str = "default_database";

/// `execution.runtime-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuntimeMode {
    /// Unbounded processing, changelogs (the default).
    #[default]
    Streaming,
    /// Bounded input, final results once.
    Batch,
}

/// The options of the SQL layer itself (the job's other options are [`Session::job_config`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SqlOptions {
    /// `execution.runtime-mode`.
    pub runtime_mode: RuntimeMode,
    /// `table.exec.state.ttl` (`None`: state is kept forever, Flink's `0 ms`).
    pub state_ttl: Option<Duration>,
    /// `table.exec.source.idle-timeout` (`None`: sources never go idle).
    pub source_idle_timeout: Option<Duration>,
    /// `table.local-time-zone` (`None`: Flink's `default`, the machine's zone).
    pub local_time_zone: Option<String>,
    /// `pipeline.name`.
    pub pipeline_name: Option<String>,
    /// `taskmanager.memory.managed.size`: what batch mode's aggregations of a job may keep in
    /// memory before they spill to disk (`None`: [`crate::spill::DEFAULT_MANAGED_MEMORY`]).
    pub managed_memory: Option<usize>,
    /// `io.tmp.dirs`: where they spill (`None`: the system's temporary directory).
    pub tmp_dir: Option<String>,
}

/// Options of Flink's optimizer and mini-batching, which change how Flink plans and buffers, not
/// what a query returns: accepted with a warning so scripts run unchanged.
const TUNING_PREFIXES: &[&str] = &["table.exec.mini-batch.", "table.optimizer."];

/// A table of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogTable {
    /// Its full name, `catalog.database.table`.
    pub path: [String; 3],
    /// The definition (primary key columns made NOT NULL, as Flink does).
    pub definition: CreateTable,
    /// Where it was declared.
    pub declared_at: Location,
}

/// A view of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogView {
    /// Names given to its columns, if any.
    pub columns: Vec<Ident>,
    /// What it selects.
    pub query: Box<Query>,
}

/// What a statement asks the planner for.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Nothing: the catalog or the options changed.
    Done,
    /// `SET` alone: the options set in this session, as written.
    ShowOptions(Vec<(String, String)>),
    /// One job writing these tables (an `INSERT` or a statement set).
    Job(Vec<Insert>),
    /// A query whose rows the client prints.
    Query(Box<Query>),
    /// `EXPLAIN` of one of the above.
    Explain {
        /// The details asked for.
        details: Vec<String>,
        /// What to explain.
        effect: Box<Effect>,
    },
}

/// A session: catalog and options, changed statement by statement.
#[derive(Debug, Default)]
pub struct Session {
    options: SqlOptions,
    /// Every `SET` in force, by key as written, in order.
    set: Vec<(String, String)>,
    tables: BTreeMap<[String; 3], CatalogTable>,
    views: BTreeMap<[String; 3], CatalogView>,
    functions: BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl Session {
    /// An empty session with Flink's defaults.
    pub fn new() -> Session {
        Session::default()
    }

    /// The SQL layer's options.
    pub fn options(&self) -> &SqlOptions {
        &self.options
    }

    /// The job options set (`parallelism.default`, `execution.checkpointing.*`, ...): key as
    /// written and value, for the job's configuration.
    pub fn job_config(&self) -> Vec<(String, String)> {
        self.set.iter().filter(|(k, _)| matches!(resolve(k), Some(Resolved::Ours(_)))).cloned().collect()
    }

    /// Warnings since the last call (ignored options), each naming what and why.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// A table by name.
    pub fn table(&self, name: &ObjectName) -> Option<&CatalogTable> {
        self.tables.get(&path_of(name).ok()?)
    }

    /// A view by name.
    pub fn view(&self, name: &ObjectName) -> Option<&CatalogView> {
        self.views.get(&path_of(name).ok()?)
    }

    /// The functions bound by `CREATE FUNCTION`: SQL name and registered identifier.
    pub fn functions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.functions.iter().map(|(n, i)| (n.as_str(), i.as_str()))
    }

    /// The registered name a SQL function name is bound to by `CREATE FUNCTION`.
    pub fn function(&self, name: &str) -> Option<&str> {
        self.functions.get(name).map(String::as_str)
    }

    /// Applies one statement.
    pub fn execute(&mut self, located: &Located) -> Result<Effect, SqlError> {
        let at = Location { line: located.line, column: located.column };
        let err = |message: String| SqlError::at(at, message);
        match &located.statement {
            Statement::CreateTable(t) => self.create_table(t, at).map(|()| Effect::Done),
            Statement::CreateView { name, if_not_exists, columns, query, .. } => {
                let path = path_of(name).map_err(err)?;
                if self.exists(&path) {
                    return if *if_not_exists { Ok(Effect::Done) } else { Err(err(already_exists(&path))) };
                }
                self.views.insert(path, CatalogView { columns: columns.clone(), query: query.clone() });
                Ok(Effect::Done)
            }
            Statement::CreateFunction { name, if_not_exists, identifier, language, .. } => {
                if let Some(l) = language.as_deref().filter(|l| *l != "RUST") {
                    return Err(err(format!(
                        "functions in {l} cannot run here: ferroflink calls Rust functions its binary registers \
                         (LANGUAGE RUST, or no LANGUAGE)"
                    )));
                }
                let key = function_name(name).map_err(err)?;
                if self.functions.contains_key(&key) && !*if_not_exists {
                    return Err(err(format!("function `{key}` already exists")));
                }
                self.functions.entry(key).or_insert_with(|| identifier.clone());
                Ok(Effect::Done)
            }
            Statement::Drop { kind, name, if_exists } => {
                let removed = match kind {
                    DropKind::Table => self.tables.remove(&path_of(name).map_err(err)?).is_some(),
                    DropKind::View => self.views.remove(&path_of(name).map_err(err)?).is_some(),
                    DropKind::Function => self.functions.remove(&function_name(name).map_err(err)?).is_some(),
                };
                if removed || *if_exists {
                    return Ok(Effect::Done);
                }
                let what = match kind {
                    DropKind::Table => "table",
                    DropKind::View => "view",
                    DropKind::Function => "function",
                };
                Err(err(format!("{what} `{name}` does not exist (DROP ... IF EXISTS drops it only if it does)")))
            }
            Statement::Set(None) => Ok(Effect::ShowOptions(self.set.clone())),
            Statement::Set(Some((key, value))) => self.set(key, value).map_err(err).map(|()| Effect::Done),
            Statement::Reset(key) => {
                match key {
                    None => self.set.clear(),
                    Some(k) => self.set.retain(|(set, _)| set != k),
                }
                // Apply what stays set afresh (its warnings were given when it was set).
                self.options = SqlOptions::default();
                let (set, warned) = (std::mem::take(&mut self.set), self.warnings.len());
                for (k, v) in &set {
                    self.set(k, v).map_err(err)?;
                }
                self.warnings.truncate(warned);
                Ok(Effect::Done)
            }
            Statement::Insert(i) => Ok(Effect::Job(vec![i.clone()])),
            Statement::StatementSet(inserts) => Ok(Effect::Job(inserts.clone())),
            Statement::Query(q) => Ok(Effect::Query(q.clone())),
            Statement::Explain { details, statement } => {
                let inner = Located { line: located.line, column: located.column, statement: (**statement).clone() };
                Ok(Effect::Explain { details: details.clone(), effect: Box::new(self.execute(&inner)?) })
            }
        }
    }

    fn exists(&self, path: &[String; 3]) -> bool {
        self.tables.contains_key(path) || self.views.contains_key(path)
    }

    fn create_table(&mut self, t: &CreateTable, at: Location) -> Result<(), SqlError> {
        let path = path_of(&t.name).map_err(|m| SqlError::at(at, m))?;
        if self.exists(&path) {
            return if t.if_not_exists { Ok(()) } else { Err(SqlError::at(at, already_exists(&path))) };
        }
        let mut definition = t.clone();
        validate_table(&mut definition).map_err(|m| SqlError::at(at, format!("table `{}`: {m}", path[2])))?;
        self.tables.insert(path.clone(), CatalogTable { path, definition, declared_at: at });
        Ok(())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let bad = |why: String| format!("SET '{key}' = '{value}': {why}");
        let duration = |v: &str| values::duration(v).map(|d| (!d.is_zero()).then_some(d)).map_err(bad);
        match key {
            "execution.runtime-mode" => {
                self.options.runtime_mode = match values::enum_name(value).as_str() {
                    "streaming" => RuntimeMode::Streaming,
                    "batch" => RuntimeMode::Batch,
                    "automatic" => {
                        return Err(bad("AUTOMATIC is not supported: say STREAMING or BATCH".into()));
                    }
                    _ => return Err(bad("the runtime mode is STREAMING or BATCH".into())),
                }
            }
            "table.exec.state.ttl" => self.options.state_ttl = duration(value)?,
            "table.exec.source.idle-timeout" => self.options.source_idle_timeout = duration(value)?,
            "table.local-time-zone" => {
                if value != "default" {
                    LocalZone::named(value).map_err(bad)?;
                }
                self.options.local_time_zone = (value != "default").then(|| value.to_string());
            }
            "pipeline.name" => self.options.pipeline_name = Some(value.to_string()),
            "taskmanager.memory.managed.size" => {
                let bytes = values::bytes(value).map_err(bad)?;
                self.options.managed_memory = Some(bytes);
            }
            "io.tmp.dirs" => {
                // Flink's list of directories; the first is used.
                let first = value.split([',', ':']).map(str::trim).find(|d| !d.is_empty());
                self.options.tmp_dir = first.map(str::to_string);
            }
            _ if TUNING_PREFIXES.iter().any(|p| key.starts_with(p)) && resolve(key).is_some() => {
                self.warnings.push(format!(
                    "'{key}' tunes Flink's own planner or buffering; ferroflink plans and buffers its own way and \
                     ignores it (results are the same)"
                ));
            }
            _ => match resolve(key) {
                Some(Resolved::Ours(_)) => {
                    // Checked as a command-line setting would be, so a bad value fails here.
                    ConfigLoader::new()
                        .command_line([(key.to_string(), serde_json::Value::String(value.to_string()))])
                        .and_then(ConfigLoader::load)
                        .map_err(|e| bad(e.0))?;
                }
                Some(Resolved::FlinkOnly) => self.warnings.push(format!(
                    "'{key}' is a Flink option ferroflink does not implement; it is ignored (see README.md, SQL, \
                     for what differs from Flink)"
                )),
                None => return Err(bad("no such option in Flink or ferroflink".into())),
            },
        }
        self.set.retain(|(k, _)| k != key);
        self.set.push((key.to_string(), value.to_string()));
        Ok(())
    }
}

fn already_exists(path: &[String; 3]) -> String {
    format!(
        "a table or view `{}`.`{}`.`{}` already exists (CREATE ... IF NOT EXISTS keeps the existing one)",
        path[0], path[1], path[2]
    )
}

/// `t`, `db.t` or `catalog.db.t` in the default catalog and database.
pub(crate) fn path_of(name: &ObjectName) -> Result<[String; 3], String> {
    let parts: Vec<String> = name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default()).collect();
    let (catalog, database, table) = match parts.as_slice() {
        [t] => (DEFAULT_CATALOG, DEFAULT_DATABASE, t),
        [d, t] => (DEFAULT_CATALOG, d.as_str(), t),
        [c, d, t] => (c.as_str(), d.as_str(), t),
        _ => return Err(format!("`{name}` is not a table name (table, database.table or catalog.database.table)")),
    };
    if catalog != DEFAULT_CATALOG {
        return Err(format!("catalog `{catalog}` does not exist: ferroflink has Flink's `{DEFAULT_CATALOG}` only"));
    }
    if database != DEFAULT_DATABASE {
        return Err(format!("database `{database}` does not exist: ferroflink has Flink's `{DEFAULT_DATABASE}` only"));
    }
    Ok([catalog.to_string(), database.to_string(), table.clone()])
}

fn function_name(name: &ObjectName) -> Result<String, String> {
    path_of(name).map(|[_, _, f]| f)
}

/// Checks a table's definition as Flink does and makes its primary key columns NOT NULL.
fn validate_table(t: &mut CreateTable) -> Result<(), String> {
    let find = |t: &CreateTable, name: &Ident| t.columns.iter().position(|c| c.name.value == name.value);
    let unknown = |t: &CreateTable, what: &str, name: &Ident| {
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.value.as_str()).collect();
        format!("{what} column `{}` is not a column of the table; the columns are {}", name.value, names.join(", "))
    };
    if !t.options.iter().any(|(k, _)| k == "connector") {
        return Err("the WITH options have no 'connector': say which connector reads or writes it".into());
    }
    if let Some(w) = &t.watermark {
        let i = find(t, &w.column).ok_or_else(|| unknown(t, "the watermark's", &w.column))?;
        let ty = match &t.columns[i].kind {
            ColumnKind::Physical(ty) | ColumnKind::Metadata { ty, .. } => Some(ty),
            // A computed column's type is known once the planner types its expression.
            ColumnKind::Computed(_) => None,
        };
        if let Some(ty) = ty
            && !matches!(ty.data, DataType::Timestamp(p) | DataType::TimestampLtz(p) if p <= 3)
        {
            return Err(format!(
                "the watermark's column `{}` is {ty}; a rowtime column is TIMESTAMP(p) or TIMESTAMP_LTZ(p) with p from \
                 0 to 3",
                w.column.value
            ));
        }
    }
    if let Some(pk) = t.primary_key.clone() {
        for c in &pk {
            let i = find(t, c).ok_or_else(|| unknown(t, "the primary key's", c))?;
            match &mut t.columns[i].kind {
                ColumnKind::Physical(ty) => ty.nullable = false,
                _ => {
                    return Err(format!(
                        "the primary key's column `{}` is computed or metadata; a primary key is made of physical columns",
                        c.value
                    ));
                }
            }
        }
    }
    for c in &t.partitioned_by {
        let i = find(t, c).ok_or_else(|| unknown(t, "the PARTITIONED BY", c))?;
        if !matches!(t.columns[i].kind, ColumnKind::Physical(_)) {
            return Err(format!(
                "the PARTITIONED BY column `{}` is computed or metadata; a table is partitioned by physical columns",
                c.value
            ));
        }
    }
    Ok(())
}
