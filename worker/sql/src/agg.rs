//! SQL's aggregate functions (`COUNT`, `COUNT(DISTINCT ..)`, `SUM`, `MIN`, `MAX`, `AVG`, each with
//! `FILTER (WHERE ..)`) as accumulators that add and retract rows, and the two operators built on
//! them: the window aggregate's [`AggregateFunction`] (window TVFs: insert-only results when a
//! window ends) and the unbounded group aggregate ([`GroupAggregate`]: a changelog, `+I` for a
//! new group, `-U`/`+U` when its results change, `-D` when its last row is retracted; in batch
//! mode the final rows once, at the end of input).
//!
//! An operator's input rows are pre-projected by the planner: the group keys first, then each
//! call's argument and filter columns, so an accumulator reads columns by index.

use crate::ast::DataType;
use crate::decimal::Decimal;
use crate::expr::{EvalError, integer_value};
use crate::spill::{Fold, value_size};
use crate::udf::AggregateUdf;
use crate::value::{Row, RowKind, Value};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::functions::AggregateFunction;
use ferroflink_core::record::{MAX_WATERMARK, NO_TIMESTAMP};
use ferroflink_datastream::{KeyedContext, KeyedProcessFunction};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::operator::Output;
use ferroflink_state::ttl::StateTtlConfig;
use ferroflink_state::{StateDescriptor, ValueState};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The values of a row's group keys: the key of the aggregate operators.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupKey(pub Vec<Value>);

impl GroupKey {
    /// `stream` keyed by its rows' columns `columns` (the exchange hashes them in place: a
    /// `GroupKey`'s codec bytes are its values', as a slice's).
    pub fn key_by(
        stream: &ferroflink_datastream::DataStream<Row>,
        columns: Range<usize>,
    ) -> ferroflink_datastream::KeyedStream<Row, GroupKey> {
        let at = columns.clone();
        stream.key_by_with_groups(
            move |r: &Row| GroupKey(r.values[columns.clone()].to_vec()),
            move |r: &Row, assigner, scratch| assigner.key_group(&r.values[at.clone()], scratch),
        )
    }
}

/// A group key is looked up by the values' slice (a derived `Hash` of the one field hashes it as
/// the slice does), so a row's key columns find their group without a copy.
impl std::borrow::Borrow<[Value]> for GroupKey {
    fn borrow(&self) -> &[Value] {
        &self.0
    }
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggKind {
    /// `COUNT(*)` (no argument) or `COUNT(x)` (non-NULL values).
    Count,
    /// `SUM(x)`.
    Sum,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `AVG(x)`.
    Avg,
    /// A function the binary registers ([`AggCall::udf`]).
    Udf,
}

impl AggKind {
    /// The function of SQL name `name` (upper case).
    pub fn named(name: &str) -> Option<AggKind> {
        Some(match name {
            "COUNT" => AggKind::Count,
            "SUM" => AggKind::Sum,
            "MIN" => AggKind::Min,
            "MAX" => AggKind::Max,
            "AVG" => AggKind::Avg,
            _ => return None,
        })
    }
}

/// One aggregate call over the pre-projected input.
#[derive(Clone, Debug)]
pub struct AggCall {
    /// The function.
    pub kind: AggKind,
    /// Its argument's column (`None`: `COUNT(*)`).
    pub arg: Option<usize>,
    /// The column of its `FILTER (WHERE ..)` condition.
    pub filter: Option<usize>,
    /// `DISTINCT`.
    pub distinct: bool,
    /// The argument's type (`COUNT(*)`: `BIGINT`).
    pub input: DataType,
    /// The result type.
    pub ty: DataType,
    /// Whether the input retracts rows (`MIN`/`MAX` then keep every value, not only the best).
    pub retracts: bool,
    /// The function of an [`AggKind::Udf`] call.
    pub udf: Option<UdafCall>,
}

/// A registered aggregate function's call: the function and its arguments' columns.
#[derive(Clone, Debug)]
pub struct UdafCall {
    /// The function.
    pub function: AggregateUdf,
    /// Its arguments' columns, cast to its argument types.
    pub args: Vec<usize>,
}

impl UdafCall {
    fn fail(&self, e: String) -> EvalError {
        EvalError(format!("function {}: {e}", self.function.identifier))
    }
}

/// An accumulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Acc {
    /// Rows (or non-NULL values) counted.
    Count(i64),
    /// A sum of `n` values (NULL while `n` is 0).
    Sum {
        /// The sum, in the result type.
        sum: Value,
        /// Values summed.
        n: i64,
    },
    /// The best value so far (insert-only input).
    Best(Option<Value>),
    /// Every value with its multiplicity, in order (input that retracts).
    Values(Vec<(Value, i64)>),
    /// The distinct values with their multiplicities (`DISTINCT`: the result is computed over
    /// the keys).
    Distinct(HashMap<Value, i64>),
    /// A registered function's accumulator.
    Udf(Value),
}

