//! Window table functions in `FROM`: `TUMBLE`, `HOP`, `CUMULATE` and `SESSION` over a table's
//! event time (`DESCRIPTOR(c)` names its rowtime column), with Flink's positional and named
//! arguments. They add `window_start`, `window_end` and `window_time` (the window's last
//! millisecond, the new event time) to the table's columns. A window aggregate (`GROUP BY
//! window_start, window_end, ...`) consumes the function directly; anywhere else its rows are
//! made, one per window a row falls in.

use super::{ChangelogMode, PlanNode, Planned, Planner, StateClass, digest, unsupported};
use crate::ast::{DataType, Type};
use crate::error::SqlError;
use crate::expr::{Expr, Scope, ScopeColumn};
use crate::value::{Row, Value};
use ferroflink_core::error::Result as EngineResult;
use ferroflink_core::record::Record;
use ferroflink_datastream::window::assigner::{WindowAssigner, WindowTime};
use ferroflink_runtime::operator::{Operator, Output};
use sqlparser::ast::{self as sql, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned};

/// A window table function over a relation, not yet planned.
pub(crate) struct WindowInput {
    /// The table's rows (their event time in the record timestamps).
    pub input: Planned,
    /// The windows.
    pub assigner: WindowAssigner,
    /// `TUMBLE(size=[10 s])`, for `EXPLAIN`.
    pub label: String,
    /// The type of the window columns: the rowtime's (`TIMESTAMP(3)` or `TIMESTAMP_LTZ(3)`).
    pub time_type: DataType,
    /// The qualifier of the window columns.
    pub qualifier: Option<String>,
    /// The columns of `input` that are already the rows' window bounds (a window aggregate
    /// after a window aggregate or window join, grouped by them), whose windows `assigner` (of
    /// one millisecond at the window's last) only fires: the function's own window columns are
    /// hidden then.
    pub bounds: Option<(usize, usize)>,
}

impl WindowInput {
    /// The function's columns under alias `qualifier`.
    pub(crate) fn requalified(mut self, qualifier: &str) -> WindowInput {
        for c in &mut self.input.scope.columns {
            c.qualifier = Some(qualifier.to_string());
        }
        self.qualifier = Some(qualifier.to_string());
        self
    }

    /// The function's columns: the table's, then `window_start`, `window_end`, `window_time`.
    pub(crate) fn scope(&self) -> Scope {
        let mut scope = self.input.scope.clone();
        let names = match self.bounds {
            None => ["window_start", "window_end", "window_time"],
            Some(_) => ["$window_start", "$window_end", "$window_time"],
        };
        for name in names {
            scope.columns.push(ScopeColumn {
                qualifier: self.qualifier.clone(),
                name: name.to_string(),
                ty: Type { data: self.time_type.clone(), nullable: false },
            });
        }
        scope
    }
}

/// A constant interval argument, in milliseconds.
fn interval(planner: &Planner, e: &sql::Expr, what: &str) -> Result<i64, SqlError> {
    let scope = Scope::default();
    let t = planner.compiler(&scope).compile(e)?;
    match t.expr {
        Expr::Literal(Value::IntervalMillis(ms)) if ms > 0 => Ok(ms),
        _ => Err(SqlError::at(
            e.span().start,
            format!("the {what} of a window is a positive interval such as INTERVAL '10' SECOND"),
        )),
    }
}

/// Whether column `c` of `input` is its event time or its processing time, and the type of the
/// window columns over it; an error at `at` when it is neither.
fn time_attribute(
    input: &Planned,
    c: usize,
    at: sqlparser::tokenizer::Location,
    of: &str,
) -> Result<(WindowTime, DataType), SqlError> {
    let time = if input.rowtime == Some(c) {
        WindowTime::EventTime
    } else if input.proctime == Some(c) {
        WindowTime::ProcessingTime
    } else {
        let name = &input.scope.columns[c].name;
        return Err(SqlError::at(
            at,
            format!(
                "`{name}` is not a time attribute of {of}: declare WATERMARK FOR {name} AS ... in its CREATE TABLE for event time, or select PROCTIME() AS {name} for processing time"
            ),
        ));
    };
    let time_type = match (&input.scope.columns[c].ty.data, time) {
        (DataType::TimestampLtz(_), _) | (_, WindowTime::ProcessingTime) => DataType::TimestampLtz(3),
        _ => DataType::Timestamp(3),
    };
    Ok((time, time_type))
}

