//! Where the peers' binaries are: PostgreSQL's clients of the server's own major and
//! `pgcopydb`. Finding only: nothing here runs a tool.

use anyhow::Result;
use pgmove_testkit::{client_bin_dir, Cluster};
use std::ffi::OsString;
use std::path::PathBuf;

/// A PostgreSQL client binary: the server's own when it has it (pg_dump 18 writes settings
/// older servers reject), else the tools the tests use.
pub fn client(cluster: &Cluster, name: &str) -> Result<PathBuf> {
    let own = cluster.bin_dir().join(name);
    if own.exists() {
        return Ok(own);
    }
    Ok(client_bin_dir()?.join(name))
}

/// `pgcopydb` on `PATH` or in a Debian PostgreSQL directory, if installed.
pub fn pgcopydb() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("pgcopydb"))
            .find(|p| p.exists())
    });
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin/pgcopydb"))
            .find(|p| p.exists())
    })
}

/// A `PATH` with the server's own binaries first: pgcopydb runs the `pg_dump` and
/// `pg_restore` it finds there, and they should be of the server's major.
pub fn path_with_server_bins(cluster: &Cluster) -> OsString {
    let mut dirs = vec![cluster.bin_dir().to_path_buf()];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}
