//! `GROUP BY` and aggregate functions: a window aggregate when grouped by a window function's
//! `window_start` and `window_end` (insert-only rows when each window ends), else the unbounded
//! group aggregate (a changelog; its state grows with the keys unless `table.exec.state.ttl`
//! bounds it). Either way: a `Calc` computes the keys and the calls' arguments before the
//! exchange, the aggregate runs keyed by the group's values, and a `Calc` after it computes the
//! select list and `HAVING` over the keys and the aggregates' results.

use super::window::{self, LegacyWindow, WindowInput};
use super::{ChangelogMode, PlanNode, Planned, Planner, Relation, StateClass, digest, unsupported};
use crate::agg::{AggCall, AggKind, Aggregates, GroupAggregate, GroupKey, UdafCall};
use crate::ast::{DataType, Type};
use crate::error::SqlError;
use crate::expr::{Expr, Scope, ScopeColumn, Typed};
use crate::session::RuntimeMode;
use crate::spill::GroupFold;
use crate::udf::AggregateUdf;
use crate::value::{Row, Value};
use ferroflink_core::error::{Error, Result as EngineResult};
use ferroflink_core::record::{NO_TIMESTAMP, Record};
use ferroflink_datastream::window::assigner::{TimeWindow, WindowAssigner, WindowTime};
use ferroflink_runtime::operator::{Operator, Output};
use sqlparser::ast::{self as sql, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned};
use sqlparser::tokenizer::Location;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The aggregate calls of a `SELECT` (its list and `HAVING`), each once, in order of appearance;
/// `is_aggregate` tells a call of an aggregate function.
fn calls(s: &sql::Select, is_aggregate: &dyn Fn(&sql::Function) -> bool) -> Vec<sql::Expr> {
    fn walk(e: &sql::Expr, out: &mut Vec<sql::Expr>, is_aggregate: &dyn Fn(&sql::Function) -> bool) {
        let walk = |e: &sql::Expr, out: &mut Vec<sql::Expr>| walk(e, out, is_aggregate);
        match e {
            sql::Expr::Function(f) if is_aggregate(f) && !out.contains(e) => out.push(e.clone()),
            sql::Expr::Function(f) if is_aggregate(f) => {}
            sql::Expr::Function(f) => {
                if let FunctionArguments::List(l) = &f.args {
                    for a in &l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x))
                        | FunctionArg::Named { arg: FunctionArgExpr::Expr(x), .. } = a
                        {
                            walk(x, out);
                        }
                    }
                }
            }
            sql::Expr::BinaryOp { left, right, .. } => {
                walk(left, out);
                walk(right, out);
            }
            sql::Expr::UnaryOp { expr, .. }
            | sql::Expr::Nested(expr)
            | sql::Expr::Cast { expr, .. }
            | sql::Expr::IsNull(expr)
            | sql::Expr::IsNotNull(expr)
            | sql::Expr::IsTrue(expr)
            | sql::Expr::IsFalse(expr)
            | sql::Expr::IsNotTrue(expr)
            | sql::Expr::IsNotFalse(expr)
            | sql::Expr::Extract { expr, .. }
            | sql::Expr::Floor { expr, .. }
            | sql::Expr::Ceil { expr, .. } => walk(expr, out),
            sql::Expr::Between { expr, low, high, .. } => {
                walk(expr, out);
                walk(low, out);
                walk(high, out);
            }
            sql::Expr::In { expr, target: sql::InTarget::List(list), .. } => {
                walk(expr, out);
                list.iter().for_each(|x| walk(x, out));
            }
            sql::Expr::Case { operand, conditions, else_result, .. } => {
                operand.iter().for_each(|x| walk(x, out));
                for c in conditions {
                    walk(&c.condition, out);
                    walk(&c.result, out);
                }
                else_result.iter().for_each(|x| walk(x, out));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in &s.projection {
        match item {
            sql::SelectItem::UnnamedExpr(e) | sql::SelectItem::ExprWithAlias { expr: e, .. } => {
                walk(e, &mut out, is_aggregate)
            }
            _ => {}
        }
    }
    if let Some(h) = &s.having {
        walk(h, &mut out, is_aggregate);
    }
    out
}

