//! The data step against real servers, for each source→target pair: every kind of table that
//! holds rows arrives with exactly the source's rows (compared with hashes psql computes on
//! each server, never with pgmove), in one snapshot, and a bad target is refused before any
//! row moves.

use pgmove_core::data::{self, Progress};
use pgmove_core::filter::Filter;
use pgmove_core::model::Catalog;
use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn, Error};
use pgmove_testkit::{test_pairs, Cluster, Major};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every user table (relkind `r`) of `db`, quoted.
fn user_tables(c: &Cluster, db: &str) -> Vec<String> {
    let out = c
        .psql(
            db,
            &[
                "-At",
                "-c",
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname !~ '^pg_toast' ORDER BY 1",
            ],
        )
        .unwrap();
    out.lines().map(str::to_string).collect()
}

/// Per table: `count(*)` and an order-free md5 of the rows' text, computed by the server.
fn row_hashes(c: &Cluster, db: &str) -> BTreeMap<String, String> {
    let tables = user_tables(c, db);
    if tables.is_empty() {
        return BTreeMap::new();
    }
    let sql: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{lit}', count(*) || ' ' || coalesce(md5(string_agg(md5(t::text), ',' ORDER BY md5(t::text))), '-') FROM ONLY {t} t",
                lit = t.replace('\'', "''")
            )
        })
        .collect();
    let out = c
        .psql(db, &["-At", "-F", "\t", "-c", &sql.join(" UNION ALL ")])
        .unwrap();
    out.lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

fn has_state(c: &Cluster, db: &str) -> bool {
    c.psql(
        db,
        &[
            "-At",
            "-c",
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmove_data_state'",
        ],
    )
    .unwrap()
    .trim()
        != "0"
}

async fn read_catalog(c: &Cluster, db: &str) -> Catalog {
    let client = conn::connect_str(&c.conninfo(db)).await.unwrap();
    catalog::read(&client).await.unwrap()
}

/// `pgmove schema` into `db`.
async fn schema_step(cat: &Catalog, target: &Cluster, db: &str) {
    let t = conn::connect_str(&target.conninfo(db)).await.unwrap();
    let p = plan::plan(cat, Step::Schema, &Default::default());
    plan::check_target(&t, cat, &p).await.unwrap();
    apply::apply_in_transaction(&t, &p.items, |_, _, _| {})
        .await
        .unwrap();
}

fn spec(c: &Cluster, db: &str) -> conn::ConnSpec {
    c.conninfo(db).parse().unwrap()
}

