//! Plans a session's jobs into the job graph the DataStream API builds: each relation of a query
//! becomes operators on a `DataStream<Row>` (a table's source, then `Calc`s that filter and
//! project), each `INSERT` a sink. Every operator knows its changelog mode and its state class,
//! which `EXPLAIN` prints; every operator's id is a digest of its own definition and its inputs'
//! ids, so the same script plans the same ids, and an edit keeps the ids of what it did not
//! change.

mod aggregate;
mod join;
mod rank;
mod window;

use crate::agg::GroupKey;
use crate::ast::{ColumnKind, DataType, Insert, Type};
use crate::connectors::{self, physical_columns};
use crate::error::SqlError;
use crate::expr::{Compiler, EvalError, Expr, Scope, ScopeColumn, Typed};
use crate::functions::timezone::LocalZone;
use crate::session::{CatalogTable, Session};
use crate::spill::{BatchFold, DEFAULT_MANAGED_MEMORY, Fold, SpillBudget};
use crate::udf::{AggregateUdf, ScalarUdf, Udf, Udfs};
use crate::value::{Row, Value};
use ferroflink_core::error::{Error, Result as EngineResult};
use ferroflink_core::record::{NO_TIMESTAMP, Record};
use ferroflink_datastream::{DataStream, KeyedStream, StreamExecutionEnvironment};
use ferroflink_runtime::operator::{Operator, Output};
use ferroflink_runtime::watermark::WatermarkStrategy;
use sqlparser::ast::{self as sql, Spanned};
use sqlparser::tokenizer::Location;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// What changes an operator emits (or a sink accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangelogMode {
    /// `+I` only.
    InsertOnly,
    /// `+I`, `-U`, `+U`, `-D`.
    Retract,
}

impl fmt::Display for ChangelogMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangelogMode::InsertOnly => "insert-only",
            ChangelogMode::Retract => "retract",
        })
    }
}

/// How much state an operator keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateClass {
    /// None.
    Stateless,
    /// Bounded by windows or by `table.exec.state.ttl`.
    Bounded,
    /// Grows with the keys it sees, forever.
    Unbounded,
}

impl fmt::Display for StateClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateClass::Stateless => "stateless",
            StateClass::Bounded => "bounded state",
            StateClass::Unbounded => "UNBOUNDED state",
        })
    }
}

/// An operator of the plan, for `EXPLAIN`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanNode {
    /// The id of its operator (where it has one of its own: a union has none).
    pub uid: String,
    /// What it does, as Flink names it (`Calc(select=[..], where=[..])`).
    pub label: String,
    /// What it emits.
    pub mode: ChangelogMode,
    /// What it keeps.
    pub state: StateClass,
    /// Its inputs.
    pub inputs: Vec<PlanNode>,
}

impl PlanNode {
    /// Whether its rows come with event-time watermarks: it assigns them, or every input of it
    /// has them.
    pub fn in_event_time(&self) -> bool {
        self.label.starts_with("WatermarkAssigner")
            || (!self.inputs.is_empty() && self.inputs.iter().all(PlanNode::in_event_time))
    }

    /// What `EXPLAIN` says of it alone: its label, changelog mode and state class (an operator's
    /// description in the job graph, for `GET /jobs/<id>/plan` and the web UI).
    pub fn describe(&self) -> String {
        format!("{} [{}, {}]", self.label, self.mode, self.state)
    }

    /// Calls `f` on it and everything below it.
    pub fn visit(&self, f: &mut impl FnMut(&PlanNode)) {
        f(self);
        self.inputs.iter().for_each(|input| input.visit(f));
    }

    fn write(&self, out: &mut String, indent: &str, last: bool, root: bool) {
        let (branch, next) =
            if root { ("", String::new()) } else { ("+- ", format!("{indent}{}", if last { "   " } else { ":  " })) };
        out.push_str(&format!("{indent}{branch}{}\n", self.describe()));
        for (i, input) in self.inputs.iter().enumerate() {
            input.write(out, &next, i + 1 == self.inputs.len(), false);
        }
    }
}

impl fmt::Display for PlanNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out, "", true, true);
        f.write_str(&out)
    }
}

/// A planned relation: its rows and what they are.
#[derive(Clone)]
pub struct Planned {
    /// The rows.
    pub stream: DataStream<Row>,
    /// The columns (names, qualifiers, types).
    pub scope: Scope,
    /// What changes the rows are.
    pub mode: ChangelogMode,
    /// The id of the operator that emits them.
    pub uid: String,
    /// The plan below, for `EXPLAIN`.
    pub node: PlanNode,
    /// The column that is the rows' event time (their record timestamp), if one is.
    pub rowtime: Option<usize>,
    /// The column that is a processing-time attribute (`PROCTIME()`), if one is.
    pub proctime: Option<usize>,
    /// The columns that are the start and the end of the window each row belongs to (a window
    /// function's or a window aggregate's), if there are: a window aggregate or a window join
    /// can follow on them, as Flink's planner propagates window properties.
    pub window: Option<(usize, usize)>,
}

/// Columns by name and type.
type Columns = Vec<(String, Type)>;

/// A relation in `FROM`: rows, or a window table function over rows (kept apart until it is
/// known whether a window aggregate consumes it).
pub(crate) enum Relation {
    /// Rows.
    Plain(Planned),
    /// `TABLE(TUMBLE|HOP|CUMULATE|SESSION(...))`.
    Window(window::WindowInput),
}

