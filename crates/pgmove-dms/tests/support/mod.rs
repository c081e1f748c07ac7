//! Test support: a local DMS API (moto, see `moto_dms.py`) and fixtures shared by the tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// moto's DMS on 127.0.0.1, started by `moto_dms.py` and killed when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    /// Where the wrapper logs each call (operation, and a start's type).
    calls: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start() -> Moto {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_dms.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let calls = tempfile::NamedTempFile::new().expect("a call log file");
        let mut child = Command::new(&python)
            .arg(&script)
            .env("MOTO_CALL_LOG", calls.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {python} {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reading moto's port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "moto did not start (printed {line:?}); run \
                     crates/pgmove-dms/tests/support/install.sh"
                )
            });
        Moto { child, port, calls }
    }

    /// The calls that change something (not `Describe*`, `List*`), in order, since the last
    /// call of this function; a start shows its type (`StartReplicationTask resume-processing`).
    pub fn changes(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.calls.path()).unwrap();
        std::fs::write(self.calls.path(), "").unwrap();
        text.lines()
            .filter(|l| !l.starts_with("Describe") && !l.starts_with("List"))
            .map(str::to_string)
            .collect()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Point the process's AWS configuration at `endpoint` with dummy credentials, as users set
/// it (one test per binary: this is process-wide).
pub fn set_aws_env(endpoint: &str) {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_REGION", "eu-west-2"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // moto answers DescribeTableStatistics with a 500, which the SDK retries: keep it short.
        ("AWS_MAX_ATTEMPTS", "2"),
        ("AWS_CONFIG_FILE", "/nonexistent/pgmove-test/config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/pgmove-test/credentials",
        ),
        ("AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE", endpoint),
    ] {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_ENDPOINT_URL");
}

/// The corpus folder (`../shared/corpus` from the repository root).
pub fn corpus() -> PathBuf {
    pgmove_testkit::corpus_dir()
}

/// A config file for `dir`, whose `plan/` holds a plan; polls fast for tests.
pub fn write_config(dir: &Path) -> PathBuf {
    let text = r#"
plan_dir = "plan"
wait_timeout_secs = 30
poll_interval_secs = 0.05

[aws]
region = "eu-west-2"

[tags]
Owner = "test-team"

[subnet_group]
id = "test-sg"
subnet_ids = ["subnet-1", "subnet-2"]

[instance]
id = "test-dms"
class = "dms.t3.micro"
allocated_storage = 20

[source]
id = "test-src"
server = "127.0.0.1"
port = 5432
database = "app"
username = "dms"
password = "secret"
ssl_mode = "none"

[target]
id = "test-dst"
database = "app"
secrets_manager_secret_id = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:app-AbCdEf"
secrets_manager_access_role_arn = "arn:aws:iam::123456789012:role/dms-secrets"
ssl_mode = "require"

[task]
id = "test-task"
"#;
    let path = dir.join("dms.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Write a small plan (two tables, one with a LOB) into `dir/plan`.
pub fn write_small_plan(dir: &Path) {
    use pgmove_dms::plan::*;
    let t = |name: &str| PlanTable {
        schema: "public".into(),
        name: name.into(),
        kind: TableKind::Regular,
        parent: None,
        has_primary_key: true,
        has_unique_key: false,
        replica_identity: "d".into(),
        unlogged: false,
        estimated_rows: 10,
        lob_columns: vec![],
        generated_columns: vec![],
        identity_always_columns: vec![],
        odd_columns: vec![],
    };
    let mut notes = t("notes");
    notes.lob_columns.push(LobColumn {
        name: "body".into(),
        type_name: "text".into(),
        kind: LobKind::Nclob,
        max_bytes: Some(70_000),
    });
    let input = PlanInput {
        database: "app".into(),
        tables: vec![t("accounts"), notes],
        settings: SourceSettings::default(),
    };
    plan_and_write(&input, &dir.join("plan"), &PlanOptions::default()).unwrap();
}
