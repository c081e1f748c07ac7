//! The `PG*` environment variables and libpq's built-in defaults (socket directory, port, OS user
//! name, home directory).
//!
//! This module only fills keywords the connection string left out (libpq precedence: string >
//! environment > defaults). It reads the environment only through the lookup function it is
//! given, never logs a value, and never overrides anything the string set.

use super::conninfo::{self, Params};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A way to read an environment variable: the process environment, or a table in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment (values that are not UTF-8 count as unset).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Environment variable → keyword, as in libpq's `PQconninfoOptions`.
const ENV_VARS: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGDATABASE", "dbname"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGCHANNELBINDING", "channel_binding"),
];

/// The Unix socket directory of Debian's (and most Linux distributions') libpq.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
/// The default port.
pub const DEFAULT_PORT: u16 = 5432;

/// Fill every keyword the string left unset from its `PG*` variable. Empty variables count as
/// unset. Fails when a variable names several hosts.
pub(crate) fn fill_from_env(params: &mut Params, env: EnvLookup<'_>) -> Result<()> {
    // Like libpq, each keyword is filled on its own: PGHOST still applies when the string gives
    // only hostaddr (the host then names the server for TLS and .pgpass).
    for (var, kw) in ENV_VARS {
        let (kw, _) = conninfo::keyword(kw).expect("ENV_VARS holds known keywords");
        if params.contains(kw) {
            continue;
        }
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            params.set(kw, v);
        }
    }
    conninfo::check_single_host(params)
}

/// The default host: the Unix socket directory when it exists on this machine, else localhost.
pub(crate) fn default_host() -> String {
    if Path::new(DEFAULT_SOCKET_DIR).is_dir() {
        DEFAULT_SOCKET_DIR.into()
    } else {
        "localhost".into()
    }
}

/// The OS user name: `$USER`, then `$LOGNAME`, then the passwd entry of the effective uid.
pub(crate) fn os_user(env: EnvLookup<'_>) -> Result<String> {
    env("USER")
        .filter(|u| !u.is_empty())
        .or_else(|| env("LOGNAME").filter(|u| !u.is_empty()))
        .or_else(|| passwd_entry().map(|(name, _)| name))
        .ok_or_else(|| {
            Error::Config(
                "could not determine the user name: give user= in the connection string or \
                 set PGUSER"
                    .into(),
            )
        })
}

/// The home directory: `$HOME`, else the passwd entry of the effective uid.
pub(crate) fn home_dir(env: EnvLookup<'_>) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| passwd_entry().map(|(_, home)| PathBuf::from(home)))
}

/// `(name, home)` of the effective uid in `/etc/passwd`, read without libc.
fn passwd_entry() -> Option<(String, String)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(2)?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2] == euid).then(|| (f[0].to_string(), f[5].to_string()))
    })
}
