//! `-n/-N/-t/-T` select what pg_dump's same flags select, and what depends on an excluded
//! object is left out with a warning instead of failing on the target.

use pgmove_core::filter::Filter;
use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn};
use pgmove_testkit::Cluster;

const SOURCE: &str = r#"
CREATE SCHEMA app;
CREATE SCHEMA "Audit";
CREATE TYPE app.color AS ENUM ('red', 'blue');
CREATE TABLE app.parent (id serial PRIMARY KEY, name text NOT NULL, c app.color);
CREATE TABLE app.child (id serial PRIMARY KEY, parent_id int REFERENCES app.parent(id));
CREATE INDEX child_parent ON app.child (parent_id);
CREATE VIEW app.parent_names AS SELECT name FROM app.parent;
CREATE TABLE "Audit".log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());
CREATE VIEW "Audit".parents_seen AS SELECT p.id FROM app.parent p;
CREATE TABLE public.standalone (x int);
"#;

/// Apply all three steps with `filter` on a fresh database of `target`, returning the warnings.
async fn pgmove(src: &Cluster, target: &Cluster, db: &str, filter: &Filter) -> Vec<String> {
    target.create_db(db).unwrap();
    let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
    let t = conn::connect_str(&target.conninfo(db)).await.unwrap();
    let cat = catalog::read(&s).await.unwrap();
    let mut warnings = Vec::new();
    for step in [Step::Schema, Step::Sequences { margin: 0 }, Step::PostData] {
        let p = plan::plan_with(&cat, step, &Default::default(), filter);
        warnings.extend(p.warnings.clone());
        plan::check_target(&t, &cat, &p).await.unwrap();
        apply::apply_in_transaction(&t, &p.items, |_, _, _| {})
            .await
            .unwrap();
    }
    warnings
}

/// pg_dump's schema with `flags`, loaded through psql into a fresh database.
fn pg_dump_into(src: &Cluster, target: &Cluster, db: &str, flags: &[&str]) {
    target.create_db(db).unwrap();
    let mut args = vec!["--schema-only", "-O"];
    args.extend_from_slice(flags);
    let sql = src.pg_dump("app", &args).unwrap();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), sql).unwrap();
    target.load_tolerating_errors(db, &[f.path()], &[]).unwrap();
}

/// Both dumps equal, else a failure that lists the lines only one side has.
fn assert_same_dump(c: &Cluster, pgmove_db: &str, pgdump_db: &str) {
    let a = c.pg_dump(pgmove_db, &["--schema-only", "-O"]).unwrap();
    let b = c.pg_dump(pgdump_db, &["--schema-only", "-O"]).unwrap();
    if a != b {
        let only = |x: &str, y: &str| -> Vec<String> {
            x.lines()
                .filter(|l| !y.lines().any(|m| m == *l))
                .map(str::to_string)
                .collect()
        };
        panic!(
            "{pgmove_db} and {pgdump_db} differ\nonly pgmove's: {:#?}\nonly pg_dump's: {:#?}",
            only(&a, &b),
            only(&b, &a)
        );
    }
}

fn relations(c: &Cluster, db: &str) -> String {
    c.psql(db, &["-At", "-c", "SELECT string_agg(n.nspname || '.' || c.relname, ' ' ORDER BY n.nspname || '.' || c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"])
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_like_pg_dump() {
    let src = Cluster::start(15).unwrap();
    src.create_db("app").unwrap();
    src.sql("app", SOURCE).unwrap();
    let tgt = Cluster::start(15).unwrap();
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // -n app: the schema and everything in it, nothing else.
    let f = Filter::parse(&strs(&["app"]), &[], &[], &[]).unwrap();
    let w = pgmove(&src, &tgt, "n_pgmove", &f).await;
    assert!(w.is_empty(), "{w:?}");
    pg_dump_into(&src, &tgt, "n_pgdump", &["-n", "app"]);
    assert_same_dump(&tgt, "n_pgmove", "n_pgdump");

    // -t app.parent: the table, its owned sequence, its key; not its type, not other tables.
    // The target must have the type, as with pg_dump -t.
    let f = Filter::parse(&[], &[], &strs(&["app.parent"]), &[]).unwrap();
    for db in ["t_pgmove", "t_pgdump"] {
        tgt.create_db(db).unwrap();
        tgt.sql(
            db,
            "CREATE SCHEMA app; CREATE TYPE app.color AS ENUM ('red', 'blue');",
        )
        .unwrap();
    }
    {
        let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
        let t = conn::connect_str(&tgt.conninfo("t_pgmove")).await.unwrap();
        let cat = catalog::read(&s).await.unwrap();
        for step in [Step::Schema, Step::Sequences { margin: 0 }, Step::PostData] {
            let p = plan::plan_with(&cat, step, &Default::default(), &f);
            apply::apply_in_transaction(&t, &p.items, |_, _, _| {})
                .await
                .unwrap();
        }
    }
    let sql = src
        .pg_dump("app", &["--schema-only", "-O", "-t", "app.parent"])
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), sql).unwrap();
    tgt.load_tolerating_errors("t_pgdump", &[file.path()], &[])
        .unwrap();
    assert_eq!(
        relations(&tgt, "t_pgmove"),
        "app.parent app.parent_id_seq app.parent_pkey"
    );
    assert_same_dump(&tgt, "t_pgmove", "t_pgdump");

    // -N app: "Audit".parents_seen reads app.parent, so it is left out, with a warning;
    // pg_dump -N app would write it and fail on the target.
    let f = Filter::parse(&[], &strs(&["app"]), &[], &[]).unwrap();
    let w = pgmove(&src, &tgt, "nn_pgmove", &f).await;
    assert!(
        w.iter()
            .any(|w| w.contains("parents_seen") && w.contains("app.parent")),
        "{w:?}"
    );
    assert_eq!(
        relations(&tgt, "nn_pgmove"),
        "Audit.log Audit.log_id_seq Audit.log_pkey public.standalone"
    );

    // -T app.parent: its dependents (child's foreign key, both views) go with it.
    let f = Filter::parse(&[], &[], &[], &strs(&["app.parent"])).unwrap();
    let w = pgmove(&src, &tgt, "tt_pgmove", &f).await;
    assert!(w.iter().any(|w| w.contains("parent_names")), "{w:?}");
    assert!(
        w.iter().any(|w| w.contains("child_parent_id_fkey")),
        "{w:?}"
    );
    let rels = relations(&tgt, "tt_pgmove");
    assert!(
        !rels.split(' ').any(|r| r == "app.parent")
            && !rels.contains("parent_names")
            && rels.split(' ').any(|r| r == "app.child"),
        "{rels}"
    );
}
