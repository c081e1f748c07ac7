//! Throwaway PostgreSQL clusters for pgmove's tests and benchmarks.
//!
//! A [`Cluster`] is a fresh `initdb` in a temporary directory, started with `pg_ctl` on a free
//! loopback port and stopped and removed when dropped. It works as root (initdb refuses root, so
//! the server runs as the unprivileged `nobody` user) and in parallel tests (each cluster has its
//! own port and directory). It never talks to anything but 127.0.0.1.
//!
//! Binaries: PostgreSQL 15 from Debian (`/usr/lib/postgresql/15/bin`) is always there; other majors
//! (9.4, 9.6, 10–18, see [`Major`]) come from the cache filled by `cargo xtask pg fetch` (see
//! [`bin_dir`]) and run with `LD_LIBRARY_PATH` at their own libraries ([`server_lib_dir`]).

use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub mod binaries;
pub mod checks;
pub mod major;
pub use binaries::{
    bin_dir, cache_dir, client_bin_dir, corpus_dir, majors_of, parse_pairs, pg9x_dir,
    server_lib_dir, test_pairs, DEFAULT_TEST_PAIRS,
};
pub use major::Major;

/// A statement error a fixture meets by design on some servers: psql's `ERROR:` line that
/// contains `message`, on a server whose major is in `majors`. See
/// [`Cluster::load_files_expecting`].
#[derive(Debug, Clone)]
pub struct ExpectedError {
    pub majors: std::ops::RangeInclusive<u32>,
    pub message: String,
}

impl ExpectedError {
    /// `message` expected on majors `majors` (e.g. `10..=17` for syntax 18 brought).
    pub fn new(majors: std::ops::RangeInclusive<u32>, message: impl Into<String>) -> Self {
        ExpectedError {
            majors,
            message: message.into(),
        }
    }

    /// Expected errors from a list of lines `name<TAB>FIRST-LAST<TAB>message` (majors, e.g.
    /// `10-17`), keeping those of `name`; `#` lines and blank ones are skipped. A malformed
    /// line is an error.
    pub fn parse_list(text: &str, name: &str) -> Result<Vec<ExpectedError>> {
        let mut out = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(3, '\t');
            let (Some(n), Some(majors), Some(message)) = (parts.next(), parts.next(), parts.next())
            else {
                bail!("expected-error line is not name<TAB>majors<TAB>message: {line:?}");
            };
            let range = majors
                .split_once('-')
                .and_then(|(a, b)| Some(a.parse().ok()?..=b.parse().ok()?))
                .with_context(|| format!("majors {majors:?} are not FIRST-LAST"))?;
            if n == name {
                out.push(ExpectedError::new(range, message));
            }
        }
        Ok(out)
    }
}

/// The uid/gid a server runs as when we are root (Debian's `nobody`/`nogroup`).
pub const NOBODY: u32 = 65534;

/// Whether this process runs with effective uid 0 (then servers run as [`NOBODY`]).
pub fn running_as_root() -> bool {
    // SAFETY-free: read our effective uid from /proc without libc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Options for a cluster before it starts.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    major: Major,
    settings: Vec<(String, String)>,
    /// `(certificate PEM, key PEM)`; when set the server starts with `ssl=on`.
    ssl: Option<(String, String)>,
    /// When set, initdb uses scram-sha-256 for host connections and this superuser password.
    password: Option<String>,
    /// Where the cluster's directory goes (default: the system temporary directory).
    parent: Option<std::path::PathBuf>,
}

impl ClusterBuilder {
    /// A server setting (`postgresql.conf` line), e.g. `("max_locks_per_transaction", "256")`.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }
    /// Serve TLS with this certificate chain and private key (PEM text).
    pub fn ssl(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.ssl = Some((cert_pem.into(), key_pem.into()));
        self
    }
    /// Require a password (scram-sha-256) for TCP connections; the superuser `postgres` gets it.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Put the cluster's directory under `parent` instead of the system temporary directory,
    /// e.g. a tmpfs for benchmarks, where a disk filesystem's cost of creating and deleting
    /// tens of thousands of files would otherwise fall on whichever tool runs after a drop.
    pub fn dir_in(mut self, parent: &std::path::Path) -> Self {
        self.parent = Some(parent.to_path_buf());
        self
    }