fn add_values(a: &Value, b: &Value, negate: bool, ty: &DataType) -> std::result::Result<Value, EvalError> {
    let op = if negate { crate::typing::Arithmetic::Minus } else { crate::typing::Arithmetic::Plus };
    crate::expr::arithmetic(op, a, b, ty)
}

impl AggCall {
    /// A fresh accumulator.
    pub fn create(&self) -> Acc {
        if self.distinct {
            return Acc::Distinct(HashMap::new());
        }
        if let Some(u) = &self.udf {
            return Acc::Udf(u.function.function.create_accumulator());
        }
        match self.kind {
            AggKind::Count => Acc::Count(0),
            AggKind::Sum | AggKind::Avg => Acc::Sum { sum: Value::Null, n: 0 },
            AggKind::Min | AggKind::Max if self.retracts => Acc::Values(Vec::new()),
            AggKind::Min | AggKind::Max => Acc::Best(None),
            AggKind::Udf => unreachable!("a function's call has its function"),
        }
    }

    /// The type `SUM`/`AVG` accumulate in: `AVG` of integers sums in `BIGINT`, of decimals in
    /// `DECIMAL(38, s)`.
    fn sum_type(&self) -> DataType {
        match (self.kind, &self.input) {
            (AggKind::Avg, DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt) => {
                DataType::BigInt
            }
            (AggKind::Avg, DataType::Decimal { scale, .. }) => DataType::Decimal { precision: 38, scale: *scale },
            (AggKind::Avg, _) => DataType::Double,
            _ => self.ty.clone(),
        }
    }