/// Flink's result type of aggregate `kind` over values of `input`.
fn result_type(kind: AggKind, input: &DataType) -> DataType {
    match (kind, input) {
        (AggKind::Count, _) => DataType::BigInt,
        (AggKind::Sum, DataType::Decimal { scale, .. }) => DataType::Decimal { precision: 38, scale: *scale },
        (AggKind::Avg, DataType::Decimal { scale, .. }) => DataType::Decimal { precision: 38, scale: (*scale).max(6) },
        (_, t) => t.clone(),
    }
}

/// One aggregate call, compiled against the input.
struct Call {
    kind: AggKind,
    arg: Option<Typed>,
    filter: Option<Expr>,
    distinct: bool,
    ty: DataType,
    /// A registered function, its arguments cast to its types.
    udf: Option<(AggregateUdf, Vec<Typed>)>,
    at: Location,
}

impl Call {
    /// The expressions the call reads.
    fn reads(&self) -> impl Iterator<Item = &Expr> {
        let udf_args = self.udf.iter().flat_map(|(_, args)| args.iter().map(|a| &a.expr));
        self.arg.iter().map(|a| &a.expr).chain(&self.filter).chain(udf_args)
    }
}

/// A call of a registered aggregate function.
fn compile_udf_call(
    compiler: &crate::expr::Compiler,
    udf: &AggregateUdf,
    f: &sql::Function,
    at: Location,
) -> Result<Call, SqlError> {
    let name = f.name.to_string();
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::at(at, format!("{name} takes {} arguments", udf.args.len())));
    };
    if list.duplicate_treatment.is_some() {
        return Err(unsupported(at, "DISTINCT in a call of a registered aggregate function"));
    }
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => compiler.compile(x),
            _ => Err(SqlError::at(at, format!("{name} takes expressions as arguments"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let args = compiler.cast_arguments(&name, args, &udf.args, at)?;
    let filter = f.filter.as_ref().map(|w| compiler.predicate(w)).transpose()?;
    Ok(Call {
        kind: AggKind::Udf,
        arg: None,
        filter,
        distinct: false,
        ty: udf.result.clone(),
        udf: Some((udf.clone(), args)),
        at,
    })
}

fn compile_call(
    compiler: &crate::expr::Compiler,
    udafs: &BTreeMap<String, AggregateUdf>,
    e: &sql::Expr,
) -> Result<Call, SqlError> {
    let at = e.span().start;
    let sql::Expr::Function(f) = e else { unreachable!("calls are functions") };
    let name = f.name.to_string().to_ascii_uppercase();
    if let Some(udf) = udafs.get(&name) {
        return compile_udf_call(compiler, udf, f, at);
    }
    let kind = AggKind::named(&name).expect("an aggregate");
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::at(at, format!("{name} takes an argument")));
    };
    let distinct = matches!(list.duplicate_treatment, Some(sql::DuplicateTreatment::Distinct));
    let arg = match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if kind == AggKind::Count && !distinct => None,
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] => Some(compiler.compile(x)?),
        _ => {
            return Err(SqlError::at(
                at,
                format!("{name} takes one argument{}", if kind == AggKind::Count { " or *" } else { "" }),
            ));
        }
    };
    if let Some(a) = &arg
        && matches!(kind, AggKind::Sum | AggKind::Avg)
        && !a.ty.data.is_numeric()
    {
        return Err(SqlError::at(at, format!("{name} takes a number, not {}", a.ty.data)));
    }
    let filter = f.filter.as_ref().map(|w| compiler.predicate(w)).transpose()?;
    let input = arg.as_ref().map_or(DataType::BigInt, |a| a.ty.data.clone());
    Ok(Call { kind, ty: result_type(kind, &input), arg, filter, distinct, udf: None, at })
}

fn reads_beyond(e: &Expr, width: usize) -> bool {
    let mut beyond = false;
    e.visit(&mut |x| beyond |= matches!(x, Expr::Column(c) if *c >= width));
    beyond
}

