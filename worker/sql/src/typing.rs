//! Flink's result types: of arithmetic on numbers, and the least restrictive type that `CASE`,
//! `COALESCE` and `UNION` give their branches. Checked against Flink 2.3's planner by
//! `tests/types.rs` (golden file made by `tests/flink/gen_types.py`).
//!
//! The rules, as Flink has them: integers stay integers (the wider of the two, no widening on
//! overflow); `FLOAT` and `DOUBLE` give the left one's type, `DOUBLE` or a decimal with `FLOAT`
//! a `DOUBLE`, an integer with `FLOAT` a `FLOAT`; otherwise both sides are
//! decimals (`TINYINT` as `DECIMAL(3, 0)`, `SMALLINT` 5, `INT` 10, `BIGINT` 19) and
//!
//! | | precision | scale |
//! | --- | --- | --- |
//! | `+`, `-` | max(p1 - s1, p2 - s2) + max(s1, s2) + 1 | max(s1, s2) |
//! | `*` | p1 + p2 + 1 | s1 + s2 |
//! | `/` | p1 - s1 + s2 + max(6, s1 + p2 + 1) | max(6, s1 + p2 + 1) |
//! | `MOD` | min(p1 - s1, p2 - s2) + max(s1, s2) | max(s1, s2) |
//!
//! A precision over 38 is cut to 38, the scale then shrinking to keep the integer digits but not
//! below min(scale, 6). `MOD` of two numbers without fraction digits has the right operand's type,
//! and takes no `FLOAT` or `DOUBLE`. The least restrictive decimal keeps all integer digits and
//! as many fraction digits as still fit in 38.

use crate::ast::{DataType, Type};

/// Flink's largest `DECIMAL` precision.
pub const MAX_PRECISION: u8 = 38;

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    /// `+`.
    Plus,
    /// `-`.
    Minus,
    /// `*`.
    Times,
    /// `/`.
    Divide,
    /// `%`, `MOD`.
    Mod,
}

/// A number's type as a decimal's precision and scale (`None` for `FLOAT`, `DOUBLE` and
/// non-numbers).
fn as_decimal(t: &DataType) -> Option<(u32, u32)> {
    Some(match t {
        DataType::TinyInt => (3, 0),
        DataType::SmallInt => (5, 0),
        DataType::Int => (10, 0),
        DataType::BigInt => (19, 0),
        DataType::Decimal { precision, scale } => (*precision as u32, *scale as u32),
        _ => return None,
    })
}

fn integer_rank(t: &DataType) -> Option<u8> {
    Some(match t {
        DataType::TinyInt => 1,
        DataType::SmallInt => 2,
        DataType::Int => 3,
        DataType::BigInt => 4,
        _ => return None,
    })
}

fn is_numeric(t: &DataType) -> bool {
    as_decimal(t).is_some() || matches!(t, DataType::Float | DataType::Double)
}

/// Cuts a decimal type to 38 digits as Flink does.
fn decimal(precision: u32, scale: u32) -> DataType {
    let max = MAX_PRECISION as u32;
    let (precision, scale) = if precision > max {
        let integer_digits = precision - scale;
        (max, max.saturating_sub(integer_digits).max(scale.min(6)))
    } else {
        (precision, scale)
    };
    DataType::Decimal { precision: precision as u8, scale: scale as u8 }
}

/// The approximate type of an operation on `l` and `r`, if one of them is `FLOAT` or `DOUBLE`:
/// `DOUBLE` with a `DOUBLE` or a decimal (`FLOAT` with an integer). Flink's planner is not
/// symmetric here, and neither is this: in arithmetic (`in_arithmetic`) a `FLOAT` and a `DOUBLE`
/// give the left one's type; in a least restrictive type a decimal then a `FLOAT` give `FLOAT`.
fn approximate(l: &DataType, r: &DataType, in_arithmetic: bool) -> Option<DataType> {
    let is_approximate = |t: &DataType| matches!(t, DataType::Float | DataType::Double);
    match (l, r) {
        (a, b) if in_arithmetic && is_approximate(a) && is_approximate(b) => Some(a.clone()),
        (DataType::Double, _) | (_, DataType::Double) => Some(DataType::Double),
        (DataType::Float, DataType::Decimal { .. }) => Some(DataType::Double),
        (DataType::Decimal { .. }, DataType::Float) if in_arithmetic => Some(DataType::Double),
        (DataType::Float, _) | (_, DataType::Float) => Some(DataType::Float),
        _ => None,
    }
}

