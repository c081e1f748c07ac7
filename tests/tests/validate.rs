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
    let major = major.into();
    // Row-level security arrives in 9.5: older sources get the rest.
    let sql: String = SOURCE_SQL
        .lines()
        .filter(|l| {
            major >= Major::V9_5
                || !(l.contains("ROW LEVEL SECURITY") || l.starts_with("CREATE POLICY"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    start_source(major, &sql)
}

/// A cluster of `major` with role `validate_reader` and database `src` holding `sql`.
fn start_source(major: Major, sql: &str) -> Cluster {
    let c = Cluster::start(major).expect("source cluster");
    c.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
    c.create_db("src").unwrap();
    c.sql("src", sql).unwrap();
    c
}

/// A target cluster of `major` with the role the sources grant to.
fn start_target(major: Major) -> Cluster {
    let c = Cluster::start(major).expect("target cluster");
    c.sql("postgres", "CREATE ROLE validate_reader NOLOGIN")
        .unwrap();
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

/// One injected difference: what it is, the SQL that injects it into a fresh clone of the
/// copy, and what the report must name.
type Case<'a> = (&'a str, &'a str, &'a [&'a str]);

/// For each case, clone `copy` on `t` into `{prefix}{i}` (running `per_clone` there first: what
/// a template does not carry, such as subscriptions, which live in a shared catalog), inject
/// the difference and validate against `src` of `s`: the report must say Differ, name what
/// the case names, and report exactly `differences` differences (schema objects, tables,
/// sequences and large objects), so that nothing else is reported. Returns one message per
/// failed expectation.
async fn each_injection_is_named(
    s: &Cluster,
    t: &Cluster,
    (prefix, per_clone): (&str, &str),
    differences: usize,
    cases: &[Case<'_>],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, (what, sql, names)) in cases.iter().enumerate() {
        let db = format!("{prefix}{i}");
        t.sql("postgres", &format!("CREATE DATABASE {db} TEMPLATE copy"))
            .unwrap();
        if !per_clone.is_empty() {
            t.sql(&db, per_clone).unwrap();
        }
        if let Err(e) = t.sql(&db, sql) {
            failures.push(format!("{what}: the injection fails: {e:#}"));
            continue;
        }
        // Boxed: validation's future is large, and tests run on a thread's small stack.
        let r = Box::pin(validate(s, t, &db)).await;
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
        if found != differences {
            failures.push(format!("{what}: {found} differences reported:\n{json}"));
        }
        eprintln!("{what}: caught");
    }
    failures
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
    let cases: &[Case] = &[
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
    let failures = each_injection_is_named(&src, &tgt, ("case", ""), 1, cases).await;
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
        // Clean because everything was compared, not because little was: every sequence
        // and every table with rows of the source is in the report.
        let count = |sql: &str| -> usize {
            src.psql("src", &["-Atc", sql])
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let sequences = count(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        );
        let with_rows = count("SELECT count(*) FROM pg_stat_user_tables WHERE n_live_tup > 0");
        let compared_with_rows = r.tables.iter().filter(|t| t.source_rows > 0).count();
        if r.sequences.len() != sequences
            || compared_with_rows != with_rows
            || r.schema_objects < 100
        {
            failures.push(format!(
                "{sm}->{tm}: compared {} sequences of {sequences}, {compared_with_rows} tables \
                 with rows of {with_rows}, {} schema objects",
                r.sequences.len(),
                r.schema_objects
            ));
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

    let cases: &[Case] = &[
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
    let failures = each_injection_is_named(&src, &tgt, ("mcase", ""), 1, cases).await;
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

/// One object of each kind a migration once lost without a word (see `SILENT_KIND_CASES`),
/// on 18. The subscription is apart ([`SUBSCRIPTION`]).
const SILENT_KINDS: &str = "
CREATE SCHEMA app;
-- Never emitted once: a language with a grant, a transform, a shell type, a conversion, a text
-- search parser and template.
CREATE FUNCTION app.pl_handler() RETURNS language_handler AS 'plpgsql', 'plpgsql_call_handler' LANGUAGE c;
CREATE TRUSTED LANGUAGE kind_pl HANDLER app.pl_handler;
COMMENT ON LANGUAGE kind_pl IS 'a language';
REVOKE USAGE ON LANGUAGE kind_pl FROM PUBLIC;
GRANT USAGE ON LANGUAGE kind_pl TO validate_reader;
CREATE TRANSFORM FOR integer LANGUAGE sql (FROM SQL WITH FUNCTION prsd_lextype(internal), TO SQL WITH FUNCTION int4recv(internal));
CREATE TYPE app.shell;
COMMENT ON TYPE app.shell IS 'a shell';
CREATE CONVERSION app.latin_to_utf8 FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
CREATE TEXT SEARCH PARSER app.prs (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
CREATE TEXT SEARCH TEMPLATE app.tmpl (LEXIZE = dsimple_lexize);
-- A typed table, TOAST storage parameters, an unlogged identity sequence of a logged table.
CREATE TYPE app.person AS (id integer, name text);
CREATE TABLE app.persons OF app.person (id WITH OPTIONS NOT NULL);
CREATE TABLE app.toasty (t text) WITH (toast.autovacuum_enabled = false);
CREATE TABLE app.ident (a integer GENERATED ALWAYS AS IDENTITY);
ALTER SEQUENCE app.ident_a_seq SET UNLOGGED;
-- NOT NULL constraints: one NOT VALID; a child's own on an inherited column; children
-- re-declaring a NOT NULL column of their parent's, with a NOT NULL of their own and without;
-- commented ones, with a CHECK and a key's index.
CREATE TABLE app.nn_later (a int, b int);
ALTER TABLE app.nn_later ADD CONSTRAINT a_nn NOT NULL a NOT VALID;
CREATE TABLE app.nn_parent (a int NOT NULL, b int);
CREATE TABLE app.nn_child (CONSTRAINT nn_child_b NOT NULL b) INHERITS (app.nn_parent);
CREATE TABLE app.nn_redeclared (a int NOT NULL) INHERITS (app.nn_parent);
CREATE TABLE app.nn_inherited (a int) INHERITS (app.nn_parent);
CREATE TABLE app.checked (id int CONSTRAINT checked_pk PRIMARY KEY,
    q int CONSTRAINT q_nn NOT NULL CONSTRAINT q_pos CHECK (q > 0));
COMMENT ON CONSTRAINT q_pos ON app.checked IS 'positive';
COMMENT ON CONSTRAINT q_nn ON app.checked IS 'present';
COMMENT ON INDEX app.checked_pk IS 'the key';
CREATE DOMAIN app.code AS text CONSTRAINT code_nn NOT NULL CONSTRAINT code_len CHECK (length(VALUE) < 9);
COMMENT ON CONSTRAINT code_nn ON DOMAIN app.code IS 'always';
COMMENT ON CONSTRAINT code_len ON DOMAIN app.code IS 'short';
-- A partitioned table's trigger, disabled on one partition, ENABLE ALWAYS on another.
CREATE FUNCTION app.audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TABLE app.parted (a int) PARTITION BY LIST (a);
CREATE TABLE app.parted_1 PARTITION OF app.parted FOR VALUES IN (1);
CREATE TABLE app.parted_2 PARTITION OF app.parted FOR VALUES IN (2);
CREATE TRIGGER parted_audit AFTER INSERT ON app.parted FOR EACH ROW EXECUTE FUNCTION app.audit();
ALTER TABLE app.parted_1 DISABLE TRIGGER parted_audit;
ALTER TABLE app.parted_2 ENABLE ALWAYS TRIGGER parted_audit;
-- Publications: a column list and row filter via the partition root (commented), a schema's,
-- generated columns.
CREATE TABLE app.published (id int PRIMARY KEY, v text, w text);
CREATE PUBLICATION pub_rows FOR TABLE app.published (id, v) WHERE (id > 10)
    WITH (publish_via_partition_root = true);
COMMENT ON PUBLICATION pub_rows IS 'rows';
CREATE SCHEMA pubschema;
CREATE PUBLICATION pub_schema FOR TABLES IN SCHEMA pubschema;
CREATE PUBLICATION pub_gen FOR TABLE app.published WITH (publish_generated_columns = stored);
-- Privileges on what pgmove does not create: a catalog column and function, plpgsql; and
-- on a foreign data wrapper and server.
GRANT SELECT (proname) ON pg_catalog.pg_proc TO validate_reader;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) FROM PUBLIC;
REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC;
CREATE FOREIGN DATA WRAPPER kind_fdw;
CREATE SERVER kind_server FOREIGN DATA WRAPPER kind_fdw;
GRANT USAGE ON FOREIGN DATA WRAPPER kind_fdw TO validate_reader;
GRANT USAGE ON FOREIGN SERVER kind_server TO validate_reader;
-- Default privileges: a schema's, and a role's own narrowed.
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO validate_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE validate_reader REVOKE SELECT ON TABLES FROM validate_reader;
INSERT INTO app.checked VALUES (1, 1), (2, 2);
";

/// A subscription made without connecting, with a comment. Subscriptions live in a shared
/// catalog, so a database cloned from a template has none: each clone gets it again.
const SUBSCRIPTION: &str = "
CREATE SUBSCRIPTION kind_sub CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere'
    PUBLICATION kind_pub WITH (connect = false);
COMMENT ON SUBSCRIPTION kind_sub IS 'a subscription';
";

/// Each kind of [`SILENT_KINDS`] changed on a copy: (what, SQL, what the report must name).
const SILENT_KIND_CASES: &[Case] = &[
    (
        "dropped transform",
        "DROP TRANSFORM FOR integer LANGUAGE sql",
        &["transform for integer language sql"],
    ),
    ("dropped shell type", "DROP TYPE app.shell", &["app.shell"]),
    (
        "dropped language",
        "DROP LANGUAGE kind_pl",
        &["language kind_pl", "missing"],
    ),
    (
        "revoked language grant",
        "REVOKE USAGE ON LANGUAGE kind_pl FROM validate_reader",
        &["language kind_pl", "validate_reader"],
    ),
    (
        "dropped conversion",
        "DROP CONVERSION app.latin_to_utf8",
        &["app.latin_to_utf8"],
    ),
    (
        "dropped text search parser",
        "DROP TEXT SEARCH PARSER app.prs",
        &["app.prs"],
    ),
    (
        "dropped text search template",
        "DROP TEXT SEARCH TEMPLATE app.tmpl",
        &["app.tmpl"],
    ),
    (
        "changed subscription comment",
        "COMMENT ON SUBSCRIPTION kind_sub IS 'changed'",
        &["subscription kind_sub", "changed"],
    ),
    (
        "typed table made plain",
        "ALTER TABLE app.persons NOT OF",
        &["table app.persons", "OF app.person"],
    ),
    (
        "reset TOAST storage parameter",
        "ALTER TABLE app.toasty RESET (toast.autovacuum_enabled)",
        &["table app.toasty", "toast.autovacuum_enabled"],
    ),
    (
        "identity sequence logged",
        "ALTER SEQUENCE app.ident_a_seq SET LOGGED",
        &["app.ident", "UNLOGGED"],
    ),
    (
        "child's own NOT NULL dropped",
        "ALTER TABLE app.nn_child ALTER COLUMN b DROP NOT NULL",
        &["table app.nn_child", "nn_child_b"],
    ),
    (
        "inherited NOT NULL made the child's own",
        "ALTER TABLE app.nn_inherited ALTER COLUMN a SET NOT NULL",
        &["table app.nn_inherited", "NOT NULL"],
    ),
    (
        "changed CHECK comment",
        "COMMENT ON CONSTRAINT q_pos ON app.checked IS 'changed'",
        &["app.checked", "changed"],
    ),
    (
        "changed NOT NULL comment",
        "COMMENT ON CONSTRAINT q_nn ON app.checked IS 'changed'",
        &["app.checked", "changed"],
    ),
    (
        "changed key index comment",
        "COMMENT ON INDEX app.checked_pk IS 'changed'",
        &["checked_pk", "changed"],
    ),
    (
        "changed domain CHECK comment",
        "COMMENT ON CONSTRAINT code_len ON DOMAIN app.code IS 'changed'",
        &["app.code", "changed"],
    ),
    (
        "changed domain NOT NULL comment",
        "COMMENT ON CONSTRAINT code_nn ON DOMAIN app.code IS 'changed'",
        &["app.code", "changed"],
    ),
    (
        "renamed domain NOT NULL",
        "ALTER DOMAIN app.code RENAME CONSTRAINT code_nn TO code_required",
        &["app.code", "code_required"],
    ),
    (
        "disabled partition trigger enabled",
        "ALTER TABLE app.parted_1 ENABLE TRIGGER parted_audit",
        &["parted_audit", "app.parted_1"],
    ),
    (
        "ENABLE ALWAYS partition trigger made REPLICA",
        "ALTER TABLE app.parted_2 ENABLE REPLICA TRIGGER parted_audit",
        &["parted_audit", "app.parted_2"],
    ),
    (
        "publication row filter",
        "ALTER PUBLICATION pub_rows SET TABLE app.published (id, v) WHERE (id > 20)",
        &["publication pub_rows", "20"],
    ),
    (
        "publication column list",
        "ALTER PUBLICATION pub_rows SET TABLE app.published (id, w) WHERE (id > 10)",
        &["publication pub_rows", "w"],
    ),
    (
        "publication via partition root",
        "ALTER PUBLICATION pub_rows SET (publish_via_partition_root = false)",
        &["publication pub_rows", "publish_via_partition_root"],
    ),
    (
        "publication comment",
        "COMMENT ON PUBLICATION pub_rows IS 'changed'",
        &["publication pub_rows", "changed"],
    ),
    (
        "publication schema dropped",
        "ALTER PUBLICATION pub_schema DROP TABLES IN SCHEMA pubschema",
        &["publication pub_schema", "pubschema"],
    ),
    (
        "publication generated columns",
        "ALTER PUBLICATION pub_gen SET (publish_generated_columns = none)",
        &["publication pub_gen", "publish_generated_columns"],
    ),
    (
        "catalog function grant",
        "GRANT EXECUTE ON FUNCTION pg_catalog.pg_sleep(double precision) TO PUBLIC",
        &["pg_sleep"],
    ),
    (
        "catalog column grant",
        "REVOKE SELECT (proname) ON pg_catalog.pg_proc FROM validate_reader",
        &["pg_proc", "proname"],
    ),
    (
        "plpgsql grant",
        "GRANT USAGE ON LANGUAGE plpgsql TO PUBLIC",
        &["plpgsql"],
    ),
    (
        "foreign data wrapper grant",
        "REVOKE USAGE ON FOREIGN DATA WRAPPER kind_fdw FROM validate_reader",
        &["kind_fdw", "validate_reader"],
    ),
    (
        "foreign server grant",
        "REVOKE USAGE ON FOREIGN SERVER kind_server FROM validate_reader",
        &["kind_server", "validate_reader"],
    ),
    (
        "schema default privileges",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA app REVOKE SELECT ON TABLES FROM validate_reader",
        &["validate_reader"],
    ),
    (
        "role default privileges",
        "ALTER DEFAULT PRIVILEGES FOR ROLE validate_reader GRANT SELECT ON TABLES TO validate_reader",
        &["validate_reader"],
    ),
];

/// Every kind a migration once lost silently, on 18 to 18: a faithful copy validates clean,
/// and each kind changed on a copy is reported and named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_once_silent_kind_is_caught_when_it_differs() {
    let src = start_source(Major::from(18), SILENT_KINDS);
    src.sql("src", SUBSCRIPTION).unwrap();
    let tgt = start_target(Major::from(18));
    faithful_copy(&src, &tgt, "copy").await;
    let r = validate(&src, &tgt, "copy").await;
    let json = serde_json::to_string_pretty(&r).unwrap();
    assert_eq!(r.verdict(), Verdict::Match, "{json}");
    assert!(r.schema_objects > 30, "{json}");
    let mut failures =
        each_injection_is_named(&src, &tgt, ("kind", SUBSCRIPTION), 1, SILENT_KIND_CASES).await;
    // Validated, the NOT NULL is the table's: the table differs, and the NOT VALID constraint
    // post-data adds is missing.
    let validated: &[Case] = &[(
        "NOT VALID NOT NULL validated",
        "ALTER TABLE app.nn_later VALIDATE CONSTRAINT a_nn",
        &[
            "table app.nn_later",
            "constraint a_nn on app.nn_later",
            "NOT VALID",
        ],
    )];
    failures
        .extend(each_injection_is_named(&src, &tgt, ("valid", SUBSCRIPTION), 2, validated).await);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// NOT NULL shapes of inheritance and partitioning on a source before 18, whose catalog has no
/// NOT NULL constraint records (an 18 target has them), and default privileges written with
/// the privilege list of a server before 17 (no MAINTAIN).
const INHERITED_NOT_NULLS: &str = "
CREATE SCHEMA inh;
CREATE TABLE inh.parent (a int NOT NULL, b int, c int);
-- Inherits a's NOT NULL.
CREATE TABLE inh.child () INHERITS (inh.parent);
-- Re-declares the NOT NULL column, with NOT NULL and without.
CREATE TABLE inh.redeclared (a int NOT NULL, d text) INHERITS (inh.parent);
CREATE TABLE inh.redeclared_bare (a int) INHERITS (inh.parent);
-- NOT NULL on an inherited column none of whose parents has it NOT NULL, and a grandchild
-- that inherits it.
CREATE TABLE inh.adds () INHERITS (inh.parent);
ALTER TABLE ONLY inh.adds ALTER COLUMN b SET NOT NULL;
CREATE TABLE inh.adds_child () INHERITS (inh.adds);
-- Two parents, of which one has the column NOT NULL.
CREATE TABLE inh.other (b int NOT NULL);
CREATE TABLE inh.two () INHERITS (inh.parent, inh.other);
-- Partitions: the root's NOT NULL, one of a partition's own, a sub-partitioned partition,
-- one made alone with more NOT NULLs and attached, a default one.
CREATE TABLE inh.parted (id int NOT NULL, k int, v text) PARTITION BY RANGE (id);
CREATE TABLE inh.parted_1 PARTITION OF inh.parted (k NOT NULL) FOR VALUES FROM (0) TO (100);
CREATE TABLE inh.parted_2 PARTITION OF inh.parted FOR VALUES FROM (100) TO (200) PARTITION BY LIST (k);
CREATE TABLE inh.parted_2a PARTITION OF inh.parted_2 FOR VALUES IN (1);
CREATE TABLE inh.parted_3 (id int NOT NULL, k int NOT NULL, v text NOT NULL);
ALTER TABLE inh.parted ATTACH PARTITION inh.parted_3 FOR VALUES FROM (200) TO (300);
CREATE TABLE inh.parted_d PARTITION OF inh.parted DEFAULT;
ALTER DEFAULT PRIVILEGES IN SCHEMA inh GRANT SELECT ON TABLES TO validate_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE validate_reader REVOKE SELECT ON TABLES FROM validate_reader;
INSERT INTO inh.child VALUES (1, 2, 3);
INSERT INTO inh.redeclared VALUES (1, 2, 3, 'x');
INSERT INTO inh.adds VALUES (1, 2, 3);
INSERT INTO inh.adds_child VALUES (1, 2, NULL);
INSERT INTO inh.two VALUES (1, 2, 3);
INSERT INTO inh.parted VALUES (1, 1, 'a'), (150, 1, 'b'), (250, 2, 'c'), (500, NULL, NULL);
";

/// From 15 to 18, the NOT NULLs of inheritance children and partitions: pgmove's copy is
/// pg_dump's own migration (the targets' `pg_dump --schema-only -O` are equal), and validation
/// reports no difference where that migration has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inherited_not_nulls_from_15_to_18_validate_clean() {
    let src = start_source(Major::from(15), INHERITED_NOT_NULLS);
    let tgt = start_target(Major::from(18));
    faithful_copy(&src, &tgt, "copy").await;
    tgt.create_db("reference").unwrap();
    let args = &["--schema-only", "-O"];
    src.pg_dump_into("src", args, &tgt, "reference").unwrap();
    let (ours, theirs) = (
        tgt.pg_dump("copy", args).unwrap(),
        tgt.pg_dump("reference", args).unwrap(),
    );
    let diffs: Vec<String> = pgmove_testkit::checks::differing_blocks(&ours, &theirs)
        .into_iter()
        .map(|(side, blk)| format!("{side}:\n{blk}"))
        .collect();
    let r = Box::pin(validate(&src, &tgt, "copy")).await;
    let json = serde_json::to_string_pretty(&r).unwrap();
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
    assert_eq!(r.verdict(), Verdict::Match, "{json}");
    assert!(
        r.tables.iter().any(|t| t.table == "inh.adds_child"),
        "{json}"
    );

    // Not blind across the versions either.
    let cases: &[Case] = &[
        (
            "child's own NOT NULL dropped",
            "ALTER TABLE inh.adds ALTER COLUMN b DROP NOT NULL",
            &["table inh.adds", "adds_b_not_null"],
        ),
        (
            "inherited NOT NULL made the child's own",
            "ALTER TABLE inh.redeclared_bare ALTER COLUMN a SET NOT NULL",
            &["table inh.redeclared_bare", "NOT NULL"],
        ),
        (
            "partition's own NOT NULL dropped",
            "ALTER TABLE inh.parted_3 ALTER COLUMN v DROP NOT NULL",
            &["table inh.parted_3"],
        ),
        (
            "role default privileges",
            "ALTER DEFAULT PRIVILEGES FOR ROLE validate_reader GRANT SELECT ON TABLES TO validate_reader",
            &["validate_reader"],
        ),
    ];
    let failures = each_injection_is_named(&src, &tgt, ("case", ""), 1, cases).await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A child that joined its parent with `ALTER TABLE … INHERIT` keeps its own column order on
/// the source; any migration recreates it with `INHERITS`, parent's columns first. That is
/// not a difference validate may report, while a changed column still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_joined_its_parent_later_validates_clean() {
    let src = Cluster::start(15).unwrap();
    let tgt = Cluster::start(15).unwrap();
    src.create_db("src").unwrap();
    src.sql(
        "src",
        "CREATE TABLE parent (a integer, b text);
         CREATE TABLE joined (z integer, b text, a integer);
         ALTER TABLE joined INHERIT parent;
         INSERT INTO joined VALUES (1, 'one', 10), (2, 'two', 20);",
    )
    .unwrap();
    faithful_copy(&src, &tgt, "copy").await;
    let order = "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                  WHERE attrelid = 'joined'::regclass AND attnum > 0";
    assert_eq!(src.psql("src", &["-Atc", order]).unwrap().trim(), "z,b,a");
    assert_eq!(tgt.psql("copy", &["-Atc", order]).unwrap().trim(), "a,b,z");
    let r = validate(&src, &tgt, "copy").await;
    assert_eq!(
        r.verdict(),
        Verdict::Match,
        "{}",
        serde_json::to_string_pretty(&r).unwrap()
    );
    assert_eq!(r.tables.len(), 2, "{:?}", r.tables);

    tgt.sql("copy", "ALTER TABLE joined ALTER COLUMN z TYPE bigint")
        .unwrap();
    let r = validate(&src, &tgt, "copy").await;
    let json = serde_json::to_string_pretty(&r.schema).unwrap();
    assert!(
        r.schema.len() == 1 && json.contains("table public.joined") && json.contains("bigint"),
        "{json}"
    );
}