    /// initdb, then start the server and wait until it accepts connections.
    pub fn start(self) -> Result<Cluster> {
        let bin = bin_dir(self.major)?;
        let libs = server_lib_dir(&bin);
        let root = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("pgmove-pg{}-", self.major))
            .tempdir_in(self.parent.clone().unwrap_or_else(std::env::temp_dir))
            .context("creating a temporary directory for the cluster")?;
        let data = dir.path().join("data");
        if root {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY))
                .context("handing the cluster directory to nobody")?;
        }
        let mut initdb = server_command(&bin, "initdb", libs.as_deref());
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            // initdb spells "do not fsync" `--nosync` before 10.
            if self.major >= 10 {
                "--no-sync"
            } else {
                "--nosync"
            },
        ]);
        if let Some(pw) = &self.password {
            let pwfile = dir.path().join("pwfile");
            std::fs::write(&pwfile, pw)?;
            if root {
                std::os::unix::fs::chown(&pwfile, Some(NOBODY), Some(NOBODY))?;
            }
            // scram-sha-256 exists from 10; older servers get md5.
            let host_auth = if self.major >= 10 {
                "--auth-host=scram-sha-256"
            } else {
                "--auth-host=md5"
            };
            initdb
                .arg("--pwfile")
                .arg(&pwfile)
                .args(["--auth-local=trust", host_auth]);
        } else {
            initdb.arg("--auth=trust");
        }
        run(as_server_user(&mut initdb, root)).context("initdb")?;

        let mut conf = String::from(
            "listen_addresses = '127.0.0.1'\nfsync = off\nfull_page_writes = off\n\
             synchronous_commit = off\nmax_connections = 100\nshared_buffers = 64MB\n\
             max_locks_per_transaction = 256\n",
        );
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            dir.path().display()
        ));
        if let Some((cert, key)) = &self.ssl {
            for (name, text) in [("server.crt", cert), ("server.key", key)] {
                let p = data.join(name);
                std::fs::write(&p, text)?;
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
                if root {
                    std::os::unix::fs::chown(&p, Some(NOBODY), Some(NOBODY))?;
                }
            }
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        for (k, v) in &self.settings {
            conf.push_str(&format!("{k} = '{}'\n", v.replace('\'', "''")));
        }
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path)?;
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing)?;

        // A free port can be taken by a parallel test between our probe and the server's bind:
        // try a few ports before giving up.
        let mut last_err = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut ctl = server_command(&bin, "pg_ctl", libs.as_deref());
            ctl.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("server.log"))
                .arg("-o")
                .arg(format!("-p {port}"))
                .args(["-w", "-t", "60", "start"]);
            match run(as_server_user(&mut ctl, root)) {
                Ok(_) => {
                    let cluster = Cluster {
                        major: self.major,
                        port,
                        bin,
                        libs,
                        data,
                        root,
                        dir,
                        password: self.password,
                    };
                    cluster.wait_ready()?;
                    return Ok(cluster);
                }
                Err(e) => last_err = Some(e),
            }
        }
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        Err(last_err.unwrap()).context(format!("pg_ctl start failed; server log:\n{log}"))
    }
}

/// `bin/program`, with `LD_LIBRARY_PATH` at `libs` when the build needs it (pg_ctl passes it on
/// to the postgres it starts).
fn server_command(bin: &Path, program: &str, libs: Option<&Path>) -> Command {
    let mut cmd = Command::new(bin.join(program));
    if let Some(libs) = libs {
        cmd.env("LD_LIBRARY_PATH", libs);
    }
    cmd
}

