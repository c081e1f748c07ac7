//! `pgmove data` as a user runs it: killed at several moments and run again, it finishes with
//! exactly the source's rows and leaves no state; a bad target is one line per problem and
//! exit 1. Rows are compared with hashes psql computes on each server.

use pgmove_testkit::{test_pairs, Cluster};
use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn pgmove(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pgmove"));
    c.args(args)
        .env_remove("PGMOVE_SOURCE")
        .env_remove("PGMOVE_TARGET");
    c
}

fn run(args: &[&str]) -> Output {
    pgmove(args).output().expect("run pgmove")
}

fn at(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, &["-At", "-F", "\t", "-c", sql])
        .unwrap()
        .trim()
        .to_string()
}

/// Per user table: `count(*)` and an order-free md5 of its rows' text, computed by the server.
fn row_hashes(c: &Cluster, db: &str) -> BTreeMap<String, String> {
    let tables = at(
        c,
        db,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname !~ '^pg_toast' AND n.nspname <> 'pgmove_data_state' ORDER BY 1",
    );
    let sql: Vec<String> = tables
        .lines()
        .map(|t| {
            format!(
                "SELECT '{}', count(*) || ' ' || coalesce(md5(string_agg(md5(t::text), ',' ORDER BY md5(t::text))), '-') FROM ONLY {t} t",
                t.replace('\'', "''")
            )
        })
        .collect();
    at(c, db, &sql.join(" UNION ALL "))
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

/// (done, all) tasks of the run's state, `None` before it exists.
fn state(c: &Cluster, db: &str) -> Option<(i64, i64)> {
    let out = c
        .psql(
            db,
            &[
                "-At",
                "-F",
                " ",
                "-c",
                "SELECT count(*) FILTER (WHERE done), count(*) FROM pgmove_data_state.task",
            ],
        )
        .ok()?;
    let mut it = out.split_whitespace().map(|v| v.parse::<i64>().unwrap());
    Some((it.next()?, it.next()?))
}

/// Whether a `COPY … FROM STDIN` of pgmove runs on the target.
fn copying(target: &Cluster) -> bool {
    at(
        target,
        "postgres",
        "SELECT count(*) FROM pg_stat_activity
         WHERE application_name = 'pgmove data' AND state = 'active' AND query LIKE 'COPY %'",
    ) != "0"
}

/// Each table on the target holds exactly the rows of its tasks marked done: no half table,
/// no half range.
fn check_whole_tasks(target: &Cluster, db: &str) {
    let done = at(
        target,
        db,
        "SELECT format('%I.%I', schema_name, table_name), sum(rows) FILTER (WHERE done)
         FROM pgmove_data_state.task GROUP BY 1 ORDER BY 1",
    );
    for line in done.lines() {
        // A table without a done task has no sum (and `at` trims the last line's tab).
        let (table, rows) = line.split_once('\t').unwrap_or((line, ""));
        let rows = if rows.is_empty() { "0" } else { rows };
        let have = at(target, db, &format!("SELECT count(*) FROM ONLY {table}"));
        assert_eq!(have, rows, "{table}: rows on the target vs done tasks");
    }
}

const SOURCE: &str = "
CREATE TABLE public.big_a (id bigint PRIMARY KEY, payload text, n integer);
INSERT INTO public.big_a SELECT g, repeat(md5(g::text), 3), g % 1000 FROM generate_series(1, 400000) g;
CREATE TABLE public.big_b (id integer PRIMARY KEY, at timestamptz, payload text);
INSERT INTO public.big_b SELECT g, '2024-01-01'::timestamptz + g * interval '1 second', repeat(md5(g::text), 3)
FROM generate_series(1, 400000) g;
CREATE TABLE public.nokey (a text, b integer);
INSERT INTO public.nokey SELECT repeat(md5(g::text), 3), g FROM generate_series(1, 300000) g;
CREATE TABLE public.parts (id integer, k integer, v text) PARTITION BY RANGE (k);
CREATE TABLE public.parts_1 PARTITION OF public.parts FOR VALUES FROM (0) TO (50);
CREATE TABLE public.parts_2 PARTITION OF public.parts FOR VALUES FROM (50) TO (100);
INSERT INTO public.parts SELECT g, g % 100, repeat(md5(g::text), 2) FROM generate_series(1, 200000) g;
DO $$ BEGIN FOR i IN 1..40 LOOP
  EXECUTE format('CREATE TABLE public.small_%s (id integer PRIMARY KEY, v text)', i);
  EXECUTE format('INSERT INTO public.small_%s SELECT g, md5(g::text) FROM generate_series(1, 500 * %s) g', i, i);
END LOOP; END $$;
ANALYZE;
";

#[test]
fn killed_runs_resume_to_the_same_rows() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("src").unwrap();
    target.create_db("dst").unwrap();
    source.sql("src", SOURCE).unwrap();
    let (s, t) = (source.conninfo("src"), target.conninfo("dst"));
    let o = run(&["schema", "--source", &s, "--target", &t, "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let args = [
        "data",
        "--source",
        &s,
        "--target",
        &t,
        "--jobs",
        "2",
        "--split-bytes",
        "8000000",
        "-q",
    ];

    // Kill moments: tasks under way and none done (mid-table), then a third and two thirds
    // of the tasks done.
    let moments: [&dyn Fn(i64, i64) -> bool; 3] = [
        &|done, _| done == 0,
        &|done, all| done * 3 >= all,
        &|done, all| done * 3 >= all * 2,
    ];
    let mut kills = Vec::new();
    for (m, when) in moments.iter().enumerate() {
        let mut child = pgmove(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("moment {m}: the run ended ({status}) before it could be killed");
            }
            if let Some((done, all)) = state(&target, "dst") {
                // The first moment: COPY is streaming into the target.
                let settled = m > 0 || copying(&target);
                if settled && when(done, all) {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    kills.push((done, all));
                    break;
                }
            }
            assert!(Instant::now() < deadline, "moment {m} never came");
            std::thread::sleep(Duration::from_millis(20));
        }
        check_whole_tasks(&target, "dst");
    }
    eprintln!("killed at (done, all tasks): {kills:?}");
    assert!(
        kills[0].0 < kills[2].0 && kills[2].0 < kills[2].1,
        "{kills:?}"
    );

    let o = run(&[&args[..], &["--format", "json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["tasks_resumed"].as_u64().unwrap() >= kills[2].0 as u64);
    assert_eq!(report["tasks"].as_u64().unwrap(), kills[2].1 as u64);
    assert_eq!(row_hashes(&source, "src"), row_hashes(&target, "dst"));
    assert_eq!(
        at(
            &target,
            "dst",
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmove_data_state'"
        ),
        "0"
    );
    // A second run finds tables full and copies nothing.
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn problems_are_one_line_each_and_exit_1() {
    let (sm, tm) = test_pairs()[0];
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("src").unwrap();
    target.create_db("dst").unwrap();
    source
        .sql(
            "src",
            "CREATE TABLE public.a (id integer); CREATE TABLE public.b (id integer);
             INSERT INTO public.a VALUES (1); INSERT INTO public.b VALUES (2);",
        )
        .unwrap();
    target
        .sql(
            "dst",
            "CREATE TABLE public.a (id bigint); CREATE TABLE public.b (id integer);
             INSERT INTO public.b VALUES (7);",
        )
        .unwrap();
    let o = run(&[
        "data",
        "--source",
        &source.conninfo("src"),
        "--target",
        &target.conninfo("dst"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let mut lines: Vec<&str> = err.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "pgmove: error: cannot copy rows: public.a: column id is integer on the source but bigint on the target",
            "pgmove: error: cannot copy rows: target table public.b already holds rows",
        ]
    );
    assert_eq!(at(&target, "dst", "SELECT count(*) FROM public.a"), "0");
    assert_eq!(
        at(
            &target,
            "dst",
            "SELECT string_agg(id::text, ',') FROM public.b"
        ),
        "7"
    );

    let o = run(&["data", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && help.contains("EXAMPLES:") && help.contains("--snapshot"));
    let o = run(&["data", "--source", "dbname=x"]);
    assert_eq!(o.status.code(), Some(2));
}
