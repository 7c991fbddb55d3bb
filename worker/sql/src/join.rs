//! The regular join of two changelogs on equal keys (Flink's `Join`): each side keeps, per key,
//! its rows with their multiplicity and, on an outer side, how many rows of the other side each
//! matches. A row that arrives joins the other side's rows of its key that the residual
//! condition accepts (`+I` of each pair); a retraction takes them back (`-D`). On an outer side a
//! row without a match is emitted padded with NULLs, and that padded row is taken back when its
//! first match arrives (and emitted again when its last match leaves). A NULL key matches
//! nothing. In batch mode (`final_only`) each key's result is emitted once, at the end of input.
//!
//! The interval join (Flink's `IntervalJoin`), of two insert-only inputs on equal keys and
//! bounds between their event times (`lower <= left.time - right.time <= upper`), keeps each row
//! only while a row of the other side that arrives in time can still match it: until the
//! watermark passes the row's time less `lower` (a left row) or plus `upper` (a right row). Its
//! output is insert-only: on an outer side a row without a match comes out padded with NULLs
//! when it leaves the state, once.
//!
//! Joins on window bounds are the regular join with the bounds as keys.

use crate::agg::GroupKey;
use crate::expr::Expr;
use crate::spill::{Fold, value_size};
use crate::value::{Row, RowKind, Value};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{MAX_WATERMARK, NO_TIMESTAMP};
use ferroflink_datastream::{KeyedCoProcessFunction, KeyedContext};
use ferroflink_runtime::context::RuntimeContext;
use ferroflink_runtime::operator::Output;
use ferroflink_state::ttl::StateTtlConfig;
use ferroflink_state::{ListState, MapState, StateDescriptor};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

/// A row of one side, how many times it is there, and how many rows of the other side it
/// matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    values: Vec<Value>,
    count: i64,
    matches: i64,
}

impl Entry {
    /// An estimate of its heap bytes, itself included.
    fn size(&self) -> usize {
        std::mem::size_of::<Entry>() + self.values.iter().map(value_size).sum::<usize>()
    }
}

/// Which rows a join keeps without a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// `[INNER] JOIN`.
    Inner,
    /// `LEFT [OUTER] JOIN`.
    Left,
    /// `RIGHT [OUTER] JOIN`.
    Right,
    /// `FULL [OUTER] JOIN`.
    Full,
}

impl JoinKind {
    /// Whether the left (`left`) or right side keeps unmatched rows.
    pub fn outer(self, left: bool) -> bool {
        match self {
            JoinKind::Inner => false,
            JoinKind::Left => left,
            JoinKind::Right => !left,
            JoinKind::Full => true,
        }
    }
}

/// What both joins share: the join type, the sides' widths and the condition besides the keys.
#[derive(Clone, Debug)]
pub struct JoinShape {
    /// The join type.
    pub kind: JoinKind,
    /// Columns of a left and a right row.
    pub widths: (usize, usize),
    /// The condition besides the equal keys (and an interval join's time bounds), over
    /// `left ++ right`.
    pub residual: Option<Arc<Expr>>,
    /// The operator's name, for errors.
    pub name: Arc<str>,
}

impl JoinShape {
    fn pair(&self, left: Option<&[Value]>, right: Option<&[Value]>) -> Vec<Value> {
        let mut values = Vec::with_capacity(self.widths.0 + self.widths.1);
        match left {
            Some(l) => values.extend_from_slice(l),
            None => values.resize(self.widths.0, Value::Null),
        }
        match right {
            Some(r) => values.extend_from_slice(r),
            None => values.resize(self.widths.0 + self.widths.1, Value::Null),
        }
        values
    }

    /// Whether `row` (of side `left`) and `other` satisfy the residual condition.
    fn accepts(&self, row: &[Value], other: &[Value], left: bool) -> Result<bool> {
        let Some(residual) = &self.residual else { return Ok(true) };
        let joined = if left { self.pair(Some(row), Some(other)) } else { self.pair(Some(other), Some(row)) };
        residual.eval_bool(&joined).map(|b| b == Some(true)).map_err(|e| Error::Record(format!("{}: {e}", self.name)))
    }

