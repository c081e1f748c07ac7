//! The CDC latency probe and the preflight's slot and sender counts against a real logical
//! replication connection (pg_recvlogical standing in for DMS).
use pgmove_dms::lifecycle::{LatencyProbe, SourceReplicationLag, TaskStatus};
use pgmove_dms::plan::Filters;
use pgmove_testkit::Cluster;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dummy_status() -> TaskStatus {
    TaskStatus {
        id: "t".into(),
        arn: "a".into(),
        status: "running".into(),
        stop_reason: None,
        last_failure_message: None,
        full_load_percent: 100,
        tables_loaded: 1,
        tables_loading: 0,
        tables_queued: 0,
        tables_errored: 0,
        elapsed_ms: 0,
        full_load_finished: true,
        ever_started: true,
        tables: vec![],
        tables_note: None,
    }
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn source_lag_probe_sees_an_active_logical_slot() {
    let c = Cluster::builder(15)
        .setting("wal_level", "logical")
        .start()
        .unwrap();
    c.sql(
        "postgres",
        "select pg_create_logical_replication_slot('pgmove_dms_test', 'test_decoding')",
    )
    .unwrap();
    let probe = SourceReplicationLag {
        conninfo: c.conninfo("postgres"),
        slot_name: Some("pgmove_dms_test".into()),
    };
    let st = dummy_status();
    // The slot exists but nobody streams from it: no latency to tell.
    assert_eq!(probe.latency(&st).await.unwrap(), None);

    let _recv = Kill(
        Command::new(
            pgmove_testkit::client_bin_dir()
                .unwrap()
                .join("pg_recvlogical"),
        )
        .args(["-d", &c.conninfo("postgres")])
        .args([
            "--slot",
            "pgmove_dms_test",
            "--start",
            "-f",
            "/dev/null",
            "-s",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    c.sql(
        "postgres",
        "create table t (id int primary key); insert into t values (1)",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let lag = loop {
        if let Some(l) = probe.latency(&st).await.unwrap() {
            break l;
        }
        assert!(Instant::now() < deadline, "the slot never became active");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(lag < Duration::from_secs(10), "{lag:?}");

    // The preflight counts the slot and the sender.
    let client = pgmove_dms::source::connect(&c.conninfo("postgres"))
        .await
        .unwrap();
    let input = pgmove_dms::source::read(&client, &Filters::default())
        .await
        .unwrap();
    assert_eq!(input.settings.replication_slots_used, 1);
    assert_eq!(input.settings.wal_senders_used, 1);
    assert_eq!(input.settings.wal_level, "logical");
}
