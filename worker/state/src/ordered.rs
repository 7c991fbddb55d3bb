//! Keys whose bytes sort as their values: map state iterates in the byte order of its serialized
//! user keys, so a map keyed by an [`OrderedKey`] iterates in value order (top-N, retractable
//! MIN/MAX, interval joins).
//!
//! Encoding (memcomparable, prefix-free): integers big endian with the sign bit flipped; floats
//! as their IEEE bits, all flipped when negative, the sign bit flipped when positive (so -0.0 <
//! 0.0 and NaN sorts last); booleans one byte; byte strings with `0x00` escaped as `0x00 0xff` and
//! `0x00 0x01` at the end; `None` as `0x00`, `Some(v)` as `0x01` and `v`. A descending component
//! has all its bytes inverted. An [`OrderedKey`] serializes as its bytes and a terminator in the
//! engine codec, so the serialized key sorts as the key.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A value with an order-preserving encoding.
pub trait ToOrdered {
    /// Appends the encoding of `self` to `out`.
    fn write_ordered(&self, out: &mut Vec<u8>);
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl ToOrdered for $t {
            fn write_ordered(&self, out: &mut Vec<u8>) {
                let mut bytes = self.to_be_bytes();
                bytes[0] ^= 0x80;
                out.extend_from_slice(&bytes);
            }
        }
    )*};
}
signed!(i8, i16, i32, i64);

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl ToOrdered for $t {
            fn write_ordered(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64);

impl ToOrdered for f64 {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        let bits = if self.is_nan() { f64::NAN.to_bits() & !(1 << 63) } else { self.to_bits() };
        let ordered = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
        out.extend_from_slice(&ordered.to_be_bytes());
    }
}

impl ToOrdered for bool {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl ToOrdered for [u8] {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        for &b in self {
            out.push(b);
            if b == 0 {
                out.push(0xff);
            }
        }
        out.extend_from_slice(&[0, 1]);
    }
}

impl ToOrdered for str {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        self.as_bytes().write_ordered(out);
    }
}

impl ToOrdered for String {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        self.as_str().write_ordered(out);
    }
}

impl<T: ToOrdered> ToOrdered for Option<T> {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.write_ordered(out);
            }
        }
    }
}

impl<A: ToOrdered, B: ToOrdered> ToOrdered for (A, B) {
    fn write_ordered(&self, out: &mut Vec<u8>) {
        self.0.write_ordered(out);
        self.1.write_ordered(out);
    }
}

/// Bytes that sort as the values they encode, built from ascending and descending components.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderedKey(Vec<u8>);

impl OrderedKey {
    /// The key of one value.
    pub fn of<T: ToOrdered + ?Sized>(value: &T) -> Self {
        OrderedKey::default().asc(value)
    }

    /// Appends an ascending component.
    pub fn asc<T: ToOrdered + ?Sized>(mut self, value: &T) -> Self {
        value.write_ordered(&mut self.0);
        self
    }

    /// Appends a descending component.
    pub fn desc<T: ToOrdered + ?Sized>(mut self, value: &T) -> Self {
        let start = self.0.len();
        value.write_ordered(&mut self.0);
        for b in &mut self.0[start..] {
            *b = !*b;
        }
        self
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Serialized as its bytes, escaped like a byte string (so the serialized form sorts as the key
/// and ends unambiguously), with no length in front.
impl Serialize for OrderedKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut escaped = Vec::with_capacity(self.0.len() + 2);
        self.0.write_ordered(&mut escaped);
        let mut tuple = s.serialize_tuple(escaped.len())?;
        for b in &escaped {
            tuple.serialize_element(b)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for OrderedKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Escaped;
        impl<'de> Visitor<'de> for Escaped {
            type Value = OrderedKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("escaped ordered-key bytes ending in 0x00 0x01")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<OrderedKey, A::Error> {
                let mut bytes = Vec::new();
                let mut next =
                    || seq.next_element::<u8>()?.ok_or_else(|| de::Error::custom("unterminated ordered key"));
                loop {
                    match next()? {
                        0 => match next()? {
                            0xff => bytes.push(0),
                            1 => return Ok(OrderedKey(bytes)),
                            b => return Err(de::Error::custom(format!("bad escape 0x00 0x{b:02x} in an ordered key"))),
                        },
                        b => bytes.push(b),
                    }
                }
            }
        }
        // The length is not known up front: the terminator ends the key.
        d.deserialize_tuple(usize::MAX, Escaped)
    }
}

impl fmt::Display for OrderedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_core::codec::{decode, encode};

    fn sorted_by_bytes<T: Clone + PartialOrd + fmt::Debug>(values: &[T], key: impl Fn(&T) -> OrderedKey) {
        let mut by_value = values.to_vec();
        by_value.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut by_bytes = values.to_vec();
        by_bytes.sort_by_key(|v| encode(&key(v)).unwrap());
        assert_eq!(by_bytes, by_value);
    }

    #[test]
    fn serialized_keys_sort_as_their_values() {
        sorted_by_bytes(&[5i64, -3, 0, i64::MIN, i64::MAX, -1, 1 << 40], OrderedKey::of);
        sorted_by_bytes(&[5i32, -3, 0, i32::MIN, i32::MAX, -1], OrderedKey::of);
        sorted_by_bytes(&[7u64, 0, u64::MAX, 256, 255], OrderedKey::of);
        sorted_by_bytes(&[1.5f64, -0.5, 0.0, -1e300, 1e300, f64::INFINITY, f64::NEG_INFINITY], OrderedKey::of);
        let strings: Vec<String> = ["b", "a", "", "ab", "a\0", "a\0b", "\u{ff}", "aa"].map(String::from).to_vec();
        sorted_by_bytes(&strings, OrderedKey::of);
        sorted_by_bytes(&[Some(3i64), None, Some(-2)], OrderedKey::of);
        // (a ascending, b descending)
        let pairs = [(1i64, 5i64), (1, 9), (0, 0), (2, -1), (1, -3)];
        let mut by_bytes = pairs.to_vec();
        by_bytes.sort_by_key(|&(a, b)| encode(&OrderedKey::default().asc(&a).desc(&b)).unwrap());
        assert_eq!(by_bytes, vec![(0, 0), (1, 9), (1, 5), (1, -3), (2, -1)]);
        for key in [OrderedKey::of("x\0\0y"), OrderedKey::default(), OrderedKey::of(&-7i64)] {
            let bytes = encode(&(key.clone(), 42u8)).unwrap();
            assert_eq!(decode::<(OrderedKey, u8)>(&bytes).unwrap(), (key, 42), "self-delimiting");
        }
        assert!(decode::<OrderedKey>(&[1, 2, 3]).is_err(), "unterminated: an error, not a panic");
    }
}
