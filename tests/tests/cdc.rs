//! Online migration with native logical replication (`pgmove_core::cdc`, `pgmove replicate`,
//! `status`, `cutover`) against real servers: the source keeps taking inserts, updates and
//! deletes during the copy and after it, post-data is applied while changes flow, and after
//! cutover every table's rows (count and an order-free md5, computed by psql on each server)
//! are equal, sequences are past the source's plus the margin, and no slot, publication or
//! subscription is left on either server. Large objects, which PostgreSQL does not replicate,
//! are copied by `migrate --online` and brought up to date by cutover (created, changed,
//! removed, commented in between). Also: a `replicate` killed while it creates the
//! subscription and run again loses and doubles nothing; the preflight refuses with one line
//! per problem and creates nothing.

use pgmove_core::cdc::{self, CutoverOptions, StartOptions};
use pgmove_core::conn::{self, ConnSpec, Secret};
use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, Error};
use pgmove_testkit::checks::large_objects;
use pgmove_testkit::{test_pairs, Cluster};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The source's password: it must never appear in anything pgmove prints.
const PASSWORD: &str = "pw-7Hq!x'secret";

/// A composite key, a large text column, a table without a key (REPLICA IDENTITY FULL with
/// consent), a serial, and from 11 a partitioned table with a key.
fn source_sql(major: u32) -> String {
    let mut sql = String::from(
        "CREATE SCHEMA app;
         CREATE TABLE app.accounts (id bigserial PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
         CREATE TABLE app.lines (order_id int, line_no int, qty int, note text,
                                 PRIMARY KEY (order_id, line_no));
         CREATE INDEX lines_qty ON app.lines (qty);
         CREATE TABLE app.docs (id serial PRIMARY KEY, body text);
         CREATE TABLE app.nokey (a int, b text);
         INSERT INTO app.accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, 20000) g;
         INSERT INTO app.lines SELECT g, l, g % 97, CASE WHEN l = 1 THEN 'first' END
           FROM generate_series(1, 15000) g, generate_series(1, 2) l;
         INSERT INTO app.docs (body) SELECT repeat(md5(g::text), 1200) FROM generate_series(1, 300) g;
         INSERT INTO app.nokey SELECT g, 'n' || g FROM generate_series(1, 8000) g;
        ",
    );
    if major >= 11 {
        sql.push_str(
            "CREATE TABLE app.events (id bigint, at date, v text, PRIMARY KEY (id, at))
               PARTITION BY RANGE (at);
             CREATE TABLE app.events_2024 PARTITION OF app.events
               FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
             CREATE TABLE app.events_2025 PARTITION OF app.events
               FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
             INSERT INTO app.events SELECT g, date '2024-01-01' + g % 700, 'e' || g
               FROM generate_series(1, 20000) g;
            ",
        );
    }
    sql
}

fn tables(major: u32) -> Vec<&'static str> {
    let mut v = vec!["app.accounts", "app.lines", "app.docs", "app.nokey"];
    if major >= 11 {
        v.push("app.events");
    }
    v
}

fn source_cluster(major: u32) -> Cluster {
    Cluster::builder(major)
        .setting("wal_level", "logical")
        .setting("max_replication_slots", "10")
        .setting("max_wal_senders", "10")
        .password(PASSWORD)
        .start()
        .unwrap()
}

/// The test pairs whose source has native logical replication (10 on), as plain majors.
fn pairs() -> Vec<(u32, u32)> {
    let v: Vec<(u32, u32)> = test_pairs()
        .into_iter()
        .filter(|(s, _)| *s >= 10)
        .map(|(s, t)| (s.version_num() / 10000, t.version_num() / 10000))
        .collect();
    assert!(
        !v.is_empty(),
        "PGMOVE_TEST_PAIRS names no pair with a source of 10 or later"
    );
    v
}

