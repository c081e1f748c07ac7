//! `cargo xtask bench migrate`: the whole move of a database, each tool into its own fresh,
//! empty target database in the same run: `pgmove migrate --jobs N --validate none`,
//! `pgcopydb clone --table-jobs N --index-jobs N --no-owner`, and `pg_dump -Fd -j N -O` then
//! `pg_restore -j N -O`. pgmove's target is then checked against the source by the servers:
//! its schema (`pg_dump --schema-only -O`) equals the pg_dump|pg_restore target's, its rows,
//! populated materialized views, large objects and sequences equal the source's; the peers'
//! rows are checked too. Prints times, ratios to the faster peer and pgmove's peak RSS.
//! pgmove's own validation is off, so every tool is timed doing the same work.

use crate::checks::{large_objects, row_hashes, same_rows, same_text, schema, sequences};
use crate::tools::{client, path_with_server_bins, pgcopydb};
use crate::{measure, sibling_binary, source, CpuAccount, ServerCpu};
use anyhow::{Context, Result};
use pgmove_testkit::Cluster;
use std::path::Path;
use std::process::Command;

/// What to generate and how to run.
pub use crate::source::Scale as Options;

/// One tool's run: what it cost and what its target database holds.
struct Run {
    tool: String,
    wall: f64,
    rss_kib: u64,
    /// Extra timing detail (pg_dump and pg_restore apart, pgmove's steps).
    detail: String,
    account: CpuAccount,
    schema: String,
}

/// Run the benchmark and print its table.
pub fn run(o: &Options) -> Result<()> {
    let (src, dst, size) = source::servers(o.major, o.on_disk, o.size_mb, false)?;
    let want_rows = row_hashes(&src, "bench", true)?;
    let want_lobs = large_objects(&src, "bench")?;
    let want_seqs = sequences(&src, "bench")?;
    let work = tempfile::tempdir()?;

    let mut tools = vec!["pgmove", "pg_dump|pg_restore"];
    let copydb = pgcopydb();
    match copydb {
        Some(_) => tools.insert(1, "pgcopydb"),
        None => eprintln!("   pgcopydb not found: left out"),
    }
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    let (src_cpu, dst_cpu) = (ServerCpu::of(&src)?, ServerCpu::of(&dst)?);
    for (i, tool) in tools.iter().enumerate() {
        let db = format!("t{i}");
        dst.create_db(&db)?;
        let (mut rss_kib, mut detail) = (0, String::new());
        let account = CpuAccount::around(&src_cpu, &dst_cpu, || {
            Ok(match *tool {
                "pgmove" => {
                    let m = measure(
                        Command::new(sibling_binary("pgmove")?)
                            .args(["migrate", "-q", "--format", "json", "--validate", "none"])
                            .args(["--jobs", &o.jobs.to_string(), "--source"])
                            .arg(src.conninfo("bench"))
                            .arg("--target")
                            .arg(dst.conninfo(&db)),
                    )
                    .context("pgmove migrate")?;
                    rss_kib = m.max_rss_kib;
                    detail = step_times(&m.stdout);
                    (m.wall, m.cpu)
                }
                "pgcopydb" => {
                    let m = measure(
                        Command::new(copydb.as_ref().expect("found"))
                            .args(["clone", "--no-owner"])
                            .args(["--table-jobs", &o.jobs.to_string()])
                            .args(["--index-jobs", &o.jobs.to_string(), "--dir"])
                            .arg(work.path().join("pgcopydb"))
                            .arg("--source")
                            .arg(src.url("bench"))
                            .arg("--target")
                            .arg(dst.url(&db))
                            .env("PATH", path_with_server_bins(&src)),
                    )
                    .context("pgcopydb clone")?;
                    rss_kib = m.max_rss_kib;
                    (m.wall, m.cpu)
                }
                _ => {
                    let (wall, rss, cpu, d) =
                        dump_restore(&src, &dst, &db, o.jobs, &work.path().join("dump"))?;
                    (rss_kib, detail) = (rss, d);
                    (wall, cpu)
                }
            })
        })?;
        let wall = account.wall.as_secs_f64();
        eprintln!(
            "   {tool}: {wall:.2}s, peak RSS {} MiB {detail}; {}",
            rss_kib / 1024,
            account.line()
        );
        // Every tool's rows; pgmove's large objects and sequences must match too, the peers'
        // are reported.
        same_rows(tool, &want_rows, &row_hashes(&dst, &db, true)?)?;
        let lobs = large_objects(&dst, &db)?;
        let seqs = sequences(&dst, &db)?;
        if *tool == "pgmove" {
            same_text(tool, "large objects", &want_lobs, &lobs)?;
            same_text(tool, "sequences", &want_seqs, &seqs)?;
        } else {
            let same = |a: &str, b: &str| if a == b { "equal" } else { "DIFFERENT" };
            notes.push(format!(
                "{tool}: rows equal, large objects {}, sequences {}",
                same(&want_lobs, &lobs),
                same(&want_seqs, &seqs)
            ));
        }
        runs.push(Run {
            tool: tool.to_string(),
            wall,
            rss_kib,
            detail,
            account,
            schema: schema(&dst, &db)?,
        });
        dst.sql("postgres", &format!("DROP DATABASE {db}"))?;
    }
    let reference = &runs.last().expect("pg_dump|pg_restore ran").schema;
    same_text(
        "pgmove",
        "schema (pg_dump --schema-only -O) against pg_dump|pg_restore's",
        reference,
        &runs[0].schema,
    )?;
    if let Some(c) = runs.iter().find(|r| r.tool == "pgcopydb") {
        let same = same_text("pgcopydb", "schema", reference, &c.schema);
        notes.push(format!(
            "pgcopydb: schema {}",
            same.map_or_else(
                |e| format!("{e:#}"),
                |_| "equal to pg_dump|pg_restore's".into()
            )
        ));
    }
    print(o, &size, &runs, want_rows.len(), &notes);
    Ok(())
}

