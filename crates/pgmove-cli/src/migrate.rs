//! `pgmove migrate`: its arguments, its progress display and its report. The run itself is
//! `pgmove_core::migrate::Migration`; this file only parses, prints and picks the exit status.

use crate::validate::Format;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgmove_core::conn::ConnSpec;
use pgmove_core::migrate::{
    DataMode, Event, Migration, Report, StepName, StepStatus, ValidateMode,
};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

pub const AFTER_HELP: &str = "EXAMPLES:
  pgmove migrate --source postgres://app@old/app --target postgres://app@new/app
  pgmove migrate --source \"$SRC\" --target \"$DST\" --roles --jobs 8 --format json > report.json
  pgmove migrate --source \"$SRC\" --target \"$DST\" --data none    # rows by AWS DMS; run again after
  pgmove migrate --source \"$SRC\" --target \"$DST\" --online && pgmove cutover --source … --target …
  pgmove migrate --source \"$SRC\" --target \"$DST\" --data dms --dms-config dms.toml

The whole runbook on one catalog read: preflight (every problem listed at once, nothing written),
roles (with --roles), schema (one transaction), data (parallel COPY in one snapshot), sequences
(read after the rows), post-data (indexes, keys, triggers… on N connections, materialized views
refreshed), validate (schema, sequences, rows).

With --data dms (a build with the `dms` feature), AWS DMS moves the rows and keeps
replicating: dms plan (its preflight refuses a source DMS cannot replicate before anything is
written) → schema → dms apply → start → full load (the task stops before cached changes apply)
→ post-data (schema validated) → resume (cached changes, then CDC) → CDC latency. Then stop the
application's writes and run `pgmove cutover --dms-config dms.toml`: it waits for the latency
to drop under --max-latency, stops the task, sets sequences (--margin), validates rows, and with
--destroy deletes what dms apply created. Run again after an interruption: pgmove's steps are
read from the target's record, the task's from DMS.

Interrupted? Run the same command again: finished steps are skipped, the data step resumes per
table, post-data per object. If the source's schema changed since, it stops with an error
instead of mixing two schemas; --restart then drops what the earlier run created (and, after an
--online run, its subscription, slot and publication) and starts over. What the target held
before the earlier run is kept: the run records it before it creates anything. A migration that validated clean leaves nothing of pgmove's on
the target.

EXIT STATUS:
  0 migrated and validated (or stopped as asked by --data none), 1 failed or differences found,
  2 bad arguments or validation could not run.";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DataArg {
    /// pgmove copies the rows.
    Copy,
    /// Another tool copies them (AWS DMS): stop after the schema, continue on the next run.
    None,
    /// AWS DMS copies them and keeps replicating until `pgmove cutover --dms-config`; pgmove
    /// drives the task (needs --dms-config and a build with the `dms` feature).
    Dms,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ValidateArg {
    /// Schema, sequence states and rows.
    Rows,
    /// The schema only.
    Schema,
    /// No end check.
    None,
}

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The database to move (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    pub(crate) source: String,
    /// The database to move it into (empty, or holding an interrupted run of this migration).
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    pub(crate) target: String,
    /// Connections per server for rows, post-data and validation.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Create the roles the database needs on the target first (without passwords).
    #[arg(long)]
    roles: bool,
    #[command(flatten)]
    memory: crate::MemoryArg,
    /// Who copies the rows.
    #[arg(long, value_enum, default_value_t = DataArg::Copy)]
    pub(crate) data: DataArg,
    /// With --data dms: the `pgmove dms apply` config file (instance, endpoints, task); the
    /// plan is written into its plan_dir.
    #[arg(long, value_name = "FILE", required_if_eq("data", "dms"))]
    pub(crate) dms_config: Option<std::path::PathBuf>,
    /// Online (sources 10+): the target subscribes to the source, which keeps taking writes;
    /// returns once every table streams and post-data is built. Then stop the application's
    /// writes and run `pgmove cutover`.
    #[arg(long, conflicts_with = "data")]
    online: bool,
    /// With --online: set REPLICA IDENTITY FULL on source tables without a key (consent).
    #[arg(long, requires = "online")]
    replica_identity_full: bool,
    /// With --online: how the target reaches the source, when not by --source's address.
    #[arg(
        long,
        value_name = "CONN",
        requires = "online",
        env = "PGMOVE_SOURCE_FROM_TARGET"
    )]
    source_from_target: Option<String>,
    /// Start over: drop what an earlier, unfinished run of a migration created on the target
    /// (everything not there before it began), then run from the start.
    #[arg(long)]
    restart: bool,
    /// The end check.
    #[arg(long, value_enum, default_value_t = ValidateArg::Rows)]
    validate: ValidateArg,
    /// Move each sequence N more steps in its direction (writes may still land on the source).
    #[arg(long, default_value_t = 0, value_name = "N")]
    margin: i64,
    /// Report as text for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Print no progress.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) filter: crate::filter_args::FilterArgs,
}