    /// Adds (`retract`: removes) the call's value of `row` to `acc`.
    pub fn accumulate(&self, acc: &mut Acc, row: &[Value], retract: bool) -> std::result::Result<(), EvalError> {
        if let Some(f) = self.filter
            && row[f] != Value::Boolean(true)
        {
            return Ok(());
        }
        let value = match self.arg {
            None => None,
            Some(i) if row[i].is_null() => return Ok(()),
            Some(i) => Some(&row[i]),
        };
        let step = if retract { -1 } else { 1 };
        match acc {
            Acc::Count(n) => *n += step,
            Acc::Sum { sum, n } => {
                let v = value.expect("SUM and AVG have an argument");
                *sum = if *n == 0 && !retract { v.clone() } else { add_values(sum, v, retract, &self.sum_type())? };
                *n += step;
                if *n == 0 {
                    *sum = Value::Null;
                }
            }
            Acc::Best(best) => {
                let v = value.expect("MIN and MAX have an argument");
                let better = match best {
                    None => true,
                    Some(b) => {
                        let o = v.compare(b).unwrap_or(Ordering::Equal);
                        if self.kind == AggKind::Min { o == Ordering::Less } else { o == Ordering::Greater }
                    }
                };
                if retract {
                    return Err(EvalError(format!("{:?} over insert-only input got a retraction", self.kind)));
                }
                if better {
                    *best = Some(v.clone());
                }
            }
            Acc::Values(values) => {
                let v = value.expect("MIN and MAX have an argument");
                let at = values.binary_search_by(|(x, _)| x.compare(v).unwrap_or(Ordering::Equal));
                match at {
                    Ok(i) => {
                        values[i].1 += step;
                        if values[i].1 == 0 {
                            values.remove(i);
                        }
                    }
                    Err(i) if !retract => values.insert(i, (v.clone(), 1)),
                    Err(_) => {}
                }
            }
            Acc::Udf(acc) => {
                // A function's call has no `arg`: it gets its arguments, NULLs too.
                let u = self.udf.as_ref().expect("a function's call");
                let args: Vec<Value> = u.args.iter().map(|i| row[*i].clone()).collect();
                let f = &u.function.function;
                if retract { f.retract(acc, &args) } else { f.accumulate(acc, &args) }.map_err(|e| u.fail(e))?;
            }
            Acc::Distinct(seen) => {
                let key = value.cloned().unwrap_or(Value::Null);
                let count = seen.entry(key.clone()).or_default();
                *count += step;
                if *count <= 0 {
                    seen.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// Folds `other` (of the same call) into `acc` (merging session windows).
    pub fn merge(&self, acc: &mut Acc, other: Acc) -> std::result::Result<(), EvalError> {
        match (acc, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum { sum, n }, Acc::Sum { sum: s2, n: n2 }) => {
                if n2 != 0 {
                    *sum = if *n == 0 { s2 } else { add_values(sum, &s2, false, &self.sum_type())? };
                    *n += n2;
                }
            }
            (Acc::Best(best), Acc::Best(other)) => {
                if let Some(v) = other {
                    let row = [v];
                    let call = AggCall { arg: Some(0), filter: None, distinct: false, ..self.clone() };
                    let mut acc = Acc::Best(best.take());
                    call.accumulate(&mut acc, &row, false)?;
                    if let Acc::Best(b) = acc {
                        *best = b;
                    }
                }
            }
            (Acc::Values(values), Acc::Values(other)) => {
                for (v, n) in other {
                    match values.binary_search_by(|(x, _)| x.compare(&v).unwrap_or(Ordering::Equal)) {
                        Ok(i) => values[i].1 += n,
                        Err(i) => values.insert(i, (v, n)),
                    }
                }
            }
            (Acc::Distinct(seen), Acc::Distinct(other)) => {
                for (v, n) in other {
                    *seen.entry(v).or_default() += n;
                }
            }
            (Acc::Udf(acc), Acc::Udf(other)) => {
                let u = self.udf.as_ref().expect("a function's call");
                u.function.function.merge(acc, other).map_err(|e| u.fail(e))?;
            }
            _ => return Err(EvalError("merging accumulators of different kinds".into())),
        }
        Ok(())
    }

    /// The call's result.
    pub fn result(&self, acc: &Acc) -> std::result::Result<Value, EvalError> {
        Ok(match acc {
            Acc::Count(n) => Value::BigInt(*n),
            Acc::Sum { sum, n } => match self.kind {
                AggKind::Avg if *n > 0 => self.average(sum, *n)?,
                _ if *n > 0 => sum.clone(),
                _ => Value::Null,
            },
            Acc::Best(b) => b.clone().unwrap_or(Value::Null),
            Acc::Udf(acc) => {
                let u = self.udf.as_ref().expect("a function's call");
                u.function.function.get_value(acc).map_err(|e| u.fail(e))?
            }
            Acc::Values(values) => match self.kind {
                AggKind::Min => values.first().map_or(Value::Null, |(v, _)| v.clone()),
                _ => values.last().map_or(Value::Null, |(v, _)| v.clone()),
            },
            Acc::Distinct(seen) => {
                if self.kind == AggKind::Count {
                    let nulls = self.arg.is_some() && seen.contains_key(&Value::Null);
                    return Ok(Value::BigInt(seen.len() as i64 - i64::from(nulls)));
                }
                let plain = AggCall { distinct: false, arg: Some(0), filter: None, ..self.clone() };
                let mut inner = plain.create();
                for v in seen.keys() {
                    plain.accumulate(&mut inner, std::slice::from_ref(v), false)?;
                }
                plain.result(&inner)?
            }
        })
    }

    /// `AVG`: the sum divided by the count in the result type (integers truncate, as in Flink).
    fn average(&self, sum: &Value, n: i64) -> std::result::Result<Value, EvalError> {
        Ok(match &self.ty {
            DataType::Float => Value::Float((sum.as_f64().unwrap_or(f64::NAN) / n as f64) as f32),
            DataType::Double => Value::Double(sum.as_f64().unwrap_or(f64::NAN) / n as f64),
            DataType::Decimal { precision, scale } => {
                let (Some(s), Some(count)) = (sum.as_decimal(), Decimal::new(n as i128, 19, 0)) else {
                    return Ok(Value::Null);
                };
                s.div(count, *precision, *scale)
                    .map_err(|e| EvalError(e.to_string()))?
                    .map_or(Value::Null, Value::Decimal)
            }
            t => integer_value(sum.as_i64().unwrap_or(0) / n, t),
        })
    }
}

/// The calls of one aggregate operator; as an [`AggregateFunction`] of rows, the window
/// aggregate's.
#[derive(Clone, Debug)]
pub struct Aggregates {
    /// The calls, in output order.
    pub calls: Arc<[AggCall]>,
}

impl Aggregates {
    pub(crate) fn create(&self) -> Vec<Acc> {
        self.calls.iter().map(AggCall::create).collect()
    }

    pub(crate) fn accumulate(
        &self,
        accs: &mut [Acc],
        row: &[Value],
        retract: bool,
    ) -> std::result::Result<(), EvalError> {
        for (call, acc) in self.calls.iter().zip(accs) {
            call.accumulate(acc, row, retract)?;
        }
        Ok(())
    }

    pub(crate) fn results(&self, accs: &[Acc]) -> std::result::Result<Vec<Value>, EvalError> {
        self.calls.iter().zip(accs).map(|(c, a)| c.result(a)).collect()
    }

    /// Whether every call's accumulators merge (a registered function's may not).
    pub fn mergeable(&self) -> bool {
        self.calls.iter().all(|c| c.udf.as_ref().is_none_or(|u| u.function.function.can_merge()))
    }

    /// Folds group state `other` into `state`.
    pub(crate) fn merge_states(&self, state: &mut GroupState, other: GroupState) -> std::result::Result<(), EvalError> {
        state.rows += other.rows;
        for ((call, acc), o) in self.calls.iter().zip(state.accs.iter_mut()).zip(other.accs) {
            call.merge(acc, o)?;
        }
        Ok(())
    }
}

/// A window's accumulators, and the first failure in them (the window operator cannot fail while
/// it adds; the failure surfaces with the window's result).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowAccs {
    accs: Vec<Acc>,
    failed: Option<String>,
}

impl AggregateFunction<Row> for Aggregates {
    type Acc = WindowAccs;
    type Out = std::result::Result<Vec<Value>, String>;

    fn create_accumulator(&self) -> WindowAccs {
        WindowAccs { accs: self.create(), failed: None }
    }

    fn add(&self, row: Row, acc: &mut WindowAccs) {
        if acc.failed.is_none()
            && let Err(e) = self.accumulate(&mut acc.accs, &row.values, !row.kind.is_accumulate())
        {
            acc.failed = Some(e.0);
        }
    }

    fn get_result(&self, acc: &WindowAccs) -> Self::Out {
        match &acc.failed {
            Some(e) => Err(e.clone()),
            None => self.results(&acc.accs).map_err(|e| e.0),
        }
    }

    fn merge(&self, acc: &mut WindowAccs, other: WindowAccs) {
        if acc.failed.is_none() {
            acc.failed = other.failed;
        }
        for ((call, a), b) in self.calls.iter().zip(acc.accs.iter_mut()).zip(other.accs) {
            if let Err(e) = call.merge(a, b) {
                acc.failed.get_or_insert(e.0);
            }
        }
    }
}

/// A group's accumulators and how many rows it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    pub(crate) accs: Vec<Acc>,
    pub(crate) rows: i64,
}

/// The unbounded `GROUP BY` (Flink's `GroupAggregate`): per key of the first `keys` columns, the
/// aggregates' changelog; in batch mode (`final_only`) each group's row once, at the end of input.
#[derive(Clone, Debug)]
pub struct GroupAggregate {
    /// The calls.
    pub aggregates: Aggregates,
    /// `table.exec.state.ttl`.
    pub ttl: Option<Duration>,
    /// Batch mode: emit the final rows at the end of input only.
    pub final_only: bool,
    /// The operator's name, for errors.
    pub name: Arc<str>,
}

impl GroupAggregate {
    fn fail(&self, e: EvalError) -> Error {
        Error::Record(format!("{}: {e}", self.name))
    }