    /// A complete key's result (batch mode): each pair of a left and a right row the residual
    /// condition accepts, then on an outer side each row without a match padded with NULLs; to
    /// `emit` with how many times it comes (at least once).
    fn final_rows(
        &self,
        lefts: &[Entry],
        rights: &[Entry],
        null_key: bool,
        mut emit: impl FnMut(Vec<Value>, i64),
    ) -> Result<()> {
        let mut right_matched = vec![false; rights.len()];
        for l in lefts {
            let mut matched = false;
            for (j, r) in rights.iter().enumerate() {
                if !null_key && self.accepts(&l.values, &r.values, true)? {
                    matched = true;
                    right_matched[j] = true;
                    emit(self.pair(Some(&l.values), Some(&r.values)), l.count * r.count);
                }
            }
            if !matched && self.kind.outer(true) {
                emit(self.pair(Some(&l.values), None), l.count);
            }
        }
        if self.kind.outer(false) {
            for (r, matched) in rights.iter().zip(right_matched) {
                if !matched {
                    emit(self.pair(None, Some(&r.values)), r.count);
                }
            }
        }
        Ok(())
    }

    /// `row` of side `left` joined with `other` (NULLs without one), `times` times.
    fn emit(
        &self,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
        kind: RowKind,
        row: &[Value],
        other: Option<&[Value]>,
        left: bool,
        times: i64,
    ) {
        let values = if left { self.pair(Some(row), other) } else { self.pair(other, Some(row)) };
        for _ in 0..times.max(0) {
            ctx.collect(Row { kind, values: values.clone() });
        }
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct RegularJoin {
    /// The join type and condition.
    pub shape: JoinShape,
    /// `table.exec.state.ttl`.
    pub ttl: Option<Duration>,
    /// Batch mode.
    pub final_only: bool,
}

/// How many times a row is on its side, and how many rows of the other side it matches (kept
/// up to date on an outer side only, the one that reads it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    count: i64,
    matches: i64,
}

/// A side's rows per key: each row's values to its counts, so a row is found, added or taken
/// back in one lookup however many rows its key has.
type Side = MapState<GroupKey, GroupKey, Counts>;

/// A side's rows of `key`, as entries.
fn entries(side: &Side, key: &GroupKey) -> Result<Vec<Entry>> {
    side.iter(key)
        .map(|e| e.map(|(values, c)| Entry { values: values.0, count: c.count, matches: c.matches }))
        .collect()
}

impl RegularJoin {
    /// A row of side `left` arrives (or is retracted).
    fn process(
        &self,
        sides: &mut (Side, Side),
        row: Row,
        left: bool,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        let (mine, theirs) = if left { (&sides.0, &sides.1) } else { (&sides.1, &sides.0) };
        let retract = !row.kind.is_accumulate();
        let values = GroupKey(row.values);
        let own = mine.get(&key, &values)?;
        if retract && own.is_none() {
            // Not (or no longer, after its TTL) here.
            return Ok(());
        }
        if self.final_only {
            ctx.register_event_time_timer(MAX_WATERMARK)?;
        }
        let null_key = key.0.iter().any(Value::is_null);
        let other_outer = self.shape.kind.outer(!left);
        let mut matched = 0;
        let mut changed = Vec::new();
        if !null_key {
            for entry in theirs.iter(&key) {
                let (other, mut o) = entry?;
                if !self.shape.accepts(&values.0, &other.0, left)? {
                    continue;
                }
                matched += o.count;
                if self.final_only {
                    continue;
                }
                if retract {
                    self.shape.emit(ctx, RowKind::Delete, &values.0, Some(&other.0), left, o.count);
                    if other_outer {
                        o.matches -= 1;
                        if o.matches == 0 {
                            self.shape.emit(ctx, RowKind::Insert, &other.0, None, !left, o.count);
                        }
                    }
                } else {
                    if other_outer {
                        if o.matches == 0 {
                            self.shape.emit(ctx, RowKind::Delete, &other.0, None, !left, o.count);
                        }
                        o.matches += 1;
                    }
                    self.shape.emit(ctx, RowKind::Insert, &values.0, Some(&other.0), left, o.count);
                }
                if other_outer {
                    changed.push((other, o));
                }
            }
        }
        for (other, o) in changed {
            theirs.put(&key, other, o)?;
        }
        if matched == 0 && self.shape.kind.outer(left) && !self.final_only {
            let kind = if retract { RowKind::Delete } else { RowKind::Insert };
            self.shape.emit(ctx, kind, &values.0, None, left, 1);
        }
        match (own, retract) {
            (Some(c), true) if c.count <= 1 => mine.remove(&key, &values),
            (Some(c), true) => mine.put(&key, values, Counts { count: c.count - 1, ..c }),
            (Some(c), false) => mine.put(&key, values, Counts { count: c.count + 1, ..c }),
            (None, _) => mine.put(&key, values, Counts { count: 1, matches: matched }),
        }
    }
}

impl KeyedCoProcessFunction<GroupKey, Row, Row, Row> for RegularJoin {
    type State = (Side, Side);

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
        let descriptor = |name: &str| {
            let d = StateDescriptor::new(name);
            match self.ttl {
                Some(ttl) => d.with_ttl(StateTtlConfig::new(ttl)),
                None => d,
            }
        };
        Ok((ctx.state.map_state(&descriptor("join-left-rows"))?, ctx.state.map_state(&descriptor("join-right-rows"))?))
    }

