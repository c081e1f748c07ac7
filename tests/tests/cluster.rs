//! Throwaway clusters of every major in `PGMOVE_TEST_PAIRS` (sources and targets) start and serve
//! queries: from a root test process (the server then runs as `nobody`), and from a normal user's.

use pgmove_testkit::{cache_dir, majors_of, running_as_root, test_pairs, Cluster, Major, NOBODY};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Start a cluster of `major` and require it to answer a query, reporting its own major.
fn assert_answers(major: Major) {
    let c = Cluster::start(major).unwrap_or_else(|e| panic!("start PostgreSQL {major}: {e:#}"));
    let out = c
        .psql(
            "postgres",
            &[
                "-At",
                "-c",
                "SELECT current_setting('server_version_num'), 40 + 2",
            ],
        )
        .unwrap_or_else(|e| panic!("query PostgreSQL {major}: {e:#}\n{}", c.log()));
    let (num, answer) = out.trim().split_once('|').expect("two columns");
    let num: u32 = num.parse().expect("server_version_num");
    assert_eq!(
        (Major::of_version_num(num), answer),
        (major, "42"),
        "PostgreSQL {major}"
    );
}

#[test]
fn clusters_of_each_tested_major_start_and_answer() {
    for major in majors_of(&test_pairs()) {
        assert_answers(major);
    }
}

/// The line [`nonroot_child`] prints per major; the parent requires one for each.
fn answered(major: Major) -> String {
    format!("non-root: PostgreSQL {major} answered")
}

#[test]
fn clusters_start_for_a_normal_user() {
    let majors = majors_of(&test_pairs());
    if !running_as_root() {
        for major in majors {
            assert_answers(major);
        }
        return;
    }
    // Re-run this test binary as `nobody` with only `nonroot_child` selected. The binary is copied
    // into a directory nobody owns, since the checkout may sit where nobody cannot reach.
    let home = tempfile::Builder::new()
        .prefix("pgmove-nonroot-")
        .tempdir()
        .unwrap();
    std::os::unix::fs::chown(home.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let exe = home.path().join("cluster-tests");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args([
        "--exact",
        "nonroot_child",
        "--include-ignored",
        "--nocapture",
    ])
    .uid(NOBODY)
    .gid(NOBODY)
    .current_dir(home.path())
    .env("HOME", home.path())
    .env("TMPDIR", home.path())
    // Root's cache: as nobody, the testkit would otherwise look in nobody's home.
    .env("PGMOVE_PG_CACHE", cache_dir());
    // A parallel test forking while the copy's fd was open leaves that fd in its child until the
    // child execs: the kernel refuses to run the copy meanwhile (ETXTBSY). It passes quickly.
    let mut tries = 0;
    let out = loop {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other.expect("run the test binary as nobody"),
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "as nobody: {}\n{stdout}{stderr}",
        out.status
    );
    for major in majors {
        assert!(
            stdout.contains(&answered(major)),
            "no answer from PostgreSQL {major} as nobody:\n{stdout}{stderr}"
        );
    }
}

/// The non-root half of [`clusters_start_for_a_normal_user`], which runs it as `nobody`.
#[test]
#[ignore = "run by clusters_start_for_a_normal_user as a non-root user"]
fn nonroot_child() {
    if running_as_root() {
        eprintln!("nonroot_child: skipped as root; clusters_start_for_a_normal_user runs it");
        return;
    }
    for major in majors_of(&test_pairs()) {
        assert_answers(major);
        println!("{}", answered(major));
    }
}
