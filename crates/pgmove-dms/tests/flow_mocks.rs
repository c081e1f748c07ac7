//! The DMS flow's state transitions and its resumption against `aws-smithy-mocks`, with real
//! servers for pgmove's side: a run that finds the task stopped after its full load builds
//! post-data, then resumes the task (and post-data is on the target when it does); a run that
//! finds the task streaming does nothing; cutover refuses a task that is not replicating, waits
//! for the latency bound, stops the task, sets sequences, validates, and is done when run again.
mod support;

use aws_sdk_databasemigration::operation::describe_replication_tasks::DescribeReplicationTasksOutput;
use aws_sdk_databasemigration::operation::describe_table_statistics::DescribeTableStatisticsOutput;
use aws_sdk_databasemigration::operation::start_replication_task::StartReplicationTaskOutput;
use aws_sdk_databasemigration::operation::stop_replication_task::StopReplicationTaskOutput;
use aws_sdk_databasemigration::types::{
    ReplicationTask, ReplicationTaskStats, StartReplicationTaskTypeValue, TableStatistics,
};
use aws_sdk_databasemigration::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::DateTime;
use pgmove_core::migrate::{DataMode, Migration};
use pgmove_dms::config::Config;
use pgmove_dms::flow::{self, CutoverOptions, FlowStatus, FlowStep, MigrateOptions};
use pgmove_dms::lifecycle::{LatencyProbe, TaskStatus, WaitOptions};
use pgmove_dms::plan::PlanOptions;
use pgmove_dms::{client, Result};
use pgmove_testkit::{test_pairs, Cluster};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ARN: &str = "arn:aws:dms:eu-west-2:123456789012:task:TEST";

/// The task as the mocked DMS sees it: `loading` (its full load half done; loaded after a few
/// reads), `loaded` (stopped before cached changes), `running`, `stopped` (by a user, or by
/// cutover).
type Phase = Arc<Mutex<&'static str>>;

fn task(phase: &str) -> ReplicationTask {
    let (status, reason) = match phase {
        "loading" | "running" => ("running", None),
        "loaded" => ("stopped", Some("Stop Reason CACHED_CHANGES_NOT_APPLIED")),
        _ => ("stopped", Some("Stop Reason STOPPED_BY_USER")),
    };
    let (percent, loading) = if phase == "loading" {
        (50, 1)
    } else {
        (100, 0)
    };
    ReplicationTask::builder()
        .replication_task_identifier("test-task")
        .replication_task_arn(ARN)
        .status(status)
        .set_stop_reason(reason.map(str::to_string))
        .replication_task_start_date(DateTime::from_secs(1_700_000_000))
        .replication_task_stats(
            ReplicationTaskStats::builder()
                .full_load_progress_percent(percent)
                .tables_loaded(2 - loading)
                .tables_loading(loading)
                .build(),
        )
        .build()
}

/// Describe, statistics, start (resume-processing only) and stop, over one shared phase.
/// Anything else (plan, apply, a fresh start) matches no rule and fails the call.
struct World {
    phase: Phase,
    rules: Vec<Rule>,
}

impl World {
    fn new(phase: &'static str, on_resume: impl Fn() + Send + Sync + 'static) -> World {
        let phase: Phase = Arc::new(Mutex::new(phase));
        let (p1, p2, p3) = (phase.clone(), phase.clone(), phase.clone());
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let rules = vec![
            mock!(Client::describe_replication_tasks).then_compute_output(move |_| {
                let mut p = p1.lock().unwrap();
                if *p == "loading" && reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3 {
                    *p = "loaded";
                }
                DescribeReplicationTasksOutput::builder()
                    .replication_tasks(task(&p))
                    .build()
            }),
            mock!(Client::describe_table_statistics).then_output(|| {
                DescribeTableStatisticsOutput::builder()
                    .replication_task_arn(ARN)
                    .table_statistics(
                        TableStatistics::builder()
                            .schema_name("public")
                            .table_name("account")
                            .table_state("Table completed")
                            .full_load_rows(50)
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::start_replication_task)
                .match_requests(|r| {
                    r.start_replication_task_type()
                        == Some(&StartReplicationTaskTypeValue::ResumeProcessing)
                })
                .then_compute_output(move |_| {
                    on_resume();
                    *p2.lock().unwrap() = "running";
                    StartReplicationTaskOutput::builder()
                        .replication_task(task("running"))
                        .build()
                }),
            mock!(Client::stop_replication_task).then_compute_output(move |_| {
                *p3.lock().unwrap() = "stopped";
                StopReplicationTaskOutput::builder()
                    .replication_task(task("stopped"))
                    .build()
            }),
        ];
        World { phase, rules }
    }

    fn client(&self) -> Client {
        let refs: Vec<&Rule> = self.rules.iter().collect();
        mock_client!(aws_sdk_databasemigration, RuleMode::MatchAny, &refs, |b| b
            .retry_config(client::retry_config(1, Duration::from_millis(1))))
    }

    fn starts(&self) -> usize {
        self.rules[2].num_calls()
    }

    fn stops(&self) -> usize {
        self.rules[3].num_calls()
    }
}

/// Latencies handed out one per reading, the last one repeated.
struct Scripted(Mutex<Vec<Duration>>);
impl LatencyProbe for Scripted {
    async fn latency(&self, _status: &TaskStatus) -> Result<Option<Duration>> {
        let mut v = self.0.lock().unwrap();
        Ok(Some(if v.len() > 1 { v.remove(0) } else { v[0] }))
    }
}

fn fast() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(20),
        poll: Duration::from_millis(5),
    }
}