/// Run the migration and print its report; returns the exit status.
pub async fn run(a: MigrateArgs) -> u8 {
    if let DataArg::Dms = a.data {
        #[cfg(feature = "dms")]
        return crate::dms_flow::migrate(a).await;
        #[cfg(not(feature = "dms"))]
        {
            crate::print_error(&pgmove_core::Error::Invalid(NO_DMS.into()));
            return 2;
        }
    }
    let report = match migrate(&a).await {
        Ok(r) => r,
        Err(e) => {
            crate::print_error(&e);
            return 1;
        }
    };
    let out = match a.format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Text => text(&report),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    let _ = stdout.flush();
    match &report.validation {
        _ if report.passed() || report.waiting_for_data => 0,
        Some(v) if v.verdict() == pgmove_core::validate::Verdict::Incomplete => 2,
        _ => 1,
    }
}

/// What `--data dms` and `--dms-config` say in a build without the `dms` feature.
#[cfg(not(feature = "dms"))]
pub const NO_DMS: &str = "this pgmove was built without AWS DMS; build it with \
    `cargo install --path crates/pgmove-cli --features dms`";

async fn migrate(a: &MigrateArgs) -> pgmove_core::Result<Report> {
    let m = migration(a)?;
    let display = Display::new(a.quiet);
    let r = m.run(&|e| display.event(e)).await;
    display.clear();
    r
}

/// The migration the arguments describe (its data mode as --data or --online say).
pub(crate) fn migration(a: &MigrateArgs) -> pgmove_core::Result<Migration> {
    let source: ConnSpec = a.source.parse()?;
    let target: ConnSpec = a.target.parse()?;
    let m = Migration::new(source, target)
        .jobs(a.jobs)
        .session_memory(a.memory.maintenance_work_mem)
        .roles(a.roles)
        .data(match (a.online, a.data) {
            (true, _) => DataMode::Online,
            (false, DataArg::Copy) => DataMode::Copy,
            (false, DataArg::None) => DataMode::None,
            (false, DataArg::Dms) => DataMode::ExternalReplication,
        })
        .validate(match a.validate {
            ValidateArg::Rows => ValidateMode::Rows,
            ValidateArg::Schema => ValidateMode::Schema,
            ValidateArg::None => ValidateMode::None,
        })
        .filter(a.filter.filter()?)
        .sequence_margin(a.margin)
        .restart(a.restart);
    let m = if a.online {
        let mut o = pgmove_core::cdc::StartOptions::default();
        o.replica_identity_full = a.replica_identity_full;
        o.source_from_target = a
            .source_from_target
            .clone()
            .map(pgmove_core::conn::Secret::new);
        m.online_options(o)
    } else {
        m
    };
    Ok(m)
}

/// One progress bar for the running step on a terminal; one line per finished step on stderr
/// otherwise (unless quiet), so logs show where a run got to.
pub(crate) struct Display {
    bar: Option<ProgressBar>,
    quiet: bool,
    lines: Mutex<()>,
}