/// The windows of window function `name` (`TUMBLE`, `HOP`, `CUMULATE` or `SESSION`) from its
/// interval arguments by name (`SIZE`, `SLIDE`, `STEP`, `GAP`, `OFFSET`), and their label.
fn windows<'e>(
    planner: &Planner,
    name: &str,
    at: sqlparser::tokenizer::Location,
    arg: &dyn Fn(&str) -> Option<&'e sql::Expr>,
    time: WindowTime,
) -> Result<(WindowAssigner, String), SqlError> {
    let required = |key: &str| arg(key).ok_or_else(|| SqlError::at(at, format!("{name} needs its {key} argument")));
    let offset = arg("OFFSET").map(|e| interval(planner, e, "offset")).transpose()?.unwrap_or(0);
    let (assigner, label) = match name {
        "TUMBLE" => {
            let size = interval(planner, required("SIZE")?, "size")?;
            (WindowAssigner::Tumbling { size, offset, time }, format!("TUMBLE(size=[{size} ms])"))
        }
        "HOP" => {
            let (slide, size) =
                (interval(planner, required("SLIDE")?, "slide")?, interval(planner, required("SIZE")?, "size")?);
            if size % slide != 0 {
                return Err(SqlError::at(at, "HOP's size must be a multiple of its slide"));
            }
            (
                WindowAssigner::Sliding { size, slide, offset, time },
                format!("HOP(size=[{size} ms], slide=[{slide} ms])"),
            )
        }
        "SESSION" => {
            let gap = interval(planner, required("GAP")?, "gap")?;
            (WindowAssigner::Session { gap, time }, format!("SESSION(gap=[{gap} ms])"))
        }
        _ => {
            let (step, size) =
                (interval(planner, required("STEP")?, "step")?, interval(planner, required("SIZE")?, "size")?);
            if size % step != 0 {
                return Err(SqlError::at(at, "CUMULATE's size must be a multiple of its step"));
            }
            (
                WindowAssigner::Cumulative { size, step, offset, time },
                format!("CUMULATE(max_size=[{size} ms], step=[{step} ms])"),
            )
        }
    };
    if let Err(e) = assigner.validate() {
        return Err(SqlError::at(at, e));
    }
    Ok((assigner, label))
}

