//! Fidelity on PostgreSQL's own test objects: pg_dump's TAP test objects (`pg-dump-tap`) and the
//! regression database (`pg-regress`), the corpora pg_dump's authors rely on. For each
//! source→target pair, `pgmove schema`, `sequences` and `post-data` (no rows: they do not change
//! the schema) must complete, and the target's `pg_dump --schema-only -O` must equal that of a
//! target built with `pg_dump -s -O | psql`, block by block, but for the differences named
//! below with their reason.
//!
//! Apart from `roundtrip.rs` because it is long (the regression suite alone takes a minute or
//! two to load), with pairs of its own: `PGMOVE_REGRESS_PAIRS` (default `18:18`; `cargo xtask
//! test` runs 18:18 and 15:18, one in each of its two runs), `cargo test -p pgmove-e2e --test
//! regress`.

use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn, validate};
use pgmove_testkit::checks::differing_blocks;
use pgmove_testkit::{client_bin_dir, corpus_dir, parse_pairs, Cluster, ExpectedError, Major};
use std::process::Command;
use std::time::Instant;

/// A database of the corpora, and the blocks of its dump known to differ.
struct Db {
    name: &'static str,
    /// `(start of a block's "-- Name:" line, reason)`: the block may differ (either side).
    known: &'static [(&'static str, &'static str)],
    /// `(object, reason)`: objects `validate` reports although pg_dump's own migration has
    /// the same difference (gaps of validate, issue 16); any other report fails the test.
    validate_known: &'static [(&'static str, &'static str)],
}

/// Gaps of pgmove not fixed yet, each a cause of issue 16 (the number in the reason), and
/// differences that are not pgmove's. A block named here may differ; any other may not.
const DATABASES: &[Db] = &[
    Db {
        name: "dump_test",
        known: &[],
        validate_known: &[],
    },
    Db {
        name: "regress_pg_dump_test",
        known: &[],
        validate_known: &[],
    },
    Db {
        name: "regress_public_owner",
        known: &[],
        validate_known: &[],
    },
    Db {
        name: "regression",
        known: REGRESSION_KNOWN,
        validate_known: &[
            ("view public.limit_thousand_v_1", QUALIFIERS),
            ("view public.limit_thousand_v_3", QUALIFIERS),
            ("view public.limit_thousand_v_4", QUALIFIERS),
            ("view public.xmltableview2", QUALIFIERS),
            ("view public.xmlview4", QUALIFIERS),
            ("view public.xmlview8", QUALIFIERS),
            ("view public.xmlview9", QUALIFIERS),
        ],
    },
];

/// From a source before 16 to 16+: the server stopped qualifying single-table columns, and
/// validate's parse of the view (sqlparser) cannot read this one (FETCH FIRST … WITH TIES, XML
/// functions, a matview's access method), so it compares the text.
const QUALIFIERS: &str = "16+ drops single-table column qualifiers; the view is not parsed";

const REGRESSION_KNOWN: &[(&str, &str)] = &[
    // From a 15 source, pg_dump's script creates this cast before the binary cast that lets
    // its function's result reach the target type, and fails; pgmove orders it after, so only
    // pgmove's target has it. Not a gap of pgmove's.
    (
        "CAST (integer AS public.casttesttype);",
        "pg_dump's script fails on it (wrong order); pgmove's does not",
    ),
];

/// Statements of the TAP objects that fail by design: `(first major, last major, message)`.
/// The file makes a database named `dump_test`, which is the one it is loaded into; the rest
/// is PostgreSQL 18 syntax (measured on 15; other majors add theirs when tested).
const TAP_LOAD_ERRORS: &[(u32, u32, &str)] = &[
    (10, 18, "database \"dump_test\" already exists"),
    (15, 15, "syntax error at or near \"virtual\""),
    (
        15,
        15,
        "relation \"dump_test.test_table_generated\" does not exist",
    ),
    (15, 15, "cannot change access method of a partitioned table"),
    (15, 15, "constraint \"nn\""),
    (
        15,
        15,
        "unrecognized publication parameter: \"publish_generated_columns\"",
    ),
    (15, 15, "unrecognized subscription parameter: \"origin\""),
    (15, 15, "syntax error at or near \"NOT\""),
    (15, 15, "syntax error at or near \"WITHOUT\""),
];

