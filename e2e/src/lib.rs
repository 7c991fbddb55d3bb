//! End-to-end tests live in `tests/`; they run the `ferroflink` binary built by Cargo.