    /// Folds a row into a group's state (a fresh one has no rows): the group's results before
    /// and after it (none before when fresh, and none in batch mode, which emits at the end);
    /// `None` after it when the group is empty. `Some(None)` after: still there, in batch mode.
    #[allow(clippy::type_complexity)]
    fn update(
        &self,
        state: &mut GroupState,
        values: &[Value],
        retract: bool,
    ) -> std::result::Result<(Option<Vec<Value>>, Option<Option<Vec<Value>>>), EvalError> {
        if state.rows == 0 && retract {
            return Ok((None, None));
        }
        let results = |state: &GroupState| {
            (!self.final_only && state.rows > 0).then(|| self.aggregates.results(&state.accs)).transpose()
        };
        let prev = results(state)?;
        self.aggregates.accumulate(&mut state.accs, values, retract)?;
        state.rows += if retract { -1 } else { 1 };
        if state.rows <= 0 {
            return Ok((prev, None));
        }
        Ok((prev, Some(results(state)?)))
    }

    fn row(kind: RowKind, key: &GroupKey, results: Vec<Value>) -> Row {
        let mut values = key.0.clone();
        values.extend(results);
        Row { kind, values }
    }
}

impl KeyedProcessFunction<GroupKey, Row, Row> for GroupAggregate {
    type State = ValueState<GroupKey, GroupState>;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
        let mut descriptor = StateDescriptor::new("groups");
        if let Some(ttl) = self.ttl {
            descriptor = descriptor.with_ttl(StateTtlConfig::new(ttl));
        }
        ctx.state.value_state(&descriptor)
    }

