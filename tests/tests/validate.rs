//! `validate`: a faithful copy (made with pgmove's own steps) validates clean, on 15 and from 9.4,
//! 9.6 and 10 to 15, and each kind of difference injected into a copy is caught and named.

use pgmove_core::plan::{self, Step};
use pgmove_core::validate::{self, Verdict};
use pgmove_core::{apply, catalog, conn};
use pgmove_testkit::{Cluster, Major};

/// A source that has one of everything the injections below break; runs on 10 and later, and on
/// 9.4 and 9.6 without its row-level security lines (see [`setup_source`]).
const SOURCE_SQL: &str = "
CREATE SCHEMA app;
CREATE DOMAIN app.positive AS integer CONSTRAINT positive_check CHECK (VALUE > 0);
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE app.film (
    id serial PRIMARY KEY,
    title text NOT NULL,
    rating app.positive,
    price numeric(6,2) DEFAULT 9.99,
    score double precision,
    weight real,
    released timestamptz,
    length interval,
    mood app.mood,
    data jsonb,
    tags text[],
    raw bytea
);
CREATE INDEX film_title ON app.film (title);
CREATE TABLE app.log (at timestamp, msg text, level smallint);
CREATE TABLE app.pair (a integer, b text, v integer, PRIMARY KEY (a, b));
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.title := trim(NEW.title); RETURN NEW; END $$;
CREATE FUNCTION app.add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE
  SET search_path = app AS 'SELECT a + b';
CREATE TRIGGER film_touch BEFORE INSERT OR UPDATE ON app.film
  FOR EACH ROW EXECUTE PROCEDURE app.touch();
