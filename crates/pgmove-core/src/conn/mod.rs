//! Connections: libpq-compatible connection strings, `PG*` environment variables, `.pgpass` and
//! TLS, resolved into one [`ConnSpec`] that every pgmove command connects with.
//!
//! Precedence is libpq's: the connection string, then the environment, then the defaults; the
//! password file is read only when neither the string nor `PGPASSWORD` gave a password.
//!
//! This layer must never let a password reach a log line, an error, a `Debug` output or a display
//! string: [`ConnSpec::display_safe`] is what names a server to the user.

mod conninfo;
mod env;
mod pgpass;
mod tls;

pub use env::{DEFAULT_PORT, DEFAULT_SOCKET_DIR};

use crate::{Error, Result};
use conninfo::Params;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use tls::{Roots, TlsSettings};
use tokio_postgres::config::{ChannelBinding, TargetSessionAttrs};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Socket};

/// libpq's `sslmode`; the private `tls` module documents what each mode verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plain first; TLS only if the server refuses the plain connection.
    Allow,
    /// TLS when the server offers it (the default); plain if it has no TLS or the handshake fails.
    Prefer,
    /// TLS, no certificate check unless a root certificate is given (then as `VerifyCa`).
    Require,
    /// TLS; the certificate chain must lead to a trusted root. The host name is not checked.
    VerifyCa,
    /// TLS; chain and host name are checked.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return Err(Error::Config(format!("invalid sslmode value: \"{s}\""))),
        })
    }
    fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved connection target: the parsed string + environment + .pgpass, libpq precedence.
#[derive(Clone)]
pub struct ConnSpec {
    /// Host name, IP address or Unix socket directory (starts with `/`).
    host: String,
    /// The address to connect to instead of resolving `host`.
    hostaddr: Option<IpAddr>,
    port: u16,
    user: String,
    dbname: String,
    password: Option<String>,
    /// The password came from this password file: look it up again for another database.
    pgpass: Option<PathBuf>,
    password_from_pgpass: bool,
    tls: TlsSettings,
    application_name: String,
    options: Option<String>,
    connect_timeout: Option<Duration>,
    target_session_attrs: TargetSessionAttrs,
    keepalives: bool,
    keepalives_idle: Option<Duration>,
    keepalives_interval: Option<Duration>,
    keepalives_count: Option<u32>,
    tcp_user_timeout: Option<Duration>,
    channel_binding: ChannelBinding,
}

impl fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnSpec")
            .field("host", &self.host)
            .field("hostaddr", &self.hostaddr)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("pgpass", &self.pgpass)
            .field("tls", &self.tls)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("target_session_attrs", &self.target_session_attrs)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for ConnSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<ConnSpec> {
        ConnSpec::parse(s)
    }
}

impl ConnSpec {
    /// Parse a libpq URI or `key=value` string and resolve it against the process environment,
    /// the defaults and the password file.
    pub fn parse(s: &str) -> Result<ConnSpec> {
        Self::parse_with_env(s, &env::process_env)
    }

    /// [`ConnSpec::parse`] with `env` instead of the process environment (`PG*`, `USER`,
    /// `LOGNAME`, `HOME`), for tests.
    pub fn parse_with_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ConnSpec> {
        let mut params = conninfo::parse(s)?;
        env::fill_from_env(&mut params, env)?;
        resolve(&params, env)
    }

