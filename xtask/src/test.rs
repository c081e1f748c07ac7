//! `cargo xtask test`: the one command that runs every check on a fresh machine, in the order
//! that fails fastest: formatting, clippy, fetching the PostgreSQL binaries the tests need,
//! building the tests, then side by side the workspace tests on the default pairs and the
//! end-to-end tests again on cross-major pairs, and last the DMS crate's tests (with
//! `pgmove dms` in the CLI).
//!
//! The AWS SDK (pulled by `pgmove-dms`, and by `pgmove-cli` with its `dms` feature) is the
//! slowest thing to build, so it is built once per kind: clippy checks the whole workspace with
//! the `dms` feature in one invocation, and the DMS tests build it once more in one invocation
//! for both packages (one feature set, so dev-dependency features do not split it in two).
//!
//! Environment:
//! - `PGMOVE_TEST_PAIRS`: pairs of the workspace run (unset: [`DEFAULT_WORKSPACE_PAIRS`], or
//!   the testkit's default, `15:15`, when the cross run is skipped).
//! - `PGMOVE_CROSS_PAIRS`: pairs of the second, end-to-end-only run (default
//!   [`DEFAULT_CROSS_PAIRS`]; empty skips it).
//! - `PGMOVE_SKIP_DMS=1`: leave the DMS crate out of clippy and the tests (a quick local run;
//!   CI never sets it).
//!
//! cargo's own output passes through untouched (the side-by-side runs' logs are printed whole),
//! so CI can parse its `test result:` lines.

