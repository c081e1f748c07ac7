//! `pgmove dms …`: the AWS DMS step of the runbook (full load and CDC of the rows), over the
//! `pgmove-dms` crate. Compiled only with the `dms` feature (`cargo install --path
//! crates/pgmove-cli --features dms`), so the default build never compiles the AWS SDK.
//!
//! Argument parsing and printing only; every error comes back as one line (the caller prints it
//! and exits 1).

use clap::{Args, Subcommand, ValueEnum};
use pgmove_dms::config::{Config, Loaded};
use pgmove_dms::lifecycle::{self, SourceReplicationLag, StartMode, WaitFor, WaitOptions};
use pgmove_dms::plan::{Filters, PlanOptions};
use std::path::PathBuf;
use std::time::Duration;

const AWS_HELP: &str = "AWS:
  Credentials, region and profile come from the standard AWS chain (AWS_ACCESS_KEY_ID…,
  AWS_PROFILE, AWS_REGION, credential_process, web identity, instance roles); the config file's
  [aws] and --endpoint-url override them. See crates/pgmove-dms/README.md for the config file.";

/// Plan, create, run and remove the AWS DMS task that copies the rows (full load, then CDC).
///
///   pgmove schema   …                          # pre-data on the target
///   pgmove dms plan --source S --out dms-plan  # no AWS access needed
///   pgmove dms apply --config dms.toml         # subnet group, instance, endpoints, task
///   pgmove dms start / wait --for full-load    # the task stops before cached changes apply
///   pgmove post-data …                         # keys and indexes, then `pgmove dms start`
///   pgmove dms wait --for cdc-latency=5 …      # cutover: stop, sequences, destroy
#[derive(Args, Debug)]
#[command(after_help = AWS_HELP, verbatim_doc_comment)]
pub struct DmsArgs {
    #[command(subcommand)]
    command: DmsCommand,
}

#[derive(Subcommand, Debug)]
enum DmsCommand {
    /// Read the source and write table-mappings.json, task-settings.json and the preflight
    /// report (preflight.txt, preflight.json) into --out. Needs no AWS access.
    #[command(after_help = "EXAMPLES:
  pgmove dms plan --source postgres://app@old/app --out dms-plan
  pgmove dms plan --source \"host=old dbname=app\" --out dms-plan \\
      --exclude-schema audit --include-table 'public.*' --validation

The preflight report is printed too; its FAIL lines (wal_level, no free replication slot…) must
be fixed on the source before the task can run CDC.")]
    Plan(PlanArgs),
    /// Create what the config describes and does not exist yet (subnet group, replication
    /// instance, endpoints, connection tests, the task from the plan). Safe to run again.
    #[command(after_help = "EXAMPLES:
  pgmove dms apply --config dms.toml
  pgmove dms apply --config dms.toml --endpoint-url http://127.0.0.1:5000")]
    Apply(ConfigArgs),
    /// Start the task (full load and CDC), or resume it after the post-data step.
    #[command(after_help = "EXAMPLES:
  pgmove dms start --config dms.toml
  pgmove dms start --config dms.toml --mode reload-target")]
    Start(StartArgs),
    /// Print the task's status and progress per table.
    #[command(after_help = "EXAMPLES:
  pgmove dms status --config dms.toml")]
    Status(ConfigArgs),
    /// Poll the task until the full load is done, it reaches a status, or CDC has caught up.
    #[command(after_help = "EXAMPLES:
  pgmove dms wait --config dms.toml --for full-load
  pgmove dms wait --config dms.toml --for status=stopped --timeout 600
  pgmove dms wait --config dms.toml --for cdc-latency=5 --source postgres://app@old/app

cdc-latency=SECS reads the replication lag of DMS's logical slot on the source (--source).")]
    Wait(WaitArgs),
    /// Stop the task.
    #[command(after_help = "EXAMPLES:
  pgmove dms stop --config dms.toml")]
    Stop(ConfigArgs),
    /// Delete what `apply` created (as recorded in its state file), task first; nothing else.
    #[command(after_help = "EXAMPLES:
  pgmove dms destroy --config dms.toml")]
    Destroy(ConfigArgs),
}

