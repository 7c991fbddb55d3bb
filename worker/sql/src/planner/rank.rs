//! Top-N and deduplication: `SELECT .., ROW_NUMBER() OVER (PARTITION BY .. ORDER BY ..) AS rn
//! FROM ..` in a subquery whose rows the outer query limits (`WHERE rn <= N`, `rn < N`, `rn = N`,
//! `rn BETWEEN M AND N`, the outer `WHERE` filtering the ranks it keeps). The limit goes down into
//! the rank operator, which keeps N rows per partition; ordered by a time (`ORDER BY rowtime`/`proctime`, ascending or descending, `rn =
//! 1`) it is Flink's deduplication keeping the first or the last row.

use super::{ChangelogMode, PlanNode, Planned, Planner, Relation, StateClass, digest, unsupported};
use crate::agg::{Emit, GroupKey, TimeSort, TopN, TopNFold};
use crate::ast::{DataType, Type};
use crate::error::SqlError;
use crate::expr::{Cmp, Expr, Scope, ScopeColumn};
use crate::session::RuntimeMode;
use crate::value::{Row, Value};
use ferroflink_datastream::DataStream;
use sqlparser::ast::{self as sql, Spanned};
use std::ops::Range;
use std::sync::Arc;

/// The `ROW_NUMBER() OVER (..)` window of a select item, and its alias.
pub(super) fn row_number(item: &sql::SelectItem) -> Option<(&sql::WindowSpec, Option<&sql::Ident>)> {
    let (e, alias) = match item {
        sql::SelectItem::UnnamedExpr(e) => (e, None),
        sql::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
        _ => return None,
    };
    match e {
        sql::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("ROW_NUMBER") => match &f.over {
            Some(sql::WindowType::WindowSpec(spec)) => Some((spec, alias)),
            _ => None,
        },
        _ => None,
    }
}

/// The last rank an outer `WHERE` keeps of rank column `name`: `N` for `name <= N`,
/// `name < N + 1`, `name = N`, `name BETWEEN M AND N`, in any conjunct (the `WHERE` itself still
/// filters, so `rn > 1 AND rn <= 3` keeps ranks 2 and 3).
pub(super) fn limit_of(selection: Option<&sql::Expr>, name: &str) -> Option<u64> {
    let e = selection?;
    let is_rank = |x: &sql::Expr| matches!(x, sql::Expr::Identifier(i) if i.value == name);
    let number = |x: &sql::Expr| match x {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Number(n, _) => n.parse::<u64>().ok(),
            _ => None,
        },
        _ => None,
    };
    match e {
        sql::Expr::BinaryOp { left, op: sql::BinaryOperator::And, right } => {
            limit_of(Some(left), name).or_else(|| limit_of(Some(right), name))
        }
        sql::Expr::Nested(inner) => limit_of(Some(inner), name),
        sql::Expr::BinaryOp { left, op, right } if is_rank(left) => match (op, number(right)?) {
            (sql::BinaryOperator::LtEq, n) => Some(n),
            (sql::BinaryOperator::Lt, n) => n.checked_sub(1),
            (sql::BinaryOperator::Eq, n) => Some(n),
            _ => None,
        },
        sql::Expr::Between { expr, negated: false, high, .. } if is_rank(expr) => number(high),
        _ => None,
    }
}