    /// `user@host:port/dbname`: names the server in messages. Never holds the password.
    pub fn display_safe(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('/') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}@{host}:{}/{}", self.user, self.port, self.dbname)
    }

    pub fn dbname(&self) -> &str {
        &self.dbname
    }
    /// The host name, address or socket directory (the `hostaddr` when only that was given).
    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn user(&self) -> &str {
        &self.user
    }
    /// The address connected to instead of resolving [`host`](Self::host), if given.
    pub fn hostaddr(&self) -> Option<IpAddr> {
        self.hostaddr
    }
    /// The TLS mode in effect.
    pub fn sslmode(&self) -> SslMode {
        self.tls.mode
    }
    /// Whether a password is known (from the string, `PGPASSWORD` or the password file).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Same server and settings, other database. A password from the password file is looked up
    /// again for the new database, as libpq would.
    pub fn with_dbname(&self, db: &str) -> ConnSpec {
        let mut spec = self.clone();
        spec.dbname = db.to_string();
        if spec.password_from_pgpass {
            spec.password = spec.pgpass.as_deref().and_then(|path| {
                pgpass::lookup(
                    path,
                    &pgpass_key(&spec.host, spec.port, &spec.dbname, &spec.user),
                )
            });
        }
        spec
    }

    /// This server as a libpq `key=value` string for *another server* to connect with (a
    /// logical replication subscription's `CONNECTION`): host, hostaddr, port, user, dbname,
    /// password and sslmode. Paths (`sslrootcert`, client certificates) are left out: they name
    /// files on this machine, not on the server that will connect. The result holds the
    /// password, so it comes wrapped in a [`Secret`].
    pub fn to_conninfo(&self) -> Secret {
        let mut s = String::new();
        let mut kv = |k: &str, v: &str| {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(k);
            s.push('=');
            s.push_str(&conninfo_value(v));
        };
        kv("host", &self.host);
        if let Some(a) = self.hostaddr {
            kv("hostaddr", &a.to_string());
        }
        kv("port", &self.port.to_string());
        kv("user", &self.user);
        kv("dbname", &self.dbname);
        if let Some(p) = &self.password {
            kv("password", p);
        }
        kv("sslmode", self.tls.mode.as_str());
        Secret(s)
    }

    fn is_unix_socket(&self) -> bool {
        self.hostaddr.is_none() && self.host.starts_with('/')
    }

    /// The tokio-postgres configuration, with TLS as `mode`.
    fn pg_config(&self, mode: tokio_postgres::config::SslMode) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .ssl_mode(mode)
            .target_session_attrs(self.target_session_attrs)
            .channel_binding(self.channel_binding)
            .keepalives(self.keepalives);
        if let Some(a) = self.hostaddr {
            c.hostaddr(a);
        }
        if let Some(p) = &self.password {
            c.password(p);
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        if let Some(t) = self.connect_timeout {
            c.connect_timeout(t);
        }
        if let Some(t) = self.keepalives_idle {
            c.keepalives_idle(t);
        }
        if let Some(t) = self.keepalives_interval {
            c.keepalives_interval(t);
        }
        if let Some(n) = self.keepalives_count {
            c.keepalives_retries(n);
        }
        if let Some(t) = self.tcp_user_timeout {
            c.tcp_user_timeout(t);
        }
        c
    }

    /// A tokio-postgres error as one clear line naming this server; the error itself is kept
    /// as the source unless its text holds the password.
    fn connect_error(&self, e: tokio_postgres::Error) -> Error {
        let mut message = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => {
                let mut m = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    if let Some(text) = tls::describe(s) {
                        m.push_str(": ");
                        m.push_str(&text);
                        break;
                    }
                    let text = s.to_string();
                    if !m.ends_with(&text) {
                        m.push_str(": ");
                        m.push_str(&text);
                    }
                    source = s.source();
                }
                m
            }
        };
        message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut source: Option<Box<dyn std::error::Error + Send + Sync>> = Some(Box::new(e));
        if let Some(pw) = self.password.as_deref().filter(|p| !p.is_empty()) {
            if pw.len() >= 3 {
                message = message.replace(pw, "<redacted>");
            }
            if source
                .as_ref()
                .is_some_and(|e| format!("{e} {e:?}").contains(pw))
            {
                source = None;
            }
        }
        Error::Connect {
            target: self.display_safe(),
            message,
            source,
        }
    }
}

/// The `.pgpass` key for a connection: libpq matches the default socket directory as
/// `localhost`.
fn pgpass_key<'a>(host: &'a str, port: u16, dbname: &'a str, user: &'a str) -> pgpass::Key<'a> {
    pgpass::Key {
        host: if host == DEFAULT_SOCKET_DIR {
            "localhost"
        } else {
            host
        },
        port,
        dbname,
        user,
    }
}

fn int_param(params: &Params, k: &str) -> Result<Option<i64>> {
    params
        .nonempty(k)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                Error::Config(format!(
                    "invalid integer value \"{v}\" for connection option \"{k}\""
                ))
            })
        })
        .transpose()
}

fn secs(params: &Params, k: &str) -> Result<Option<Duration>> {
    Ok(int_param(params, k)?
        .filter(|&n| n > 0)
        .map(|n| Duration::from_secs(n as u64)))
}