/// Plans into one environment.
pub struct Planner<'a> {
    session: &'a Session,
    env: StreamExecutionEnvironment,
    zone: Arc<LocalZone>,
    /// Operator ids given so far, and how often each digest came up (the second scan of the same
    /// table in one job gets the digest's second id).
    ids: RefCell<HashMap<String, usize>>,
    /// The `WITH` queries in scope, outermost first.
    ctes: RefCell<Vec<sql::Cte>>,
    /// The limit a query puts on the `ROW_NUMBER()` column (name, rows) of its subquery.
    rank_limit: RefCell<Option<(String, u64)>>,
    /// The scalar functions `CREATE FUNCTION` bound, by SQL name in upper case.
    udfs: BTreeMap<String, ScalarUdf>,
    /// The aggregate functions `CREATE FUNCTION` bound, by SQL name in upper case.
    udafs: BTreeMap<String, AggregateUdf>,
    /// The tables and views planned so far, by full name: a job reads a table (and computes a
    /// view) once, however many of its queries use it (Flink's source and sub-plan reuse).
    reused: RefCell<HashMap<[String; 3], Planned>>,
    /// The managed memory batch aggregations share (`taskmanager.memory.managed.size`).
    spill: Arc<SpillBudget>,
}

fn digest(parts: &[&str]) -> String {
    let mut text = String::new();
    for p in parts {
        text.push_str(p);
        text.push('\u{1f}');
    }
    format!("sql-{:016x}", xxhash_rust::xxh64::xxh64(text.as_bytes(), 0))
}

fn unsupported(at: Location, what: &str) -> SqlError {
    SqlError::at(at, format!("{what} is not supported yet"))
}

/// The name Flink gives a select item without an alias.
fn default_name(e: &sql::Expr, index: usize) -> String {
    match e {
        sql::Expr::Identifier(i) => i.value.clone(),
        sql::Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()).unwrap_or_default(),
        sql::Expr::Nested(inner) => default_name(inner, index),
        _ => format!("EXPR${index}"),
    }
}

