//! The whole runbook as one call: preflight → (roles) → schema → data → sequences → post-data
//! → validate, on one catalog read, resumable.
//!
//! [`Migration`] is what `pgmove migrate` runs; a Rust program embeds it the same way:
//!
//! ```no_run
//! # async fn demo() -> pgmove_core::Result<()> {
//! use pgmove_core::migrate::{Migration, Event};
//! let report = Migration::new("postgres://app@old-db/app".parse()?, "postgres://app@new-db/app".parse()?)
//!     .jobs(4)
//!     .run(&|e: Event<'_>| if let Event::StepFinished(s) = e { println!("{s:?}") })
//!     .await?;
//! assert!(report.passed());
//! # Ok(()) }
//! ```
//!
//! Resuming: the steps record themselves done on the target ([`state`]), the schema step in
//! its own transaction, so an interrupted run (killed, connection lost, a failing statement)
//! is continued by running the same migration again: finished steps are skipped, the data
//! step resumes per table and range, post-data per object. The record holds a fingerprint of
//! the source's rendered schema; if the source's schema changed since, the run stops with a
//! clear error instead of building a mixed target. A migration that validated clean drops
//! its record, leaving nothing of pgmove's on the target.
//!
//! This module decides the order of the steps and what is recorded; it never renders SQL (the
//! renderers do) and never writes to the source.

mod preflight;
pub mod restart;
pub mod state;

use crate::conn::{self, ConnSpec};
use crate::filter::Filter;
use crate::plan::{self, Plan, Step};
use crate::render;
use crate::validate;
use crate::{apply, catalog, Error, Result};
use serde::Serialize;
use std::time::Instant;
use tokio_postgres::Client;

pub use state::STATE_SCHEMA;

/// What the record holds for the data step of [`DataMode::ExternalReplication`].
pub const EXTERNAL_REPLICATION: &str = "external-replication";

/// How the rows get to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DataMode {
    /// pgmove copies them (parallel COPY in one snapshot, large objects included).
    Copy,
    /// Another tool copies them (e.g. AWS DMS, `pgmove dms`): the first run stops after the
    /// schema; the next run continues with sequences, post-data and validation.
    None,
    /// Online ([`crate::cdc`], sources 10+): the target subscribes to the source, which keeps
    /// taking writes; the run returns once every table streams and post-data is built, with
    /// the schema validated. Sequences and the end of replication are `pgmove cutover`'s.
    Online,
    /// Another engine copies the rows and keeps replicating changes until a cutover (AWS DMS
    /// full load then CDC, `pgmove migrate --data dms`): the first run stops after the schema;
    /// the next builds post-data and validates the schema, leaving sequences, the row check
    /// and the removal of this migration's record to that cutover.
    #[serde(rename = "external-replication")]
    ExternalReplication,
}

/// How hard the end check looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ValidateMode {
    /// Schema, sequence states and every table's rows.
    Rows,
    /// The schema only.
    Schema,
    /// No end check.
    None,
}

/// The steps of a migration, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StepName {
    Preflight,
    Roles,
    Schema,
    Data,
    Sequences,
    PostData,
    Validate,
}

impl StepName {
    /// The step's name as the CLI prints it and the target's record stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Preflight => "preflight",
            StepName::Roles => "roles",
            StepName::Schema => "schema",
            StepName::Data => "data",
            StepName::Sequences => "sequences",
            StepName::PostData => "post-data",
            StepName::Validate => "validate",
        }
    }
}

/// What became of one step in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StepStatus {
    /// It ran to its end in this run.
    Done,
    /// An earlier run of the same migration finished it.
    AlreadyDone,
    /// Not asked for (e.g. roles without `--roles`, validation `none`).
    Skipped,
    /// Left to another tool (`DataMode::None`).
    External,
}