/// Turn the parsed, environment-filled keywords into a spec: validate values, apply defaults,
/// read the password file.
fn resolve(params: &Params, env: env::EnvLookup<'_>) -> Result<ConnSpec> {
    // libpq 16: sslrootcert=system implies verify-full, and refuses any weaker explicit mode.
    let system_roots = params.nonempty("sslrootcert") == Some("system");
    let mode = match params.nonempty("sslmode") {
        None if system_roots => SslMode::VerifyFull,
        None => SslMode::Prefer,
        Some(m) => SslMode::parse(m)?,
    };
    if system_roots && mode != SslMode::VerifyFull {
        return Err(Error::Config(format!(
            "weak sslmode \"{mode}\" may not be used with sslrootcert=system (use \"verify-full\")"
        )));
    }
    if params.nonempty("gssencmode") == Some("require") {
        return Err(Error::Config(
            "gssencmode value \"require\" is not supported: pgmove has no GSSAPI".into(),
        ));
    }

    let port = match params.nonempty("port") {
        None => DEFAULT_PORT,
        Some(p) => {
            let n = int_param(params, "port")?.unwrap_or_default();
            u16::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::Config(format!("invalid port number: \"{p}\"")))?
        }
    };
    let hostaddr = params
        .nonempty("hostaddr")
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|_| Error::Config(format!("could not parse network address \"{a}\"")))
        })
        .transpose()?;
    let host = match (params.nonempty("host"), hostaddr) {
        (Some(h), _) => h.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => env::default_host(),
    };
    let user = match params.nonempty("user") {
        Some(u) => u.to_string(),
        None => env::os_user(env)?,
    };
    let dbname = params.nonempty("dbname").unwrap_or(&user).to_string();
    let home = env::home_dir(env);

    let pgpass = params
        .nonempty("passfile")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".pgpass")));
    let mut password = params.nonempty("password").map(str::to_string);
    let mut password_from_pgpass = false;
    if password.is_none() {
        if let Some(path) = &pgpass {
            password = pgpass::lookup(path, &pgpass_key(&host, port, &dbname, &user));
            password_from_pgpass = password.is_some();
        }
    }

    let pg_dir = home.as_ref().map(|h| h.join(".postgresql"));
    let roots = match params.nonempty("sslrootcert") {
        Some("system") => Roots::System,
        Some(f) => {
            // Stricter than libpq, which silently skips verification under sslmode=require when
            // the named file is missing: a typo must not turn verification off.
            let path = PathBuf::from(f);
            if mode != SslMode::Disable && !path.exists() {
                return Err(Error::Config(format!(
                    "root certificate file \"{f}\" does not exist"
                )));
            }
            Roots::File(path)
        }
        None => match pg_dir.as_ref().map(|d| d.join("root.crt")) {
            Some(p) if p.is_file() => Roots::File(p),
            _ => Roots::None,
        },
    };
    let client_cert = match (params.nonempty("sslcert"), params.nonempty("sslkey")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::Config(
                "sslcert and sslkey must be given together".into(),
            ))
        }
        (None, None) => pg_dir.as_ref().and_then(|d| {
            let (c, k) = (d.join("postgresql.crt"), d.join("postgresql.key"));
            (c.is_file() && k.is_file()).then_some((c, k))
        }),
    };

    // libpq waits at least 2 seconds; zero or less means no limit.
    let connect_timeout = secs(params, "connect_timeout")?.map(|d| d.max(Duration::from_secs(2)));
    let target_session_attrs = match params.nonempty("target_session_attrs") {
        None | Some("any" | "primary" | "standby" | "prefer-standby") => TargetSessionAttrs::Any,
        Some("read-write") => TargetSessionAttrs::ReadWrite,
        Some("read-only") => TargetSessionAttrs::ReadOnly,
        Some(v) => {
            return Err(Error::Config(format!(
                "invalid target_session_attrs value: \"{v}\""
            )))
        }
    };
    let channel_binding = match params.nonempty("channel_binding") {
        None | Some("prefer") => ChannelBinding::Prefer,
        Some("disable") => ChannelBinding::Disable,
        Some("require") => ChannelBinding::Require,
        Some(v) => {
            return Err(Error::Config(format!(
                "invalid channel_binding value: \"{v}\""
            )))
        }
    };
    let keepalives = int_param(params, "keepalives")?.is_none_or(|n| n != 0);
    let keepalives_count = int_param(params, "keepalives_count")?
        .filter(|&n| n > 0)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let tcp_user_timeout = int_param(params, "tcp_user_timeout")?
        .filter(|&n| n > 0)
        .map(|n| Duration::from_millis(n as u64));
    let application_name = params
        .nonempty("application_name")
        .or(params.nonempty("fallback_application_name"))
        .unwrap_or("pgmove")
        .to_string();

    Ok(ConnSpec {
        host,
        hostaddr,
        port,
        user,
        dbname,
        password,
        pgpass,
        password_from_pgpass,
        tls: TlsSettings {
            mode,
            roots,
            client_cert,
        },
        application_name,
        options: params.nonempty("options").map(str::to_string),
        connect_timeout,
        target_session_attrs,
        keepalives,
        keepalives_idle: secs(params, "keepalives_idle")?,
        keepalives_interval: secs(params, "keepalives_interval")?,
        keepalives_count,
        tcp_user_timeout,
        channel_binding,
    })
}

