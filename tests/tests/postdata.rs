//! Post-data as the parallel applier runs it: a table's constraints combined into one `ALTER
//! TABLE`, and keys built as `CREATE UNIQUE INDEX` + `ADD CONSTRAINT … USING INDEX` alongside
//! other builds (every table, with the size threshold at 0). Both must leave the catalog the
//! source has, resume over what a cut-short run left, and name the object that fails.

use pgmove_core::apply::{self, ParallelOptions};
use pgmove_core::model::Catalog;
use pgmove_core::plan::{self, Step};
use pgmove_core::render::{Item, LeadRef};
use pgmove_core::{catalog, conn, Error};
use pgmove_testkit::{test_pairs, Cluster, Major};
use std::collections::HashMap;
use tokio_postgres::Client;

/// Keys of every flavour the USING INDEX form must reproduce (or leave to the plain form), on
/// plain, inheriting, partitioned and oddly named tables, with comments, `CLUSTER ON`, replica
/// identity and foreign keys onto them.
fn source_sql(major: Major) -> String {
    let mut sql = String::from(
        r#"
CREATE SCHEMA app;
CREATE TABLE app.plain (id int PRIMARY KEY, a int NOT NULL UNIQUE, b int, c text);
ALTER TABLE app.plain REPLICA IDENTITY USING INDEX plain_a_key;
CREATE TABLE app.keys (
    id int NOT NULL, a int, b int, c int, r int4range,
    CONSTRAINT keys_pk PRIMARY KEY (id),
    CONSTRAINT keys_a_deferred UNIQUE (a) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT keys_b_deferrable UNIQUE (b) DEFERRABLE,
    CONSTRAINT "Mixed Case Key" UNIQUE (c, a),
    CONSTRAINT keys_no_overlap EXCLUDE USING gist (r WITH &&),
    CONSTRAINT keys_c_positive CHECK (c > 0) NOT VALID
);
COMMENT ON CONSTRAINT keys_pk ON app.keys IS 'the key';
COMMENT ON CONSTRAINT "Mixed Case Key" ON app.keys IS 'a comment on an odd name';
CREATE INDEX keys_b ON app.keys (b) WITH (fillfactor = 70);
CREATE INDEX keys_c_partial ON app.keys (c) WHERE c > 10;
COMMENT ON INDEX app.keys_b IS 'plain index';
ALTER TABLE app.keys CLUSTER ON keys_pk;
CREATE TABLE app."Odd Table" ("Id" int PRIMARY KEY, v text UNIQUE);
CREATE TABLE app.heir (extra int) INHERITS (app.plain);
ALTER TABLE app.heir ADD PRIMARY KEY (id);
CREATE TABLE app.child (
    id int PRIMARY KEY,
    keys_id int REFERENCES app.keys (id),
    plain_id int REFERENCES app.plain (id),
    parent_id int REFERENCES app.child (id),
    odd_id int REFERENCES app."Odd Table" ("Id")
);
INSERT INTO app.plain SELECT g, g, g % 7, 'p' || g FROM generate_series(1, 3000) g;
INSERT INTO app.keys SELECT g, g, g, g, int4range(g * 10, g * 10 + 5) FROM generate_series(1, 3000) g;
INSERT INTO app."Odd Table" SELECT g, 'v' || g FROM generate_series(1, 100) g;
INSERT INTO app.heir SELECT g, g, g, 'h', g FROM generate_series(5000, 5100) g;
INSERT INTO app.child SELECT g, g, g, NULLIF(g - 1, 0), g % 100 + 1 FROM generate_series(1, 2000) g;
"#,
    );
    if major >= 11 {
        sql += r#"
CREATE TABLE app.keys_incl (id int NOT NULL, note text, CONSTRAINT keys_incl_pk PRIMARY KEY (id) INCLUDE (note));
CREATE TABLE app.part (id int NOT NULL, k int NOT NULL, PRIMARY KEY (id, k), UNIQUE (k, id))
    PARTITION BY RANGE (k);
CREATE TABLE app.part_1 PARTITION OF app.part FOR VALUES FROM (0) TO (100);
CREATE TABLE app.part_2 PARTITION OF app.part FOR VALUES FROM (100) TO (200);
INSERT INTO app.part SELECT g, g % 200 FROM generate_series(1, 1000) g;
INSERT INTO app.keys_incl SELECT g, 'n' FROM generate_series(1, 100) g;
"#;
    }
    if major >= 12 {
        sql += "CREATE TABLE app.part_ref (id int PRIMARY KEY, id_k int, k int,
                    FOREIGN KEY (id_k, k) REFERENCES app.part (id, k));\n";
    }
    if major >= 15 {
        sql += "CREATE TABLE app.nnd (id int, CONSTRAINT nnd_u UNIQUE NULLS NOT DISTINCT (id));\n";
    }
    if major >= 18 {
        // A temporal key is GiST: it keeps the plain ADD CONSTRAINT.
        sql += "CREATE TABLE app.booking (room int4range, during tstzrange,
                    CONSTRAINT booking_pk PRIMARY KEY (room, during WITHOUT OVERLAPS));\n";
    }
    sql
}