/// Source (with `app`) and target (empty `app`), the schema (pre-data) on the target.
async fn servers(s: u32, t: u32) -> (Cluster, Cluster, ConnSpec, ConnSpec) {
    let src = source_cluster(s);
    let dst = Cluster::start(t).unwrap();
    src.create_db("app").unwrap();
    src.sql("app", &source_sql(s)).unwrap();
    dst.create_db("app").unwrap();
    let (ss, ts): (ConnSpec, ConnSpec) = (
        src.conninfo("app").parse().unwrap(),
        dst.conninfo("app").parse().unwrap(),
    );
    let cat = catalog::read(&conn::connect(&ss).await.unwrap())
        .await
        .unwrap();
    let tc = conn::connect(&ts).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    plan::check_target(&tc, &cat, &p).await.unwrap();
    apply::apply_in_transaction(&tc, &p.items, |_, _, _| {})
        .await
        .unwrap();
    (src, dst, ss, ts)
}

/// A task that writes to every table until `stop`, counting its transactions.
struct Writer {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    async fn start(spec: &ConnSpec, major: u32) -> Writer {
        let client = conn::connect(spec).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (st, dn) = (stop.clone(), done.clone());
        let task = tokio::spawn(async move {
            let mut seed: u64 = 0x9e37_79b9;
            let mut rnd = |n: u64| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) % n + 1
            };
            let mut i: u64 = 0;
            while !st.load(Ordering::Relaxed) {
                i += 1;
                let mut sql = format!(
                    "INSERT INTO app.accounts (name, balance) VALUES ('w{i}', {i});
                     UPDATE app.accounts SET balance = balance + 1, name = name || 'u' WHERE id = {};
                     DELETE FROM app.accounts WHERE id = {};
                     INSERT INTO app.lines VALUES ({o}, 1, {i}, 'new'), ({o}, 2, {i}, NULL);
                     UPDATE app.lines SET qty = qty + 1, note = coalesce(note, '') || 'u' WHERE order_id = {};
                     DELETE FROM app.lines WHERE order_id = {} AND line_no = 2;
                     UPDATE app.lines SET line_no = {k} WHERE order_id = {} AND line_no = 1;
                     UPDATE app.docs SET body = repeat(md5('{i}'), 1500) WHERE id = {};
                     INSERT INTO app.docs (body) VALUES (repeat('x{i}', 9000));
                     DELETE FROM app.docs WHERE id = {};
                     INSERT INTO app.nokey VALUES ({i}, 'w');
                     UPDATE app.nokey SET b = b || '+' WHERE a = {};
                     DELETE FROM app.nokey WHERE a = {};
                    ",
                    rnd(20000),
                    rnd(20000),
                    rnd(15000),
                    rnd(15000),
                    rnd(15000),
                    rnd(300),
                    rnd(300),
                    rnd(8000),
                    rnd(8000),
                    o = 100_000 + i,
                    k = 1000 + i,
                );
                if major >= 11 {
                    sql += &format!(
                        "INSERT INTO app.events VALUES ({}, date '2025-03-01', 'w');
                         UPDATE app.events SET v = v || 'u' WHERE id = {};
                         UPDATE app.events SET at = date '2025-06-01' WHERE id = {} AND at < '2025-01-01';
                         DELETE FROM app.events WHERE id = {};",
                        100_000 + i,
                        rnd(20000),
                        rnd(20000),
                        rnd(20000)
                    );
                }
                client.batch_execute(&sql).await.unwrap();
                dn.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Writer { stop, done, task }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        self.done.load(Ordering::Relaxed)
    }
}

/// Count and order-free md5 of a table's rows, computed by psql on the server.
fn rows(c: &Cluster, table: &str) -> String {
    c.psql(
        "app",
        &[
            "-At",
            "-c",
            &format!(
                "SELECT count(*) || ' ' || coalesce(md5(string_agg(h, '' ORDER BY h)), '-')
                   FROM (SELECT md5(t::text) AS h FROM {table} t) x"
            ),
        ],
    )
    .unwrap()
    .trim()
    .to_string()
}

fn value(c: &Cluster, sql: &str) -> String {
    c.psql("app", &["-At", "-c", sql])
        .unwrap()
        .trim()
        .to_string()
}

fn assert_rows_equal(src: &Cluster, dst: &Cluster, major: u32, what: &str) {
    for t in tables(major) {
        let (a, b) = (rows(src, t), rows(dst, t));
        assert_eq!(a, b, "{what}: rows of {t} differ (source vs target)");
    }
}

/// Nothing of pgmove left: no slot or publication on the source, no subscription on the target.
fn assert_nothing_left(src: &Cluster, dst: &Cluster) {
    assert_eq!(value(src, "SELECT count(*) FROM pg_replication_slots"), "0");
    assert_eq!(value(src, "SELECT count(*) FROM pg_publication"), "0");
    assert_eq!(value(dst, "SELECT count(*) FROM pg_subscription"), "0");
}

/// The `pgmove` binary: `PGMOVE_BIN` when set (`cargo xtask test` builds it first), else built
/// once for these tests.
fn pgmove_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("PGMOVE_BIN") {
            return PathBuf::from(p);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "pgmove-cli", "--bin", "pgmove"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(st.success(), "building pgmove");
        // target/debug/deps/cdc-… → target/debug/pgmove
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("pgmove")
    })
    .clone()
}

