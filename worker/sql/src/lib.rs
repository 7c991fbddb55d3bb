//! Flink SQL for ferroflink. This crate holds the dialect: a script's statements (Flink's DDL,
//! `SET`/`RESET`, `INSERT`, statement sets, `EXPLAIN`, queries) and Flink's data types, parsed on
//! sqlparser's tokenizer and expression parser, with errors located by line and column; and the
//! session those statements change (catalog and options). The planner that turns a session's jobs
//! into job graphs builds on it.

pub mod agg;
pub mod ast;
pub mod connectors;
pub mod decimal;
pub mod error;
pub mod expr;
pub mod format;
pub mod functions;
pub mod join;
pub mod parser;
pub mod planner;
pub mod session;
pub mod spill;
pub mod typing;
pub mod udf;
pub mod value;

pub use error::SqlError;
pub use parser::{FlinkDialect, parse_script, parse_statement, parse_type};
pub use session::{Effect, Session};
