//! `cargo xtask bench data`: the row copy. One source of about `size_mb` MB (a few big tables
//! with secondary indexes, a partitioned table, a bytea-heavy table, a few hundred small
//! tables), one target holding the schema (`pgmove schema`), and in the same run, each into a
//! fresh copy of that target database:
//! `pgmove data --jobs N`, `pgcopydb copy table-data --table-jobs N`, and
//! `pg_dump -Fd -j N --data-only` then `pg_restore -j N --data-only`. Each target's rows are
//! compared with the source's (count and md5 per table, computed by the servers), then the
//! times, their ratios and pgmove's peak RSS are printed.

use crate::{measure, sibling_binary};
use anyhow::{bail, Context, Result};
use pgmove_testkit::{client_bin_dir, Cluster};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// What to generate and how to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Approximate source size in MB.
    pub size_mb: usize,
    pub jobs: usize,
    /// PostgreSQL major of both servers.
    pub major: u32,
    /// Keep the servers' data on disk rather than on `/dev/shm`.
    pub on_disk: bool,
}

/// The source: sizes in MB of each part scale with `size_mb`.
fn generate_sql(size_mb: usize) -> Vec<String> {
    // About 150 bytes a row in the big tables, 100 kB per bytea value.
    let big_rows = size_mb * 1_000_000 / 150 / 2 / 3; // half of the size in 3 tables
    let part_rows = size_mb * 1_000_000 / 100 * 15 / 100; // 15 %
    let blobs = (size_mb * 1_000_000 / 5 / 100_000).max(2); // 20 %, 100 kB each
    let small_rows = (size_mb * 1_000_000 / 20 / 300 / 60).max(10); // 5 % in 300 tables
    let mut sql = vec!["CREATE SCHEMA s".to_string()];
    for i in 1..=3 {
        sql.push(format!(
            "CREATE TABLE s.big_{i} (id bigint PRIMARY KEY, account integer NOT NULL, amount numeric(12,2),
                 created timestamptz NOT NULL, note text);
             INSERT INTO s.big_{i} SELECT g, g % 10007, (g % 100000) / 100.0,
                 timestamptz '2024-01-01' + g * interval '1 second', md5(g::text) || md5((g * {i})::text)
             FROM generate_series(1, {big_rows}) g;
             CREATE INDEX ON s.big_{i} (account);
             CREATE INDEX ON s.big_{i} (created);"
        ));
    }
    sql.push(format!(
        "CREATE TABLE s.events (id bigint, at date NOT NULL, kind text, payload jsonb) PARTITION BY RANGE (at);
         CREATE TABLE s.events_1 PARTITION OF s.events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
         CREATE TABLE s.events_2 PARTITION OF s.events FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
         CREATE TABLE s.events_3 PARTITION OF s.events FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
         CREATE TABLE s.events_4 PARTITION OF s.events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
         INSERT INTO s.events SELECT g, date '2020-01-01' + (g % 1460), 'k' || (g % 7),
             jsonb_build_object('g', g, 'h', md5(g::text))
         FROM generate_series(1, {part_rows}) g;"
    ));
    // Values of distinct md5s: TOAST cannot compress them much.
    sql.push(format!(
        "CREATE TABLE s.blobs (id integer PRIMARY KEY, name text, data bytea);
         INSERT INTO s.blobs SELECT b, 'blob ' || b,
             (SELECT decode(string_agg(md5((b * 100000 + k)::text), ''), 'hex')
              FROM generate_series(1, 6250) k)
         FROM generate_series(1, {blobs}) b;"
    ));
    sql.push(format!(
        "DO $$ BEGIN FOR i IN 1..300 LOOP
           EXECUTE format('CREATE TABLE s.small_%s (id integer PRIMARY KEY, label text, flag boolean, at date)', i);
           EXECUTE format('INSERT INTO s.small_%s SELECT g, md5(g::text), g %% 2 = 0, date ''2024-01-01'' + g %% 365
                           FROM generate_series(1, {small_rows}) g', i);
         END LOOP; END $$;"
    ));
    sql.push("VACUUM ANALYZE".into());
    sql
}

