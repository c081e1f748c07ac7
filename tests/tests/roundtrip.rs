//! Fidelity on real schemas: for each corpus schema and each source→target pair of majors,
//! `pgmove schema`, a data copy, `pgmove sequences` and `pgmove post-data` must leave a target
//! whose `pg_dump --schema-only -O` equals that of a target built with pg_dump and psql, with
//! every sequence in the source's state.

use pgmove_core::model::Catalog;
use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn};
use pgmove_testkit::{corpus_dir, test_pairs, Cluster, ExpectedError};
use std::collections::BTreeMap;
use std::path::PathBuf;

struct Corpus {
    name: &'static str,
    files: Vec<PathBuf>,
    /// Blocks of the target's dump that only pgmove's target has, with the reason.
    pgmove_only: &'static [&'static str],
}

fn corpora() -> Vec<Corpus> {
    let c = corpus_dir();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/every_object.sql");
    let shapes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/expression_shapes.sql");
    let mut v = vec![
        Corpus {
            name: "every_object",
            files: vec![fixture],
            pgmove_only: &[],
        },
        // Checks and partial-index predicates: the ones pgmove prints itself and the ones it
        // leaves to the server, each compared with the server's word for word.
        Corpus {
            name: "expression_shapes",
            files: vec![shapes],
            pgmove_only: &[],
        },
        Corpus {
            name: "pagila",
            files: vec![
                c.join("pagila/pagila-schema.sql"),
                c.join("pagila/pagila-data.sql"),
            ],
            pgmove_only: &[],
        },
        Corpus {
            name: "chinook",
            files: vec![c.join("chinook/chinook.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "northwind",
            files: vec![c.join("northwind/northwind.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "sakila",
            files: vec![c.join("sakila/postgres-sakila-schema.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "danbooru",
            files: vec![c.join("danbooru/structure.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "gisia",
            files: vec![c.join("gisia/structure.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "lago",
            files: vec![c.join("lago/structure.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "musicbrainz",
            files: vec![c.join("musicbrainz/load_all.sql")],
            pgmove_only: &[],
        },
        Corpus {
            name: "postgrest",
            files: [
                "database.sql",
                "schema.sql",
                "jwt.sql",
                "jsonschema.sql",
                "privileges.sql",
                "data.sql",
            ]
            .iter()
            .map(|f| c.join("postgrest").join(f))
            .collect(),
            // Two views select from themselves (made with CREATE OR REPLACE). pg_dump's script
            // cannot create them; pgmove creates a dummy first, so only its target has them.
            // From 15 into 16+, pg_dump prints an argument named `json` bare (the source's
            // deparse) and its script fails there; pgmove quotes it, so only its target has
            // those two functions.
            pgmove_only: &[
                "infinite_recursion",
                "self_recursive_view",
                "varied_arguments",
            ],
        },
    ];
    if let Ok(only) = std::env::var("PGMOVE_TEST_CORPORA") {
        let names: Vec<&str> = only.split(',').map(str::trim).collect();
        for n in &names {
            assert!(
                v.iter().any(|c| c.name == *n),
                "PGMOVE_TEST_CORPORA names {n:?}, which is no corpus (known: {})",
                v.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            );
        }
        v.retain(|c| names.contains(&c.name));
    }
    v
}

/// The statements of `corpus` that fail by design on some majors (tests/fixtures/load_errors.tsv).
fn expected_load_errors(corpus: &str) -> Vec<ExpectedError> {
    let list = include_str!("../fixtures/load_errors.tsv");
    ExpectedError::parse_list(list, corpus).unwrap()
}

/// A dump cut into its `-- Name:` blocks, order-free.
fn blocks(dump: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in dump.split("\n--\n-- Name: ").skip(1) {
        *out.entry(b.trim().to_string()).or_insert(0) += 1;
    }
    out
}

/// Differences between two dumps, ignoring blocks that name one of `allowed` (in pgmove's only).
fn dump_diff(pgmove: &str, reference: &str, allowed: &[&str]) -> Vec<String> {
    let (a, b) = (blocks(pgmove), blocks(reference));
    let mut diffs = Vec::new();
    for (blk, n) in &a {
        if b.get(blk) != Some(n)
            && !allowed
                .iter()
                .any(|w| blk.lines().next().unwrap_or("").contains(w))
        {
            diffs.push(format!("only in pgmove's target:\n{blk}"));
        }
    }
    for (blk, n) in &b {
        if a.get(blk) != Some(n) {
            diffs.push(format!("only in pg_dump's target:\n{blk}"));
        }
    }
    diffs
}

/// `pg_dump ARGS source | psql target`, errors tolerated (pg_dump's script cannot always be
/// restored, and that is what the comparison shows).
fn load_pg_dump(source: &Cluster, db: &str, target: &Cluster, target_db: &str, args: &[&str]) {
    let sql = source.pg_dump(db, args).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), sql).unwrap();
    target
        .load_tolerating_errors(target_db, &[file.path()], &[])
        .unwrap();
}

/// `pgmove schema` into `target_db`.
async fn schema_step(cat: &Catalog, target: &Cluster, target_db: &str) -> anyhow::Result<()> {
    let t = conn::connect_str(&target.conninfo(target_db)).await?;
    let p = plan::plan(cat, Step::Schema, &Default::default());
    plan::check_target(&t, cat, &p).await?;
    apply::apply_in_transaction(&t, &p.items, |_, _, _| {}).await?;
    Ok(())
}

/// The runbook into `target_db`: schema, the rows (copied from `source_db`), sequences,
/// post-data on two connections.
async fn all_steps(
    cat: &Catalog,
    (source, source_db): (&Cluster, &str),
    (target, target_db): (&Cluster, &str),
) -> anyhow::Result<()> {
    schema_step(cat, target, target_db).await?;
    // Any copy will do; without setval, so the sequences step has to do that work.
    source.copy_rows(source_db, target, target_db)?;
    let t = conn::connect_str(&target.conninfo(target_db)).await?;
    let p = plan::plan(cat, Step::Sequences { margin: 0 }, &Default::default());
    apply::apply_in_transaction(&t, &p.items, |_, _, _| {}).await?;
    let p = plan::plan(cat, Step::PostData, &Default::default());
    let clients = vec![
        conn::connect_str(&target.conninfo(target_db)).await?,
        conn::connect_str(&target.conninfo(target_db)).await?,
    ];
    let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
    apply::apply_parallel(&clients, &p.items, &sizes, |_, _, _| {}).await?;
    Ok(())
}

/// Objects whose definition pgmove read differs from what `sql` (oid, server definition)
/// prints: one message each.
async fn differing_definitions<'a>(
    client: &tokio_postgres::Client,
    sql: &str,
    read: impl Iterator<Item = (u32, &'a str, &'a str)>,
) -> Vec<String> {
    let rows = client.query(sql, &[]).await.unwrap();
    let server: BTreeMap<u32, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    read.filter(|(oid, _, def)| server.get(oid).map(String::as_str) != Some(*def))
        .map(|(oid, name, def)| {
            let theirs = server.get(&oid).map_or("nothing", |s| s.as_str());
            format!("{name}: pgmove read\n  {def}\nthe server prints\n  {theirs}")
        })
        .collect()
}

const SEQUENCE_STATES: &str = "SELECT schemaname || '.' || sequencename || '=' || coalesce(last_value::text, 'not called') FROM pg_sequences ORDER BY 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_round_trip_matches_pg_dump() {
    let mut failures = Vec::new();
    for (sm, tm) in test_pairs() {
        let source = Cluster::start(sm).expect("source cluster");
        let target = Cluster::start(tm).expect("target cluster");
        // postgrest's grants name roles; roles are cluster-wide, so both clusters get them.
        let roles = corpus_dir().join("postgrest/roles.sql");
        for c in [&source, &target] {
            c.load_files("postgres", &[&roles], &[("PGUSER", "postgres")])
                .unwrap();
            c.sql("postgres", "DO $$ BEGIN CREATE ROLE pgmove_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$").unwrap();
        }
        for corpus in corpora() {
            let db = corpus.name;
            source.create_db(db).unwrap();
            let files: Vec<&std::path::Path> = corpus.files.iter().map(|p| p.as_path()).collect();
            source
                .load_files_expecting(
                    db,
                    &files,
                    &[("PGUSER", "postgres"), ("DBNAME", db)],
                    &expected_load_errors(db),
                )
                .unwrap();
            let (a, b) = (format!("{db}_pgmove"), format!("{db}_pgdump"));
            target.create_db(&a).unwrap();
            target.create_db(&b).unwrap();
            let cat = {
                let client = conn::connect_str(&source.conninfo(db)).await.unwrap();
                let cat = catalog::read(&client).await.unwrap();
                // pgmove prints most index, key and foreign key definitions itself from the
                // catalog's columns: each must be the server's own, word for word (with the
                // read's empty search_path).
                client.batch_execute("SET search_path = ''").await.unwrap();
                let indexes = cat
                    .indexes
                    .iter()
                    .map(|i| (i.oid, i.name.as_str(), i.definition.as_str()));
                let sql = "SELECT indexrelid, pg_get_indexdef(indexrelid) FROM pg_index";
                for diff in differing_definitions(&client, sql, indexes).await {
                    failures.push(format!("{sm} {db}: index {diff}"));
                }
                let constraints = cat
                    .constraints
                    .iter()
                    .map(|c| (c.oid, c.name.as_str(), c.definition.as_str()));
                let sql = "SELECT oid, pg_get_constraintdef(oid) FROM pg_constraint";
                for diff in differing_definitions(&client, sql, constraints).await {
                    failures.push(format!("{sm} {db}: constraint {diff}"));
                }
                cat
            };
            if let Err(e) = all_steps(&cat, (&source, db), (&target, &a)).await {
                failures.push(format!("{sm}->{tm} {db}: pgmove failed: {e:#}"));
                continue;
            }
            // The reference: pg_dump's schema through psql (errors tolerated, as pg_dump's own
            // script cannot always be restored).
            load_pg_dump(&source, db, &target, &b, &["--schema-only", "-O"]);
            // The first step alone, against `pg_dump --section=pre-data -O | psql`.
            let (a_pre, b_pre) = (format!("{db}_pgmove_pre"), format!("{db}_pgdump_pre"));
            target.create_db(&a_pre).unwrap();
            target.create_db(&b_pre).unwrap();
            if let Err(e) = schema_step(&cat, &target, &a_pre).await {
                failures.push(format!("{sm}->{tm} {db}: pgmove schema failed: {e:#}"));
                continue;
            }
            load_pg_dump(&source, db, &target, &b_pre, &["--section=pre-data", "-O"]);

            let full = &["--schema-only", "-O"][..];
            for (label, pa, pb, args) in [
                ("all steps", &a, &b, full),
                (
                    "all steps, pre-data section",
                    &a,
                    &b,
                    &["--schema-only", "-O", "--section=pre-data"][..],
                ),
                ("schema step alone", &a_pre, &b_pre, full),
            ] {
                let da = target.pg_dump(pa, args).unwrap();
                let dbb = target.pg_dump(pb, args).unwrap();
                // PGMOVE_TEST_DUMPS=DIR keeps both dumps, to read a difference whole.
                if let Some(dir) = std::env::var_os("PGMOVE_TEST_DUMPS") {
                    let stem = format!("{sm}-{tm}-{pa}");
                    let dir = std::path::Path::new(&dir);
                    std::fs::write(dir.join(format!("{stem}-{}-pgmove.sql", args.len())), &da)
                        .unwrap();
                    std::fs::write(dir.join(format!("{stem}-{}-pgdump.sql", args.len())), &dbb)
                        .unwrap();
                }
                let diffs = dump_diff(&da, &dbb, corpus.pgmove_only);
                if !diffs.is_empty() {
                    failures.push(format!(
                        "{sm}->{tm} {db} ({label}): {} differing blocks, first:\n{}",
                        diffs.len(),
                        diffs[0]
                    ));
                }
            }
            let want = source.sql(db, SEQUENCE_STATES).unwrap();
            let got = target.sql(&a, SEQUENCE_STATES).unwrap();
            if want != got {
                failures.push(format!(
                    "{sm}->{tm} {db}: sequences differ:\nsource {want}\ntarget {got}"
                ));
            }
            eprintln!("{sm}->{tm} {db}: checked");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
