//! `custom-job`: the template of a crate with your own jobs. Its binary is the whole `ferroflink`
//! command line (run, jobs, jobmanager, taskmanager, submit, list, cancel, savepoint, stop, ...)
//! with one more job, `length-count`, registered beside the built-in ones:
//!
//! ```sh
//! custom-job run length-count --input worker/data/hamlet.txt
//! custom-job jobmanager --job length-count --input /data --output /out   # application mode
//! custom-job submit --jobmanager http://localhost:8081 length-count --input /data --output /out -p 2
//! ```
//!
//! It registers SQL functions too, which a script binds to names of its own: a scalar one,
//! `com.example.Rot13` (ROT13 of a `STRING`), and an aggregate one, `com.example.WeightedAvg`
//! (the average of a `BIGINT` weighted by an `INT`):
//!
//! ```sh
//! custom-job sql -e "CREATE FUNCTION rot13 AS 'com.example.Rot13'; CREATE TABLE t (w STRING) WITH (..); SELECT rot13(w) FROM t;"
//! custom-job sql -e "CREATE FUNCTION wavg AS 'com.example.WeightedAvg'; ..; SELECT k, wavg(v, w) FROM t GROUP BY k;"
//! ```
//!
//! JobManager and TaskManagers of a job must all run this binary (an image built from this crate):
//! a stock `ferroflink` TaskManager does not know `length-count` and refuses it.

mod length_count;

use ferroflink::cli::{self, Registry};
use ferroflink::sql::ast::{DataType, MAX_LENGTH};
use ferroflink::sql::udf::UserAggregate;
use ferroflink::sql::value::Value;

/// Batches are allocated on one task thread and freed on another; mimalloc handles that
/// cross-thread pattern far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let registry = Registry::with_builtins()
        .job(
            "length-count",
            "count the words of each length in a file or directory: --input <path> [--output <dir>]",
            length_count::build,
        )
        .function("com.example.Rot13", &[DataType::VarChar(MAX_LENGTH)], DataType::VarChar(MAX_LENGTH), rot13)
        .aggregate_function(
            "com.example.WeightedAvg",
            &[DataType::BigInt, DataType::Int],
            DataType::Double,
            WeightedAvg,
        );
    cli::main(registry)
}

/// ROT13 of a `STRING` (NULL stays NULL): each ASCII letter 13 places on in the alphabet.
fn rot13(args: &[Value]) -> Result<Value, String> {
    Ok(match &args[0] {
        Value::String(s) => Value::String(
            s.chars()
                .map(|c| match c {
                    'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
                    'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
                    c => c,
                })
                .collect(),
        ),
        _ => Value::Null,
    })
}

/// The average of `value` weighted by `weight` (rows with a NULL in either are skipped; NULL for
/// no weight). Its accumulator is `ROW(sum of value * weight, sum of weights)`.
struct WeightedAvg;

impl WeightedAvg {
    /// The accumulator's two sums.
    fn sums(acc: &mut Value) -> Result<(&mut i64, &mut i64), String> {
        if let Value::Row(sums) = acc
            && let [Value::BigInt(product), Value::BigInt(weight)] = sums.as_mut_slice()
        {
            return Ok((product, weight));
        }
        Err("the accumulator is not ROW(BIGINT, BIGINT)".into())
    }

    /// Adds the row's product and weight to the sums `sign` times.
    fn add(acc: &mut Value, args: &[Value], sign: i64) -> Result<(), String> {
        if let (Value::BigInt(v), Value::Int(w)) = (&args[0], &args[1]) {
            let (product, weight) = Self::sums(acc)?;
            *product += sign * v * i64::from(*w);
            *weight += sign * i64::from(*w);
        }
        Ok(())
    }
}

impl UserAggregate for WeightedAvg {
    fn create_accumulator(&self) -> Value {
        Value::Row(vec![Value::BigInt(0), Value::BigInt(0)])
    }

    fn accumulate(&self, acc: &mut Value, args: &[Value]) -> Result<(), String> {
        Self::add(acc, args, 1)
    }

    fn can_retract(&self) -> bool {
        true
    }

    fn retract(&self, acc: &mut Value, args: &[Value]) -> Result<(), String> {
        Self::add(acc, args, -1)
    }

    fn can_merge(&self) -> bool {
        true
    }

    fn merge(&self, acc: &mut Value, mut other: Value) -> Result<(), String> {
        let (p, w) = Self::sums(&mut other)?;
        let (product, weight) = Self::sums(acc)?;
        *product += *p;
        *weight += *w;
        Ok(())
    }

    fn get_value(&self, acc: &Value) -> Result<Value, String> {
        let mut acc = acc.clone();
        let (product, weight) = Self::sums(&mut acc)?;
        Ok(if *weight == 0 { Value::Null } else { Value::Double(*product as f64 / *weight as f64) })
    }
}
