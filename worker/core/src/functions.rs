//! User-function traits shared by the API, the window operators and the state layer.

use crate::error::{Error, Result};
use crate::record::Data;

/// An incremental aggregation (Flink's `AggregateFunction`): values are added to an accumulator
/// one at a time; accumulators can be merged (session windows, window slices); the result is
/// derived from the accumulator. A function over a changelog also retracts values (optional).
pub trait AggregateFunction<In>: Clone + Send + Sync + 'static {
    /// The accumulator.
    type Acc: Data;
    /// The result.
    type Out: Data;
    /// A fresh accumulator.
    fn create_accumulator(&self) -> Self::Acc;
    /// Adds a value.
    fn add(&self, value: In, acc: &mut Self::Acc);
    /// The result of an accumulator.
    fn get_result(&self, acc: &Self::Acc) -> Self::Out;
    /// Merges `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// Removes a value added before (an update's old row or a deletion in a changelog). A function
    /// that cannot retract keeps this default, an error.
    fn retract(&self, _value: In, _acc: &mut Self::Acc) -> Result<()> {
        Err(Error::InvalidJob(format!(
            "the aggregate function {} cannot retract a value: its input must be insert-only",
            std::any::type_name::<Self>()
        )))
    }
}

/// Counts values.
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl<In> AggregateFunction<In> for Count {
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _value: In, acc: &mut u64) {
        *acc += 1;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn retract(&self, _value: In, acc: &mut u64) -> Result<()> {
        *acc = acc.checked_sub(1).ok_or_else(|| Error::Internal("COUNT retracted a value it never counted".into()))?;
        Ok(())
    }
}