    fn process_element1(
        &mut self,
        sides: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        self.process(sides, row, true, ctx)
    }

    fn process_element2(
        &mut self,
        sides: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        self.process(sides, row, false, ctx)
    }

    /// Batch mode: the key's whole result.
    fn on_timer(
        &mut self,
        sides: &mut Self::State,
        _timestamp: i64,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        let key = ctx.key().clone();
        let (lefts, rights) = (entries(&sides.0, &key)?, entries(&sides.1, &key)?);
        let null_key = key.0.iter().any(Value::is_null);
        self.shape.final_rows(&lefts, &rights, null_key, |values, times| {
            for _ in 1..times {
                ctx.collect(Row { kind: RowKind::Insert, values: values.clone() });
            }
            ctx.collect(Row { kind: RowKind::Insert, values });
        })?;
        sides.0.clear(&key)?;
        sides.1.clear(&key)
    }
}

/// Batch mode's regular join of two insert-only inputs in bounded memory
/// ([`crate::spill::BatchFold`], a sort-merge join): its input is both sides' rows in one stream,
/// each `[key.., side, row..]` (`side` TRUE on the left), and a key's state its rows of each side,
/// joined once the key is complete. A row with a NULL key matches nothing: it goes out at once,
/// padded with NULLs, if its side is outer.
pub struct JoinFold {
    /// The join type and condition.
    pub shape: JoinShape,
    /// The key columns.
    pub nkeys: usize,
}

impl JoinFold {
    /// The side (left or not) of an input row, and its row.
    fn split(&self, mut row: Row) -> (bool, Vec<Value>) {
        let left = row.values[self.nkeys] == Value::Boolean(true);
        row.values.drain(..=self.nkeys);
        (left, row.values)
    }
}

impl Fold for JoinFold {
    /// The left rows, the right rows.
    type State = (Vec<Entry>, Vec<Entry>);

    fn name(&self) -> &str {
        &self.shape.name
    }

    fn key<'a>(&self, row: &'a Row) -> Option<&'a [Value]> {
        let key = &row.values[..self.nkeys];
        (!key.iter().any(Value::is_null)).then_some(key)
    }

    fn unkeyed(&self, row: Row, out: &mut Output<Row>) -> Result<()> {
        let (left, values) = self.split(row);
        if self.shape.kind.outer(left) {
            let values = if left { self.shape.pair(Some(&values), None) } else { self.shape.pair(None, Some(&values)) };
            out.collect(Row { kind: RowKind::Insert, values }, NO_TIMESTAMP);
        }
        Ok(())
    }

    fn create(&self) -> Self::State {
        (Vec::new(), Vec::new())
    }

    fn add(&self, (lefts, rights): &mut Self::State, row: Row) -> Result<isize> {
        if !row.kind.is_accumulate() {
            return Err(Error::Record(format!("{}: a batch join's inputs must be insert-only", self.shape.name)));
        }
        let (left, values) = self.split(row);
        let entry = Entry { values, count: 1, matches: 0 };
        let size = entry.size();
        (if left { lefts } else { rights }).push(entry);
        Ok(size as isize)
    }

    fn size(&self, (lefts, rights): &Self::State) -> usize {
        lefts.iter().chain(rights).map(Entry::size).sum()
    }

    fn merge(&self, (lefts, rights): &mut Self::State, (more_lefts, more_rights): Self::State) -> Result<()> {
        lefts.extend(more_lefts);
        rights.extend(more_rights);
        Ok(())
    }

    fn emit(&self, _key: GroupKey, (lefts, rights): Self::State, out: &mut Output<Row>) -> Result<usize> {
        let mut emitted = 0;
        self.shape.final_rows(&lefts, &rights, false, |values, times| {
            for _ in 1..times {
                out.collect(Row { kind: RowKind::Insert, values: values.clone() }, NO_TIMESTAMP);
            }
            out.collect(Row { kind: RowKind::Insert, values }, NO_TIMESTAMP);
            emitted += times as usize;
        })?;
        Ok(emitted)
    }
}

