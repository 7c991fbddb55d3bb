//! From sqlparser's expressions to typed [`Expr`]s: names resolved against a [`Scope`], Flink's
//! types given to every node, implicit casts made explicit, and what Flink refuses refused with
//! the line and column.

use super::call::{self, Func};
use super::cast::{Cast, castable};
use super::{Cmp, Expr};
use crate::ast::{DataType, Type};
use crate::decimal::Decimal;
use crate::error::SqlError;
use crate::functions::cast as text;
use crate::functions::timezone::LocalZone;
use crate::parser::parse_type;
use crate::typing::{self, Arithmetic};
use crate::udf::ScalarUdf;
use crate::value::Value;
use sqlparser::ast::{self as sql, BinaryOperator, CastKind, Spanned, UnaryOperator};
use sqlparser::tokenizer::Location;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A column an expression can name.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeColumn {
    /// The table (or alias) it comes from, if any.
    pub qualifier: Option<String>,
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// The columns of an operator's input, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// The columns.
    pub columns: Vec<ScopeColumn>,
}

impl Scope {
    /// Columns `(name, type)` of table `qualifier`.
    pub fn of(qualifier: Option<&str>, columns: impl IntoIterator<Item = (String, Type)>) -> Scope {
        Scope {
            columns: columns
                .into_iter()
                .map(|(name, ty)| ScopeColumn { qualifier: qualifier.map(str::to_string), name, ty })
                .collect(),
        }
    }

    /// The column `name` (of `qualifier`, if given): its index, or an error listing the closest
    /// names.
    pub fn resolve(&self, qualifier: Option<&str>, name: &str, at: Location) -> Result<usize, SqlError> {
        let matches: Vec<usize> = (0..self.columns.len())
            .filter(|i| {
                let c = &self.columns[*i];
                c.name == name && qualifier.is_none_or(|q| c.qualifier.as_deref() == Some(q))
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => {
                let written = qualifier.map_or(name.to_string(), |q| format!("{q}.{name}"));
                let mut names: Vec<(f64, String)> = self
                    .columns
                    .iter()
                    .filter(|c| !c.name.starts_with('$'))
                    .map(|c| {
                        // Qualified as the name was written.
                        let full = match (qualifier, &c.qualifier) {
                            (Some(_), Some(q)) => format!("{q}.{}", c.name),
                            _ => c.name.clone(),
                        };
                        (strsim::jaro_winkler(&written.to_lowercase(), &full.to_lowercase()), full)
                    })
                    .collect();
                names.sort_by(|a, b| b.0.total_cmp(&a.0));
                let closest: Vec<String> = names.into_iter().take(3).map(|(_, n)| format!("`{n}`")).collect();
                let hint = if closest.is_empty() {
                    "there are no columns in scope".to_string()
                } else {
                    format!("the closest are {}", closest.join(", "))
                };
                Err(SqlError::at(at, format!("unknown column `{written}`; {hint}")))
            }
            _ => Err(SqlError::at(at, format!("column `{name}` is ambiguous: qualify it with its table"))),
        }
    }
}

/// A compiled expression and its type.
#[derive(Clone, Debug)]
pub struct Typed {
    /// The expression.
    pub expr: Expr,
    /// Its type.
    pub ty: Type,
}

impl Typed {
    fn new(expr: Expr, data: DataType, nullable: bool) -> Typed {
        Typed { expr, ty: Type { data, nullable } }
    }
}

/// Compiles expressions over one scope.
#[derive(Clone, Debug)]
pub struct Compiler<'a> {
    /// The columns in scope.
    pub scope: &'a Scope,
    /// The session's time zone.
    pub zone: Arc<LocalZone>,
    /// Expressions that stand for a column computed already (after a `GROUP BY`: its keys and
    /// aggregate calls), matched as written.
    pub substitutions: &'a [(sql::Expr, Typed)],
    /// The functions `CREATE FUNCTION` bound, by SQL name in upper case.
    pub udfs: &'a BTreeMap<String, ScalarUdf>,
}

/// Where an expression starts.
pub(crate) fn location(e: &sql::Expr) -> Location {
    e.span().start
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Char(_) | DataType::VarChar(_))
}

