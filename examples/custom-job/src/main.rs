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
//! JobManager and TaskManagers of a job must all run this binary (an image built from this crate):
//! a stock `ferroflink` TaskManager does not know `length-count` and refuses it.

mod length_count;

use ferroflink::cli::{self, Registry};

/// Batches are allocated on one task thread and freed on another; mimalloc handles that
/// cross-thread pattern far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let registry = Registry::with_builtins().job(
        "length-count",
        "count the words of each length in a file or directory: --input <path> [--output <dir>]",
        length_count::build,
    );
    cli::main(registry)
}