/// Plans `TABLE(f(...))` of a window function `f`.
pub(super) fn table_function(planner: &Planner, expr: &sql::Expr) -> Result<WindowInput, SqlError> {
    let at = expr.span().start;
    let sql::Expr::Function(f) = expr else {
        return Err(unsupported(at, "this table function"));
    };
    let name = f.name.to_string().to_ascii_uppercase();
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::at(at, format!("{name} takes arguments: {name}(TABLE t, DESCRIPTOR(time), ...)")));
    };
    // Positional names per function, for arguments given in order.
    let names: &[&str] = match name.as_str() {
        "TUMBLE" => &["DATA", "TIMECOL", "SIZE", "OFFSET"],
        "HOP" => &["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"],
        "CUMULATE" => &["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"],
        "SESSION" => &["DATA", "TIMECOL", "GAP"],
        _ => {
            return Err(unsupported(
                at,
                &format!("the table function {name} (Flink's window functions are TUMBLE, HOP, CUMULATE and SESSION)"),
            ));
        }
    };
    let mut args: Vec<(String, &sql::Expr)> = Vec::new();
    for (i, a) in list.args.iter().enumerate() {
        let (key, e) = match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => match names.get(i) {
                Some(n) => (n.to_string(), e),
                None => return Err(SqlError::at(at, format!("{name} takes at most {} arguments", names.len()))),
            },
            FunctionArg::Named { name: n, arg: FunctionArgExpr::Expr(e), .. } => (n.value.to_ascii_uppercase(), e),
            other => return Err(SqlError::at(at, format!("{name}: the argument `{other}` is not supported"))),
        };
        if !names.contains(&key.as_str()) {
            return Err(SqlError::at(
                e.span().start,
                format!("{name} has no argument {key}; its arguments are {}", names.join(", ")),
            ));
        }
        args.push((key, e));
    }
    let arg = |key: &str| args.iter().find(|(k, _)| k == key).map(|(_, e)| *e);
    let required = |key: &str| arg(key).ok_or_else(|| SqlError::at(at, format!("{name} needs its {key} argument")));
    // DATA => TABLE t
    let data = required("DATA")?;
    let table = match data {
        sql::Expr::Prefixed { prefix, value } if prefix.value.eq_ignore_ascii_case("TABLE") => match &**value {
            sql::Expr::CompoundIdentifier(parts) => sql::ObjectName::from(parts.clone()),
            _ => return Err(SqlError::at(data.span().start, format!("{name}'s DATA is TABLE <name>"))),
        },
        _ => return Err(SqlError::at(data.span().start, format!("{name}'s first argument is TABLE <name>"))),
    };
    let qualifier = table.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
    let mut input = planner.named(&table, data.span().start)?;
    for c in &mut input.scope.columns {
        c.qualifier = Some(qualifier.clone());
    }
    // TIMECOL => DESCRIPTOR(c): the rowtime.
    let timecol = required("TIMECOL")?;
    let column = match timecol {
        sql::Expr::Function(d) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => match &d.args {
            FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(sql::Expr::Identifier(i))) => i.clone(),
                _ => return Err(SqlError::at(timecol.span().start, "DESCRIPTOR takes one column")),
            },
            _ => return Err(SqlError::at(timecol.span().start, "DESCRIPTOR takes one column")),
        },
        _ => return Err(SqlError::at(timecol.span().start, format!("{name}'s time argument is DESCRIPTOR(<column>)"))),
    };
    let c = input.scope.resolve(None, &column.value, column.span.start)?;
    let (time, time_type) = time_attribute(&input, c, column.span.start, &format!("`{table}`"))?;
    let (assigner, label) = windows(planner, &name, at, &arg, time)?;
    Ok(WindowInput { input, assigner, label, time_type, qualifier: Some(qualifier), bounds: None })
}

/// The function's rows: each row once per window it falls in, with the window's columns.
pub(super) fn materialize(planner: &Planner, w: WindowInput) -> Result<Planned, SqlError> {
    let at = sqlparser::tokenizer::Location { line: 1, column: 1 };
    if matches!(w.assigner, WindowAssigner::Session { .. }) {
        return Err(unsupported(
            at,
            "SESSION windows outside a window aggregate (GROUP BY window_start, window_end, ..)",
        ));
    }
    if w.assigner.time() == WindowTime::ProcessingTime {
        return Err(unsupported(
            at,
            "processing-time windows outside a window aggregate (GROUP BY window_start, window_end, ..)",
        ));
    }
    let scope = w.scope();
    let width = w.input.scope.columns.len();
    let uid = planner.id(digest(&["window-tvf", &w.input.uid, &w.label]));
    let op = WindowColumns { assigner: w.assigner, time_type: w.time_type.clone() };
    let stream = w.input.stream.transform_with(&format!("WindowTableFunction({})", w.label), op).uid(&uid);
    let node = PlanNode {
        uid: uid.clone(),
        label: format!("WindowTableFunction({})", w.label),
        mode: ChangelogMode::InsertOnly,
        state: StateClass::Stateless,
        inputs: vec![w.input.node],
    };
    if w.input.mode != ChangelogMode::InsertOnly {
        return Err(unsupported(at, "a window function over a changelog (its input must be insert-only)"));
    }
    Ok(Planned {
        stream,
        scope,
        mode: ChangelogMode::InsertOnly,
        uid,
        node,
        rowtime: Some(width + 2),
        proctime: None,
        window: Some((width, width + 1)),
    })
}

/// Appends the window columns to each row, once per window (Flink's `WindowTableFunction`).
#[derive(Clone)]
struct WindowColumns {
    assigner: WindowAssigner,
    time_type: DataType,
}

impl Operator for WindowColumns {
    type In = Row;
    type Out = Row;