/// `pg_dump -Fd -j N -O` into `dir`, then `pg_restore -j N -O` from it into `db`: the sum of
/// both times, the larger peak RSS, and both times apart.
fn dump_restore(
    src: &Cluster,
    dst: &Cluster,
    db: &str,
    jobs: usize,
    dir: &Path,
) -> Result<(std::time::Duration, u64, std::time::Duration, String)> {
    let jobs = jobs.to_string();
    let d = measure(
        Command::new(client(src, "pg_dump")?)
            .args(["-Fd", "-O", "-j", &jobs, "-f"])
            .arg(dir)
            .arg("-d")
            .arg(src.conninfo("bench")),
    )
    .context("pg_dump -Fd")?;
    let r = measure(
        Command::new(client(dst, "pg_restore")?)
            .args(["-O", "-j", &jobs, "-d"])
            .arg(dst.conninfo(db))
            .arg(dir),
    )
    .context("pg_restore")?;
    std::fs::remove_dir_all(dir)?;
    let rss = d.max_rss_kib.max(r.max_rss_kib);
    let (wall, cpu) = (d.wall + r.wall, d.cpu + r.cpu);
    let (d, r) = (d.wall.as_secs_f64(), r.wall.as_secs_f64());
    Ok((
        wall,
        rss,
        cpu,
        format!("(pg_dump {d:.2} s + pg_restore {r:.2} s)"),
    ))
}

/// pgmove's steps and their seconds, from its `--format json` report: `(schema 0.4 s, …)`.
fn step_times(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return String::new();
    };
    let steps: Vec<String> = v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} {:.1} s",
                s["step"].as_str().unwrap_or("?"),
                s["seconds"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    format!("({})", steps.join(", "))
}

fn print(o: &Options, size: &str, runs: &[Run], relations: usize, notes: &[String]) {
    println!(
        "\n== migrate of {size} (PostgreSQL {}, {} jobs), each into an empty database ==",
        o.major, o.jobs
    );
    println!("pgmove runs with --validate none: no end check, as the peers make none.");
    for r in runs {
        let rss = if r.tool == "pgmove" {
            format!("peak RSS {:>6} MiB", r.rss_kib / 1024)
        } else {
            String::new()
        };
        println!("{:<20} {:>8.2} s   {rss}{}", r.tool, r.wall, r.detail);
        println!("{:<20} {}", "", r.account.line());
    }
    let pg = &runs[0];
    for r in &runs[1..] {
        println!("pgmove / {}: {:.3}x", r.tool, pg.wall / r.wall);
    }
    if let Some(best) = runs[1..].iter().min_by(|a, b| a.wall.total_cmp(&b.wall)) {
        println!(
            "pgmove / faster peer ({}): {:.3}x (goal ≤ 0.6x); pgmove peak RSS {} MiB (goal ≤ 200 MB)",
            best.tool,
            pg.wall / best.wall,
            pg.rss_kib / 1024
        );
    }
    println!(
        "pgmove's target checked: schema equal to pg_dump|pg_restore's; rows ({relations} tables and populated materialized views), large objects and sequences equal to the source's"
    );
    for n in notes {
        println!("{n}");
    }
}
