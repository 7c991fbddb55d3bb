//! Errors in SQL text, located by line and column.

use sqlparser::parser::ParserError;
use sqlparser::tokenizer::Location;

/// An error in a script: where (1-based line and column) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SQL error at line {line}, column {column}: {message}")]
pub struct SqlError {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1, in characters.
    pub column: u64,
    /// What is wrong, and what to do where that is known.
    pub message: String,
}

impl SqlError {
    /// An error at `at`.
    pub fn at(at: Location, message: impl Into<String>) -> SqlError {
        SqlError { line: at.line, column: at.column, message: message.into() }
    }

    /// An error of sqlparser's: its message carries the location as " at Line: L, Column: C",
    /// which becomes ours; without one (the end of the text), `fallback` is used.
    pub(crate) fn from_parser(e: ParserError, fallback: Location) -> SqlError {
        let text = match e {
            ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
            ParserError::RecursionLimitExceeded => {
                "the statement nests too deeply (more than the parser's recursion limit)".to_string()
            }
        };
        if let Some(i) = text.rfind(" at Line: ") {
            let mut numbers = text[i + " at Line: ".len()..].split(", Column: ").map(|n| n.trim().parse::<u64>());
            if let (Some(Ok(line)), Some(Ok(column))) = (numbers.next(), numbers.next())
                && line > 0
            {
                return SqlError { line, column, message: text[..i].to_string() };
            }
            return SqlError::at(fallback, &text[..i]);
        }
        SqlError::at(fallback, text)
    }
}
