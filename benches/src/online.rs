//! `cargo xtask bench online`: an online migration under a steady write load, one tool after
//! the other on the same source, each into its own empty target database:
//! `pgmove migrate --online --jobs N` then `pgmove cutover`, and `pgcopydb clone --follow`
//! (wal2json) then its end position set to the source's current LSN through its sentinel.
//! For each: the time from start to streaming (pgmove: `migrate --online` returned, every
//! table streams and post-data is built; pgcopydb: its sentinel enabled applying changes,
//! after its copy, indexes and post-data), the replication lag sampled under the load after
//! that (seconds: the target's clock minus the newest writer row it holds; bytes: the
//! source's WAL position minus what the target applied), then, with the writer stopped, the
//! cutover's time and every table's rows checked equal to the source's by the servers.

use crate::checks::{large_objects, row_hashes, same_rows};
use crate::tools::{path_with_server_bins, pgcopydb};
use crate::writer::Writer;
use crate::{measure, median, sibling_binary, source};
use anyhow::{bail, Context, Result};
use pgmove_testkit::Cluster;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to generate and how to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Size, jobs and servers, as the other generated-database benchmarks take them
    /// (pgcopydb 0.10 reads servers up to 15).
    pub scale: source::Scale,
    /// The writer's transactions per second.
    pub rate: u32,
    /// How long to sample the lag once a tool streams.
    pub lag_window: Duration,
}

/// One lag sample: seconds behind, bytes behind.
type Lag = (f64, i64);

/// How long pgcopydb may take to reach its end position and exit.
const CUTOVER_TIMEOUT: Duration = Duration::from_secs(180);

/// One tool's online run.
struct Outcome {
    tool: String,
    to_streaming: f64,
    /// Seconds after streaming when the time lag first was at most 1 s, if it was.
    caught_up: Option<f64>,
    /// (seconds, bytes) lag samples after streaming, one a second.
    lags: Vec<(f64, i64)>,
    cutover: f64,
    writes: u64,
    note: String,
}

/// Run the benchmark and print its table.
pub fn run(o: &Options) -> Result<()> {
    let (src, dst, size) = source::servers(o.scale.major, o.scale.on_disk, o.scale.size_mb, true)?;
    let big_rows: i64 = sql_value(&src, "bench", "SELECT max(id) FROM s.big_1")?
        .parse()
        .context("s.big_1's size")?;
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    outcomes.push(pgmove(o, &src, &dst, big_rows)?);
    match pgcopydb() {
        None => failures.push("pgcopydb: not installed".to_string()),
        Some(bin) => match copydb(o, &bin, &src, &dst, big_rows) {
            Ok(r) => outcomes.push(r),
            Err(e) => failures.push(format!("pgcopydb clone --follow: {e:#}")),
        },
    }
    print(o, &size, &outcomes, &failures);
    Ok(())
}

fn pgmove(o: &Options, src: &Cluster, dst: &Cluster, big_rows: i64) -> Result<Outcome> {
    let db = "t_pgmove";
    dst.create_db(db)?;
    let pgmove = sibling_binary("pgmove")?;
    let ends = |c: &mut Command| {
        c.arg("--source")
            .arg(src.conninfo("bench"))
            .arg("--target")
            .arg(dst.conninfo(db));
    };
    let writer = Writer::start(src.conninfo("bench"), o.rate, big_rows);
    eprintln!("== pgmove migrate --online, writer at {}/s", o.rate);
    let mut cmd = Command::new(&pgmove);
    cmd.args([
        "migrate",
        "-q",
        "--online",
        "--jobs",
        &o.scale.jobs.to_string(),
    ]);
    ends(&mut cmd);
    let m = measure(&mut cmd).context("pgmove migrate --online")?;
    let to_streaming = m.wall.as_secs_f64();
    eprintln!("   streaming after {to_streaming:.2}s");
    let bytes = "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)), 0)::bigint
                 FROM pg_replication_slots WHERE slot_name NOT LIKE 'pgcopydb%'";
    let (lags, caught_up) = sample_lags(o.lag_window, src, bytes, dst, db)?;
    let writes = writer.stop()?;
    let mut cmd = Command::new(&pgmove);
    cmd.args(["cutover", "-q"]);
    ends(&mut cmd);
    let c = measure(&mut cmd).context("pgmove cutover")?;
    eprintln!("   cutover {:.2}s", c.wall.as_secs_f64());
    same_rows(
        "pgmove",
        &row_hashes(src, "bench", false)?,
        &row_hashes(dst, db, false)?,
    )?;
    let note = lob_note(src, dst, db)?;
    Ok(Outcome {
        tool: "pgmove".into(),
        to_streaming,
        caught_up,
        lags,
        cutover: c.wall.as_secs_f64(),
        writes,
        note,
    })
}

