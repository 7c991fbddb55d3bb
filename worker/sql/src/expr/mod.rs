//! Scalar expressions: compiled from sqlparser's [`sqlparser::ast::Expr`] against the columns in
//! scope into a typed [`Expr`] ([`compile`]), then evaluated row by row. Compilation resolves
//! names, gives every node Flink's type (implicit casts made explicit, literals pre-parsed,
//! constant regular expressions and patterns compiled once) and refuses what Flink refuses, with
//! the line and column; evaluation follows Flink's NULL rules and three-valued logic and fails
//! the job where Flink does (an integer divided by zero, a `CAST` that does not parse).

mod call;
mod cast;
mod compile;

pub use call::Func;
pub(crate) use cast::{cast as cast_value, local as cast_to_local, precision as precision_of};
pub use compile::{Compiler, Scope, ScopeColumn, Typed};

use crate::ast::DataType;
use crate::typing::Arithmetic;
use crate::value::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// A row-level failure that fails the job, as the same expression fails a Flink job.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// The result of evaluating an expression.
pub type EvalResult<T> = Result<T, EvalError>;

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `=`.
    Eq,
    /// `<>`, `!=`.
    NotEq,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
    /// `IS DISTINCT FROM` (NULL is a value).
    Distinct,
    /// `IS NOT DISTINCT FROM`.
    NotDistinct,
}