/// One step's part of the [`Report`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StepReport {
    pub step: StepName,
    pub status: StepStatus,
    /// Objects created or set (statements for DDL steps, tables for the data step).
    pub objects: usize,
    /// Rows copied (data step only).
    pub rows: Option<u64>,
    pub seconds: f64,
    /// Anything the user should read (e.g. what to do next).
    pub note: Option<String>,
}

/// What a run did, step by step, and the validation verdict.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    pub source: String,
    pub target: String,
    pub steps: Vec<StepReport>,
    /// Warnings met on the way (objects left out by filters, broken dependency cycles…).
    pub warnings: Vec<String>,
    /// What the roles step did, when it ran.
    pub roles: Option<crate::roles::Report>,
    /// The end check, when one ran.
    pub validation: Option<validate::Report>,
    /// Stopped after the schema for an external copy of the rows (`DataMode::None`).
    pub waiting_for_data: bool,
    /// Replicating (`DataMode::Online`): the target follows the source until `pgmove cutover`.
    pub replicating: bool,
    /// What `--restart` dropped of an earlier run, when it found one.
    pub restarted: Option<restart::Restarted>,
}

impl Report {
    /// Whether the migration is complete and its end check (if any) found the target equal.
    pub fn passed(&self) -> bool {
        !self.waiting_for_data
            && self
                .validation
                .as_ref()
                .is_none_or(|v| v.verdict() == validate::Verdict::Match)
    }
}