fn copydb(o: &Options, bin: &Path, src: &Cluster, dst: &Cluster, big_rows: i64) -> Result<Outcome> {
    let db = "t_pgcopydb";
    dst.create_db(db)?;
    let work = tempfile::tempdir()?;
    let log_path = work.path().join("clone.log");
    let mut writer = Some(Writer::start(src.conninfo("bench"), o.rate, big_rows));
    eprintln!(
        "== pgcopydb clone --follow, writer at {}/s, log {}",
        o.rate,
        log_path.display()
    );
    let started = Instant::now();
    let log = std::fs::File::create(&log_path)?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(bin)
            .args(["clone", "--follow", "--no-owner"])
            .args(["--table-jobs", &o.scale.jobs.to_string()])
            .args(["--index-jobs", &o.scale.jobs.to_string(), "--dir"])
            .arg(work.path().join("work"))
            .arg("--source")
            .arg(src.url("bench"))
            .arg("--target")
            .arg(dst.url(db))
            .env("PATH", path_with_server_bins(src))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so that a failed run can be ended with its children.
            .process_group(0)
            .spawn()
            .context("starting pgcopydb")?
    };
    let result = follow(
        o,
        bin,
        &mut child,
        &mut writer,
        started,
        src,
        dst,
        db,
        &log_path,
    );
    if result.is_err() {
        // SAFETY: kill(2) on the process group of the child this function started.
        unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM) };
        let _ = child.wait();
    }
    if let Some(w) = writer {
        w.stop()?;
    }
    let cleanup = Command::new(bin)
        .args(["stream", "cleanup", "--dir"])
        .arg(work.path().join("work"))
        .arg("--source")
        .arg(src.url("bench"))
        .arg("--target")
        .arg(dst.url(db))
        .output();
    if !cleanup.map(|c| c.status.success()).unwrap_or(false) {
        eprintln!("   pgcopydb stream cleanup failed");
    }
    let (to_streaming, caught_up, lags, cutover, writes) = result?;
    same_rows(
        "pgcopydb",
        &row_hashes(src, "bench", false)?,
        &row_hashes(dst, db, false)?,
    )?;
    let note = lob_note(src, dst, db)?;
    Ok(Outcome {
        tool: "pgcopydb".into(),
        to_streaming,
        caught_up,
        lags,
        cutover,
        writes,
        note,
    })
}

/// Time to streaming, catch-up, lag samples, cutover time, the writer's transactions.
type Followed = (f64, Option<f64>, Vec<(f64, i64)>, f64, u64);

