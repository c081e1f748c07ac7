//! `-o FILE`: the scripts pgmove writes, applied with `psql -f`, give the same database as
//! applying the steps directly.

use pgmove_core::plan::{self, Step};
use pgmove_core::{apply, catalog, conn};
use pgmove_testkit::Cluster;
use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_through_psql_equal_direct_apply() {
    let src = Cluster::start(15).unwrap();
    src.create_db("app").unwrap();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/every_object.sql");
    src.load_files("app", &[&fixture], &[]).unwrap();
    let cat = {
        let s = conn::connect_str(&src.conninfo("app")).await.unwrap();
        catalog::read(&s).await.unwrap()
    };
    src.create_db("direct").unwrap();
    src.create_db("scripted").unwrap();
    let direct = conn::connect_str(&src.conninfo("direct")).await.unwrap();
    let steps = [Step::Schema, Step::Sequences { margin: 0 }, Step::PostData];
    for (i, step) in steps.into_iter().enumerate() {
        if i == 1 {
            // The rows go in between schema and sequences, as in the runbook.
            src.copy_rows("app", &src, "direct").unwrap();
            src.copy_rows("app", &src, "scripted").unwrap();
        }
        let p = plan::plan(&cat, step, &Default::default());
        apply::apply_in_transaction(&direct, &p.items, |_, _, _| {})
            .await
            .unwrap();
        let mut script = Vec::new();
        apply::write_script(&mut script, "test", &p.items).unwrap();
        if step == Step::PostData {
            let text = String::from_utf8_lossy(&script);
            assert!(
                text.contains("REFRESH MATERIALIZED VIEW \"Odd Schema\".mood_summary;\n")
                    && !text.contains("never_filled;"),
                "post-data refreshes the populated matviews"
            );
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &script).unwrap();
        // psql stops at the first error (ON_ERROR_STOP=1): the script must run clean.
        src.psql("scripted", &["-f", file.path().to_str().unwrap()])
            .unwrap();
    }
    assert_eq!(
        src.pg_dump("scripted", &["--schema-only", "-O"]).unwrap(),
        src.pg_dump("direct", &["--schema-only", "-O"]).unwrap()
    );
    let matviews = "SELECT string_agg(format('%s=%s', matviewname, ispopulated), ' ' ORDER BY matviewname) FROM pg_matviews";
    assert_eq!(
        src.sql("scripted", matviews).unwrap(),
        src.sql("app", matviews).unwrap()
    );
    let seqs = "SELECT string_agg(sequencename || '=' || coalesce(last_value::text, '-'), ' ' ORDER BY sequencename) FROM pg_sequences";
    assert_eq!(
        src.sql("scripted", seqs).unwrap(),
        src.sql("direct", seqs).unwrap()
    );
}