/// Keys, their indexes' flags and what depends on what, by name: a stricter comparison than
/// pg_dump's text (a deferrable key's index, a partition key's parent, internal dependencies).
///
/// Which index a foreign key uses is left out: when two keys of the referenced table cover its
/// columns, the server takes the one created first, and neither pgmove nor `pg_dump | psql`
/// (both create keys in name order) keeps the source's choice.
fn key_catalog(c: &Cluster, db: &str) -> String {
    let v = c.major();
    let parent = if v >= 11 {
        "(SELECT p.conname FROM pg_constraint p WHERE p.oid = c.conparentid)"
    } else {
        "NULL"
    };
    let nnd = if v >= 15 {
        "i.indnullsnotdistinct"
    } else {
        "NULL"
    };
    let keys = c
        .sql(
            db,
            &format!(
                "SELECT c.conname, c.contype, c.conrelid::regclass,
                        CASE WHEN c.contype <> 'f' THEN c.conindid::regclass END,
                        c.condeferrable, c.condeferred, c.conislocal, c.coninhcount, {parent},
                        i.indisprimary, i.indisunique, i.indimmediate, i.indisclustered,
                        i.indisreplident, i.indisvalid, i.indnatts, {nnd}
                   FROM pg_constraint c
                   LEFT JOIN pg_index i ON i.indexrelid = c.conindid AND c.contype <> 'f'
                  WHERE c.connamespace = 'app'::regnamespace
                  ORDER BY c.conrelid::regclass::text, 1"
            ),
        )
        .unwrap();
    let depends = c
        .sql(
            db,
            "SELECT pg_describe_object(classid, objid, objsubid) || ' -> '
                    || pg_describe_object(refclassid, refobjid, refobjsubid) || ' ' || deptype::text
               FROM pg_depend
              WHERE classid = 'pg_class'::regclass AND objid IN
                      (SELECT oid FROM pg_class WHERE relnamespace = 'app'::regnamespace
                          AND relkind IN ('i', 'I'))
                 OR classid = 'pg_constraint'::regclass AND objid IN
                      (SELECT oid FROM pg_constraint WHERE connamespace = 'app'::regnamespace)
                    AND NOT (objid IN (SELECT oid FROM pg_constraint WHERE contype = 'f')
                             AND refclassid = 'pg_class'::regclass AND refobjsubid = 0)
              ORDER BY 1",
        )
        .unwrap();
    format!("{keys}\n{depends}")
}

/// Equal texts, or a failure that shows the lines each has that the other lacks.
#[track_caller]
fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let only = |a: &[&str], b: &[&str]| -> Vec<String> {
        a.iter()
            .filter(|l| !b.contains(l))
            .map(|l| format!("  {l}"))
            .collect()
    };
    panic!(
        "{what} differs\nonly in the target:\n{}\nonly in the source:\n{}",
        only(&g, &w).join("\n"),
        only(&w, &g).join("\n")
    );
}

async fn connect(c: &Cluster, db: &str) -> Client {
    conn::connect_str(&c.conninfo(db)).await.unwrap()
}

