//! End-to-end tests live in `tests/`; they run the `ferroflink` binary built by Cargo. This crate
//! holds what they share.

use std::path::PathBuf;
use std::process::Command;

/// The `ferroflink` binary of this build (next to the test executables), built first if needed.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps");
    let bin = dir.join("ferroflink");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "ferroflink", "--bin", "ferroflink"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the ferroflink binary failed");
    }
    bin
}
