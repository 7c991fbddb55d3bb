//! A deterministic generator source: element `i` is `f(i)`, for `i` in `0..count` (bounded) or
//! forever (unbounded). Splits are strided (`split k` of `n` makes `k, k+n, k+2n, ...`), so the set
//! of elements does not depend on the parallelism. With a rate, readers share it and sleep when ahead.
//! [`mix`] turns (seed, index) into well-spread random bits, for seeded data.

use ferroflink_core::error::Result;
use ferroflink_core::record::{Data, NO_TIMESTAMP, Record, Timestamp};
use ferroflink_runtime::source::{
    Boundedness, FixedSplits, Polled, ReaderStatus, Source, SourceReader, SourceSplit, SplitEnumerator,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// SplitMix64 of `seed` and `index`: the same value on every machine and release.
#[inline]
pub fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A strided range of indices and the next one to produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorSplit {
    /// Next index.
    pub next: u64,
    /// Distance between indices.
    pub stride: u64,
}

impl SourceSplit for GeneratorSplit {
    fn split_id(&self) -> String {
        format!("{}/{}", self.next % self.stride.max(1), self.stride)
    }
}

type GenFn<T> = Arc<dyn Fn(u64) -> T + Send + Sync>;
type TsFn<T> = Arc<dyn Fn(&T) -> Timestamp + Send + Sync>;

/// See the module documentation.
pub struct GeneratorSource<T> {
    count: Option<u64>,
    rate: Option<f64>,
    f: GenFn<T>,
    timestamp: Option<TsFn<T>>,
}

impl<T: Data> GeneratorSource<T> {
    /// `count` elements (`None`: unbounded), element `i` being `f(i)`.
    pub fn new(count: Option<u64>, f: impl Fn(u64) -> T + Send + Sync + 'static) -> Self {
        GeneratorSource { count, rate: None, f: Arc::new(f), timestamp: None }
    }

    /// At most `per_second` elements per second over all readers.
    pub fn with_rate(mut self, per_second: f64) -> Self {
        self.rate = (per_second > 0.0).then_some(per_second);
        self
    }

    /// Gives records this event timestamp.
    pub fn with_timestamps(mut self, f: impl Fn(&T) -> Timestamp + Send + Sync + 'static) -> Self {
        self.timestamp = Some(Arc::new(f));
        self
    }
}

impl<T: Data> Source<T> for GeneratorSource<T> {
    type Split = GeneratorSplit;

    fn boundedness(&self) -> Boundedness {
        if self.count.is_some() { Boundedness::Bounded } else { Boundedness::Unbounded }
    }

    /// One stride per reader: split `k` of `n` makes `k, k + n, k + 2n, ...`, read by reader `k`
    /// only (a reader that went on to another stride would go back in time).
    fn create_enumerator(
        &self,
        parallelism: usize,
        restored: Option<&[u8]>,
    ) -> Result<Box<dyn SplitEnumerator<GeneratorSplit>>> {
        let n = parallelism.max(1) as u64;
        FixedSplits::owned(restored, parallelism, || {
            Ok((0..n).map(|k| GeneratorSplit { next: k, stride: n }).collect())
        })
    }

    fn create_reader(&self) -> Result<Box<dyn SourceReader<T, GeneratorSplit>>> {
        Ok(Box::new(GeneratorReader {
            count: self.count,
            rate: self.rate,
            f: self.f.clone(),
            timestamp: self.timestamp.clone(),
            splits: Vec::new(),
            started: None,
            produced: 0,
            share: 1.0,
        }))
    }
}

struct GeneratorReader<T> {
    count: Option<u64>,
    rate: Option<f64>,
    f: GenFn<T>,
    timestamp: Option<TsFn<T>>,
    splits: Vec<GeneratorSplit>,
    started: Option<Instant>,
    produced: u64,
    share: f64,
}

impl<T: Data> SourceReader<T, GeneratorSplit> for GeneratorReader<T> {
    fn add_split(&mut self, split: GeneratorSplit) -> Result<()> {
        self.splits.push(split);
        self.share = self.splits.iter().map(|s| 1.0 / s.stride.max(1) as f64).sum();
        Ok(())
    }

    fn poll_next(&mut self, out: &mut Vec<Record<T>>, max: usize) -> Result<Polled> {
        let mut budget = max as u64;
        if let Some(rate) = self.rate {
            let started = *self.started.get_or_insert_with(Instant::now);
            let allowed = (started.elapsed().as_secs_f64() * rate * self.share) as u64 + 1;
            if allowed <= self.produced {
                let wait = (self.produced + 1) as f64 / (rate * self.share) - started.elapsed().as_secs_f64();
                let wait = Duration::from_secs_f64(wait.clamp(0.0, 0.1));
                return Ok(Polled::empty(ReaderStatus::NothingAvailable(wait)));
            }
            budget = budget.min(allowed - self.produced);
        }
        // One split per poll: the one furthest behind, up to where the next one is (several
        // splits, after a restore at lower parallelism, advance together in index order).
        let Some((i, split)) = self.splits.iter().enumerate().min_by_key(|(_, s)| s.next) else {
            return Ok(Polled::empty(ReaderStatus::NeedsSplit));
        };
        let id = split.split_id();
        let limit = self.splits.iter().filter(|s| s.next > split.next).map(|s| s.next).min();
        let mut take = match self.count {
            Some(c) => budget.min(c.saturating_sub(split.next).div_ceil(split.stride)),
            None => budget,
        };
        if let Some(limit) = limit {
            take = take.min((limit - split.next).div_ceil(split.stride));
        }
        let split = &mut self.splits[i];
        for _ in 0..take {
            let value = (self.f)(split.next);
            let ts = self.timestamp.as_ref().map_or(NO_TIMESTAMP, |t| t(&value));
            out.push(Record::new(value, ts));
            split.next += split.stride;
        }
        self.produced += take;
        if self.count.is_none_or(|c| split.next < c) {
            return Ok(Polled::records(id, ReaderStatus::MoreAvailable));
        }
        self.splits.remove(i);
        let status = if self.splits.is_empty() { ReaderStatus::NeedsSplit } else { ReaderStatus::MoreAvailable };
        Ok(Polled::last(id, status))
    }

    fn snapshot_splits(&self) -> Vec<GeneratorSplit> {
        self.splits.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_runtime::source::SplitAnswer;

    fn read_all(src: &GeneratorSource<u64>, parallelism: usize) -> Vec<u64> {
        let mut enumerator = src.create_enumerator(parallelism, None).unwrap();
        let mut all = Vec::new();
        for i in 0..parallelism {
            let mut r = src.create_reader().unwrap();
            while let SplitAnswer::Split(s) = enumerator.next_split(i).unwrap() {
                r.add_split(s).unwrap();
                let mut out = Vec::new();
                while r.poll_next(&mut out, 7).unwrap().status != ReaderStatus::NeedsSplit {}
                all.extend(out.into_iter().map(|r| r.value));
            }
        }
        all.sort();
        all
    }

    #[test]
    fn same_elements_at_any_parallelism() {
        let src = GeneratorSource::new(Some(1000), |i| mix(42, i) % 1000);
        let one = read_all(&src, 1);
        assert_eq!(one.len(), 1000);
        assert_eq!(read_all(&src, 3), one);
        assert_eq!(read_all(&src, 8), one);
        assert_ne!(mix(1, 0), mix(2, 0));
    }
}