/// A target database `db` with the source's pre-data and rows, ready for post-data.
async fn prepared_target(c: &Cluster, cat: &Catalog, db: &str) {
    c.create_db(db).unwrap();
    let t = connect(c, db).await;
    let p = plan::plan(cat, Step::Schema, &Default::default());
    apply::apply_in_transaction(&t, &p.items, |_, _, _| {})
        .await
        .unwrap();
    c.copy_rows("app", c, db).unwrap();
}

async fn post_data(
    c: &Cluster,
    db: &str,
    cat: &Catalog,
    items: &[Item],
    opts: &ParallelOptions,
) -> pgmove_core::Result<apply::ApplyReport> {
    let clients = vec![connect(c, db).await, connect(c, db).await];
    let sizes: HashMap<u32, i64> = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
    apply::apply_parallel_with(&clients, items, &sizes, opts, |_, _, _| {}).await
}

/// The majors to run on: each target major of `PGMOVE_TEST_PAIRS` (one cluster holds source
/// and target databases).
fn majors() -> Vec<Major> {
    let mut m: Vec<Major> = test_pairs().into_iter().map(|(_, t)| t).collect();
    m.sort();
    m.dedup();
    m
}

fn all_split() -> ParallelOptions {
    let mut o = ParallelOptions::default();
    o.parallel_builds_min_bytes = 0;
    o
}