impl<'a> Planner<'a> {
    /// A planner of `session`'s statements into `env`.
    pub fn new(session: &'a Session, env: StreamExecutionEnvironment) -> Result<Planner<'a>, SqlError> {
        let zone = session.options().local_time_zone.as_deref().unwrap_or("UTC");
        let zone = LocalZone::named(zone).map_err(|e| SqlError { line: 1, column: 1, message: e })?;
        if session.options().runtime_mode == crate::session::RuntimeMode::Batch {
            // As in Flink's batch runtime: no periodic checkpoints (batch operators such as the
            // spilling aggregate keep their input outside the state backends until the end);
            // a failed batch job runs again from its beginning. The end still commits the sinks.
            env.configure_checkpoints(|c| {
                if c.interval.take().is_some() {
                    tracing::warn!("batch mode takes no periodic checkpoints; the checkpoint interval is ignored");
                }
            });
        }
        Ok(Planner {
            session,
            env,
            zone: Arc::new(zone),
            ids: RefCell::new(HashMap::new()),
            ctes: RefCell::new(Vec::new()),
            rank_limit: RefCell::new(None),
            udfs: BTreeMap::new(),
            udafs: BTreeMap::new(),
            reused: RefCell::new(HashMap::new()),
            spill: SpillBudget::new(
                session.options().managed_memory.unwrap_or(DEFAULT_MANAGED_MEMORY),
                session.options().tmp_dir.as_ref().map_or_else(std::env::temp_dir, PathBuf::from),
            ),
        })
    }

    /// Batch mode's keyed operator `fold` (which each subtask makes) over `keyed`, in bounded
    /// memory: a share of the job's managed memory, spilling to disk.
    fn batch_fold<F: Fold>(
        &self,
        keyed: &KeyedStream<Row, GroupKey>,
        label: &str,
        fold: impl Fn() -> F + Send + Sync + 'static,
    ) -> DataStream<Row> {
        self.spill.register();
        let budget = self.spill.clone();
        keyed.transform_from(label, move || BatchFold::new(fold(), budget.clone()))
    }

    /// This planner with the session's `CREATE FUNCTION`s bound to the functions `registered`;
    /// a binding to a function the binary does not register is an error that lists those it does.
    pub fn with_functions(mut self, registered: &Udfs) -> Result<Self, SqlError> {
        for (name, identifier) in self.session.functions() {
            let udf = registered.get(identifier).ok_or_else(|| SqlError {
                line: 1,
                column: 1,
                message: format!(
                    "function `{name}` is bound to '{identifier}', which this binary does not register; it registers: {}",
                    registered.names()
                ),
            })?;
            match udf {
                Udf::Scalar(f) => self.udfs.insert(name.to_ascii_uppercase(), f.clone()).map(|_| ()),
                Udf::Aggregate(f) => self.udafs.insert(name.to_ascii_uppercase(), f.clone()).map(|_| ()),
            };
        }
        Ok(self)
    }

    /// The id of an operator whose definition and inputs digest to `digest`: the digest itself,
    /// or with `#n` for the n-th operator of the job with the same digest.
    fn id(&self, digest: String) -> String {
        let mut ids = self.ids.borrow_mut();
        let n = ids.entry(digest.clone()).or_default();
        *n += 1;
        if *n == 1 { digest } else { format!("{digest}#{n}") }
    }

    /// The session's time zone.
    pub fn zone(&self) -> &LocalZone {
        &self.zone
    }

    fn compiler<'s>(&'s self, scope: &'s Scope) -> Compiler<'s> {
        Compiler { scope, zone: self.zone.clone(), substitutions: &[], udfs: &self.udfs }
    }

    /// Plans the sinks of one job (an `INSERT` or a statement set); returns their plans.
    pub fn inserts(&self, inserts: &[Insert]) -> Result<Vec<PlanNode>, SqlError> {
        let plans = inserts.iter().map(|i| self.insert(i)).collect::<Result<Vec<_>, _>>()?;
        self.env.with_graph(|graph| {
            let mut describe = |node: &PlanNode| graph.describe(&node.uid, &node.describe());
            plans.iter().for_each(|plan| plan.visit(&mut describe));
        });
        Ok(plans)
    }

    fn insert(&self, insert: &Insert) -> Result<PlanNode, SqlError> {
        let at = insert.table.span().start;
        if self.session.view(&insert.table).is_some() {
            return Err(SqlError::at(at, format!("`{}` is a view: INSERT INTO a table", insert.table)));
        }
        let Some(table) = self.session.table(&insert.table) else {
            return Err(SqlError::at(at, format!("table `{}` does not exist; CREATE TABLE it first", insert.table)));
        };
        let planned = self.query(&insert.query)?;
        let columns = physical_columns(table);
        let name = table.path.join(".");
        // The query's columns for each sink column, by the listed names or in order.
        let sources: Vec<Option<usize>> = if insert.columns.is_empty() {
            if planned.scope.columns.len() != columns.len() {
                return Err(SqlError::at(
                    at,
                    format!(
                        "the query has {} columns but table `{name}` has {}: {}",
                        planned.scope.columns.len(),
                        columns.len(),
                        columns.iter().map(|(n, t)| format!("`{n}` {t}")).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            (0..columns.len()).map(Some).collect()
        } else {
            if insert.columns.len() != planned.scope.columns.len() {
                return Err(SqlError::at(at, "the column list and the query have different numbers of columns"));
            }
            for c in &insert.columns {
                if !columns.iter().any(|(n, _)| *n == c.value) {
                    return Err(SqlError::at(c.span.start, format!("table `{name}` has no column `{}`", c.value)));
                }
            }
            columns.iter().map(|(n, _)| insert.columns.iter().position(|c| c.value == *n)).collect()
        };
        let compiler = self.compiler(&planned.scope);
        let mut projection = Vec::with_capacity(columns.len());
        for ((column, ty), source) in columns.iter().zip(&sources) {
            let value = match source {
                Some(i) => {
                    let from = &planned.scope.columns[*i].ty;
                    if !assignable(&from.data, &ty.data) {
                        return Err(SqlError::at(
                            at,
                            format!(
                                "column `{column}` of table `{name}` is {}, the query gives {} (`{}`): CAST it",
                                ty.data, from.data, planned.scope.columns[*i].name
                            ),
                        ));
                    }
                    Typed { expr: Expr::Column(*i), ty: from.clone() }
                }
                None if ty.nullable => Typed { expr: Expr::Literal(Value::Null), ty: ty.clone() },
                None => {
                    return Err(SqlError::at(
                        at,
                        format!("column `{column}` of table `{name}` is NOT NULL: give it a value"),
                    ));
                }
            };
            projection.push(compiler.cast(value, &ty.data, true).expr);
        }
        let identity = projection.iter().enumerate().all(|(i, e)| matches!(e, Expr::Column(c) if *c == i));
        let (stream, uid, input) = if identity {
            (planned.stream, planned.uid, planned.node)
        } else {
            let scope = Scope::of(None, columns.clone());
            let calc = self.calc(planned, None, projection, scope)?;
            (calc.stream, calc.uid, calc.node)
        };
        if input.mode != ChangelogMode::InsertOnly && !connectors::takes_updates(table) {
            return Err(SqlError::at(
                at,
                format!(
                    "table `{name}` takes inserts only, and the query gives a changelog with updates ({}): write it to a \
                     sink that takes updates ('print', or an upsert sink with a PRIMARY KEY), or aggregate over windows \
                     (GROUP BY window_start, window_end, ..), whose rows are final",
                    input.label
                ),
            ));
        }
        let sink_uid = self.id(digest(&["sink", &name, &format!("{:?}", table.definition.options), &uid]));
        connectors::sink(&stream, table, &sink_uid)?;
        Ok(PlanNode {
            uid: sink_uid,
            label: format!(
                "Sink(table=[{name}], fields=[{}])",
                columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
            mode: input.mode,
            state: StateClass::Stateless,
            inputs: vec![input],
        })
    }

    /// Plans a query.
    pub fn query(&self, q: &sql::Query) -> Result<Planned, SqlError> {
        let at = q.body.span().start;
        if q.fetch.is_some() {
            return Err(unsupported(at, "FETCH"));
        }
        let count = |e: &sql::Expr, what: &str| {
            rank::constant_count(e).ok_or_else(|| SqlError::at(e.span().start, format!("{what} takes a whole number")))
        };
        let (limit, offset) = match &q.limit_clause {
            None => (None, 0),
            Some(sql::LimitClause::LimitOffset { limit, offset, limit_by }) if limit_by.is_empty() => (
                limit.as_ref().map(|e| count(e, "LIMIT")).transpose()?,
                offset.as_ref().map(|o| count(&o.value, "OFFSET")).transpose()?.unwrap_or(0),
            ),
            Some(_) => return Err(unsupported(at, "LIMIT .. BY and LIMIT m, n")),
        };
        let mut keys = match q.order_by.as_ref().map(|o| &o.kind) {
            None => Vec::new(),
            Some(sql::OrderByKind::Expressions(keys)) => keys.clone(),
            Some(sql::OrderByKind::All(_)) => return Err(unsupported(at, "ORDER BY ALL")),
        };
        if keys.is_empty() && limit.is_none() && offset == 0 {
            return self.with(q);
        }
        // Streaming `ORDER BY <rowtime> [ASC], ..` without a limit: a temporal sort.
        let streaming = self.session.options().runtime_mode == crate::session::RuntimeMode::Streaming;
        if streaming && limit.is_none() && offset == 0 && !matches!(keys[0].options.sort, Some(sql::OrderBySort::Desc))
        {
            let planned = self.with(q)?;
            let time_name = planned.rowtime.map(|t| planned.scope.columns[t].name.clone());
            let first = match &keys[0].expr {
                sql::Expr::Identifier(i) => Some(&i.value),
                sql::Expr::CompoundIdentifier(parts) => parts.last().map(|i| &i.value),
                _ => None,
            };
            if let (Some(time), Some(first)) = (time_name, first)
                && time.eq_ignore_ascii_case(first)
            {
                return self.time_sort(planned, &keys, at);
            }
        }
        // A select sorts by what its rows do not show too: each sort expression becomes a hidden
        // column of the select (`$order<i>`), dropped after the sort.
        let mut hidden = 0;
        let planned = match &*q.body {
            sql::SetExpr::Select(s)
                if s.distinct.is_none() && keys.iter().any(|k| rank::constant_count(&k.expr).is_none()) =>
            {
                let mut select = (**s).clone();
                for (i, k) in keys.iter_mut().enumerate() {
                    if rank::constant_count(&k.expr).is_some() {
                        continue;
                    }
                    // A name the select list gives sorts by that item's expression.
                    let aliased = match &k.expr {
                        sql::Expr::Identifier(id) => s.projection.iter().find_map(|item| match item {
                            sql::SelectItem::ExprWithAlias { expr, alias }
                                if alias.value.eq_ignore_ascii_case(&id.value) =>
                            {
                                Some(expr.clone())
                            }
                            _ => None,
                        }),
                        _ => None,
                    };
                    let name = sql::Ident::new(format!("$order{i}"));
                    select.projection.push(sql::SelectItem::ExprWithAlias {
                        expr: aliased.unwrap_or_else(|| k.expr.clone()),
                        alias: name.clone(),
                    });
                    k.expr = sql::Expr::Identifier(name);
                    hidden += 1;
                }
                let query = sql::Query { body: Box::new(sql::SetExpr::Select(Box::new(select))), ..q.clone() };
                self.with(&query)?
            }
            _ => self.with(q)?,
        };
        self.sort_limit(planned, &keys, hidden, (offset, limit), at)
    }

    /// The query's body with its `WITH` queries in scope.
    fn with(&self, q: &sql::Query) -> Result<Planned, SqlError> {
        let at = q.body.span().start;
        let Some(with) = &q.with else { return self.set_expr(&q.body) };
        if with.recursive {
            return Err(unsupported(at, "WITH RECURSIVE"));
        }
        // Each common table expression is a view of the query (and of those after it).
        let before = self.ctes.borrow().len();
        for cte in &with.cte_tables {
            self.ctes.borrow_mut().push(cte.clone());
        }
        let planned = self.set_expr(&q.body);
        self.ctes.borrow_mut().truncate(before);
        planned
    }

    fn set_expr(&self, body: &sql::SetExpr) -> Result<Planned, SqlError> {
        let at = body.span().start;
        match body {
            sql::SetExpr::Select(s) => self.select(s),
            sql::SetExpr::Query(q) => self.query(q),
            sql::SetExpr::SetOperation {
                op: sql::SetOperator::Union,
                set_quantifier: sql::SetQuantifier::All,
                left,
                right,
            } => self.union_all(left, right, at),
            sql::SetExpr::SetOperation { op, set_quantifier, .. } => {
                Err(unsupported(at, format!("{op} {set_quantifier}").trim()))
            }
            other => Err(unsupported(at, &format!("`{}`", other.to_string().chars().take(40).collect::<String>()))),
        }
    }

    fn union_all(&self, left: &sql::SetExpr, right: &sql::SetExpr, at: Location) -> Result<Planned, SqlError> {
        let (l, r) = (self.set_expr(left)?, self.set_expr(right)?);
        if l.scope.columns.len() != r.scope.columns.len() {
            return Err(SqlError::at(
                at,
                format!(
                    "UNION ALL of {} and {} columns: both sides need as many",
                    l.scope.columns.len(),
                    r.scope.columns.len()
                ),
            ));
        }
        // Both sides to the least restrictive type of each column.
        let mut types = Vec::new();
        for (a, b) in l.scope.columns.iter().zip(&r.scope.columns) {
            let t = crate::typing::least_restrictive(&[a.ty.clone(), b.ty.clone()])
                .map_err(|e| SqlError::at(at, format!("UNION ALL column `{}`: {e}", a.name)))?;
            types.push(t);
        }
        let names: Vec<(String, Type)> =
            l.scope.columns.iter().zip(&types).map(|(c, t)| (c.name.clone(), t.clone())).collect();
        let align = |side: Planned| -> Result<Planned, SqlError> {
            if side.scope.columns.iter().zip(&types).all(|(c, t)| c.ty.data == t.data) {
                return Ok(side);
            }
            let compiler = self.compiler(&side.scope);
            let projection = (0..types.len())
                .map(|i| {
                    compiler
                        .cast(
                            Typed { expr: Expr::Column(i), ty: side.scope.columns[i].ty.clone() },
                            &types[i].data,
                            true,
                        )
                        .expr
                })
                .collect();
            self.calc(side, None, projection, Scope::of(None, names.clone()))
        };
        let (l, r) = (align(l)?, align(r)?);
        let mode = if l.mode == ChangelogMode::InsertOnly && r.mode == ChangelogMode::InsertOnly {
            ChangelogMode::InsertOnly
        } else {
            ChangelogMode::Retract
        };
        let uid = self.id(digest(&["union", &l.uid, &r.uid]));
        Ok(Planned {
            stream: l.stream.union(std::slice::from_ref(&r.stream)),
            scope: Scope::of(None, names),
            mode,
            uid: uid.clone(),
            rowtime: l.rowtime.filter(|t| r.rowtime == Some(*t)),
            proctime: l.proctime.filter(|t| r.proctime == Some(*t)),
            window: l.window.filter(|w| r.window == Some(*w)),
            node: PlanNode {
                uid,
                label: "Union(all=[true])".into(),
                mode,
                state: StateClass::Stateless,
                inputs: vec![l.node, r.node],
            },
        })
    }

    fn select(&self, s: &sql::Select) -> Result<Planned, SqlError> {
        let at = s.select_token.0.span.start;
        match &s.distinct {
            None | Some(sql::Distinct::All) => {}
            Some(sql::Distinct::Distinct) => {
                let all = sql::Select { distinct: None, ..s.clone() };
                let planned = self.select(&all)?;
                return Ok(self.distinct(planned));
            }
            Some(sql::Distinct::On(_)) => return Err(unsupported(at, "SELECT DISTINCT ON")),
        }
        if !s.named_window.is_empty() || s.qualify.is_some() {
            return Err(unsupported(at, "WINDOW and QUALIFY"));
        }
        let group_by = match &s.group_by {
            sql::GroupByExpr::Expressions(e, modifiers) if modifiers.is_empty() => e.clone(),
            _ => return Err(unsupported(at, "GROUP BY ALL, ROLLUP, CUBE and GROUPING SETS")),
        };
        // `FROM (SELECT .., ROW_NUMBER() OVER (..) AS rn ..) WHERE rn <= N`: the limit goes down.
        if let [one] = s.from.as_slice()
            && let sql::TableFactor::Derived { subquery, .. } = &one.relation
            && let sql::SetExpr::Select(inner) = &*subquery.body
            && let Some((_, Some(alias))) = inner.projection.iter().find_map(rank::row_number)
            && let Some(n) = rank::limit_of(s.selection.as_ref(), &alias.value)
        {
            *self.rank_limit.borrow_mut() = Some((alias.value.clone(), n));
        }
        let input = match s.from.as_slice() {
            [one] if one.joins.is_empty() => self.relation(&one.relation)?,
            [one] => {
                let mut joined = self.materialize(self.relation(&one.relation)?)?;
                for j in &one.joins {
                    let right = self.materialize(self.relation(&j.relation)?)?;
                    joined = self.join(joined, right, &j.join_operator, j.relation.span().start)?;
                }
                Relation::Plain(joined)
            }
            [] => return Err(unsupported(at, "SELECT without FROM")),
            // `FROM a, b WHERE p` is `FROM a JOIN b ON p` (an inner join's condition and a filter
            // after it select the same rows).
            [left, right] if right.joins.is_empty() && s.selection.is_some() => {
                let mut joined = left.clone();
                joined.joins.push(sql::Join {
                    relation: right.relation.clone(),
                    global: false,
                    join_operator: sql::JoinOperator::Inner(sql::JoinConstraint::On(
                        s.selection.clone().expect("a WHERE clause"),
                    )),
                });
                return self.select(&sql::Select { from: vec![joined], selection: None, ..s.clone() });
            }
            _ => {
                return Err(unsupported(
                    at,
                    "this FROM list (a join by commas is of two tables with a WHERE condition; write JOIN .. ON)",
                ));
            }
        };
        if s.projection.iter().any(|i| rank::row_number(i).is_some()) {
            if !group_by.is_empty() {
                return Err(unsupported(
                    at,
                    "ROW_NUMBER() with GROUP BY in one SELECT (aggregate in a subquery first)",
                ));
            }
            return self.top_n(s, input);
        }
        let calls = self.aggregate_calls(s);
        if !calls.is_empty() || !group_by.is_empty() {
            return self.aggregate(s, input, &calls, &group_by);
        }
        if let Some(h) = &s.having {
            return Err(SqlError::at(h.span().start, "HAVING needs GROUP BY or an aggregate"));
        }
        let input = self.materialize(input)?;
        let compiler = self.compiler(&input.scope);
        let filter = s.selection.as_ref().map(|w| compiler.predicate(w)).transpose()?;
        let (projection, columns) = self.projection(&compiler, &s.projection, at)?;
        let identity = filter.is_none()
            && projection.len() == input.scope.columns.len()
            && projection.iter().enumerate().all(|(i, e)| matches!(e, Expr::Column(c) if *c == i))
            && columns.iter().zip(&input.scope.columns).all(|((n, _), c)| *n == c.name);
        if identity {
            return Ok(input);
        }
        self.calc(input, filter, projection, Scope::of(None, columns))
    }

    /// The select list compiled: its expressions and its columns' names and types.
    fn projection(
        &self,
        compiler: &Compiler,
        items: &[sql::SelectItem],
        at: Location,
    ) -> Result<(Vec<Expr>, Columns), SqlError> {
        let mut projection = Vec::new();
        let mut columns = Vec::new();
        for item in items {
            match item {
                sql::SelectItem::UnnamedExpr(e) => {
                    let t = compiler.compile(e)?;
                    columns.push((default_name(e, columns.len()), t.ty));
                    projection.push(t.expr);
                }
                sql::SelectItem::ExprWithAlias { expr, alias } => {
                    let t = compiler.compile(expr)?;
                    columns.push((alias.value.clone(), t.ty));
                    projection.push(t.expr);
                }
                sql::SelectItem::Wildcard(_) => {
                    for (i, c) in compiler.scope.columns.iter().enumerate() {
                        if !c.name.starts_with('$') {
                            columns.push((c.name.clone(), c.ty.clone()));
                            projection.push(Expr::Column(i));
                        }
                    }
                }
                sql::SelectItem::QualifiedWildcard(kind, _) => {
                    // `t.*` (of `db.t.*` the table's name).
                    let qualifier = match kind {
                        sql::SelectItemQualifiedWildcardKind::ObjectName(name) => {
                            name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default()
                        }
                        sql::SelectItemQualifiedWildcardKind::Expr(_) => {
                            return Err(unsupported(at, &format!("`{kind}` (of an expression)")));
                        }
                    };
                    let before = columns.len();
                    for (i, c) in compiler.scope.columns.iter().enumerate() {
                        if c.qualifier.as_deref() == Some(qualifier.as_str()) {
                            columns.push((c.name.clone(), c.ty.clone()));
                            projection.push(Expr::Column(i));
                        }
                    }
                    if columns.len() == before {
                        return Err(SqlError::at(at, format!("`{qualifier}.*`: no table `{qualifier}` in FROM")));
                    }
                }
                other => return Err(unsupported(at, &format!("`{other}`"))),
            }
        }
        Ok((projection, columns))
    }

    /// A `Calc`: rows of `input` that pass `filter`, projected.
    fn calc(
        &self,
        input: Planned,
        filter: Option<Expr>,
        projection: Vec<Expr>,
        scope: Scope,
    ) -> Result<Planned, SqlError> {
        let names: Vec<&str> = scope.columns.iter().map(|c| c.name.as_str()).collect();
        let mut label = format!("Calc(select=[{}]", names.join(", "));
        if filter.is_some() {
            label.push_str(", where=[..]");
        }
        label.push(')');
        let uid = self.id(digest(&["calc", &input.uid, &format!("{filter:?}"), &format!("{projection:?}")]));
        let rowtime =
            input.rowtime.and_then(|t| projection.iter().position(|e| matches!(e, Expr::Column(c) if *c == t)));
        // `PROCTIME()`, or the input's processing-time attribute as it is.
        let proctime = projection.iter().position(|e| match e {
            Expr::Column(c) => input.proctime == Some(*c),
            e => e.is_proctime(),
        });
        let kept = |c: usize| projection.iter().position(|e| matches!(e, Expr::Column(x) if *x == c));
        let window = input.window.and_then(|(start, end)| Some((kept(start)?, kept(end)?)));
        let op = CalcOperator::new(label.clone(), filter, projection);
        let stream = input.stream.transform_with(&label, op).uid(&uid);
        Ok(Planned {
            stream,
            scope,
            mode: input.mode,
            uid: uid.clone(),
            rowtime,
            proctime,
            window,
            node: PlanNode { uid, label, mode: input.mode, state: StateClass::Stateless, inputs: vec![input.node] },
        })
    }

    fn relation(&self, r: &sql::TableFactor) -> Result<Relation, SqlError> {
        let at = r.span().start;
        match r {
            sql::TableFactor::Table { name, alias, args: None, .. } => {
                let planned = self.named(name, at)?;
                let qualifier = alias.as_ref().map_or_else(
                    || name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default(),
                    |a| a.name.value.clone(),
                );
                requalify(planned, &qualifier, alias.as_ref(), at).map(Relation::Plain)
            }
            sql::TableFactor::Table { .. } => Err(unsupported(at, "a table function")),
            sql::TableFactor::Derived { lateral: false, subquery, alias, .. } => {
                let planned = self.query(subquery)?;
                match alias {
                    Some(a) => requalify(planned, &a.name.value.clone(), Some(a), at).map(Relation::Plain),
                    None => Ok(Relation::Plain(planned)),
                }
            }
            sql::TableFactor::TableFunction { expr, alias } => {
                let tvf = window::table_function(self, expr)?;
                match alias {
                    Some(a) if !a.columns.is_empty() => Err(unsupported(at, "column aliases of a window function")),
                    Some(a) => Ok(Relation::Window(tvf.requalified(&a.name.value))),
                    None => Ok(Relation::Window(tvf)),
                }
            }
            _ => Err(unsupported(at, &format!("`{}` in FROM", r.to_string().chars().take(40).collect::<String>()))),
        }
    }

    /// The rows of table or view `name`, its columns qualified by its name.
    fn named(&self, name: &sql::ObjectName, at: Location) -> Result<Planned, SqlError> {
        let cte = match name.0.as_slice() {
            [part] => {
                let ctes = self.ctes.borrow();
                let found = ctes.iter().rposition(|c| part.as_ident().is_some_and(|i| *i == c.alias.name));
                // A CTE sees only those before it.
                found.map(|i| (ctes[i].clone(), ctes[..i].to_vec()))
            }
            _ => None,
        };
        if let Some((cte, visible)) = cte {
            let outer = std::mem::replace(&mut *self.ctes.borrow_mut(), visible);
            let planned = self.query(&cte.query);
            *self.ctes.borrow_mut() = outer;
            let mut planned = planned?;
            if !cte.alias.columns.is_empty() {
                if cte.alias.columns.len() != planned.scope.columns.len() {
                    return Err(SqlError::at(
                        at,
                        format!(
                            "`{}` names {} columns for a query of {}",
                            cte.alias.name,
                            cte.alias.columns.len(),
                            planned.scope.columns.len()
                        ),
                    ));
                }
                for (c, n) in planned.scope.columns.iter_mut().zip(&cte.alias.columns) {
                    c.name = n.name.value.clone();
                }
            }
            return Ok(planned);
        }
        let path = crate::session::path_of(name).ok();
        if let Some(planned) = path.as_ref().and_then(|p| self.reused.borrow().get(p).cloned()) {
            return Ok(planned);
        }
        let planned = self.catalog_object(name, at)?;
        if let Some(path) = path {
            self.reused.borrow_mut().insert(path, planned.clone());
        }
        Ok(planned)
    }

    /// A view's or a table's rows.
    fn catalog_object(&self, name: &sql::ObjectName, at: Location) -> Result<Planned, SqlError> {
        if let Some(view) = self.session.view(name) {
            let mut planned = self.query(&view.query)?;
            if !view.columns.is_empty() {
                if view.columns.len() != planned.scope.columns.len() {
                    return Err(SqlError::at(
                        at,
                        format!(
                            "view `{name}` names {} columns for a query of {}",
                            view.columns.len(),
                            planned.scope.columns.len()
                        ),
                    ));
                }
                for (c, n) in planned.scope.columns.iter_mut().zip(&view.columns) {
                    c.name = n.value.clone();
                }
            }
            Ok(planned)
        } else if let Some(table) = self.session.table(name) {
            self.scan(table)
        } else {
            Err(SqlError::at(at, format!("table or view `{name}` does not exist")))
        }
    }

    /// A relation's rows (a window function's with its window columns).
    fn materialize(&self, r: Relation) -> Result<Planned, SqlError> {
        match r {
            Relation::Plain(p) => Ok(p),
            Relation::Window(w) => window::materialize(self, w),
        }
    }

    /// A catalog table's rows: its connector's, then its computed columns (all columns in the
    /// order declared). Its watermark is generated in the source, per split, from the physical
    /// row (computed columns it reads evaluated there): a reader that moves on to a split of
    /// earlier times does not make their rows late.
    fn scan(&self, table: &CatalogTable) -> Result<Planned, SqlError> {
        let name = table.path.join(".");
        let physical = physical_columns(table);
        let source_uid =
            self.id(digest(&["source", &name, &format!("{:?}", table.definition.options), &format!("{physical:?}")]));
        let batch = self.session.options().runtime_mode == crate::session::RuntimeMode::Batch;
        let physical_scope = Scope::of(None, physical.clone());
        // Every column as an expression over the physical row.
        let compiler = self.compiler(&physical_scope);
        let (mut projection, mut columns) = (Vec::new(), Vec::new());
        let mut next_physical = 0;
        for c in &table.definition.columns {
            match &c.kind {
                ColumnKind::Physical(t) => {
                    projection.push(Expr::Column(next_physical));
                    columns.push((c.name.value.clone(), t.clone()));
                    next_physical += 1;
                }
                ColumnKind::Computed(e) => {
                    let t = compiler.compile(e)?;
                    projection.push(t.expr);
                    columns.push((c.name.value.clone(), t.ty));
                }
                ColumnKind::Metadata { .. } => {}
            }
        }
        let scope = Scope::of(None, columns);
        let watermark =
            table.definition.watermark.as_ref().map(|w| self.watermark(&scope, &projection, w)).transpose()?;
        let strategy = watermark.as_ref().map_or_else(WatermarkStrategy::no_watermarks, |w| w.strategy.clone());
        let stream = connectors::source(&self.env, table, batch, strategy)?.uid(&source_uid);
        let mut node = PlanNode {
            uid: source_uid.clone(),
            label: format!(
                "TableSourceScan(table=[{name}], fields=[{}])",
                physical.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
            mode: ChangelogMode::InsertOnly,
            state: StateClass::Stateless,
            inputs: Vec::new(),
        };
        if let Some(w) = &watermark {
            node = PlanNode {
                uid: source_uid.clone(),
                label: w.label.clone(),
                mode: ChangelogMode::InsertOnly,
                state: StateClass::Stateless,
                inputs: vec![node],
            };
        }
        let mut planned = Planned {
            stream,
            scope: physical_scope,
            mode: ChangelogMode::InsertOnly,
            uid: source_uid,
            node,
            rowtime: None,
            proctime: None,
            window: None,
        };
        if projection.len() != physical.len() {
            planned = self.calc(planned, None, projection, scope)?;
        }
        planned.rowtime = watermark.map(|w| w.rowtime);
        Ok(planned)
    }

    /// A table's `WATERMARK FOR c AS expr` over its columns (`scope`, each column as `projection`
    /// has it over the physical row): the source's strategy.
    fn watermark(&self, scope: &Scope, projection: &[Expr], w: &crate::ast::Watermark) -> Result<Watermark, SqlError> {
        let at = w.column.span.start;
        let rowtime = scope.resolve(None, &w.column.value, at)?;
        let wm = self.compiler(scope).compile(&w.expr)?;
        for (what, t) in [("rowtime column", &scope.columns[rowtime].ty.data), ("watermark", &wm.ty.data)] {
            if !matches!(t, DataType::Timestamp(p) | DataType::TimestampLtz(p) if *p <= 3) {
                return Err(SqlError::at(
                    at,
                    format!("the {what} of a WATERMARK must be a TIMESTAMP(3) or TIMESTAMP_LTZ(3), not {t}"),
                ));
            }
        }
        let label = format!("WatermarkAssigner(rowtime=[{}], watermark=[{}])", w.column.value, w.expr);
        let over_physical = |e: &Expr| {
            let mut e = e.clone();
            e.replace_columns(&mut |c| projection[c].clone());
            e
        };
        let (time, wm) = (over_physical(&Expr::Column(rowtime)), over_physical(&wm.expr));
        // `c` and `c - INTERVAL ..` of a physical `c` (nearly every watermark) without evaluating
        // an expression.
        let shifted_column = match &wm {
            Expr::Column(c) => Some((*c, 0)),
            Expr::TimePlusInterval { time, interval, negate } => match (&**time, &**interval) {
                (Expr::Column(c), Expr::Literal(Value::IntervalMillis(ms))) => {
                    Some((*c, if *negate { *ms } else { -ms }))
                }
                _ => None,
            },
            _ => None,
        };
        let strategy = match shifted_column {
            Some((c, delay)) => WatermarkStrategy::for_record_watermarks(move |row: &Row| {
                row.values[c].epoch_millis().map(|t| t - delay)
            }),
            None => {
                WatermarkStrategy::for_record_watermarks(move |row: &Row| wm.eval_ref(&row.values).ok()?.epoch_millis())
            }
        };
        let strategy = match time {
            Expr::Column(c) => strategy
                .with_timestamp_assigner(move |row: &Row, _| row.values[c].epoch_millis().unwrap_or(NO_TIMESTAMP)),
            time => strategy.with_timestamp_assigner(move |row: &Row, _| {
                time.eval_ref(&row.values).ok().and_then(|t| t.epoch_millis()).unwrap_or(NO_TIMESTAMP)
            }),
        };
        let strategy = match self.session.options().source_idle_timeout {
            Some(idle) => strategy.with_idleness(idle),
            None => strategy,
        };
        Ok(Watermark { strategy, label, rowtime })
    }
}

/// A table's watermark: the source's strategy, its label in a plan, and the rowtime column.
struct Watermark {
    strategy: WatermarkStrategy<Row>,
    label: String,
    rowtime: usize,
}

/// The relation's columns under `qualifier` (renamed by the alias's column list, if any).
fn requalify(
    mut planned: Planned,
    qualifier: &str,
    alias: Option<&sql::TableAlias>,
    at: Location,
) -> Result<Planned, SqlError> {
    if let Some(a) = alias
        && !a.columns.is_empty()
    {
        if a.columns.len() != planned.scope.columns.len() {
            return Err(SqlError::at(
                at,
                format!("alias `{}` names {} columns of {}", a.name, a.columns.len(), planned.scope.columns.len()),
            ));
        }
        for (c, n) in planned.scope.columns.iter_mut().zip(&a.columns) {
            c.name = n.name.value.clone();
        }
    }
    for c in &mut planned.scope.columns {
        *c = ScopeColumn { qualifier: Some(qualifier.to_string()), name: c.name.clone(), ty: c.ty.clone() };
    }
    Ok(planned)
}

/// Whether `INSERT` writes a `from` into a `to` column (Flink's implicit casts: wider numbers,
/// text to text, times to more or fewer fraction digits, NULL to anything).
fn assignable(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let rank = |t: &DataType| match t {
        TinyInt => Some(1),
        SmallInt => Some(2),
        Int => Some(3),
        BigInt => Some(4),
        Decimal { .. } => Some(5),
        Float => Some(6),
        Double => Some(7),
        _ => None,
    };
    match (from, to) {
        (a, b) if a == b => true,
        (Null, _) => true,
        (Char(_) | VarChar(_), Char(_) | VarChar(_)) => true,
        (Binary(_) | VarBinary(_), Binary(_) | VarBinary(_)) => true,
        // Flink converts between the two timestamps implicitly, in the session's time zone.
        (Timestamp(_) | TimestampLtz(_), Timestamp(_) | TimestampLtz(_)) | (Time(_), Time(_)) => true,
        (Decimal { .. }, Decimal { .. }) => true,
        (a, b) => matches!((rank(a), rank(b)), (Some(x), Some(y)) if x <= y),
    }
}

/// Filter and projection of each row (Flink's `Calc`); a failing expression fails the job with
/// the operator and the reason.
#[derive(Clone)]
struct CalcOperator {
    name: Arc<str>,
    filter: Option<Arc<Expr>>,
    projection: Arc<[Expr]>,
    /// What each projection moves out of the row instead of copying: a bare column nothing else
    /// reads, or a field of a nested row column whose every read is a distinct bare field.
    moves: Arc<[Option<Move>]>,
}

/// A value a projection takes out of its input row.
#[derive(Clone, Copy, Debug)]
enum Move {
    Column(usize),
    Field(usize, usize),
}

impl CalcOperator {
    fn new(name: String, filter: Option<Expr>, projection: Vec<Expr>) -> CalcOperator {
        let mut uses = std::collections::HashMap::<usize, usize>::new();
        for e in filter.iter().chain(&projection) {
            e.visit(&mut |x| {
                if let Expr::Column(i) = x {
                    *uses.entry(*i).or_default() += 1;
                }
            });
        }
        // Per column, the distinct fields bare projections read of it.
        let mut fields = std::collections::HashMap::<usize, std::collections::HashSet<usize>>::new();
        for e in &projection {
            if let Expr::Field(inner, f) = e
                && let Expr::Column(c) = **inner
            {
                fields.entry(c).or_default().insert(*f);
            }
        }
        let moves = projection
            .iter()
            .map(|e| match e {
                Expr::Column(i) if uses.get(i) == Some(&1) => Some(Move::Column(*i)),
                Expr::Field(inner, f) => match **inner {
                    Expr::Column(c) if fields.get(&c).map(|s| s.len()) == uses.get(&c).copied() => {
                        Some(Move::Field(c, *f))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        CalcOperator { name: name.into(), filter: filter.map(Arc::new), projection: projection.into(), moves }
    }

    fn fail(&self, e: EvalError) -> Error {
        Error::Record(format!("{}: {e}", self.name))
    }
}

impl Operator for CalcOperator {
    type In = Row;
    type Out = Row;

    fn process_batch(&mut self, batch: Vec<Record<Row>>, out: &mut Output<Row>) -> EngineResult<()> {
        for mut record in batch {
            let row = &mut record.value;
            if let Some(f) = &self.filter
                && f.eval_bool(&row.values).map_err(|e| self.fail(e))? != Some(true)
            {
                continue;
            }
            let mut values = Vec::with_capacity(self.projection.len());
            for (e, moved) in self.projection.iter().zip(self.moves.iter()) {
                let v = match moved {
                    Some(Move::Column(i)) => std::mem::take(&mut row.values[*i]),
                    Some(Move::Field(c, f)) => match &mut row.values[*c] {
                        Value::Row(fields) => std::mem::take(&mut fields[*f]),
                        _ => Value::Null,
                    },
                    None => e.eval(&row.values).map_err(|e| self.fail(e))?,
                };
                values.push(v);
            }
            out.push(Record { value: Row { kind: row.kind, values }, timestamp: record.timestamp });
        }
        Ok(())
    }
}
