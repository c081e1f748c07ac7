//! `pgmove validate`'s exit status and output: 0 when the target matches, 1 with the difference
//! named (text and JSON), 2 when it cannot run.

use assert_cmd::Command;
use pgmove_testkit::Cluster;

fn pgmove() -> Command {
    let mut c = Command::cargo_bin("pgmove").unwrap();
    c.env_remove("PGMOVE_SOURCE").env_remove("PGMOVE_TARGET");
    c
}

#[test]
fn exit_status_is_0_equal_1_different_2_broken() {
    let c = Cluster::start(15).unwrap();
    c.create_db("src").unwrap();
    c.sql(
        "src",
        "CREATE TABLE public.item (id bigint PRIMARY KEY, name text, price numeric DEFAULT 1);
         CREATE TABLE public.note (body text);
         INSERT INTO public.item SELECT g, 'item ' || g, g / 3.0 FROM generate_series(1, 3000) g;
         INSERT INTO public.note SELECT 'note ' || g FROM generate_series(1, 100) g;",
    )
    .unwrap();
    // A template copy is a faithful one.
    c.sql("postgres", "CREATE DATABASE dst TEMPLATE src")
        .unwrap();
    let (src, dst) = (c.conninfo("src"), c.conninfo("dst"));

    let ok = pgmove()
        .args([
            "validate", "--source", &src, "--target", &dst, "--jobs", "2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(text.contains("the target matches the source"), "{text}");

    c.sql("dst", "DELETE FROM public.item WHERE id = 2999; ALTER TABLE public.item ALTER price SET DEFAULT 2")
        .unwrap();
    let differ = pgmove()
        .args([
            "validate",
            "--source",
            &src,
            "--target",
            &dst,
            "--chunk-rows",
            "1000",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&differ.stdout);
    assert_eq!(differ.status.code(), Some(1), "{text}");
    if std::env::var_os("PGMOVE_SHOW_REPORT").is_some() {
        eprintln!("{text}");
    }
    for want in [
        "table public.item",
        "DEFAULT 2",
        "id > '2000'::bigint",
        "DIFFERENCES FOUND",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }

    let json = pgmove()
        .args([
            "validate", "--source", &src, "--target", &dst, "--format", "json", "-t", "note",
        ])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(0), "-t note leaves item out");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["verdict"], "match");
    assert_eq!(v["tables"].as_array().unwrap().len(), 1);

    let json = pgmove()
        .args([
            "validate", "--source", &src, "--target", &dst, "--format", "json",
        ])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["verdict"], "differ");
    assert_eq!(v["tables"][0]["table"], "public.item");
    assert_eq!(v["tables"][0]["status"], "differ");

    let broken = pgmove()
        .args([
            "validate",
            "--source",
            &src,
            "--target",
            &c.conninfo("no_such_db"),
        ])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("could not run"));

    // A statement_timeout the queries cannot meet: validation cannot complete (whether the
    // catalog read or a checksum is cut short).
    c.create_db("big").unwrap();
    c.sql(
        "big",
        "CREATE TABLE public.big AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 300000) g",
    )
    .unwrap();
    let big = c.conninfo("big");
    let slow = pgmove()
        .args([
            "validate",
            "--source",
            &big,
            "--target",
            &big,
            "--statement-timeout",
            "1ms",
        ])
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&slow.stdout),
        String::from_utf8_lossy(&slow.stderr)
    );
    assert_eq!(slow.status.code(), Some(2), "{out}");
    assert!(out.contains("statement timeout"), "{out}");
}