/// A row of one side of an interval join, its event time, and whether it matched a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedRow {
    time: i64,
    values: Vec<Value>,
    matched: bool,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct IntervalJoin {
    /// The join type and the condition besides the keys and the time bounds.
    pub shape: JoinShape,
    /// The event-time column of a left and of a right row.
    pub times: (usize, usize),
    /// The bounds of `left.time - right.time`, in milliseconds, both inclusive.
    pub bounds: RangeInclusive<i64>,
}

/// A side's rows per key, in arrival order: a row is appended without reading the others.
type TimedSide = ListState<GroupKey, TimedRow>;

impl IntervalJoin {
    /// The event time a row of side `left` stops being able to match rows that arrive in time.
    fn expiry(&self, time: i64, left: bool) -> i64 {
        if left { time - self.bounds.start() } else { time + self.bounds.end() }
    }

    /// Whether rows of the left side at `l` and of the right side at `r` match in time.
    fn in_bounds(&self, l: i64, r: i64) -> bool {
        self.bounds.contains(&(l - r))
    }

    fn process(
        &self,
        sides: &mut (TimedSide, TimedSide),
        row: Row,
        left: bool,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        if !row.kind.is_accumulate() {
            return Err(Error::Record(format!("{}: an interval join's inputs must be insert-only", self.shape.name)));
        }
        let outer = self.shape.kind.outer(left);
        let column = if left { self.times.0 } else { self.times.1 };
        let key = ctx.key().clone();
        let Some(time) = row.values[column].epoch_millis().filter(|_| !key.0.iter().any(Value::is_null)) else {
            // A NULL time or key matches nothing.
            if outer {
                self.shape.emit(ctx, RowKind::Insert, &row.values, None, left, 1);
            }
            return Ok(());
        };
        let (mine, theirs) = if left { (&sides.0, &sides.1) } else { (&sides.1, &sides.0) };
        let mut matched = false;
        let mut other = theirs.get(&key)?;
        if !other.is_empty() {
            let mut changed = false;
            for o in other.iter_mut() {
                let fits = if left { self.in_bounds(time, o.time) } else { self.in_bounds(o.time, time) };
                if !fits || !self.shape.accepts(&row.values, &o.values, left)? {
                    continue;
                }
                matched = true;
                changed |= !o.matched;
                o.matched = true;
                self.shape.emit(ctx, RowKind::Insert, &row.values, Some(&o.values), left, 1);
            }
            if changed && self.shape.kind.outer(!left) {
                theirs.update(&key, other)?;
            }
        }
        let expiry = self.expiry(time, left);
        if expiry > ctx.current_watermark() {
            mine.add(&key, TimedRow { time, values: row.values, matched })?;
            ctx.register_event_time_timer(expiry)?;
        } else if outer && !matched {
            // Late: no row that arrives in time can match it any more.
            self.shape.emit(ctx, RowKind::Insert, &row.values, None, left, 1);
        }
        Ok(())
    }

    /// Drops the rows of side `left` that expired by `now`, emitting the unmatched ones of an
    /// outer side.
    fn expire(&self, side: &TimedSide, left: bool, now: i64, ctx: &mut KeyedContext<'_, GroupKey, Row>) -> Result<()> {
        let key = ctx.key().clone();
        let rows = side.get(&key)?;
        let before = rows.len();
        let mut kept = Vec::with_capacity(rows.len());
        for r in rows {
            if self.expiry(r.time, left) > now {
                kept.push(r);
            } else if !r.matched && self.shape.kind.outer(left) {
                self.shape.emit(ctx, RowKind::Insert, &r.values, None, left, 1);
            }
        }
        match kept.len() {
            0 if before > 0 => side.clear(&key),
            n if n < before => side.update(&key, kept),
            _ => Ok(()),
        }
    }
}

impl KeyedCoProcessFunction<GroupKey, Row, Row, Row> for IntervalJoin {
    type State = (TimedSide, TimedSide);

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
        Ok((
            ctx.state.list_state(&StateDescriptor::new("interval-join-left-rows"))?,
            ctx.state.list_state(&StateDescriptor::new("interval-join-right-rows"))?,
        ))
    }

    fn process_element1(
        &mut self,
        sides: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        self.process(sides, row, true, ctx)
    }

    fn process_element2(
        &mut self,
        sides: &mut Self::State,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        self.process(sides, row, false, ctx)
    }

    fn on_timer(
        &mut self,
        sides: &mut Self::State,
        timestamp: i64,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> Result<()> {
        self.expire(&sides.0, true, timestamp, ctx)?;
        self.expire(&sides.1, false, timestamp, ctx)
    }
}
