//! The `pgmove` command. It parses arguments and calls pgmove-core; it holds no migration logic.

use clap::Parser;

/// Move a PostgreSQL database's schema and sequences from one server to another.
#[derive(Parser, Debug)]
#[command(name = "pgmove", version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
