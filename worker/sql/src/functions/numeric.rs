//! Flink's numeric functions (`MOD`, `ABS`, `ROUND`, `POWER`), `HASH_CODE`, and how Flink prints a
//! `DOUBLE` (`CAST(x AS STRING)`, the print sink: Java's `Double.toString`). Checked
//! against Flink 2.3 by `tests/numeric_functions.rs` (golden file made by
//! `tests/flink/gen_functions.py`).

use crate::decimal::{Decimal, DivisionByZero};

/// Java's `Double.toString` layout of the shortest digits that read back as the
/// same value: plain (`100.0`, `0.001`) from 10^-3 up to 10^7, else `1.0E7`, `1.0E-4`. The digits
/// are the shortest, as Java 19 and later print them; Flink on Java 17 prints a few values with
/// other digits (`1.0E23` as `9.999999999999999E22`, the smallest double as `4.9E-324`). How Flink
/// prints a `FLOAT` is not Java's `Float.toString` (`3.402823E38`, seven digits): not done yet.
fn java_layout(shortest: String, negative: bool) -> String {
    // `shortest` is Rust's `{:e}` form: `d[.ddd]e<exp>`.
    let (mantissa, exp) = shortest.split_once('e').expect("the {:e} form");
    let exp: i32 = exp.parse().expect("an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if negative { "-" } else { "" };
    if (-3..7).contains(&exp) {
        let point = exp + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if (point as usize) >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        return format!("{sign}{text}");
    }
    let fraction = if digits.len() > 1 { &digits[1..] } else { "0" };
    format!("{sign}{}.{fraction}E{exp}", &digits[..1])
}

/// How Flink prints a `DOUBLE`.
pub fn double_to_string(x: f64) -> String {
    match x {
        x if x.is_nan() => "NaN".into(),
        f64::INFINITY => "Infinity".into(),
        f64::NEG_INFINITY => "-Infinity".into(),
        0.0 => if x.is_sign_negative() { "-0.0" } else { "0.0" }.into(),
        x => java_layout(format!("{:e}", x.abs()), x < 0.0),
    }
}

/// `MOD(a, b)` of integers: the remainder with the dividend's sign (`MIN % -1` is 0); an error for
/// a zero divisor, which fails the job in Flink.
pub fn mod_integer(a: i64, b: i64) -> Result<i64, DivisionByZero> {
    if b == 0 {
        return Err(DivisionByZero);
    }
    Ok(a.wrapping_rem(b))
}

/// `ABS(a)` of an integer of `bits` bits: the most negative value stays itself (Java's `Math.abs`).
pub fn abs_integer(a: i64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((a.wrapping_abs()) << shift) >> shift
}

/// `ROUND(x, n)` of a `DOUBLE`: half up at `n` digits after the point (before it when negative),
/// on the value's shortest decimal form (so `ROUND(1.005, 2)` is 1.01, as Flink gives it).
pub fn round_double(x: f64, n: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let text = format!("{x:e}");
    let (mantissa, exp) = text.split_once('e').expect("the {:e} form");
    let exp: i32 = exp.parse().expect("an exponent");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // value = digits * 10^(exp - (len - 1)); keep digits down to 10^-n.
    let lowest = exp - (digits.len() as i32 - 1);
    if lowest >= -n {
        return x;
    }
    let keep = digits.len() as i32 - (-n - lowest);
    let rounded: String = if keep <= 0 {
        let up = keep == 0 && digits.as_bytes()[0] >= b'5';
        if up { "1".to_string() } else { "0".to_string() }
    } else {
        let (head, tail) = digits.split_at(keep as usize);
        let mut head: Vec<u8> = head.bytes().collect();
        if tail.as_bytes()[0] >= b'5' {
            let mut i = head.len();
            loop {
                if i == 0 {
                    head.insert(0, b'1');
                    break;
                }
                i -= 1;
                if head[i] == b'9' {
                    head[i] = b'0';
                } else {
                    head[i] += 1;
                    break;
                }
            }
        }
        String::from_utf8(head).expect("digits")
    };
    let value: f64 = format!("{}{rounded}e{}", if negative { "-" } else { "" }, -n).parse().unwrap_or(x);
    if value == 0.0 && negative { -0.0 } else { value }
}

/// `ROUND(d, n)` of a `DECIMAL(p, s)`: half up at `n` digits after the point (before it when
/// negative), as a `DECIMAL(p - s + n' + 1, n')` with `n'` = `n` within 0..=s; `None` (NULL)
/// when the rounded value has more than 38 digits.
pub fn round_decimal(d: Decimal, n: i32) -> Option<Decimal> {
    let scale = n.clamp(0, d.scale() as i32) as u8;
    let precision = (d.precision() - d.scale() + scale + 1).min(crate::typing::MAX_PRECISION);
    let drop = d.scale() as i32 - n;
    let unscaled = if drop <= 0 {
        d.unscaled()
    } else if drop > 38 {
        // Every digit is below the rounding position, and fewer than 39 of them: zero.
        0
    } else {
        let unit = 10i128.pow(drop as u32);
        let (q, r) = (d.unscaled() / unit, d.unscaled() % unit);
        (if r.abs() * 2 >= unit { q + d.unscaled().signum() } else { q }).checked_mul(unit)?
    };
    // Digits below the new scale are zero now: drop them.
    let value = unscaled / 10i128.pow((d.scale() - scale) as u32);
    Decimal::new(value, precision, scale)
}

/// `ROUND(a, n)` of an integer: itself for `n >= 0`, else half up to a multiple of 10^-n.
pub fn round_integer(a: i64, n: i32) -> i64 {
    if n >= 0 {
        return a;
    }
    if n < -18 {
        return 0;
    }
    let unit = 10i64.pow((-n) as u32);
    let (q, r) = (a / unit, a % unit);
    let q = if r.abs() * 2 >= unit { q + a.signum() } else { q };
    q.wrapping_mul(unit)
}

/// `POWER(x, y)`.
pub fn power(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// `HASH_CODE(s)`: the absolute value of Java's `String.hashCode` (over UTF-16 code units), as
/// Flink gives it (`HASH_CODE('k10|abc|x')` is 1627587412 where Java's hash is -1627587412; the
/// conformance suite's `strings_and_times` checks it).
pub fn hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32)).wrapping_abs()
}
