//! Large objects (`pgmove_core::lobs`): contents, privileges and comments copied under the
//! source's OIDs, compared by psql on both servers (per object: size, md5, ACL, comment); an
//! interrupted copy resumes; a copy in a snapshot leaves out what came after it; a target with
//! large objects of its own is refused before anything is written; a sync brings an older copy
//! up to date (new, dropped and changed objects) and a second one changes nothing.

use pgmove_core::conn::ConnSpec;
use pgmove_core::{lobs, Error};
use pgmove_testkit::{test_pairs, Cluster, Major};

/// Objects of every shape: empty, binary, one of several MB (many chunks), a comment, GRANTs
/// to a role and to PUBLIC, and a couple of hundred small ones (many batches).
const SOURCE: &str = r#"
SELECT lo_from_bytea(50001, '');
SELECT lo_from_bytea(50002, '\x000102ff'::bytea);
SELECT lo_from_bytea(50003, convert_to(string_agg(md5(g::text), '' ORDER BY g), 'UTF8'))
  FROM generate_series(1, 100000) g;
COMMENT ON LARGE OBJECT 50002 IS 'a small one, it''s commented';
GRANT SELECT ON LARGE OBJECT 50003 TO lo_reader;
GRANT SELECT, UPDATE ON LARGE OBJECT 50002 TO PUBLIC;
SELECT lo_from_bytea(60000 + g, convert_to(repeat(g::text, g), 'UTF8'))
  FROM generate_series(1, 200) g;
COMMENT ON LARGE OBJECT 60007 IS 'seven';
"#;

const OBJECTS: usize = 203;

/// Every large object as the server sees it: OID, size, md5 of the contents, ACL, comment.
const STATE: &str =
    "SELECT m.oid, length(lo_get(m.oid)), md5(lo_get(m.oid)), m.lomacl, d.description
  FROM pg_largeobject_metadata m
  LEFT JOIN pg_description d ON d.objoid = m.oid AND d.classoid = 'pg_largeobject'::regclass
 ORDER BY 1";

const BYTES: &str = "SELECT sum(length(lo_get(oid))) FROM pg_largeobject_metadata";

fn spec(c: &Cluster, db: &str) -> ConnSpec {
    ConnSpec::parse(&c.conninfo(db)).unwrap()
}

/// Source and target clusters with the role the GRANTs name, the source loaded.
fn clusters(sm: Major, tm: Major) -> (Cluster, Cluster) {
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    for c in [&source, &target] {
        c.sql("postgres", "CREATE ROLE lo_reader NOLOGIN").unwrap();
    }
    source.create_db("app").unwrap();
    source.sql("app", SOURCE).unwrap();
    (source, target)
}