    fn process_element(
        &mut self,
        groups: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let retract = !row.kind.is_accumulate();
        let key = ctx.key().clone();
        // In place: a group's accumulators (a DISTINCT's values among them) are not copied per row.
        let mut change = Ok((None, None));
        let created = groups.modify_in(
            &key,
            &(),
            || GroupState { accs: self.aggregates.create(), rows: 0 },
            |state| change = self.update(state, &row.values, retract),
        )?;
        let (prev, next) = change.map_err(|e| self.fail(e))?;
        let Some(next) = next else {
            // Empty: a retraction of a group not (or no longer, after its TTL) here, or its last row's.
            groups.clear(&key)?;
            if let Some(prev) = prev {
                ctx.collect(Self::row(RowKind::Delete, &key, prev));
            }
            return Ok(());
        };
        if created && self.final_only {
            ctx.register_event_time_timer(MAX_WATERMARK)?;
        }
        match (prev, next) {
            (_, None) => {}
            (None, Some(next)) => ctx.collect(Self::row(RowKind::Insert, &key, next)),
            (Some(prev), Some(next)) if prev == next => {}
            (Some(prev), Some(next)) => {
                ctx.collect(Self::row(RowKind::UpdateBefore, &key, prev));
                ctx.collect(Self::row(RowKind::UpdateAfter, &key, next));
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        groups: &mut Self::State,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        if let Some(state) = groups.get(&key)? {
            let results = self.aggregates.results(&state.accs).map_err(|e| self.fail(e))?;
            ctx.collect(Self::row(RowKind::Insert, &key, results));
            groups.clear(&key)?;
        }
        Ok(())
    }
}

/// How a top-N sorts: the columns, each descending or not.
pub type SortKeys = Arc<[(usize, bool)]>;

/// `ROW_NUMBER() OVER (PARTITION BY .. ORDER BY ..)` kept to the first `limit` rows of each
/// partition (Flink's `Rank`, and its deduplication when the order is a time): a new row that
/// ranks within the limit is inserted (`+I`), the row it pushes out deleted (`-D`); with the rank
/// as a column (`with_rank`), the rows it moves down are updated (`-U`/`+U`). Ties keep the
/// earlier row first. In batch mode each partition's rows come once, at the end of input; in a
/// window top-N once, when the window ends. Output rows are the first `keep` columns, then the
/// rank if asked for.
#[derive(Clone, Debug)]
pub struct TopN {
    /// The sort columns.
    pub order: SortKeys,
    /// Rows kept per partition.
    pub limit: usize,
    /// Columns of a row that are output.
    pub keep: usize,
    /// Append the rank (`BIGINT`) to each row.
    pub with_rank: bool,
    /// When the rows come out.
    pub emit: Emit,
    /// `table.exec.state.ttl`.
    pub ttl: Option<Duration>,
}

/// When a [`TopN`] emits its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// As they change: a changelog.
    Changelog,
    /// As they change, from an input with retractions (a group aggregate's changelog): every row
    /// of a partition is kept, so that when a row in the first `limit` is retracted the next one
    /// takes its place (Flink's `RetractableTopNFunction`).
    RetractableChangelog,
    /// Each partition's final rows at the end of input (batch mode).
    AtEndOfInput,
    /// Each partition's final rows when the watermark passes the last millisecond of their
    /// window, whose end is input column `end` (a window top-N, partitioned by the window); its
    /// state goes then. A row arriving after that is late, and dropped.
    AtWindowEnd {
        /// The `window_end` column.
        end: usize,
    },
}

/// How rows compare by sort columns `order`: NULL first ascending (last descending).
fn compare_rows(order: &SortKeys, a: &Row, b: &Row) -> Ordering {
    for &(c, descending) in order.iter() {
        let o = match (a.values[c].is_null(), b.values[c].is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => a.values[c].compare(&b.values[c]).unwrap_or(Ordering::Equal),
        };
        let o = if descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl TopN {
    fn cmp(&self, a: &Row, b: &Row) -> Ordering {
        compare_rows(&self.order, a, b)
    }

    /// [`Emit::RetractableChangelog`]: `row` added to or taken from its partition's rows (all of
    /// them, in order), and the changes to the first `limit` emitted.
    fn process_change(
        &self,
        state: &mut ValueState<GroupKey, Vec<Row>>,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        let mut rows = state.get(&key)?.unwrap_or_default();
        let before = rows.len().min(self.limit);
        let insert = row.kind.is_accumulate();
        let at = if insert {
            rows.partition_point(|r| self.cmp(r, &row) != Ordering::Greater)
        } else {
            // Not here: retracted already, or expired by its TTL.
            let Some(at) = rows.iter().position(|r| r.values == row.values) else { return Ok(()) };
            at
        };
        if at >= self.limit {
            // Below the first `limit`: nothing they show changes.
            Self::change(&mut rows, row, at, insert);
        } else if self.with_rank {
            // Each rank from the change down may hold another row now (or none).
            let old: Vec<Row> = rows[at..before].to_vec();
            Self::change(&mut rows, row, at, insert);
            for rank in at..before.max(rows.len().min(self.limit)) {
                match (old.get(rank - at), rows.get(rank).filter(|_| rank < self.limit)) {
                    (Some(o), Some(n)) if o.values == n.values => {}
                    (Some(o), Some(n)) => {
                        ctx.collect(self.out(RowKind::UpdateBefore, o, rank + 1));
                        ctx.collect(self.out(RowKind::UpdateAfter, n, rank + 1));
                    }
                    (Some(o), None) => ctx.collect(self.out(RowKind::Delete, o, rank + 1)),
                    (None, Some(n)) => ctx.collect(self.out(RowKind::Insert, n, rank + 1)),
                    (None, None) => {}
                }
            }
        } else if insert {
            // In at `at`; the last of the first `limit` out, if they were full.
            if before == self.limit {
                ctx.collect(self.out(RowKind::Delete, &rows[self.limit - 1], self.limit));
            }
            ctx.collect(self.out(RowKind::Insert, &row, at + 1));
            Self::change(&mut rows, row, at, insert);
        } else {
            // Out from `at`; the first row below the first `limit` in, if there is one.
            ctx.collect(self.out(RowKind::Delete, &rows[at], at + 1));
            Self::change(&mut rows, row, at, insert);
            if let Some(next) = rows.get(self.limit - 1) {
                ctx.collect(self.out(RowKind::Insert, next, self.limit));
            }
        }
        if rows.is_empty() { state.clear(&key) } else { state.put(&key, rows) }
    }

    /// `row` inserted at `at`, or the row at `at` removed.
    fn change(rows: &mut Vec<Row>, row: Row, at: usize, insert: bool) {
        if insert {
            rows.insert(at, Row { kind: RowKind::Insert, values: row.values });
        } else {
            rows.remove(at);
        }
    }

    fn out(&self, kind: RowKind, row: &Row, rank: usize) -> Row {
        let mut values: Vec<Value> = row.values[..self.keep].to_vec();
        if self.with_rank {
            values.push(Value::BigInt(rank as i64));
        }
        Row { kind, values }
    }
}

impl KeyedProcessFunction<GroupKey, Row, Row> for TopN {
    type State = ValueState<GroupKey, Vec<Row>>;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
        let mut descriptor = StateDescriptor::new("top-n");
        if let Some(ttl) = self.ttl {
            descriptor = descriptor.with_ttl(StateTtlConfig::new(ttl));
        }
        ctx.state.value_state(&descriptor)
    }

    fn process_element(
        &mut self,
        state: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        if self.emit == Emit::RetractableChangelog {
            return self.process_change(state, row, ctx);
        }
        if !row.kind.is_accumulate() {
            return Err(Error::Record("this top-N was planned for an insert-only input and got a retraction".into()));
        }
        let key = ctx.key().clone();
        let mut rows = match state.get(&key)? {
            Some(rows) => rows,
            None => {
                match self.emit {
                    Emit::Changelog | Emit::RetractableChangelog => {}
                    Emit::AtEndOfInput => ctx.register_event_time_timer(MAX_WATERMARK)?,
                    Emit::AtWindowEnd { end } => match row.values[end].epoch_millis() {
                        Some(end) if end - 1 > ctx.current_watermark() => ctx.register_event_time_timer(end - 1)?,
                        _ => return Ok(()),
                    },
                }
                Vec::new()
            }
        };
        let at = rows.partition_point(|r| self.cmp(r, &row) != Ordering::Greater);
        if at >= self.limit {
            return Ok(());
        }
        let row = Row { kind: RowKind::Insert, values: row.values };
        rows.insert(at, row);
        let evicted = (rows.len() > self.limit).then(|| rows.pop().expect("more than the limit"));
        if self.emit == Emit::Changelog {
            if let Some(e) = &evicted {
                ctx.collect(self.out(RowKind::Delete, e, self.limit));
            }
            if self.with_rank {
                for (i, moved) in rows.iter().enumerate().skip(at + 1) {
                    ctx.collect(self.out(RowKind::UpdateBefore, moved, i));
                    ctx.collect(self.out(RowKind::UpdateAfter, moved, i + 1));
                }
            }
            ctx.collect(self.out(RowKind::Insert, &rows[at], at + 1));
        }
        state.put(&key, rows)
    }

    fn on_timer(
        &mut self,
        state: &mut Self::State,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        if let Some(rows) = state.get(&key)? {
            for (i, r) in rows.iter().enumerate() {
                ctx.collect(self.out(RowKind::Insert, r, i + 1));
            }
            state.clear(&key)?;
        }
        Ok(())
    }
}

/// Batch mode's top-N of insert-only rows, in bounded memory ([`crate::spill::BatchFold`]): a
/// partition's first `limit` rows, in order (of equal rows the earlier first within a run, in no
/// set order across runs); two states of a partition merge by order, cut to the limit.
/// Partitioned by the columns `partition` (none for one partition: `ORDER BY .. LIMIT n`).
pub struct TopNFold {
    /// The order, the limit and the output.
    pub top: TopN,
    /// The partition columns.
    pub partition: Range<usize>,
    /// The output column whose time the rows carry (a window top-N's rowtime), if any.
    pub time: Option<usize>,
    /// The operator's name, for errors.
    pub name: Arc<str>,
}

/// An estimate of the heap bytes of `row`, itself included.
pub(crate) fn row_size(values: &[Value]) -> usize {
    std::mem::size_of::<Row>() + values.iter().map(value_size).sum::<usize>()
}

impl Fold for TopNFold {
    type State = Vec<Row>;

    fn name(&self) -> &str {
        &self.name
    }

    fn key<'a>(&self, row: &'a Row) -> Option<&'a [Value]> {
        Some(&row.values[self.partition.clone()])
    }

