//! Fidelity on real schemas: for each corpus schema and each source→target pair of majors,
//! `pgmove schema`, a data copy, `pgmove sequences` and `pgmove post-data` must leave a target
//! whose `pg_dump --schema-only -O` equals that of a target built with pg_dump and psql, with
//! every sequence in the source's state.

use pgmove_core::model::Catalog;
use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn};
use pgmove_testkit::checks::{dump_blocks, sequence_states};
use pgmove_testkit::{corpus_dir, test_pairs, Cluster, ExpectedError, Major};
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
    let v94 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/v94_objects.sql");
    let mut v = vec![
        // What a 9.4 source can hold; it loads on every major, without an error.
        Corpus {
            name: "v94_objects",
            files: vec![v94],
            pgmove_only: &[],
        },
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
    // PGMOVE_TEST_CORPORA=a,b narrows the run; a name matching no corpus is an error.
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

/// Differences between two dumps, ignoring blocks that name one of `allowed` (in pgmove's only).
fn dump_diff(pgmove: &str, reference: &str, allowed: &[&str]) -> Vec<String> {
    let (a, b) = (dump_blocks(pgmove), dump_blocks(reference));
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
    // The data step (no setval: the sequences step has to do that work).
    let spec = |c: &Cluster, db: &str| c.conninfo(db).parse::<conn::ConnSpec>();
    let (s, t) = (spec(source, source_db)?, spec(target, target_db)?);
    let opts = pgmove_core::data::Options::default();
    let filter = Default::default();
    pgmove_core::data::run(&s, &t, cat, &filter, &opts, &|_| {}).await?;
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

/// Refresh each populated materialized view, in creation order.
const REFRESH_POPULATED: &str = "DO $$ DECLARE m regclass; BEGIN
    FOR m IN SELECT oid FROM pg_class WHERE relkind = 'm' AND relispopulated ORDER BY oid LOOP
        EXECUTE format('REFRESH MATERIALIZED VIEW %s', m);
    END LOOP;
END $$";

/// Each materialized view, one line: its name, populated or not (`t`/`f`), and, when populated,
/// its row count and an order-free hash of its rows, computed by the server (plain SQL: the 9.x
/// builds here lack libxml, so no `query_to_xml`).
fn matview_rows(c: &Cluster, db: &str) -> String {
    let list = "SELECT format('%I.%I', schemaname, matviewname) || '|' || CASE WHEN ispopulated THEN 't' ELSE 'f' END FROM pg_matviews ORDER BY 1";
    let mut out = String::new();
    for line in c.psql(db, &["-At", "-c", list]).unwrap().lines() {
        let (name, populated) = line.rsplit_once('|').unwrap();
        let rows = if populated == "t" {
            let q = format!(
                "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') FROM {name} t"
            );
            c.psql(db, &["-At", "-c", &q]).unwrap().trim().to_string()
        } else {
            String::new()
        };
        out += &format!("{name}|{populated}|{rows}\n");
    }
    out
}
/// Per user table of `db`: `count(*)` and an order-free md5 of its rows' text, by psql. Tables
/// are labelled unquoted: `%I` quotes names that are keywords of the server's major only.
fn row_hashes(c: &Cluster, db: &str) -> anyhow::Result<String> {
    let list = "SELECT string_agg(format('SELECT %L, count(*), md5(string_agg(md5(t::text), '','' ORDER BY md5(t::text))) FROM ONLY %I.%I t', n.nspname || '.' || c.relname, n.nspname, c.relname), ' UNION ALL ' ORDER BY 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'";
    let sql = c.psql(db, &["-At", "-c", list])?;
    if sql.trim().is_empty() {
        return Ok(String::new());
    }
    let mut lines: Vec<String> = c
        .psql(db, &["-At", "-c", sql.trim()])?
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    Ok(lines.join("\n"))
}

/// Corpora loading on sources before 10, with the oldest such source (chinook as
/// [`files_for`] rewrites it); they must load there without an error. The others load from 10 on (identity columns, partitions, `PARALLEL`
/// functions, ICU collations, settings such as `row_security` at the top of their dumps).
const OLD_SOURCES: &[(&str, Major)] = &[
    ("v94_objects", Major::V9_4),
    ("northwind", Major::V9_4),
    ("sakila", Major::V9_4),
    ("chinook", Major::V9_4),
];

/// The files to load `corpus` from on `source`. Chinook declares its keys as identity columns
/// (from 10); before 10 it gets serial columns instead, staged in `stage`: its rows name no key
/// values, so they load the same and the sequences end alike.
fn files_for(corpus: &Corpus, source: Major, stage: &tempfile::TempDir) -> Vec<PathBuf> {
    if corpus.name != "chinook" || source >= 10 {
        return corpus.files.clone();
    }
    let sql = std::fs::read_to_string(&corpus.files[0]).unwrap();
    let identity = "INT NOT NULL GENERATED ALWAYS AS IDENTITY";
    assert!(sql.contains(identity), "chinook changed: no {identity:?}");
    let staged = stage.path().join("chinook-serial.sql");
    std::fs::write(&staged, sql.replace(identity, "SERIAL NOT NULL")).unwrap();
    vec![staged]
}

/// Whether `corpus` loads on a `source` (its expected errors are in load_errors.tsv).
fn loads_on(corpus: &str, source: Major) -> bool {
    match OLD_SOURCES.iter().find(|(name, _)| *name == corpus) {
        Some(&(_, oldest)) => source >= oldest,
        None => source >= 10,
    }
}

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
            if !loads_on(db, sm) {
                continue;
            }
            source.create_db(db).unwrap();
            let stage = tempfile::tempdir().unwrap();
            let files = files_for(&corpus, sm, &stage);
            let files: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
            source
                .load_files_expecting(
                    db,
                    &files,
                    &[("PGUSER", "postgres"), ("DBNAME", db)],
                    &expected_load_errors(db),
                )
                .unwrap();
            // Materialized views as in use: pagila's, loaded WITH NO DATA, populated; the
            // populated ones refreshed, as some were made before their rows or over catalogs
            // changed since. Post-data's refresh on the target must give the same rows.
            // (Not on 10, where pagila's schema does not load whole.)
            let pagila_matview = db == "pagila"
                && source
                    .sql(
                        db,
                        "SELECT to_regclass('public.rental_by_category') IS NOT NULL",
                    )
                    .unwrap()
                    .contains(" t\n");
            if pagila_matview {
                source
                    .sql(db, "REFRESH MATERIALIZED VIEW public.rental_by_category")
                    .unwrap();
            }
            source.sql(db, REFRESH_POPULATED).unwrap();
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
            source
                .pg_dump_into(db, &["--schema-only", "-O"], &target, &b)
                .unwrap();
            // The first step alone, against `pg_dump --section=pre-data -O | psql`.
            let (a_pre, b_pre) = (format!("{db}_pgmove_pre"), format!("{db}_pgdump_pre"));
            target.create_db(&a_pre).unwrap();
            target.create_db(&b_pre).unwrap();
            if let Err(e) = schema_step(&cat, &target, &a_pre).await {
                failures.push(format!("{sm}->{tm} {db}: pgmove schema failed: {e:#}"));
                continue;
            }
            source
                .pg_dump_into(db, &["--section=pre-data", "-O"], &target, &b_pre)
                .unwrap();

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
            let (want, got) = (row_hashes(&source, db), row_hashes(&target, &a));
            if want.as_ref().unwrap() != got.as_ref().unwrap() {
                failures.push(format!(
                    "{sm}->{tm} {db}: rows differ:\nsource {want:?}\ntarget {got:?}"
                ));
            }
            let want = sequence_states(&source, db).unwrap();
            let got = sequence_states(&target, &a).unwrap();
            if want != got {
                failures.push(format!(
                    "{sm}->{tm} {db}: sequences differ:\nsource {want}\ntarget {got}"
                ));
            }
            // Post-data refreshes what the source has populated, and only that.
            let want = matview_rows(&source, db);
            let expected: &[(&str, &str)] = match db {
                "pagila" if pagila_matview => &[("public.rental_by_category", "t")],
                // Over "User", whose generated column needs 12.
                "every_object" if sm >= 12 => &[
                    ("\"Odd Schema\".mood_summary", "t"),
                    ("\"Odd Schema\".never_filled", "f"),
                ],
                _ => &[],
            };
            for (m, populated) in expected {
                let line = want
                    .lines()
                    .find(|l| l.split('|').next().unwrap().trim() == *m);
                if line.and_then(|l| l.split('|').nth(1)).map(str::trim) != Some(populated) {
                    failures.push(format!("{sm} {db}: {m} is not {populated} on the source"));
                }
            }
            let got = matview_rows(&target, &a);
            if want != got {
                failures.push(format!(
                    "{sm}->{tm} {db}: materialized views differ:\nsource {want}\ntarget {got}"
                ));
            }
            eprintln!("{sm}->{tm} {db}: checked");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
