//! Where PostgreSQL binaries live: Debian's 15, and the cache `cargo xtask pg fetch` fills.
//!
//! Layout of the cache (outside the repository): `<cache>/pg/<major>/bin/{initdb,pg_ctl,postgres}`
//! for servers (`<major>` as [`Major`] prints it: `9.4`, `15`), with their shared libraries in
//! `<cache>/pg/<major>/lib`, `<cache>/pgtools18/bin/{pg_dump,psql,pg_restore}` for the
//! version-18 clients that read every server from 9.2 on.

use crate::Major;
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
pub fn bin_dir(major: impl Into<Major>) -> Result<PathBuf> {
    let major = major.into();
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

/// The `LD_LIBRARY_PATH` the server binaries in `bin` need: `bin/../lib` for a cached build (the
/// 9.4 and 9.6 builds are linked against their libpq at a prefix that does not exist here), none
/// for Debian's, which finds its libraries itself.
pub fn server_lib_dir(bin: &Path) -> Option<PathBuf> {
    if !bin.starts_with(cache_dir()) {
        return None;
    }
    let lib = bin.parent()?.join("lib");
    lib.is_dir().then_some(lib)
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

/// [`test_pairs`] when `PGMOVE_TEST_PAIRS` is unset: Debian's 15 only, which needs nothing fetched.
pub const DEFAULT_TEST_PAIRS: &str = "15:15";

/// Source→target major pairs the end-to-end tests run, from `PGMOVE_TEST_PAIRS`
/// (`"15:15,10:15,15:18,18:18"`); default [`DEFAULT_TEST_PAIRS`].
///
/// Panics on a malformed spec: a typo must fail the run, not silently test no pair.
pub fn test_pairs() -> Vec<(Major, Major)> {
    let spec = std::env::var("PGMOVE_TEST_PAIRS").unwrap_or_else(|_| DEFAULT_TEST_PAIRS.into());
    parse_pairs(&spec).unwrap_or_else(|e| panic!("PGMOVE_TEST_PAIRS: {e:#}"))
}

/// Parse `"S:T,S:T,…"` (source major, target major, e.g. `9.4:15`) into pairs; blanks around
/// items are ignored.
pub fn parse_pairs(spec: &str) -> Result<Vec<(Major, Major)>> {
    let mut pairs = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let parsed = item
            .split_once(':')
            .and_then(|(s, t)| Some((s.trim().parse().ok()?, t.trim().parse().ok()?)));
        match parsed {
            Some(pair) => pairs.push(pair),
            None => bail!("{item:?} in {spec:?} is not SOURCE:TARGET, e.g. 10:15"),
        }
    }
    if pairs.is_empty() {
        bail!("{spec:?} names no SOURCE:TARGET pair");
    }
    Ok(pairs)
}

/// Every major named in `pairs`, source or target, ascending and without repeats.
pub fn majors_of(pairs: &[(Major, Major)]) -> Vec<Major> {
    let mut majors: Vec<Major> = pairs.iter().flat_map(|&(s, t)| [s, t]).collect();
    majors.sort_unstable();
    majors.dedup();
    majors
}

/// The shared schema corpus (pagila, musicbrainz…): `$PGMOVE_CORPUS`, else `shared/corpus`
/// beside the repository, else `/work/shared/corpus`, where this workplace keeps it (so a
/// checkout elsewhere still finds it).
pub fn corpus_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PGMOVE_CORPUS") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/corpus")
}

/// Where the PostgreSQL 9.4 and 9.6 server tarballs are (no registry ships servers before 10):
/// `$PGMOVE_PG9X`, else `shared/pg9x` beside the repository, else `/work/shared/pg9x`, found
/// as [`corpus_dir`] is.
pub fn pg9x_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PGMOVE_PG9X") {
        return PathBuf::from(p);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pg9x");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/pg9x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_and_reject_typos() {
        let m = Major::new;
        assert_eq!(
            parse_pairs(" 15:15, 10:18 ,").unwrap(),
            vec![(m(15), m(15)), (m(10), m(18))]
        );
        assert_eq!(
            parse_pairs("9.4:15,9.6:18").unwrap(),
            vec![(Major::V9_4, m(15)), (Major::V9_6, m(18))]
        );
        assert!(parse_pairs("15-18").is_err());
        assert!(parse_pairs("15:x").is_err());
        assert!(parse_pairs("9:15").is_err());
        assert!(parse_pairs(" , ").is_err());
        assert_eq!(
            majors_of(&[(m(18), m(15)), (m(10), m(15)), (Major::V9_4, m(15))]),
            vec![Major::V9_4, m(10), m(15), m(18)]
        );
    }
}