/// A whole number constant (`LIMIT 10`).
pub(super) fn constant_count(e: &sql::Expr) -> Option<u64> {
    match e {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

impl Planner<'_> {
    /// `ORDER BY .. [LIMIT n]` and `LIMIT n` of a query's rows: a top-N of one partition. In
    /// streaming mode a sort needs a limit (a changelog of the first `n` rows); in batch mode the
    /// sorted rows come once, at the end of input. `LIMIT` alone keeps the first `n` rows to
    /// arrive.
    /// The input's last `hidden` columns are sort keys only, not output.
    pub(super) fn sort_limit(
        &self,
        input: Planned,
        keys: &[sql::OrderByExpr],
        hidden: usize,
        (offset, limit): (u64, Option<u64>),
        at: sqlparser::tokenizer::Location,
    ) -> Result<Planned, SqlError> {
        let batch = self.session.options().runtime_mode == RuntimeMode::Batch;
        let retracting = input.mode != ChangelogMode::InsertOnly;
        if !keys.is_empty() && limit.is_none() && !batch {
            return Err(unsupported(at, "ORDER BY without LIMIT in streaming mode (a sort never ends; add LIMIT n)"));
        }
        if offset > 0 && limit.is_none() && !batch {
            return Err(unsupported(at, "OFFSET without LIMIT in streaming mode (add LIMIT n)"));
        }
        let compiler = self.compiler(&input.scope);
        let mut order = Vec::new();
        let mut exprs: Vec<Expr> = (0..input.scope.columns.len()).map(Expr::Column).collect();
        let mut columns = input.scope.columns.iter().map(|c| (c.name.clone(), c.ty.clone())).collect::<Vec<_>>();
        for o in keys {
            if o.options.nulls_first.is_some() {
                return Err(unsupported(o.expr.span().start, "NULLS FIRST/LAST"));
            }
            let column = match constant_count(&o.expr) {
                // `ORDER BY 2`: the second column.
                Some(n) if n >= 1 && (n as usize) <= input.scope.columns.len() - hidden => n as usize - 1,
                Some(_) => {
                    return Err(SqlError::at(o.expr.span().start, "ORDER BY <n> names a column of the query, from 1"));
                }
                None => {
                    let t = compiler.compile(&o.expr)?;
                    exprs.push(t.expr);
                    columns.push((format!("$s{}", exprs.len()), t.ty));
                    exprs.len() - 1
                }
            };
            order.push((column, matches!(o.options.sort, Some(sql::OrderBySort::Desc))));
        }
        let keep = input.scope.columns.len() - hidden;
        let scope = Scope { columns: input.scope.columns[..keep].to_vec() };
        let pre = if exprs.len() > keep { self.calc(input, None, exprs, Scope::of(None, columns))? } else { input };
        // With an OFFSET, the first `offset + limit` rows ranked, then those ranked after `offset`.
        let offset = offset as usize;
        let limit = limit.map_or(usize::MAX, |n| (n as usize).saturating_add(offset));
        let emit = match (batch, retracting) {
            (true, _) => Emit::AtEndOfInput,
            (false, true) => Emit::RetractableChangelog,
            (false, false) => Emit::Changelog,
        };
        let function = TopN { order: order.into(), limit, keep, with_rank: offset > 0, emit, ttl: None };
        let label = format!(
            "SortLimit(orderBy=[{}], offset=[{offset}], fetch=[{}])",
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "),
            if limit == usize::MAX { "all".to_string() } else { (limit - offset).to_string() }
        );
        let uid = self.id(digest(&["sort-limit", &pre.uid, &label, &format!("{function:?}")]));
        let stream = if batch && !retracting && limit != usize::MAX {
            self.batch_top_n(&pre.stream, function, 0..0, None, &label)
        } else {
            pre.stream.key_by(|_: &Row| GroupKey(Vec::new())).process(function)
        }
        .name(&label)
        .uid(&uid);
        let mode =
            if batch || (keys.is_empty() && !retracting) { ChangelogMode::InsertOnly } else { ChangelogMode::Retract };
        let state = if limit == usize::MAX || retracting { StateClass::Unbounded } else { StateClass::Bounded };
        let mut ranked_scope = scope.clone();
        if offset > 0 {
            ranked_scope.columns.push(ScopeColumn {
                qualifier: None,
                name: "$rank".into(),
                ty: Type { data: DataType::BigInt, nullable: false },
            });
        }
        let sorted = Planned {
            stream,
            scope: ranked_scope,
            mode,
            uid: uid.clone(),
            node: PlanNode { uid, label, mode, state, inputs: vec![pre.node] },
            rowtime: None,
            proctime: None,
            window: None,
        };
        if offset == 0 {
            return Ok(sorted);
        }
        let after_offset =
            Expr::Compare(Cmp::Gt, Box::new(Expr::Column(keep)), Box::new(Expr::Literal(Value::BigInt(offset as i64))));
        self.calc(sorted, Some(after_offset), (0..keep).map(Expr::Column).collect(), scope)
    }

    /// Batch mode's top-N of insert-only `input` partitioned by columns `partition`, in bounded
    /// memory: spilling to disk. Output rows carry the time of their column `time`, if any.
    fn batch_top_n(
        &self,
        input: &DataStream<Row>,
        top: TopN,
        partition: Range<usize>,
        time: Option<usize>,
        label: &str,
    ) -> DataStream<Row> {
        let name = Arc::<str>::from(label);
        let keyed = GroupKey::key_by(input, partition.clone());
        self.batch_fold(&keyed, label, move || TopNFold {
            top: top.clone(),
            partition: partition.clone(),
            time,
            name: name.clone(),
        })
    }

    /// Streaming `ORDER BY <rowtime>, ..` without a limit over the query's rows (`input`, whose
    /// rowtime column the first key names): [`TimeSort`] on one subtask, insert-only, the rowtime
    /// kept. The further keys name columns of the query (or their positions).
    pub(super) fn time_sort(
        &self,
        input: Planned,
        keys: &[sql::OrderByExpr],
        at: sqlparser::tokenizer::Location,
    ) -> Result<Planned, SqlError> {
        let rowtime = input.rowtime.expect("a temporal sort's input has a rowtime");
        if input.mode != ChangelogMode::InsertOnly {
            return Err(unsupported(at, "ORDER BY a time attribute over a changelog with updates"));
        }
        let compiler = self.compiler(&input.scope);
        let mut order = Vec::new();
        for o in &keys[1..] {
            if o.options.nulls_first.is_some() {
                return Err(unsupported(o.expr.span().start, "NULLS FIRST/LAST"));
            }
            let column = match constant_count(&o.expr) {
                Some(n) if n >= 1 && (n as usize) <= input.scope.columns.len() => n as usize - 1,
                _ => match compiler.compile(&o.expr)?.expr {
                    Expr::Column(c) => c,
                    _ => {
                        return Err(unsupported(
                            o.expr.span().start,
                            "ORDER BY a time attribute then an expression (sort by columns the query selects)",
                        ));
                    }
                },
            };
            order.push((column, matches!(o.options.sort, Some(sql::OrderBySort::Desc))));
        }
        let label =
            format!("TemporalSort(orderBy=[{}])", keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "));
        let function = TimeSort { order: order.into() };
        let uid = self.id(digest(&["time-sort", &input.uid, &label, &format!("{function:?}")]));
        let stream = input
            .stream
            .key_by(move |r: &Row| GroupKey(vec![r.values[rowtime].clone()]))
            .process(function)
            .name(&label)
            .uid(&uid)
            .set_parallelism(1);
        let mode = ChangelogMode::InsertOnly;
        Ok(Planned {
            stream,
            scope: input.scope,
            mode,
            uid: uid.clone(),
            node: PlanNode { uid, label, mode, state: StateClass::Bounded, inputs: vec![input.node] },
            rowtime: Some(rowtime),
            proctime: None,
            window: None,
        })
    }

    /// A select whose list has `ROW_NUMBER() OVER (..)`, limited by the query around it.
    pub(super) fn top_n(&self, s: &sql::Select, input: Relation) -> Result<Planned, SqlError> {
        let at = s.select_token.0.span.start;
        let input = self.materialize(input)?;
        let retracting = input.mode != ChangelogMode::InsertOnly;
        let compiler = self.compiler(&input.scope);
        let filter = s.selection.as_ref().map(|w| compiler.predicate(w)).transpose()?;
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        let mut rank_at = None;
        let mut spec = None;
        for item in &s.projection {
            if let Some((window, alias)) = row_number(item) {
                if spec.is_some() {
                    return Err(unsupported(at, "two ROW_NUMBER() in one SELECT"));
                }
                spec = Some(window);
                rank_at = Some((
                    columns.len(),
                    alias.map_or("EXPR$".to_string() + &columns.len().to_string(), |a| a.value.clone()),
                ));
                continue;
            }
            let (e, c) = self.projection(&compiler, std::slice::from_ref(item), at)?;
            exprs.extend(e);
            columns.extend(c);
        }
        let spec = spec.expect("a ROW_NUMBER item");
        let (rank_at, rank_name) = rank_at.expect("a ROW_NUMBER item");
        let limit = match self.rank_limit.borrow_mut().take() {
            Some((name, n)) if name == rank_name => n,
            _ => {
                return Err(SqlError::at(
                    at,
                    format!(
                        "ROW_NUMBER() needs a limit: select from this query WHERE {rank_name} <= N (top-N) or {rank_name} = 1 (deduplication)"
                    ),
                ));
            }
        };
        if limit == 0 || spec.order_by.is_empty() {
            return Err(SqlError::at(at, "ROW_NUMBER() needs an ORDER BY in its OVER and a limit of at least 1"));
        }
        let keep = exprs.len();
        // After the kept columns: the partition keys, then the sort keys.
        let partition_at = exprs.len();
        for p in &spec.partition_by {
            let t = compiler.compile(p)?;
            exprs.push(t.expr);
            columns.push((format!("$p{}", exprs.len()), t.ty));
        }
        let npartition = spec.partition_by.len();
        // Partitioned by the window bounds of insert-only rows in event time (a window
        // aggregate's or a window function's): a window top-N, whose rows come once, when the
        // watermark passes the window's end.
        let window_bound = |name: &str| {
            let named =
                |e: &Expr| matches!(e, Expr::Column(c) if input.scope.columns[*c].name.eq_ignore_ascii_case(name));
            exprs[partition_at..].iter().position(named).map(|i| partition_at + i)
        };
        let event_time = input.node.in_event_time() && !retracting;
        let window_end = match (window_bound("window_start"), window_bound("window_end")) {
            (Some(_), Some(end))
                if event_time && matches!(columns[end].1.data, DataType::Timestamp(_) | DataType::TimestampLtz(_)) =>
            {
                Some(end)
            }
            _ => None,
        };
        let window = window_end.is_some();
        let rowtime =
            input.rowtime.and_then(|t| exprs[..keep].iter().position(|e| matches!(e, Expr::Column(c) if *c == t)));
        let mut order = Vec::new();
        for o in &spec.order_by {
            let t = compiler.compile(&o.expr)?;
            let descending = matches!(o.options.sort, Some(sql::OrderBySort::Desc));
            if o.options.nulls_first.is_some() {
                return Err(unsupported(o.expr.span().start, "NULLS FIRST/LAST in ROW_NUMBER's ORDER BY"));
            }
            exprs.push(t.expr);
            columns.push((format!("$o{}", exprs.len()), t.ty));
            order.push((exprs.len() - 1, descending));
        }
        let pre = self.calc(input, filter, exprs, Scope::of(None, columns.clone()))?;
        let batch = self.session.options().runtime_mode == RuntimeMode::Batch;
        let ttl = self.session.options().state_ttl;
        let emit = match (batch, window_end, retracting) {
            (true, ..) => Emit::AtEndOfInput,
            (false, Some(end), _) => Emit::AtWindowEnd { end },
            (false, None, true) => Emit::RetractableChangelog,
            (false, None, false) => Emit::Changelog,
        };
        let function = TopN { order: order.into(), limit: limit as usize, keep, with_rank: true, emit, ttl };
        let label = format!(
            "(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={limit}], partitionBy=[{}], orderBy=[{}])",
            spec.partition_by.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
            spec.order_by.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")
        );
        let label = format!("{}{label}", if window { "WindowRank" } else { "Rank" });
        let uid = self.id(digest(&["rank", &pre.uid, &label, &format!("{function:?}")]));
        let partition = partition_at..partition_at + npartition;
        let stream = if batch && !retracting {
            self.batch_top_n(&pre.stream, function, partition, if window { rowtime } else { None }, &label)
        } else {
            GroupKey::key_by(&pre.stream, partition).process(function)
        }
        .name(&label)
        .uid(&uid);
        let mode = match emit {
            Emit::Changelog | Emit::RetractableChangelog => ChangelogMode::Retract,
            Emit::AtEndOfInput | Emit::AtWindowEnd { .. } => ChangelogMode::InsertOnly,
        };
        // Over retractions every row of a partition stays; else the first `limit`.
        let state = if retracting && ttl.is_none() { StateClass::Unbounded } else { StateClass::Bounded };
        let mut out: Vec<(String, Type)> = columns[..keep].to_vec();
        out.push((rank_name.clone(), Type { data: DataType::BigInt, nullable: false }));
        let ranked = Planned {
            stream,
            scope: Scope::of(None, out.clone()),
            mode,
            uid: uid.clone(),
            node: PlanNode { uid, label, mode, state, inputs: vec![pre.node] },
            rowtime: if window { rowtime } else { None },
            proctime: None,
            window: None,
        };
        if rank_at == keep {
            return Ok(ranked);
        }
        // The rank where the select list has it.
        let mut projection: Vec<Expr> = (0..keep).map(Expr::Column).collect();
        projection.insert(rank_at, Expr::Column(keep));
        let mut names = out[..keep].to_vec();
        names.insert(rank_at, out[keep].clone());
        self.calc(ranked, None, projection, Scope::of(None, names))
    }
}