/// Whether values of `a` and `b` compare (after the implicit casts [`Compiler::comparable`] adds).
fn comparable(a: &DataType, b: &DataType) -> bool {
    let time = |t: &DataType| matches!(t, DataType::Timestamp(_) | DataType::TimestampLtz(_) | DataType::Date);
    a == b
        || matches!(a, DataType::Null)
        || matches!(b, DataType::Null)
        || (a.is_numeric() && b.is_numeric())
        || (is_string(a) && is_string(b))
        || (time(a) && time(b))
        || matches!((a, b), (DataType::Time(_), DataType::Time(_)))
        || matches!(
            (a, b),
            (DataType::Binary(_) | DataType::VarBinary(_), DataType::Binary(_) | DataType::VarBinary(_))
        )
}

impl Compiler<'_> {
    /// Compiles `e`.
    pub fn compile(&self, e: &sql::Expr) -> Result<Typed, SqlError> {
        if let Some((_, t)) = self.substitutions.iter().find(|(s, _)| s == e) {
            return Ok(t.clone());
        }
        let at = location(e);
        match e {
            sql::Expr::Identifier(ident) => self.column(None, &ident.value, at),
            sql::Expr::CompoundIdentifier(parts) => self.compound(parts, at),
            sql::Expr::Nested(inner) => self.compile(inner),
            sql::Expr::Value(v) => literal(&v.value, at),
            sql::Expr::TypedString(t) => self.typed_string(t, at),
            sql::Expr::Interval(i) => interval(i, at),
            sql::Expr::BinaryOp { left, op, right } => self.binary(left, op, right, at),
            sql::Expr::UnaryOp { op, expr } => self.unary(*op, expr, at),
            sql::Expr::IsNull(x) | sql::Expr::IsNotNull(x) => {
                let x = self.compile(x)?;
                Ok(Typed::new(
                    Expr::IsNull(Box::new(x.expr), matches!(e, sql::Expr::IsNotNull(_))),
                    DataType::Boolean,
                    false,
                ))
            }
            sql::Expr::IsTrue(x) | sql::Expr::IsNotTrue(x) | sql::Expr::IsFalse(x) | sql::Expr::IsNotFalse(x) => {
                let x = self.predicate(x)?;
                let value = matches!(e, sql::Expr::IsTrue(_) | sql::Expr::IsNotTrue(_));
                let negated = matches!(e, sql::Expr::IsNotTrue(_) | sql::Expr::IsNotFalse(_));
                Ok(Typed::new(Expr::IsBoolean { expr: Box::new(x), value, negated }, DataType::Boolean, false))
            }
            sql::Expr::IsDistinctFrom(a, b) | sql::Expr::IsNotDistinctFrom(a, b) => {
                let cmp = if matches!(e, sql::Expr::IsDistinctFrom(..)) { Cmp::Distinct } else { Cmp::NotDistinct };
                let mut c = self.comparison(cmp, a, b, at)?;
                c.ty.nullable = false;
                Ok(c)
            }
            sql::Expr::Between { expr, negated, low, high } => {
                let ge = self.comparison(Cmp::GtEq, expr, low, at)?;
                let le = self.comparison(Cmp::LtEq, expr, high, at)?;
                let nullable = ge.ty.nullable || le.ty.nullable;
                let both = Expr::And(Box::new(ge.expr), Box::new(le.expr));
                let expr = if *negated { Expr::Not(Box::new(both)) } else { both };
                Ok(Typed::new(expr, DataType::Boolean, nullable))
            }
            sql::Expr::In { expr, target: sql::InTarget::List(list), negated, .. } => {
                self.in_list(expr, list, *negated)
            }
            sql::Expr::Like { negated, any: false, expr, pattern, escape_char } => {
                self.like(expr, pattern, escape_char.as_deref(), *negated, at)
            }
            sql::Expr::Case { operand, conditions, else_result, .. } => {
                self.case(operand.as_deref(), conditions, else_result.as_deref(), at)
            }
            sql::Expr::Cast { kind, expr, data_type, format: None } => {
                let strict = match kind {
                    CastKind::Cast | CastKind::DoubleColon => true,
                    CastKind::TryCast | CastKind::SafeCast => false,
                };
                let to = flink_type(data_type, at)?;
                let x = self.compile(expr)?;
                if !castable(&x.ty.data, &to.data) {
                    return Err(SqlError::at(at, format!("cannot cast {} to {}", x.ty.data, to.data)));
                }
                let nullable = x.ty.nullable || !strict;
                let mut t = self.cast(x, &to.data, strict);
                t.ty.nullable = nullable;
                Ok(t)
            }
            _ => call::compile(self, e, at),
        }
    }

    /// Compiles a condition (`WHERE`, `CASE WHEN`, `FILTER`): it must be a `BOOLEAN`.
    pub fn predicate(&self, e: &sql::Expr) -> Result<Expr, SqlError> {
        let t = self.compile(e)?;
        match t.ty.data {
            DataType::Boolean | DataType::Null => Ok(t.expr),
            other => Err(SqlError::at(location(e), format!("a condition must be a BOOLEAN, not {other}"))),
        }
    }

    /// The arguments of registered function `name` cast to its parameter types `to` (as Flink
    /// casts to a UDF's parameters).
    pub(crate) fn cast_arguments(
        &self,
        name: &str,
        args: Vec<Typed>,
        to: &[DataType],
        at: Location,
    ) -> Result<Vec<Typed>, SqlError> {
        if args.len() != to.len() {
            return Err(SqlError::at(at, format!("{name} takes {} arguments, not {}", to.len(), args.len())));
        }
        args.into_iter()
            .zip(to)
            .map(|(a, to)| {
                if !castable(&a.ty.data, to) {
                    return Err(SqlError::at(at, format!("{name} takes a {to}, not {}", a.ty.data)));
                }
                Ok(self.cast(a, to, true))
            })
            .collect()
    }

    /// `t` as a `to` (an implicit or explicit cast; none when the types agree).
    pub fn cast(&self, t: Typed, to: &DataType, strict: bool) -> Typed {
        if &t.ty.data == to {
            return t;
        }
        if let Expr::Literal(Value::Null) = t.expr {
            return Typed::new(Expr::Literal(Value::Null), to.clone(), true);
        }
        let nullable = t.ty.nullable;
        let cast = Cast { expr: t.expr, from: t.ty.data, to: to.clone(), strict, zone: self.zone.clone() };
        let expr = Expr::Cast(Box::new(cast));
        // A cast of a constant is done now (if it fails, at run time as written).
        let expr = match &expr {
            Expr::Cast(c) if matches!(c.expr, Expr::Literal(_)) => match expr.eval(&[]) {
                Ok(v) => Expr::Literal(v),
                Err(_) => expr,
            },
            _ => expr,
        };
        Typed::new(expr, to.clone(), nullable)
    }

    fn column(&self, qualifier: Option<&str>, name: &str, at: Location) -> Result<Typed, SqlError> {
        let i = self.scope.resolve(qualifier, name, at)?;
        Ok(Typed { expr: Expr::Column(i), ty: self.scope.columns[i].ty.clone() })
    }

    /// `t.c`, `c.field`, `t.c.field...`.
    fn compound(&self, parts: &[sql::Ident], at: Location) -> Result<Typed, SqlError> {
        let qualified = parts.len() >= 2
            && self
                .scope
                .columns
                .iter()
                .any(|c| c.qualifier.as_deref() == Some(&parts[0].value) && c.name == parts[1].value);
        let (mut t, rest) = if qualified {
            (self.column(Some(&parts[0].value), &parts[1].value, at)?, &parts[2..])
        } else {
            (self.column(None, &parts[0].value, at)?, &parts[1..])
        };
        for field in rest {
            t = field_of(t, &field.value, field.span.start)?;
        }
        Ok(t)
    }

    fn typed_string(&self, t: &sql::TypedString, at: Location) -> Result<Typed, SqlError> {
        let sql::Value::SingleQuotedString(s) = &t.value.value else {
            return Err(SqlError::at(at, "a typed literal takes a quoted string"));
        };
        let digits = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len().min(9) as u8);
        let (value, data) = match &t.data_type {
            sql::DataType::Date => (text::to_date(s).map(Value::Date), DataType::Date),
            sql::DataType::Time(..) => {
                let p = digits(s);
                (text::to_time(s, p).map(Value::Time), DataType::Time(p))
            }
            sql::DataType::Timestamp(_, tz) if *tz == sql::TimezoneInfo::None => {
                let p = digits(s);
                (text::to_timestamp(s, p).map(Value::Timestamp), DataType::Timestamp(p))
            }
            other => return Err(SqlError::at(at, format!("Flink has no {other} literals"))),
        };
        let value = value.ok_or_else(|| SqlError::at(at, format!("'{s}' is not a valid {data} literal")))?;
        Ok(Typed::new(Expr::Literal(value), data, false))
    }

    fn unary(&self, op: UnaryOperator, e: &sql::Expr, at: Location) -> Result<Typed, SqlError> {
        match op {
            UnaryOperator::Not => {
                let x = self.compile(e)?;
                if !matches!(x.ty.data, DataType::Boolean | DataType::Null) {
                    return Err(SqlError::at(at, format!("NOT takes a BOOLEAN, not {}", x.ty.data)));
                }
                Ok(Typed::new(Expr::Not(Box::new(x.expr)), DataType::Boolean, x.ty.nullable))
            }
            UnaryOperator::Plus => self.compile(e),
            UnaryOperator::Minus => {
                // `-9223372036854775808` is a BIGINT literal, not the negation of a DECIMAL.
                if let sql::Expr::Value(v) = e
                    && let sql::Value::Number(n, _) = &v.value
                {
                    return literal(&sql::Value::Number(format!("-{n}"), false), at);
                }
                let x = self.compile(e)?;
                let ok = x.ty.data.is_numeric()
                    || matches!(x.ty.data, DataType::IntervalDayTime | DataType::IntervalYearMonth);
                if !ok {
                    return Err(SqlError::at(
                        at,
                        format!("unary minus takes a number or an interval, not {}", x.ty.data),
                    ));
                }
                let expr = match x.expr {
                    Expr::Literal(_) => Expr::Negate(Box::new(x.expr))
                        .eval(&[])
                        .map(Expr::Literal)
                        .unwrap_or(Expr::Literal(Value::Null)),
                    e => Expr::Negate(Box::new(e)),
                };
                Ok(Typed { expr, ty: x.ty })
            }
            other => Err(SqlError::at(at, format!("the operator {other} is not Flink SQL"))),
        }
    }

    fn binary(
        &self,
        left: &sql::Expr,
        op: &BinaryOperator,
        right: &sql::Expr,
        at: Location,
    ) -> Result<Typed, SqlError> {
        let arithmetic = match op {
            BinaryOperator::Plus => Some(Arithmetic::Plus),
            BinaryOperator::Minus => Some(Arithmetic::Minus),
            BinaryOperator::Multiply => Some(Arithmetic::Times),
            BinaryOperator::Divide => Some(Arithmetic::Divide),
            BinaryOperator::Modulo => Some(Arithmetic::Mod),
            _ => None,
        };
        if let Some(op) = arithmetic {
            let (l, r) = (self.compile(left)?, self.compile(right)?);
            return self.arithmetic(op, l, r, at);
        }
        let cmp = match op {
            BinaryOperator::Eq => Some(Cmp::Eq),
            BinaryOperator::NotEq => Some(Cmp::NotEq),
            BinaryOperator::Lt => Some(Cmp::Lt),
            BinaryOperator::LtEq => Some(Cmp::LtEq),
            BinaryOperator::Gt => Some(Cmp::Gt),
            BinaryOperator::GtEq => Some(Cmp::GtEq),
            _ => None,
        };
        if let Some(cmp) = cmp {
            return self.comparison(cmp, left, right, at);
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let (l, r) = (self.compile(left)?, self.compile(right)?);
                for t in [&l, &r] {
                    if !matches!(t.ty.data, DataType::Boolean | DataType::Null) {
                        return Err(SqlError::at(at, format!("{op} takes BOOLEAN operands, not {}", t.ty.data)));
                    }
                }
                let nullable = l.ty.nullable || r.ty.nullable;
                let (a, b) = (Box::new(l.expr), Box::new(r.expr));
                let expr = if *op == BinaryOperator::And { Expr::And(a, b) } else { Expr::Or(a, b) };
                Ok(Typed::new(expr, DataType::Boolean, nullable))
            }
            BinaryOperator::StringConcat => {
                let (l, r) = (self.compile(left)?, self.compile(right)?);
                call::concat(self, vec![l, r], at)
            }
            other => Err(SqlError::at(at, format!("the operator {other} is not Flink SQL"))),
        }
    }

    /// `l op r`: numbers by Flink's result types, or a time and an interval.
    pub(crate) fn arithmetic(&self, op: Arithmetic, l: Typed, r: Typed, at: Location) -> Result<Typed, SqlError> {
        let nullable = l.ty.nullable || r.ty.nullable;
        let time = |t: &DataType| {
            matches!(t, DataType::Timestamp(_) | DataType::TimestampLtz(_) | DataType::Date | DataType::Time(_))
        };
        let interval = |t: &DataType| matches!(t, DataType::IntervalDayTime | DataType::IntervalYearMonth);
        if matches!(op, Arithmetic::Plus | Arithmetic::Minus) {
            let (time_side, interval_side) = match (&l.ty.data, &r.ty.data) {
                (a, b) if time(a) && interval(b) => (l, r),
                (a, b) if interval(a) && time(b) && op == Arithmetic::Plus => (r, l),
                _ => return self.numeric(op, l, r, at, nullable),
            };
            let data = time_side.ty.data.clone();
            let expr = Expr::TimePlusInterval {
                time: Box::new(time_side.expr),
                interval: Box::new(interval_side.expr),
                negate: op == Arithmetic::Minus,
            };
            return Ok(Typed::new(expr, data, nullable));
        }
        let integer =
            |t: &DataType| matches!(t, DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt);
        if op == Arithmetic::Times || op == Arithmetic::Divide {
            let data = match (&l.ty.data, &r.ty.data) {
                (a, b) if interval(a) && integer(b) => Some(a.clone()),
                (a, b) if integer(a) && interval(b) && op == Arithmetic::Times => Some(b.clone()),
                _ => None,
            };
            if let Some(data) = data {
                let expr = Expr::Arithmetic { op, left: Box::new(l.expr), right: Box::new(r.expr), ty: data.clone() };
                return Ok(Typed::new(expr, data, nullable));
            }
        }
        self.numeric(op, l, r, at, nullable)
    }

    fn numeric(&self, op: Arithmetic, l: Typed, r: Typed, at: Location, nullable: bool) -> Result<Typed, SqlError> {
        // An untyped NULL takes the other operand's type.
        let null_as =
            |t: &Typed, other: &Typed| if t.ty.data == DataType::Null { other.ty.clone() } else { t.ty.clone() };
        let (lt, rt) = (null_as(&l, &r), null_as(&r, &l));
        let ty = typing::arithmetic(op, &lt, &rt).map_err(|e| SqlError::at(at, e))?;
        let expr = Expr::Arithmetic { op, left: Box::new(l.expr), right: Box::new(r.expr), ty: ty.data.clone() };
        let expr = if let Expr::Arithmetic { left, right, .. } = &expr
            && matches!(**left, Expr::Literal(_))
            && matches!(**right, Expr::Literal(_))
        {
            expr.eval(&[]).map(Expr::Literal).unwrap_or(expr)
        } else {
            expr
        };
        Ok(Typed::new(expr, ty.data, nullable))
    }

    /// `a cmp b` after casting both to their common type where they differ in kind.
    fn comparison(&self, cmp: Cmp, a: &sql::Expr, b: &sql::Expr, at: Location) -> Result<Typed, SqlError> {
        let (l, r) = (self.compile(a)?, self.compile(b)?);
        let (l, r) = self.comparable(l, r, at)?;
        let nullable = l.ty.nullable || r.ty.nullable;
        Ok(Typed::new(Expr::Compare(cmp, Box::new(l.expr), Box::new(r.expr)), DataType::Boolean, nullable))
    }

    /// Both operands of a comparison, a string one cast to the other's type when that is a number,
    /// a date or a time (as Flink's implicit casts do), or an error if they cannot be compared.
    fn comparable(&self, l: Typed, r: Typed, at: Location) -> Result<(Typed, Typed), SqlError> {
        let casts_from_string = |t: &DataType| {
            t.is_numeric()
                || matches!(t, DataType::Date | DataType::Time(_) | DataType::Timestamp(_) | DataType::Boolean)
        };
        let (l, r) = match (&l.ty.data, &r.ty.data) {
            (a, b) if is_string(a) && casts_from_string(b) => {
                let to = b.clone();
                (self.cast(l, &to, true), r)
            }
            (a, b) if is_string(b) && casts_from_string(a) => {
                let to = a.clone();
                (l, self.cast(r, &to, true))
            }
            _ => (l, r),
        };
        if !comparable(&l.ty.data, &r.ty.data) {
            return Err(SqlError::at(at, format!("cannot compare {} with {}", l.ty.data, r.ty.data)));
        }
        Ok((l, r))
    }

    /// `x [NOT] IN (list)`: each item comparable with `x` (text cast to the other side's type,
    /// `x` itself once if an item makes it so).
    fn in_list(&self, e: &sql::Expr, list: &[sql::Expr], negated: bool) -> Result<Typed, SqlError> {
        let mut x = self.compile(e)?;
        let mut nullable = x.ty.nullable;
        let mut items = Vec::with_capacity(list.len());
        for item in list {
            let (left, item) = self.comparable(x.clone(), self.compile(item)?, location(item))?;
            if left.ty.data != x.ty.data {
                x = left;
            }
            nullable |= item.ty.nullable;
            items.push(item.expr);
        }
        Ok(Typed::new(Expr::In { expr: Box::new(x.expr), list: items, negated }, DataType::Boolean, nullable))
    }

    fn like(
        &self,
        e: &sql::Expr,
        pattern: &sql::Expr,
        escape: Option<&sql::Expr>,
        negated: bool,
        at: Location,
    ) -> Result<Typed, SqlError> {
        let x = self.compile(e)?;
        if !is_string(&x.ty.data) && x.ty.data != DataType::Null {
            return Err(SqlError::at(at, format!("LIKE takes a string, not {}", x.ty.data)));
        }
        let p = self.compile(pattern)?;
        let Expr::Literal(Value::String(p)) = p.expr else {
            return Err(SqlError::at(location(pattern), "LIKE takes a constant pattern here"));
        };
        let escape = match escape {
            None => None,
            Some(sql::Expr::Value(sql::ValueWithSpan { value: sql::Value::SingleQuotedString(s), .. }))
                if s.chars().count() == 1 =>
            {
                s.chars().next()
            }
            Some(other) => return Err(SqlError::at(at, format!("the ESCAPE of LIKE is one character, not {other}"))),
        };
        let mut regex = String::from("(?s)^");
        let mut chars = p.chars();
        while let Some(c) = chars.next() {
            match c {
                c if Some(c) == escape => match chars.next() {
                    Some(next) => regex.push_str(&regex::escape(&next.to_string())),
                    None => {
                        return Err(SqlError::at(at, format!("the LIKE pattern '{p}' ends with its escape character")));
                    }
                },
                '%' => regex.push_str(".*"),
                '_' => regex.push('.'),
                c => regex.push_str(&regex::escape(&c.to_string())),
            }
        }
        regex.push('$');
        let pattern = regex::Regex::new(&regex).map_err(|e| SqlError::at(at, format!("LIKE pattern '{p}': {e}")))?;
        Ok(Typed::new(Expr::Like { expr: Box::new(x.expr), pattern, negated }, DataType::Boolean, x.ty.nullable))
    }

    fn case(
        &self,
        operand: Option<&sql::Expr>,
        conditions: &[sql::CaseWhen],
        else_result: Option<&sql::Expr>,
        at: Location,
    ) -> Result<Typed, SqlError> {
        let mut whens = Vec::with_capacity(conditions.len());
        let mut results = Vec::with_capacity(conditions.len() + 1);
        for w in conditions {
            let condition = match operand {
                Some(x) => self.comparison(Cmp::Eq, x, &w.condition, location(&w.condition))?.expr,
                None => self.predicate(&w.condition)?,
            };
            whens.push(condition);
            results.push(self.compile(&w.result)?);
        }
        results.push(match else_result {
            Some(e) => self.compile(e)?,
            None => Typed::new(Expr::Literal(Value::Null), DataType::Null, true),
        });
        let types: Vec<Type> = results.iter().map(|t| t.ty.clone()).collect();
        let ty = typing::least_restrictive(&types).map_err(|e| SqlError::at(at, format!("CASE: {e}")))?;
        let mut results: Vec<Expr> = results.into_iter().map(|t| self.cast(t, &ty.data, true).expr).collect();
        let otherwise = results.pop().expect("the ELSE result");
        Ok(Typed {
            expr: Expr::Case { whens: whens.into_iter().zip(results).collect(), otherwise: Box::new(otherwise) },
            ty,
        })
    }
}