use crate::{pg_fetch, sh};
use anyhow::{bail, Context, Result};
use pgmove_testkit::{majors_of, parse_pairs, Major, DEFAULT_TEST_PAIRS};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Source→target pairs of the second end-to-end run: the oldest sources (9.4, the oldest pgmove
/// reads, and 10, the first with pg_sequence, partitioning's start) into Debian's 15, and 15
/// into the newest target.
const DEFAULT_CROSS_PAIRS: &str = "9.4:15,9.6:18,10:15,15:18";
/// Pairs of the workspace run beside a cross run: Debian's 15, and the newest source and
/// target, carried here rather than in the cross run so that the two side-by-side runs take
/// about as long.
const DEFAULT_WORKSPACE_PAIRS: &str = "15:15,18:18";
/// Fetched even when no pair names them, so the oldest and newest majors are always at hand
/// (validate.rs copies from 9.4, 9.6 and 10 into 15 whatever the pairs).
const ALWAYS_FETCHED: &[Major] = &[Major::V9_4, Major::V9_6, Major::new(10), Major::new(18)];
/// The crate that pulls the AWS SDK: a workspace member, built and tested on its own.
const DMS_PACKAGE: &str = "pgmove-dms";
/// The CLI feature that compiles `pgmove dms`.
const CLI_DMS_FEATURE: &str = "pgmove-cli/dms";
/// The CLI package.
const CLI_PACKAGE: &str = "pgmove-cli";
/// The regression-database round trip (`tests/tests/regress.rs`): it takes minutes per pair,
/// so each run does it on pairs of its own, 18:18 in the cross run and 15:18 (a source without
/// 18's NOT NULL constraints) in the workspace run. `PGMOVE_REGRESS_PAIRS` set by the caller
/// replaces both: the cross run uses it and the workspace run skips the test.
const REGRESS_TEST: &str = "pg_own_test_objects_round_trip_as_pg_dump";
const REGRESS_PAIRS_CROSS: &str = "18:18";
const REGRESS_PAIRS_WORKSPACE: &str = "15:18";
/// The end-to-end test package (`tests/`).
const E2E_PACKAGE: &str = "pgmove-e2e";

pub fn run() -> Result<()> {
    let cross_spec =
        std::env::var("PGMOVE_CROSS_PAIRS").unwrap_or_else(|_| DEFAULT_CROSS_PAIRS.into());
    let test_pairs_spec = std::env::var("PGMOVE_TEST_PAIRS").unwrap_or_else(|_| {
        if cross_spec.trim().is_empty() {
            DEFAULT_TEST_PAIRS.into()
        } else {
            DEFAULT_WORKSPACE_PAIRS.into()
        }
    });
    let test_pairs = parse_pairs(&test_pairs_spec).context("PGMOVE_TEST_PAIRS")?;
    let cross_pairs = if cross_spec.trim().is_empty() {
        vec![]
    } else {
        parse_pairs(&cross_spec).context("PGMOVE_CROSS_PAIRS")?
    };
    let meta = Metadata::read()?;
    let packages = meta.workspace_selection();
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

    // The test commands. The cross run selects the end-to-end package's test targets within
    // the workspace selection, so it reuses the workspace build (`-p pgmove-e2e` alone would
    // resolve features differently and build most dependencies again).
    //
    // Both runs use one copy of the `pgmove` binary (PGMOVE_BIN, read by the end-to-end tests
    // that run it): `target/debug/pgmove` is replaced whenever cargo builds the CLI with other
    // features (the DMS build, or a test building it), and must not change under a running
    // test.
    let bin_copy = sh::repo_root().join("target/xtask-test/pgmove");
    let regress_pairs = std::env::var("PGMOVE_REGRESS_PAIRS").ok();
    let workspace_run = {
        let mut c = sh::cargo();
        c.arg("test")
            .args(&packages)
            .env("PGMOVE_TEST_PAIRS", &test_pairs_spec)
            .env("PGMOVE_BIN", &bin_copy);
        match (&regress_pairs, cross_pairs.is_empty()) {
            (None, false) => {
                c.env("PGMOVE_REGRESS_PAIRS", REGRESS_PAIRS_WORKSPACE);
            }
            _ => {
                c.args(["--", "--skip", REGRESS_TEST]);
            }
        }
        c
    };
    let cross_run = (!cross_pairs.is_empty()).then(|| {
        let mut c = sh::cargo();
        c.arg("test").args(&packages);
        for t in &meta.e2e_tests {
            c.args(["--test", t]);
        }
        c.env("PGMOVE_TEST_PAIRS", &cross_spec)
            .env("PGMOVE_BIN", &bin_copy)
            .env(
                "PGMOVE_REGRESS_PAIRS",
                regress_pairs.as_deref().unwrap_or(REGRESS_PAIRS_CROSS),
            );
        c
    });
    let mut dms_run = with_dms.then(|| {
        let mut c = sh::cargo();
        c.arg("test").args(meta.dms_selection());
        c
    });

    timings.step("build the tests", || {
        let no_run = |cmd: &Command| {
            let mut c = sh::cargo();
            c.args(cmd.get_args().take_while(|a| *a != "--"))
                .arg("--no-run");
            c
        };
        sh::run(&mut no_run(&workspace_run))?;
        let built = sh::repo_root().join("target/debug/pgmove");
        std::fs::create_dir_all(bin_copy.parent().expect("has a parent"))?;
        std::fs::copy(&built, &bin_copy)
            .with_context(|| format!("copying {} to {}", built.display(), bin_copy.display()))?;
        if let Some(dms) = &dms_run {
            // moto's server, pinned (python3 and pip come from `.ci/run`).
            let install = sh::repo_root().join("crates/pgmove-dms/tests/support/install.sh");
            sh::run(Command::new("bash").arg(&install))?;
            sh::run(&mut no_run(dms))?;
        }
        Ok(())
    })?;

    // The runs spend most of their time waiting on servers, one test at a time per pair, so
    // the two side by side take little more than the longer one on two cores. (cargo holds
    // its build lock only while building, not while tests run.) Each writes to its own log,
    // printed whole (cargo's `test result:` lines intact) when it ends.
    let mut streams = vec![Stream {
        name: format!("cargo test, pairs {test_pairs_spec}"),
        command: workspace_run,
    }];
    match cross_run {
        Some(command) => streams.push(Stream {
            name: format!("cargo test (end-to-end tests), pairs {cross_spec}"),
            command,
        }),
        None => eprintln!("PGMOVE_CROSS_PAIRS is empty: no cross-major run"),
    }
    timings.parallel(streams)?;
    // Last and alone: it puts the DMS-featured `pgmove` at `target/debug/pgmove`, which its
    // CLI tests run.
    match &mut dms_run {
        Some(dms) => timings.step("DMS tests", || sh::run(dms))?,
        None => eprintln!("PGMOVE_SKIP_DMS is set: no DMS tests"),
    }
    timings.report();
    Ok(())
}

/// A test command run side by side with others, its output to a log file of its own.
struct Stream {
    name: String,
    command: Command,
}

impl Stream {
    /// Run the command with stdout and stderr in `log`; fail unless it exits 0.
    fn run(&mut self, log: &Path) -> Result<()> {
        use std::io::Write;
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let cmd = &mut self.command;
        writeln!(&file, "$ {}", sh::describe(cmd))?;
        let status = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file.try_clone()?)
            .status()
            .with_context(|| format!("could not start `{}`", sh::describe(cmd)))?;
        if !status.success() {
            bail!("`{}` failed ({status})", sh::describe(cmd));
        }
        Ok(())
    }
}