/// Load the corpora into `c`: the regression database with its own `load.sh`, which runs the
/// suite's files as pg_regress would (many statements fail by design: what remains is the
/// corpus), and the TAP objects as their README says (statements a server lacks fail).
fn load_corpora(c: &Cluster) {
    let started = Instant::now();
    let dir = corpus_dir();
    let out = Command::new(dir.join("pg-regress/load.sh"))
        .arg("regression")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", c.port().to_string())
        .env("PGUSER", "postgres")
        .env("PSQL18", client_bin_dir().unwrap().join("psql"))
        .output()
        .expect("running pg-regress/load.sh");
    assert!(
        out.status.success(),
        "pg-regress/load.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{}: {} ({:?})",
        c.major(),
        String::from_utf8_lossy(&out.stdout).trim(),
        started.elapsed()
    );
    let tap = dir.join("pg-dump-tap");
    for db in ["dump_test", "regress_pg_dump_test", "regress_public_owner"] {
        c.create_db(db).unwrap();
        let file = tap.join(format!("{db}.sql"));
        let expected: Vec<ExpectedError> = TAP_LOAD_ERRORS
            .iter()
            .map(|&(a, b, m)| ExpectedError::new(a..=b, m))
            .collect();
        c.load_files_expecting(db, &[&file], &[], &expected)
            .unwrap();
    }
}

/// The fetched PostgreSQL builds lack lz4 while Debian's 15 has it: where the target cannot
/// hold lz4, the source's lz4 columns are made pglz first (pg_dump's script fails on them too).
fn without_lz4(source: &Cluster, target: &Cluster, db: &str) {
    let lz4 = "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)";
    if source.major() < 14 || target.psql("postgres", &["-Atc", lz4]).unwrap().trim() == "1" {
        return;
    }
    let sql = "SELECT format('ALTER %s %s ALTER COLUMN %I SET COMPRESSION pglz', CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, a.attrelid::regclass, a.attname) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE a.attcompression = 'l' AND c.relkind IN ('r', 'p', 'm') \\gexec";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), sql).unwrap();
    source
        .psql(db, &["-f", &file.path().display().to_string()])
        .unwrap();
}

/// The roles the corpora made on the source (cluster-wide), made on the target too: privileges
/// name them. `pg_dumpall --roles-only` through psql, errors tolerated (roles the target
/// already has, a password hash too long for 18).
fn copy_roles(source: &Cluster, target: &Cluster) {
    let out = Command::new(client_bin_dir().unwrap().join("pg_dumpall"))
        .args(["--roles-only", "-d", &source.conninfo("postgres")])
        .output()
        .expect("running pg_dumpall");
    assert!(out.status.success(), "pg_dumpall --roles-only failed");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &out.stdout).unwrap();
    target
        .load_tolerating_errors("postgres", &[file.path()], &[])
        .unwrap();
}

/// Drop the subscriptions of `db` on `c` (made without a slot to drop).
fn drop_subscriptions(c: &Cluster, db: &str) {
    let list = "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = current_database()";
    for name in c.psql(db, &["-Atc", list]).unwrap().lines() {
        let sub = format!("\"{}\"", name.replace('"', "\"\""));
        for sql in [
            format!("ALTER SUBSCRIPTION {sub} DISABLE"),
            format!("ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"),
            format!("DROP SUBSCRIPTION {sub}"),
        ] {
            c.sql(db, &sql).unwrap();
        }
    }
}

/// pgmove's steps into `target_db`: schema, sequences, post-data on two connections.
async fn pgmove_steps(
    source: &Cluster,
    db: &str,
    target: &Cluster,
    target_db: &str,
) -> anyhow::Result<()> {
    let cat = catalog::read(&conn::connect_str(&source.conninfo(db)).await?).await?;
    let t = conn::connect_str(&target.conninfo(target_db)).await?;
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    plan::check_target(&t, &cat, &p).await?;
    apply::apply_in_transaction(&t, &p.items, |_, _, _| {}).await?;
    let p = plan::plan(&cat, Step::Sequences { margin: 0 }, &Default::default());
    apply::apply_in_transaction(&t, &p.items, |_, _, _| {}).await?;
    let p = plan::plan(&cat, Step::PostData, &Default::default());
    let clients = vec![
        conn::connect_str(&target.conninfo(target_db)).await?,
        conn::connect_str(&target.conninfo(target_db)).await?,
    ];
    let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
    apply::apply_parallel(&clients, &p.items, &sizes, |_, _, _| {}).await?;
    Ok(())
}

/// `validate --schema-only` of `target_db` against `db`: `None` when it says they match, else
/// what it reported.
async fn validate_schema(
    source: &Cluster,
    db: &str,
    target: &Cluster,
    target_db: &str,
    known: &Db,
) -> Option<String> {
    let mut opts = validate::Options::default();
    opts.schema_only = true;
    let r = validate::run(
        &source.conninfo(db).parse().unwrap(),
        &target.conninfo(target_db).parse().unwrap(),
        &opts,
        |_| {},
    )
    .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return Some(format!("validate failed: {e:#}")),
    };
    let unknown: Vec<_> = r
        .schema
        .iter()
        .filter(|d| !known.validate_known.iter().any(|(o, _)| d.object == *o))
        .collect();
    for (o, why) in known.validate_known {
        if !r.schema.iter().any(|d| d.object == *o) {
            eprintln!("{db}: validate's known difference not seen: {o} ({why})");
        }
    }
    if !r.sequences.iter().all(|s| s.problem.is_none()) || !r.tables.iter().all(|t| !t.differs()) {
        return Some(format!(
            "validate reports differences:\n{}",
            serde_json::to_string_pretty(&r).unwrap()
        ));
    }
    (!unknown.is_empty()).then(|| {
        format!(
            "validate reports unexpected differences:\n{}",
            serde_json::to_string_pretty(&unknown).unwrap()
        )
    })
}

