//! The online migration with DMS as the engine, orchestrated: `pgmove migrate --data dms` and
//! `pgmove cutover --dms-config`.
//!
//! [`migrate_with`] runs, each step skipped when an earlier run finished it:
//! plan (the source read for DMS, its preflight; refuses before anything is written when CDC
//! cannot work) → schema (pgmove's own, [`Migration`] with
//! [`DataMode::ExternalReplication`], recorded on the target) → apply (what the config
//! describes) → start (full load; the plan stops the task before cached changes apply) → wait
//! for the full load → post-data (the same [`Migration`] run again; the schema validated) →
//! resume (cached changes, then ongoing CDC) → one CDC latency reading.
//!
//! [`cutover_with`], once the application stopped writing: wait until the latency is under a
//! bound, stop the task, set every sequence from the source's current state plus a margin,
//! validate schema, sequences and rows, end the migration's record, and (when asked) delete what
//! `apply` created.
//!
//! Where each run resumes is read back, never assumed: pgmove's steps from the record on the
//! target (the `pgmove_migrate` record, see [`pgmove_core::migrate::state`]; the cutover's own
//! progress is kept there too, under [`CUTOVER_STEP`]), the task's from DMS. This module never
//! writes to the source, never starts post-data before DMS finished the full load, and never
//! sets a sequence after the record of a finished cutover is gone.
//!
//! Both entry points box their work, and pgmove's runs and validation are boxed where they are
//! awaited: those futures (the SDK's among them) are large, and a caller polling on a small
//! stack (a test thread, a runtime worker) must not hold them inline.

use crate::config::Loaded;
use crate::lifecycle::{self, LatencyProbe, StartMode, TaskStatus, WaitFor, WaitOptions};
use crate::plan::PlanOptions;
use crate::{Error, Result};
use aws_sdk_databasemigration::Client;
use pgmove_core::conn::{self, ConnSpec};
use pgmove_core::filter::Filter;
use pgmove_core::migrate::{self, state, DataMode, Migration, EXTERNAL_REPLICATION};
use pgmove_core::plan::{self, Step};
use pgmove_core::validate;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The record's key for the cutover's progress: `stopped` once the task is stopped,
/// `sequences` once the sequences are set.
pub const CUTOVER_STEP: &str = "dms-cutover";

/// The steps of `migrate --data dms`, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowStep {
    Plan,
    Schema,
    Apply,
    Start,
    FullLoad,
    PostData,
    Resume,
    Cdc,
}

impl FlowStep {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStep::Plan => "dms plan",
            FlowStep::Schema => "schema",
            FlowStep::Apply => "dms apply",
            FlowStep::Start => "dms start",
            FlowStep::FullLoad => "full load",
            FlowStep::PostData => "post-data",
            FlowStep::Resume => "dms resume",
            FlowStep::Cdc => "cdc",
        }
    }
}

/// What became of a step in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowStatus {
    /// It ran in this run.
    Done,
    /// An earlier run (or DMS, on its own) finished it.
    AlreadyDone,
}

/// One step's line of the [`MigrateReport`].
#[derive(Debug, Clone, Serialize)]
pub struct FlowStepReport {
    pub step: FlowStep,
    pub status: FlowStatus,
    pub seconds: f64,
    pub note: Option<String>,
}

/// Progress of [`migrate_with`], for displays.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Within the schema or post-data run of pgmove.
    Migration(migrate::Event<'a>),
    /// A step ended.
    Step(&'a FlowStepReport),
    /// The task, as read while waiting on it.
    Task(&'a TaskStatus),
}

/// What `migrate --data dms` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub source: String,
    pub target: String,
    pub task_id: String,
    pub steps: Vec<FlowStepReport>,
    /// The DMS preflight, when this run planned.
    pub preflight: Option<crate::preflight::Report>,
    /// pgmove's schema run, when this run created the schema.
    pub schema: Option<migrate::Report>,
    /// pgmove's post-data run (post-data and the schema's validation).
    pub post_data: Option<migrate::Report>,
    /// The task as last read.
    pub task: Option<TaskStatus>,
    /// CDC latency once the task resumed (`None` when it cannot be told yet).
    pub cdc_latency_seconds: Option<f64>,
}

impl MigrateReport {
    /// Replicating, post-data built, the schema validated: ready for cutover.
    pub fn passed(&self) -> bool {
        self.post_data.as_ref().is_some_and(|r| r.passed())
            && self.task.as_ref().is_some_and(|t| t.status == "running")
    }
}

/// The choices of [`migrate_with`] beyond the [`Migration`] itself.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The source as `pgmove dms plan` and the latency probe read it (URI or key=value).
    pub source: String,
    /// The target, where pgmove's record of the migration lives.
    pub target: ConnSpec,
    /// The plan's filters and LOB choices (the same filters as the migration's).
    pub plan: PlanOptions,
    /// Waiting for the full load and for the task to run again.
    pub wait: WaitOptions,
}