CREATE VIEW app.cheap AS SELECT id, title FROM app.film WHERE price < 5;
GRANT USAGE ON SCHEMA app TO validate_reader;
GRANT SELECT ON app.film TO validate_reader;
ALTER TABLE app.film ENABLE ROW LEVEL SECURITY;
CREATE POLICY recent ON app.film FOR SELECT USING (released > '2000-01-01');
COMMENT ON TABLE app.film IS 'films';
INSERT INTO app.film (title, rating, price, score, weight, released, length, mood, data, tags, raw)
SELECT 'film ' || g, 1 + g % 5, (g % 100) / 10.0, g / 7.0, g / 3.0, timestamptz '2001-02-03 04:05:06+01' + g * interval '1 hour',
       g * interval '1 minute', (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::app.mood,
       json_build_object('g', g, 'half', g / 2.0)::jsonb, ARRAY['a', 'b' || g], decode(md5(g::text), 'hex')
  FROM generate_series(1, 5000) g;
INSERT INTO app.log SELECT timestamp '2020-01-01' + g * interval '1 second', 'line ' || g, g % 3
  FROM generate_series(1, 3000) g;
INSERT INTO app.log SELECT timestamp '2020-01-01', 'twin', 1 FROM generate_series(1, 2);
INSERT INTO app.pair SELECT g % 50, 'k' || g, g FROM generate_series(1, 2000) g;
ANALYZE;
";

fn setup_source(major: impl Into<Major>) -> Cluster {
    let c = Cluster::start(major).expect("source cluster");
    c.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
    c.create_db("src").unwrap();
    // Row-level security arrives in 9.5: older sources get the rest.
    let sql: String = SOURCE_SQL
        .lines()
        .filter(|l| {
            c.major() >= Major::V9_5
                || !(l.contains("ROW LEVEL SECURITY") || l.starts_with("CREATE POLICY"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    c.sql("src", &sql).unwrap();
    c
}

/// Copy `src` of `s` into a new database `db` of `t` as the runbook does: schema, rows,
/// sequences, post-data, all by pgmove's library.
async fn faithful_copy(s: &Cluster, t: &Cluster, db: &str) {
    t.create_db(db).unwrap();
    let source = conn::connect_str(&s.conninfo("src")).await.unwrap();
    let target = conn::connect_str(&t.conninfo(db)).await.unwrap();
    let cat = catalog::read(&source).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    plan::check_target(&target, &cat, &p).await.unwrap();
    apply::apply_in_transaction(&target, &p.items, |_, _, _| {})
        .await
        .unwrap();
    s.copy_rows("src", t, db).unwrap();
    let p = plan::plan(&cat, Step::Sequences { margin: 0 }, &Default::default());
    apply::apply_in_transaction(&target, &p.items, |_, _, _| {})
        .await
        .unwrap();
    let p = plan::plan(&cat, Step::PostData, &Default::default());
    let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
    apply::apply_parallel(&[target], &p.items, &sizes, |_, _, _| {})
        .await
        .unwrap();
}

async fn validate(s: &Cluster, t: &Cluster, db: &str) -> validate::Report {
    let mut opts = validate::Options::default();
    opts.jobs = 2;
    opts.chunk_rows = 1000;
    validate::run(
        &s.conninfo("src").parse().unwrap(),
        &t.conninfo(db).parse().unwrap(),
        &opts,
        |_| {},
    )
    .await
    .expect("validation runs")
}

fn assert_clean(r: &validate::Report) {
    assert_eq!(
        r.verdict(),
        Verdict::Match,
        "{}",
        serde_json::to_string_pretty(r).unwrap()
    );
    assert!(r.schema_objects > 10, "{}", r.schema_objects);
    assert_eq!(r.tables.len(), 3);
    assert!(r.tables.iter().all(|t| t.source_rows > 0), "{:?}", r.tables);
    let film = r.tables.iter().find(|t| t.table == "app.film").unwrap();
    assert!(film.keyed && film.chunks > 2, "chunked by key: {film:?}");
    assert!(!r.sequences.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faithful_copy_validates_clean_and_each_injected_difference_is_named() {
    let src = setup_source(15);
    let tgt = Cluster::start(15).unwrap();
    tgt.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
    faithful_copy(&src, &tgt, "copy").await;
    assert_clean(&validate(&src, &tgt, "copy").await);

    // (what is injected, SQL on a fresh copy, what the report must name)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "dropped index",
            "DROP INDEX app.film_title",
            &["index app.film_title", "missing"],
        ),
        (
            "changed default",
            "ALTER TABLE app.film ALTER COLUMN price SET DEFAULT 1.5",
            &["table app.film", "1.5"],
        ),
        (
            "dropped domain constraint",
            "ALTER DOMAIN app.positive DROP CONSTRAINT positive_check",
            &["app.positive", "positive_check"],
        ),
        (
            "changed function body",
            "CREATE OR REPLACE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN NEW.title := upper(NEW.title); RETURN NEW; END $$",
            &["function app.touch()", "upper"],
        ),
        (
            "changed function setting",
            "ALTER FUNCTION app.add(integer, integer) RESET search_path",
            &["function app.add(", "search_path"],
        ),
        (
            "dropped trigger",
            "DROP TRIGGER film_touch ON app.film",
            &["trigger film_touch on app.film"],
        ),
        (
            "revoked grant",
            "REVOKE SELECT ON app.film FROM validate_reader",
            &[
                "table app.film",
                "GRANT SELECT ON TABLE app.film TO validate_reader",
            ],
        ),
        (
            "dropped policy",
            "DROP POLICY recent ON app.film",
            &["policy recent on app.film"],
        ),
        (
            "changed comment",
            "COMMENT ON TABLE app.film IS 'movies'",
            &["table app.film", "movies"],
        ),
        (
            "deleted row",
            "DELETE FROM app.film WHERE id = 2500",
            &["app.film", "id > '2000'::integer AND id <= '3000'::integer"],
        ),
        (
            "changed value without primary key",
            "UPDATE app.log SET msg = 'changed' WHERE msg = 'line 17'",
            &["app.log", "all rows"],
        ),
        (
            "changed value with a two-column key",
            "UPDATE app.pair SET v = -1 WHERE a = 7 AND b = 'k7'",
            &["app.pair", "(a, b)"],
        ),
        (
            "sequence set behind",
            "SELECT setval('app.film_id_seq', 10)",
            &["app.film_id_seq", "behind"],
        ),
        (
            "changed view",
            "CREATE OR REPLACE VIEW app.cheap AS SELECT id, title FROM app.film WHERE price < 6",
            &["view app.cheap", "6"],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, sql, names)) in cases.iter().enumerate() {
        let db = format!("case{i}");
        tgt.sql("postgres", &format!("CREATE DATABASE {db} TEMPLATE copy"))
            .unwrap();
        tgt.sql(&db, sql).unwrap();
        let r = validate(&src, &tgt, &db).await;
        let json = serde_json::to_string_pretty(&r).unwrap();
        if r.verdict() != Verdict::Differ {
            failures.push(format!("{what}: not caught:\n{json}"));
            continue;
        }
        for n in names.iter() {
            if !json.contains(n) {
                failures.push(format!("{what}: report does not name {n:?}:\n{json}"));
            }
        }
        // Nothing else is reported: one schema object, or one table, or one sequence.
        let found = r.schema.len()
            + r.sequences.iter().filter(|s| s.problem.is_some()).count()
            + r.tables.iter().filter(|t| t.differs()).count();
        if found != 1 {
            failures.push(format!("{what}: {found} differences reported:\n{json}"));
        }
        eprintln!("{what}: caught");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Sources before 10 (sequences without pg_sequence, no row_security setting before 9.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_from_9_4_and_9_6_to_15_validate_clean() {
    for major in [Major::V9_4, Major::V9_6] {
        let src = setup_source(major);
        let tgt = Cluster::start(15).unwrap();
        tgt.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
            .unwrap();
        faithful_copy(&src, &tgt, "copy").await;
        assert_clean(&validate(&src, &tgt, "copy").await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_from_10_to_15_validates_clean() {
    let src = setup_source(10);
    let tgt = Cluster::start(15).unwrap();
    tgt.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
    faithful_copy(&src, &tgt, "copy").await;
    assert_clean(&validate(&src, &tgt, "copy").await);
}

/// The round-trip fixture (one of every object kind pgmove migrates; from a source before 10,
/// the one of what 9.4 holds), copied by pgmove on each source→target pair of
/// `PGMOVE_TEST_PAIRS`: nothing may be reported, across 16 too (whose `pg_get_viewdef` stopped
/// qualifying single-table columns; views are compared parsed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_copy_validates_clean_on_each_test_pair() {
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut failures = Vec::new();
    for (sm, tm) in pgmove_testkit::test_pairs() {
        let fixture = fixtures.join(if sm >= 10 {
            "every_object.sql"
        } else {
            "v94_objects.sql"
        });
        let src = Cluster::start(sm).unwrap();
        let tgt = Cluster::start(tm).unwrap();
        for c in [&src, &tgt] {
            c.sql("postgres", "CREATE ROLE pgmove_reader NOLOGIN")
                .unwrap();
        }
        src.create_db("src").unwrap();
        let errors = src.load_files("src", &[fixture.as_path()], &[]).unwrap();
        if sm < 10 && errors.contains("ERROR") {
            failures.push(format!(
                "{sm}: {} does not load:\n{errors}",
                fixture.display()
            ));
            continue;
        }
        src.sql("src", "ANALYZE").unwrap();
        faithful_copy(&src, &tgt, "copy").await;
        let r = validate(&src, &tgt, "copy").await;
        if r.verdict() != Verdict::Match {
            failures.push(format!(
                "{sm}->{tm}: {}",
                serde_json::to_string_pretty(&r).unwrap()
            ));
        } else {
            eprintln!(
                "{sm}->{tm}: {} objects, {} sequences, {} tables: clean",
                r.schema_objects,
                r.sequences.len(),
                r.tables.len()
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Materialized views (one populated, one not) and large objects (empty, several chunks of
/// the hash, a comment, a GRANT), on top of [`SOURCE_SQL`].
const MATVIEWS_AND_LOBS: &str = r#"
CREATE MATERIALIZED VIEW app.film_moods AS SELECT mood, count(*) AS n, sum(score) AS score FROM app.film GROUP BY mood;
CREATE MATERIALIZED VIEW app.unfilled AS SELECT id FROM app.film WITH NO DATA;
SELECT lo_from_bytea(424241, '');
SELECT lo_from_bytea(424242, convert_to('hello', 'UTF8'));
SELECT lo_from_bytea(424243, convert_to(string_agg(md5(g::text), '' ORDER BY g), 'UTF8'))
  FROM generate_series(1, 80000) g;
COMMENT ON LARGE OBJECT 424242 IS 'greeting';
GRANT SELECT ON LARGE OBJECT 424243 TO validate_reader;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matviews_and_large_objects_are_compared() {
    let src = setup_source(15);
    src.sql("src", MATVIEWS_AND_LOBS).unwrap();
    let tgt = Cluster::start(15).unwrap();
    tgt.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
    faithful_copy(&src, &tgt, "copy").await;
    // The rows' copy brought the large objects too; they are pgmove's to copy.
    tgt.sql("copy", "SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
        .unwrap();
    let copied = pgmove_core::lobs::copy(
        &src.conninfo("src").parse().unwrap(),
        &tgt.conninfo("copy").parse().unwrap(),
        None,
        &Default::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(copied.objects, 3);
    let r = validate(&src, &tgt, "copy").await;
    let json = serde_json::to_string_pretty(&r).unwrap();
    assert_eq!(r.verdict(), Verdict::Match, "{json}");
    let moods = r.tables.iter().find(|t| t.table == "app.film_moods");
    assert!(moods.is_some_and(|t| t.source_rows == 3), "{json}");
    assert!(
        !r.tables.iter().any(|t| t.table == "app.unfilled"),
        "{json}"
    );
    assert_eq!(
        (
            r.large_objects.source_objects,
            r.large_objects.target_objects
        ),
        (3, 3)
    );

    let cases: &[(&str, &str, &[&str])] = &[
        (
            "matview left unpopulated",
            "REFRESH MATERIALIZED VIEW app.film_moods WITH NO DATA",
            &["materialized view data app.film_moods", "missing"],
        ),
        (
            "matview populated that was not",
            "REFRESH MATERIALIZED VIEW app.unfilled",
            &["materialized view data app.unfilled", "extra"],
        ),
        (
            "large object contents",
            "SELECT lo_put(424242, 0, '\\x4a'::bytea)",
            &["424242", "contents differ"],
        ),
        (
            "large object size",
            "SELECT lo_put(424243, 2560000, '\\x4a'::bytea)",
            &[
                "424243",
                "size 2560000 on the source, 2560001 on the target",
            ],
        ),
        (
            "large object missing",
            "SELECT lo_unlink(424241)",
            &["424241", "missing on the target"],
        ),
        (
            "large object extra",
            "SELECT lo_from_bytea(7, '')",
            &["\"oid\": 7,", "extra on the target"],
        ),
        (
            "large object comment",
            "COMMENT ON LARGE OBJECT 424242 IS 'hi'",
            &["424242", "comment differs"],
        ),
        (
            "large object grant",
            "REVOKE SELECT ON LARGE OBJECT 424243 FROM validate_reader",
            &["424243", "privileges differ"],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, sql, names)) in cases.iter().enumerate() {
        let db = format!("mcase{i}");
        tgt.sql("postgres", &format!("CREATE DATABASE {db} TEMPLATE copy"))
            .unwrap();
        tgt.sql(&db, sql).unwrap();
        let r = validate(&src, &tgt, &db).await;
        let json = serde_json::to_string_pretty(&r).unwrap();
        if r.verdict() != Verdict::Differ {
            failures.push(format!("{what}: not caught:\n{json}"));
            continue;
        }
        for n in names.iter() {
            if !json.contains(n) {
                failures.push(format!("{what}: report does not name {n:?}:\n{json}"));
            }
        }
        let found = r.schema.len()
            + r.sequences.iter().filter(|s| s.problem.is_some()).count()
            + r.tables.iter().filter(|t| t.differs()).count()
            + r.large_objects.differing_objects;
        if found != 1 {
            failures.push(format!("{what}: {found} differences reported:\n{json}"));
        }
        eprintln!("{what}: caught");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A matview populated over one that is not (emptied after): post-data cannot refresh it (its
/// refresh would fail), so it stays unpopulated on the target, and validation says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matview_post_data_cannot_refresh_is_reported() {
    let src = setup_source(15);
    src.sql(
        "src",
        "CREATE MATERIALIZED VIEW app.inner_m AS SELECT id FROM app.film;
         CREATE MATERIALIZED VIEW app.outer_m AS SELECT count(*) AS n FROM app.inner_m;
         REFRESH MATERIALIZED VIEW app.inner_m WITH NO DATA;",
    )
    .unwrap();
    let tgt = Cluster::start(15).unwrap();
    tgt.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
    faithful_copy(&src, &tgt, "copy").await;
    let r = validate(&src, &tgt, "copy").await;
    let json = serde_json::to_string_pretty(&r).unwrap();
    assert_eq!(r.verdict(), Verdict::Differ, "{json}");
    assert_eq!(r.schema.len(), 1, "{json}");
    assert_eq!(r.schema[0].object, "materialized view data app.outer_m");
    assert!(json.contains("\"missing\""), "{json}");
    assert!(!r.tables.iter().any(|t| t.differs()), "{json}");
}
