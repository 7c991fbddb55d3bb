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
//! It registers a SQL function too, `com.example.Rot13` (ROT13 of a `STRING`), which a script
//! binds to a name of its own:
//!
//! ```sh
//! custom-job sql -e "CREATE FUNCTION rot13 AS 'com.example.Rot13'; CREATE TABLE t (w STRING) WITH (..); SELECT rot13(w) FROM t;"
//! ```
//!
//! JobManager and TaskManagers of a job must all run this binary (an image built from this crate):
//! a stock `ferroflink` TaskManager does not know `length-count` and refuses it.

mod length_count;

use ferroflink::cli::{self, Registry};
use ferroflink::sql::ast::{DataType, MAX_LENGTH};
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
        .function("com.example.Rot13", &[DataType::VarChar(MAX_LENGTH)], DataType::VarChar(MAX_LENGTH), rot13);
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
