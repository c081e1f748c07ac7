//! `pgmove data`: its arguments, its progress bar and its summary. The copy itself is
//! `pgmove_core::data`; this file only parses, reads the catalog as the other steps do, and
//! prints.

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgmove_core::conn::{self, ConnSpec};
use pgmove_core::data::{self, Progress, Report};
use pgmove_core::{catalog, Error};
use std::io::{IsTerminal, Write};

pub const AFTER_HELP: &str = "EXAMPLES:
  pgmove data --source postgres://app@old/app --target postgres://app@new/app --jobs 4
  pgmove data --source \"$SRC\" --target \"$DST\" -n sales -T 'sales.audit_*' --format json
  pgmove data --source \"$SRC\" --target \"$DST\" --snapshot 00000003-0000001B-1

Run it after `pgmove schema` and before `pgmove post-data`: the target's tables must exist and
be empty. Every row is read in one snapshot (exported by pgmove, or yours with --snapshot,
which you keep open until pgmove ends) and streamed COPY to COPY, largest tables first; a table
much larger than the rest is cut into ranges that several connections share.

Interrupted? Run the same command again: finished tables and ranges are kept and skipped (the
rest is read in a new snapshot). The progress lives in the target's schema pgmove_data_state,
dropped when the run completes.

EXIT STATUS:
  0 done, 1 failed (what was copied is kept for a resume; problems found before copying are
  listed one per line and nothing is written), 2 bad arguments.";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct DataArgs {
    /// The database to read (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: String,
    /// The database to write to.
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    target: String,
    /// Connection pairs copying at once.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    #[command(flatten)]
    filter: crate::filter_args::FilterArgs,
    /// Read in this exported snapshot (pg_export_snapshot()) instead of pgmove's own.
    #[arg(long, value_name = "ID")]
    snapshot: Option<String>,
    /// The largest range a table is copied in, in bytes on disk (0: never cut a table). A
    /// table larger than its share of the run, all bytes / (2 × jobs), is cut into ranges of
    /// that share, at least 64 MiB and at most this.
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    split_bytes: i64,
    /// Text COPY for every table (by default binary where every column is a built-in type).
    #[arg(long)]
    text_only: bool,
    /// The summary as text for people or JSON for programs (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print no progress and no text summary.
    #[arg(short, long)]
    quiet: bool,
    /// Leave the large objects out (they are copied by default, unless a filter is given).
    #[arg(long)]
    no_large_objects: bool,
    /// Leave out the large objects' GRANTs, like pg_dump -x.
    #[arg(short = 'x', long)]
    no_privileges: bool,
}

/// Run the data step and print its summary.
/// An error of `pgmove data` on stderr: the preflight's problems one line each, as scripts
/// grep them; anything else as every command prints it.
pub fn print_error(e: &Error) {
    match e {
        Error::Problems { problems, .. } => {
            for p in problems {
                eprintln!("pgmove: error: cannot copy rows: {p}");
            }
        }
        e => crate::print_error(e),
    }
}

pub async fn run(a: DataArgs) -> pgmove_core::Result<()> {
    let filter = a.filter.filter()?;
    let source: ConnSpec = a.source.parse()?;
    let target: ConnSpec = a.target.parse()?;
    // Two connections read the catalog in one shared snapshot, as the other steps do.
    let (c1, c2) = tokio::try_join!(conn::connect(&source), conn::connect(&source))?;
    let mut read = catalog::ReadOptions::default();
    read.sequence_state = false;
    let cat = catalog::read_parallel(&[c1, c2], read).await?;
    let mut opts = data::Options::default();
    opts.jobs = a.jobs.max(1);
    opts.snapshot = a.snapshot.clone();
    opts.split_bytes = a.split_bytes;
    opts.binary = !a.text_only;
    opts.large_objects = !a.no_large_objects;
    opts.privileges = !a.no_privileges;

    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "data [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    });
    let show = |p: Progress<'_>| {
        let Some(pb) = &bar else { return };
        match p {
            Progress::Started { bytes_estimate, .. } => pb.set_length(bytes_estimate),
            Progress::Copying { table, total, .. } => {
                pb.set_position(total.max(pb.position()));
                pb.set_message(table.to_string());
            }
            Progress::TaskDone {
                table,
                tasks_done,
                tasks,
                total,
                ..
            } => {
                // The estimate is bytes on disk; COPY's stream can be larger.
                if total > pb.length().unwrap_or(0) {
                    pb.set_length(total);
                }
                pb.set_position(total);
                pb.set_message(format!("{tasks_done}/{tasks} tasks, {table} done"));
            }
            _ => {}
        }
    };
    let r = data::run(&source, &target, &cat, &filter, &opts, &show).await;
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let report = r?;
    let mut stdout = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        Format::Text if !a.quiet => {
            let _ = writeln!(stdout, "{}", text(&report, &target));
        }
        Format::Text => {}
    }
    let _ = stdout.flush();
    Ok(())
}

fn text(r: &Report, target: &ConnSpec) -> String {
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let resumed = if r.tasks_resumed > 0 {
        format!(
            ", {} of {} tasks done before (resumed)",
            r.tasks_resumed, r.tasks
        )
    } else {
        String::new()
    };
    let lobs = match &r.large_objects {
        Some(l) => format!(
            "; {} large objects ({:.1} MB), {} already there",
            l.objects,
            mb(l.bytes),
            l.skipped
        ),
        None => String::new(),
    };
    format!(
        "pgmove: data on {}: {} tables, {} rows, {:.1} MB in {:.1}s ({:.1} MB/s, {:.0} rows/s) on {} connections{resumed}{lobs}; snapshot {}",
        target.display_safe(),
        r.tables.len(),
        r.rows,
        mb(r.bytes),
        r.seconds,
        mb(r.bytes_per_second as u64),
        r.rows_per_second,
        r.jobs,
        r.snapshot
    )
}
