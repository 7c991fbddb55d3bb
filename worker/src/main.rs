//! The `ferroflink` binary: the command line with the built-in jobs.

/// Batches are allocated on one task thread and freed on another; mimalloc handles that
/// cross-thread pattern far better than glibc's malloc (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    ferroflink::cli::main(ferroflink::cli::Registry::with_builtins())
}
