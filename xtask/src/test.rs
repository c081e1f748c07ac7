//! `cargo xtask test`: the one command that runs every check on a fresh machine, in the order
//! that fails fastest: formatting, clippy, fetching the PostgreSQL binaries the tests need, the
//! workspace tests on the default pairs, the end-to-end tests again on cross-major pairs, then
//! the DMS crate's tests (with `pgmove dms` in the CLI).
//!
//! The AWS SDK (pulled by `pgmove-dms`, and by `pgmove-cli` with its `dms` feature) is the
//! slowest thing to build, so it is built once per kind: clippy checks the whole workspace with
//! the `dms` feature in one invocation, and the DMS tests build it once more in one invocation
//! for both packages (one feature set, so dev-dependency features do not split it in two).
//!
//! Environment:
//! - `PGMOVE_TEST_PAIRS`: pairs of the workspace run (unset: the testkit's default, `15:15`).
//! - `PGMOVE_CROSS_PAIRS`: pairs of the second, end-to-end-only run (default
//!   [`DEFAULT_CROSS_PAIRS`]; empty skips it).
//! - `PGMOVE_SKIP_DMS=1`: leave the DMS crate out of clippy and the tests (a quick local run;
//!   CI never sets it).
//!
//! cargo's own output passes through untouched, so CI can parse its `test result:` lines.

use crate::{pg_fetch, sh};
use anyhow::{Context, Result};
use pgmove_testkit::{majors_of, parse_pairs, Major, DEFAULT_TEST_PAIRS};
use std::time::Instant;

/// Source→target pairs of the second end-to-end run: the oldest sources (9.4, the oldest pgmove
/// reads, and 10, the first with pg_sequence, partitioning's start) into Debian's 15, and the
/// newest source and target.
const DEFAULT_CROSS_PAIRS: &str = "9.4:15,9.6:18,10:15,15:18,18:18";
/// Fetched even when no pair names them, so the oldest and newest majors are always at hand
/// (validate.rs copies from 9.4, 9.6 and 10 into 15 whatever the pairs).
const ALWAYS_FETCHED: &[Major] = &[Major::V9_4, Major::V9_6, Major::new(10), Major::new(18)];
/// The crate that pulls the AWS SDK: a workspace member, built and tested on its own.
const DMS_PACKAGE: &str = "pgmove-dms";
/// The CLI feature that compiles `pgmove dms`.
const CLI_DMS_FEATURE: &str = "pgmove-cli/dms";
/// The regression-database round trip (`tests/tests/regress.rs`), run once per `cargo xtask test`.
const REGRESS_TEST: &str = "pg_own_test_objects_round_trip_as_pg_dump";
/// The end-to-end test package (`tests/`).
const E2E_PACKAGE: &str = "pgmove-e2e";

