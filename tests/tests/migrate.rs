//! `pgmove_core::migrate::Migration` end to end on every test pair, as a program embedding the
//! library runs it: roles, schema, rows, large objects, sequences, post-data (matviews
//! refreshed) and validation in one call. What it built is checked by PostgreSQL's own tools:
//! the target's `pg_dump --schema-only -O` equals that of a `pg_dump | psql` copy, and rows
//! (tables and populated matviews), large objects and sequences equal the source's by psql.

use pgmove_core::migrate::{Event, Migration};
use pgmove_testkit::checks::{large_objects, relation_rows, sequence_states};
use pgmove_testkit::{corpus_dir, test_pairs, Cluster, ExpectedError, Major};
use std::path::PathBuf;

/// What each source major gets: the every-object fixture (10+) or the 9.4 one, pagila and
/// musicbrainz (hundreds of tables, its own collations, types and extensions).
fn corpora(source: Major) -> Vec<(&'static str, Vec<PathBuf>)> {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let pagila = corpus_dir().join("pagila");
    if source < 10 {
        return vec![("v94_objects", vec![fixtures.join("v94_objects.sql")])];
    }
    vec![
        ("every_object", vec![fixtures.join("every_object.sql")]),
        (
            "pagila",
            vec![
                pagila.join("pagila-schema.sql"),
                pagila.join("pagila-data.sql"),
            ],
        ),
        (
            "musicbrainz",
            vec![corpus_dir().join("musicbrainz/load_all.sql")],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_moves_the_whole_database() {
    let expected_errors = include_str!("../fixtures/load_errors.tsv");
    let mut failures = Vec::new();
    for (sm, tm) in test_pairs() {
        let source = Cluster::start(sm).unwrap();
        let target = Cluster::start(tm).unwrap();
        // every_object's GRANTs name this role: it exists on the source cluster only, and the
        // migration's roles step must create it.
        source
            .sql("postgres", "CREATE ROLE pgmove_reader NOLOGIN")
            .unwrap();
        for (db, files) in corpora(sm) {
            source.create_db(db).unwrap();
            let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
            let expected = ExpectedError::parse_list(expected_errors, db).unwrap();
            source
                .load_files_expecting(
                    db,
                    &refs,
                    &[("PGUSER", "postgres"), ("DBNAME", db)],
                    &expected,
                )
                .unwrap();
            // In use, a database has large objects and populated matviews.
            source
                .sql(
                    db,
                    "SELECT lo_from_bytea(0, convert_to(repeat('pgmove ', g), 'UTF8'))
                       FROM generate_series(1, 20) g;
                     DO $$ DECLARE m regclass; BEGIN
                       FOR m IN SELECT oid FROM pg_class WHERE relkind = 'm' AND relname <> 'never_filled'
                                ORDER BY oid LOOP
                         EXECUTE format('REFRESH MATERIALIZED VIEW %s', m);
                       END LOOP; END $$;",
                )
                .unwrap();
            target.create_db(db).unwrap();

            let (s, t) = (
                source.conninfo(db).parse().unwrap(),
                target.conninfo(db).parse().unwrap(),
            );
            let report = Migration::new(s, t)
                .jobs(2)
                .roles(true)
                .run(&|_: Event<'_>| {})
                .await;
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{sm}->{tm} {db}: migrate failed: {e}"));
                    continue;
                }
            };
            if !report.passed() {
                failures.push(format!(
                    "{sm}->{tm} {db}: validation did not pass: {:?}",
                    report.validation.as_ref().map(|v| (
                        &v.schema,
                        v.sequences
                            .iter()
                            .filter(|s| s.problem.is_some())
                            .collect::<Vec<_>>(),
                        v.tables.iter().filter(|t| t.differs()).collect::<Vec<_>>(),
                        &v.large_objects
                    ))
                ));
            }

            // The reference, once the roles step made the roles its GRANTs name.
            let reference = format!("{db}_reference");
            target.create_db(&reference).unwrap();
            let dump = source.pg_dump(db, &["-O"]).unwrap();
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), dump).unwrap();
            target
                .load_tolerating_errors(&reference, &[file.path()], &[])
                .unwrap();
            let args = ["--schema-only", "-O"];
            let (ours, theirs) = (
                target.pg_dump(db, &args).unwrap(),
                target.pg_dump(&reference, &args).unwrap(),
            );
            if ours != theirs {
                let only = |a: &str, b: &str| -> Vec<String> {
                    let bs: std::collections::HashSet<&str> = b.lines().collect();
                    a.lines()
                        .filter(|l| !bs.contains(l))
                        .take(10)
                        .map(str::to_string)
                        .collect()
                };
                failures.push(format!(
                    "{sm}->{tm} {db}: the target dumps differently from pg_dump | psql:\n\
                     only pgmove's: {:#?}\nonly the reference's: {:#?}",
                    only(&ours, &theirs),
                    only(&theirs, &ours)
                ));
            }
            type Check = fn(&Cluster, &str) -> anyhow::Result<String>;
            let checks: [(&str, Check); 3] = [
                ("rows", relation_rows),
                ("large objects", large_objects),
                ("sequences", sequence_states),
            ];
            for (what, check) in checks {
                let (a, b) = (check(&source, db).unwrap(), check(&target, db).unwrap());
                if a != b {
                    failures.push(format!("{sm}->{tm} {db}: {what} differ:\n{a}\n{b}"));
                }
            }
            let left = "SELECT count(*) FROM pg_namespace
                        WHERE nspname IN ('pgmove_migrate', 'pgmove_data_state')";
            if target.psql(db, &["-At", "-c", left]).unwrap().trim() != "0" {
                failures.push(format!("{sm}->{tm} {db}: pgmove's bookkeeping is left"));
            }
            eprintln!("{sm}->{tm} {db}: checked");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