impl Planner<'_> {
    /// The aggregate calls of `s`: of SQL's aggregate functions and the registered ones bound.
    pub(super) fn aggregate_calls(&self, s: &sql::Select) -> Vec<sql::Expr> {
        calls(s, &|f| {
            let name = f.name.to_string().to_ascii_uppercase();
            f.over.is_none() && (AggKind::named(&name).is_some() || self.udafs.contains_key(&name))
        })
    }

    pub(super) fn aggregate(
        &self,
        s: &sql::Select,
        input: Relation,
        call_exprs: &[sql::Expr],
        group_by: &[sql::Expr],
    ) -> Result<Planned, SqlError> {
        let at = s.select_token.0.span.start;
        let LegacyWindow { input, group_by, auxiliary } = match input {
            Relation::Plain(p) => window::legacy_group_window(self, p, group_by)?,
            w => LegacyWindow { input: w, group_by: group_by.to_vec(), auxiliary: vec![] },
        };
        let group_by = group_by.as_slice();
        // Everything before the aggregate is compiled against the relation's columns (a window
        // function's included).
        let (scope, width) = match &input {
            Relation::Plain(p) => (p.scope.clone(), p.scope.columns.len()),
            Relation::Window(w) => (w.scope(), w.input.scope.columns.len()),
        };
        let compiler = self.compiler(&scope);
        let filter = s.selection.as_ref().map(|w| compiler.predicate(w)).transpose()?;
        let keys: Vec<Typed> = group_by.iter().map(|e| compiler.compile(e)).collect::<Result<_, _>>()?;
        let calls: Vec<Call> =
            call_exprs.iter().map(|e| compile_call(&compiler, &self.udafs, e)).collect::<Result<_, _>>()?;
        let is_window_col = |t: &Typed, k: usize| matches!(t.expr, Expr::Column(c) if c == width + k);
        let window = match input {
            Relation::Window(w)
                if keys.iter().any(|k| is_window_col(k, 0)) && keys.iter().any(|k| is_window_col(k, 1)) =>
            {
                let reads_window = filter
                    .iter()
                    .chain(calls.iter().flat_map(Call::reads))
                    .chain(keys.iter().filter(|k| !(0..3).any(|i| is_window_col(k, i))).map(|k| &k.expr))
                    .any(|e| reads_beyond(e, width));
                if reads_window {
                    return Err(unsupported(
                        at,
                        "window columns inside a window aggregate other than as its GROUP BY keys",
                    ));
                }
                Some(w)
            }
            // Grouped by the window bounds of rows that are a window's results (of a window
            // aggregate, say): a window aggregate of those windows, fired as the watermark
            // passes their last millisecond, the rows' time.
            Relation::Plain(p)
                if p.mode == ChangelogMode::InsertOnly
                    && p.node.in_event_time()
                    && p.window.is_some_and(|(start, end)| {
                        [start, end].iter().all(|b| keys.iter().any(|k| matches!(k.expr, Expr::Column(c) if c == *b)))
                    }) =>
            {
                let (start, end) = p.window.expect("window bounds");
                let label = format!(
                    "TUMBLE(win_start=[{}], win_end=[{}])",
                    p.scope.columns[start].name, p.scope.columns[end].name
                );
                let time_type = match p.scope.columns[end].ty.data {
                    DataType::TimestampLtz(_) => DataType::TimestampLtz(3),
                    _ => DataType::Timestamp(3),
                };
                let assigner = WindowAssigner::Tumbling { size: 1, offset: 0, time: WindowTime::EventTime };
                Some(WindowInput { input: p, assigner, label, time_type, qualifier: None, bounds: Some((start, end)) })
            }
            other => {
                let planned = self.materialize(other)?;
                return self.group_aggregate(s, planned, filter, keys, calls, group_by, call_exprs);
            }
        };
        let w = window.expect("a window aggregate");
        self.window_aggregate(s, w, filter, keys, calls, (group_by, &auxiliary), call_exprs, width)
    }

    /// The `Calc` before an aggregate: `[keys.., each call's argument and filter..]`; the calls
    /// with their columns in it.
    fn pre_aggregate(
        &self,
        input: Planned,
        filter: Option<Expr>,
        keys: &[Typed],
        calls: Vec<Call>,
    ) -> Result<(Planned, Vec<AggCall>), SqlError> {
        let retracts = input.mode != ChangelogMode::InsertOnly;
        if retracts
            && let Some(c) = calls.iter().find(|c| c.udf.as_ref().is_some_and(|(u, _)| !u.function.can_retract()))
        {
            let (u, _) = c.udf.as_ref().expect("a function's call");
            return Err(SqlError::at(
                c.at,
                format!(
                    "the function '{}' cannot retract, and its input is a changelog (rows are updated or deleted): implement UserAggregate::retract and can_retract, or aggregate insert-only rows",
                    u.identifier
                ),
            ));
        }
        let mut exprs: Vec<Expr> = keys.iter().map(|k| k.expr.clone()).collect();
        let mut columns: Vec<(String, Type)> =
            keys.iter().enumerate().map(|(i, k)| (format!("$k{i}"), k.ty.clone())).collect();
        let mut agg_calls = Vec::new();
        for (i, c) in calls.into_iter().enumerate() {
            let input_type = c.arg.as_ref().map_or(DataType::BigInt, |a| a.ty.data.clone());
            let arg = c.arg.map(|a| {
                exprs.push(a.expr);
                columns.push((format!("$a{i}"), a.ty));
                exprs.len() - 1
            });
            let filter = c.filter.map(|f| {
                exprs.push(f);
                columns.push((format!("$f{i}"), Type { data: DataType::Boolean, nullable: true }));
                exprs.len() - 1
            });
            let udf = c.udf.map(|(function, args)| UdafCall {
                function,
                args: args
                    .into_iter()
                    .enumerate()
                    .map(|(j, a)| {
                        exprs.push(a.expr);
                        columns.push((format!("$a{i}_{j}"), a.ty));
                        exprs.len() - 1
                    })
                    .collect(),
            });
            agg_calls.push(AggCall {
                kind: c.kind,
                arg,
                filter,
                distinct: c.distinct,
                input: input_type,
                ty: c.ty,
                retracts,
                udf,
            });
        }
        let pre = self.calc(input, filter, exprs, Scope::of(None, columns))?;
        Ok((pre, agg_calls))
    }

    /// The select list and `HAVING` over an aggregate's output.
    fn post_aggregate(
        &self,
        s: &sql::Select,
        aggregated: Planned,
        substitutions: Vec<(sql::Expr, Typed)>,
    ) -> Result<Planned, SqlError> {
        let at = s.select_token.0.span.start;
        let scope = aggregated.scope.clone();
        let mut compiler = self.compiler(&scope);
        compiler.substitutions = &substitutions;
        let having = s.having.as_ref().map(|h| compiler.predicate(h)).transpose()?;
        let (projection, columns) = self.projection(&compiler, &s.projection, at)?;
        self.calc(aggregated, having, projection, Scope::of(None, columns))
    }

    #[allow(clippy::too_many_arguments)]
    fn group_aggregate(
        &self,
        s: &sql::Select,
        input: Planned,
        filter: Option<Expr>,
        keys: Vec<Typed>,
        calls: Vec<Call>,
        group_by: &[sql::Expr],
        call_exprs: &[sql::Expr],
    ) -> Result<Planned, SqlError> {
        let key_columns = key_columns(&input.scope, &keys, group_by);
        let (pre, agg_calls) = self.pre_aggregate(input, filter, &keys, calls)?;
        let nkeys = keys.len();
        let batch = self.session.options().runtime_mode == RuntimeMode::Batch;
        let ttl = self.session.options().state_ttl;
        let label = format!(
            "GroupAggregate(groupBy=[{}], select=[{}])",
            key_columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            call_exprs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
        );
        let uid =
            self.id(digest(&["group-aggregate", &pre.uid, &label, &format!("{agg_calls:?}"), &format!("{batch}")]));
        let aggregates = Aggregates { calls: agg_calls.clone().into() };
        let keyed = GroupKey::key_by(&pre.stream, 0..nkeys);
        let stream = if batch && aggregates.mergeable() {
            let name = Arc::<str>::from(label.as_str());
            self.batch_fold(&keyed, &label, move || GroupFold::new(aggregates.clone(), nkeys, name.clone()))
        } else {
            keyed.process(GroupAggregate { aggregates, ttl, final_only: batch, name: label.clone().into() })
        };
        let stream = stream.name(&label).uid(&uid);
        let mode = if batch { ChangelogMode::InsertOnly } else { ChangelogMode::Retract };
        let state = if batch || ttl.is_some() { StateClass::Bounded } else { StateClass::Unbounded };
        let mut scope = Scope { columns: key_columns };
        let mut substitutions: Vec<(sql::Expr, Typed)> = group_by
            .iter()
            .zip(&keys)
            .enumerate()
            .map(|(i, (e, k))| (e.clone(), Typed { expr: Expr::Column(i), ty: k.ty.clone() }))
            .collect();
        for (i, (e, c)) in call_exprs.iter().zip(&agg_calls).enumerate() {
            let ty = Type { data: c.ty.clone(), nullable: c.kind != AggKind::Count };
            scope.columns.push(ScopeColumn { qualifier: None, name: format!("$agg{i}"), ty: ty.clone() });
            substitutions.push((e.clone(), Typed { expr: Expr::Column(nkeys + i), ty }));
        }
        let aggregated = Planned {
            stream,
            scope,
            mode,
            uid: uid.clone(),
            node: PlanNode { uid, label, mode, state, inputs: vec![pre.node] },
            rowtime: None,
            proctime: None,
            window: None,
        };
        self.post_aggregate(s, aggregated, substitutions)
    }

    #[allow(clippy::too_many_arguments)]
    fn window_aggregate(
        &self,
        s: &sql::Select,
        w: WindowInput,
        filter: Option<Expr>,
        keys: Vec<Typed>,
        calls: Vec<Call>,
        (group_by, auxiliary): (&[sql::Expr], &[(sql::Expr, usize)]),
        call_exprs: &[sql::Expr],
        width: usize,
    ) -> Result<Planned, SqlError> {
        let at = s.select_token.0.span.start;
        if w.input.mode != ChangelogMode::InsertOnly {
            return Err(unsupported(at, "a window aggregate over a changelog (its input must be insert-only)"));
        }
        let merges = match w.assigner {
            WindowAssigner::Sliding { size, slide, .. } => size != slide,
            WindowAssigner::Cumulative { size, step, .. } => size != step,
            WindowAssigner::Session { .. } => true,
            WindowAssigner::Tumbling { .. } | WindowAssigner::Global => false,
        };
        if merges && let Some(c) = calls.iter().find(|c| c.udf.as_ref().is_some_and(|(u, _)| !u.function.can_merge())) {
            let (u, _) = c.udf.as_ref().expect("a function's call");
            return Err(SqlError::at(
                c.at,
                format!(
                    "the function '{}' cannot merge accumulators, which {} needs: implement UserAggregate::merge and can_merge, or use TUMBLE",
                    u.identifier, w.label
                ),
            ));
        }
        let window_scope = w.scope();
        // The keys that are not window columns go before the exchange.
        let (plain, plain_exprs): (Vec<Typed>, Vec<&sql::Expr>) = keys
            .iter()
            .zip(group_by)
            .filter(|(k, _)| !matches!(k.expr, Expr::Column(c) if c >= width))
            .map(|(k, e)| (k.clone(), e))
            .unzip();
        let plain_exprs: Vec<sql::Expr> = plain_exprs.into_iter().cloned().collect();
        let mut columns = key_columns(&window_scope, &plain, &plain_exprs);
        let (assigner, time_type, label_window) = (w.assigner, w.time_type.clone(), w.label.clone());
        let time = assigner.time();
        // The output's event-time window bounds: the function's, or the input's among the keys.
        let key_of = |b: usize| plain.iter().position(|k| matches!(k.expr, Expr::Column(c) if c == b));
        let bounds = match w.bounds {
            Some((start, end)) => key_of(start).zip(key_of(end)),
            None => Some((plain.len(), plain.len() + 1)).filter(|_| time == WindowTime::EventTime),
        };
        let batch = self.session.options().runtime_mode == RuntimeMode::Batch;
        // Batch mode in bounded memory: each row copied into its windows, whose bounds are two
        // more keys (in place of two constants here), and grouped as a `GROUP BY`.
        let bounded = batch
            && assigner.time() == WindowTime::EventTime
            && !matches!(assigner, WindowAssigner::Session { .. } | WindowAssigner::Global)
            && calls.iter().all(|c| c.udf.as_ref().is_none_or(|(u, _)| u.function.can_merge()));
        let mut pre_keys = plain.clone();
        if bounded {
            let bound =
                Typed { expr: Expr::Literal(Value::BigInt(0)), ty: Type { data: DataType::BigInt, nullable: false } };
            pre_keys.extend([bound.clone(), bound]);
        }
        let (pre, agg_calls) = self.pre_aggregate(w.input, filter, &pre_keys, calls)?;
        let nkeys = plain.len();
        let label = format!(
            "WindowAggregate(groupBy=[{}], window=[{label_window}], select=[{}])",
            columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            call_exprs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
        );
        let uid = self.id(digest(&["window-aggregate", &pre.uid, &label, &format!("{agg_calls:?}")]));
        let aggregates = Aggregates { calls: agg_calls.clone().into() };
        let ty = time_type.clone();
        let stream = if bounded {
            let name = Arc::<str>::from(label.as_str());
            let assign = AssignWindows { assigner, at: nkeys, name: name.clone() };
            let windowed = GroupKey::key_by(&pre.stream.transform_with("WindowAssign", assign), 0..nkeys + 2);
            self.batch_fold(&windowed, &label, move || GroupFold::new(aggregates.clone(), nkeys + 2, name.clone()))
                .name(&label)
                .uid(&uid)
                .transform_with("WindowRows", WindowRows { at: nkeys, ty })
        } else {
            let stream = GroupKey::key_by(&pre.stream, 0..nkeys)
                .window(assigner)
                .aggregate_with(
                    aggregates,
                    move |key: &GroupKey, w: &TimeWindow, results: Result<Vec<Value>, String>| {
                        results.map(|results| {
                            let mut values = Vec::with_capacity(key.0.len() + 3 + results.len());
                            values.extend(key.0.iter().cloned());
                            values.push(Value::from_millis(w.start, &ty));
                            values.push(Value::from_millis(w.end, &ty));
                            values.push(Value::from_millis(w.end - 1, &ty));
                            values.extend(results);
                            Row::insert(values)
                        })
                    },
                )
                .name(&label)
                .uid(&uid);
            let failing = FailOnError { name: label.clone().into() };
            stream.transform_with("Check", failing).uid(&format!("{uid}-check"))
        };
        columns.extend(window_scope.columns[width..].iter().cloned());
        let mut substitutions: Vec<(sql::Expr, Typed)> = Vec::new();
        for (i, e) in plain_exprs.iter().enumerate() {
            substitutions.push((e.clone(), Typed { expr: Expr::Column(i), ty: plain[i].ty.clone() }));
        }
        for (e, k) in group_by.iter().zip(&keys) {
            if let Expr::Column(c) = k.expr
                && c >= width
            {
                substitutions.push((e.clone(), Typed { expr: Expr::Column(nkeys + c - width), ty: k.ty.clone() }));
            }
        }
        let window_type = Type { data: time_type.clone(), nullable: false };
        for (e, i) in auxiliary {
            substitutions.push((e.clone(), Typed { expr: Expr::Column(nkeys + i), ty: window_type.clone() }));
        }
        let mut scope = Scope { columns };
        for (i, (e, c)) in call_exprs.iter().zip(&agg_calls).enumerate() {
            let ty = Type { data: c.ty.clone(), nullable: c.kind != AggKind::Count };
            scope.columns.push(ScopeColumn { qualifier: None, name: format!("$agg{i}"), ty: ty.clone() });
            substitutions.push((e.clone(), Typed { expr: Expr::Column(nkeys + 3 + i), ty }));
        }
        let aggregated = Planned {
            stream,
            scope,
            mode: ChangelogMode::InsertOnly,
            uid: uid.clone(),
            node: PlanNode {
                uid,
                label,
                mode: ChangelogMode::InsertOnly,
                state: StateClass::Bounded,
                inputs: vec![pre.node],
            },
            rowtime: (time == WindowTime::EventTime).then_some(nkeys + 2),
            proctime: None,
            window: bounds,
        };
        self.post_aggregate(s, aggregated, substitutions)
    }
}