impl Display {
    pub(crate) fn new(quiet: bool) -> Display {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb
        });
        Display {
            bar,
            quiet,
            lines: Mutex::new(()),
        }
    }

    pub(crate) fn event(&self, e: Event<'_>) {
        match e {
            Event::StepStarted { step, total } => {
                if let Some(pb) = &self.bar {
                    pb.set_prefix(step.as_str());
                    pb.set_length(total as u64);
                    pb.set_position(0);
                    pb.set_message("");
                }
            }
            Event::Progress {
                done, total, what, ..
            } => {
                if let Some(pb) = &self.bar {
                    pb.set_length(total as u64);
                    pb.set_position(done as u64);
                    pb.set_message(what.to_string());
                }
            }
            Event::Detail { what, .. } if !what.is_empty() => {
                if let Some(pb) = &self.bar {
                    pb.set_message(format!("building {what}"));
                }
            }
            Event::StepFinished(r) if r.status != StepStatus::Skipped => {
                self.line(&format!("pgmove: {}", step_line(r)));
            }
            _ => {}
        }
    }

    /// A line above the bar (or on stderr without one), unless quiet.
    pub(crate) fn line(&self, line: &str) {
        if self.quiet {
            return;
        }
        let _guard = self.lines.lock();
        match &self.bar {
            Some(pb) => pb.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// The bar's message (what is being waited on), on a terminal.
    #[cfg(feature = "dms")]
    pub(crate) fn message(&self, msg: String) {
        if let Some(pb) = &self.bar {
            pb.set_message(msg);
        }
    }

    pub(crate) fn clear(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

pub(crate) fn step_line(r: &pgmove_core::migrate::StepReport) -> String {
    let what = match r.step {
        StepName::Data => "tables",
        StepName::Validate => "objects compared",
        StepName::Preflight => "tables read",
        _ => "objects",
    };
    let mut s = match r.status {
        StepStatus::Done => format!(
            "{:<10} done: {} {what}{}, {:.1}s",
            r.step.as_str(),
            r.objects,
            r.rows.map(|n| format!(", {n} rows")).unwrap_or_default(),
            r.seconds
        ),
        StepStatus::AlreadyDone => {
            format!("{:<10} already done by an earlier run", r.step.as_str())
        }
        StepStatus::Skipped => format!("{:<10} skipped", r.step.as_str()),
        StepStatus::External => format!("{:<10} left to another tool", r.step.as_str()),
        _ => format!("{:<10} {:?}", r.step.as_str(), r.status),
    };
    if let Some(n) = &r.note {
        s += &format!(" ({n})");
    }
    s
}

fn text(r: &Report) -> String {
    let mut out = format!("Migration {} → {}\n", r.source, r.target);
    for s in &r.steps {
        out += &format!("  {}\n", step_line(s));
    }
    if let Some(re) = &r.restarted {
        for l in &re.left {
            out += &format!(
                "  warning: --restart left {l} (drop it by hand if the earlier run made it)\n"
            );
        }
    }
    for w in &r.warnings {
        out += &format!("  warning: {w}\n");
    }
    if let Some(v) = &r.validation {
        out += "\n";
        // Its table(s), without its own verdict line: the migration's follows.
        let v = crate::validate::text(v);
        let body: Vec<&str> = v.lines().filter(|l| !l.starts_with("Result: ")).collect();
        out += &body.join("\n");
        out += "\n";
    }
    out += if r.replicating && r.passed() {
        "Result: replicating, post-data built, schema validated. Stop the application's writes \
         to the source, then run `pgmove cutover` with the same --source and --target."
    } else if r.waiting_for_data {
        "Result: schema created; copy the rows, then run the same command again."
    } else if r.passed() {
        "Result: migrated."
    } else {
        "Result: MIGRATED WITH DIFFERENCES (see above)."
    };
    out
}
