//! `pgmove migrate --data dms` and `pgmove cutover --dms-config`: arguments to
//! `pgmove_dms::flow`, its progress and its report. Compiled only with the `dms` feature.

use crate::cdc::CutoverArgs;
use crate::migrate::{step_line, Display, MigrateArgs};
use crate::validate::Format;
use pgmove_dms::config::Config;
use pgmove_dms::flow::{self, CutoverReport, Event, FlowStatus, FlowStepReport, MigrateReport};
use pgmove_dms::lifecycle::{SourceReplicationLag, TaskStatus, WaitOptions};
use pgmove_dms::plan::PlanOptions;
use std::io::Write;
use std::time::{Duration, Instant};

/// A pgmove-dms error as the CLI prints it: pgmove's own errors as they are (a list of
/// problems keeps its lines), the rest on one line.
fn core_error(e: pgmove_dms::Error) -> pgmove_core::Error {
    match e {
        pgmove_dms::Error::Core(e) => e,
        e => pgmove_core::Error::Invalid(
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// `pgmove migrate --data dms`; returns the exit status.
pub async fn migrate(a: MigrateArgs) -> u8 {
    let display = Display::new(a.quiet);
    let r = run_migrate(&a, &display).await;
    display.clear();
    let report = match r {
        Ok(r) => r,
        Err(e) => {
            crate::print_error(&core_error(e));
            return 1;
        }
    };
    let out = match a.format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        Format::Text => migrate_text(&report),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    let _ = stdout.flush();
    if report.passed() {
        0
    } else {
        1
    }
}

async fn run_migrate(a: &MigrateArgs, display: &Display) -> pgmove_dms::Result<MigrateReport> {
    let path = a
        .dms_config
        .as_deref()
        .ok_or_else(|| pgmove_dms::Error::Config("--data dms needs --dms-config FILE".into()))?;
    let loaded = Config::load(path)?;
    let migration = crate::migrate::migration(a)?;
    let opts = flow::MigrateOptions {
        source: a.source.clone(),
        target: a.target.parse()?,
        plan: PlanOptions {
            filters: a.filter.dms_filters(),
            ..PlanOptions::default()
        },
        wait: WaitOptions {
            poll: Duration::from_secs_f64(loaded.config.poll_interval_secs.max(0.05)),
            ..WaitOptions::default()
        },
    };
    let probe = SourceReplicationLag {
        conninfo: a.source.clone(),
        slot_name: None,
    };
    let client = pgmove_dms::client::build(&loaded.config.aws).await?;
    let last = std::sync::Mutex::new(Instant::now() - Duration::from_secs(60));
    let on_event = |e: Event<'_>| match e {
        Event::Migration(e) => display.event(e),
        Event::Step(r) => display.line(&format!("pgmove: {}", flow_line(r))),
        Event::Task(st) => {
            display.message(task_line(st));
            // Without a terminal, a line a minute at most while waiting.
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= Duration::from_secs(60) {
                *last = Instant::now();
                if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    display.line(&format!("pgmove: {}", task_line(st)));
                }
            }
        }
    };
    flow::migrate_with(&client, &loaded, &migration, &opts, &probe, &on_event).await
}

fn task_line(st: &TaskStatus) -> String {
    format!(
        "dms task {}: {}, full load {}%, {} tables loaded",
        st.id, st.status, st.full_load_percent, st.tables_loaded
    )
}

fn flow_line(r: &FlowStepReport) -> String {
    let mut s = match r.status {
        FlowStatus::Done => format!("{:<10} done, {:.1}s", r.step.as_str(), r.seconds),
        FlowStatus::AlreadyDone => {
            format!("{:<10} already done by an earlier run", r.step.as_str())
        }
    };
    if let Some(n) = &r.note {
        s += &format!(" ({n})");
    }
    s
}

fn migrate_text(r: &MigrateReport) -> String {
    let mut out = format!(
        "Migration {} → {} with AWS DMS task {}\n",
        r.source, r.target, r.task_id
    );
    for s in &r.steps {
        out += &format!("  {}\n", flow_line(s));
    }
    if let Some(p) = &r.post_data {
        for s in &p.steps {
            out += &format!("    {}\n", step_line(s));
        }
        for w in &p.warnings {
            out += &format!("  warning: {w}\n");
        }
        if let Some(v) = &p.validation {
            let v = crate::validate::text(v);
            let body: Vec<&str> = v.lines().filter(|l| !l.starts_with("Result: ")).collect();
            out += &body.join("\n");
            out += "\n";
        }
    }
    out += if r.passed() {
        "Result: replicating with DMS, post-data built, schema validated. Stop the application's \
         writes to the source, then run `pgmove cutover` with the same --source, --target and \
         --dms-config."
    } else {
        "Result: NOT READY FOR CUTOVER (see above)."
    };
    out
}

/// `pgmove cutover --dms-config`.
pub async fn cutover(a: CutoverArgs) -> pgmove_core::Result<()> {
    let report = run_cutover(&a).await.map_err(core_error)?;
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| pgmove_core::Error::Invalid(e.to_string()))?
        ),
        Format::Text => print!("{}", cutover_text(&report)),
    }
    if report.passed() {
        Ok(())
    } else {
        Err(pgmove_core::Error::Invalid(
            "the target differs from the source (see above); the task is stopped and the \
             migration's record kept: fix the differences, then run cutover again"
                .into(),
        ))
    }
}