/// `pgmove migrate --data dms`: see the module documentation. `migration` carries the
/// connections, jobs, roles, filters and validation choice; its data mode is set here.
pub async fn migrate_with<P: LatencyProbe>(
    client: &Client,
    loaded: &Loaded,
    migration: &Migration,
    opts: &MigrateOptions,
    probe: &P,
    progress: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<MigrateReport> {
    Box::pin(migrate_boxed(
        client, loaded, migration, opts, probe, progress,
    ))
    .await
}

async fn migrate_boxed<P: LatencyProbe>(
    client: &Client,
    loaded: &Loaded,
    migration: &Migration,
    opts: &MigrateOptions,
    probe: &P,
    progress: &(dyn Fn(Event<'_>) + Send + Sync),
) -> Result<MigrateReport> {
    let task_id = loaded.config.task.id.clone();
    let migration = migration.clone().data(DataMode::ExternalReplication);
    let mut report = MigrateReport {
        source: ConnSpec::parse(&opts.source)?.display_safe(),
        target: opts.target.display_safe(),
        task_id: task_id.clone(),
        steps: Vec::new(),
        preflight: None,
        schema: None,
        post_data: None,
        task: None,
        cdc_latency_seconds: None,
    };
    let step = |report: &mut MigrateReport, step, status, started: Instant, note| {
        let r = FlowStepReport {
            step,
            status,
            seconds: started.elapsed().as_secs_f64(),
            note,
        };
        progress(Event::Step(&r));
        report.steps.push(r);
    };
    let on_migration = |e: migrate::Event<'_>| progress(Event::Migration(e));

    let recorded = {
        let target = conn::connect(&opts.target).await?;
        state::read(&target).await?
    };
    let data = recorded.as_ref().and_then(|r| r.steps.get("data").cloned());
    if let Some(d) = data.as_deref().filter(|d| *d != EXTERNAL_REPLICATION) {
        return Err(Error::State(format!(
            "the target holds an interrupted migration whose rows move another way (data: {d}); \
             finish it with the command that started it"
        )));
    }
    if let Some(phase) = recorded.as_ref().and_then(|r| r.steps.get(CUTOVER_STEP)) {
        return Err(Error::State(format!(
            "a cutover of this migration has begun (task {task_id} stopped, cutover at \
             {phase}); nothing was changed: run `pgmove cutover --dms-config` again to finish it"
        )));
    }
    let task = crate::apply::describe_task(client, &task_id)
        .await?
        .map(|t| TaskStatus::from_task(&t));
    let started_before = task.as_ref().is_some_and(|t| t.ever_started);
    if started_before && data.is_none() {
        return Err(Error::State(format!(
            "task {task_id} has run already, but the target holds no record of this migration \
             (cut over already, or another target); nothing was changed: delete the task \
             (`pgmove dms destroy`) to migrate again"
        )));
    }

    if !started_before {
        // Plan first: its preflight stops a source DMS cannot replicate before anything is
        // written to the target.
        let started = Instant::now();
        let outcome = Box::pin(crate::plan::run(
            &opts.source,
            &loaded.plan_dir(),
            &opts.plan,
        ))
        .await?;
        let failures: Vec<String> = outcome
            .report
            .checks
            .iter()
            .filter(|c| c.level == crate::preflight::Level::Fail)
            .map(|c| format!("{}: {}", c.topic, c.message))
            .collect();
        if !failures.is_empty() {
            return Err(Error::State(format!(
                "DMS preflight failed, nothing created on the target or in AWS: {} (the \
                 report: {})",
                failures.join("; "),
                loaded
                    .plan_dir()
                    .join(crate::plan::PREFLIGHT_FILE)
                    .display()
            )));
        }
        let note = format!(
            "{} tables selected, written to {}",
            outcome.plan.selected.len(),
            loaded.plan_dir().display()
        );
        report.preflight = Some(outcome.report);
        step(
            &mut report,
            FlowStep::Plan,
            FlowStatus::Done,
            started,
            Some(note),
        );
    } else {
        step(
            &mut report,
            FlowStep::Plan,
            FlowStatus::AlreadyDone,
            Instant::now(),
            None,
        );
    }

    // Schema: pgmove's run stops after it, its data step recorded as replicated by DMS.
    let started = Instant::now();
    if data.is_none() {
        let r = Box::pin(migration.run(&on_migration)).await?;
        if !r.waiting_for_data {
            return Err(Error::State(
                "the schema run did not stop for the rows; nothing was started on DMS".into(),
            ));
        }
        report.schema = Some(r);
        step(
            &mut report,
            FlowStep::Schema,
            FlowStatus::Done,
            started,
            None,
        );
    } else {
        step(
            &mut report,
            FlowStep::Schema,
            FlowStatus::AlreadyDone,
            started,
            None,
        );
    }

    // Apply and start, unless the task ran already.
    let started = Instant::now();
    if started_before {
        step(
            &mut report,
            FlowStep::Apply,
            FlowStatus::AlreadyDone,
            started,
            None,
        );
        step(
            &mut report,
            FlowStep::Start,
            FlowStatus::AlreadyDone,
            started,
            None,
        );
    } else {
        let a = Box::pin(crate::apply::apply_with(client, loaded)).await?;
        let note = format!(
            "{} created, {} already there",
            a.created(),
            a.actions.len() - a.created()
        );
        step(
            &mut report,
            FlowStep::Apply,
            FlowStatus::Done,
            started,
            Some(note),
        );
        let started = Instant::now();
        let st = lifecycle::start_with(client, &task_id, StartMode::Auto).await?;
        progress(Event::Task(&st));
        step(
            &mut report,
            FlowStep::Start,
            FlowStatus::Done,
            started,
            Some(format!("task {task_id} {}", st.status)),
        );
    }

    // The full load. A task stopped before it finished (by a user, or an instance restart)
    // is resumed first; a failed one is an error.
    let started = Instant::now();
    let mut st = lifecycle::status_with(client, &task_id).await?;
    progress(Event::Task(&st));
    let full_load_status = if st.full_load_done() {
        if started_before {
            FlowStatus::AlreadyDone
        } else {
            FlowStatus::Done
        }
    } else {
        if st.status == "stopped" && started_before {
            lifecycle::start_with(client, &task_id, StartMode::Auto).await?;
        }
        st = lifecycle::wait_with(
            client,
            &task_id,
            &WaitFor::FullLoadDone,
            probe,
            opts.wait,
            |s| progress(Event::Task(s)),
        )
        .await?;
        FlowStatus::Done
    };
    let loaded_rows: i64 = st.tables.iter().map(|t| t.full_load_rows).sum();
    step(
        &mut report,
        FlowStep::FullLoad,
        full_load_status,
        started,
        Some(format!(
            "{} tables loaded, {loaded_rows} rows; task {}",
            st.tables_loaded, st.status
        )),
    );

    // Post-data, while the task waits with its cached changes (or streams, on a later run).
    let started = Instant::now();
    let r = Box::pin(migration.run(&on_migration)).await?;
    let post = r
        .steps
        .iter()
        .find(|s| s.step == migrate::StepName::PostData)
        .map(|s| s.status);
    let status = if post == Some(migrate::StepStatus::AlreadyDone) {
        FlowStatus::AlreadyDone
    } else {
        FlowStatus::Done
    };
    report.post_data = Some(r);
    step(&mut report, FlowStep::PostData, status, started, None);

    // Resume: cached changes, then ongoing CDC.
    let started = Instant::now();
    let st = lifecycle::status_with(client, &task_id).await?;
    let status = match st.status.as_str() {
        "running" | "starting" | "resuming" => FlowStatus::AlreadyDone,
        _ => {
            lifecycle::start_with(client, &task_id, StartMode::ResumeProcessing).await?;
            FlowStatus::Done
        }
    };
    let st = lifecycle::wait_with(
        client,
        &task_id,
        &WaitFor::Status("running".into()),
        probe,
        opts.wait,
        |s| progress(Event::Task(s)),
    )
    .await?;
    step(&mut report, FlowStep::Resume, status, started, None);

    let started = Instant::now();
    let latency = probe.latency(&st).await?;
    report.cdc_latency_seconds = latency.map(|l| l.as_secs_f64());
    report.task = Some(st);
    step(
        &mut report,
        FlowStep::Cdc,
        FlowStatus::Done,
        started,
        Some(match latency {
            Some(l) => format!("CDC latency {:.1}s", l.as_secs_f64()),
            None => "CDC latency not known yet".into(),
        }),
    );
    Ok(report)
}

/// The choices of [`cutover_with`].
#[derive(Debug, Clone)]
pub struct CutoverOptions {
    pub source: ConnSpec,
    pub target: ConnSpec,
    /// The migration's filters: which sequences are set and what is validated.
    pub filter: Filter,
    /// Move each sequence this many steps further in its direction.
    pub margin: i64,
    /// Stop the task once its CDC latency is at most this.
    pub max_latency: Duration,
    /// How long to wait for that, and for the task to stop.
    pub wait: WaitOptions,
    /// Connection pairs for the row check.
    pub jobs: usize,
    /// Delete what `apply` created once the target validated clean.
    pub destroy: bool,
}

/// What [`cutover_with`] did.
#[derive(Debug, Clone, Serialize)]
pub struct CutoverReport {
    pub task_id: String,
    /// The target holds no record of a migration: cut over already (or never migrated).
    pub already_done: bool,
    /// Sessions on the source with an open write transaction when this run began to wait (the
    /// application should have stopped; their writes reach the target only if they commit
    /// before the task stops).
    pub open_writes: Vec<String>,
    /// The task's CDC latency when it was stopped.
    pub latency_seconds: Option<f64>,
    /// Seconds spent waiting for the latency and the stop.
    pub waited_seconds: f64,
    /// This run stopped the task (not an earlier cutover).
    pub stopped_task: bool,
    /// Sequences set (`sequence schema.name`); empty when an earlier run set them.
    pub sequences_set: Vec<String>,
    /// Large objects brought up to date (DMS moves none); `None` with filters, which leave
    /// them out, or when nothing was left to do.
    pub large_objects: Option<pgmove_core::lobs::SyncReport>,
    /// Schema, sequences and rows compared.
    pub validation: Option<validate::Report>,
    /// What `destroy` deleted: `kind id`.
    pub destroyed: Vec<String>,
    /// Logical replication slots on the source that nothing streams from (DMS's, once its task
    /// stopped): each keeps WAL on the source until it is dropped.
    pub idle_source_slots: Vec<String>,
}

impl CutoverReport {
    /// Cut over and validated clean (or nothing was left to do).
    pub fn passed(&self) -> bool {
        self.already_done
            || self
                .validation
                .as_ref()
                .is_some_and(|v| v.verdict() == validate::Verdict::Match)
    }
}

/// `pgmove cutover --dms-config`: see the module documentation. Safe to run again at any point:
/// a stopped task is not waited on twice, sequences are set once (with the record of it, in one
/// transaction), and once validation passed the record is gone and a new run only destroys.
pub async fn cutover_with<P: LatencyProbe>(
    client: &Client,
    loaded: &Loaded,
    opts: &CutoverOptions,
    probe: &P,
    progress: impl FnMut(&TaskStatus),
) -> Result<CutoverReport> {
    Box::pin(cutover_boxed(client, loaded, opts, probe, progress)).await
}

async fn cutover_boxed<P: LatencyProbe>(
    client: &Client,
    loaded: &Loaded,
    opts: &CutoverOptions,
    probe: &P,
    progress: impl FnMut(&TaskStatus),
) -> Result<CutoverReport> {
    let task_id = loaded.config.task.id.clone();
    let mut progress = progress;
    let mut report = CutoverReport {
        task_id: task_id.clone(),
        already_done: false,
        open_writes: Vec::new(),
        latency_seconds: None,
        waited_seconds: 0.0,
        stopped_task: false,
        sequences_set: Vec::new(),
        large_objects: None,
        validation: None,
        destroyed: Vec::new(),
        idle_source_slots: Vec::new(),
    };
    let (source, target) =
        tokio::try_join!(conn::connect(&opts.source), conn::connect(&opts.target))?;
    let Some(mut recorded) = state::read(&target).await? else {
        report.already_done = true;
        if opts.destroy {
            report.destroyed = destroy(client, loaded).await?;
        }
        return Ok(report);
    };
    match recorded.steps.get("data").map(String::as_str) {
        Some(EXTERNAL_REPLICATION) => {}
        other => {
            return Err(Error::State(format!(
                "the target's migration does not replicate with DMS (data step: {}); nothing \
                 was changed",
                other.unwrap_or("not started")
            )))
        }
    }
    if !recorded.done("post-data") {
        return Err(Error::State(
            "post-data is not built yet: run `pgmove migrate --data dms` to its end first; \
             nothing was changed"
                .into(),
        ));
    }
    let phase = recorded.steps.get(CUTOVER_STEP).cloned();

    // Catch up, then stop: nothing written to the source after this reaches the target.
    if phase.is_none() {
        report.open_writes = pgmove_core::cdc::cutover::open_writes(&source).await?;
        let started = Instant::now();
        let st = lifecycle::status_with(client, &task_id).await?;
        if st.status != "running" {
            return Err(Error::State(format!(
                "task {task_id} is {}, not replicating: changes since it stopped are not on the \
                 target; resume it (`pgmove migrate --data dms` again), then cut over; nothing \
                 was changed",
                st.status
            )));
        }
        let st = lifecycle::wait_with(
            client,
            &task_id,
            &WaitFor::CdcLatencyBelow(opts.max_latency),
            probe,
            opts.wait,
            &mut progress,
        )
        .await?;
        report.latency_seconds = probe.latency(&st).await?.map(|l| l.as_secs_f64());
        lifecycle::stop_with(client, &task_id).await?;
        lifecycle::wait_with(
            client,
            &task_id,
            &WaitFor::Status("stopped".into()),
            probe,
            opts.wait,
            &mut progress,
        )
        .await?;
        state::mark(&target, &mut recorded, CUTOVER_STEP, "stopped").await?;
        report.stopped_task = true;
        report.waited_seconds = started.elapsed().as_secs_f64();
    }

    // Sequences from the source's state now, with the record of it in the same transaction.
    if phase.as_deref() != Some("sequences") {
        // Sequence states included: the default.
        let cat =
            pgmove_core::catalog::read_with(&source, pgmove_core::catalog::ReadOptions::default())
                .await?;
        let p = plan::plan_with(
            &cat,
            Step::Sequences {
                margin: opts.margin,
            },
            &Default::default(),
            &opts.filter,
        );
        let mark = recorded.mark_sql(CUTOVER_STEP, "sequences");
        pgmove_core::apply::apply_in_transaction_with(&target, "", &p.items, &mark, |_, _, _| {})
            .await?;
        report.sequences_set = p.items.iter().map(|i| i.name.to_string()).collect();
    }

    // Large objects: DMS moves none. Now that the source is still, the target gets the new
    // ones, loses the removed ones and gets the changed ones again (idempotent, so a rerun
    // does it again harmlessly), before the validation that compares them.
    if opts.filter.is_empty() {
        let lo = pgmove_core::lobs::Options::with_jobs(opts.jobs.max(1));
        report.large_objects = Some(
            Box::pin(pgmove_core::lobs::sync(
                &opts.source,
                &opts.target,
                &lo,
                &|_| {},
            ))
            .await?,
        );
    }

    // Validation, now that the source is still; the record goes only when it passed.
    let mut vopts = validate::Options::default();
    vopts.jobs = opts.jobs.max(1);
    vopts.filter = opts.filter.clone();
    let v = Box::pin(validate::run(&opts.source, &opts.target, &vopts, |_| {})).await?;
    let clean = v.verdict() == validate::Verdict::Match;
    report.validation = Some(v);
    if clean {
        state::drop(&target).await?;
        if opts.destroy {
            report.destroyed = destroy(client, loaded).await?;
        }
    }
    report.idle_source_slots = idle_logical_slots(&source).await?;
    Ok(report)
}

/// Logical slots of the source's database with no process streaming from them.
async fn idle_logical_slots(source: &tokio_postgres::Client) -> Result<Vec<String>> {
    let rows = source
        .query(
            "SELECT slot_name::text FROM pg_replication_slots
              WHERE slot_type = 'logical' AND NOT active AND database = current_database()
              ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| pgmove_core::Error::db(e, Some("replication slots".into()), None))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn destroy(client: &Client, loaded: &Loaded) -> Result<Vec<String>> {
    Ok(lifecycle::destroy_with(client, loaded)
        .await?
        .into_iter()
        .map(|(kind, id)| format!("{kind} {id}"))
        .collect())
}
