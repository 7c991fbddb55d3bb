//! Our result types of arithmetic and of COALESCE against Flink 2.3's planner on the same pairs of
//! operand types (`tests/golden/arithmetic_types.tsv`, made by `tests/flink/gen_types.py`).

mod common;

use ferroflink_sql::parse_type;
use ferroflink_sql::typing::{Arithmetic, arithmetic, least_restrictive};

#[test]
fn result_types_are_flinks() {
    common::check_golden(include_str!("golden/arithmetic_types.tsv"), 800, |fields| {
        let [op, left, right, expected] = fields[..] else { panic!("{fields:?}") };
        let (l, r) = (parse_type(left).unwrap(), parse_type(right).unwrap());
        let got = match op {
            "+" => arithmetic(Arithmetic::Plus, &l, &r),
            "-" => arithmetic(Arithmetic::Minus, &l, &r),
            "*" => arithmetic(Arithmetic::Times, &l, &r),
            "/" => arithmetic(Arithmetic::Divide, &l, &r),
            "%" => arithmetic(Arithmetic::Mod, &l, &r),
            "COALESCE" => least_restrictive(&[l, r]),
            other => panic!("operator {other}"),
        };
        let got = got.map_or_else(|_| "!error".to_string(), |t| t.to_string());
        (got != expected).then(|| format!("{left} {op} {right}: Flink {expected}, ours {got}"))
    });
}