/// Field `name` of a `ROW`.
fn field_of(t: Typed, name: &str, at: Location) -> Result<Typed, SqlError> {
    let DataType::Row(fields) = &t.ty.data else {
        return Err(SqlError::at(at, format!("`{name}`: {} has no fields", t.ty.data)));
    };
    let Some(i) = fields.iter().position(|f| f.name == name) else {
        let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name)).collect();
        return Err(SqlError::at(at, format!("the row has no field `{name}`; its fields are {}", names.join(", "))));
    };
    let ty = Type { data: fields[i].ty.data.clone(), nullable: fields[i].ty.nullable || t.ty.nullable };
    Ok(Typed { expr: Expr::Field(Box::new(t.expr), i), ty })
}

/// sqlparser's type of a `CAST` as Flink's.
pub(crate) fn flink_type(t: &sql::DataType, at: Location) -> Result<Type, SqlError> {
    let text = t.to_string();
    parse_type(&text).map_err(|e| SqlError::at(at, format!("{text}: {}", e.message)))
}

/// A literal: integers are `INT` if they fit, `BIGINT` if that fits, else `DECIMAL`; numbers with a
/// point `DECIMAL`, with an exponent `DOUBLE`; strings `CHAR(n)`.
fn literal(v: &sql::Value, at: Location) -> Result<Typed, SqlError> {
    Ok(match v {
        sql::Value::Null => Typed::new(Expr::Literal(Value::Null), DataType::Null, true),
        sql::Value::Boolean(b) => Typed::new(Expr::Literal(Value::Boolean(*b)), DataType::Boolean, false),
        sql::Value::SingleQuotedString(s) => {
            let n = s.chars().count() as u32;
            Typed::new(Expr::Literal(Value::String(s.clone())), DataType::Char(n), false)
        }
        sql::Value::Number(n, _) => {
            if n.contains(['e', 'E']) {
                let x: f64 = n.parse().map_err(|_| SqlError::at(at, format!("{n} is not a number")))?;
                Typed::new(Expr::Literal(Value::Double(x)), DataType::Double, false)
            } else if !n.contains('.')
                && let Ok(i) = n.parse::<i64>()
            {
                match i32::try_from(i) {
                    Ok(i) => Typed::new(Expr::Literal(Value::Int(i)), DataType::Int, false),
                    Err(_) => Typed::new(Expr::Literal(Value::BigInt(i)), DataType::BigInt, false),
                }
            } else {
                let digits = n.trim_start_matches('-');
                let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
                let int = int.trim_start_matches('0');
                let scale = frac.len() as u8;
                let precision = ((int.len() + frac.len()) as u8).max(1).max(scale);
                let d = Decimal::parse(n, precision, scale)
                    .ok_or_else(|| SqlError::at(at, format!("{n} has more than 38 digits")))?;
                Typed::new(Expr::Literal(Value::Decimal(d)), DataType::Decimal { precision, scale }, false)
            }
        }
        other => return Err(SqlError::at(at, format!("the literal {other} is not Flink SQL"))),
    })
}

