//! `DECIMAL(p, s)` values with Flink's arithmetic: exact, rounded half up to the result type's
//! scale (the type comes from [`crate::typing`]), and NULL when a value does not fit its
//! precision, as Flink gives NULL for a decimal overflow. Checked against Flink 2.3 by
//! `tests/decimals.rs` (golden file made by `tests/flink/gen_decimals.py`).
//!
//! A value is an `i128` of unscaled digits (38 digits fit), kept as two 64-bit halves so that a
//! decimal (and so a SQL value) is 8-byte aligned; sums, products and rescales that fit in 128
//! bits are computed there, the rest (and quotients) in 256 bits (`ethnum`) before rounding, so no
//! intermediate overflows.

use crate::typing::MAX_PRECISION;
use ethnum::I256;
use std::fmt;

/// A decimal divided by zero: Flink fails the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("division by zero")]
pub struct DivisionByZero;

/// A `DECIMAL(precision, scale)` value: `unscaled / 10^scale`, fewer than `precision` digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Decimal {
    /// The unscaled digits' low and high 64 bits.
    lo: u64,
    hi: i64,
    precision: u8,
    scale: u8,
}

/// `10^n` for `n` up to 38 (what fits in an `i128`).
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10(n: u32) -> I256 {
    if n < 39 {
        return I256::from(POW10[n as usize]);
    }
    let mut v = I256::from(POW10[38]);
    for _ in 38..n {
        v *= 10;
    }
    v
}

/// `n / d` rounded half up (away from zero on a tie), `d` positive.
fn div_half_up_128(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if r.unsigned_abs() * 2 >= d as u128 { if n < 0 { q - 1 } else { q + 1 } } else { q }
}

/// `n / d` rounded half up (away from zero on a tie), `d` not zero.
fn div_half_up(n: I256, d: I256) -> I256 {
    let (q, r) = (n / d, n % d);
    if r.unsigned_abs() * 2 >= d.unsigned_abs() { if (n < 0) == (d < 0) { q + 1 } else { q - 1 } } else { q }
}

impl Decimal {
    /// `unscaled / 10^scale` as a `DECIMAL(precision, scale)`; `None` if it has too many digits.
    pub fn new(unscaled: i128, precision: u8, scale: u8) -> Option<Decimal> {
        Decimal::fit_128(unscaled, scale as u32, precision, scale).flatten()
    }

    /// The digits, without the point.
    pub fn unscaled(&self) -> i128 {
        ((self.hi as i128) << 64) | self.lo as i128
    }

    fn from_parts(unscaled: i128, precision: u8, scale: u8) -> Decimal {
        Decimal { lo: unscaled as u64, hi: (unscaled >> 64) as i64, precision, scale }
    }

    /// `value / 10^from_scale` (in 128 bits) rounded half up to `DECIMAL(precision, scale)`;
    /// `None` if it does not fit, `Some(None)` if 128 bits do not suffice for the rescale.
    fn fit_128(value: i128, from_scale: u32, precision: u8, scale: u8) -> Option<Option<Decimal>> {
        if precision == 0 || precision > MAX_PRECISION || scale > precision {
            return Some(None);
        }
        let to = scale as u32;
        let v = if to >= from_scale {
            let up = to - from_scale;
            if up > 38 {
                return None;
            }
            value.checked_mul(POW10[up as usize])?
        } else {
            let down = from_scale - to;
            if down > 38 {
                return None;
            }
            div_half_up_128(value, POW10[down as usize])
        };
        Some((v.unsigned_abs() < POW10[precision as usize] as u128).then(|| Decimal::from_parts(v, precision, scale)))
    }

    /// The type's precision.
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// The type's scale.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// `value / 10^from_scale` rounded half up to `DECIMAL(precision, scale)`; `None` if it does
    /// not fit.
    fn fit(value: I256, from_scale: u32, precision: u8, scale: u8) -> Option<Decimal> {
        if let Ok(v) = i128::try_from(value)
            && let Some(fitted) = Decimal::fit_128(v, from_scale, precision, scale)
        {
            return fitted;
        }
        if precision == 0 || precision > MAX_PRECISION || scale > precision {
            return None;
        }
        let to = scale as u32;
        let v = if to >= from_scale {
            value.checked_mul(pow10(to - from_scale))?
        } else {
            div_half_up(value, pow10(from_scale - to))
        };
        if v.unsigned_abs() >= pow10(precision as u32).unsigned_abs() {
            return None;
        }
        Some(Decimal::from_parts(v.as_i128(), precision, scale))
    }

