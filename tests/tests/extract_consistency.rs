//! Catalog reads stay consistent while the source changes, and take no locks on tables.
//!
//! `catalog::read_with_hook` runs a hook inside the read's snapshot; the tests commit DDL from
//! another connection there, which the snapshot's joins do not see but the server's deparsers
//! (`pg_get_viewdef`…) would: the read must notice and read again, or fail clearly, and never
//! return a model mixing the two catalogs.

use pgmove_core::catalog::{self, Stage};
use pgmove_core::{conn, Error};
use pgmove_testkit::Cluster;
use std::sync::atomic::{AtomicU32, Ordering};

const SCHEMA: &str = "
CREATE SCHEMA app;
CREATE TABLE app.items (id serial PRIMARY KEY, name text NOT NULL CHECK (name <> ''),
                        qty int DEFAULT 1);
CREATE INDEX items_name ON app.items (lower(name)) WHERE qty > 0;
CREATE TABLE app.child (id int PRIMARY KEY, item int REFERENCES app.items);
CREATE TABLE app.part (id int, at date NOT NULL) PARTITION BY RANGE (at, (id % 7));
CREATE TABLE app.part_2024 PARTITION OF app.part FOR VALUES FROM ('2024-01-01', 0) TO ('2025-01-01', 7);
CREATE INDEX part_at ON app.part (at);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER items_touch BEFORE UPDATE ON app.items FOR EACH ROW
  WHEN (OLD.qty IS DISTINCT FROM NEW.qty) EXECUTE FUNCTION app.touch();
ALTER TABLE app.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_pos ON app.items USING (qty > 0);
CREATE STATISTICS app.items_st ON id, qty FROM app.items;
";

/// A source, with two connections to it: reads on two share one snapshot.
async fn source() -> (Cluster, Vec<tokio_postgres::Client>) {
    let c = Cluster::start(15).unwrap();
    c.create_db("app").unwrap();
    c.sql("app", SCHEMA).unwrap();
    let clients = vec![
        conn::connect_str(&c.conninfo("app")).await.unwrap(),
        conn::connect_str(&c.conninfo("app")).await.unwrap(),
    ];
    (c, clients)
}