/// Every kind of table that holds rows, with NULLs, odd names and awkward types. Generated
/// columns and DEFAULT partitions only where the server has them.
fn fixture(major: Major) -> String {
    let mut s = String::from(
        r#"
CREATE SCHEMA "My Schema";
CREATE TYPE "My Schema".mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE "My Schema".pair AS (a integer, b text);
CREATE TABLE "My Schema"."Odd ""Name"" T" (
    id integer PRIMARY KEY, "Col A" text, moods "My Schema".mood[], pairs "My Schema".pair[],
    n numeric, at timestamptz, "UPPER" varchar(10));
INSERT INTO "My Schema"."Odd ""Name"" T"
SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'row ' || g || E' tab\t nl\n quote'' bs\\' END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE ARRAY['sad', 'happy']::"My Schema".mood[] END,
       ARRAY[ROW(g, 'p' || g)::"My Schema".pair, ROW(NULL, NULL)::"My Schema".pair],
       g * 1.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', upper('v' || g % 100)
FROM generate_series(1, 2000) g;

EVENTS
CREATE TABLE public.animal (id integer, name text);
CREATE TABLE public.dog (bark text) INHERITS (public.animal);
CREATE TABLE public.cat (lives integer) INHERITS (public.animal);
INSERT INTO public.animal VALUES (1, 'generic'), (NULL, NULL);
INSERT INTO public.dog VALUES (2, 'rex', 'woof');
INSERT INTO public.cat SELECT g, 'cat' || g, 9 FROM generate_series(3, 300) g;

CREATE UNLOGGED TABLE public.scratch (k text PRIMARY KEY, v integer);
INSERT INTO public.scratch SELECT 'k' || g, g FROM generate_series(1, 1000) g;

IDENT
INSERT INTO public.ident (a) SELECT g FROM generate_series(1, 500) g;
DELETE FROM public.ident WHERE id % 10 = 0;

CREATE TABLE public.blobs (id integer PRIMARY KEY, data bytea);
INSERT INTO public.blobs SELECT g, decode(repeat(md5(g::text), 250000), 'hex') FROM generate_series(1, 3) g;
INSERT INTO public.blobs VALUES (4, NULL), (5, '\x00ff00'::bytea);

CREATE TABLE public.nokey (a text, b timestamp, c integer[], d boolean);
INSERT INTO public.nokey SELECT 'dup', timestamp '2020-02-29 12:00', ARRAY[g % 3, NULL], g % 2 = 0
FROM generate_series(1, 3000) g;
INSERT INTO public.nokey VALUES (NULL, NULL, NULL, NULL), (NULL, NULL, NULL, NULL);

CREATE TABLE public."UPPER case" ("Select" integer, "with space" text, "quote""d" text);
INSERT INTO public."UPPER case" VALUES (1, 'a b', 'q"'), (NULL, '', NULL);

CREATE TABLE public.empty_one (id integer PRIMARY KEY);
CREATE TABLE public.no_columns ();
INSERT INTO public.no_columns SELECT FROM generate_series(1, 3);

CREATE TABLE public.ext_cfg (id integer PRIMARY KEY, standard boolean NOT NULL, v text);
INSERT INTO public.ext_cfg VALUES (1, true, 'shipped'), (2, false, 'user 1'), (3, false, 'user 2');
CREATE VIEW public.v_events AS SELECT id FROM public.events;
CREATE MATERIALIZED VIEW public.mv_animal AS SELECT * FROM public.animal;
"#,
    );
    // Partitions and identity columns arrive in 10; before, a plain table and a serial.
    let (events, ident) = if major >= 10 {
        (EVENTS_PARTITIONED, "GENERATED ALWAYS AS IDENTITY")
    } else {
        (EVENTS_PLAIN, "DEFAULT nextval('public.ident_seq')")
    };
    s = s.replace("EVENTS\n", events);
    if major < 10 {
        s = s.replace("IDENT", "CREATE SEQUENCE public.ident_seq;\nIDENT");
    }
    s = s.replace(
        "IDENT",
        &format!("CREATE TABLE public.ident (id integer {ident} PRIMARY KEY, a integer);"),
    );
    if major >= 11 {
        s += "CREATE TABLE public.events_2024_late PARTITION OF public.events DEFAULT;
INSERT INTO public.events VALUES (99999, '2030-01-01', 'a', '{}');\n";
    }
    if major >= 12 {
        s += "CREATE TABLE public.gen (id integer PRIMARY KEY, a integer, b integer GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO public.gen SELECT g, CASE WHEN g % 4 = 0 THEN NULL ELSE g END FROM generate_series(1, 400) g;\n";
    }
    s
}

/// Two levels of range and list partitions (10+).
const EVENTS_PARTITIONED: &str = r#"CREATE TABLE public.events (id bigint, at date, kind text, payload jsonb) PARTITION BY RANGE (at);
CREATE TABLE public.events_2023 PARTITION OF public.events
    FOR VALUES FROM ('2023-01-01') TO ('2024-01-01') PARTITION BY LIST (kind);
CREATE TABLE public.events_2023_a PARTITION OF public.events_2023 FOR VALUES IN ('a');
CREATE TABLE public.events_2023_b PARTITION OF public.events_2023 FOR VALUES IN ('b');
CREATE TABLE public.events_2024 PARTITION OF public.events
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO public.events
SELECT g, date '2023-01-01' + (g % 700), CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'tags', ARRAY['x', 'y']) END
FROM generate_series(1, 20000) g;

"#;

