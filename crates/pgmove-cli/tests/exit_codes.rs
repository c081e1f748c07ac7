//! What scripts rely on: exit 0 on success, 2 on bad arguments, 1 with one clear line on
//! failure, and never a password in the output.

use pgmove_testkit::Cluster;
use std::process::{Command, Output};

fn pgmove(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgmove"))
        .args(args)
        .env_remove("PGMOVE_SOURCE")
        .env_remove("PGMOVE_TARGET")
        .output()
        .expect("run pgmove")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_arguments_exit_2() {
    let o = pgmove(&["schema"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = pgmove(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn failures_exit_1_with_one_line_and_no_password() {
    for (args, expect) in [
        (
            vec![
                "schema",
                "--source",
                "host=localhost bogus=1 password=s3cretPW",
            ],
            "invalid connection option",
        ),
        (
            vec!["schema", "--source", "postgres://u:s3cretPW@127.0.0.1:1/db"],
            "could not connect",
        ),
        (
            vec!["sequences", "--source", "dbname=x", "-t", "\"unclosed"],
            "unterminated double quote",
        ),
    ] {
        let o = pgmove(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err}"
        );
        assert!(
            err.starts_with("pgmove: error: ") && err.contains(expect),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("s3cretPW") && !String::from_utf8_lossy(&o.stdout).contains("s3cretPW")
        );
    }
}

#[test]
fn help_teaches() {
    for sub in ["schema", "sequences", "post-data", "data"] {
        let o = pgmove(&[sub, "--help"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            out.contains("EXAMPLES:") && out.contains("CONNECTIONS") || out.contains("EXAMPLES:"),
            "{out}"
        );
    }
    let top = String::from_utf8_lossy(&pgmove(&["--help"]).stdout).into_owned();
    assert!(
        top.contains("PGPASSWORD") && top.contains("sslmode") && top.contains("EXIT STATUS"),
        "{top}"
    );
}

#[test]
fn writes_sql_and_wrong_password_is_one_line() {
    let c = Cluster::builder(15).password("s3cretPW").start().unwrap();
    c.create_db("app").unwrap();
    c.sql("app", "CREATE TABLE t (id serial PRIMARY KEY)")
        .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    let o = pgmove(&["schema", "-q", "--source", &c.conninfo("app"), "-o", path]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let sql = std::fs::read_to_string(path).unwrap();
    assert!(sql.contains("CREATE TABLE public.t"), "{sql}");
    assert!(!sql.contains("s3cretPW"));

    let wrong = c.conninfo("app").replace("s3cretPW", "nope-PW");
    let o = pgmove(&["schema", "--source", &wrong, "-o", path]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("password authentication failed") && !err.contains("nope-PW"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