impl Cmp {
    /// The comparison with its operands swapped (`a < b` is `b > a`).
    pub fn reversed(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::LtEq => Cmp::GtEq,
            Cmp::Gt => Cmp::Lt,
            Cmp::GtEq => Cmp::LtEq,
            other => other,
        }
    }
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// The input row's column.
    Column(usize),
    /// A field of a `ROW` value.
    Field(Box<Expr>, usize),
    /// A constant.
    Literal(Value),
    /// `NOT`.
    Not(Box<Expr>),
    /// `AND` (three-valued).
    And(Box<Expr>, Box<Expr>),
    /// `OR` (three-valued).
    Or(Box<Expr>, Box<Expr>),
    /// `IS [NOT] NULL` (`true`: `IS NOT NULL`).
    IsNull(Box<Expr>, bool),
    /// `IS [NOT] TRUE|FALSE`: whether the value is `value` (`negated`: is not).
    IsBoolean {
        /// The operand.
        expr: Box<Expr>,
        /// `TRUE` or `FALSE`.
        value: bool,
        /// `IS NOT`.
        negated: bool,
    },
    /// A comparison of two values of comparable types.
    Compare(Cmp, Box<Expr>, Box<Expr>),
    /// `+ - * / MOD` on numbers, of result type `ty`.
    Arithmetic {
        /// The operator.
        op: Arithmetic,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// Flink's result type.
        ty: DataType,
    },
    /// A time plus (`negate`: minus) an interval.
    TimePlusInterval {
        /// The `DATE`, `TIMESTAMP` or `TIMESTAMP_LTZ`.
        time: Box<Expr>,
        /// The interval.
        interval: Box<Expr>,
        /// Subtract instead.
        negate: bool,
    },
    /// Unary minus.
    Negate(Box<Expr>),
    /// `CASE WHEN c THEN v ... ELSE e END` (a simple `CASE x WHEN v` becomes comparisons).
    Case {
        /// Conditions and their results, in order.
        whens: Vec<(Expr, Expr)>,
        /// The result when no condition holds (NULL when absent).
        otherwise: Box<Expr>,
    },
    /// `CAST`, `TRY_CAST` and the implicit casts.
    Cast(Box<cast::Cast>),
    /// `x [NOT] IN (list)`.
    In {
        /// The operand.
        expr: Box<Expr>,
        /// The values.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `x [NOT] LIKE pattern [ESCAPE c]` with a constant pattern.
    Like {
        /// The operand.
        expr: Box<Expr>,
        /// The pattern as an anchored regular expression.
        pattern: regex::Regex,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// A function call.
    Call(Box<Func>, Vec<Expr>),
}

impl Expr {
    /// The value for `row`.
    pub fn eval(&self, row: &[Value]) -> EvalResult<Value> {
        self.eval_ref(row).map(Cow::into_owned)
    }

    /// The value for `row`, borrowed where it is a column or a constant.
    pub fn eval_ref<'a>(&'a self, row: &'a [Value]) -> EvalResult<Cow<'a, Value>> {
        Ok(match self {
            Expr::Column(i) => Cow::Borrowed(&row[*i]),
            Expr::Literal(v) => Cow::Borrowed(v),
            Expr::Field(e, i) => match e.eval_ref(row)? {
                Cow::Borrowed(Value::Row(fields)) => Cow::Borrowed(&fields[*i]),
                Cow::Owned(Value::Row(mut fields)) => Cow::Owned(fields.swap_remove(*i)),
                _ => Cow::Owned(Value::Null),
            },
            Expr::Case { whens, otherwise } => {
                for (condition, result) in whens {
                    if condition.eval_bool(row)? == Some(true) {
                        return result.eval_ref(row);
                    }
                }
                otherwise.eval_ref(row)?
            }
            _ => Cow::Owned(self.eval_owned(row)?),
        })
    }

    /// A predicate's value for `row`: `None` is SQL's unknown (NULL).
    pub fn eval_bool(&self, row: &[Value]) -> EvalResult<Option<bool>> {
        Ok(match self {
            Expr::Not(e) => e.eval_bool(row)?.map(|b| !b),
            Expr::And(a, b) => match a.eval_bool(row)? {
                Some(false) => Some(false),
                left => match (left, b.eval_bool(row)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
            },
            Expr::Or(a, b) => match a.eval_bool(row)? {
                Some(true) => Some(true),
                left => match (left, b.eval_bool(row)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
            },
            Expr::IsNull(e, negated) => Some(e.eval_ref(row)?.is_null() != *negated),
            Expr::IsBoolean { expr, value, negated } => Some((expr.eval_bool(row)? == Some(*value)) != *negated),
            Expr::Compare(cmp, a, b) => {
                let (a, b) = (a.eval_ref(row)?, b.eval_ref(row)?);
                compare(*cmp, &a, &b)
            }
            Expr::In { expr, list, negated } => {
                let v = expr.eval_ref(row)?;
                if v.is_null() {
                    return Ok(None);
                }
                let mut unknown = false;
                for item in list {
                    match v.sql_eq(&*item.eval_ref(row)?) {
                        Some(true) => return Ok(Some(!negated)),
                        Some(false) => {}
                        None => unknown = true,
                    }
                }
                if unknown { None } else { Some(*negated) }
            }
            Expr::Like { expr, pattern, negated } => match &*expr.eval_ref(row)? {
                Value::String(s) => Some(pattern.is_match(s) != *negated),
                _ => None,
            },
            other => match &*other.eval_ref(row)? {
                Value::Boolean(b) => Some(*b),
                _ => None,
            },
        })
    }

    fn eval_owned(&self, row: &[Value]) -> EvalResult<Value> {
        match self {
            Expr::Not(_)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::IsNull(..)
            | Expr::IsBoolean { .. }
            | Expr::Compare(..)
            | Expr::In { .. }
            | Expr::Like { .. } => Ok(self.eval_bool(row)?.map_or(Value::Null, Value::Boolean)),
            Expr::Arithmetic { op, left, right, ty } => {
                let (a, b) = (left.eval_ref(row)?, right.eval_ref(row)?);
                arithmetic(*op, &a, &b, ty)
            }
            Expr::TimePlusInterval { time, interval, negate } => {
                let (t, i) = (time.eval_ref(row)?, interval.eval_ref(row)?);
                Ok(plus_interval(&t, &i, *negate))
            }
            Expr::Negate(e) => Ok(match e.eval(row)? {
                Value::TinyInt(v) => Value::TinyInt(v.wrapping_neg()),
                Value::SmallInt(v) => Value::SmallInt(v.wrapping_neg()),
                Value::Int(v) => Value::Int(v.wrapping_neg()),
                Value::BigInt(v) => Value::BigInt(v.wrapping_neg()),
                Value::Float(v) => Value::Float(-v),
                Value::Double(v) => Value::Double(-v),
                Value::Decimal(d) => crate::decimal::Decimal::new(-d.unscaled(), d.precision(), d.scale())
                    .map_or(Value::Null, Value::Decimal),
                Value::IntervalMonths(m) => Value::IntervalMonths(m.wrapping_neg()),
                Value::IntervalMillis(m) => Value::IntervalMillis(m.wrapping_neg()),
                _ => Value::Null,
            }),
            Expr::Cast(c) => c.eval(row),
            Expr::Call(f, args) => f.eval(args, row),
            Expr::Column(_) | Expr::Literal(_) | Expr::Field(..) | Expr::Case { .. } => self.eval(row),
        }
    }

    /// Whether the expression reads no column (so it can be computed once).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            constant &= !matches!(e, Expr::Column(_)) && !matches!(e, Expr::Call(f, _) if !f.is_deterministic())
        });
        constant
    }

    /// Replaces each column `c` read inside it by `f(c)`.
    pub fn replace_columns(&mut self, f: &mut impl FnMut(usize) -> Expr) {
        match self {
            Expr::Column(c) => *self = f(*c),
            Expr::Literal(_) => {}
            Expr::Field(x, _) | Expr::Not(x) | Expr::IsNull(x, _) | Expr::Negate(x) => x.replace_columns(f),
            Expr::IsBoolean { expr, .. } | Expr::Like { expr, .. } => expr.replace_columns(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) => {
                a.replace_columns(f);
                b.replace_columns(f);
            }
            Expr::Arithmetic { left, right, .. } => {
                left.replace_columns(f);
                right.replace_columns(f);
            }
            Expr::TimePlusInterval { time, interval, .. } => {
                time.replace_columns(f);
                interval.replace_columns(f);
            }
            Expr::Case { whens, otherwise } => {
                for (c, r) in whens {
                    c.replace_columns(f);
                    r.replace_columns(f);
                }
                otherwise.replace_columns(f);
            }
            Expr::Cast(c) => c.expr.replace_columns(f),
            Expr::In { expr, list, .. } => {
                expr.replace_columns(f);
                list.iter_mut().for_each(|x| x.replace_columns(f));
            }
            Expr::Call(_, args) => args.iter_mut().for_each(|x| x.replace_columns(f)),
        }
    }

    /// Whether this is `PROCTIME()`.
    pub fn is_proctime(&self) -> bool {
        matches!(self, Expr::Call(f, _) if matches!(**f, Func::Proctime))
    }

    /// Calls `f` on this expression and every expression inside it.
    pub fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Column(_) | Expr::Literal(_) => {}
            Expr::Field(e, _) | Expr::Not(e) | Expr::IsNull(e, _) | Expr::Negate(e) => e.visit(f),
            Expr::IsBoolean { expr, .. } | Expr::Like { expr, .. } => expr.visit(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::Arithmetic { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Expr::TimePlusInterval { time, interval, .. } => {
                time.visit(f);
                interval.visit(f);
            }
            Expr::Case { whens, otherwise } => {
                for (c, r) in whens {
                    c.visit(f);
                    r.visit(f);
                }
                otherwise.visit(f);
            }
            Expr::Cast(c) => c.expr.visit(f),
            Expr::In { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|e| e.visit(f));
            }
            Expr::Call(_, args) => args.iter().for_each(|e| e.visit(f)),
        }
    }
}