/// Small chunks and batches, so that one object takes many chunks and the objects many
/// batches on both connection pairs.
fn small() -> lobs::Options {
    let mut o = lobs::Options::with_jobs(2);
    o.chunk_bytes = 64 * 1024;
    o.batch_objects = 16;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contents_privileges_and_comments_arrive_and_a_second_run_skips_them() {
    for (sm, tm) in test_pairs() {
        let (source, target) = clusters(sm, tm);
        let want = source.sql("app", STATE).unwrap();
        assert!(want.contains("lo_reader=r/postgres"), "{want}");
        assert_eq!(want.matches("\n").count() - 4, OBJECTS, "{want}");

        target.create_db("lo").unwrap();
        let report = lobs::copy(
            &spec(&source, "app"),
            &spec(&target, "lo"),
            None,
            &small(),
            &|_| {},
        )
        .await
        .unwrap();
        assert_eq!(target.sql("lo", STATE).unwrap(), want, "{sm}->{tm}");
        assert_eq!((report.objects, report.skipped), (OBJECTS, 0));
        let bytes = source.sql("app", BYTES).unwrap();
        assert!(
            bytes.contains(&format!(" {}\n", report.bytes)),
            "{sm}->{tm}: {} bytes reported, the source holds {bytes}",
            report.bytes
        );
        assert!(report.bytes > 3_000_000);

        let again = lobs::copy(
            &spec(&source, "app"),
            &spec(&target, "lo"),
            None,
            &lobs::Options::default(),
            &|_| panic!("nothing to copy"),
        )
        .await
        .unwrap();
        assert_eq!((again.objects, again.skipped, again.bytes), (0, OBJECTS, 0));
        assert_eq!(target.sql("lo", STATE).unwrap(), want, "{sm}->{tm}");

        // Without privileges: the same contents and comments, no GRANT.
        target.create_db("lo_x").unwrap();
        let mut opts = lobs::Options::default();
        opts.privileges = false;
        lobs::copy(
            &spec(&source, "app"),
            &spec(&target, "lo_x"),
            None,
            &opts,
            &|_| {},
        )
        .await
        .unwrap();
        let got = target
            .sql(
                "lo_x",
                "SELECT count(*), count(lomacl) FROM pg_largeobject_metadata",
            )
            .unwrap();
        assert!(got.contains(&format!("{OBJECTS} |     0")), "{got}");
        let comments = "SELECT m.oid, md5(lo_get(m.oid)), d.description
              FROM pg_largeobject_metadata m
              LEFT JOIN pg_description d ON d.objoid = m.oid ORDER BY 1";
        assert_eq!(
            target.sql("lo_x", comments).unwrap(),
            source.sql("app", comments).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_cut_short_resumes_to_the_same_objects() {
    let (sm, tm) = test_pairs()[0];
    let (source, target) = clusters(sm, tm);
    target.create_db("lo").unwrap();
    let stop = tokio::sync::Notify::new();
    let first = std::sync::Mutex::new(None);
    let cut = |p: lobs::Progress| {
        if p.objects_done >= 32 {
            first.lock().unwrap().get_or_insert(p);
            stop.notify_one();
        }
    };
    let (s, t, opts) = (spec(&source, "app"), spec(&target, "lo"), small());
    // The copy is dropped mid-way, its connections closed, as a killed process leaves it.
    tokio::select! {
        r = lobs::copy(&s, &t, None, &opts, &cut) => panic!("the copy was not cut: {r:?}"),
        _ = stop.notified() => {}
    }
    assert!(first.lock().unwrap().is_some());
    let count = target
        .sql("lo", "SELECT count(*) FROM pg_largeobject_metadata")
        .unwrap();
    let there: usize = count.lines().nth(2).unwrap().trim().parse().unwrap();
    assert!(
        (32..OBJECTS).contains(&there),
        "{there} objects after the cut"
    );

    let report = lobs::copy(&s, &t, None, &opts, &|_| {}).await.unwrap();
    assert_eq!((report.skipped, report.objects), (there, OBJECTS - there));
    assert_eq!(
        target.sql("lo", STATE).unwrap(),
        source.sql("app", STATE).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_bounds_the_copy_and_a_foreign_object_stops_it() {
    let (sm, tm) = test_pairs()[0];
    let (source, target) = clusters(sm, tm);
    let want = source.sql("app", STATE).unwrap();

    // The caller's snapshot, held open; an object committed after it.
    let holder = pgmove_core::conn::connect(&spec(&source, "app"))
        .await
        .unwrap();
    holder
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    let snapshot: String = holder
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .unwrap()
        .get(0);
    source
        .sql("app", "SELECT lo_from_bytea(70000, 'late')")
        .unwrap();

    target.create_db("lo").unwrap();
    let report = lobs::copy(
        &spec(&source, "app"),
        &spec(&target, "lo"),
        Some(&snapshot),
        &small(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.objects, OBJECTS);
    assert_eq!(target.sql("lo", STATE).unwrap(), want);
    holder.batch_execute("COMMIT").await.unwrap();

    // A target with a large object the source lacks: refused, nothing written.
    target.create_db("other").unwrap();
    target
        .sql("other", "SELECT lo_from_bytea(99999, 'mine')")
        .unwrap();
    let err = lobs::copy(
        &spec(&source, "app"),
        &spec(&target, "other"),
        None,
        &lobs::Options::default(),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("99999")),
        "{err}"
    );
    let left = target
        .sql(
            "other",
            "SELECT string_agg(oid::text, ',') FROM pg_largeobject_metadata",
        )
        .unwrap();
    assert!(left.contains(" 99999\n"), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_the_grants_name_must_exist_on_the_target() {
    let (sm, tm) = test_pairs()[0];
    let (source, target) = clusters(sm, tm);
    source
        .sql(
            "app",
            "CREATE ROLE lo_source_only NOLOGIN;
             GRANT UPDATE ON LARGE OBJECT 50001 TO lo_source_only",
        )
        .unwrap();
    target.create_db("lo").unwrap();
    let (s, t) = (spec(&source, "app"), spec(&target, "lo"));
    let err = lobs::copy(&s, &t, None, &small(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("lo_source_only") && !m.contains("lo_reader")),
        "{err}"
    );
    let count = "SELECT count(*) FROM pg_largeobject_metadata";
    assert!(target.sql("lo", count).unwrap().contains("     0\n"));
    // Without privileges the role is not needed.
    let mut opts = small();
    opts.privileges = false;
    let r = lobs::copy(&s, &t, None, &opts, &|_| {}).await.unwrap();
    assert_eq!(r.objects, OBJECTS);
}

/// `lobs::sync` on a target holding an older copy: what the source created since is copied,
/// what it dropped (and an object only the target had) is removed, and what changed is copied
/// again: contents of another size, contents of the same size (only the hashes tell), a
/// comment, a GRANT. A second run finds nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_brings_an_older_copy_up_to_date_and_a_second_changes_nothing() {
    for (sm, tm) in test_pairs() {
        let (source, target) = clusters(sm, tm);
        target.create_db("lo").unwrap();
        let (s, t) = (spec(&source, "app"), spec(&target, "lo"));
        let r = lobs::sync(&s, &t, &small(), &|_| {}).await.unwrap();
        assert_eq!(
            (r.copied, r.removed, r.recopied, r.unchanged),
            (OBJECTS, 0, 0, 0),
            "{sm}->{tm}: {r:?}"
        );
        assert_eq!(
            target.sql("lo", STATE).unwrap(),
            source.sql("app", STATE).unwrap()
        );

        source
            .sql(
                "app",
                "SELECT lo_from_bytea(70001, 'created after');
                 SELECT lo_put(50003, 1000, 'changed in the middle');
                 SELECT lo_put(60010, 0, 'X');
                 SELECT lo_unlink(60001);
                 COMMENT ON LARGE OBJECT 60002 IS 'a new comment';
                 GRANT SELECT ON LARGE OBJECT 60003 TO lo_reader;",
            )
            .unwrap();
        target
            .sql("lo", "SELECT lo_from_bytea(99999, 'only here')")
            .unwrap();
        let want = source.sql("app", STATE).unwrap();
        assert_ne!(target.sql("lo", STATE).unwrap(), want);
        let r = lobs::sync(&s, &t, &small(), &|_| {}).await.unwrap();
        assert_eq!(
            (r.copied, r.removed, r.recopied, r.unchanged),
            (1, 2, 4, OBJECTS - 5),
            "{sm}->{tm}: {r:?}"
        );
        assert_eq!(target.sql("lo", STATE).unwrap(), want, "{sm}->{tm}");

        let r = lobs::sync(&s, &t, &small(), &|_| {}).await.unwrap();
        assert!(!r.changed(), "{sm}->{tm}: a second sync changed {r:?}");
        assert_eq!(r.unchanged, OBJECTS);
    }
}