    /// Parses `[+-]digits[.digits][e[+-]digits]` (surrounding spaces allowed) into
    /// `DECIMAL(precision, scale)`, rounding half up; `None` if it is not a number or does not fit.
    pub fn parse(text: &str, precision: u8, scale: u8) -> Option<Decimal> {
        let t = text.trim();
        let (negative, t) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match t.find(['e', 'E']) {
            Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 76 {
            return None;
        }
        let mut value = if digits.is_empty() { I256::ZERO } else { digits.parse::<I256>().ok()? };
        if negative {
            value = -value;
        }
        let value_scale = frac.len() as i64 - exponent as i64;
        if value_scale < 0 {
            let up = u32::try_from(-value_scale).ok().filter(|e| *e <= 76)?;
            return Decimal::fit(value.checked_mul(pow10(up))?, 0, precision, scale);
        }
        if value_scale > 152 {
            return Decimal::new(0, precision, scale);
        }
        Decimal::fit(value, value_scale as u32, precision, scale)
    }

    /// This value as `DECIMAL(precision, scale)` (`CAST`), rounded half up; `None` if it does not fit.
    pub fn rescale(self, precision: u8, scale: u8) -> Option<Decimal> {
        match Decimal::fit_128(self.unscaled(), self.scale as u32, precision, scale) {
            Some(fitted) => fitted,
            None => Decimal::fit(self.wide(), self.scale as u32, precision, scale),
        }
    }

    fn wide(self) -> I256 {
        I256::from(self.unscaled())
    }

    /// Both values' digits at the larger scale, and that scale.
    fn aligned(self, other: Decimal) -> (I256, I256, u32) {
        let s = self.scale.max(other.scale) as u32;
        (self.wide() * pow10(s - self.scale as u32), other.wide() * pow10(s - other.scale as u32), s)
    }

    /// `self op other` (`negate`: minus) in 128 bits, if it fits, as `DECIMAL(precision, scale)`.
    fn add_128(self, other: Decimal, negate: bool, precision: u8, scale: u8) -> Option<Option<Decimal>> {
        let s = self.scale.max(other.scale);
        let a = self.unscaled().checked_mul(POW10[(s - self.scale) as usize])?;
        let b = other.unscaled().checked_mul(POW10[(s - other.scale) as usize])?;
        let sum = if negate { a.checked_sub(b)? } else { a.checked_add(b)? };
        Decimal::fit_128(sum, s as u32, precision, scale)
    }

    /// `self + other` as `DECIMAL(precision, scale)`.
    pub fn add(self, other: Decimal, precision: u8, scale: u8) -> Option<Decimal> {
        if let Some(fitted) = self.add_128(other, false, precision, scale) {
            return fitted;
        }
        let (a, b, s) = self.aligned(other);
        Decimal::fit(a + b, s, precision, scale)
    }

    /// `self - other` as `DECIMAL(precision, scale)`.
    pub fn sub(self, other: Decimal, precision: u8, scale: u8) -> Option<Decimal> {
        if let Some(fitted) = self.add_128(other, true, precision, scale) {
            return fitted;
        }
        let (a, b, s) = self.aligned(other);
        Decimal::fit(a - b, s, precision, scale)
    }

    /// `self * other` as `DECIMAL(precision, scale)`.
    pub fn mul(self, other: Decimal, precision: u8, scale: u8) -> Option<Decimal> {
        let from_scale = self.scale as u32 + other.scale as u32;
        if let Some(product) = self.unscaled().checked_mul(other.unscaled())
            && let Some(fitted) = Decimal::fit_128(product, from_scale, precision, scale)
        {
            return fitted;
        }
        Decimal::fit(self.wide() * other.wide(), from_scale, precision, scale)
    }

    /// `self / other` as `DECIMAL(precision, scale)`, rounded half up (`Ok(None)`: it does not
    /// fit); an error for a zero divisor, which fails the job in Flink.
    pub fn div(self, other: Decimal, precision: u8, scale: u8) -> Result<Option<Decimal>, DivisionByZero> {
        if other.unscaled() == 0 {
            return Err(DivisionByZero);
        }
        // unscaled result = self * 10^(scale - s1 + s2) / other
        let e = scale as i64 - self.scale as i64 + other.scale as i64;
        let (n, d) = if e >= 0 {
            (self.wide().checked_mul(pow10(e as u32)), Some(other.wide()))
        } else {
            (Some(self.wide()), other.wide().checked_mul(pow10((-e) as u32)))
        };
        Ok(n.zip(d).and_then(|(n, d)| Decimal::fit(div_half_up(n, d), scale as u32, precision, scale)))
    }

    /// `MOD(self, other)`: the remainder with the dividend's sign; an error for a zero divisor.
    pub fn rem(self, other: Decimal, precision: u8, scale: u8) -> Result<Option<Decimal>, DivisionByZero> {
        if other.unscaled() == 0 {
            return Err(DivisionByZero);
        }
        let (a, b, s) = self.aligned(other);
        Ok(Decimal::fit(a % b, s, precision, scale))
    }

    /// As `DOUBLE`, correctly rounded.
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The integer part (`CAST` to an integer type truncates toward zero).
    pub fn trunc(self) -> i128 {
        self.unscaled() / POW10[self.scale as usize]
    }
}

/// Plain notation with exactly `scale` fraction digits, as Flink prints a decimal.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.unscaled().unsigned_abs().to_string();
        let scale = self.scale as usize;
        let sign = if self.unscaled() < 0 { "-" } else { "" };
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}