/// `a cmp b` with SQL's NULL rules.
fn compare(cmp: Cmp, a: &Value, b: &Value) -> Option<bool> {
    match cmp {
        Cmp::Distinct | Cmp::NotDistinct => {
            let same = match (a.is_null(), b.is_null()) {
                (true, true) => true,
                (false, false) => a.sql_eq(b) == Some(true),
                _ => false,
            };
            Some(same == (cmp == Cmp::NotDistinct))
        }
        Cmp::Eq => a.sql_eq(b),
        Cmp::NotEq => a.sql_eq(b).map(|e| !e),
        _ => {
            let o = a.compare(b)?;
            Some(match cmp {
                Cmp::Lt => o == Ordering::Less,
                Cmp::LtEq => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
    }
}

/// `a op b` of result type `ty` (from [`crate::typing::arithmetic`]): integers wrap as Java's
/// do, decimals round to the type and overflow to NULL, an integer or decimal divided by zero
/// fails.
pub(crate) fn arithmetic(op: Arithmetic, a: &Value, b: &Value, ty: &DataType) -> EvalResult<Value> {
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    let zero = || EvalError(format!("division by zero in {a:?} {op:?} {b:?}"));
    match ty {
        DataType::TinyInt | DataType::SmallInt | DataType::Int | DataType::BigInt => {
            let (x, y) = (a.as_i64().unwrap_or(0), b.as_i64().unwrap_or(0));
            let v = match op {
                Arithmetic::Plus => x.wrapping_add(y),
                Arithmetic::Minus => x.wrapping_sub(y),
                Arithmetic::Times => x.wrapping_mul(y),
                Arithmetic::Divide if y == 0 => return Err(zero()),
                Arithmetic::Divide => x.wrapping_div(y),
                Arithmetic::Mod => crate::functions::numeric::mod_integer(x, y).map_err(|_| zero())?,
            };
            Ok(integer_value(v, ty))
        }
        DataType::Float | DataType::Double => {
            let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            let v = match op {
                Arithmetic::Plus => x + y,
                Arithmetic::Minus => x - y,
                Arithmetic::Times => x * y,
                Arithmetic::Divide => x / y,
                Arithmetic::Mod => x % y,
            };
            Ok(if *ty == DataType::Float { Value::Float(v as f32) } else { Value::Double(v) })
        }
        DataType::Decimal { precision: p, scale: s } => {
            let (Some(x), Some(y)) = (a.as_decimal(), b.as_decimal()) else {
                return Ok(Value::Null);
            };
            let v = match op {
                Arithmetic::Plus => x.add(y, *p, *s),
                Arithmetic::Minus => x.sub(y, *p, *s),
                Arithmetic::Times => x.mul(y, *p, *s),
                Arithmetic::Divide => x.div(y, *p, *s).map_err(|_| zero())?,
                Arithmetic::Mod => x.rem(y, *p, *s).map_err(|_| zero())?,
            };
            Ok(v.map_or(Value::Null, Value::Decimal))
        }
        DataType::IntervalDayTime | DataType::IntervalYearMonth => {
            // An interval times (or divided by) an integer.
            let (interval, n) = match (a, b) {
                (Value::IntervalMillis(m), n) | (n, Value::IntervalMillis(m)) => (*m, n.as_i64().unwrap_or(0)),
                (Value::IntervalMonths(m), n) | (n, Value::IntervalMonths(m)) => (*m as i64, n.as_i64().unwrap_or(0)),
                _ => return Ok(Value::Null),
            };
            let v = match op {
                Arithmetic::Divide if n == 0 => return Err(zero()),
                Arithmetic::Divide => interval / n,
                _ => interval.wrapping_mul(n),
            };
            Ok(if *ty == DataType::IntervalDayTime {
                Value::IntervalMillis(v)
            } else {
                Value::IntervalMonths(v as i32)
            })
        }
        other => Err(EvalError(format!("no arithmetic of type {other}"))),
    }
}

/// `v` (wrapped) as an integer of type `ty`.
pub fn integer_value(v: i64, ty: &DataType) -> Value {
    match ty {
        DataType::TinyInt => Value::TinyInt(v as i8),
        DataType::SmallInt => Value::SmallInt(v as i16),
        DataType::Int => Value::Int(v as i32),
        _ => Value::BigInt(v),
    }
}

/// A date or time plus or minus an interval.
fn plus_interval(t: &Value, i: &Value, negate: bool) -> Value {
    use chrono::{Duration, Months, NaiveDateTime};
    let shift = |dt: NaiveDateTime| -> Option<NaiveDateTime> {
        match *i {
            Value::IntervalMillis(ms) => {
                let d = Duration::milliseconds(if negate { ms.wrapping_neg() } else { ms });
                dt.checked_add_signed(d)
            }
            Value::IntervalMonths(m) => {
                let m = if negate { -(m as i64) } else { m as i64 };
                if m >= 0 {
                    dt.checked_add_months(Months::new(m as u32))
                } else {
                    dt.checked_sub_months(Months::new(m.unsigned_abs() as u32))
                }
            }
            _ => None,
        }
    };
    let shifted = match t {
        Value::Timestamp(dt) => shift(*dt).map(Value::Timestamp),
        Value::TimestampLtz(dt) => shift(*dt).map(Value::TimestampLtz),
        Value::Date(d) => shift(d.and_time(chrono::NaiveTime::MIN)).map(|dt| Value::Date(dt.date())),
        Value::Time(t) => shift(chrono::NaiveDate::MIN.and_time(*t)).map(|dt| Value::Time(dt.time())),
        _ => None,
    };
    shifted.unwrap_or(Value::Null)
}