/// The pairs of this test: `PGMOVE_REGRESS_PAIRS`, default `18:18`.
fn regress_pairs() -> Vec<(Major, Major)> {
    let spec = std::env::var("PGMOVE_REGRESS_PAIRS").unwrap_or_else(|_| "18:18".into());
    let pairs = parse_pairs(&spec).expect("PGMOVE_REGRESS_PAIRS");
    assert!(!pairs.is_empty(), "PGMOVE_REGRESS_PAIRS names no pair");
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_own_test_objects_round_trip_as_pg_dump() {
    let mut failures = Vec::new();
    for (sm, tm) in regress_pairs() {
        let started = Instant::now();
        let source = Cluster::start(sm).expect("source cluster");
        let target = Cluster::start(tm).expect("target cluster");
        load_corpora(&source);
        copy_roles(&source, &target);
        for db in DATABASES {
            let name = db.name;
            without_lz4(&source, &target, name);
            let (a, b) = (format!("{name}_pgmove"), format!("{name}_pgdump"));
            target.create_db(&a).unwrap();
            target.create_db(&b).unwrap();
            // The reference first: pg_dump's schema through psql, errors tolerated, dumped,
            // then its subscriptions dropped (their names are the cluster's: pgmove's target
            // makes the same ones).
            let args = &["--schema-only", "-O"];
            source.pg_dump_into(name, args, &target, &b).unwrap();
            let dbb = target.pg_dump(&b, args).unwrap();
            drop_subscriptions(&target, &b);

            let t0 = Instant::now();
            if let Err(e) = pgmove_steps(&source, name, &target, &a).await {
                failures.push(format!("{sm}->{tm} {name}: pgmove failed: {e:#}"));
                continue;
            }
            let pgmove_time = t0.elapsed();
            let da = target.pg_dump(&a, args).unwrap();
            // pgmove's own check agrees, and every sequence is in the source's state (its
            // subscriptions are still there: the source has them too).
            if let Some(problem) = validate_schema(&source, name, &target, &a, db).await {
                failures.push(format!("{sm}->{tm} {name}: {problem}"));
            }
            let sequences = "SELECT format('%s.%s %s', schemaname, sequencename, last_value)
                               FROM pg_sequences ORDER BY 1";
            let (ss, ts) = (
                source.psql(name, &["-Atc", sequences]).unwrap(),
                target.psql(&a, &["-Atc", sequences]).unwrap(),
            );
            if ss != ts {
                failures.push(format!(
                    "{sm}->{tm} {name}: sequences differ:\nsource:\n{ss}\ntarget:\n{ts}"
                ));
            }
            drop_subscriptions(&target, &a);
            // PGMOVE_TEST_DUMPS=DIR keeps both dumps, to read a difference whole.
            if let Some(dir) = std::env::var_os("PGMOVE_TEST_DUMPS") {
                let dir = std::path::Path::new(&dir);
                std::fs::write(dir.join(format!("{sm}-{tm}-{name}-pgmove.sql")), &da).unwrap();
                std::fs::write(dir.join(format!("{sm}-{tm}-{name}-pgdump.sql")), &dbb).unwrap();
            }
            let diffs = differing_blocks(&da, &dbb);
            let mut unknown = Vec::new();
            let mut known_seen = 0;
            for (side, blk) in &diffs {
                let head = blk.lines().next().unwrap_or("");
                match db.known.iter().find(|(k, _)| head.starts_with(k)) {
                    Some(_) => known_seen += 1,
                    None => unknown.push(format!("{side}:\n{blk}")),
                }
            }
            eprintln!(
                "{sm}->{tm} {name}: pgmove {pgmove_time:?}; {} differing blocks, {known_seen} known",
                diffs.len()
            );
            // Known differences not met here: fixed since (then remove them), or of another pair.
            for (k, why) in db.known {
                if !diffs
                    .iter()
                    .any(|(_, b)| b.lines().next().unwrap_or("").starts_with(k))
                {
                    eprintln!("{sm}->{tm} {name}: known difference not seen: {k} ({why})");
                }
            }
            if !unknown.is_empty() {
                failures.push(format!(
                    "{sm}->{tm} {name}: {} unexpected differing blocks:\n{}",
                    unknown.len(),
                    unknown.join("\n\n")
                ));
            }
        }
        eprintln!("{sm}->{tm}: {:?} in all", started.elapsed());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
