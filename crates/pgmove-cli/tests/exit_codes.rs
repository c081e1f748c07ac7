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

/// A post-data statement that fails with 42P16 (invalid table definition: here a second
/// primary key) fails the run: exit 1, the object named, not counted as already there.
#[test]
fn a_second_primary_key_fails_post_data() {
    let c = Cluster::start(15).unwrap();
    c.create_db("app").unwrap();
    c.sql("app", "CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL)")
        .unwrap();
    c.create_db("dst").unwrap();
    c.sql(
        "dst",
        "CREATE TABLE t (id int, a int CONSTRAINT other_pk PRIMARY KEY)",
    )
    .unwrap();
    let o = pgmove(&[
        "post-data",
        "-q",
        "--source",
        &c.conninfo("app"),
        "--target",
        &c.conninfo("dst"),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SQLSTATE 42P16") && err.contains("constraint t_pkey on public.t"),
        "{err}"
    );
}

/// `pgmove post-data` onto a target applies on `-j` connections and says what it did in one
/// line: exit 0, the counts, the connections.
#[test]
fn post_data_applies_and_says_what_it_did() {
    let c = Cluster::start(15).unwrap();
    c.create_db("app").unwrap();
    let tables = "CREATE TABLE t (id int, a int NOT NULL);
                  CREATE TABLE u (id int, t_id int);";
    c.sql("app", tables).unwrap();
    c.sql(
        "app",
        "ALTER TABLE t ADD PRIMARY KEY (id);
         ALTER TABLE u ADD FOREIGN KEY (t_id) REFERENCES t (id);
         CREATE INDEX t_a ON t (a);",
    )
    .unwrap();
    c.create_db("dst").unwrap();
    c.sql("dst", tables).unwrap();
    let o = pgmove(&[
        "post-data",
        "-j",
        "2",
        "--source",
        &c.conninfo("app"),
        "--target",
        &c.conninfo("dst"),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("pgmove: post-data on ")
            && err.contains(": 3 applied, 0 already there, 2 connections"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let keys =
        "SELECT count(*) FROM pg_constraint WHERE conrelid IN ('t'::regclass, 'u'::regclass)";
    assert_eq!(c.sql("dst", keys).unwrap(), c.sql("app", keys).unwrap());
}

/// `pgmove large-objects` copies, says what it did, and refuses a target with objects of its
/// own (exit 1, one line).
#[test]
fn large_objects_copy_and_refuse_a_foreign_target() {
    let c = Cluster::start(15).unwrap();
    c.create_db("app").unwrap();
    c.sql(
        "app",
        "SELECT lo_from_bytea(4242, 'x'); COMMENT ON LARGE OBJECT 4242 IS 'c'",
    )
    .unwrap();
    for db in ["dst", "other"] {
        c.create_db(db).unwrap();
    }
    c.sql("other", "SELECT lo_from_bytea(77, 'y')").unwrap();
    let run = |db: &str| {
        pgmove(&[
            "large-objects",
            "--source",
            &c.conninfo("app"),
            "--target",
            &c.conninfo(db),
        ])
    };
    let o = run("dst");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 copied (1 bytes), 0 already there"),
        "{}",
        stderr(&o)
    );
    let got = c
        .sql(
            "dst",
            "SELECT encode(lo_get(4242), 'escape'), obj_description(4242, 'pg_largeobject')",
        )
        .unwrap();
    assert!(got.contains(" x      | c"), "{got}");
    let o = run("other");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("pgmove: error: ") && err.contains("(OID 77)"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
