//! `pgmove dms …` end to end, through the built binary (only with `--features dms`):
//! `plan` against a throwaway cluster writes its four files and exits 0; an AWS call without
//! credentials exits 1 with one line.
#![cfg(feature = "dms")]

use pgmove_testkit::Cluster;
use serde_json::Value;
use std::process::{Command, Output};

fn pgmove(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgmove"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running pgmove")
}

#[test]
fn dms_plan_writes_the_plan_and_exits_0() {
    let c = Cluster::start(15).unwrap();
    c.create_db("app").unwrap();
    c.sql(
        "app",
        "create domain doc as jsonb;
         create table public.note (id int primary key, body text, meta doc,
                                   words int generated always as (length(body)) stored);
         create table public.log_line (at timestamptz, line text);
         create table public.sale (id int, day date not null, amount numeric(10,2),
                                   primary key (id, day)) partition by range (day);
         create table public.sale_2024 partition of public.sale
             for values from ('2024-01-01') to ('2025-01-01');
         create table public.sale_2025 partition of public.sale
             for values from ('2025-01-01') to ('2026-01-01');
         insert into public.note (id, body, meta)
             values (1, repeat('x', 5000), '{\"k\": \"v\"}');",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("plan");
    let o = pgmove(
        &[
            "dms",
            "plan",
            "--source",
            &c.conninfo("app"),
            "--out",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    for f in [
        "table-mappings.json",
        "task-settings.json",
        "preflight.txt",
        "preflight.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} not written; {stderr}");
    }
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let mappings = read("table-mappings.json");
    let selected: Vec<String> = mappings["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule-type"] == "selection")
        .map(|r| {
            r["object-locator"]["table-name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Leaf partitions, never their partitioned parent; `_` escaped for DMS.
    assert_eq!(
        selected,
        ["log[_]line", "note", "sale[_]2024", "sale[_]2025"],
        "{mappings}"
    );
    let removed: Vec<&Value> = mappings["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule-action"] == "remove-column")
        .collect();
    assert_eq!(removed.len(), 1, "{mappings}");
    assert_eq!(removed[0]["object-locator"]["column-name"], "words");
    let settings = read("task-settings.json");
    assert_eq!(
        settings["FullLoadSettings"]["TargetTablePrepMode"],
        "DO_NOTHING"
    );
    assert_eq!(settings["TargetMetadata"]["LimitedSizeLobMode"], true);
    // The preflight is printed: the keyless table, the LOBs with their sizes.
    assert!(stdout.contains("public.log_line"), "{stdout}");
    assert!(
        stdout.contains("public.note.body text max 4.9 KB"),
        "{stdout}"
    );
    assert!(
        stdout.contains("public.note.meta public.doc max "),
        "{stdout}"
    );
}

#[test]
fn aws_call_without_credentials_exits_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dms.toml");
    std::fs::write(
        &config,
        r#"
plan_dir = "plan"
[aws]
region = "eu-west-2"
max_attempts = 1
[instance]
id = "test-dms"
class = "dms.t3.micro"
[source]
id = "test-src"
server = "127.0.0.1"
database = "app"
username = "dms"
password = "secret"
[target]
id = "test-dst"
server = "127.0.0.1"
database = "app"
username = "dms"
password = "secret"
[task]
id = "test-task"
"#,
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgmove"));
    cmd.args([
        "dms",
        "status",
        "--config",
        config.to_str().unwrap(),
        // A closed loopback port: nothing leaves the machine, and no credentials means no
        // request is even sent.
        "--endpoint-url",
        "http://127.0.0.1:9",
    ]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    // Empty AWS config and credentials files (a missing one would add a warning line), no
    // instance metadata.
    let (aws_config, aws_credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&aws_config, "").unwrap();
    std::fs::write(&aws_credentials, "").unwrap();
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &aws_credentials)
        .env_remove("PGMOVE_LOG");
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("pgmove: error: ") && stderr.contains("no credentials found"),
        "{stderr}"
    );
}