#[tokio::test]
async fn ddl_committed_during_a_read_is_detected_and_read_again() {
    let (c, clients) = source().await;
    c.sql(
        "app",
        "CREATE VIEW app.names AS SELECT name FROM app.items WHERE qty > 0",
    )
    .unwrap();
    let other = conn::connect_str(&c.conninfo("app")).await.unwrap();
    let attempts = AtomicU32::new(0);
    // On two connections sharing a snapshot: both halves must be read again.
    let cat = catalog::read_with_hook(&clients, Default::default(), |attempt, stage| {
        if stage == Stage::Started {
            attempts.fetch_add(1, Ordering::SeqCst);
        }
        let other = &other;
        async move {
            if attempt == 0 && stage == Stage::Started {
                // Committed after the snapshot: the snapshot still sees `name`, the deparsers
                // see `title`.
                other
                    .batch_execute("ALTER TABLE app.items RENAME COLUMN name TO title")
                    .await
                    .unwrap();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "read again once");
    let items = cat.tables.iter().find(|t| t.name == "items").unwrap();
    let cols: Vec<&str> = items.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(cols, ["id", "title", "qty"]);
    let view = cat.views.iter().find(|v| v.name == "names").unwrap();
    assert!(view.definition.contains("title"), "{}", view.definition);
    assert_eq!(
        view.columns[0].name, "name",
        "the view's own column keeps its name"
    );
    let idx = cat.indexes.iter().find(|i| i.name == "items_name").unwrap();
    assert!(
        idx.definition.contains("lower(title)"),
        "{}",
        idx.definition
    );
}

#[tokio::test]
async fn ddl_during_every_read_fails_with_a_clear_error() {
    let (c, clients) = source().await;
    // On one connection.
    let client = std::slice::from_ref(&clients[0]);
    let other = conn::connect_str(&c.conninfo("app")).await.unwrap();
    let err = catalog::read_with_hook(client, Default::default(), |attempt, stage| {
        let other = &other;
        async move {
            if stage == Stage::Read {
                // Even DDL that lands after every reader ran, before the snapshot ends.
                other
                    .batch_execute(&format!("CREATE INDEX churn_{attempt} ON app.items (qty)"))
                    .await
                    .unwrap();
            }
        }
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::SchemaChanged { attempts } if attempts == catalog::MAX_ATTEMPTS),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("schema changed while pgmove read it"), "{msg}");
    // The connection is usable afterwards, and a quiet source reads in one attempt.
    let attempts = AtomicU32::new(0);
    catalog::read_with_hook(client, Default::default(), |_, stage| {
        if stage == Stage::Started {
            attempts.fetch_add(1, Ordering::SeqCst);
        }
        async {}
    })
    .await
    .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn temp_tables_and_analyze_on_the_source_do_not_force_a_read_again() {
    let (c, clients) = source().await;
    let other = conn::connect_str(&c.conninfo("app")).await.unwrap();
    let attempts = AtomicU32::new(0);
    catalog::read_with_hook(&clients, Default::default(), |attempt, stage| {
        if stage == Stage::Started {
            attempts.fetch_add(1, Ordering::SeqCst);
        }
        let other = &other;
        async move {
            if stage == Stage::Read {
                other
                    .batch_execute(&format!(
                        "CREATE TEMP TABLE scratch_{attempt} (id serial PRIMARY KEY, v text);
                         CREATE INDEX ON scratch_{attempt} (v);
                         INSERT INTO app.items (name) SELECT 'x' || g FROM generate_series(1, 100) g;
                         ANALYZE app.items;"
                    ))
                    .await
                    .unwrap();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

/// The read holds no lock on any table, index or partition. The relation locks it holds are
/// the ACCESS SHARE locks deparsing a view's query takes on what the view reads, and, only when
/// sequence state is read, those of opening each sequence (sequences are not in the snapshot).
#[tokio::test]
async fn a_read_locks_no_tables() {
    let (c, clients) = source().await;
    c.sql(
        "app",
        "CREATE VIEW app.child_ids AS SELECT id FROM app.child",
    )
    .unwrap();
    let mut pids: Vec<i32> = Vec::new();
    for client in &clients {
        pids.push(
            client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0),
        );
    }
    let other = conn::connect_str(&c.conninfo("app")).await.unwrap();
    for sequence_state in [true, false] {
        let locks = std::sync::Mutex::new(Vec::new());
        let mut opts = catalog::ReadOptions::default();
        opts.sequence_state = sequence_state;
        catalog::read_with_hook(&clients, opts, |_, stage| {
            let (other, locks, pids) = (&other, &locks, &pids);
            async move {
                if stage == Stage::Read {
                    let rows = other
                        .query(
                            "SELECT c.relname::text, l.mode FROM pg_locks l
                               JOIN pg_class c ON c.oid = l.relation
                               JOIN pg_namespace n ON n.oid = c.relnamespace
                              WHERE l.pid = ANY($1) AND l.locktype = 'relation' AND n.nspname = 'app'
                              ORDER BY 1",
                            &[pids],
                        )
                        .await
                        .unwrap();
                    *locks.lock().unwrap() = rows
                        .iter()
                        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                        .collect();
                }
            }
        })
        .await
        .unwrap();
        let locks = locks.into_inner().unwrap();
        for (rel, mode) in &locks {
            let view_read = (rel == "child" || rel == "child_ids") && mode == "AccessShareLock";
            let state_read = sequence_state && rel.ends_with("_seq");
            assert!(
                view_read || state_read,
                "the read (sequence_state {sequence_state}) holds {mode} on app.{rel}; all locks: {locks:?}"
            );
        }
    }
}