impl Planner<'_> {
    /// `SELECT DISTINCT`: the rows grouped by all their columns, each once (a changelog: a row
    /// leaves when its last copy is retracted).
    pub(super) fn distinct(&self, input: Planned) -> Planned {
        let batch = self.session.options().runtime_mode == RuntimeMode::Batch;
        let ttl = self.session.options().state_ttl;
        let names: Vec<&str> = input.scope.columns.iter().map(|c| c.name.as_str()).collect();
        let label = format!("GroupAggregate(groupBy=[{}], select=[])", names.join(", "));
        let uid = self.id(digest(&["distinct", &input.uid, &label, &format!("{batch}")]));
        let aggregates = Aggregates { calls: Vec::new().into() };
        let ncolumns = input.scope.columns.len();
        let keyed = GroupKey::key_by(&input.stream, 0..ncolumns);
        let stream = if batch {
            let name = Arc::<str>::from(label.as_str());
            self.batch_fold(&keyed, &label, move || GroupFold::new(aggregates.clone(), ncolumns, name.clone()))
        } else {
            keyed.process(GroupAggregate { aggregates, ttl, final_only: false, name: label.clone().into() })
        };
        let stream = stream.name(&label).uid(&uid);
        // Without aggregates a group's row never changes: inserts, and deletions only for input
        // that retracts.
        let mode = if batch { ChangelogMode::InsertOnly } else { input.mode };
        let state = if batch || ttl.is_some() { StateClass::Bounded } else { StateClass::Unbounded };
        Planned {
            stream,
            scope: input.scope,
            mode,
            uid: uid.clone(),
            node: PlanNode { uid, label, mode, state, inputs: vec![input.node] },
            rowtime: None,
            proctime: None,
            window: None,
        }
    }
}