pub fn run() -> Result<()> {
    let test_pairs_spec =
        std::env::var("PGMOVE_TEST_PAIRS").unwrap_or_else(|_| DEFAULT_TEST_PAIRS.into());
    let cross_spec =
        std::env::var("PGMOVE_CROSS_PAIRS").unwrap_or_else(|_| DEFAULT_CROSS_PAIRS.into());
    let test_pairs = parse_pairs(&test_pairs_spec).context("PGMOVE_TEST_PAIRS")?;
    let cross_pairs = if cross_spec.trim().is_empty() {
        vec![]
    } else {
        parse_pairs(&cross_spec).context("PGMOVE_CROSS_PAIRS")?
    };
    let packages = workspace_selection()?;
    let with_dms = std::env::var("PGMOVE_SKIP_DMS").map_or(true, |v| v.is_empty() || v == "0");

    let mut timings = Timings::default();
    timings.step("cargo fmt --check", || {
        sh::run(sh::cargo().args(["fmt", "--all", "--check"]))
    })?;
    timings.step("cargo clippy", || {
        // One invocation for everything, the DMS crate and `pgmove dms` included: the AWS SDK
        // is checked once, with one feature set.
        let mut cmd = sh::cargo();
        cmd.arg("clippy");
        if with_dms {
            cmd.args(["--workspace", "--features", CLI_DMS_FEATURE]);
        } else {
            cmd.args(&packages);
        }
        sh::run(cmd.args(["--all-targets", "--", "-D", "warnings"]))
    })?;
    timings.step("pg fetch", || {
        let all_pairs: Vec<_> = test_pairs.iter().chain(&cross_pairs).copied().collect();
        let majors = majors_of(&all_pairs)
            .into_iter()
            .chain(ALWAYS_FETCHED.iter().copied());
        let mut items = pg_fetch::servers_to_fetch(majors);
        items.push(pg_fetch::Item::Tools);
        pg_fetch::fetch(&items)
    })?;
    timings.step(&format!("cargo test, pairs {test_pairs_spec}"), || {
        sh::run(
            sh::cargo()
                .arg("test")
                .args(&packages)
                .env("PGMOVE_TEST_PAIRS", &test_pairs_spec)
                // The regression round trip runs once, in the cross run below (its own
                // pairs, PGMOVE_REGRESS_PAIRS): it takes minutes.
                .args(["--", "--skip", REGRESS_TEST]),
        )
    })?;
    if cross_pairs.is_empty() {
        eprintln!("PGMOVE_CROSS_PAIRS is empty: no cross-major run");
    } else {
        timings.step(
            &format!("cargo test -p {E2E_PACKAGE}, pairs {cross_spec}"),
            || {
                sh::run(
                    sh::cargo()
                        .args(["test", "-p", E2E_PACKAGE])
                        .env("PGMOVE_TEST_PAIRS", &cross_spec),
                )
            },
        )?;
    }
    if with_dms {
        timings.step("DMS tests", dms_tests)?;
    } else {
        eprintln!("PGMOVE_SKIP_DMS is set: no DMS tests");
    }
    timings.report();
    Ok(())
}

/// The DMS crate's tests and the `pgmove dms` CLI test. `pgmove-dms` pulls the AWS SDK, which
/// takes minutes to build, so it is kept out of the workspace run above (see
/// [`workspace_selection`]) and built here once, for both packages in one invocation. First
/// installs what the tests need: moto's server, pinned (`tests/support/install.sh`; python3 and
/// pip come from `.ci/run`).
fn dms_tests() -> Result<()> {
    let install = sh::repo_root().join("crates/pgmove-dms/tests/support/install.sh");
    sh::run(std::process::Command::new("bash").arg(&install))?;
    sh::run(sh::cargo().args([
        "test",
        "-p",
        DMS_PACKAGE,
        "-p",
        "pgmove-cli",
        "--features",
        CLI_DMS_FEATURE,
    ]))
}

/// `--workspace`, minus the DMS crate when it is a member (cargo warns about excluding a package
/// that does not exist, so only exclude it when it does).
fn workspace_selection() -> Result<Vec<String>> {
    let out = sh::output(sh::cargo().args(["metadata", "--no-deps", "--format-version", "1"]))?;
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let has_dms = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == DMS_PACKAGE);
    let mut args = vec!["--workspace".to_string()];
    if has_dms {
        args.extend(["--exclude".to_string(), DMS_PACKAGE.to_string()]);
    }
    Ok(args)
}

/// Wall-clock time of each step, printed at the end (and as far as it got on failure).
#[derive(Default)]
struct Timings {
    done: Vec<(String, f64)>,
    started: Option<Instant>,
}

impl Timings {
    fn step(&mut self, name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
        self.started.get_or_insert_with(Instant::now);
        eprintln!("\n==> {name}");
        let t = Instant::now();
        let result = f();
        self.done
            .push((name.to_string(), t.elapsed().as_secs_f64()));
        if result.is_err() {
            eprintln!("\n==> {name}: FAILED");
            self.report();
        }
        result.with_context(|| format!("step `{name}`"))
    }

    fn report(&self) {
        eprintln!("\n==> xtask test timings");
        for (name, secs) in &self.done {
            eprintln!("{secs:>8.1}s  {name}");
        }
        if let Some(t) = self.started {
            eprintln!("{:>8.1}s  total", t.elapsed().as_secs_f64());
        }
    }
}
