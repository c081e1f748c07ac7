//! Shared helpers for the benchmarks (`src/bin/pgmove-bench.rs`, run by `cargo xtask bench`):
//! a generated schema of N tables, a child-process meter (wall time and peak RSS via `wait4`,
//! the same for pgmove and pg_dump), medians, a TCP proxy that adds latency, the generated
//! source database and its checks, and the `data`, `migrate` and `online` benchmarks.

pub mod checks;
pub mod data;
pub mod migrate;
pub mod online;
pub mod proxy;
pub mod source;
pub mod tools;
pub mod writer;

use anyhow::{bail, Context, Result};
use pgmove_testkit::Cluster;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Tables created per transaction while generating: each table with its sequence, three
/// indexes and TOAST table takes about six locks, so 500 stay well inside the lock table.
const BATCH: usize = 500;

/// One `DO` block creating tables `s.t{first}` … `s.t{first + count - 1}`: serial primary key,
/// a foreign key to the previous table (`t0` has none), a CHECK, a plain and a partial index,
/// and `rows` rows.
pub fn schema_batch_sql(first: usize, count: usize, rows: usize) -> String {
    format!(
        "DO $$
         BEGIN
           FOR i IN {first}..{last} LOOP
             EXECUTE format('CREATE TABLE s.t%s (
                 id serial PRIMARY KEY,
                 parent_id int %s,
                 qty int NOT NULL DEFAULT 0 CHECK (qty >= 0),
                 name text,
                 created timestamptz NOT NULL DEFAULT now())',
               i, CASE WHEN i > 0 THEN format('REFERENCES s.t%s (id)', i - 1) ELSE '' END);
             EXECUTE format('CREATE INDEX t%s_parent ON s.t%s (parent_id)', i, i);
             EXECUTE format('CREATE INDEX t%s_named ON s.t%s (name) WHERE qty > 0', i, i);
             IF {rows} > 0 THEN
               EXECUTE format('INSERT INTO s.t%s (parent_id, qty, name)
                               SELECT CASE WHEN %s > 0 THEN 1 END, g, ''n'' || g
                               FROM generate_series(1, {rows}) g', i, i);
             END IF;
           END LOOP;
         END $$;",
        last = first + count - 1
    )
}