/// The output columns of group keys: a key that is a column keeps its name and qualifier (so the
/// select list can name it), another is `$k<i>`.
fn key_columns(scope: &Scope, keys: &[Typed], exprs: &[sql::Expr]) -> Vec<ScopeColumn> {
    keys.iter()
        .zip(exprs)
        .enumerate()
        .map(|(i, (k, _))| match k.expr {
            Expr::Column(c) => scope.columns[c].clone(),
            _ => ScopeColumn { qualifier: None, name: format!("$k{i}"), ty: k.ty.clone() },
        })
        .collect()
}

/// Batch mode's window aggregate: each row once per window that holds its time, the window's
/// start and end (epoch milliseconds) in columns `at` and `at + 1`. A row without a time fails
/// the job, as in Flink.
#[derive(Clone)]
struct AssignWindows {
    assigner: WindowAssigner,
    at: usize,
    name: Arc<str>,
}

impl AssignWindows {
    fn put(&self, mut row: Row, w: &TimeWindow, timestamp: i64, out: &mut Output<Row>) {
        row.values[self.at] = Value::BigInt(w.start);
        row.values[self.at + 1] = Value::BigInt(w.end);
        out.push(Record { value: row, timestamp });
    }
}

impl Operator for AssignWindows {
    type In = Row;
    type Out = Row;

