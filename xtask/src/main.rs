//! Developer tasks: `cargo xtask demo`, `cargo xtask test`, `cargo xtask pg fetch`,
//! `cargo xtask bench`.
//!
//! Argument parsing only; each task lives in its own module.

mod bench;
mod demo;
mod pg_fetch;
mod sh;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "pgmove's developer tasks"
)]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Start a source and a target cluster, load pagila into the source, print how to connect.
    Demo {
        /// Keep both servers running until Enter is pressed.
        #[arg(long)]
        hold: bool,
    },
    /// Every check CI runs: fmt, clippy, fetch binaries, tests on the default and cross-major pairs.
    Test,
    /// Benchmarks against pg_dump/psql/pg_restore and pgcopydb (release build; sizes via options or
    /// PGMOVE_BENCH_* variables, see `cargo xtask bench extract -- --help`).
    Bench {
        #[arg(value_parser = ["extract", "schema", "post-data", "data", "migrate", "online"])]
        which: String,
        /// Passed to the benchmark, e.g. --tables 10000 --runs 3.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// PostgreSQL binaries.
    Pg {
        #[command(subcommand)]
        action: PgAction,
    },
}

#[derive(Subcommand)]
enum PgAction {
    /// Fill the binary cache: server majors (9.4, 9.6, 10–18), `tools` (pg_dump/psql/pg_restore 18)
    /// or `all`.
    Fetch {
        #[arg(required = true, value_name = "MAJOR|tools|all")]
        what: Vec<String>,
    },
}

fn main() {
    // The error chain on one line, without the backtrace anyhow adds under RUST_BACKTRACE=1:
    // the failing step already said what went wrong.
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.task {
        Task::Demo { hold } => demo::run(hold),
        Task::Test => test::run(),
        Task::Bench { which, args } => bench::run(&which, &args),
        Task::Pg {
            action: PgAction::Fetch { what },
        } => pg_fetch::fetch(&pg_fetch::parse_items(&what)?),
    }
}