/// What the test run needs from `cargo metadata`.
struct Metadata {
    has_dms: bool,
    /// Test targets of the end-to-end package.
    e2e_tests: Vec<String>,
    /// Test targets of the DMS crate, and those of the CLI compiled only with its `dms` feature.
    dms_tests: Vec<String>,
}

impl Metadata {
    fn read() -> Result<Self> {
        let out = sh::output(sh::cargo().args(["metadata", "--no-deps", "--format-version", "1"]))?;
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
        let packages = meta["packages"].as_array().cloned().unwrap_or_default();
        let tests_of = |name: &str| -> Vec<(String, String)> {
            packages
                .iter()
                .filter(|p| p["name"] == name)
                .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "test"))
                })
                .map(|t| {
                    let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                    (s("name"), s("src_path"))
                })
                .collect()
        };
        let e2e_tests: Vec<String> = tests_of(E2E_PACKAGE).into_iter().map(|t| t.0).collect();
        if e2e_tests.is_empty() {
            bail!("cargo metadata lists no test targets in {E2E_PACKAGE}");
        }
        let mut dms_tests: Vec<String> = tests_of(DMS_PACKAGE).into_iter().map(|t| t.0).collect();
        for (name, src) in tests_of(CLI_PACKAGE) {
            let text = std::fs::read_to_string(&src).with_context(|| format!("reading {src}"))?;
            if text.contains(r#"#![cfg(feature = "dms")]"#) {
                dms_tests.push(name);
            }
        }
        Ok(Metadata {
            has_dms: packages.iter().any(|p| p["name"] == DMS_PACKAGE),
            e2e_tests,
            dms_tests,
        })
    }

    /// `--workspace`, minus the DMS crate when it is a member (cargo warns about excluding a
    /// package that does not exist, so only exclude it when it does).
    fn workspace_selection(&self) -> Vec<String> {
        let mut args = vec!["--workspace".to_string()];
        if self.has_dms {
            args.extend(["--exclude".to_string(), DMS_PACKAGE.to_string()]);
        }
        args
    }

    /// The DMS crate's tests and the CLI's `dms`-only tests, in one invocation with the CLI's
    /// `dms` feature (one feature set, so the AWS SDK is built once). The CLI's other tests ran
    /// in the workspace run already; they are not run again here.
    fn dms_selection(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "-p",
            DMS_PACKAGE,
            "-p",
            CLI_PACKAGE,
            "--features",
            CLI_DMS_FEATURE,
            "--lib",
            "--bins",
        ]
        .map(String::from)
        .to_vec();
        for t in &self.dms_tests {
            args.extend(["--test".to_string(), t.clone()]);
        }
        args
    }
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

    /// Run `streams` side by side, each into its own log under `target/xtask-test/`; print each
    /// log whole when its stream ends. Fails when any stream failed, after all have ended.
    fn parallel(&mut self, streams: Vec<Stream>) -> Result<()> {
        self.started.get_or_insert_with(Instant::now);
        let dir = sh::repo_root().join("target/xtask-test");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, s) in streams.iter().enumerate() {
            eprintln!(
                "\n==> {} (side by side; log: {})",
                s.name,
                dir.join(format!("{i}.log")).display()
            );
        }
        let print = std::sync::Mutex::new(());
        let results: Vec<(String, f64, Result<()>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = streams
                .into_iter()
                .enumerate()
                .map(|(i, mut s)| {
                    let (dir, print) = (&dir, &print);
                    scope.spawn(move || {
                        let log = dir.join(format!("{i}.log"));
                        let t = Instant::now();
                        let result = s.run(&log);
                        let secs = t.elapsed().as_secs_f64();
                        let _one_at_a_time = print.lock();
                        let verdict = if result.is_ok() { "passed" } else { "FAILED" };
                        eprintln!("\n==> {} {verdict} in {secs:.0}s; its output:", s.name);
                        match std::fs::read(&log) {
                            Ok(text) => {
                                use std::io::Write;
                                let mut out = std::io::stdout().lock();
                                let _ = out.write_all(&text);
                                let _ = out.flush();
                            }
                            Err(e) => eprintln!("(could not read {}: {e})", log.display()),
                        }
                        (s.name, secs, result)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a test stream panicked"))
                .collect()
        });
        let mut failed = Vec::new();
        for (name, secs, result) in results {
            if let Err(e) = result {
                eprintln!("\n==> {name}: FAILED: {e:#}");
                failed.push(name.clone());
            }
            self.done.push((name, secs));
        }
        if !failed.is_empty() {
            self.report();
            bail!("failed: {}", failed.join("; "));
        }
        Ok(())
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
