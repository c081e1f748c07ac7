//! `cargo xtask demo`: a source and a target server side by side, pagila loaded into the
//! source (with large objects and its materialized view populated), then one `pgmove migrate`
//! between them ([`run_pgmove_steps`]), and checks with PostgreSQL's own tools: both servers'
//! `pg_dump --schema-only -O`, rows, a sequence, the large objects.
//!
//! Environment: `PGMOVE_DEMO_PAIR` (`SOURCE:TARGET` majors, default [`DEFAULT_PAIR`]) and
//! `PGMOVE_CORPUS` (default `<repo>/../shared/corpus`). Both servers are throwaway testkit
//! clusters: they stop and vanish when the demo ends.

use crate::pg_fetch;
use anyhow::{bail, Context, Result};
use pgmove_testkit::{client_bin_dir, corpus_dir, parse_pairs, Cluster};
use std::path::PathBuf;

/// An older source into the newest target, both in the set `cargo xtask test` fetches.
const DEFAULT_PAIR: &str = "15:18";
const DB: &str = "pagila";

pub fn run(hold: bool) -> Result<()> {
    let spec = std::env::var("PGMOVE_DEMO_PAIR").unwrap_or_else(|_| DEFAULT_PAIR.into());
    let (source_major, target_major) = match parse_pairs(&spec).context("PGMOVE_DEMO_PAIR")?[..] {
        [pair] => pair,
        _ => bail!("PGMOVE_DEMO_PAIR names more than one pair: {spec:?}"),
    };
    let corpus = corpus_dir();
    let files = ["pagila-schema.sql", "pagila-data.sql"].map(|f| corpus.join("pagila").join(f));
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        bail!(
            "{} is missing: the corpus lives at <repo>/../shared/corpus, or set PGMOVE_CORPUS",
            missing.display()
        );
    }

    // Always the 18 clients: Debian's pg_dump 15, the fallback, refuses a newer server, and
    // the comparison at the end dumps the target. Fetching is idempotent.
    let mut items = pg_fetch::servers_to_fetch([source_major, target_major]);
    items.push(pg_fetch::Item::Tools);
    pg_fetch::fetch(&items)?;

    eprintln!("starting PostgreSQL {source_major} (source) and {target_major} (target)…");
    let source = Cluster::start(source_major).context("starting the source")?;
    let target = Cluster::start(target_major).context("starting the target")?;
    source.create_db(DB)?;
    target.create_db(DB)?;

    eprintln!("loading pagila into the source…");
    let file_refs: Vec<_> = files.iter().map(PathBuf::as_path).collect();
    let stderr = source.load_tolerating_errors(DB, &file_refs, &[])?;
    let errors = stderr.lines().filter(|l| l.contains("ERROR:")).count();
    // What pagila lacks and a real database has: large objects (one of several MB), and its
    // materialized view populated (pagila creates it WITH NO DATA).
    source.sql(
        DB,
        "SELECT lo_from_bytea(0, convert_to(f.description, 'UTF8')) FROM public.film f LIMIT 50;
         SELECT lo_from_bytea(0, decode(repeat('00ff', 2500000), 'hex'));
         DO $$ BEGIN EXECUTE format('COMMENT ON LARGE OBJECT %s IS %L',
             (SELECT max(oid) FROM pg_largeobject_metadata), 'a 5 MB blob'); END $$;
         REFRESH MATERIALIZED VIEW public.rental_by_category;",
    )?;

    let counts = source.psql(
        DB,
        &[
            "-At",
            "-F",
            " ",
            "-c",
            "SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')),
                    count(*) FILTER (WHERE c.relkind = 'S'),
                    count(*) FILTER (WHERE c.relkind IN ('v', 'm'))
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg_toast%'",
        ],
    )?;
    let counts: Vec<&str> = counts.split_whitespace().collect();
    let [tables, sequences, views] = counts[..] else {
        bail!("unexpected counts from the source: {counts:?}");
    };

    println!();
    println!(
        "source (PostgreSQL {source_major}): {}",
        source.conninfo(DB)
    );
    println!(
        "target (PostgreSQL {target_major}): {}",
        target.conninfo(DB)
    );
    println!(
        "source {DB}: {tables} tables, {sequences} sequences, {views} views; {errors} load errors"
    );
    if errors > 0 {
        eprintln!("{stderr}");
    }
    println!(
        "psql: {} -d '<conninfo>'",
        client_bin_dir()?.join("psql").display()
    );
    println!();

    run_pgmove_steps(&source, &target)?;

    if hold {
        println!("servers are up; press Enter to stop them");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    Ok(())
}

/// The runbook, with pgmove: one `pgmove migrate` (roles, schema, rows and large objects,
/// sequences, post-data, validation), then checks that do not trust pgmove: both servers'
/// `pg_dump --schema-only -O`, row counts, a large object and a sequence read with psql.
fn run_pgmove_steps(source: &Cluster, target: &Cluster) -> Result<()> {
    let (s, t) = (source.conninfo(DB), target.conninfo(DB));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args = [
        "migrate", "--source", &s, "--target", &t, "--jobs", "2", "--roles",
    ];
    println!("\n$ pgmove {}", args.join(" "));
    let status = std::process::Command::new(cargo)
        .args(["run", "-q", "-p", "pgmove-cli", "--"])
        .args(args)
        .status()
        .context("running pgmove")?;
    if !status.success() {
        bail!("pgmove migrate failed ({status})");
    }

    let a = source.pg_dump(DB, &["--schema-only", "-O"])?;
    let b = target.pg_dump(DB, &["--schema-only", "-O"])?;
    println!("\nchecked with PostgreSQL's own tools");
    // Line sets, not positions: one moved line must not count as a thousand.
    let only = |x: &str, y: &str| -> Vec<String> {
        let ys: std::collections::HashSet<&str> = y.lines().collect();
        x.lines()
            .filter(|l| !ys.contains(l))
            .map(str::to_string)
            .collect()
    };
    let (src_only, tgt_only) = (only(&a, &b), only(&b, &a));
    if src_only.is_empty() && tgt_only.is_empty() {
        println!("  pg_dump --schema-only -O: source and target identical");
    } else {
        println!(
            "  pg_dump --schema-only -O: {} lines only in the source's, {} only in the target's:",
            src_only.len(),
            tgt_only.len()
        );
        for l in src_only.iter().take(5) {
            println!("    source: {l}");
        }
        for l in tgt_only.iter().take(5) {
            println!("    target: {l}");
        }
    }
    let both = |label: &str, sql: &str| -> Result<()> {
        println!(
            "  {label}: source {} / target {}",
            source.psql(DB, &["-At", "-c", sql])?.trim(),
            target.psql(DB, &["-At", "-c", sql])?.trim()
        );
        Ok(())
    };
    both("payment rows", "SELECT count(*) FROM public.payment")?;
    both(
        "payment_payment_id_seq",
        "SELECT last_value FROM public.payment_payment_id_seq",
    )?;
    both(
        "rental_by_category rows (materialized view)",
        "SELECT count(*) FROM public.rental_by_category",
    )?;
    both(
        "large objects (count, md5 of contents)",
        "SELECT count(*) || ', ' || coalesce(md5(string_agg(md5(lo_get(oid)), '' ORDER BY oid)), '-')
           FROM pg_largeobject_metadata",
    )?;
    Ok(())
}