    fn process_batch(&mut self, batch: Vec<Record<Row>>, out: &mut Output<Row>) -> EngineResult<()> {
        for record in batch {
            let windows =
                self.assigner.windows_containing(record.timestamp).expect("sessions are refused when planning");
            for w in windows {
                let mut values = record.value.values.clone();
                values.push(Value::from_millis(w.start, &self.time_type));
                values.push(Value::from_millis(w.end, &self.time_type));
                values.push(Value::from_millis(w.end - 1, &self.time_type));
                out.push(Record { value: Row { kind: record.value.kind, values }, timestamp: w.end - 1 });
            }
        }
        Ok(())
    }
}

/// Flink's legacy group windows: `GROUP BY .., TUMBLE(time, size)` (or `HOP(time, slide, size)`
/// or `SESSION(time, gap)`) over a relation with `TUMBLE_START`, `TUMBLE_END` and
/// `TUMBLE_ROWTIME` of the same arguments in the select list. They are the window function over
/// the relation grouped by its `window_start` and `window_end`: the relation (a window function
/// when the `GROUP BY` has one), the `GROUP BY` with the window's bounds in place of the call,
/// and the auxiliary calls with the window column each stands for (0 start, 1 end, 2 time).
pub(super) struct LegacyWindow {
    pub input: super::Relation,
    pub group_by: Vec<sql::Expr>,
    pub auxiliary: Vec<(sql::Expr, usize)>,
}

/// The legacy group window in `group_by` over `input`, if there is one (see [`LegacyWindow`]).
pub(super) fn legacy_group_window(
    planner: &Planner,
    input: Planned,
    group_by: &[sql::Expr],
) -> Result<LegacyWindow, SqlError> {
    let window_call = |e: &sql::Expr| match e {
        sql::Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_uppercase();
            ["TUMBLE", "HOP", "SESSION"].contains(&name.as_str()).then(|| (f.clone(), name))
        }
        _ => None,
    };
    let Some((at, (f, name))) = group_by.iter().enumerate().find_map(|(i, e)| Some((i, window_call(e)?))) else {
        return Ok(LegacyWindow {
            input: super::Relation::Plain(input),
            group_by: group_by.to_vec(),
            auxiliary: vec![],
        });
    };
    let start = f.span().start;
    let args: Vec<&sql::Expr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                _ => Err(SqlError::at(start, format!("{name} in GROUP BY takes a time column and intervals"))),
            })
            .collect::<Result<_, _>>()?,
        _ => vec![],
    };
    // Positional arguments by the names the window functions give them.
    let (usage, names): (&str, &[&str]) = match name.as_str() {
        "TUMBLE" => ("TUMBLE(time, size)", &["TIMECOL", "SIZE"]),
        "HOP" => ("HOP(time, slide, size)", &["TIMECOL", "SLIDE", "SIZE"]),
        _ => ("SESSION(time, gap)", &["TIMECOL", "GAP"]),
    };
    if args.len() != names.len() {
        return Err(SqlError::at(start, format!("a group window is {usage}")));
    }
    let time = planner.compiler(&input.scope).compile(args[0])?;
    let Expr::Column(c) = time.expr else {
        return Err(SqlError::at(args[0].span().start, format!("{name}'s first argument is a time attribute column")));
    };
    let (time, time_type) = time_attribute(&input, c, args[0].span().start, "the query's input")?;
    let arg = |key: &str| names.iter().position(|n| *n == key).map(|i| args[i]);
    let (assigner, label) = windows(planner, &name, start, &arg, time)?;
    let mut keys = group_by.to_vec();
    let bound = |n: &str| sql::Expr::Identifier(sql::Ident::new(n));
    keys.splice(at..=at, [bound("window_start"), bound("window_end")]);
    // `TUMBLE_START(..)` as the call is written: its name in upper or in lower case.
    let mut auxiliary = Vec::new();
    for (i, suffix) in ["_START", "_END", "_ROWTIME"].into_iter().enumerate() {
        for function in [format!("{name}{suffix}"), format!("{name}{suffix}").to_ascii_lowercase()] {
            let call = sql::Function { name: sql::ObjectName::from(vec![sql::Ident::new(function)]), ..f.clone() };
            auxiliary.push((sql::Expr::Function(call), i));
        }
    }
    let w = WindowInput { input, assigner, label, time_type, qualifier: None, bounds: None };
    Ok(LegacyWindow { input: super::Relation::Window(w), group_by: keys, auxiliary })
}