async fn run_cutover(a: &CutoverArgs) -> pgmove_dms::Result<CutoverReport> {
    let path = a.dms_config.as_deref().expect("called with --dms-config");
    let loaded = Config::load(path)?;
    let (source, target) = a.ends.specs()?;
    let opts = flow::CutoverOptions {
        source,
        target,
        filter: a.filter.filter()?,
        margin: a.margin,
        max_latency: a.max_latency,
        wait: WaitOptions {
            timeout: a.timeout,
            poll: Duration::from_secs_f64(loaded.config.poll_interval_secs.max(0.05)),
        },
        jobs: a.jobs,
        destroy: a.destroy,
    };
    let probe = SourceReplicationLag {
        conninfo: a.ends.source.clone(),
        slot_name: None,
    };
    let client = pgmove_dms::client::build(&loaded.config.aws).await?;
    let quiet = a.quiet;
    let mut last = Instant::now() - Duration::from_secs(60);
    flow::cutover_with(&client, &loaded, &opts, &probe, |st| {
        if !quiet && last.elapsed() >= Duration::from_secs(10) {
            last = Instant::now();
            eprintln!("pgmove: waiting: {}", task_line(st));
        }
    })
    .await
}

fn cutover_text(r: &CutoverReport) -> String {
    let mut out = String::new();
    if r.already_done {
        out += "nothing to do: the target holds no record of a migration (already cut over)\n";
    }
    for w in &r.open_writes {
        out += &format!("open write transaction on the source at cutover: {w}\n");
    }
    if r.stopped_task {
        out += &format!(
            "caught up: task {} stopped at a CDC latency of {} ({:.1}s waited)\n",
            r.task_id,
            r.latency_seconds
                .map_or("unknown".into(), |l| format!("{l:.1}s")),
            r.waited_seconds
        );
    }
    for s in &r.sequences_set {
        out += &format!("set {s}\n");
    }
    if let Some(l) = &r.large_objects {
        out += &format!(
            "large objects: {} copied, {} removed, {} copied again, {} unchanged\n",
            l.copied, l.removed, l.recopied, l.unchanged
        );
    }
    if let Some(v) = &r.validation {
        out += &crate::validate::text(v);
        out += "\n";
    }
    for d in &r.destroyed {
        out += &format!("deleted {d}\n");
    }
    for slot in &r.idle_source_slots {
        out += &format!(
            "logical slot {slot} on the source is idle and keeps WAL there: once its DMS task \
             is deleted, drop it (SELECT pg_drop_replication_slot({}))\n",
            pgmove_core::quote::literal(slot)
        );
    }
    if !r.already_done {
        out += &format!(
            "cutover {}: {} sequence(s) set\n",
            if r.passed() { "done" } else { "NOT done" },
            r.sequences_set.len()
        );
    }
    out
}