#[derive(Args, Debug)]
struct PlanArgs {
    /// The database to read (URI or key=value, as psql takes; PG* variables and .pgpass apply).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: String,
    /// Directory to write the plan into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Only these schemas (psql patterns, as -n elsewhere; repeatable).
    #[arg(long, value_name = "PATTERN")]
    include_schema: Vec<String>,
    /// Leave out these schemas (repeatable).
    #[arg(long, value_name = "PATTERN")]
    exclude_schema: Vec<String>,
    /// Only these tables, as schema.table (repeatable; a partitioned table brings its partitions).
    #[arg(long, value_name = "PATTERN")]
    include_table: Vec<String>,
    /// Leave out these tables, as schema.table (repeatable).
    #[arg(long, value_name = "PATTERN")]
    exclude_table: Vec<String>,
    /// Add ValidationSettings: DMS compares rows after the load and during CDC.
    #[arg(long)]
    validation: bool,
    /// Percent added to the largest LOB found before sizing LobMaxSize.
    #[arg(long, default_value_t = 25, value_name = "PERCENT")]
    lob_headroom: u32,
    /// Tables loaded in parallel (MaxFullLoadSubTasks, 1–49).
    #[arg(long, default_value_t = 8, value_name = "N")]
    max_subtasks: u32,
    /// Do not print the preflight report (it is still written to --out).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ConfigArgs {
    /// The DMS config file (TOML or JSON; see crates/pgmove-dms/examples/dms.toml).
    #[arg(long, value_name = "FILE", env = "PGMOVE_DMS_CONFIG")]
    config: PathBuf,
    /// DMS API endpoint, overriding the config file and AWS_ENDPOINT_URL*.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
}

#[derive(Args, Debug)]
struct StartArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// How to start: auto = start a new task, resume one that ran before.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Auto,
    StartReplication,
    ResumeProcessing,
    ReloadTarget,
}

#[derive(Args, Debug)]
struct WaitArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// full-load, status=STATUS (ready, running, stopped…) or cdc-latency=SECS.
    #[arg(long = "for", value_name = "WHAT", value_parser = parse_wait_for)]
    what: WaitFor,
    /// The source database, for cdc-latency (its replication lag is the measure).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    source: Option<String>,
    /// The logical slot DMS uses (default: the largest lag of all active logical slots).
    #[arg(long, value_name = "NAME")]
    slot: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 86_400, value_name = "SECS")]
    timeout: u64,
    /// Seconds between polls.
    #[arg(long, default_value_t = 15.0, value_name = "SECS")]
    poll: f64,
}

fn parse_wait_for(s: &str) -> Result<WaitFor, String> {
    if s == "full-load" {
        return Ok(WaitFor::FullLoadDone);
    }
    if let Some(st) = s.strip_prefix("status=") {
        return Ok(WaitFor::Status(st.to_string()));
    }
    if let Some(secs) = s.strip_prefix("cdc-latency=") {
        let secs: f64 = secs
            .parse()
            .map_err(|_| format!("cdc-latency takes seconds, got {secs:?}"))?;
        if !(secs >= 0.0 && secs.is_finite()) {
            return Err(format!("cdc-latency takes seconds, got {secs}"));
        }
        return Ok(WaitFor::CdcLatencyBelow(Duration::from_secs_f64(secs)));
    }
    Err("expected full-load, status=STATUS or cdc-latency=SECS".into())
}

impl ConfigArgs {
    fn load(&self) -> pgmove_dms::Result<Loaded> {
        let mut loaded = Config::load(&self.config)?;
        if let Some(u) = &self.endpoint_url {
            loaded.config.aws.endpoint_url = Some(u.clone());
        }
        Ok(loaded)
    }
}

