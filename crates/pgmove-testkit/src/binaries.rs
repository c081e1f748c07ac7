//! Where PostgreSQL binaries live: Debian's 15, and the cache `cargo xtask pg fetch` fills.
//!
//! Layout of the cache (outside the repository): `<cache>/pg/<major>/bin/{initdb,pg_ctl,postgres}`
//! for servers, `<cache>/pgtools18/bin/{pg_dump,psql,pg_restore}` for the version-18 clients that
//! read every server from 9.2 on.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

const DEBIAN_15: &str = "/usr/lib/postgresql/15/bin";

/// The cache root: `$PGMOVE_PG_CACHE`, else `/var/cache/pgmove` for root (whose home other
/// users cannot enter, and the server runs as `nobody`), else `~/.cache/pgmove`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PGMOVE_PG_CACHE") {
        return PathBuf::from(p);
    }
    if super::running_as_root() {
        return PathBuf::from("/var/cache/pgmove");
    }
    match std::env::var_os("HOME") {
        Some(h) => Path::new(&h).join(".cache/pgmove"),
        None => PathBuf::from("/tmp/pgmove-cache"),
    }
}

/// The server binaries of `major`.
pub fn bin_dir(major: u32) -> Result<PathBuf> {
    let cached = cache_dir().join("pg").join(major.to_string()).join("bin");
    if cached.join("postgres").exists() {
        return Ok(cached);
    }
    if major == 15 && Path::new(DEBIAN_15).join("postgres").exists() {
        return Ok(PathBuf::from(DEBIAN_15));
    }
    bail!(
        "no PostgreSQL {major} binaries in {}: run `cargo xtask pg fetch {major}`",
        cached.display()
    )
}

/// pg_dump/psql/pg_restore to use: the 18 clients from the cache when present (they read any
/// server), else Debian's 15.
pub fn client_bin_dir() -> Result<PathBuf> {
    let cached = cache_dir().join("pgtools18").join("bin");
    if cached.join("pg_dump").exists() {
        return Ok(cached);
    }
    if Path::new(DEBIAN_15).join("pg_dump").exists() {
        return Ok(PathBuf::from(DEBIAN_15));
    }
    bail!("no pg_dump/psql: run `cargo xtask pg fetch tools`")
}

/// Source→target major pairs the end-to-end tests run, from `PGMOVE_TEST_PAIRS`
/// (`"15:15,10:15,15:18,18:18"`); default `15:15`, which needs nothing fetched.
pub fn test_pairs() -> Vec<(u32, u32)> {
    let spec = std::env::var("PGMOVE_TEST_PAIRS").unwrap_or_else(|_| "15:15".into());
    spec.split(',')
        .filter_map(|p| {
            let (s, t) = p.trim().split_once(':')?;
            Some((s.trim().parse().ok()?, t.trim().parse().ok()?))
        })
        .collect()
}