fn as_server_user(cmd: &mut Command, root: bool) -> &mut Command {
    if root {
        use std::os::unix::process::CommandExt;
        cmd.uid(NOBODY).gid(NOBODY).env("HOME", "/tmp");
    }
    cmd
}

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}):\n{}{}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A running throwaway PostgreSQL server; stopped and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    major: Major,
    port: u16,
    bin: PathBuf,
    libs: Option<PathBuf>,
    data: PathBuf,
    root: bool,
    password: Option<String>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Configure a cluster of PostgreSQL `major` (e.g. `15`, or [`Major::V9_4`]).
    pub fn builder(major: impl Into<Major>) -> ClusterBuilder {
        ClusterBuilder {
            major: major.into(),
            settings: Vec::new(),
            ssl: None,
            password: None,
            parent: None,
        }
    }

    /// Start a default cluster of PostgreSQL `major`.
    pub fn start(major: impl Into<Major>) -> Result<Cluster> {
        Self::builder(major).start()
    }

    pub fn major(&self) -> Major {
        self.major
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The directory holding the server's binaries (initdb, pg_ctl, postgres).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }
    /// The directory of the Unix socket (also the cluster's temp root).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }
    /// The server log, for test failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A libpq `key=value` connection string for database `db` as superuser `postgres` over TCP.
    pub fn conninfo(&self, db: &str) -> String {
        let mut s = format!(
            "host=127.0.0.1 port={} user=postgres dbname={db}",
            self.port
        );
        if let Some(pw) = &self.password {
            s.push_str(&format!(" password={pw}"));
        }
        s
    }

    /// A libpq URI for database `db`.
    pub fn url(&self, db: &str) -> String {
        match &self.password {
            Some(pw) => format!("postgres://postgres:{pw}@127.0.0.1:{}/{db}", self.port),
            None => format!("postgres://postgres@127.0.0.1:{}/{db}", self.port),
        }
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "server on port {} did not come up:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run `psql` (from [`client_bin_dir`]) against `db` with `args`, failing on any error.
    pub fn psql(&self, db: &str, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(client_bin_dir()?.join("psql"));
        cmd.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &self.conninfo(db),
        ])
        .args(args);
        let out = run(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Run a SQL string with psql against `db`.
    pub fn sql(&self, db: &str, sql: &str) -> Result<String> {
        self.psql(db, &["-c", sql])
    }

    /// Create database `name` (template0, so it starts empty and UTF8).
    pub fn create_db(&self, name: &str) -> Result<()> {
        self.sql(
            "postgres",
            &format!(
                "CREATE DATABASE \"{}\" TEMPLATE template0",
                name.replace('"', "\"\"")
            ),
        )?;
        Ok(())
    }

    /// Load fixture `files` into `db` with psql (`ON_ERROR_STOP=0`, so one failed statement does
    /// not hide the next one's failure), failing when any statement fails: a fixture that does
    /// not load would test less than it says. Returns psql's stderr (notices, warnings).
    pub fn load_files(&self, db: &str, files: &[&Path], vars: &[(&str, &str)]) -> Result<String> {
        self.load_files_expecting(db, files, vars, &[])
    }

    /// [`Cluster::load_files`] for files some of whose statements are known to fail on some
    /// servers (newer syntax on an older server, a name that is taken): an `ERROR:` line is
    /// allowed when an entry of `expected` for this server's major matches it; any other fails.
    pub fn load_files_expecting(
        &self,
        db: &str,
        files: &[&Path],
        vars: &[(&str, &str)],
        expected: &[ExpectedError],
    ) -> Result<String> {
        let err = self.run_psql_files(db, files, vars)?;
        let unexpected: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("ERROR:"))
            .filter(|l| {
                !expected
                    .iter()
                    // Listed by one-number majors (10 on); a 9.x server expects none.
                    .any(|e| {
                        self.major >= 10
                            && e.majors.contains(&(self.major.version_num() / 10000))
                            && l.contains(&e.message)
                    })
            })
            .collect();
        if !unexpected.is_empty() {
            bail!(
                "{} statement(s) failed loading {:?} into {db} on PostgreSQL {} (list them as \
                 expected for this version if they must):\n{}",
                unexpected.len(),
                files,
                self.major,
                unexpected.join("\n")
            );
        }
        Ok(err)
    }

    /// Load SQL that may fail in part by design, such as pg_dump's script of a source as the
    /// reference target (that it cannot always be restored is what a comparison shows) or
    /// `pg_dumpall --roles-only` (roles the cluster already has). Returns psql's stderr.
    pub fn load_tolerating_errors(
        &self,
        db: &str,
        files: &[&Path],
        vars: &[(&str, &str)],
    ) -> Result<String> {
        self.run_psql_files(db, files, vars)
    }

    /// psql -f each file (from the file's directory, for relative `\i`), errors tolerated;
    /// psql's stderr.
    fn run_psql_files(&self, db: &str, files: &[&Path], vars: &[(&str, &str)]) -> Result<String> {
        let mut err = String::new();
        for f in files {
            let mut cmd = Command::new(client_bin_dir()?.join("psql"));
            cmd.args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=0",
                "-d",
                &self.conninfo(db),
            ]);
            for (k, v) in vars {
                cmd.arg("-v").arg(format!("{k}={v}"));
            }
            cmd.arg("-f").arg(f);
            if let Some(parent) = f.parent() {
                cmd.current_dir(parent);
            }
            let out = cmd.output().context("running psql")?;
            err.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        Ok(err)
    }

    /// `pg_dump` of `db` with `args` (e.g. `["--schema-only", "-O"]`), as text, without the
    /// `\restrict`/`\unrestrict` lines recent pg_dump writes: their key is random per run, so two
    /// dumps of equal schemas compare equal only without them.
    pub fn pg_dump(&self, db: &str, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(client_bin_dir()?.join("pg_dump"));
        cmd.args(args).arg("-d").arg(self.conninfo(db));
        let out = run(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .map(|l| format!("{l}\n"))
            .collect())
    }

    /// `pg_dump ARGS db | psql to_db` on `to`, errors tolerated (pg_dump's script cannot always
    /// be restored, and that is what a comparison with it shows): pg_dump's own migration, the
    /// reference pgmove's target is compared with. Returns psql's stderr.
    pub fn pg_dump_into(
        &self,
        db: &str,
        args: &[&str],
        to: &Cluster,
        to_db: &str,
    ) -> Result<String> {
        let sql = self.pg_dump(db, args)?;
        let file = tempfile::NamedTempFile::new().context("staging the dump")?;
        std::fs::write(file.path(), sql)?;
        to.load_tolerating_errors(to_db, &[file.path()], &[])
    }

    /// Copy the rows of `db` into `to_db` on `to`, standing in for DMS: pg_dump's data section
    /// through psql (stopping at the first error), without its `setval` lines, so that moving
    /// sequences stays the job of the code under test, and without `SET transaction_timeout`,
    /// which servers before 17 reject.
    pub fn copy_rows(&self, db: &str, to: &Cluster, to_db: &str) -> Result<()> {
        let data: String = self
            .pg_dump(db, &["--data-only", "-O"])?
            .lines()
            .filter(|l| {
                !l.starts_with("SELECT pg_catalog.setval")
                    && !l.starts_with("SET transaction_timeout")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let file = tempfile::NamedTempFile::new().context("staging the rows")?;
        std::fs::write(file.path(), data)?;
        to.psql(to_db, &["-f", &file.path().display().to_string()])?;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut ctl = server_command(&self.bin, "pg_ctl", self.libs.as_deref());
        ctl.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = as_server_user(&mut ctl, self.root).output();
    }
}