    fn create(&self) -> Vec<Row> {
        Vec::new()
    }

    fn add(&self, rows: &mut Vec<Row>, row: Row) -> Result<isize> {
        if !row.kind.is_accumulate() {
            return Err(Error::Record(format!("{}: a batch top-N's input must be insert-only", self.name)));
        }
        let at = rows.partition_point(|r| self.top.cmp(r, &row) != Ordering::Greater);
        if at >= self.top.limit {
            return Ok(0);
        }
        let size = row_size(&row.values);
        rows.insert(at, row);
        let freed = if rows.len() > self.top.limit { rows.pop().map_or(0, |r| row_size(&r.values)) } else { 0 };
        Ok(size as isize - freed as isize)
    }

    fn size(&self, rows: &Vec<Row>) -> usize {
        rows.iter().map(|r| row_size(&r.values)).sum()
    }

    fn merge(&self, rows: &mut Vec<Row>, other: Vec<Row>) -> Result<()> {
        let mut merged = Vec::with_capacity((rows.len() + other.len()).min(self.top.limit));
        let (mut a, mut b) = (std::mem::take(rows).into_iter().peekable(), other.into_iter().peekable());
        while merged.len() < self.top.limit {
            let first = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => self.top.cmp(x, y) != Ordering::Greater,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            merged.push(if first { a.next() } else { b.next() }.expect("peeked"));
        }
        *rows = merged;
        Ok(())
    }

