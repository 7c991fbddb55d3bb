//! `FROM a [INNER|LEFT|RIGHT|FULL] JOIN b ON ..` (or `USING (..)`): the equalities between the
//! two sides' columns become the key both inputs are partitioned by (cast to their common type),
//! the rest of the condition is checked on each pair ([`crate::join::RegularJoin`]). Between
//! two insert-only inputs in event time, a lower and an upper bound of one's time against the
//! other's (`a.ts BETWEEN b.ts - INTERVAL .. AND b.ts + INTERVAL ..`, or `>=`/`>` and `<=`/`<`
//! comparisons) make it an interval join ([`crate::join::IntervalJoin`]), insert-only, whose
//! state the watermark frees.

use super::{ChangelogMode, PlanNode, Planned, Planner, StateClass, digest, unsupported};
use crate::agg::GroupKey;
use crate::ast::DataType;
use crate::error::SqlError;
use crate::expr::{Cmp, Expr, Scope, Typed};
use crate::join::{IntervalJoin, JoinFold, JoinKind, JoinShape, RegularJoin};
use crate::session::RuntimeMode;
use crate::typing::least_restrictive;
use crate::value::{Row, Value};
use sqlparser::ast::{self as sql, Spanned};
use std::sync::Arc;

/// The conjuncts of a condition.
fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

/// Which side's columns an expression reads: `(reads left, reads right)`.
fn sides(e: &Expr, left_width: usize) -> (bool, bool) {
    let (mut l, mut r) = (false, false);
    e.visit(&mut |x| {
        if let Expr::Column(c) = x {
            if *c < left_width { l = true } else { r = true }
        }
    });
    (l, r)
}

/// `e` over the right side's own columns (its columns shifted down by the left side's width).
fn shifted(e: &Expr, by: usize) -> Expr {
    let mut copy = e.clone();
    copy.replace_columns(&mut |c| Expr::Column(c - by));
    copy
}