/// Create schema `s` with `tables` tables (see [`schema_batch_sql`]) in `db`, in transactions of
/// [`BATCH`] tables. Returns how long it took.
pub fn generate(cluster: &Cluster, db: &str, tables: usize, rows: usize) -> Result<Duration> {
    let started = Instant::now();
    cluster.sql(db, "CREATE SCHEMA s")?;
    let mut first = 0;
    while first < tables {
        let count = BATCH.min(tables - first);
        cluster
            .sql(db, &schema_batch_sql(first, count, rows))
            .with_context(|| format!("creating tables {first}.."))?;
        first += count;
        if first % 10_000 == 0 || first == tables {
            eprintln!(
                "  … {first}/{tables} tables ({:.0}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    cluster.sql(db, "VACUUM ANALYZE")?;
    Ok(started.elapsed())
}

/// `tables/indexes/constraints` of the user schemas of `db`, as psql prints them.
pub fn object_counts(cluster: &Cluster, db: &str) -> Result<String> {
    Ok(cluster
        .psql(
            db,
            &[
                "-At",
                "-c",
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = 's' AND c.relkind = 'r') || ' tables, ' ||
                        (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = 's' AND c.relkind = 'i') || ' indexes, ' ||
                        (SELECT count(*) FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
                          WHERE n.nspname = 's') || ' constraints'",
            ],
        )?
        .trim()
        .to_string())
}

/// What one run of a child process cost.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss` from `wait4`).
    pub max_rss_kib: u64,
    /// User plus system CPU time of the child (and the children it waited for).
    pub cpu: Duration,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` to its end; fail unless it exits 0. Wall time runs from spawn to `wait4`; peak RSS
/// is the child's own `ru_maxrss` (not its children's), read from `wait4`.
pub fn measure(cmd: &mut Command) -> Result<Measured> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value, and wait4 only writes to the two pointers,
    // which live for the call. The child is ours and nobody else waits for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if r != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    // Reaped by wait4: `child` must not be waited for again; dropping it does not wait.
    drop(child);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!(
            "{:?} failed (wait status {status}):\n{stdout}{stderr}",
            cmd.get_program()
        );
    }
    Ok(Measured {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        stdout,
        stderr,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// CPU time a server has spent, all its processes together: the postmaster's own and that of
/// the children it has reaped (exited backends), plus its running children's. Sampled before
/// and after a tool runs, the difference is what the tool cost the server: with the tool's own
/// CPU time, the account of where a benchmark's wall time went.
pub struct ServerCpu {
    postmaster: u32,
}

impl ServerCpu {
    pub fn of(c: &pgmove_testkit::Cluster) -> Result<ServerCpu> {
        let dir = c.psql("postgres", &["-At", "-c", "SHOW data_directory"])?;
        let pidfile = std::path::Path::new(dir.trim()).join("postmaster.pid");
        let text = std::fs::read_to_string(&pidfile)
            .with_context(|| format!("reading {}", pidfile.display()))?;
        let postmaster = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("no pid in {}", pidfile.display()))?;
        Ok(ServerCpu { postmaster })
    }

    /// CPU time so far. Call a moment after the tool exits, so its backends have been reaped.
    pub fn now(&self) -> Result<Duration> {
        // /proc/PID/stat: fields after the `(comm)`: state ppid … utime(14) stime(15)
        // cutime(16) cstime(17), counted from 1 over the whole line.
        fn fields(pid: u32) -> Option<Vec<u64>> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            Some(
                rest.split_whitespace()
                    .map(|f| f.parse::<i64>().map_or(0, |v| v.max(0) as u64))
                    .collect(),
            )
        }
        // Index in `rest`: field n of the line is rest[n - 3].
        let own = fields(self.postmaster).context("the server is not running")?;
        let mut ticks = own[11] + own[12] + own[13] + own[14];
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(f) = fields(pid) {
                if f[1] == u64::from(self.postmaster) {
                    ticks += f[11] + f[12];
                }
            }
        }
        // SAFETY: sysconf only reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_millis(ticks * 1000 / hz))
    }
}

/// Where one tool run's wall time went: its own CPU and the CPU it cost each server. On a
/// machine of `cores` cores, CPU summing to about `wall × cores` means the run was CPU-bound;
/// a server's share is work only a faster server (or less work asked of it) can shorten.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuAccount {
    pub wall: Duration,
    pub tool: Duration,
    pub source: Duration,
    pub target: Duration,
}

impl CpuAccount {
    /// Sample both servers around `run`, which returns the tool's wall and CPU time.
    pub fn around(
        src: &ServerCpu,
        dst: &ServerCpu,
        run: impl FnOnce() -> Result<(Duration, Duration)>,
    ) -> Result<CpuAccount> {
        let (s0, t0) = (src.now()?, dst.now()?);
        let (wall, tool) = run()?;
        // Let the postmasters reap the tool's backends, whose CPU they then count.
        std::thread::sleep(Duration::from_millis(300));
        Ok(CpuAccount {
            wall,
            tool,
            source: src.now()?.saturating_sub(s0),
            target: dst.now()?.saturating_sub(t0),
        })
    }

    /// One line: `CPU s: tool X, source server Y, target server Z; N % of C cores busy`.
    pub fn line(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let sum = (self.tool + self.source + self.target).as_secs_f64();
        format!(
            "CPU s: tool {:.1}, source server {:.1}, target server {:.1}; {:.0} % of {cores} cores busy",
            self.tool.as_secs_f64(),
            self.source.as_secs_f64(),
            self.target.as_secs_f64(),
            100.0 * sum / (self.wall.as_secs_f64() * cores).max(1e-9)
        )
    }
}

/// The median (the lower middle for an even count) of `values`.
pub fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v[(v.len() - 1) / 2]
}

/// A value of `key=value` in a line of `key=value` pairs.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// A sibling binary of the running one (the benches build into the same target directory).
pub fn sibling_binary(name: &str) -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release -p pgmove-benches -p pgmove-cli` (cargo xtask bench does)",
            p.display()
        );
    }
    Ok(p)
}
