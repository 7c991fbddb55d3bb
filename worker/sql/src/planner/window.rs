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
        for name in ["window_start", "window_end", "window_time"] {
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
    if input.rowtime != Some(c) {
        return Err(SqlError::at(
            column.span.start,
            format!(
                "`{}` is not an event-time attribute of `{table}`: declare WATERMARK FOR {} AS ... in its CREATE TABLE (processing-time windows are not supported)",
                column.value, column.value
            ),
        ));
    }
    let time_type = match &input.scope.columns[c].ty.data {
        DataType::TimestampLtz(_) => DataType::TimestampLtz(3),
        _ => DataType::Timestamp(3),
    };
    let offset = arg("OFFSET").map(|e| interval(planner, e, "offset")).transpose()?.unwrap_or(0);
    let time = WindowTime::EventTime;
    let (assigner, label) = match name.as_str() {
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
    Ok(WindowInput { input, assigner, label, time_type, qualifier: Some(qualifier) })
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
    Ok(Planned { stream, scope, mode: ChangelogMode::InsertOnly, uid, node, rowtime: Some(width + 2) })
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