fn one(c: &Cluster, sql: &str) -> String {
    c.psql("app", &["-At", "-c", sql])
        .unwrap()
        .trim()
        .to_string()
}

const INDEXES: &str = "select count(*) from pg_indexes where schemaname = 'public'";

/// A source with rows and a target where an earlier `migrate --data dms` created the schema
/// and recorded the rows as DMS's, and DMS loaded them.
struct Setup {
    source: Cluster,
    target: Cluster,
    migration: Migration,
    dir: tempfile::TempDir,
}

async fn setup(sm: pgmove_testkit::Major, tm: pgmove_testkit::Major) -> Setup {
    // What DMS needs on the source (9.x defaults to no slots and no senders).
    let source = Cluster::builder(sm)
        .setting("wal_level", "logical")
        .setting("max_replication_slots", "4")
        .setting("max_wal_senders", "4")
        .start()
        .unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("app").unwrap();
    target.create_db("app").unwrap();
    source
        .sql(
            "app",
            "create table account (id serial primary key, name text not null unique);
             create table note (id serial primary key, account_id int not null references account,
                                body text);
             insert into account (name) select 'a' || g from generate_series(1, 50) g;
             insert into note (account_id, body) select 1 + g % 50, 'n' || g
               from generate_series(1, 120) g;",
        )
        .unwrap();
    let migration = Migration::new(
        source.url("app").parse().unwrap(),
        target.url("app").parse().unwrap(),
    )
    .jobs(2)
    .data(DataMode::ExternalReplication);
    let r = Box::pin(migration.run(&|_| {})).await.unwrap();
    assert!(r.waiting_for_data);
    source.copy_rows("app", &target, "app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    support::write_config(dir.path());
    Setup {
        source,
        target,
        migration,
        dir,
    }
}

fn migrate_options(s: &Setup) -> MigrateOptions {
    MigrateOptions {
        source: s.source.url("app"),
        target: s.target.url("app").parse().unwrap(),
        plan: PlanOptions::default(),
        wait: fast(),
    }
}

#[tokio::test]
async fn after_the_full_load_post_data_is_built_then_the_task_resumed() {
    for (sm, tm) in test_pairs() {
        let s = setup(sm, tm).await;
        let loaded = Config::load(&s.dir.path().join("dms.toml")).unwrap();
        assert_eq!(one(&s.target, INDEXES), "0");

        // What the target holds at the moment DMS is told to resume.
        let at_resume = Arc::new(Mutex::new(None));
        let (seen, psql, conninfo) = (
            at_resume.clone(),
            pgmove_testkit::client_bin_dir().unwrap().join("psql"),
            s.target.conninfo("app"),
        );
        let world = World::new("loaded", move || {
            let o = std::process::Command::new(&psql)
                .args(["-At", "-d", &conninfo, "-c", INDEXES])
                .output()
                .unwrap();
            *seen.lock().unwrap() = Some(String::from_utf8_lossy(&o.stdout).trim().to_string());
        });
        let c = world.client();
        let probe = Scripted(Mutex::new(vec![Duration::from_millis(700)]));
        let r = flow::migrate_with(
            &c,
            &loaded,
            &s.migration,
            &migrate_options(&s),
            &probe,
            &|_| {},
        )
        .await
        .unwrap();
        let got: Vec<(FlowStep, FlowStatus)> = r.steps.iter().map(|x| (x.step, x.status)).collect();
        use FlowStatus::*;
        assert_eq!(
            got,
            [
                (FlowStep::Plan, AlreadyDone),
                (FlowStep::Schema, AlreadyDone),
                (FlowStep::Apply, AlreadyDone),
                (FlowStep::Start, AlreadyDone),
                (FlowStep::FullLoad, AlreadyDone),
                (FlowStep::PostData, Done),
                (FlowStep::Resume, Done),
                (FlowStep::Cdc, Done),
            ]
        );
        assert_eq!(world.starts(), 1);
        assert_eq!(*world.phase.lock().unwrap(), "running");
        // Post-data (two keys, a unique constraint) was there before DMS resumed.
        assert_eq!(at_resume.lock().unwrap().as_deref(), Some("3"));
        assert!(r.passed(), "{r:#?}");
        assert_eq!(r.cdc_latency_seconds, Some(0.7));
        // No plan was written: the task had run, its plan is the one it runs with.
        assert!(!s.dir.path().join("plan").exists());

        // Again, with the task streaming: nothing started, nothing built.
        let r = flow::migrate_with(
            &c,
            &loaded,
            &s.migration,
            &migrate_options(&s),
            &probe,
            &|_| {},
        )
        .await
        .unwrap();
        assert!(
            r.steps[..7].iter().all(|x| x.status == AlreadyDone),
            "{:?}",
            r.steps
        );
        assert_eq!(world.starts(), 1);
    }
}

#[tokio::test]
async fn cutover_waits_for_the_bound_stops_sets_sequences_and_validates() {
    for (sm, tm) in test_pairs() {
        let s = setup(sm, tm).await;
        let loaded = Config::load(&s.dir.path().join("dms.toml")).unwrap();
        // Post-data, as `migrate --data dms` builds it after the full load.
        let r = Box::pin(s.migration.run(&|_| {})).await.unwrap();
        assert!(r.passed(), "{r:#?}");

        let opts = CutoverOptions {
            source: s.source.url("app").parse().unwrap(),
            target: s.target.url("app").parse().unwrap(),
            filter: Default::default(),
            margin: 100,
            max_latency: Duration::from_secs(5),
            wait: fast(),
            jobs: 2,
            destroy: true,
        };

        // A task a user stopped is not replicating: refused, nothing changed.
        let world = World::new("stopped", || {});
        let c = world.client();
        let probe = Scripted(Mutex::new(vec![Duration::from_secs(1)]));
        let e = flow::cutover_with(&c, &loaded, &opts, &probe, |_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not replicating") && !e.contains('\n'), "{e}");
        assert_eq!(world.stops(), 0);
        assert_eq!(one(&s.target, "select last_value from account_id_seq"), "1");

        // A cutover that began (its mark on the target) is not undone by `migrate`: refused.
        s.target
            .sql(
                "app",
                &set_record("jsonb_set(r, '{steps,dms-cutover}', '\"stopped\"')"),
            )
            .unwrap();
        let e = flow::migrate_with(
            &c,
            &loaded,
            &s.migration,
            &migrate_options(&s),
            &probe,
            &|_| {},
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("a cutover of this migration has begun"), "{e}");
        assert_eq!(world.starts(), 0);
        s.target
            .sql("app", &set_record("r #- '{steps,dms-cutover}'"))
            .unwrap();

        // Streaming: waits until the latency is under the bound, then stops. The slot DMS
        // streamed from stays on the source, idle: the report names it.
        *world.phase.lock().unwrap() = "running";
        s.source
            .sql(
                "app",
                "select pg_create_logical_replication_slot('dms_left', 'test_decoding')",
            )
            .unwrap();
        let probe = Scripted(Mutex::new(vec![
            Duration::from_secs(40),
            Duration::from_secs(12),
            Duration::from_secs(3),
        ]));
        let mut polls = 0;
        let r = flow::cutover_with(&c, &loaded, &opts, &probe, |_| polls += 1)
            .await
            .unwrap();
        assert!(r.passed(), "{r:#?}");
        assert!(r.stopped_task);
        assert!(polls >= 3, "{polls}");
        assert_eq!(r.latency_seconds, Some(3.0));
        assert_eq!(world.stops(), 1);
        assert_eq!(r.sequences_set.len(), 2);
        assert!(r.open_writes.is_empty(), "{:?}", r.open_writes);
        assert_eq!(r.idle_source_slots, ["dms_left"]);
        // Nothing was created by apply here: nothing to destroy.
        assert!(r.destroyed.is_empty());
        assert_eq!(
            one(&s.target, "select last_value from account_id_seq"),
            "150"
        );
        assert_eq!(one(&s.target, "select last_value from note_id_seq"), "220");
        assert_eq!(
            one(
                &s.target,
                "select count(*) from pg_namespace where nspname = 'pgmove_migrate'"
            ),
            "0"
        );

        // `migrate --data dms` after the cutover: the task ran, the target has no record.
        let e = flow::migrate_with(
            &c,
            &loaded,
            &s.migration,
            &migrate_options(&s),
            &probe,
            &|_| {},
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("has run already") && e.contains("nothing was changed"),
            "{e}"
        );
        assert_eq!(world.starts(), 0);

        // Again: already done, the task not touched, sequences not moved.
        s.source
            .sql("app", "select setval('account_id_seq', 10)")
            .unwrap();
        let r = flow::cutover_with(&c, &loaded, &opts, &probe, |_| {})
            .await
            .unwrap();
        assert!(r.already_done && r.passed());
        assert_eq!(world.stops(), 1);
        assert_eq!(
            one(&s.target, "select last_value from account_id_seq"),
            "150"
        );
    }
}

#[tokio::test]
async fn a_run_killed_during_the_full_load_waits_for_it_before_post_data() {
    let (sm, tm) = test_pairs()[0];
    let s = setup(sm, tm).await;
    let loaded = Config::load(&s.dir.path().join("dms.toml")).unwrap();
    let world = World::new("loading", || {});
    let c = world.client();
    let probe = Scripted(Mutex::new(vec![Duration::from_secs(2)]));
    let seen = Mutex::new(Vec::new());
    let progress = |e: flow::Event<'_>| match e {
        flow::Event::Task(t) => seen
            .lock()
            .unwrap()
            .push(format!("task {}", t.full_load_percent)),
        flow::Event::Step(r) if r.step == FlowStep::PostData => {
            seen.lock().unwrap().push("post-data".into())
        }
        _ => {}
    };
    let r = flow::migrate_with(
        &c,
        &loaded,
        &s.migration,
        &migrate_options(&s),
        &probe,
        &progress,
    )
    .await
    .unwrap();
    let full_load = r
        .steps
        .iter()
        .find(|x| x.step == FlowStep::FullLoad)
        .unwrap();
    assert_eq!(full_load.status, FlowStatus::Done);
    assert!(r.passed(), "{r:#?}");
    assert_eq!(world.starts(), 1);
    // Every read before post-data showed the load half done until it was whole.
    let seen = seen.into_inner().unwrap();
    let at = seen.iter().position(|x| x == "post-data").unwrap();
    assert!(seen[..at].iter().any(|x| x == "task 50"), "{seen:?}");
    assert_eq!(seen[at - 1], "task 100", "{seen:?}");
    assert_eq!(one(&s.target, INDEXES), "3");
}

#[tokio::test]
async fn a_source_dms_cannot_replicate_is_refused_before_anything_is_written() {
    let (sm, tm) = test_pairs()[0];
    // wal_level stays replica: no CDC.
    let source = Cluster::start(sm).unwrap();
    let target = Cluster::start(tm).unwrap();
    source.create_db("app").unwrap();
    target.create_db("app").unwrap();
    source
        .sql("app", "create table t (id int primary key)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let loaded = Config::load(&support::write_config(dir.path())).unwrap();
    // DMS knows no task yet; nothing else may be called.
    let none = mock!(Client::describe_replication_tasks)
        .then_output(|| DescribeReplicationTasksOutput::builder().build());
    let c = mock_client!(aws_sdk_databasemigration, RuleMode::MatchAny, &[&none]);
    let migration = Migration::new(
        source.url("app").parse().unwrap(),
        target.url("app").parse().unwrap(),
    );
    let opts = MigrateOptions {
        source: source.url("app"),
        target: target.url("app").parse().unwrap(),
        plan: PlanOptions::default(),
        wait: fast(),
    };
    let probe = Scripted(Mutex::new(vec![Duration::from_secs(1)]));
    let e = flow::migrate_with(&c, &loaded, &migration, &opts, &probe, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("DMS preflight failed, nothing created on the target or in AWS: wal_level: wal_level = ")
            && e.contains("CDC needs logical"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    assert_eq!(none.num_calls(), 1);
    assert_eq!(
        one(
            &target,
            "select count(*) from pg_tables where schemaname = 'public'"
        ),
        "0"
    );
    assert_eq!(
        one(
            &target,
            "select count(*) from pg_namespace where nspname = 'pgmove_migrate'"
        ),
        "0"
    );
}

/// SQL that rewrites the migration record on the target (the `pgmove_migrate` schema's JSON
/// comment) to `expr`, in which `r` is the record as jsonb: how a test puts a run in a state.
fn set_record(expr: &str) -> String {
    format!(
        "DO $$ DECLARE r jsonb := obj_description('pgmove_migrate'::regnamespace, 'pg_namespace')::jsonb;
         BEGIN EXECUTE format('COMMENT ON SCHEMA pgmove_migrate IS %L', ({expr})::text); END $$"
    )
}