/// One connection attempt; the connection task is spawned on tokio.
async fn attempt<T>(
    config: tokio_postgres::Config,
    tls: T,
) -> std::result::Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection ended with an error: {e}");
        }
    });
    Ok(client)
}

/// A value in a libpq `key=value` string: single-quoted, backslashes and quotes escaped.
fn conninfo_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Text that holds a password (a connection string another server uses). `Debug` and
/// `Display` print `<redacted>`; only [`Secret::expose`] gives the text, for the one statement
/// that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap text that may hold a password.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }
    /// The text itself. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// tokio-postgres has no public error kind; its TLS failures all display this way.
fn is_tls_handshake_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none() && e.to_string() == "error performing TLS handshake"
}

/// Connect, spawn the connection task on tokio, check the server version (>= 9.4 else
/// [`Error::Unsupported`]), and return the client.
pub async fn connect(spec: &ConnSpec) -> Result<Client> {
    use tokio_postgres::config::SslMode as Pg;
    let plain = || attempt(spec.pg_config(Pg::Disable), tokio_postgres::NoTls);
    // TLS is never tried over a Unix socket (libpq ignores sslmode there too).
    let mode = if spec.is_unix_socket() {
        SslMode::Disable
    } else {
        spec.tls.mode
    };
    let result = match mode {
        SslMode::Disable => plain().await,
        SslMode::Allow => match plain().await {
            // The server refused us in plain text (e.g. a `hostssl` pg_hba line): try TLS.
            Err(e) if e.as_db_error().is_some() => {
                attempt(spec.pg_config(Pg::Require), tls::connector(&spec.tls)?).await
            }
            r => r,
        },
        SslMode::Prefer => {
            match attempt(spec.pg_config(Pg::Prefer), tls::connector(&spec.tls)?).await {
                // As libpq: a failed handshake under `prefer` retries without TLS.
                Err(e) if is_tls_handshake_error(&e) => plain().await,
                r => r,
            }
        }
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            attempt(spec.pg_config(Pg::Require), tls::connector(&spec.tls)?).await
        }
    };
    let client = result.map_err(|e| spec.connect_error(e))?;
    check_version(spec, &client).await?;
    Ok(client)
}

/// `server_version_num` of the server `client` is connected to.
pub(crate) async fn server_version(client: &Client) -> Result<i32> {
    Ok(client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .await
        .map_err(|e| Error::db(e, None, Some("server_version_num")))?
        .get(0))
}

/// Fail with [`Error::Unsupported`] for servers older than 9.4.
async fn check_version(spec: &ConnSpec, client: &Client) -> Result<()> {
    let rows = client
        .simple_query(
            "SELECT current_setting('server_version_num'), current_setting('server_version')",
        )
        .await
        .map_err(|e| spec.connect_error(e))?;
    let row = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| Error::Connect {
            target: spec.display_safe(),
            message: "the server did not report its version".into(),
            source: None,
        })?;
    require_94(spec, row.get(0), row.get(1))
}

/// `server_version_num` must be at least 90400; a server that does not say is refused too.
fn require_94(spec: &ConnSpec, num: Option<&str>, version: Option<&str>) -> Result<()> {
    match num.and_then(|v| v.trim().parse::<u32>().ok()) {
        Some(n) if n >= 90400 => Ok(()),
        _ => Err(Error::Unsupported {
            target: spec.display_safe(),
            version: version.unwrap_or("unknown").to_string(),
        }),
    }
}

/// [`ConnSpec::parse`] `s`, then [`connect`].
pub async fn connect_str(s: &str) -> Result<Client> {
    connect(&ConnSpec::parse(s)?).await
}

#[cfg(test)]
mod tests;