/// pgcopydb's run after its start: wait for its sentinel to enable applying, sample the lag,
/// stop the writer, set the end position to the source's WAL position and wait for pgcopydb
/// to apply up to it and exit.
#[allow(clippy::too_many_arguments)]
fn follow(
    o: &Options,
    bin: &Path,
    child: &mut Child,
    writer: &mut Option<Writer>,
    started: Instant,
    src: &Cluster,
    dst: &Cluster,
    db: &str,
    log: &Path,
) -> Result<Followed> {
    let tail = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("INFO  Report write_lsn"))
            .collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("exited with {status} before streaming:\n{}", tail());
        }
        let apply = sql_value(src, "bench", "SELECT apply FROM pgcopydb.sentinel").ok();
        if apply.as_deref() == Some("t") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let to_streaming = started.elapsed().as_secs_f64();
    eprintln!("   applying (sentinel) after {to_streaming:.2}s");
    let bytes =
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pgcopydb.sentinel";
    let (lags, caught_up) = sample_lags(o.lag_window, src, bytes, dst, db)?;
    let writes = writer.take().expect("running").stop()?;
    let t = Instant::now();
    let out = Command::new(bin)
        .args([
            "stream",
            "sentinel",
            "set",
            "endpos",
            "--current",
            "--source",
        ])
        .arg(src.url("bench"))
        .output()?;
    if !out.status.success() {
        bail!(
            "setting the end position failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let deadline = t + CUTOVER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!(
                "still running {} s after `pgcopydb stream sentinel set endpos --current` (sentinel: {}); its log ends:\n{}",
                CUTOVER_TIMEOUT.as_secs(),
                sql_value(src, "bench", "SELECT format('endpos %s apply %s write_lsn %s flush_lsn %s replay_lsn %s, source at %s', endpos, apply, write_lsn, flush_lsn, replay_lsn, pg_current_wal_lsn()) FROM pgcopydb.sentinel")
                    .unwrap_or_default(),
                tail()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if !status.success() {
        bail!(
            "exited with {status} after the end position was set:\n{}",
            tail()
        );
    }
    Ok((
        to_streaming,
        caught_up,
        lags,
        t.elapsed().as_secs_f64(),
        writes,
    ))
}

/// Sample the lag once a second for `window`: (seconds, bytes) each time, and when the time
/// lag first was at most 1 s.
fn sample_lags(
    window: Duration,
    src: &Cluster,
    bytes_sql: &str,
    dst: &Cluster,
    db: &str,
) -> Result<(Vec<Lag>, Option<f64>)> {
    let start = Instant::now();
    let mut lags = Vec::new();
    let mut caught_up = None;
    while start.elapsed() < window {
        let secs: f64 = sql_value(
            dst,
            db,
            "SELECT extract(epoch FROM clock_timestamp() - max(at)) FROM s.live",
        )?
        .parse()
        .context("time lag")?;
        let bytes: i64 = sql_value(src, "bench", bytes_sql)?
            .parse()
            .context("byte lag")?;
        if secs <= 1.0 && caught_up.is_none() {
            caught_up = Some(start.elapsed().as_secs_f64());
        }
        lags.push((secs, bytes));
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok((lags, caught_up))
}

fn sql_value(c: &Cluster, db: &str, sql: &str) -> Result<String> {
    Ok(c.psql(db, &["-At", "-c", sql])?.trim().to_string())
}

/// Whether the target has the source's large objects (logical replication moves none).
fn lob_note(src: &Cluster, dst: &Cluster, db: &str) -> Result<String> {
    let (a, b) = (large_objects(src, "bench")?, large_objects(dst, db)?);
    Ok(if a == b {
        "large objects equal".into()
    } else {
        format!("large objects not copied (target: {b})")
    })
}

fn print(o: &Options, size: &str, outcomes: &[Outcome], failures: &[String]) {
    println!(
        "\n== online migration of {size} (PostgreSQL {}, {} jobs), writer at {}/s, lag sampled for {} s ==",
        o.scale.major,
        o.scale.jobs,
        o.rate,
        o.lag_window.as_secs()
    );
    println!("tool        to streaming   lag ≤1 s after   time lag s (median / max)   byte lag kB (median / max)   cutover s   writes   rows");
    for r in outcomes {
        let secs: Vec<f64> = r.lags.iter().map(|l| l.0).collect();
        let kb: Vec<f64> = r.lags.iter().map(|l| l.1 as f64 / 1024.0).collect();
        let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
        println!(
            "{:<10} {:>10.2} s   {:>14}   {:>11.2} / {:<12.2}   {:>11.0} / {:<13.0}   {:>9.2}   {:>6}   equal; {}",
            r.tool,
            r.to_streaming,
            r.caught_up
                .map_or("never".to_string(), |c| format!("{c:.0} s")),
            median(&secs),
            max(&secs),
            median(&kb),
            max(&kb),
            r.cutover,
            r.writes,
            r.note
        );
    }
    for f in failures {
        println!("{f}");
    }
}
