//! Our DECIMAL arithmetic and casts against Apache Flink 2.3's results
//! (`tests/golden/decimal_values.tsv`, made by `tests/flink/gen_decimals.py`): the result type by
//! `typing`, the value by `decimal`.

mod common;

use ferroflink_sql::ast::{DataType, Type};
use ferroflink_sql::decimal::Decimal;
use ferroflink_sql::parse_type;
use ferroflink_sql::typing::{Arithmetic, arithmetic};

/// A value of an exact numeric type as a decimal of that type (integers as DECIMAL(p, 0)).
fn decimal(t: &Type, v: &str) -> Decimal {
    let (p, s) = precision_scale(t);
    Decimal::parse(v, p, s).unwrap_or_else(|| panic!("{v} as {t}"))
}

fn precision_scale(t: &Type) -> (u8, u8) {
    match t.data {
        DataType::Decimal { precision, scale } => (precision, scale),
        DataType::TinyInt => (3, 0),
        DataType::SmallInt => (5, 0),
        DataType::Int => (10, 0),
        DataType::BigInt => (19, 0),
        ref other => panic!("{other} is not exact"),
    }
}

/// Our result of one golden line, as Flink prints it.
fn ours(op: &str, ta: &Type, va: &str, tb: &str, vb: &str) -> (String, Option<String>) {
    if op == "CAST" {
        let to = parse_type(tb).unwrap();
        let value = match (&ta.data, &to.data) {
            // Not a number, or too many digits: the job fails.
            (DataType::VarChar(_), DataType::Decimal { precision, scale }) => {
                Some(Decimal::parse(va, *precision, *scale).map_or("!error".to_string(), |d| d.to_string()))
            }
            (DataType::Double, DataType::Decimal { precision, scale }) => {
                // A DOUBLE converts through its shortest decimal form, as Java's BigDecimal.valueOf.
                let d: f64 = va.parse().unwrap();
                Decimal::parse(&format!("{d:e}"), *precision, *scale).map(|d| d.to_string())
            }
            (DataType::Decimal { .. }, DataType::Decimal { precision, scale }) => {
                decimal(ta, va).rescale(*precision, *scale).map(|d| d.to_string())
            }
            (DataType::Decimal { .. }, DataType::Int | DataType::BigInt) => Some(decimal(ta, va).trunc().to_string()),
            (DataType::Decimal { .. }, DataType::Double) => Some(format!("{:?}", decimal(ta, va).to_f64())),
            (DataType::Decimal { .. }, DataType::VarChar(_)) => Some(decimal(ta, va).to_string()),
            (from, to) => panic!("no cast from {from} to {to} in the golden file's vocabulary"),
        };
        let shown = if value.as_deref() == Some("!error") { "!error".to_string() } else { to.to_string() };
        return (shown, value);
    }
    let tb = parse_type(tb).unwrap();
    let operator = match op {
        "+" => Arithmetic::Plus,
        "-" => Arithmetic::Minus,
        "*" => Arithmetic::Times,
        "/" => Arithmetic::Divide,
        "%" => Arithmetic::Mod,
        other => panic!("operator {other}"),
    };
    let result = arithmetic(operator, ta, &tb).unwrap();
    let (p, s) = precision_scale(&result);
    let (a, b) = (decimal(ta, va), decimal(&tb, vb));
    let value = match operator {
        Arithmetic::Plus => Ok(a.add(b, p, s)),
        Arithmetic::Minus => Ok(a.sub(b, p, s)),
        Arithmetic::Times => Ok(a.mul(b, p, s)),
        Arithmetic::Divide => a.div(b, p, s),
        Arithmetic::Mod => a.rem(b, p, s),
    };
    match value {
        Ok(v) => (result.to_string(), v.map(|d| d.to_string())),
        // Division by zero fails the job.
        Err(_) => ("!error".to_string(), Some("!error".to_string())),
    }
}

#[test]
fn decimal_arithmetic_gives_flinks_results() {
    common::check_golden(include_str!("golden/decimal_values.tsv"), 39, |fields| {
        let [op, ta, va, tb, vb, result_type, expected] = fields[..] else { panic!("{fields:?}") };
        let ta = parse_type(ta).unwrap();
        let (got_type, got) = ours(op, &ta, va, tb, vb);
        // An empty result is Flink's NULL of an overflow cast to STRING (see the generator).
        let expected_value = (expected != "\\N" && !expected.is_empty()).then(|| expected.to_string());
        (got != expected_value || got_type != result_type)
            .then(|| format!("{op}({ta} {va}, {tb} {vb}): Flink {result_type} {expected}, ours {got_type} {got:?}"))
    });
}

proptest::proptest! {
    /// Against i128 arithmetic on values small enough for it: the same digits.
    #[test]
    fn small_values_agree_with_integer_arithmetic(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
        let (x, y) = (Decimal::new(a as i128, 12, 3).unwrap(), Decimal::new(b as i128, 12, 3).unwrap());
        proptest::prop_assert_eq!(x.add(y, 14, 3).unwrap().unscaled(), a as i128 + b as i128);
        proptest::prop_assert_eq!(x.mul(y, 25, 6).unwrap().unscaled(), a as i128 * b as i128);
        proptest::prop_assert_eq!(x.to_string().parse::<f64>().unwrap(), a as f64 / 1000.0);
        proptest::prop_assert_eq!(Decimal::parse(&x.to_string(), 12, 3), Some(x));
        if b != 0 {
            proptest::prop_assert_eq!(x.rem(y, 12, 3).unwrap().unwrap().unscaled(), a as i128 % b as i128);
        }
    }
}