/// What a 9.x source holds instead: the same rows in one plain table.
const EVENTS_PLAIN: &str = r#"CREATE TABLE public.events (id bigint, at date, kind text, payload jsonb);
INSERT INTO public.events
SELECT g, date '2023-01-01' + (g % 700), CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE json_build_object('g', g, 'tags', ARRAY['x', 'y'])::jsonb END
FROM generate_series(1, 20000) g;

"#;

/// Make `public.ext_cfg` a configuration table of an extension, as `pg_extension_config_dump`
/// records it (no extension available here ships one): a member of plpgsql, listed in its
/// `extconfig` with the condition that leaves out the rows the extension itself inserts.
const EXT_CONFIG: &str = "ALTER EXTENSION plpgsql ADD TABLE public.ext_cfg;
UPDATE pg_extension SET extconfig = ARRAY['public.ext_cfg'::regclass::oid],
       extcondition = ARRAY['WHERE NOT standard'] WHERE extname = 'plpgsql';";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_table_arrives_whole() {
    for (sm, tm) in test_pairs() {
        let source = Cluster::start(sm).unwrap();
        let target = Cluster::start(tm).unwrap();
        source.create_db("src").unwrap();
        target.create_db("dst").unwrap();
        source.sql("src", &fixture(sm)).unwrap();
        source.sql("src", EXT_CONFIG).unwrap();
        source.sql("src", "ANALYZE").unwrap();
        let cat = read_catalog(&source, "src").await;
        schema_step(&cat, &target, "dst").await;
        // The extension's table as CREATE EXTENSION would leave it: its own row only.
        target
            .sql(
                "dst",
                &format!(
                    "CREATE TABLE public.ext_cfg (id integer PRIMARY KEY, standard boolean NOT NULL, v text);
                     INSERT INTO public.ext_cfg VALUES (1, true, 'shipped');
                     {EXT_CONFIG}"
                ),
            )
            .unwrap();

        let mut opts = data::Options::default();
        opts.jobs = 2;
        // Small enough that the bigger tables are cut into ranges.
        opts.split_bytes = 128 << 10;
        let report = data::run(
            &spec(&source, "src"),
            &spec(&target, "dst"),
            &cat,
            &Filter::default(),
            &opts,
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("{sm}->{tm}: {e}"));

        let want = row_hashes(&source, "src");
        let got = row_hashes(&target, "dst");
        assert_eq!(want, got, "{sm}->{tm}: rows differ");
        assert!(want.len() >= if sm >= 10 { 14 } else { 12 }, "{want:?}");
        assert!(!has_state(&target, "dst"), "{sm}->{tm}: state left");

        let names: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
        // A partitioned parent holds no rows of its own (from 10; before, events is plain).
        let absent: &[&str] = if sm >= 10 {
            &["public.events", "public.v_events", "public.mv_animal"]
        } else {
            &["public.v_events", "public.mv_animal"]
        };
        for &absent in absent {
            assert!(!names.contains(&absent), "{sm}->{tm}: {absent} copied");
        }
        let by_name = |n: &str| {
            report
                .tables
                .iter()
                .find(|t| t.table == n)
                .unwrap_or_else(|| panic!("{n} not in {names:?}"))
        };
        assert_eq!(by_name("public.ext_cfg").rows, 2);
        assert_eq!(by_name("public.cat").rows, 298);
        assert_eq!(by_name("public.animal").rows, 2);
        if sm < 10 {
            // No partitions, and text COPY from a 9.x source: the rest does not apply.
            assert!(report.tables.iter().all(|t| t.format == data::Format::Text));
            continue;
        }
        let a_rows = source
            .psql(
                "src",
                &[
                    "-At",
                    "-c",
                    "SELECT count(*) FROM ONLY public.events_2023_a",
                ],
            )
            .unwrap();
        assert_eq!(
            by_name("public.events_2023_a").rows.to_string(),
            a_rows.trim()
        );
        // User types go as text, built-in ones as binary from a 10+ source.
        assert_eq!(
            by_name("\"My Schema\".\"Odd \"\"Name\"\" T\"").format,
            data::Format::Text
        );
        assert_eq!(by_name("public.blobs").format, data::Format::Binary);
        assert_eq!(by_name("public.nokey").format, data::Format::Binary);
        // The partitions and the key-less table were cut into ranges.
        assert!(
            by_name("public.nokey").parts > 1 || sm < 14,
            "{:?}",
            report.tables
        );
        assert!(by_name("public.events_2024").parts > 1 || sm < 14);
        assert!(by_name("\"My Schema\".\"Odd \"\"Name\"\" T\"").parts > 1);
        let total: u64 = report.tables.iter().map(|t| t.rows).sum();
        assert_eq!(total, report.rows);
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["bytes_per_second"].as_f64().unwrap() > 0.0);
        eprintln!(
            "{sm}->{tm}: {} tables, {} rows, {} tasks checked",
            report.tables.len(),
            report.rows,
            report.tasks
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_from_one_snapshot() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("src").unwrap();
    source
        .sql(
            "src",
            "CREATE TABLE public.a (id integer PRIMARY KEY, v text);
             CREATE TABLE public.b (id integer);
             INSERT INTO public.a SELECT g, 'v' FROM generate_series(1, 100) g;
             INSERT INTO public.b SELECT generate_series(1, 50);",
        )
        .unwrap();
    let cat = read_catalog(&source, "src").await;

    // A snapshot the caller exported: rows committed after it are not copied.
    target.create_db("given").unwrap();
    schema_step(&cat, &target, "given").await;
    let snap = data::Snapshot::export(&spec(&source, "src")).await.unwrap();
    source
        .sql(
            "src",
            "INSERT INTO public.a SELECT g, 'late' FROM generate_series(101, 150) g;
             DELETE FROM public.b WHERE id <= 10;",
        )
        .unwrap();
    let mut opts = data::Options::default();
    opts.snapshot = Some(snap.id().to_string());
    let report = data::run(
        &spec(&source, "src"),
        &spec(&target, "given"),
        &cat,
        &Filter::default(),
        &opts,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.snapshot, snap.id());
    drop(snap);
    let count = |db: &str, t: &str| {
        target
            .psql(db, &["-At", "-c", &format!("SELECT count(*) FROM {t}")])
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(count("given", "public.a"), "100");
    assert_eq!(count("given", "public.b"), "50");

    // The run's own snapshot: rows committed once it started (at its first event) are not
    // copied either.
    target.create_db("own").unwrap();
    schema_step(&cat, &target, "own").await;
    let before = row_hashes(&source, "src");
    let inserted = AtomicBool::new(false);
    let report = data::run(
        &spec(&source, "src"),
        &spec(&target, "own"),
        &cat,
        &Filter::default(),
        &data::Options::default(),
        &|p| {
            if matches!(p, Progress::Started { .. }) && !inserted.swap(true, Ordering::SeqCst) {
                source
                    .sql(
                        "src",
                        "INSERT INTO public.a SELECT g, 'later' FROM generate_series(151, 160) g;
                         UPDATE public.b SET id = -id;",
                    )
                    .unwrap();
            }
        },
    )
    .await
    .unwrap();
    assert!(inserted.load(Ordering::SeqCst));
    assert_eq!(row_hashes(&target, "own"), before);
    assert_ne!(row_hashes(&source, "src"), before);
    assert!(!report.snapshot.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_target_is_refused_before_any_row_moves() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("src").unwrap();
    target.create_db("dst").unwrap();
    source
        .sql(
            "src",
            "CREATE TABLE public.gone (id integer);
             CREATE TABLE public.retyped (id integer, v integer);
             CREATE TABLE public.renamed (id integer, v integer);
             CREATE TABLE public.full_one (id integer);
             CREATE TABLE public.secret (id integer);
             CREATE TABLE public.fine (id integer);
             INSERT INTO public.gone VALUES (1); INSERT INTO public.retyped VALUES (1, 1);
             INSERT INTO public.renamed VALUES (1, 1); INSERT INTO public.full_one VALUES (1);
             INSERT INTO public.secret VALUES (1); INSERT INTO public.fine VALUES (1);
             CREATE ROLE reader LOGIN;
             GRANT SELECT ON public.gone, public.retyped, public.renamed, public.full_one,
                             public.fine TO reader;",
        )
        .unwrap();
    let cat = read_catalog(&source, "src").await;
    target.sql("postgres", "CREATE ROLE reader LOGIN").unwrap();
    schema_step(&cat, &target, "dst").await;
    target
        .sql(
            "dst",
            "DROP TABLE public.gone;
             ALTER TABLE public.retyped ALTER COLUMN v TYPE bigint;
             ALTER TABLE public.renamed RENAME COLUMN v TO w;
             INSERT INTO public.full_one VALUES (42);",
        )
        .unwrap();
    let before = row_hashes(&target, "dst");
    let reader: conn::ConnSpec = format!(
        "host=127.0.0.1 port={} user=reader dbname=src",
        source.port()
    )
    .parse()
    .unwrap();
    let err = data::run(
        &reader,
        &spec(&target, "dst"),
        &cat,
        &Filter::default(),
        &data::Options::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    let Error::Problems { mut problems, .. } = err else {
        panic!("not a preflight error: {err}");
    };
    problems.sort();
    assert_eq!(
        problems,
        [
            "no SELECT privilege on source table public.secret",
            "public.renamed: column v (integer) is missing on the target",
            "public.renamed: column w (integer) exists only on the target",
            "public.retyped: column v is integer on the source but bigint on the target",
            "table public.gone does not exist on the target",
            "target table public.full_one already holds rows",
        ]
    );
    assert_eq!(row_hashes(&target, "dst"), before, "target touched");
    assert!(!has_state(&target, "dst"));

    // A filter that selects nothing is an error too.
    let filter = Filter::parse(&[], &[], &["public.nothing_here".into()], &[]).unwrap();
    let err = data::run(
        &spec(&source, "src"),
        &spec(&target, "dst"),
        &cat,
        &filter,
        &data::Options::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("select no table"), "{err}");

    // With the problems fixed and only some tables selected, the run goes through.
    target
        .sql(
            "dst",
            "TRUNCATE public.full_one; GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC",
        )
        .unwrap();
    let filter = Filter::parse(&[], &[], &["public.f*".into()], &[]).unwrap();
    let report = data::run(
        &spec(&source, "src"),
        &spec(&target, "dst"),
        &cat,
        &filter,
        &data::Options::default(),
        &|_| {},
    )
    .await
    .unwrap();
    let names: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(names, ["public.fine", "public.full_one"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_copy_names_its_table_and_a_rerun_finishes() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("src").unwrap();
    target.create_db("dst").unwrap();
    source
        .sql(
            "src",
            "CREATE TABLE public.good (id integer PRIMARY KEY, v integer);
             CREATE TABLE public.bad (id integer PRIMARY KEY, v integer);
             INSERT INTO public.good SELECT g, g FROM generate_series(1, 100) g;
             INSERT INTO public.bad SELECT g, g FROM generate_series(1, 100) g;",
        )
        .unwrap();
    let cat = read_catalog(&source, "src").await;
    schema_step(&cat, &target, "dst").await;
    // A check only the target has: the copy of public.bad fails on the server.
    target
        .sql(
            "dst",
            "ALTER TABLE public.bad ADD CONSTRAINT small CHECK (v < 50)",
        )
        .unwrap();
    let mut opts = data::Options::default();
    opts.jobs = 1;
    let (s, t, f) = (
        spec(&source, "src"),
        spec(&target, "dst"),
        Filter::default(),
    );
    let run = || data::run(&s, &t, &cat, &f, &opts, &|_| {});
    let err = run().await.unwrap_err();
    assert_eq!(err.sqlstate(), Some("23514"), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("while copying rows into public.bad") && !msg.contains('\n'),
        "{msg}"
    );
    assert!(has_state(&target, "dst"));
    let count = |t: &str| {
        target
            .psql("dst", &["-At", "-c", &format!("SELECT count(*) FROM {t}")])
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(count("public.bad"), "0", "no half table");

    target
        .sql("dst", "ALTER TABLE public.bad DROP CONSTRAINT small")
        .unwrap();
    run().await.unwrap();
    assert_eq!(row_hashes(&source, "src"), row_hashes(&target, "dst"));
    assert!(!has_state(&target, "dst"));
}
