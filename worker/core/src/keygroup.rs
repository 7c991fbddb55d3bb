//! Key groups: the unit in which keyed state is partitioned and redistributed.
//!
//! A key's group is `xxHash64(codec bytes of the key, seed 0) mod max_parallelism`, where the codec
//! bytes are the key's postcard encoding ([`crate::codec`]). This is fixed and documented:
//! every process computes the same group for the same key, on every Rust release (unlike `std::hash`).
//! Operator instance `i` of `p` owns the contiguous range of groups `g` with `g * p / max == i`
//! (Flink's assignment), so a change of parallelism moves whole key groups.

use serde::Serialize;
use xxhash_rust::xxh64::xxh64;

/// Default number of key groups (Flink's default for small parallelism).
pub const DEFAULT_MAX_PARALLELISM: usize = 128;

/// Upper bound on the number of key groups.
pub const UPPER_BOUND_MAX_PARALLELISM: usize = 1 << 15;

/// Computes key groups for one max parallelism.
#[derive(Clone, Copy, Debug)]
pub struct KeyGroupAssigner {
    max_parallelism: usize,
}

impl KeyGroupAssigner {
    /// An assigner for `max_parallelism` key groups.
    pub fn new(max_parallelism: usize) -> Self {
        assert!((1..=UPPER_BOUND_MAX_PARALLELISM).contains(&max_parallelism), "max parallelism out of range");
        KeyGroupAssigner { max_parallelism }
    }

    /// The key group of `key`; `scratch` is reused between calls for keys longer than 64 bytes.
    /// Shorter keys are encoded on the stack: a small heap buffer may share its cache line with
    /// records that another thread frees, which made every key's encoding a cache miss.
    #[inline]
    pub fn key_group<K: Serialize + ?Sized>(&self, key: &K, scratch: &mut Vec<u8>) -> usize {
        let mut stack = [0u8; 64];
        if let Ok(bytes) = postcard::to_slice(key, &mut stack) {
            return key_group_for_bytes(bytes, self.max_parallelism);
        }
        scratch.clear();
        crate::codec::encode_into(key, scratch).expect("keys encode into memory");
        key_group_for_bytes(scratch, self.max_parallelism)
    }
}

/// The key group of a key's codec bytes.
#[inline]
pub fn key_group_for_bytes(bytes: &[u8], max_parallelism: usize) -> usize {
    (xxh64(bytes, 0) % max_parallelism as u64) as usize
}

/// The operator instance that owns key group `key_group`.
#[inline]
pub fn operator_index_for_key_group(max_parallelism: usize, parallelism: usize, key_group: usize) -> usize {
    key_group * parallelism / max_parallelism
}

/// An inclusive range of key groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KeyGroupRange {
    /// First group.
    pub start: usize,
    /// Last group (inclusive); `start > end` means empty.
    pub end: usize,
}

impl KeyGroupRange {
    /// The groups owned by instance `index` of `parallelism`.
    pub fn for_operator(max_parallelism: usize, parallelism: usize, index: usize) -> Self {
        assert!(parallelism >= 1 && parallelism <= max_parallelism && index < parallelism);
        let start = (index * max_parallelism).div_ceil(parallelism);
        let end = ((index + 1) * max_parallelism - 1) / parallelism;
        KeyGroupRange { start, end }
    }

    /// Whether `group` is in the range.
    pub fn contains(&self, group: usize) -> bool {
        (self.start..=self.end).contains(&group)
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        (self.end + 1).saturating_sub(self.start)
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_partition_all_groups_and_match_assignment() {
        for max in [1usize, 7, 128, 1000] {
            for p in 1..=max.min(13) {
                let mut next = 0;
                for i in 0..p {
                    let r = KeyGroupRange::for_operator(max, p, i);
                    assert_eq!(r.start, next);
                    for g in r.start..=r.end {
                        assert_eq!(operator_index_for_key_group(max, p, g), i);
                    }
                    next = r.end + 1;
                }
                assert_eq!(next, max);
            }
        }
    }

    #[test]
    fn key_groups_are_fixed_values() {
        // Pinned: a change here breaks every savepoint ever written.
        let a = KeyGroupAssigner::new(128);
        let mut s = Vec::new();
        assert_eq!(a.key_group(&42u64, &mut s), key_group_for_bytes(&[42], 128));
        assert_eq!(a.key_group("auction", &mut s), key_group_for_bytes(b"\x07auction", 128));
        assert_eq!(key_group_for_bytes(&[42], 128), (xxh64(&[42], 0) % 128) as usize);
        assert_eq!(xxh64(b"", 0), 0xEF46DB3751D8E999);
    }
}
