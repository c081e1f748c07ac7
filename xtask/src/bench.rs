//! `cargo xtask bench extract|schema|post-data|data|migrate|online`: build pgmove and the bench binaries in release mode,
//! then run the benchmark (`benches/src/bin/pgmove-bench.rs`), passing the remaining arguments.

use crate::sh;
use anyhow::Result;
use std::ffi::OsString;

pub fn run(bench: &str, args: &[OsString]) -> Result<()> {
    sh::run(sh::cargo().current_dir(sh::repo_root()).args([
        "build",
        "--release",
        "-p",
        "pgmove-benches",
        "-p",
        "pgmove-cli",
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| sh::repo_root().join("target"));
    let exe = target.join("release").join("pgmove-bench");
    sh::run(std::process::Command::new(exe).arg(bench).args(args))
}
