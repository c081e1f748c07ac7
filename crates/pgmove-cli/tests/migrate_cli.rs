//! `pgmove migrate` end to end, through the binary as a user runs it: the whole runbook in one
//! command, continued after a stop, refused with every problem listed when the target is wrong,
//! and refused when the source's schema changed between two runs. What it built is checked
//! with pg_dump and psql, never with pgmove's own reader.

use pgmove_testkit::checks::{large_objects, relation_rows, sequence_states};
use pgmove_testkit::{corpus_dir, test_pairs, Cluster};
use std::process::{Command, Output};

fn pgmove(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgmove"))
        .args(args)
        .env_remove("PGMOVE_SOURCE")
        .env_remove("PGMOVE_TARGET")
        .output()
        .expect("run pgmove")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn load_pagila(c: &Cluster, db: &str) {
    c.create_db(db).unwrap();
    let dir = corpus_dir().join("pagila");
    let files = [dir.join("pagila-schema.sql"), dir.join("pagila-data.sql")];
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let err = c.load_files(db, &refs, &[]).unwrap();
    assert!(!err.contains("ERROR"), "pagila failed to load:\n{err}");
    // pagila creates its materialized view WITH NO DATA: populated, the target must have it
    // populated with the same rows.
    c.sql(db, "REFRESH MATERIALIZED VIEW public.rental_by_category")
        .unwrap();
}

const STATE_LEFT: &str = "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmove_migrate'";

fn row_digest(c: &Cluster, db: &str) -> String {
    relation_rows(c, db).unwrap()
}

/// With `--data none` the first run stops after the schema (rows are another tool's job, as
/// with AWS DMS); after the rows are copied, the same command finishes the runbook. The target
/// then dumps like a `pg_dump | psql` copy, its sequences are the source's, and nothing of
/// pgmove's bookkeeping is left.
#[test]
fn external_rows_then_the_same_command_finishes_the_runbook() {
    for (sm, tm) in test_pairs() {
        let source = Cluster::start(sm).unwrap();
        let target = Cluster::start(tm).unwrap();
        load_pagila(&source, "pagila");
        target.create_db("pagila").unwrap();
        target.create_db("reference").unwrap();
        let (s, t) = (source.url("pagila"), target.url("pagila"));

        let o = pgmove(&[
            "migrate", "--source", &s, "--target", &t, "--data", "none", "-j", "2",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("run the same command again"),
            "{}",
            text(&o)
        );
        assert_eq!(
            target
                .psql("pagila", &["-At", "-c", STATE_LEFT])
                .unwrap()
                .trim(),
            "1"
        );

        // The external copy (pg_dump's data section standing in for DMS; no setval lines).
        source.copy_rows("pagila", &target, "pagila").unwrap();

        let o = pgmove(&[
            "migrate", "--source", &s, "--target", &t, "-j", "2", "--format", "json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let status = |step: &str| {
            report["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["step"] == step)
                .map(|s| s["status"].as_str().unwrap().to_string())
        };
        assert_eq!(status("schema").as_deref(), Some("already-done"));
        assert_eq!(status("data").as_deref(), Some("already-done"));
        assert_eq!(status("sequences").as_deref(), Some("done"));
        assert_eq!(status("post-data").as_deref(), Some("done"));
        assert_eq!(status("validate").as_deref(), Some("done"));

        let reference = source.pg_dump("pagila", &["-O"]).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), reference).unwrap();
        // Errors tolerated, as in the round-trip tests: pg_dump 18 sets transaction_timeout,
        // which servers before 17 do not know.
        target
            .load_tolerating_errors("reference", &[file.path()], &[])
            .unwrap();
        let args = ["--schema-only", "-O"];
        assert_eq!(
            target.pg_dump("pagila", &args).unwrap(),
            target.pg_dump("reference", &args).unwrap(),
            "{sm}->{tm}: pgmove's target dumps differently from pg_dump | psql"
        );
        assert_eq!(
            sequence_states(&source, "pagila").unwrap(),
            sequence_states(&target, "pagila").unwrap()
        );
        assert_eq!(row_digest(&source, "pagila"), row_digest(&target, "pagila"));
        assert_eq!(
            target
                .psql("pagila", &["-At", "-c", STATE_LEFT])
                .unwrap()
                .trim(),
            "0"
        );

        // Finished: a third run finds a full target and says so, writing nothing.
        let o = pgmove(&["migrate", "--source", &s, "--target", &t]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("target is not empty"), "{}", text(&o));
    }
}

/// DDL on the source between an interrupted run and its continuation: one clear error, and
/// the target keeps what the first run built (nothing mixed in).
#[test]
fn a_changed_source_schema_stops_the_continuation() {
    let source = Cluster::start(15).unwrap();
    let target = Cluster::start(15).unwrap();
    for (c, db) in [(&source, "app"), (&target, "app")] {
        c.create_db(db).unwrap();
    }
    source
        .sql(
            "app",
            "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')",
        )
        .unwrap();
    let (s, t) = (source.url("app"), target.url("app"));
    let o = pgmove(&["migrate", "--source", &s, "--target", &t, "--data", "none"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    source.sql("app", "ALTER TABLE t ADD COLUMN w int").unwrap();
    let o = pgmove(&["migrate", "--source", &s, "--target", &t]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("schema changed"), "{err}");
    let cols = target
        .psql("app", &["-At", "-c", "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attnum > 0"])
        .unwrap();
    assert_eq!(cols.trim(), "2");
}

/// `--restart` after the source's schema changed under an interrupted run: everything the
/// earlier run created goes (schemas, types, functions, tables, views, large objects, its
/// bookkeeping), what the target held before it stays, and the new run completes against the
/// new schema. A second `--restart` on the finished target has no record to go by and is
/// refused by the preflight like any non-empty target.
#[test]
fn restart_drops_the_earlier_run_and_keeps_what_was_there() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    for (c, db) in [(&source, "app"), (&target, "app")] {
        c.create_db(db).unwrap();
    }
    source
        .sql(
            "app",
            "CREATE SCHEMA shop; CREATE TYPE shop.mood AS ENUM ('ok', 'meh');
             CREATE DOMAIN public.pos AS int CHECK (VALUE > 0);
             CREATE FUNCTION public.twice(int) RETURNS int LANGUAGE sql AS 'SELECT $1 * 2';
             CREATE TABLE shop.t (id serial PRIMARY KEY, m shop.mood, p pos);
             CREATE TABLE public.u (id int PRIMARY KEY, t_id int REFERENCES shop.t);
             CREATE VIEW public.v AS SELECT id, twice(id) FROM shop.t;
             INSERT INTO shop.t (m, p) SELECT 'ok', g FROM generate_series(1, 200000) g;
             INSERT INTO public.u SELECT g, g FROM generate_series(1, 200000) g;
             SELECT lo_from_bytea(0, 'from the source');",
        )
        .unwrap();
    // The target's own objects, before any run: in public and in a schema of its own.
    target
        .sql(
            "app",
            "CREATE SCHEMA mine; CREATE TABLE mine.keep (x int); INSERT INTO mine.keep VALUES (7);
             CREATE TABLE public.keep_too (y text); CREATE FUNCTION public.own() RETURNS int
             LANGUAGE sql AS 'SELECT 1';",
        )
        .unwrap();
    let (s, t) = (source.url("app"), target.url("app"));
    // An earlier run killed after its data step (while post-data builds the keys of 200,000
    // rows): schema, rows and the large object landed.
    assert!(
        kill_after_step(
            &["migrate", "--source", &s, "--target", &t, "--jobs", "2"],
            "data"
        ),
        "the first run finished before it could be killed"
    );
    source
        .sql(
            "app",
            "ALTER TABLE shop.t ADD COLUMN note text DEFAULT 'new'",
        )
        .unwrap();
    let o = pgmove(&["migrate", "--source", &s, "--target", &t]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--restart"),
        "{}",
        text(&o)
    );

    let o = pgmove(&[
        "migrate",
        "--source",
        &s,
        "--target",
        &t,
        "--restart",
        "--jobs",
        "2",
    ]);
    assert!(text(&o).contains("started over: dropped"), "{}", text(&o));
    // Validation compares whole databases: the target's own objects are its only differences.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("Schema: 12 objects compared, 4 differ"),
        "{out}"
    );
    for extra in [
        "schema mine",
        "function public.own()",
        "table mine.keep",
        "table public.keep_too",
    ] {
        assert!(out.contains(&format!("{extra} ")), "{extra}: {out}");
    }
    assert_eq!(row_digest(&source, "app"), {
        // The target's rows, without its own table and the record validation's verdict kept.
        let all = row_digest(&target, "app");
        all.lines()
            .filter(|l| !l.contains("keep") && !l.starts_with("pgmove_migrate."))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    let q = |sql: &str| {
        target
            .psql("app", &["-At", "-c", sql])
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(q("SELECT x FROM mine.keep"), "7");
    assert_eq!(
        q("SELECT to_regclass('public.keep_too') IS NOT NULL AND to_regprocedure('public.own()') IS NOT NULL"),
        "t"
    );
    assert_eq!(
        q("SELECT string_agg(convert_from(lo_get(oid), 'UTF8'), ',') FROM pg_largeobject_metadata"),
        "from the source"
    );
    assert_eq!(
        q("SELECT count(*) FROM shop.t WHERE note = 'new'"),
        "200000"
    );

    // Once the target's own objects are gone, the same command finds every step done,
    // validates clean and removes its record.
    target
        .sql(
            "app",
            "DROP SCHEMA mine CASCADE; DROP TABLE keep_too; DROP FUNCTION own()",
        )
        .unwrap();
    let o = pgmove(&["migrate", "--source", &s, "--target", &t]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(q(STATE_SCHEMAS), "0");
}

/// A wrong target: every problem on its own line, all at once, and nothing written.
#[test]
fn preflight_lists_every_problem_and_writes_nothing() {
    let source = Cluster::start(15).unwrap();
    let target = Cluster::start(15).unwrap();
    source.create_db("app").unwrap();
    target.create_db("app").unwrap();
    source
        .sql(
            "app",
            "CREATE ROLE pgmove_preflight_reader; CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE u (id int);
             GRANT SELECT ON t TO pgmove_preflight_reader;",
        )
        .unwrap();
    target
        .sql(
            "app",
            "CREATE TABLE u (id int); SELECT lo_from_bytea(0, 'not the source''s');
             CREATE TABLE other (x int); CREATE INDEX t_pkey ON other (x)",
        )
        .unwrap();
    let before = target.pg_dump("app", &["--schema-only"]).unwrap();
    let o = pgmove(&[
        "migrate",
        "--source",
        &source.url("app"),
        "--target",
        &target.url("app"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(
        err.contains("holds 1 large object(s) the source does not have"),
        "{err}"
    );
    // An index is a relation: one named like a key post-data will build is a conflict too.
    assert!(
        err.contains(
            "2 object(s) already exist on the target: relation public.t_pkey, relation public.u"
        ),
        "{err}"
    );
    assert!(
        err.contains("lacks role(s) that privileges name: pgmove_preflight_reader"),
        "{err}"
    );
    assert_eq!(target.pg_dump("app", &["--schema-only"]).unwrap(), before);
}

const STATE_SCHEMAS: &str =
    "SELECT count(*) FROM pg_namespace WHERE nspname IN ('pgmove_migrate', 'pgmove_data_state')";

/// Start `pgmove args` and kill it as soon as it reports `step` done on stderr, so it dies in
/// the step after. Returns whether it was killed (it may have finished first).
fn kill_after_step(args: &[&str], step: &str) -> bool {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgmove"))
        .args(args)
        .env_remove("PGMOVE_SOURCE")
        .env_remove("PGMOVE_TARGET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let prefix = format!("pgmove: {step} ");
    let mut killed = false;
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.starts_with(&prefix) && line.contains(" done") {
            killed = child.kill().is_ok();
            break;
        }
    }
    let status = child.wait().unwrap();
    killed && !status.success()
}

/// The whole runbook with rows, large objects, a populated matview and roles, killed in each
/// step in turn (right after the one before reported done) and run again: every rerun ends
/// with the target a `pg_dump | psql` copy would be, rows, large objects and sequences equal,
/// and nothing of pgmove's left on it.
#[test]
fn migrate_killed_in_each_step_then_run_again_gives_the_same_target() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    load_pagila(&source, "pagila");
    source
        .sql(
            "pagila",
            "SELECT lo_from_bytea(0, convert_to(description, 'UTF8')) FROM public.film LIMIT 200;
             SELECT lo_from_bytea(0, decode(repeat('00ff', 1500000), 'hex'));",
        )
        .unwrap();
    source
        .sql("postgres", "CREATE ROLE pgmove_kill_reader NOLOGIN")
        .unwrap();
    source
        .sql(
            "pagila",
            "GRANT SELECT ON public.film TO pgmove_kill_reader",
        )
        .unwrap();
    // The reference is loaded once the first run's roles step made the role its GRANT names.
    let reference = source.pg_dump("pagila", &["-O"]).unwrap();
    let mut want_schema = None;
    let want_rows = row_digest(&source, "pagila");
    let want_lobs = large_objects(&source, "pagila").unwrap();
    let want_sequences = sequence_states(&source, "pagila").unwrap();

    let mut killed_in = Vec::new();
    for (i, step) in ["preflight", "schema", "data", "sequences", "post-data"]
        .iter()
        .enumerate()
    {
        let db = format!("kill{i}");
        target.create_db(&db).unwrap();
        let (s, t) = (source.url("pagila"), target.url(&db));
        let args = [
            "migrate", "--source", &s, "--target", &t, "--roles", "-j", "2",
        ];
        if kill_after_step(&args, step) {
            killed_in.push(*step);
        }
        let o = pgmove(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "after a kill past {step}: {}",
            text(&o)
        );
        let ctx = format!("{sm}->{tm}, killed after {step}");
        let want_schema = want_schema.get_or_insert_with(|| {
            target.create_db("reference").unwrap();
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &reference).unwrap();
            target
                .load_tolerating_errors("reference", &[file.path()], &[])
                .unwrap();
            target
                .pg_dump("reference", &["--schema-only", "-O"])
                .unwrap()
        });
        assert_eq!(
            &target.pg_dump(&db, &["--schema-only", "-O"]).unwrap(),
            want_schema,
            "{ctx}: schema differs from pg_dump | psql"
        );
        assert_eq!(row_digest(&target, &db), want_rows, "{ctx}: rows");
        assert_eq!(
            large_objects(&target, &db).unwrap(),
            want_lobs,
            "{ctx}: large objects"
        );
        assert_eq!(
            sequence_states(&target, &db).unwrap(),
            want_sequences,
            "{ctx}: sequences"
        );
        assert_eq!(
            target
                .psql(&db, &["-At", "-c", STATE_SCHEMAS])
                .unwrap()
                .trim(),
            "0",
            "{ctx}: pgmove's bookkeeping is left"
        );
    }
    // The kills must have landed mid-run, not after the end, in most steps.
    assert!(killed_in.len() >= 3, "killed only after {killed_in:?}");
}

/// `migrate --online`: schema, replication (PostgreSQL's table sync, then streaming), post-data
/// while the source keeps taking writes, the schema validated; then `cutover` once writes
/// stop. Every row written before the cutover is on the target (psql counts and hashes), the
/// sequences are past the source's, and neither server keeps pgmove's replication objects
/// or bookkeeping.
#[test]
fn online_migration_then_cutover() {
    let (sm, tm) = test_pairs()[0];
    if sm < 10 {
        panic!(
            "online migration needs a source of 10 or later; PGMOVE_TEST_PAIRS starts with {sm}"
        );
    }
    let source = Cluster::builder(sm)
        .setting("wal_level", "logical")
        .setting("max_replication_slots", "10")
        .setting("max_wal_senders", "10")
        .start()
        .unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("app").unwrap();
    target.create_db("app").unwrap();
    source
        .sql(
            "app",
            "CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, note text);
             CREATE TABLE lines (order_id bigint REFERENCES orders, n int, qty int,
                                 PRIMARY KEY (order_id, n));
             CREATE INDEX ON orders (customer);
             INSERT INTO orders (customer, note)
                  SELECT g % 97, repeat('x', g % 300) FROM generate_series(1, 20000) g;
             INSERT INTO lines SELECT id, 1, 1 FROM orders;",
        )
        .unwrap();
    let (s, t) = (source.url("app"), target.url("app"));

    // A writer on the source for the whole online run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let url = source.conninfo("app");
        let psql = pgmove_testkit::client_bin_dir().unwrap().join("psql");
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 400 {
                let sql = "WITH o AS (INSERT INTO orders (customer, note) VALUES (1, 'live') RETURNING id)
                           INSERT INTO lines SELECT id, 1, 2 FROM o;
                           UPDATE orders SET note = 'changed' WHERE id = (SELECT min(id) + 7 FROM orders WHERE note <> 'changed');
                           DELETE FROM lines WHERE order_id = (SELECT max(order_id) - 3 FROM lines);";
                let ok = Command::new(&psql)
                    .args(["-X", "-q", "-d", &url, "-c", sql])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                assert!(ok, "the writer failed");
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            n
        })
    };
    let o = pgmove(&[
        "migrate", "--source", &s, "--target", &t, "--online", "-j", "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("pgmove cutover"), "{}", text(&o));
    // Writes go on after post-data; then the application stops.
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 0);

    let o = pgmove(&["cutover", "--source", &s, "--target", &t, "--margin", "100"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(row_digest(&source, "app"), row_digest(&target, "app"));
    let seq = "SELECT last_value FROM orders_id_seq";
    let src: i64 = source
        .psql("app", &["-At", "-c", seq])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dst: i64 = target
        .psql("app", &["-At", "-c", seq])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(dst >= src + 100, "sequence {dst} < source {src} + margin");
    let left = "SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_replication_slots)";
    assert_eq!(
        source.psql("app", &["-At", "-c", left]).unwrap().trim(),
        "0"
    );
    let left = "SELECT (SELECT count(*) FROM pg_subscription)
                     + (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmove%')";
    assert_eq!(
        target.psql("app", &["-At", "-c", left]).unwrap().trim(),
        "0"
    );
}