/// Per table of schema `s`: count and an order-free md5 of its rows, computed by the server.
fn row_hashes(c: &Cluster, db: &str) -> Result<BTreeMap<String, String>> {
    let list = c.psql(
        db,
        &[
            "-At",
            "-c",
            "SELECT string_agg(format('SELECT %L, count(*) || '' '' || coalesce(md5(string_agg(md5(t::text), '','' ORDER BY md5(t::text))), ''-'') FROM ONLY s.%I t', c.relname, c.relname), ' UNION ALL ')
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 's' AND c.relkind = 'r'",
        ],
    )?;
    let out = c.psql(db, &["-At", "-F", "\t", "-c", list.trim()])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect())
}

/// A PostgreSQL client binary: the server's own when it has it (pg_dump 18 writes settings
/// older servers reject), else the tools the tests use.
fn client(cluster: &Cluster, name: &str) -> Result<PathBuf> {
    let own = cluster.bin_dir().join(name);
    if own.exists() {
        return Ok(own);
    }
    Ok(client_bin_dir()?.join(name))
}

fn pgcopydb() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("pgcopydb"))
            .find(|p| p.exists())
    });
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin/pgcopydb"))
            .find(|p| p.exists())
    })
}

/// Run the benchmark and print its table.
pub fn run(o: &Options) -> Result<()> {
    let shm = std::path::Path::new("/dev/shm");
    let parent = (!o.on_disk && shm.is_dir()).then_some(shm);
    let start = |major| -> Result<Cluster> {
        let mut b = Cluster::builder(major)
            .setting("shared_buffers", "256MB")
            .setting("max_wal_size", "4GB")
            .setting("autovacuum", "off");
        if let Some(p) = parent {
            b = b.dir_in(p);
        }
        b.start()
    };
    let pgmove = sibling_binary("pgmove")?;
    let src = start(o.major)?;
    let dst = start(o.major)?;
    src.create_db("bench")?;
    eprintln!(
        "== generating about {} MB on PostgreSQL {}",
        o.size_mb, o.major
    );
    let t = std::time::Instant::now();
    for sql in generate_sql(o.size_mb) {
        src.sql("bench", &sql)?;
    }
    let size = src.psql(
        "bench",
        &[
            "-At",
            "-c",
            "SELECT pg_size_pretty(sum(pg_table_size(c.oid))) || ' in ' || count(*) || ' tables'
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 's' AND c.relkind = 'r'",
        ],
    )?;
    eprintln!(
        "   {} (without indexes) in {:.0}s",
        size.trim(),
        t.elapsed().as_secs_f64()
    );
    let want = row_hashes(&src, "bench")?;

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

    let jobs = o.jobs.to_string();
    let work = tempfile::tempdir()?;
    let mut rows: Vec<(String, f64, u64)> = Vec::new();
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
        let (wall, rss) = match *tool {
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
                (m.wall.as_secs_f64(), m.max_rss_kib)
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
                (m.wall.as_secs_f64(), m.max_rss_kib)
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
                (
                    d.wall.as_secs_f64() + r.wall.as_secs_f64(),
                    d.max_rss_kib.max(r.max_rss_kib),
                )
            }
        };
        eprintln!("   {tool}: {wall:.2}s, peak RSS {} MiB", rss / 1024);
        let got = row_hashes(&dst, &db)?;
        if got != want {
            let differ: Vec<&String> = want
                .keys()
                .filter(|k| got.get(*k) != want.get(*k))
                .collect();
            bail!(
                "{tool} left different rows in {} tables, e.g. {:?}",
                differ.len(),
                differ.first()
            );
        }
        dst.sql("postgres", &format!("DROP DATABASE {db}"))?;
        rows.push((tool.to_string(), wall, rss));
    }

    println!(
        "\n== data copy of {} (PostgreSQL {}, {} jobs), rows checked equal on every target ==",
        size.trim(),
        o.major,
        o.jobs
    );
    for (tool, wall, rss) in &rows {
        println!("{tool:<22} {wall:>8.2} s   peak RSS {:>6} MiB", rss / 1024);
    }
    let pg = rows[0].1;
    for (tool, wall, _) in &rows[1..] {
        println!("pgmove / {tool}: {:.3}x", pg / wall);
    }
    Ok(())
}
