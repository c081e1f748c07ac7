//! Failures leave the target as it was (schema), and interrupted post-data resumes (post-data).

use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn, Error};
use pgmove_testkit::Cluster;

const SOURCE_SQL: &str = "
CREATE SCHEMA app;
CREATE TYPE app.color AS ENUM ('red', 'blue');
CREATE TABLE app.parent (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.child (id serial PRIMARY KEY, parent_id int REFERENCES app.parent(id), c app.color);
CREATE INDEX child_parent ON app.child (parent_id);
CREATE INDEX parent_name ON app.parent (lower(name)) WHERE id > 10;
CREATE VIEW app.names AS SELECT name FROM app.parent;
INSERT INTO app.parent (name) SELECT 'p' || g FROM generate_series(1, 20000) g;
INSERT INTO app.child (parent_id, c) SELECT 1 + g % 20000, 'red' FROM generate_series(1, 40000) g;
";

fn user_relations(c: &Cluster, db: &str) -> String {
    c.sql(db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')")
        .unwrap()
}

#[tokio::test]
async fn schema_failing_half_way_leaves_target_unchanged() {
    let src = Cluster::start(15).unwrap();
    src.create_db("app").unwrap();
    src.sql("app", SOURCE_SQL).unwrap();
    src.create_db("target").unwrap();
    // The target refuses views half-way through: an event trigger raises on CREATE VIEW.
    src.sql(
        "target",
        "CREATE FUNCTION public.no_views() RETURNS event_trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'views are not allowed here'; END $$;
         CREATE EVENT TRIGGER no_views ON ddl_command_start WHEN TAG IN ('CREATE VIEW')
           EXECUTE FUNCTION public.no_views();",
    )
    .unwrap();
    let before = user_relations(&src, "target");
    let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
    let t = conn::connect_str(&src.conninfo("target")).await.unwrap();
    let cat = catalog::read(&s).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    plan::check_target(&t, &cat, &p).await.unwrap();
    let err = apply::apply_in_transaction(&t, &p.items, |_, _, _| {})
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("views are not allowed here"), "{msg}");
    assert!(
        msg.contains("view app.names"),
        "error names the object: {msg}"
    );
    assert_eq!(
        user_relations(&src, "target"),
        before,
        "nothing of pre-data remains"
    );
    assert!(src
        .sql(
            "target",
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'"
        )
        .unwrap()
        .contains(" 0"));
}

#[tokio::test]
async fn existing_objects_and_missing_roles_are_refused_before_anything_runs() {
    let src = Cluster::start(15).unwrap();
    src.create_db("app").unwrap();
    src.sql("app", SOURCE_SQL).unwrap();
    let tgt = Cluster::start(15).unwrap();
    tgt.create_db("busy").unwrap();
    tgt.sql(
        "busy",
        "CREATE SCHEMA app; CREATE TABLE app.parent (x int);",
    )
    .unwrap();
    let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
    let cat = catalog::read(&s).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    let t = conn::connect_str(&tgt.conninfo("busy")).await.unwrap();
    let err = plan::check_target(&t, &cat, &p).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(err.to_string().contains("relation app.parent"), "{err}");

    src.sql(
        "app",
        "CREATE ROLE only_on_source; GRANT SELECT ON app.parent TO only_on_source;",
    )
    .unwrap();
    let cat = catalog::read(&s).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    tgt.create_db("empty").unwrap();
    let t = conn::connect_str(&tgt.conninfo("empty")).await.unwrap();
    let err = plan::check_target(&t, &cat, &p).await.unwrap_err();
    assert!(err.to_string().contains("only_on_source"), "{err}");
    let mut opts = pgmove_core::render::Options::default();
    opts.privileges = false;
    let p = plan::plan(&cat, Step::Schema, &opts);
    plan::check_target(&t, &cat, &p).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_data_killed_then_rerun_converges() {
    let src = Cluster::start(15).unwrap();
    src.create_db("app").unwrap();
    src.sql("app", SOURCE_SQL).unwrap();
    let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
    let cat = catalog::read(&s).await.unwrap();
    let reference = src.pg_dump("app", &["--schema-only", "-O"]).unwrap();
    let post = plan::plan(&cat, Step::PostData, &Default::default());
    let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
    // Several interruption points, from "nothing done" to "nearly done".
    for (round, stop_after_ms) in [1u64, 15, 40, 90].into_iter().enumerate() {
        let db = format!("t{round}");
        src.create_db(&db).unwrap();
        let t = conn::connect_str(&src.conninfo(&db)).await.unwrap();
        let p = plan::plan(&cat, Step::Schema, &Default::default());
        apply::apply_in_transaction(&t, &p.items, |_, _, _| {})
            .await
            .unwrap();
        src.copy_rows("app", &src, &db).unwrap();
        {
            // The "kill": the run is dropped mid-way and its connections closed.
            let clients = vec![
                conn::connect_str(&src.conninfo(&db)).await.unwrap(),
                conn::connect_str(&src.conninfo(&db)).await.unwrap(),
            ];
            let run = apply::apply_parallel(&clients, &post.items, &sizes, |_, _, _| {});
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(stop_after_ms), run).await;
        }
        let clients = vec![
            conn::connect_str(&src.conninfo(&db)).await.unwrap(),
            conn::connect_str(&src.conninfo(&db)).await.unwrap(),
        ];
        let report = apply::apply_parallel(&clients, &post.items, &sizes, |_, _, _| {})
            .await
            .unwrap();
        assert_eq!(report.applied + report.skipped, post.items.len());
        let got = src.pg_dump(&db, &["--schema-only", "-O"]).unwrap();
        assert_eq!(
            got, reference,
            "round {round} (stopped after {stop_after_ms} ms)"
        );
    }
}

/// The schema step sends its items pipelined, many ahead of the replies: a failure in the
/// middle names the item that failed (not one sent after it, refused as "current transaction
/// is aborted"), progress stops right before it, and nothing lands.
#[tokio::test]
async fn pipelined_schema_failing_in_the_middle_names_the_failing_item() {
    let src = Cluster::start(15).unwrap();
    src.create_db("app").unwrap();
    let tables: String = (0..400)
        .map(|i| {
            format!(
                "CREATE TABLE app.t{i} (id int, v text); COMMENT ON TABLE app.t{i} IS 'c{i}';\n"
            )
        })
        .collect();
    src.sql("app", &format!("CREATE SCHEMA app;\n{tables}"))
        .unwrap();
    src.create_db("target").unwrap();
    // The target refuses one table in the middle, once it is created (the statement fails).
    src.sql(
        "target",
        "CREATE FUNCTION public.no_t200() RETURNS event_trigger LANGUAGE plpgsql AS
           $$ BEGIN
                IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands()
                            WHERE object_identity = 'app.t200') THEN
                  RAISE EXCEPTION 'app.t200 is not allowed here';
                END IF;
              END $$;
         CREATE EVENT TRIGGER no_t200 ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
           EXECUTE FUNCTION public.no_t200();",
    )
    .unwrap();
    let before = user_relations(&src, "target");
    let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
    let t = conn::connect_str(&src.conninfo("target")).await.unwrap();
    let cat = catalog::read(&s).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    let failing = p
        .items
        .iter()
        .position(|it| &*it.name == "table app.t200")
        .expect("the plan creates app.t200");
    assert!(
        failing >= 100 && p.items.len() - failing >= 100,
        "the failing item is in the middle of a long step ({failing} of {})",
        p.items.len()
    );
    let mut seen = Vec::new();
    let err = apply::apply_in_transaction(&t, &p.items, |done, total, name| {
        seen.push((done, total, name.to_string()))
    })
    .await
    .unwrap_err();
    assert_eq!(err.sqlstate(), Some("P0001"), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("app.t200 is not allowed here"), "{msg}");
    assert!(msg.contains("while creating table app.t200;"), "{msg}");
    assert!(msg.contains("statement: CREATE TABLE app.t200 "), "{msg}");
    assert!(!msg.contains("aborted"), "{msg}");
    let expected: Vec<_> = p.items[..failing]
        .iter()
        .enumerate()
        .map(|(i, it)| (i + 1, p.items.len(), it.name.to_string()))
        .collect();
    assert_eq!(
        seen, expected,
        "progress reports each item before the failing one, in order"
    );
    assert_eq!(user_relations(&src, "target"), before, "nothing landed");
    assert!(src
        .sql(
            "target",
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'app'"
        )
        .unwrap()
        .contains(" 0"));
    // The connection is usable again: the same step applies whole on a target that accepts it.
    t.batch_execute("DROP EVENT TRIGGER no_t200").await.unwrap();
    let mut seen = Vec::new();
    apply::apply_in_transaction(&t, &p.items, |done, _, name| {
        seen.push((done, name.to_string()))
    })
    .await
    .unwrap();
    let expected: Vec<_> = p
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| (i + 1, it.name.to_string()))
        .collect();
    assert_eq!(seen, expected, "progress reports every item, in order");
    assert!(src
        .sql(
            "target",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'app'"
        )
        .unwrap()
        .contains(" 400"));
}
