//! Functions a binary registers for SQL (`CREATE FUNCTION f AS 'identifier'` binds a SQL name to
//! one): Rust functions over SQL values with a declared signature. The compiler casts each
//! argument to its declared type (as Flink casts to a UDF's `eval` parameters) and the function
//! gets NULLs as they are.

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
        write!(f, "{}(", self.identifier)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{a}")?;
        }
        write!(f, ") -> {}", self.result)
    }
}

/// The functions of a binary, by identifier.
#[derive(Clone, Debug, Default)]
pub struct Udfs {
    scalars: BTreeMap<String, ScalarUdf>,
}

impl Udfs {
    /// Adds scalar function `identifier` of `args` to `result`.
    ///
    /// # Panics
    /// When `identifier` is registered already.
    pub fn scalar(
        mut self,
        identifier: &str,
        args: &[DataType],
        result: DataType,
        body: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Udfs {
        assert!(!self.scalars.contains_key(identifier), "the function '{identifier}' is registered twice");
        let udf = ScalarUdf { identifier: identifier.to_string(), args: args.to_vec(), result, body: Arc::new(body) };
        self.scalars.insert(identifier.to_string(), udf);
        self
    }

    /// The function registered as `identifier`.
    pub fn get(&self, identifier: &str) -> Option<&ScalarUdf> {
        self.scalars.get(identifier)
    }

    /// The identifiers registered, comma-separated (for messages).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.scalars.keys().map(String::as_str).collect();
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    }
}
