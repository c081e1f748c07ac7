//! `pgmove roles` as scripts use it: exit 0 with the LOGIN roles that need a password, 0 and
//! "nothing to do" the second time, 2 on bad arguments, 1 with one line on failure, and never a
//! password nor its hash in the output or the script.

use pgmove_testkit::Cluster;
use std::process::{Command, Output};

fn pgmove(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgmove"))
        .args(args)
        .env_remove("PGMOVE_SOURCE")
        .env_remove("PGMOVE_TARGET")
        .env_remove("PGPASSWORD")
        .output()
        .expect("run pgmove")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn roles_exit_codes_password_list_and_no_password() {
    let src = Cluster::start(15).unwrap();
    src.sql(
        "postgres",
        "CREATE ROLE app_login LOGIN PASSWORD 'SrcSecret-123';
         CREATE ROLE app_group;
         GRANT app_group TO app_login;
         CREATE ROLE rds_superuser;",
    )
    .unwrap();
    let hash = src
        .psql(
            "postgres",
            &[
                "-At",
                "-c",
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'app_login'",
            ],
        )
        .unwrap();
    let hash = hash.trim();
    assert!(hash.starts_with("SCRAM-SHA-256$"), "{hash}");
    let secret_free = |s: &str| {
        assert!(
            !s.contains("SrcSecret") && !s.contains(hash) && !s.contains("SCRAM-SHA-256$"),
            "{s}"
        )
    };
    let tgt = Cluster::start(15).unwrap();
    let (s, t) = (src.url("postgres"), tgt.url("postgres"));

    let o = pgmove(&["roles", "--source", &s, "--target", &t]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    secret_free(&text);
    assert!(
        text.contains("2 role(s) created (app_group, app_login)"),
        "{text}"
    );
    assert!(
        text.contains("1 LOGIN role(s) created without a password"),
        "{text}"
    );
    assert!(text.contains("-c '\\password app_login'"), "{text}");
    assert!(text.contains("role rds_superuser not created"), "{text}");
    assert_eq!(
        tgt.psql(
            "postgres",
            &["-At", "-c", "SELECT count(*) FROM pg_auth_members WHERE roleid = 'app_group'::regrole AND member = 'app_login'::regrole"]
        )
        .unwrap(),
        "1\n"
    );

    let o = pgmove(&["roles", "--source", &s, "--target", &t, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    secret_free(&out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["created"], serde_json::json!([]));
    assert_eq!(v["granted"], serde_json::json!([]));
    assert_eq!(v["skipped"], serde_json::json!(["rds_superuser"]));
    let o = pgmove(&["roles", "--source", &s, "--target", &t]);
    assert!(out(&o).contains("nothing to do"), "{}", out(&o));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roles.sql");
    let o = pgmove(&["roles", "--source", &s, "-o", file.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let script = std::fs::read_to_string(&file).unwrap();
    secret_free(&script);
    secret_free(&out(&o));
    assert!(
        script.contains("CREATE ROLE app_login WITH LOGIN"),
        "{script}"
    );

    for bad in [
        vec!["roles"],
        vec!["roles", "--source", &s, "--format", "xml"],
        vec!["roles", "--source", &s, "--bogus"],
    ] {
        assert_eq!(pgmove(&bad).status.code(), Some(2), "{bad:?}");
    }
    let o = pgmove(&[
        "roles",
        "--source",
        "postgres://u:s3cretPW@127.0.0.1:1/db",
        "--target",
        &t,
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("pgmove: error: could not connect") && !err.contains("s3cretPW"));

    let o = pgmove(&["roles", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        help.contains("EXAMPLES:") && help.contains("\\password"),
        "{help}"
    );
}
