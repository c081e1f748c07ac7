//! `pgmove migrate --data dms` then `pgmove cutover --dms-config` through the built binary (only
//! with `--features dms`), against moto's DMS (`crates/pgmove-dms/tests/support/moto_dms.py`)
//! and real servers, pg_recvlogical holding a logical slot on the source as DMS's CDC does (the
//! latency both commands read). Rows are copied by the test, standing in for DMS.
#![cfg(feature = "dms")]

use pgmove_testkit::Cluster;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's DMS on a free loopback port; returns the process and its URL.
fn moto() -> (Kill, String) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pgmove-dms/tests/support/moto_dms.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_dms.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().strip_prefix("PORT ").map(str::to_string);
    let child = Kill(child);
    let port = port.unwrap_or_else(|| {
        panic!("moto did not start ({line:?}): run crates/pgmove-dms/tests/support/install.sh")
    });
    (child, format!("http://127.0.0.1:{port}"))
}

fn pgmove(args: &[&str], endpoint: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgmove"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("PGMOVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs([
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "eu-west-2"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("AWS_CONFIG_FILE", "/nonexistent/pgmove-test/config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/pgmove-test/credentials",
        ),
        ("AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE", endpoint),
    ]);
    cmd.output().expect("running pgmove")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

const CONFIG: &str = r#"
plan_dir = "plan"
wait_timeout_secs = 30
poll_interval_secs = 0.05
[subnet_group]
id = "test-sg"
subnet_ids = ["subnet-1", "subnet-2"]
[instance]
id = "test-dms"
class = "dms.t3.micro"
[source]
id = "test-src"
server = "127.0.0.1"
database = "app"
username = "dms"
password = "secret"
ssl_mode = "none"
[target]
id = "test-dst"
server = "127.0.0.1"
database = "app"
username = "dms"
password = "secret"
ssl_mode = "none"
[task]
id = "test-task"
"#;

#[test]
fn migrate_data_dms_then_cutover_through_the_binary() {
    let (_moto, endpoint) = moto();
    let source = Cluster::builder(15)
        .setting("wal_level", "logical")
        .start()
        .unwrap();
    let target = Cluster::start(15).unwrap();
    source.create_db("app").unwrap();
    target.create_db("app").unwrap();
    source
        .sql(
            "app",
            "create table item (id serial primary key, name text not null);
             insert into item (name) select 'i' || g from generate_series(1, 30) g;",
        )
        .unwrap();
    source
        .sql(
            "app",
            "select pg_create_logical_replication_slot('dms_stand_in', 'test_decoding')",
        )
        .unwrap();
    let _cdc = Kill(
        Command::new(
            pgmove_testkit::client_bin_dir()
                .unwrap()
                .join("pg_recvlogical"),
        )
        .args(["-d", &source.conninfo("app"), "--slot", "dms_stand_in"])
        .args(["--start", "-f", "/dev/null", "-s", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dms.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let (s, t, cfg) = (
        source.url("app"),
        target.url("app"),
        config.display().to_string(),
    );

    // Without the config file: a usage error.
    let o = pgmove(
        &["migrate", "--source", &s, "--target", &t, "--data", "dms"],
        &endpoint,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dms-config"));

    // The slot must be streaming before the latency can be read.
    let deadline = Instant::now() + Duration::from_secs(20);
    while source
        .psql(
            "app",
            &[
                "-At",
                "-c",
                "select count(*) from pg_replication_slots where active",
            ],
        )
        .unwrap()
        .trim()
        != "1"
    {
        assert!(Instant::now() < deadline, "pg_recvlogical never streamed");
        std::thread::sleep(Duration::from_millis(100));
    }

    let args = [
        "migrate",
        "--source",
        &s,
        "--target",
        &t,
        "--data",
        "dms",
        "--dms-config",
        &cfg,
        "-j",
        "2",
        "--format",
        "json",
    ];
    let o = pgmove(&args, &endpoint);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = json(&o);
    let steps: Vec<String> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["step"].as_str().unwrap(),
                s["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "plan done",
            "schema done",
            "apply done",
            "start done",
            "full-load done",
            "post-data done",
            "resume done",
            "cdc done"
        ],
        "{}",
        text(&o)
    );
    assert_eq!(r["task"]["status"], "running");
    assert!(r["cdc_latency_seconds"].as_f64().is_some(), "{}", text(&o));
    assert_eq!(r["post_data"]["replicating"], true);

    // Again, as text: every step found done.
    let o = pgmove(&args[..11], &endpoint);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        out.lines()
            .skip(1)
            .take(7)
            .all(|l| l.contains("already done by an earlier run")),
        "{out}"
    );
    assert!(out.contains("Result: replicating with DMS"), "{out}");

    // DMS's rows, then cutover once writes stopped.
    source.copy_rows("app", &target, "app").unwrap();
    let cut = [
        "cutover",
        "--source",
        &s,
        "--target",
        &t,
        "--dms-config",
        &cfg,
        "--margin",
        "10",
        "--max-latency",
        "30s",
        "--destroy",
        "--format",
        "json",
    ];
    let o = pgmove(&cut, &endpoint);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let c = json(&o);
    assert_eq!(c["stopped_task"], true);
    assert_eq!(c["sequences_set"].as_array().unwrap().len(), 1);
    assert_eq!(c["destroyed"].as_array().unwrap().len(), 5, "{c}");
    assert_eq!(
        target
            .psql("app", &["-At", "-c", "select last_value from item_id_seq"])
            .unwrap()
            .trim(),
        "40"
    );

    let o = pgmove(&cut, &endpoint);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["already_done"], true);
}