    fn emit(&self, _key: GroupKey, rows: Vec<Row>, out: &mut Output<Row>) -> Result<usize> {
        for (i, r) in rows.iter().enumerate() {
            let row = self.top.out(RowKind::Insert, r, i + 1);
            let time = self.time.and_then(|c| row.values[c].epoch_millis()).unwrap_or(NO_TIMESTAMP);
            out.collect(row, time);
        }
        Ok(rows.len())
    }
}

/// Streaming `ORDER BY rowtime [, ..]` without a limit (Flink's temporal sort): rows held until
/// the watermark passes their time, then emitted in time order, rows of one time in the order of
/// the further sort columns. Keyed by the time, on one subtask, so timers fire in time order. A
/// row at or behind the watermark is late, and dropped.
#[derive(Clone, Debug)]
pub struct TimeSort {
    /// The further sort columns, for rows of one time.
    pub order: SortKeys,
}

impl KeyedProcessFunction<GroupKey, Row, Row> for TimeSort {
    type State = ValueState<GroupKey, Vec<Row>>;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
        ctx.state.value_state(&StateDescriptor::new("time-sort"))
    }

    fn process_element(
        &mut self,
        state: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        let Some(time) = key.0.first().and_then(Value::epoch_millis) else { return Ok(()) };
        if time <= ctx.current_watermark() {
            return Ok(());
        }
        let mut rows = match state.get(&key)? {
            Some(rows) => rows,
            None => {
                ctx.register_event_time_timer(time)?;
                Vec::new()
            }
        };
        rows.push(row);
        state.put(&key, rows)
    }

    fn on_timer(
        &mut self,
        state: &mut Self::State,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        let Some(mut rows) = state.get(&key)? else { return Ok(()) };
        rows.sort_by(|a, b| compare_rows(&self.order, a, b));
        for row in rows {
            ctx.collect(row);
        }
        state.clear(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_keys_group_is_its_columns_group() {
        let assigner = ferroflink_core::keygroup::KeyGroupAssigner::new(128);
        let rows = [
            vec![Value::String("07".into()), Value::Int(200)],
            vec![Value::Null, Value::BigInt(-3)],
            vec![Value::String("x".repeat(100)), Value::Double(1.5)],
        ];
        let mut scratch = Vec::new();
        for values in rows {
            let whole = assigner.key_group(&GroupKey(values.clone()), &mut scratch);
            assert_eq!(assigner.key_group(&values[..], &mut scratch), whole, "{values:?}");
        }
    }
}