/// Which side's event time, and the milliseconds added to it: `c` or `c ± INTERVAL ..`.
fn shifted_time(e: &Expr, times: (usize, usize)) -> Option<(bool, i64)> {
    let side = |c: usize| (c == times.0).then_some(true).or((c == times.1).then_some(false));
    match e {
        Expr::Column(c) => Some((side(*c)?, 0)),
        Expr::TimePlusInterval { time, interval, negate } => match (&**time, &**interval) {
            (Expr::Column(c), Expr::Literal(Value::IntervalMillis(ms))) => {
                Some((side(*c)?, if *negate { -ms } else { *ms }))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The conjuncts that bound `left.time - right.time` (`times`: the two event-time columns over
/// `left ++ right`), as inclusive bounds in milliseconds: when both are there, an interval join,
/// and those conjuncts leave `residual` (the join holds them by construction).
fn time_bounds(residual: &mut Vec<Expr>, times: (usize, usize)) -> Option<(i64, i64)> {
    let bound = |part: &Expr| -> Option<(Option<i64>, Option<i64>)> {
        let Expr::Compare(cmp, a, b) = part else { return None };
        let (cmp, v) = match (shifted_time(a, times)?, shifted_time(b, times)?) {
            // left + x cmp right + y  <=>  left - right cmp y - x
            ((true, x), (false, y)) => (*cmp, y - x),
            // right + x cmp left + y  <=>  left - right (cmp reversed) x - y
            ((false, x), (true, y)) => (cmp.reversed(), x - y),
            _ => return None,
        };
        match cmp {
            Cmp::GtEq => Some((Some(v), None)),
            Cmp::Gt => Some((Some(v + 1), None)),
            Cmp::LtEq => Some((None, Some(v))),
            Cmp::Lt => Some((None, Some(v - 1))),
            Cmp::Eq => Some((Some(v), Some(v))),
            _ => None,
        }
    };
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    for (low, high) in residual.iter().filter_map(bound) {
        lower = lower.max(low);
        upper = match (upper, high) {
            (Some(u), Some(h)) => Some(u.min(h)),
            (u, h) => u.or(h),
        };
    }
    let bounds = (lower?, upper?);
    residual.retain(|p| bound(p).is_none());
    Some(bounds)
}

impl Planner<'_> {
    /// `left` joined with `right` by `operator`.
    pub(super) fn join(
        &self,
        left: Planned,
        right: Planned,
        operator: &sql::JoinOperator,
        at: sqlparser::tokenizer::Location,
    ) -> Result<Planned, SqlError> {
        let (kind, constraint) = match operator {
            sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
            sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
            sql::JoinOperator::Right(c) | sql::JoinOperator::RightOuter(c) => (JoinKind::Right, c),
            sql::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
            _ => {
                return Err(unsupported(
                    at,
                    "this kind of join (Flink SQL's are [INNER], LEFT, RIGHT and FULL JOIN .. ON)",
                ));
            }
        };
        let lw = left.scope.columns.len();
        let mut scope = left.scope.clone();
        scope.columns.extend(right.scope.columns.iter().cloned());
        let compiler = self.compiler(&scope);
        let condition = match constraint {
            sql::JoinConstraint::On(e) => compiler.predicate(e)?,
            sql::JoinConstraint::Using(names) => {
                let mut all: Option<Expr> = None;
                for n in names {
                    let name = n.to_string();
                    let l = left.scope.resolve(None, &name, n.span().start)?;
                    let r = right.scope.resolve(None, &name, n.span().start)?;
                    let eq = Expr::Compare(Cmp::Eq, Box::new(Expr::Column(l)), Box::new(Expr::Column(lw + r)));
                    all = Some(match all {
                        Some(a) => Expr::And(Box::new(a), Box::new(eq)),
                        None => eq,
                    });
                }
                all.ok_or_else(|| SqlError::at(at, "USING needs a column"))?
            }
            _ => return Err(unsupported(at, "a join without ON or USING (a cross join)")),
        };
        let mut parts = Vec::new();
        conjuncts(condition, &mut parts);
        let (mut left_keys, mut right_keys, mut residual) = (Vec::new(), Vec::new(), Vec::new());
        for part in parts {
            if let Expr::Compare(Cmp::Eq, a, b) = &part {
                let (sa, sb) = (sides(a, lw), sides(b, lw));
                let pair = match (sa, sb) {
                    ((true, false), (false, true)) => Some((a, b)),
                    ((false, true), (true, false)) => Some((b, a)),
                    _ => None,
                };
                if let Some((l, r)) = pair {
                    left_keys.push((**l).clone());
                    right_keys.push(shifted(r, lw));
                    continue;
                }
            }
            residual.push(part);
        }
        if left_keys.is_empty() {
            return Err(unsupported(at, "a join without an equality between its two sides' columns"));
        }
        // Both sides' keys of a pair in their common type, so equal values are equal keys.
        let key_type = |e: &Expr, side: &Scope| -> crate::ast::Type {
            match e {
                Expr::Column(c) => side.columns[*c].ty.clone(),
                _ => crate::ast::Type { data: DataType::Null, nullable: true },
            }
        };
        let left_compiler = self.compiler(&left.scope);
        let right_compiler = self.compiler(&right.scope);
        for (l, r) in left_keys.iter_mut().zip(right_keys.iter_mut()) {
            let (lt, rt) = (key_type(l, &left.scope), key_type(r, &right.scope));
            if let Ok(common) = least_restrictive(&[lt.clone(), rt.clone()])
                && lt.data != rt.data
                && common.data != DataType::Null
            {
                *l = left_compiler.cast(Typed { expr: l.clone(), ty: lt }, &common.data, true).expr;
                *r = right_compiler.cast(Typed { expr: r.clone(), ty: rt }, &common.data, true).expr;
            }
        }
        // Two insert-only inputs in event time with bounds between their times: an interval join.
        let insert_only = left.mode == ChangelogMode::InsertOnly && right.mode == ChangelogMode::InsertOnly;
        let interval = match (left.rowtime, right.rowtime) {
            (Some(l), Some(r)) if insert_only => time_bounds(&mut residual, (l, lw + r)).map(|bounds| ((l, r), bounds)),
            _ => None,
        };
        // Two insert-only inputs in event time joined on their window bounds: a window join, the
        // interval join of rows whose windows end at the same time (kept until the watermark
        // passes the end).
        let window = || {
            let ((left_start, left_end), (right_start, right_end)) = (left.window?, right.window?);
            let paired = |l: usize, r: usize| {
                left_keys
                    .iter()
                    .zip(&right_keys)
                    .any(|pair| matches!(pair, (Expr::Column(a), Expr::Column(b)) if *a == l && *b == r))
            };
            let event_time = insert_only && left.node.in_event_time() && right.node.in_event_time();
            (event_time && paired(left_start, right_start) && paired(left_end, right_end))
                .then_some(((left_end, right_end), (0, 0)))
        };
        let (interval, windowed) = match interval {
            Some(i) => (Some(i), false),
            None => match window() {
                Some(w) => (Some(w), true),
                None => (None, false),
            },
        };
        let residual = residual.into_iter().reduce(|a, b| Expr::And(Box::new(a), Box::new(b)));
        let batch = self.session.options().runtime_mode == RuntimeMode::Batch;
        let ttl = self.session.options().state_ttl;
        let label = format!(
            "{}(joinType=[{kind:?}], where=[{}], leftKeys={}, rightKeys={})",
            match (interval, windowed) {
                (Some(_), true) => "WindowJoin",
                (Some(_), false) => "IntervalJoin",
                (None, _) => "Join",
            },
            match constraint {
                sql::JoinConstraint::On(e) => e.to_string(),
                other => format!("{other:?}"),
            },
            left_keys.len(),
            right_keys.len()
        );
        // "join/2": the rows' state took another shape (a map per key; a list in an interval
        // join), so a savepoint of the one before is refused rather than restored without them.
        let uid = self.id(digest(&[
            "join/2",
            &left.uid,
            &right.uid,
            &label,
            &format!("{left_keys:?}{right_keys:?}{residual:?}{batch}{interval:?}"),
        ]));
        let shape = JoinShape {
            kind,
            widths: (lw, right.scope.columns.len()),
            residual: residual.map(Arc::new),
            name: label.clone().into(),
        };
        // A key expression that fails (a CAST of text that is no number) gives a NULL key, which
        // matches nothing: the partitioner cannot fail the job.
        let key_of = |keys: Vec<Expr>| {
            let keys: Arc<[Expr]> = keys.into();
            move |r: &Row| GroupKey(keys.iter().map(|k| k.eval(&r.values).unwrap_or(Value::Null)).collect())
        };
        let stream = if batch && insert_only && (interval.is_none() || windowed) {
            // In bounded memory (a window join too: its bounds are keys): both sides' rows,
            // `[key.., side, row..]`, folded by key, spilling to disk.
            let tagged = |stream: &ferroflink_datastream::DataStream<Row>, keys: Vec<Expr>, left: bool| {
                stream.map(move |row: Row| {
                    let mut values: Vec<Value> =
                        keys.iter().map(|k| k.eval(&row.values).unwrap_or(Value::Null)).collect();
                    values.push(Value::Boolean(left));
                    values.extend(row.values);
                    Row { kind: row.kind, values }
                })
            };
            let nkeys = left_keys.len();
            let both = tagged(&left.stream, left_keys, true).union(&[tagged(&right.stream, right_keys, false)]);
            self.batch_fold(&GroupKey::key_by(&both, 0..nkeys), &label, move || JoinFold {
                shape: shape.clone(),
                nkeys,
            })
        } else {
            let connected = left.stream.key_by(key_of(left_keys)).connect(&right.stream.key_by(key_of(right_keys)));
            match interval {
                Some((times, (lower, upper))) => {
                    connected.process(IntervalJoin { shape, times, bounds: lower..=upper })
                }
                None => connected.process(RegularJoin { shape, ttl, final_only: batch }),
            }
        }
        .name(&label)
        .uid(&uid);
        let mode = if batch || interval.is_some() || (insert_only && kind == JoinKind::Inner) {
            ChangelogMode::InsertOnly
        } else {
            ChangelogMode::Retract
        };
        let state =
            if batch || ttl.is_some() || interval.is_some() { StateClass::Bounded } else { StateClass::Unbounded };
        Ok(Planned {
            stream,
            scope,
            mode,
            uid: uid.clone(),
            node: PlanNode { uid, label, mode, state, inputs: vec![left.node, right.node] },
            rowtime: None,
            proctime: None,
            window: None,
        })
    }
}
