//! Functions a binary registers for SQL (`CREATE FUNCTION f AS 'identifier'` binds a SQL name to
//! one): scalar functions and aggregate functions over SQL values with a declared signature. The
//! compiler casts each argument to its declared type (as Flink casts to a UDF's `eval` and
//! `accumulate` parameters) and the function gets NULLs as they are.

use crate::ast::DataType;
use crate::value::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The body of a scalar function: its result for the arguments, or why there is none (which
/// fails the job).
pub type ScalarFn = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// A registered scalar function.
#[derive(Clone)]
pub struct ScalarUdf {
    /// The identifier `CREATE FUNCTION .. AS '<identifier>'` names it by (Flink: a class name).
    pub identifier: String,
    /// The types of its arguments.
    pub args: Vec<DataType>,
    /// The type of its result.
    pub result: DataType,
    /// What it computes.
    pub body: ScalarFn,
}

impl fmt::Debug for ScalarUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        signature(f, &self.identifier, &self.args, &self.result)
    }
}

/// The body of an aggregate function (Flink's `AggregateFunction`): its accumulator is a SQL
/// value (a `ROW` or an `ARRAY` when it needs several), kept in the operator's state and in
/// checkpoints. An error fails the job.
pub trait UserAggregate: Send + Sync + 'static {
    /// A fresh accumulator.
    fn create_accumulator(&self) -> Value;
    /// Adds a row's arguments to `acc`.
    fn accumulate(&self, acc: &mut Value, args: &[Value]) -> Result<(), String>;
    /// Whether [`retract`](Self::retract) works: only then can the function aggregate a changelog
    /// (the input of a `GROUP BY` over a join or another aggregate).
    fn can_retract(&self) -> bool {
        false
    }
    /// Removes a row's arguments from `acc`.
    fn retract(&self, _acc: &mut Value, _args: &[Value]) -> Result<(), String> {
        Err("it cannot retract".into())
    }
    /// Whether [`merge`](Self::merge) works: only then can the function aggregate `HOP` (size
    /// not its slide), `CUMULATE` (size not its step) and `SESSION` windows, whose results
    /// merge the accumulators of parts of a window.
    fn can_merge(&self) -> bool {
        false
    }
    /// Folds `other` into `acc`.
    fn merge(&self, _acc: &mut Value, _other: Value) -> Result<(), String> {
        Err("it cannot merge".into())
    }
    /// The result for `acc`.
    fn get_value(&self, acc: &Value) -> Result<Value, String>;
}

/// A registered aggregate function.
#[derive(Clone)]
pub struct AggregateUdf {
    /// The identifier `CREATE FUNCTION .. AS '<identifier>'` names it by (Flink: a class name).
    pub identifier: String,
    /// The types of its arguments.
    pub args: Vec<DataType>,
    /// The type of its result.
    pub result: DataType,
    /// What it computes.
    pub function: Arc<dyn UserAggregate>,
}

impl fmt::Debug for AggregateUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        signature(f, &self.identifier, &self.args, &self.result)
    }
}

fn signature(f: &mut fmt::Formatter<'_>, identifier: &str, args: &[DataType], result: &DataType) -> fmt::Result {
    write!(f, "{identifier}(")?;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{a}")?;
    }
    write!(f, ") -> {result}")
}

/// A registered function.
#[derive(Clone, Debug)]
pub enum Udf {
    /// A scalar function.
    Scalar(ScalarUdf),
    /// An aggregate function.
    Aggregate(AggregateUdf),
}

/// The functions of a binary, by identifier.
#[derive(Clone, Debug, Default)]
pub struct Udfs {
    functions: BTreeMap<String, Udf>,
}

impl Udfs {
    /// Adds scalar function `identifier` of `args` to `result`.
    ///
    /// # Panics
    /// When `identifier` is registered already.
    pub fn scalar(
        self,
        identifier: &str,
        args: &[DataType],
        result: DataType,
        body: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Udfs {
        let udf = ScalarUdf { identifier: identifier.to_string(), args: args.to_vec(), result, body: Arc::new(body) };
        self.add(identifier, Udf::Scalar(udf))
    }

    /// Adds aggregate function `identifier` of `args` to `result`.
    ///
    /// # Panics
    /// When `identifier` is registered already.
    pub fn aggregate(
        self,
        identifier: &str,
        args: &[DataType],
        result: DataType,
        function: impl UserAggregate,
    ) -> Udfs {
        let udf = AggregateUdf {
            identifier: identifier.to_string(),
            args: args.to_vec(),
            result,
            function: Arc::new(function),
        };
        self.add(identifier, Udf::Aggregate(udf))
    }

    fn add(mut self, identifier: &str, udf: Udf) -> Udfs {
        assert!(!self.functions.contains_key(identifier), "the function '{identifier}' is registered twice");
        self.functions.insert(identifier.to_string(), udf);
        self
    }

    /// The function registered as `identifier`.
    pub fn get(&self, identifier: &str) -> Option<&Udf> {
        self.functions.get(identifier)
    }

    /// The identifiers registered, comma-separated (for messages).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.functions.keys().map(String::as_str).collect();
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    }
}