/// The type of `left op right`; an error for operands that are not numbers (or `MOD` of a
/// `FLOAT` or `DOUBLE`), saying so.
pub fn arithmetic(op: Arithmetic, left: &Type, right: &Type) -> Result<Type, String> {
    let (l, r) = (&left.data, &right.data);
    if !is_numeric(l) || !is_numeric(r) {
        return Err(format!("{op:?} takes numbers, not {l} and {r}"));
    }
    let nullable = left.nullable || right.nullable;
    let typed = |data: DataType| Ok(Type { data, nullable });
    if op == Arithmetic::Mod {
        let (Some((p1, s1)), Some((p2, s2))) = (as_decimal(l), as_decimal(r)) else {
            return Err(format!("MOD takes exact numbers (integers and DECIMAL), not {l} and {r}"));
        };
        if s1 == 0 && s2 == 0 {
            return typed(r.clone());
        }
        let scale = s1.max(s2);
        return typed(decimal((p1 - s1).min(p2 - s2) + scale, scale));
    }
    if let Some(data) = approximate(l, r, true) {
        return typed(data);
    }
    if let (Some(a), Some(b)) = (integer_rank(l), integer_rank(r)) {
        return typed(if a >= b { l.clone() } else { r.clone() });
    }
    let ((p1, s1), (p2, s2)) = (as_decimal(l).expect("numeric"), as_decimal(r).expect("numeric"));
    typed(match op {
        Arithmetic::Plus | Arithmetic::Minus => {
            let scale = s1.max(s2);
            decimal((p1 - s1).max(p2 - s2) + scale + 1, scale)
        }
        Arithmetic::Times => decimal(p1 + p2 + 1, s1 + s2),
        Arithmetic::Divide => {
            let scale = 6.max(s1 + p2 + 1);
            decimal(p1 - s1 + s2 + scale, scale)
        }
        Arithmetic::Mod => unreachable!("handled above"),
    })
}

/// The type `CASE`, `COALESCE` and `UNION` give values of `types`: the least restrictive one.
pub fn least_restrictive(types: &[Type]) -> Result<Type, String> {
    let (first, rest) = types.split_first().ok_or("no types to unify")?;
    let mut acc = first.clone();
    for t in rest {
        let data =
            match (&acc.data, &t.data) {
                (a, b) if a == b => a.clone(),
                (DataType::Null, b) => b.clone(),
                (a, DataType::Null) => a.clone(),
                (DataType::Char(a) | DataType::VarChar(a), DataType::Char(b) | DataType::VarChar(b)) => {
                    DataType::VarChar(*a.max(b))
                }
                (DataType::Timestamp(a), DataType::Timestamp(b)) => DataType::Timestamp(*a.max(b)),
                (DataType::TimestampLtz(a), DataType::TimestampLtz(b)) => DataType::TimestampLtz(*a.max(b)),
                (a, b) if is_numeric(a) && is_numeric(b) && approximate(a, b, false).is_some() => {
                    approximate(a, b, false).expect("checked")
                }
                (a, b) if integer_rank(a).is_some() && integer_rank(b).is_some() => {
                    if integer_rank(a) >= integer_rank(b) { a.clone() } else { b.clone() }
                }
                (a, b) => match (as_decimal(a), as_decimal(b)) {
                    // All integer digits kept; the fraction digits that still fit in 38.
                    (Some((p1, s1)), Some((p2, s2))) => {
                        let integer_digits = (p1 - s1).max(p2 - s2);
                        let scale = s1.max(s2).min(MAX_PRECISION as u32 - integer_digits.min(MAX_PRECISION as u32));
                        let precision = (integer_digits + scale).min(MAX_PRECISION as u32);
                        DataType::Decimal { precision: precision as u8, scale: scale as u8 }
                    }
                    _ => return Err(format!("{a} and {b} have no common type")),
                },
            };
        acc = Type { data, nullable: acc.nullable || t.nullable };
    }
    Ok(acc)
}
