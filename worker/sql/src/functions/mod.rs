//! Flink's built-in scalar functions, with Flink's semantics, as plain Rust functions the
//! expression evaluator calls.

pub mod cast;
pub mod datetime;
pub mod json;
pub mod numeric;
pub mod string;
pub mod timezone;