/// `INTERVAL 'text' unit [TO unit]`.
fn interval(i: &sql::Interval, at: Location) -> Result<Typed, SqlError> {
    let text = match &*i.value {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) | sql::Value::Number(s, _) => s.clone(),
            other => return Err(SqlError::at(at, format!("an interval takes a quoted number, not {other}"))),
        },
        _ => return Err(SqlError::at(at, "an interval takes a constant: INTERVAL '5' SECOND")),
    };
    let unit = |f: &Option<sql::DateTimeField>| -> Result<&'static str, SqlError> {
        Ok(match f {
            Some(sql::DateTimeField::Year | sql::DateTimeField::Years) => "YEAR",
            Some(sql::DateTimeField::Month | sql::DateTimeField::Months) => "MONTH",
            Some(sql::DateTimeField::Day | sql::DateTimeField::Days) => "DAY",
            Some(sql::DateTimeField::Hour | sql::DateTimeField::Hours) => "HOUR",
            Some(sql::DateTimeField::Minute | sql::DateTimeField::Minutes) => "MINUTE",
            Some(sql::DateTimeField::Second | sql::DateTimeField::Seconds) => "SECOND",
            other => {
                return Err(SqlError::at(
                    at,
                    format!("intervals are of YEAR, MONTH, DAY, HOUR, MINUTE or SECOND, not {other:?}"),
                ));
            }
        })
    };
    let first = unit(&i.leading_field)?;
    let last = if i.last_field.is_some() { unit(&i.last_field)? } else { first };
    let units = ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"];
    let (from, to) = (units.iter().position(|u| *u == first).unwrap(), units.iter().position(|u| *u == last).unwrap());
    let bad = || {
        SqlError::at(
            at,
            format!(
                "'{text}' is not an interval of {first}{}",
                if from == to { String::new() } else { format!(" TO {last}") }
            ),
        )
    };
    let (negative, body) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, text.trim().trim_start_matches('+').to_string()),
    };
    let parts: Vec<&str> = body.split([' ', ':', '-']).collect();
    if to < from || parts.len() != to - from + 1 {
        return Err(bad());
    }
    let (mut months, mut millis) = (0i64, 0i64);
    for (k, part) in parts.iter().enumerate() {
        let unit = units[from + k];
        if unit == "SECOND" {
            let (whole, frac) = part.split_once('.').unwrap_or((part, ""));
            let s: i64 = whole.parse().map_err(|_| bad())?;
            let frac = format!("{frac:0<3}");
            let ms: i64 = if frac.bytes().all(|b| b.is_ascii_digit()) {
                frac[..3].parse().map_err(|_| bad())?
            } else {
                return Err(bad());
            };
            millis += s * 1000 + ms;
            continue;
        }
        let n: i64 = part.parse().map_err(|_| bad())?;
        match unit {
            "YEAR" => months += n * 12,
            "MONTH" => months += n,
            "DAY" => millis += n * 86_400_000,
            "HOUR" => millis += n * 3_600_000,
            _ => millis += n * 60_000,
        }
    }
    let sign = if negative { -1 } else { 1 };
    Ok(if from <= 1 {
        let m = i32::try_from(sign * months).map_err(|_| bad())?;
        Typed::new(Expr::Literal(Value::IntervalMonths(m)), DataType::IntervalYearMonth, false)
    } else {
        Typed::new(Expr::Literal(Value::IntervalMillis(sign * millis)), DataType::IntervalDayTime, false)
    })
}

/// Builds a call of `func` on typed `args` of result type `ty`, computed now when all arguments
/// are constants and the function is deterministic.
pub(crate) fn call(func: Func, args: Vec<Typed>, data: DataType, nullable: bool) -> Typed {
    let constant = func.is_deterministic() && args.iter().all(|a| matches!(a.expr, Expr::Literal(_)));
    let expr = Expr::Call(Box::new(func), args.into_iter().map(|a| a.expr).collect());
    let expr = if constant { expr.eval(&[]).map(Expr::Literal).unwrap_or(expr) } else { expr };
    Typed::new(expr, data, nullable)
}