    fn process_batch(&mut self, batch: Vec<Record<Row>>, out: &mut Output<Row>) -> EngineResult<()> {
        for Record { value: row, timestamp } in batch {
            if timestamp == NO_TIMESTAMP {
                return Err(Error::Record(format!(
                    "{}: a row's time attribute is NULL, and a window needs its time (filter out the rows whose time \
                     is NULL, or COALESCE it, before the window)",
                    self.name
                )));
            }
            let windows = self.assigner.windows_containing(timestamp).expect("planned for aligned windows");
            let Some((last, others)) = windows.split_last() else { continue };
            for w in others {
                self.put(row.clone(), w, timestamp, out);
            }
            self.put(row, last, timestamp, out);
        }
        Ok(())
    }
}

/// Batch mode's window aggregate: a group's row (keys, window start and end in epoch
/// milliseconds at `at`, results) as the window operator gives it (keys, `window_start`,
/// `window_end`, `window_time`, results), at the window's last millisecond.
#[derive(Clone)]
struct WindowRows {
    at: usize,
    ty: DataType,
}

impl Operator for WindowRows {
    type In = Row;
    type Out = Row;

    fn process_batch(&mut self, batch: Vec<Record<Row>>, out: &mut Output<Row>) -> EngineResult<()> {
        for Record { value: mut row, .. } in batch {
            let (Value::BigInt(start), Value::BigInt(end)) = (&row.values[self.at], &row.values[self.at + 1]) else {
                unreachable!("a window's bounds are BIGINT keys")
            };
            let (start, end) = (*start, *end);
            row.values[self.at] = Value::from_millis(start, &self.ty);
            row.values[self.at + 1] = Value::from_millis(end, &self.ty);
            row.values.insert(self.at + 2, Value::from_millis(end - 1, &self.ty));
            out.push(Record { value: row, timestamp: end - 1 });
        }
        Ok(())
    }
}

/// Fails the job with a window's failed aggregate (the window operator cannot fail itself).
#[derive(Clone)]
struct FailOnError {
    name: Arc<str>,
}

impl Operator for FailOnError {
    type In = Result<Row, String>;
    type Out = Row;

    fn process_batch(&mut self, batch: Vec<Record<Result<Row, String>>>, out: &mut Output<Row>) -> EngineResult<()> {
        for r in batch {
            match r.value {
                Ok(row) => out.push(Record { value: row, timestamp: r.timestamp }),
                Err(e) => return Err(Error::Record(format!("{}: {e}", self.name))),
            }
        }
        Ok(())
    }
}