/// Run one `pgmove dms` subcommand; its error as one line.
pub async fn run(args: DmsArgs) -> pgmove_core::Result<()> {
    dispatch(args)
        .await
        .map_err(|e| pgmove_core::Error::Invalid(one_line(&e.to_string())))
}

/// Errors print on one line, whatever a server or the SDK put in their messages.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn dispatch(args: DmsArgs) -> pgmove_dms::Result<()> {
    match args.command {
        DmsCommand::Plan(a) => {
            let opts = PlanOptions {
                filters: Filters {
                    include_schemas: a.include_schema,
                    exclude_schemas: a.exclude_schema,
                    include_tables: a.include_table,
                    exclude_tables: a.exclude_table,
                },
                validation: a.validation,
                lob_headroom_percent: a.lob_headroom,
                max_full_load_subtasks: a.max_subtasks,
            };
            let outcome = pgmove_dms::plan::run(&a.source, &a.out, &opts).await?;
            if !a.quiet {
                print!("{}", outcome.report.render());
            }
            eprintln!(
                "pgmove: dms plan: {} tables selected; wrote {}",
                outcome.plan.selected.len(),
                outcome
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        DmsCommand::Apply(a) => {
            let report = pgmove_dms::apply::apply(&a.load()?).await?;
            print!("{}", report.render());
            eprintln!("pgmove: dms apply: {} created", report.created());
        }
        DmsCommand::Start(a) => {
            let mode = match a.mode {
                Mode::Auto => StartMode::Auto,
                Mode::StartReplication => StartMode::StartReplication,
                Mode::ResumeProcessing => StartMode::ResumeProcessing,
                Mode::ReloadTarget => StartMode::ReloadTarget,
            };
            let st = lifecycle::start(&a.config.load()?, mode).await?;
            print!("{}", st.render());
        }
        DmsCommand::Status(a) => print!("{}", lifecycle::status(&a.load()?).await?.render()),
        DmsCommand::Wait(a) => {
            let loaded = a.config.load()?;
            let opts = WaitOptions {
                timeout: Duration::from_secs(a.timeout),
                poll: Duration::from_secs_f64(a.poll.max(0.1)),
            };
            let progress = |st: &lifecycle::TaskStatus| {
                eprintln!(
                    "pgmove: dms task {}: {}, full load {}%, {} tables loaded",
                    st.id, st.status, st.full_load_percent, st.tables_loaded
                )
            };
            let st = match (&a.what, a.source) {
                (WaitFor::CdcLatencyBelow(_), Some(conninfo)) => {
                    let probe = SourceReplicationLag {
                        conninfo,
                        slot_name: a.slot,
                    };
                    lifecycle::wait(&loaded, &a.what, &probe, opts, progress).await?
                }
                (WaitFor::CdcLatencyBelow(_), None) => {
                    return Err(pgmove_dms::Error::Config(
                        "--for cdc-latency needs --source (or PGMOVE_SOURCE)".into(),
                    ))
                }
                _ => {
                    lifecycle::wait(&loaded, &a.what, &lifecycle::NoLatency, opts, progress).await?
                }
            };
            print!("{}", st.render());
        }
        DmsCommand::Stop(a) => print!("{}", lifecycle::stop(&a.load()?).await?.render()),
        DmsCommand::Destroy(a) => {
            let deleted = lifecycle::destroy(&a.load()?).await?;
            for (kind, id) in &deleted {
                println!("deleted {kind} {id}");
            }
            eprintln!("pgmove: dms destroy: {} deleted", deleted.len());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_parses() {
        assert_eq!(parse_wait_for("full-load"), Ok(WaitFor::FullLoadDone));
        assert_eq!(
            parse_wait_for("status=stopped"),
            Ok(WaitFor::Status("stopped".into()))
        );
        assert_eq!(
            parse_wait_for("cdc-latency=2.5"),
            Ok(WaitFor::CdcLatencyBelow(Duration::from_millis(2500)))
        );
        assert!(parse_wait_for("cdc-latency=-1").is_err());
        assert!(parse_wait_for("soon").is_err());
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