/// A source database `app` on a fresh cluster that logs every statement, and its catalog.
async fn source(major: Major) -> (Cluster, Catalog) {
    let c = Cluster::builder(major)
        .setting("log_statement", "all")
        .start()
        .unwrap();
    c.create_db("app").unwrap();
    c.sql("app", &source_sql(major)).unwrap();
    let cat = catalog::read(&connect(&c, "app").await).await.unwrap();
    (c, cat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_and_using_index_keys_give_the_source_catalog() {
    for major in majors() {
        let (c, cat) = source(major).await;
        let reference = c.pg_dump("app", &["--schema-only", "-O"]).unwrap();
        let reference_keys = key_catalog(&c, "app");
        let post = plan::plan(&cat, Step::PostData, &Default::default());
        for (db, opts) in [
            ("combined", ParallelOptions::default()),
            ("split", all_split()),
        ] {
            prepared_target(&c, &cat, db).await;
            let report = post_data(&c, db, &cat, &post.items, &opts).await.unwrap();
            assert_eq!(
                (report.applied, report.skipped),
                (post.items.len(), 0),
                "{major} {db}"
            );
            assert_same(
                &c.pg_dump(db, &["--schema-only", "-O"]).unwrap(),
                &reference,
                &format!("{major} {db}: pg_dump"),
            );
            assert_same(
                &key_catalog(&c, db),
                &reference_keys,
                &format!("{major} {db}: keys"),
            );
        }
        // The paths were taken: one ALTER TABLE for several keys (and for several foreign
        // keys), and keys attached to indexes built apart.
        let log = c.log();
        assert!(
            log.contains(
                "ADD CONSTRAINT keys_a_deferred UNIQUE (a) DEFERRABLE INITIALLY DEFERRED,"
            ),
            "{major}: keys combined"
        );
        assert!(
            log.contains("REFERENCES app.keys(id),"),
            "{major}: foreign keys combined"
        );
        assert!(
            log.contains(
                "ADD CONSTRAINT keys_a_deferred UNIQUE USING INDEX keys_a_deferred DEFERRABLE INITIALLY DEFERRED,"
            ),
            "{major}: keys attached with USING INDEX, combined"
        );
        assert!(
            log.contains("CREATE UNIQUE INDEX \"Mixed Case Key\" ON app.keys USING btree (c, a)"),
            "{major}: a key's index built alone"
        );
        // A primary key on a table with parents keeps the plain form on 18+ (see
        // UsingIndex::inherited_not_null), and only there.
        assert_eq!(
            log.contains("PRIMARY KEY USING INDEX heir_pkey"),
            major < 18,
            "{major}: an inheriting table's primary key"
        );
        if major >= 11 {
            assert!(
                log.contains("UNIQUE USING INDEX part_1_k_id_key"),
                "{major}: a partition's unique key attached"
            );
            assert_eq!(
                log.contains("PRIMARY KEY USING INDEX part_1_pkey"),
                major < 18,
                "{major}: a partition's primary key"
            );
            assert!(
                !log.contains("USING INDEX part_pkey"),
                "{major}: never USING INDEX on a partitioned table"
            );
        }
    }
}

/// Items of `post` that give one key's index without its constraint, as a run cut short
/// between the build and the attachment leaves it.
fn key_index_only(post: &[Item], name: &str) -> String {
    post.iter()
        .find_map(|i| match i.lead() {
            Some(LeadRef::AlterTable {
                using_index: Some(u),
                ..
            }) if i.name.starts_with(&format!("constraint {name} ")) => {
                Some(format!("{};", u.create))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} has a USING INDEX form"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_what_an_earlier_run_left_completes() {
    for major in majors() {
        let (c, cat) = source(major).await;
        let reference = c.pg_dump("app", &["--schema-only", "-O"]).unwrap();
        let post = plan::plan(&cat, Step::PostData, &Default::default());
        for (db, opts) in [
            ("resumed_combined", ParallelOptions::default()),
            ("resumed_split", all_split()),
        ] {
            prepared_target(&c, &cat, db).await;
            // What a cut-short run leaves: every other item, each whole or not at all (an
            // item whose prerequisite is not there fails and leaves nothing)…
            let t = connect(&c, db).await;
            t.batch_execute(apply::SESSION_SETUP).await.unwrap();
            for it in post.items.iter().step_by(2) {
                let _ = t.batch_execute(&it.sql).await;
            }
            // …and keys whose index was built apart but not yet attached, whichever of these
            // the lines above did not make.
            let mut index_only = 0;
            for key in ["plain_pkey", "keys_b_deferrable", "\"Mixed Case Key\""] {
                let built = t.batch_execute(&key_index_only(&post.items, key)).await;
                index_only += built.is_ok() as usize;
            }
            assert!(index_only > 0, "{major} {db}: no key left half-made");
            let report = post_data(&c, db, &cat, &post.items, &opts)
                .await
                .unwrap_or_else(|e| panic!("{major} {db}: {e}"));
            assert_eq!(report.applied + report.skipped, post.items.len());
            assert!(report.skipped > 0, "{major} {db}: {report:?}");
            assert_same(
                &c.pg_dump(db, &["--schema-only", "-O"]).unwrap(),
                &reference,
                &format!("{major} {db}: pg_dump"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_key_is_named_whichever_way_it_was_built() {
    let major = majors()[0];
    let (c, cat) = source(major).await;
    let post = plan::plan(&cat, Step::PostData, &Default::default());
    for (db, opts) in [
        ("dup_combined", ParallelOptions::default()),
        ("dup_split", all_split()),
    ] {
        prepared_target(&c, &cat, db).await;
        // A row the unique keys refuse (the target got rows the source's keys never saw).
        c.sql(
            db,
            "INSERT INTO app.keys (id, a, b, c) VALUES (-3, 1, -3, 1)",
        )
        .unwrap();
        let err = post_data(&c, db, &cat, &post.items, &opts)
            .await
            .unwrap_err();
        match &err {
            Error::Db(e) => {
                assert_eq!(e.sqlstate.as_deref(), Some("23505"), "{db}: {err}");
                assert!(e.statement.is_some(), "{db}: {err}");
                // The driver's error stays reachable as the cause.
                assert!(std::error::Error::source(&err).is_some(), "{db}: {err}");
                let object = &e.object;
                assert!(
                    object.as_deref().is_some_and(|o| o.contains("on app.keys")),
                    "{db}: {err}"
                );
            }
            _ => panic!("{db}: {err}"),
        }
    }
}

/// 42P16 (invalid table definition) is what a primary key answers when its table already has
/// one: already there on a resumed run, but only when that key is the item's, by name. A
/// table that holds another primary key is a failure, named, never "done".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_primary_key_fails_and_the_same_one_is_skipped() {
    let major = majors()[0];
    let (c, cat) = source(major).await;
    let post = plan::plan(&cat, Step::PostData, &Default::default());
    for (db, opts) in [
        ("pk_combined", ParallelOptions::default()),
        ("pk_split", all_split()),
    ] {
        prepared_target(&c, &cat, db).await;
        c.sql(
            db,
            "ALTER TABLE app.plain ADD CONSTRAINT other_pk PRIMARY KEY (a)",
        )
        .unwrap();
        let err = post_data(&c, db, &cat, &post.items, &opts)
            .await
            .unwrap_err();
        match &err {
            Error::Db(e) => {
                assert_eq!(e.sqlstate.as_deref(), Some("42P16"), "{db}: {err}");
                assert!(e.statement.is_some(), "{db}: {err}");
                // The driver's error stays reachable as the cause.
                assert!(std::error::Error::source(&err).is_some(), "{db}: {err}");
                let object = &e.object;
                assert_eq!(
                    object.as_deref(),
                    Some("constraint plain_pkey on app.plain"),
                    "{db}: {err}"
                );
            }
            _ => panic!("{db}: {err}"),
        }
        // The key the plan adds, there under its own name: skipped. (Built apart, its index
        // may be there already.)
        c.sql(
            db,
            "ALTER TABLE app.plain DROP CONSTRAINT other_pk;
             DROP INDEX IF EXISTS app.plain_pkey;
             ALTER TABLE app.plain ADD CONSTRAINT plain_pkey PRIMARY KEY (id)",
        )
        .unwrap();
        let report = post_data(&c, db, &cat, &post.items, &opts)
            .await
            .unwrap_or_else(|e| panic!("{db}: {e}"));
        assert!(report.skipped > 0, "{db}: {report:?}");
        assert_eq!(
            c.pg_dump(db, &["--schema-only", "-O"]).unwrap(),
            c.pg_dump("app", &["--schema-only", "-O"]).unwrap(),
            "{db}"
        );
    }
}

/// Each post-data connection runs with the memory it was given: sized from the target's
/// effective_cache_size by default, as asked, or the server's own; and a target that allows
/// less than asked caps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_get_the_memory_sized_or_asked_for() {
    use pgmove_core::work_memory::SessionMemory;
    for major in majors() {
        let c = Cluster::builder(major)
            .setting("effective_cache_size", "8GB")
            .start()
            .unwrap();
        c.create_db("app").unwrap();
        c.sql("app", "CREATE TABLE t (id int)").unwrap();
        let cat = catalog::read(&connect(&c, "app").await).await.unwrap();
        let items = plan::plan(&cat, Step::PostData, &Default::default()).items;
        let sizes = HashMap::new();
        // (choice, maintenance_work_mem and work_mem each session shows afterwards)
        for (choice, want) in [
            // 8 GB / 4 / 2 sessions = 1 GB each, half of it as work_mem.
            (SessionMemory::Auto, ("1GB", "512MB")),
            (SessionMemory::Kb(100 << 10), ("100MB", "50MB")),
            (SessionMemory::Server, ("64MB", "4MB")),
        ] {
            let clients = vec![connect(&c, "app").await, connect(&c, "app").await];
            let mut opts = ParallelOptions::default();
            opts.memory = choice;
            let r = apply::apply_parallel_with(&clients, &items, &sizes, &opts, |_, _, _| {})
                .await
                .unwrap();
            for client in &clients {
                let show = |name: &str| {
                    let name = name.to_string();
                    async move {
                        client
                            .query_one(&format!("SHOW {name}"), &[])
                            .await
                            .unwrap()
                            .get::<_, String>(0)
                    }
                };
                let got = (show("maintenance_work_mem").await, show("work_mem").await);
                assert_eq!((got.0.as_str(), got.1.as_str()), want, "{major} {choice:?}");
            }
            let reported = r.memory.maintenance_work_mem_kb.map(|kb| kb >> 10);
            let expected = match want.0 {
                "64MB" => None,
                "1GB" => Some(1024),
                mb => Some(mb.trim_end_matches("MB").parse().unwrap()),
            };
            assert_eq!(reported, expected, "{major} {choice:?}: reported");
        }
    }
}

/// While an index build runs, the target's progress view names its table and phase; once it
/// is done, nothing. The build is made slow on purpose (an expression that sleeps per row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_build_progress_names_the_running_build() {
    use pgmove_core::build_progress;
    for major in majors().into_iter().filter(|m| *m >= Major::new(12)) {
        let c = Cluster::start(major).unwrap();
        c.create_db("app").unwrap();
        c.sql(
            "app",
            "CREATE FUNCTION slow(i int) RETURNS int IMMUTABLE LANGUAGE sql
                 AS 'SELECT i + 0 * length(pg_sleep(0.01)::text)';
             CREATE TABLE \"Big T\" (id int);
             INSERT INTO \"Big T\" SELECT generate_series(1, 300)",
        )
        .unwrap();
        let builder = connect(&c, "app").await;
        let monitor = connect(&c, "app").await;
        let build = builder.batch_execute("CREATE INDEX ON \"Big T\" (public.slow(id))");
        let mut seen = Vec::new();
        let version: i32 = monitor
            .query_one("SELECT current_setting('server_version_num')::int4", &[])
            .await
            .unwrap()
            .get(0);
        let out = build_progress::watch(
            &monitor,
            version,
            build,
            std::time::Duration::from_millis(100),
            |b| seen.push(build_progress::summary(b)),
        )
        .await;
        out.unwrap();
        assert!(
            seen.iter().any(|s| s.starts_with("public.Big T: ")),
            "{major}: no progress seen naming the table: {seen:?}"
        );
        assert!(build_progress::read(&monitor).await.unwrap().is_empty());
    }
}

/// A matview that reads another, directly or through a view, refreshes after it; others
/// need not wait. With two connections and refreshes that wait only for the refreshes they
/// read, each matview holds on the target what it holds on the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_follow_the_matviews_they_read() {
    use pgmove_core::postdata;
    for major in majors() {
        let c = Cluster::start(major).unwrap();
        c.create_db("app").unwrap();
        c.sql(
            "app",
            "CREATE TABLE public.t (id int PRIMARY KEY, even bool NOT NULL);
             INSERT INTO public.t SELECT g, g % 2 = 0 FROM generate_series(1, 100) g;
             CREATE FUNCTION public.t_count() RETURNS bigint LANGUAGE plpgsql STABLE
                 AS $$BEGIN RETURN (SELECT count(*) FROM public.t); END$$;
             CREATE MATERIALIZED VIEW public.m1 AS SELECT id FROM public.t WHERE even;
             CREATE UNIQUE INDEX m1_id ON public.m1 (id);
             CREATE VIEW public.v1 AS SELECT id FROM public.m1 WHERE id > 10;
             CREATE MATERIALIZED VIEW public.m2 AS SELECT count(*) AS n FROM public.v1;
             CREATE MATERIALIZED VIEW public.m3 AS SELECT public.t_count() AS n;
             CREATE MATERIALIZED VIEW public.m4 AS
                 SELECT m2.n + 1 AS n FROM public.m2, public.m1 WHERE m1.id = 2;",
        )
        .unwrap();
        // Refreshed in an order that leaves none empty.
        for m in ["m1", "m2", "m3", "m4"] {
            c.sql("app", &format!("REFRESH MATERIALIZED VIEW public.{m}"))
                .unwrap();
        }
        let contents = "SELECT (SELECT count(*) FROM public.m1), (SELECT n FROM public.m2),
                               (SELECT n FROM public.m3), (SELECT n FROM public.m4)";
        let want = c.sql("app", contents).unwrap();
        assert!(want.contains("50 | 45 | 100 | 46"), "{major}: {want}");

        let cat = catalog::read(&connect(&c, "app").await).await.unwrap();
        prepared_target(&c, &cat, "target").await;
        let post = plan::plan(&cat, Step::PostData, &Default::default());
        let sizes: HashMap<u32, i64> = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
        let mut opts = postdata::Options::default();
        opts.jobs = 2;
        let r = postdata::apply_post_data(
            &c.conninfo("target").parse().unwrap(),
            &post.items,
            &sizes,
            &opts,
            |_, _, _| {},
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!((r.applied, r.skipped), (post.items.len(), 0), "{major}");
        assert_eq!(c.sql("target", contents).unwrap(), want, "{major}");
    }
}