/// Progress of a run, for displays. Events come in step order.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A step started; `total` is its unit count when known (statements, tables, chunks).
    StepStarted { step: StepName, total: usize },
    /// Within a step: `done` of `total` units, the current one named.
    Progress {
        step: StepName,
        done: usize,
        total: usize,
        what: &'a str,
    },
    /// Within a step: what its long-running work is doing now (for post-data, the index
    /// builds in progress, e.g. `s.big: scanning table 45%`); empty once nothing long runs.
    Detail { step: StepName, what: &'a str },
    /// A step ended (or was found done by an earlier run).
    StepFinished(&'a StepReport),
}

/// A migration from one database to another. Build it with [`Migration::new`] and the
/// setters, then [`Migration::run`] it.
#[derive(Debug, Clone)]
pub struct Migration {
    source: ConnSpec,
    target: ConnSpec,
    jobs: usize,
    roles: bool,
    data: DataMode,
    validate: ValidateMode,
    filter: Filter,
    margin: i64,
    online: crate::cdc::StartOptions,
    restart: bool,
    memory: crate::work_memory::SessionMemory,
}

/// How often post-data's index builds are polled for progress.
const BUILD_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an online run waits for every table's initial copy before it gives up (the copy
/// runs on the servers and continues; running the migration again waits again).
const ONLINE_SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Migration {
    /// A migration of the whole database `source` into `target` (an empty database), rows
    /// copied by pgmove, on 4 connections, validated row by row at the end.
    pub fn new(source: ConnSpec, target: ConnSpec) -> Migration {
        Migration {
            source,
            target,
            jobs: 4,
            roles: false,
            data: DataMode::Copy,
            validate: ValidateMode::Rows,
            filter: Filter::default(),
            margin: 0,
            online: crate::cdc::StartOptions::default(),
            restart: false,
            memory: Default::default(),
        }
    }
    /// The memory each post-data connection asks the target for (index builds, foreign key
    /// checks); default [`crate::work_memory::SessionMemory::Auto`].
    pub fn session_memory(mut self, m: crate::work_memory::SessionMemory) -> Self {
        self.memory = m;
        self
    }
    /// For [`DataMode::Online`]: consent to `REPLICA IDENTITY FULL` on tables without a key,
    /// and the connection string the target uses to reach the source (default: the source's).
    pub fn online_options(mut self, opts: crate::cdc::StartOptions) -> Self {
        self.online = opts;
        self
    }
    /// Connections per server for the data, post-data and validation steps (at least 1).
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n.max(1);
        self
    }
    /// Create the roles the database needs first (without passwords).
    pub fn roles(mut self, yes: bool) -> Self {
        self.roles = yes;
        self
    }
    /// How the rows get there.
    pub fn data(mut self, mode: DataMode) -> Self {
        self.data = mode;
        self
    }
    /// The end check.
    pub fn validate(mut self, mode: ValidateMode) -> Self {
        self.validate = mode;
        self
    }
    /// Only what `filter` selects (pg_dump's `-n/-N/-t/-T`).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
    /// Start over: first drop what an earlier run of a migration created on the target (see
    /// [`restart`]). Without a record of an earlier run there is nothing to drop and the run
    /// starts as usual.
    pub fn restart(mut self, yes: bool) -> Self {
        self.restart = yes;
        self
    }
    /// Move every sequence this many more steps (writes still landing on the source).
    pub fn sequence_margin(mut self, margin: i64) -> Self {
        self.margin = margin;
        self
    }

    /// Run the migration, or continue an interrupted run of it.
    pub async fn run(&self, progress: &(dyn Fn(Event<'_>) + Send + Sync)) -> Result<Report> {
        let mut report = Report {
            source: self.source.display_safe(),
            target: self.target.display_safe(),
            steps: Vec::new(),
            warnings: Vec::new(),
            roles: None,
            validation: None,
            waiting_for_data: false,
            replicating: false,
            restarted: None,
        };
        let finish = |report: &mut Report, r: StepReport| {
            progress(Event::StepFinished(&r));
            report.steps.push(r);
        };

        // One catalog read for every step: two connections sharing one snapshot.
        let started = Instant::now();
        progress(Event::StepStarted {
            step: StepName::Preflight,
            total: 0,
        });
        let (a, b, target) = tokio::try_join!(
            conn::connect(&self.source),
            conn::connect(&self.source),
            conn::connect(&self.target)
        )?;
        let sources = [a, b];
        let read = catalog::ReadOptions {
            sequence_state: false,
        };
        let (cat, recorded) =
            tokio::try_join!(catalog::read_parallel(&sources, read), state::read(&target))?;
        let [source, _] = sources;
        let opts = render::Options::default();
        let schema_plan = plan::plan_with(&cat, Step::Schema, &opts, &self.filter);
        let post_plan = plan::plan_with(&cat, Step::PostData, &opts, &self.filter);
        report.warnings.extend(schema_plan.warnings.iter().cloned());
        report.warnings.extend(post_plan.warnings.iter().cloned());
        let fingerprint = state::fingerprint(
            schema_plan
                .items
                .iter()
                .chain(&post_plan.items)
                .map(|i| i.sql.as_str()),
        );
        let recorded = match recorded {
            Some(earlier) if self.restart => {
                report.restarted = Some(self.start_over(&cat, &source, &target, &earlier).await?);
                None
            }
            r => r,
        };
        let recorded = recorded.unwrap_or_default();
        // What this run writes: the earlier run's record, with this run's steps added.
        let mut record = recorded.clone();
        let resumed = !recorded.fingerprint.is_empty();
        if resumed && recorded.fingerprint != fingerprint {
            return Err(Error::Invalid(format!(
                "the source's schema changed since the interrupted migration into {} began; \
                 its target holds the old schema: run again with --restart to drop what the \
                 earlier run created and start over",
                self.target.display_safe()
            )));
        }
        let copied = copied_tables(&cat, &self.filter);
        let problems = preflight::problems(
            &source,
            &target,
            &preflight::Checks {
                cat: &cat,
                schema_plan: &schema_plan,
                copied_tables: if self.data == DataMode::Copy && !recorded.done("data") {
                    &copied
                } else {
                    &[]
                },
                roles_step: self.roles,
                schema_pending: !recorded.done("schema"),
                large_objects: matches!(self.data, DataMode::Copy | DataMode::Online)
                    && self.filter.is_empty()
                    && !recorded.done("data"),
            },
        )
        .await?;
        let mut problems = problems;
        if self.data == DataMode::Online && !recorded.done("data") {
            // What replication needs (wal_level, slots, rights, keys…), before anything is
            // written; the tables themselves come with the schema step.
            let mut opts = self.online.clone();
            opts.filter = self.filter.clone();
            let pre = crate::cdc::preflight(&source, &target, &cat, &opts).await?;
            problems.extend(pre.problems);
        }
        if !problems.is_empty() {
            return Err(Error::Problems {
                context: format!(
                    "migration cannot start ({} problem(s); nothing was written)",
                    problems.len()
                ),
                problems,
            });
        }
        let preflight_note = match (&report.restarted, resumed) {
            (Some(r), _) => Some(format!(
                "started over: dropped {} object(s) an earlier run created",
                r.dropped.len()
            )),
            (None, true) => Some("continuing an interrupted migration".to_string()),
            (None, false) => None,
        };
        finish(
            &mut report,
            StepReport {
                step: StepName::Preflight,
                status: StepStatus::Done,
                objects: cat.tables.len(),
                rows: None,
                seconds: started.elapsed().as_secs_f64(),
                note: preflight_note,
            },
        );

        // Roles: cluster-wide, idempotent, before anything names them.
        let r = if self.roles {
            self.roles_step(&source, &target, &mut report, progress)
                .await?
        } else {
            skipped(StepName::Roles)
        };
        finish(&mut report, r);

        // Schema: one transaction that also creates the record of this migration.
        let r = if recorded.done("schema") {
            already(StepName::Schema)
        } else {
            let started = Instant::now();
            let total = schema_plan.items.len();
            progress(Event::StepStarted {
                step: StepName::Schema,
                total,
            });
            record = state::State {
                fingerprint: fingerprint.clone(),
                baseline: Some(restart::baseline(&target).await?),
                ..state::State::default()
            };
            let create = state::create_sql(&record);
            let finish_sql = record.mark_sql("schema", "done");
            apply::apply_in_transaction_with(
                &target,
                &create,
                &schema_plan.items,
                &finish_sql,
                |done, total, what| {
                    progress(Event::Progress {
                        step: StepName::Schema,
                        done,
                        total,
                        what,
                    })
                },
            )
            .await?;
            done(StepName::Schema, total, started)
        };
        finish(&mut report, r);

        // Data.
        let r = match (recorded.steps.get("data").map(String::as_str), self.data) {
            (Some(_), _) => already(StepName::Data),
            (None, DataMode::None) => {
                state::mark(&target, &mut record, "data", "external").await?;
                report.waiting_for_data = true;
                external(
                    copied.len(),
                    "copy the rows now (AWS DMS full load: see `pgmove dms`), then run the same \
                     `pgmove migrate` again for sequences, post-data and validation",
                )
            }
            (None, DataMode::ExternalReplication) => {
                state::mark(&target, &mut record, "data", EXTERNAL_REPLICATION).await?;
                report.waiting_for_data = true;
                external(
                    copied.len(),
                    "start the replication's full load now; once it is loaded, run the \
                     migration again for post-data",
                )
            }
            (None, DataMode::Copy) => {
                let r = self.data_step(&cat, progress).await?;
                state::mark(&target, &mut record, "data", "done").await?;
                r
            }
            (None, DataMode::Online) => {
                let r = self.online_step(&cat, &source, &target, progress).await?;
                state::mark(&target, &mut record, "data", "online").await?;
                r
            }
        };
        let recorded_data = recorded.steps.get("data").map(String::as_str);
        // Replicated by another engine: its cutover sets sequences, checks rows and ends this
        // migration's record.
        let external_replication = self.data == DataMode::ExternalReplication
            || recorded_data == Some(EXTERNAL_REPLICATION);
        let online = self.data == DataMode::Online
            || recorded_data == Some("online")
            || external_replication;
        report.replicating = online;
        let external_pending = report.waiting_for_data && !recorded.steps.contains_key("data");
        finish(&mut report, r);
        if external_pending {
            return Ok(report);
        }

        // Sequences: their state read now, after the rows, so no copied key is past it.
        let r = if recorded.done("sequences") {
            already(StepName::Sequences)
        } else if online {
            let mut r = skipped(StepName::Sequences);
            r.note = Some("set by `pgmove cutover`, once writes stopped".into());
            r
        } else {
            let started = Instant::now();
            let mut cat = cat.clone();
            catalog::refresh_sequence_state(&source, &mut cat).await?;
            let p = plan::plan_with(
                &cat,
                Step::Sequences {
                    margin: self.margin,
                },
                &opts,
                &self.filter,
            );
            progress(Event::StepStarted {
                step: StepName::Sequences,
                total: p.items.len(),
            });
            apply::apply_in_transaction_with(
                &target,
                "",
                &p.items,
                &record.mark_sql("sequences", "done"),
                |done, total, what| {
                    progress(Event::Progress {
                        step: StepName::Sequences,
                        done,
                        total,
                        what,
                    })
                },
            )
            .await?;
            done(StepName::Sequences, p.items.len(), started)
        };
        finish(&mut report, r);

        // Post-data: resumable per object on `jobs` connections.
        let r = if recorded.done("post-data") {
            already(StepName::PostData)
        } else {
            let r = self.post_data_step(&cat, post_plan, progress).await?;
            state::mark(&target, &mut record, "post-data", "done").await?;
            r
        };
        finish(&mut report, r);

        // Validation, then the record goes: nothing of pgmove's stays on a target that passed.
        let r = if self.validate == ValidateMode::None {
            skipped(StepName::Validate)
        } else {
            let started = Instant::now();
            progress(Event::StepStarted {
                step: StepName::Validate,
                total: 0,
            });
            let vopts = validate::Options {
                jobs: self.jobs,
                // Rows and sequences still move while replicating: cutover checks them.
                schema_only: self.validate == ValidateMode::Schema || online,
                filter: self.filter.clone(),
                ..Default::default()
            };
            let v = validate::run(&self.source, &self.target, &vopts, |p| {
                if let validate::Progress::Chunk(done, total, what) = p {
                    progress(Event::Progress {
                        step: StepName::Validate,
                        done,
                        total,
                        what,
                    })
                }
            })
            .await?;
            let objects = v.schema_objects + v.tables.len();
            let verdict = v.verdict();
            report.validation = Some(v);
            StepReport {
                step: StepName::Validate,
                status: StepStatus::Done,
                objects,
                rows: None,
                seconds: started.elapsed().as_secs_f64(),
                note: Some(format!("{verdict:?}").to_lowercase()),
            }
        };
        finish(&mut report, r);
        if report.passed() && !external_replication {
            state::drop(&target).await?;
        }
        Ok(report)
    }

    /// Every role of the source cluster that the target lacks, without passwords
    /// ([`crate::roles`]): idempotent, so it runs again on every run.
    async fn roles_step(
        &self,
        source: &Client,
        target: &Client,
        report: &mut Report,
        progress: &(dyn Fn(Event<'_>) + Send + Sync),
    ) -> Result<StepReport> {
        let started = Instant::now();
        progress(Event::StepStarted {
            step: StepName::Roles,
            total: 0,
        });
        let plan =
            crate::roles::prepare(source, Some(target), &crate::roles::Options::new()).await?;
        crate::roles::apply_in_transaction(target, &plan).await?;
        let r = plan.report;
        report.warnings.extend(r.warnings.iter().cloned());
        let mut step = done(StepName::Roles, r.created.len() + r.granted.len(), started);
        let mut note = format!(
            "{} created, {} already there",
            r.created.len(),
            r.already_there.len()
        );
        if !r.need_password.is_empty() {
            note += &format!(
                "; LOGIN roles without a password (set one with psql's \\password): {}",
                r.need_password.join(", ")
            );
        }
        step.note = Some(note);
        report.roles = Some(r);
        Ok(step)
    }

    /// Online: publication and subscription ([`crate::cdc::start`], which continues an earlier
    /// run's), then a wait until every table's initial copy is done and it streams. Meanwhile
    /// the large objects (without filters) are copied by [`crate::lobs::sync`], in a snapshot
    /// of their own: logical replication does not carry them, and the table syncs each copy
    /// in their own snapshot, so there is no one snapshot of the rows to share. What changes
    /// after it, cutover's sync brings over; a run continued after an interruption syncs what
    /// the earlier one left.
    async fn online_step(
        &self,
        cat: &crate::model::Catalog,
        source: &Client,
        target: &Client,
        progress: &(dyn Fn(Event<'_>) + Send + Sync),
    ) -> Result<StepReport> {
        let started = Instant::now();
        let mut opts = self.online.clone();
        opts.filter = self.filter.clone();
        let s = crate::cdc::start(&self.source, &self.target, cat, &opts).await?;
        progress(Event::StepStarted {
            step: StepName::Data,
            total: s.tables.len(),
        });
        let streaming =
            crate::cdc::status::wait_streaming(source, target, ONLINE_SYNC_TIMEOUT, |st| {
                progress(Event::Progress {
                    step: StepName::Data,
                    done: st.counts.streaming,
                    total: s.tables.len(),
                    what: "tables streaming",
                })
            });
        let lobs = async {
            if !self.filter.is_empty() {
                return Ok(None);
            }
            let lo = crate::lobs::Options::with_jobs(self.jobs);
            crate::lobs::sync(&self.source, &self.target, &lo, &|_| {})
                .await
                .map(Some)
        };
        let (_, lobs) = tokio::try_join!(streaming, lobs)?;
        let mut step = done(StepName::Data, s.tables.len(), started);
        let mut note = String::new();
        if let Some(l) = lobs {
            note += &format!(
                "{} large objects ({} copied, {} already there); ",
                l.copied + l.recopied + l.unchanged,
                l.copied + l.recopied,
                l.unchanged
            );
        }
        note += &format!(
            "replicating into subscription {}: stop the application's writes, then run `pgmove cutover`",
            s.names.subscription
        );
        step.note = Some(note);
        Ok(step)
    }

    /// `--restart` on a target an earlier run recorded itself on: replication stopped (an
    /// online run's subscription, slot and publication), then everything the earlier run
    /// created dropped, its record last.
    async fn start_over(
        &self,
        cat: &crate::model::Catalog,
        source: &Client,
        target: &Client,
        earlier: &state::State,
    ) -> Result<restart::Restarted> {
        let Some(baseline) = earlier.baseline.as_deref() else {
            return Err(Error::Invalid(format!(
                "the earlier migration into {} was recorded by an older pgmove that did not note \
                 what the target held before it, so --restart cannot tell what to drop: drop and \
                 recreate the target database, then run again",
                self.target.display_safe()
            )));
        };
        let mut stopped = Vec::new();
        if cat.server_version >= 100000 && crate::conn::server_version(target).await? >= 100000 {
            stopped = crate::cdc::abandon(source, target).await?;
        }
        let mut r = restart::restart(target, baseline, STATE_SCHEMA).await?;
        stopped.append(&mut r.dropped);
        r.dropped = stopped;
        Ok(r)
    }

    /// The rows and large objects, by [`crate::data`]: resumable per table and range.
    async fn data_step(
        &self,
        cat: &crate::model::Catalog,
        progress: &(dyn Fn(Event<'_>) + Send + Sync),
    ) -> Result<StepReport> {
        use crate::data::Progress as P;
        let started = Instant::now();
        let opts = crate::data::Options {
            jobs: self.jobs,
            ..Default::default()
        };
        let on_progress = |p: P<'_>| match p {
            P::Started { tasks, .. } => progress(Event::StepStarted {
                step: StepName::Data,
                total: tasks,
            }),
            P::TaskDone {
                table,
                tasks_done,
                tasks,
                ..
            } => progress(Event::Progress {
                step: StepName::Data,
                done: tasks_done,
                total: tasks,
                what: table,
            }),
            _ => {}
        };
        let r = crate::data::run(
            &self.source,
            &self.target,
            cat,
            &self.filter,
            &opts,
            &on_progress,
        )
        .await?;
        let mut step = done(StepName::Data, r.tables.len(), started);
        step.rows = Some(r.rows);
        let mut note = format!("{:.1} MB", r.bytes as f64 / (1 << 20) as f64);
        if let Some(l) = &r.large_objects {
            note += &format!(", {} large objects", l.objects + l.skipped);
        }
        if r.tasks_resumed > 0 {
            note += &format!(", resumed after {} of {} tasks", r.tasks_resumed, r.tasks);
        }
        step.note = Some(note);
        Ok(step)
    }

    async fn post_data_step(
        &self,
        cat: &crate::model::Catalog,
        p: Plan,
        progress: &(dyn Fn(Event<'_>) + Send + Sync),
    ) -> Result<StepReport> {
        let started = Instant::now();
        progress(Event::StepStarted {
            step: StepName::PostData,
            total: p.items.len(),
        });
        let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
        let mut opts = crate::postdata::Options {
            jobs: self.jobs,
            build_poll: BUILD_POLL,
            ..Default::default()
        };
        opts.parallel.memory = self.memory;
        let r = crate::postdata::apply_post_data(
            &self.target,
            &p.items,
            &sizes,
            &opts,
            |done, total, what| {
                progress(Event::Progress {
                    step: StepName::PostData,
                    done,
                    total,
                    what,
                })
            },
            |builds| {
                progress(Event::Detail {
                    step: StepName::PostData,
                    what: &crate::build_progress::summary(builds),
                })
            },
        )
        .await?;
        let mut report = done(StepName::PostData, r.applied, started);
        let mut notes = Vec::new();
        if r.skipped > 0 {
            notes.push(format!("{} already there", r.skipped));
        }
        if let Some(kb) = r.memory.maintenance_work_mem_kb {
            notes.push(format!(
                "maintenance_work_mem {} MB per connection",
                kb >> 10
            ));
        }
        if !notes.is_empty() {
            report.note = Some(notes.join(", "));
        }
        Ok(report)
    }
}

/// OIDs of the tables whose rows the data step reads: those the filter keeps that hold rows
/// of their own (not partitioned parents, not foreign tables).
fn copied_tables(cat: &crate::model::Catalog, filter: &Filter) -> Vec<u32> {
    let kept = (!filter.is_empty()).then(|| filter.relations(cat));
    cat.tables
        .iter()
        .filter(|t| t.relkind == 'r')
        .filter(|t| kept.as_ref().is_none_or(|k| k.contains(&t.oid)))
        .map(|t| t.oid)
        .collect()
}

fn done(step: StepName, objects: usize, started: Instant) -> StepReport {
    StepReport {
        step,
        status: StepStatus::Done,
        objects,
        rows: None,
        seconds: started.elapsed().as_secs_f64(),
        note: None,
    }
}

fn already(step: StepName) -> StepReport {
    StepReport {
        step,
        status: StepStatus::AlreadyDone,
        objects: 0,
        rows: None,
        seconds: 0.0,
        note: None,
    }
}

/// The data step's report when the rows are left to another tool, with what to do next.
fn external(tables: usize, next: &str) -> StepReport {
    StepReport {
        step: StepName::Data,
        status: StepStatus::External,
        objects: tables,
        rows: None,
        seconds: 0.0,
        note: Some(next.to_string()),
    }
}

fn skipped(step: StepName) -> StepReport {
    StepReport {
        step,
        status: StepStatus::Skipped,
        objects: 0,
        rows: None,
        seconds: 0.0,
        note: None,
    }
}