fn pgmove(args: &[&str]) -> Command {
    let mut c = Command::new(pgmove_bin());
    c.args(args)
        .env_remove("PGPASSWORD")
        .env("PGMOVE_LOG", "info");
    c
}

/// `pgmove cutover --format json` (5 minutes to catch up) with `extra` arguments: its report,
/// after checking it succeeded and printed no password.
fn cutover_json(source: &str, target: &str, extra: &[&str], what: &str) -> serde_json::Value {
    let mut args = vec!["cutover", "--source", source, "--target", target];
    args.extend(extra);
    args.extend(["--format", "json", "--timeout", "5m"]);
    let out = run_clean(pgmove(&args));
    assert!(out.status.success(), "{what}: cutover: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Run and check that the password shows nowhere in what pgmove printed.
fn run_clean(mut c: Command) -> Output {
    let out = c.output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "the password was printed:\n{all}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_migration_under_writes() {
    for (s, t) in pairs() {
        let (src, dst, ss, ts) = servers(s, t).await;
        let writer = Writer::start(&ss, s).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let cat = catalog::read(&conn::connect(&ss).await.unwrap())
            .await
            .unwrap();
        let mut opts = StartOptions::new(Default::default());
        opts.replica_identity_full = true;
        let started = cdc::start(&ss, &ts, &cat, &opts).await.unwrap();
        assert!(!started.resumed);
        assert_eq!(started.identity_full, ["app.nokey"]);
        assert_eq!(started.tables.len(), tables(s).len() + usize::from(s >= 11));
        assert_eq!(
            value(
                &src,
                "SELECT relreplident FROM pg_class WHERE oid = 'app.nokey'::regclass"
            ),
            "f"
        );

        // Status from the command line while the copy runs: exit 0, no password.
        let (sc, tc) = (src.conninfo("app"), dst.conninfo("app"));
        let out = run_clean(pgmove(&["status", "--source", &sc, "--target", &tc]));
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("cutover would:"), "{text}");
        eprintln!("{s}->{t} status during the copy:\n{text}");
        let out = run_clean(pgmove(&[
            "status", "--source", &sc, "--target", &tc, "--format", "json",
        ]));
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["names"]["subscription"], "pgmove_cdc_app");
        assert_eq!(v["tables"].as_array().unwrap().len(), started.tables.len());
        assert!(v["counts"]["streaming"].is_u64(), "{v}");

        let (so, to) = (
            conn::connect(&ss).await.unwrap(),
            conn::connect(&ts).await.unwrap(),
        );
        let st = cdc::wait_streaming(&so, &to, Duration::from_secs(300), |_| {})
            .await
            .unwrap();
        assert!(st.all_streaming() && st.subscription_exists);
        // Every keyed table (leaf partitions included) got its key before the copy.
        let keyed = if s >= 11 { 5 } else { 3 };
        assert_eq!(started.keys_created, keyed);

        // Post-data while changes flow; the keys start created are skipped.
        let clients = vec![
            conn::connect(&ts).await.unwrap(),
            conn::connect(&ts).await.unwrap(),
        ];
        let p = plan::plan(&cat, Step::PostData, &Default::default());
        let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
        let report = apply::apply_parallel(&clients, &p.items, &sizes, |_, _, _| {})
            .await
            .unwrap();
        assert!(report.skipped >= 1, "{report:?}");
        assert_eq!(
            value(
                &dst,
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'lines_qty'"
            ),
            "1"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let writes = writer.stop().await;
        assert!(writes > 20, "the writer ran {writes} transactions");
        // No change failed to apply on the target (targets 15+ count them).
        let st = cdc::status(&so, &to).await.unwrap();
        if t >= 15 {
            assert_eq!(st.errors, Some((0, 0)), "{st:?}");
        }

        let report = cutover_json(&sc, &tc, &["--margin", "100"], &format!("{s}->{t}"));
        assert_eq!(report["already_done"], false);
        assert_eq!(report["identity_restored"][0], "app.nokey");
        assert!(report["confirmed_lsn"].is_string(), "{report}");

        assert_rows_equal(&src, &dst, s, &format!("{s}->{t}"));
        let (a, b) = (
            value(&src, "SELECT last_value FROM app.accounts_id_seq"),
            value(&dst, "SELECT last_value FROM app.accounts_id_seq"),
        );
        let (a, b): (i64, i64) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(b >= a + 100, "{s}->{t}: sequence {b} < source {a} + 100");
        assert_nothing_left(&src, &dst);
        assert_eq!(
            value(
                &src,
                "SELECT relreplident FROM pg_class WHERE oid = 'app.nokey'::regclass"
            ),
            "d"
        );

        // Again: nothing to do, exit 0, and the sequences are not touched.
        dst.sql("app", "SELECT nextval('app.accounts_id_seq')")
            .unwrap();
        let out = run_clean(pgmove(&["cutover", "--source", &sc, "--target", &tc]));
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
        assert_eq!(
            value(&dst, "SELECT last_value FROM app.accounts_id_seq"),
            (b + 1).to_string()
        );
    }
}

/// Large objects of every kind: empty, binary, several 1 MiB hash pieces, commented, granted.
const LARGE_OBJECTS: &str = r#"
SELECT lo_from_bytea(50001, '');
SELECT lo_from_bytea(50002, '\x000102ff'::bytea);
SELECT lo_from_bytea(50003, convert_to(string_agg(md5(g::text), '' ORDER BY g), 'UTF8'))
  FROM generate_series(1, 100000) g;
COMMENT ON LARGE OBJECT 50002 IS 'commented';
GRANT SELECT ON LARGE OBJECT 50003 TO lo_reader;
SELECT lo_from_bytea(60000 + g, convert_to(repeat(g::text, g), 'UTF8'))
  FROM generate_series(1, 50) g;
"#;

/// Every large object with its size, md5, ACL and comment, computed by the server.
const LARGE_OBJECT_STATE: &str = "SELECT m.oid, length(lo_get(m.oid)), md5(lo_get(m.oid)),
       m.lomacl, d.description
  FROM pg_largeobject_metadata m
  LEFT JOIN pg_description d ON d.objoid = m.oid AND d.classoid = 'pg_largeobject'::regclass
 ORDER BY 1";

fn assert_large_objects_equal(src: &Cluster, dst: &Cluster, what: &str) {
    assert_eq!(
        large_objects(dst, "app").unwrap(),
        large_objects(src, "app").unwrap(),
        "{what}: large objects differ (count, OIDs, contents)"
    );
    assert_eq!(
        value(dst, LARGE_OBJECT_STATE),
        value(src, LARGE_OBJECT_STATE),
        "{what}: large objects differ (sizes, ACLs, comments)"
    );
}

/// `migrate --online` under writes copies the source's large objects; between it and cutover
/// the source creates one, changes one (`lo_put`), removes one (`lo_unlink`) and comments one;
/// cutover brings them over (reporting what it did), and afterwards the target's large
/// objects equal the source's, as psql computes them on each server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_migration_carries_large_objects_through_cutover() {
    for (s, t) in pairs() {
        let src = source_cluster(s);
        let dst = Cluster::start(t).unwrap();
        for c in [&src, &dst] {
            c.sql("postgres", "CREATE ROLE lo_reader NOLOGIN").unwrap();
        }
        src.create_db("app").unwrap();
        src.sql("app", &source_sql(s)).unwrap();
        src.sql("app", LARGE_OBJECTS).unwrap();
        dst.create_db("app").unwrap();
        let (sc, tc) = (src.conninfo("app"), dst.conninfo("app"));
        let ss: ConnSpec = sc.parse().unwrap();
        let writer = Writer::start(&ss, s).await;

        // The keyless table gets REPLICA IDENTITY FULL from migrate (with consent), on the
        // source and mirrored on the target, so migrate's own check sees them alike; cutover
        // sets both back.
        let out = run_clean(pgmove(&[
            "migrate",
            "--source",
            &sc,
            "--target",
            &tc,
            "--online",
            "--replica-identity-full",
            "-j",
            "2",
        ]));
        assert!(out.status.success(), "{s}->{t}: migrate --online: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{s}->{t} migrate --online:\n{text}");
        assert!(text.contains("53 large objects (53 copied"), "{text}");
        let identity = "SELECT relreplident FROM pg_class WHERE oid = 'app.nokey'::regclass";
        assert_eq!(
            (value(&src, identity), value(&dst, identity)),
            ("f".into(), "f".into())
        );
        assert_large_objects_equal(&src, &dst, &format!("{s}->{t} after migrate --online"));

        src.sql(
            "app",
            "SELECT lo_from_bytea(70001, 'created while replicating');
             SELECT lo_put(50003, 4000, 'changed while replicating');
             SELECT lo_unlink(60007);
             COMMENT ON LARGE OBJECT 60009 IS 'commented while replicating';",
        )
        .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        writer.stop().await;

        let report = cutover_json(&sc, &tc, &[], &format!("{s}->{t}"));
        let lo = &report["large_objects"];
        assert_eq!(
            (
                &lo["copied"],
                &lo["removed"],
                &lo["recopied"],
                &lo["unchanged"]
            ),
            (
                &serde_json::json!(1),
                &serde_json::json!(1),
                &serde_json::json!(2),
                &serde_json::json!(50)
            ),
            "{s}->{t}: {report}"
        );
        assert_large_objects_equal(&src, &dst, &format!("{s}->{t} after cutover"));
        assert_rows_equal(&src, &dst, s, &format!("{s}->{t} with large objects"));
        assert_eq!(
            (value(&src, identity), value(&dst, identity)),
            ("d".into(), "d".into()),
            "{s}->{t}: replica identities set back on both servers"
        );
        assert_nothing_left(&src, &dst);

        // Again: nothing to do, and the target's large objects are not touched.
        dst.sql(
            "app",
            "SELECT lo_from_bytea(80001, 'written on the target')",
        )
        .unwrap();
        let out = run_clean(pgmove(&["cutover", "--source", &sc, "--target", &tc]));
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
        assert_eq!(
            value(
                &dst,
                "SELECT count(*) FROM pg_largeobject_metadata WHERE oid = 80001"
            ),
            "1"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_killed_while_subscribing_then_resumed() {
    for (s, t) in pairs() {
        let (src, dst, ss, ts) = servers(s, t).await;
        let (sc, tc) = (src.conninfo("app"), dst.conninfo("app"));
        // Large objects are not replicated: replicate copies them before it returns.
        src.sql(
            "app",
            "SELECT lo_from_bytea(91001, 'before replicate');
             SELECT lo_from_bytea(91002, convert_to(repeat('x', 300000), 'UTF8'));",
        )
        .unwrap();
        let writer = Writer::start(&ss, s).await;
        // A write transaction open on the source: the slot cannot be created before it ends,
        // so CREATE SUBSCRIPTION waits, and pgmove is killed there.
        let held = conn::connect(&ss).await.unwrap();
        held.batch_execute("BEGIN; INSERT INTO app.accounts (name) VALUES ('held')")
            .await
            .unwrap();
        let mut first = pgmove(&[
            "replicate",
            "--source",
            &sc,
            "--target",
            &tc,
            "--replica-identity-full",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while value(
            &dst,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE SUBSCRIPTION%'",
        ) != "1"
        {
            assert!(Instant::now() < deadline, "CREATE SUBSCRIPTION never ran");
            assert!(first.try_wait().unwrap().is_none(), "replicate ended early");
            std::thread::sleep(Duration::from_millis(100));
        }
        first.kill().unwrap();
        first.wait().unwrap();
        // Its session on the target still waits in CREATE SUBSCRIPTION: the re-run must end it.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            value(
                &dst,
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE SUBSCRIPTION%'"
            ),
            "1"
        );

        // Run again; the held transaction commits while it waits.
        let second = pgmove(&[
            "replicate",
            "--source",
            &sc,
            "--target",
            &tc,
            "--replica-identity-full",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        held.batch_execute("COMMIT").await.unwrap();
        let out = second.wait_with_output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{s}->{t}: second replicate: {all}");
        assert!(!all.contains(PASSWORD), "{all}");
        assert!(all.contains("large objects: 2 copied"), "{all}");
        assert_large_objects_equal(&src, &dst, &format!("{s}->{t} after replicate"));

        // And a third time while the copy may still run: it continues what exists.
        let cat = catalog::read(&conn::connect(&ss).await.unwrap())
            .await
            .unwrap();
        let mut opts = StartOptions::new(Default::default());
        opts.replica_identity_full = true;
        let again = cdc::start(&ss, &ts, &cat, &opts).await.unwrap();
        assert!(again.resumed, "{again:?}");

        tokio::time::sleep(Duration::from_secs(2)).await;
        writer.stop().await;
        let mut co = CutoverOptions::default();
        co.margin = 10;
        let report = cdc::cutover(&ss, &ts, &co, |_| {}).await.unwrap();
        assert!(!report.already_done);
        let lo = report.large_objects.as_ref().expect("large objects synced");
        assert_eq!((lo.copied, lo.unchanged), (0, 2), "{report:?}");
        assert_rows_equal(&src, &dst, s, &format!("{s}->{t} after kill and resume"));
        assert_eq!(
            value(
                &dst,
                "SELECT count(*) FROM app.accounts WHERE name = 'held'"
            ),
            "1"
        );
        assert_nothing_left(&src, &dst);
    }
}

#[tokio::test]
async fn preflight_lists_every_problem_and_creates_nothing() {
    let (s, t) = pairs()[0];
    // wal_level left at replica; the target allows one replication worker.
    let src = Cluster::builder(s).start().unwrap();
    let dst = Cluster::builder(t)
        .setting("max_logical_replication_workers", "1")
        .start()
        .unwrap();
    src.create_db("app").unwrap();
    src.sql("app", &source_sql(s)).unwrap();
    dst.create_db("app").unwrap();
    let (ss, ts): (ConnSpec, ConnSpec) = (
        src.conninfo("app").parse().unwrap(),
        dst.conninfo("app").parse().unwrap(),
    );
    let cat = catalog::read(&conn::connect(&ss).await.unwrap())
        .await
        .unwrap();
    let tc = conn::connect(&ts).await.unwrap();
    let p = plan::plan(&cat, Step::Schema, &Default::default());
    apply::apply_in_transaction(&tc, &p.items, |_, _, _| {})
        .await
        .unwrap();
    dst.sql("app", "INSERT INTO app.docs (body) VALUES ('already here')")
        .unwrap();

    let err = cdc::start(&ss, &ts, &cat, &StartOptions::new(Default::default()))
        .await
        .unwrap_err();
    let Error::Problems { problems, .. } = &err else {
        panic!("not a list of problems: {err}");
    };
    let has = |needle: &str| problems.iter().filter(|p| p.contains(needle)).count();
    assert_eq!(
        has("wal_level is 'replica'; logical replication needs 'logical'"),
        1,
        "{err}"
    );
    assert_eq!(has("table app.nokey has no primary key"), 1, "{err}");
    assert_eq!(has("already hold rows on the target; replication copies every row, so they must be empty: app.docs"), 1, "{err}");
    assert_eq!(
        has("the target has 1 free logical replication worker(s) of max_logical_replication_workers = 1"),
        1,
        "{err}"
    );
    assert_eq!(problems.len(), 4, "{err}");
    assert!(problems.iter().all(|p| !p.contains('\n')), "{err}");

    // The command line says the same, one line each, exit 1.
    let out = run_clean(pgmove(&[
        "replicate",
        "--source",
        &src.conninfo("app"),
        "--target",
        &dst.conninfo("app"),
    ]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("replication cannot start (4 problem(s)"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("  - ")).count(),
        4,
        "{stderr}"
    );

    // Nothing created on either side: no publication, slot, subscription, key, identity.
    assert_nothing_left(&src, &dst);
    assert_eq!(
        value(
            &dst,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'app'::regnamespace"
        ),
        "0"
    );
    assert_eq!(
        value(
            &src,
            "SELECT relreplident FROM pg_class WHERE oid = 'app.nokey'::regclass"
        ),
        "d"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_on_the_source_stops_cutover_until_allowed() {
    let (s, t) = pairs()[0];
    let (src, dst, ss, ts) = servers(s, t).await;
    let cat = catalog::read(&conn::connect(&ss).await.unwrap())
        .await
        .unwrap();
    let mut opts = StartOptions::new(Default::default());
    opts.replica_identity_full = true;
    // A connection string for the target that does not reach the source: the error must not
    // carry its password, no subscription exists, and a run with a right one continues.
    let wrong = "host=127.0.0.1 port=1 user=postgres dbname=app password=wrong-secret-pw";
    opts.source_from_target = Some(Secret::new(wrong));
    let err = cdc::start(&ss, &ts, &cat, &opts).await.unwrap_err();
    let msg = err.to_string();
    eprintln!("start with a wrong source_from_target: {msg}");
    assert!(msg.contains("subscription pgmove_cdc_app"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(!msg.contains("wrong-secret-pw") && !format!("{err:?}").contains("wrong-secret-pw"));
    assert_eq!(value(&dst, "SELECT count(*) FROM pg_subscription"), "0");
    opts.source_from_target = Some(Secret::new(src.url("app")));
    let started = cdc::start(&ss, &ts, &cat, &opts).await.unwrap();
    assert!(!started.resumed && started.keys_created == 0, "{started:?}");

    // Another target whose database has the same name derives the same names: it must neither
    // take this migration's publication and slot over nor cut it over.
    let other = Cluster::start(t).unwrap();
    other.create_db("app").unwrap();
    let os: ConnSpec = other.conninfo("app").parse().unwrap();
    let err = cdc::start(&ss, &os, &cat, &opts).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("belongs to a migration into another target"),
        "{err}"
    );
    let err = cdc::cutover(&ss, &os, &CutoverOptions::default(), |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("belongs to a migration into another target"),
        "{err}"
    );
    assert_eq!(value(&src, "SELECT count(*) FROM pg_publication"), "1");
    // The migration's own slot (table sync workers may hold `pg_…_sync_…` slots meanwhile).
    assert_eq!(
        value(
            &src,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name NOT LIKE 'pg\\_%\\_sync\\_%'"
        ),
        "1"
    );
    drop(other);
    let (so, to) = (
        conn::connect(&ss).await.unwrap(),
        conn::connect(&ts).await.unwrap(),
    );
    cdc::wait_streaming(&so, &to, Duration::from_secs(300), |_| {})
        .await
        .unwrap();
    src.sql(
        "app",
        "CREATE INDEX accounts_name ON app.accounts (name);
         COMMENT ON TABLE app.docs IS 'changed';
         CREATE TABLE app.late (id int PRIMARY KEY);",
    )
    .unwrap();

    let err = cdc::cutover(&ss, &ts, &CutoverOptions::default(), |_| {})
        .await
        .unwrap_err();
    let Error::Problems { problems, .. } = &err else {
        panic!("not a list of problems: {err}");
    };
    for want in [
        "index app.accounts_name: created on the source",
        "table app.docs: changed on the source",
        "table app.late: created on the source",
    ] {
        assert!(problems.iter().any(|p| p == want), "{want} missing: {err}");
    }
    // Nothing dropped: replication goes on until the user decides.
    assert_eq!(value(&dst, "SELECT count(*) FROM pg_subscription"), "1");
    assert_eq!(value(&src, "SELECT count(*) FROM pg_publication"), "1");

    // Large objects left out when asked: the target gets none.
    src.sql("app", "SELECT lo_from_bytea(92001, 'not moved')")
        .unwrap();
    let mut co = CutoverOptions::default();
    co.allow_schema_changes = true;
    co.large_objects = None;
    let report = cdc::cutover(&ss, &ts, &co, |_| {}).await.unwrap();
    assert!(report.schema_changes.len() >= 3, "{report:?}");
    assert!(report.large_objects.is_none(), "{report:?}");
    assert_eq!(
        value(&dst, "SELECT count(*) FROM pg_largeobject_metadata"),
        "0"
    );
    assert_rows_equal(&src, &dst, s, "after allowed schema changes");
    assert_nothing_left(&src, &dst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_killed_after_dropping_the_subscription_finishes_on_rerun() {
    let (s, t) = pairs()[0];
    let (src, dst, ss, ts) = servers(s, t).await;
    let cat = catalog::read(&conn::connect(&ss).await.unwrap())
        .await
        .unwrap();
    let mut opts = StartOptions::new(Default::default());
    opts.replica_identity_full = true;
    cdc::start(&ss, &ts, &cat, &opts).await.unwrap();
    let (so, to) = (
        conn::connect(&ss).await.unwrap(),
        conn::connect(&ts).await.unwrap(),
    );
    cdc::wait_streaming(&so, &to, Duration::from_secs(300), |_| {})
        .await
        .unwrap();
    // Where an interrupted cutover stops after its DROP SUBSCRIPTION: sequences are set, the
    // publication and the replica identity remain.
    dst.sql("app", "SELECT setval('app.accounts_id_seq', 1000000)")
        .unwrap();
    dst.sql("app", "DROP SUBSCRIPTION pgmove_cdc_app").unwrap();
    let report = cdc::cutover(&ss, &ts, &CutoverOptions::default(), |_| {})
        .await
        .unwrap();
    assert!(!report.already_done);
    assert!(report.sequences_set.is_empty(), "{report:?}");
    assert_eq!(
        report.dropped,
        ["publication pgmove_cdc_app on the source"],
        "{report:?}"
    );
    assert_eq!(report.identity_restored, ["app.nokey"]);
    assert_eq!(
        value(&dst, "SELECT last_value FROM app.accounts_id_seq"),
        "1000000",
        "a sequence must not move back once the subscription is gone"
    );
    assert_nothing_left(&src, &dst);
    assert_eq!(
        value(
            &src,
            "SELECT relreplident FROM pg_class WHERE oid = 'app.nokey'::regclass"
        ),
        "d"
    );
}
