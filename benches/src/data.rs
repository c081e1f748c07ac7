//! `cargo xtask bench data`: the row copy. One source of about `size_mb` MB (see
//! [`crate::source`]), one target holding the schema (`pgmove schema`), and in the same run, each into a
//! fresh copy of that target database:
//! `pgmove data --jobs N`, `pgcopydb copy table-data --table-jobs N`, and
//! `pg_dump -Fd -j N --data-only` then `pg_restore -j N --data-only`. Each target's rows are
//! compared with the source's (count and md5 per table, computed by the servers), and so are
//! its large objects (except pgcopydb's, whose `copy table-data` copies none), then the
//! times, their ratios and pgmove's peak RSS are printed.

use crate::checks::{large_objects, row_hashes, same_rows};
use crate::tools::{client, pgcopydb};
use crate::{measure, sibling_binary, source, CpuAccount, ServerCpu};
use anyhow::{bail, Context, Result};
use std::process::Command;

/// What to generate and how to run.
pub use crate::source::Scale as Options;

/// Run the benchmark and print its table.
pub fn run(o: &Options) -> Result<()> {
    let pgmove = sibling_binary("pgmove")?;
    let (src, dst, size) = source::servers(o.major, o.on_disk, o.size_mb, false)?;
    let want = row_hashes(&src, "bench", false)?;
    let want_lobs = large_objects(&src, "bench")?;

    // The target template: the schema only.
    dst.create_db("base")?;
    measure(
        Command::new(&pgmove)
            .args(["schema", "-q", "--source"])
            .arg(src.conninfo("bench"))
            .arg("--target")
            .arg(dst.conninfo("base")),
    )
    .context("pgmove schema into the target template")?;

    let (src_cpu, dst_cpu) = (ServerCpu::of(&src)?, ServerCpu::of(&dst)?);
    let jobs = o.jobs.to_string();
    let work = tempfile::tempdir()?;
    let mut rows: Vec<(String, f64, u64, CpuAccount)> = Vec::new();
    let mut tools: Vec<&str> = vec!["pgmove", "pg_dump|pg_restore"];
    let copydb = pgcopydb();
    if copydb.is_some() {
        tools.insert(1, "pgcopydb");
    } else {
        eprintln!("   pgcopydb not found: left out");
    }
    for (i, tool) in tools.iter().enumerate() {
        let db = format!("t{i}");
        dst.sql("postgres", &format!("CREATE DATABASE {db} TEMPLATE base"))?;
        let mut rss = 0;
        let account = CpuAccount::around(&src_cpu, &dst_cpu, || {
            Ok(match *tool {
                "pgmove" => {
                    let m = measure(
                        Command::new(&pgmove)
                            .args([
                                "data", "-q", "--format", "json", "--jobs", &jobs, "--source",
                            ])
                            .arg(src.conninfo("bench"))
                            .arg("--target")
                            .arg(dst.conninfo(&db)),
                    )
                    .context("pgmove data")?;
                    rss = m.max_rss_kib;
                    (m.wall, m.cpu)
                }
                "pgcopydb" => {
                    let dir = work.path().join("pgcopydb");
                    let m = measure(
                        Command::new(copydb.as_ref().expect("found"))
                            .args(["copy", "table-data", "--table-jobs", &jobs, "--dir"])
                            .arg(&dir)
                            .arg("--source")
                            .arg(src.url("bench"))
                            .arg("--target")
                            .arg(dst.url(&db)),
                    )
                    .context("pgcopydb copy table-data")?;
                    rss = m.max_rss_kib;
                    (m.wall, m.cpu)
                }
                _ => {
                    let dir = work.path().join("dump");
                    let d = measure(
                        Command::new(client(&src, "pg_dump")?)
                            .args(["-Fd", "--data-only", "-j", &jobs, "-f"])
                            .arg(&dir)
                            .arg("-d")
                            .arg(src.conninfo("bench")),
                    )
                    .context("pg_dump -Fd --data-only")?;
                    let r = measure(
                        Command::new(client(&dst, "pg_restore")?)
                            .args(["--data-only", "-j", &jobs, "-d"])
                            .arg(dst.conninfo(&db))
                            .arg(&dir),
                    )
                    .context("pg_restore --data-only")?;
                    eprintln!(
                        "   pg_dump {:.2}s + pg_restore {:.2}s",
                        d.wall.as_secs_f64(),
                        r.wall.as_secs_f64()
                    );
                    std::fs::remove_dir_all(&dir)?;
                    rss = d.max_rss_kib.max(r.max_rss_kib);
                    (d.wall + r.wall, d.cpu + r.cpu)
                }
            })
        })?;
        let wall = account.wall.as_secs_f64();
        eprintln!(
            "   {tool}: {wall:.2}s, peak RSS {} MiB; {}",
            rss / 1024,
            account.line()
        );
        same_rows(tool, &want, &row_hashes(&dst, &db, false)?)?;
        // pgcopydb's `copy table-data` leaves large objects to `copy blobs` (which 0.10 ends
        // with a segmentation fault here); the other two copy them.
        if *tool != "pgcopydb" {
            let lobs = large_objects(&dst, &db)?;
            if lobs != want_lobs {
                bail!("{tool} left other large objects: {lobs}, the source has {want_lobs}");
            }
        }
        dst.sql("postgres", &format!("DROP DATABASE {db}"))?;
        rows.push((tool.to_string(), wall, rss, account));
    }

    println!(
        "\n== data copy of {} (PostgreSQL {}, {} jobs), rows checked equal on every target, large objects on pgmove's and pg_restore's (pgcopydb's table-data copies none) ==",
        size,
        o.major,
        o.jobs
    );
    for (tool, wall, rss, account) in &rows {
        println!(
            "{tool:<22} {wall:>8.2} s   peak RSS {:>6} MiB   {}",
            rss / 1024,
            account.line()
        );
    }
    let pg = rows[0].1;
    for (tool, wall, _, _) in &rows[1..] {
        println!("pgmove / {tool}: {:.3}x", pg / wall);
    }
    Ok(())
}
