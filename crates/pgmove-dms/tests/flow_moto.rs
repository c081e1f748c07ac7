//! `migrate --data dms` and its cutover against moto's DMS (the calls and their order) with real
//! servers for pgmove's side: a run stopped after the schema is continued with plan → apply →
//! start → full load → post-data → resume; a second run changes nothing; cutover stops the task, sets sequences, validates and
//! destroys what apply created; a second cutover has nothing to do.
//! One test per binary: it sets the process's AWS environment.
mod support;

use pgmove_core::migrate::{DataMode, Migration};
use pgmove_dms::config::{AwsSettings, Config};
use pgmove_dms::flow::{self, CutoverOptions, Event, FlowStatus, FlowStep, MigrateOptions};
use pgmove_dms::lifecycle::{LatencyProbe, TaskStatus, WaitOptions};
use pgmove_dms::plan::PlanOptions;
use pgmove_dms::{client, Result};
use pgmove_testkit::Cluster;
use std::sync::Mutex;
use std::time::Duration;

/// moto moves no rows and holds no slot on the source: a latency DMS would report.
struct Latency(Duration);
impl LatencyProbe for Latency {
    async fn latency(&self, _status: &TaskStatus) -> Result<Option<Duration>> {
        Ok(Some(self.0))
    }
}

fn fast() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(30),
        poll: Duration::from_millis(50),
    }
}

fn one(c: &Cluster, sql: &str) -> String {
    c.psql("app", &["-At", "-c", sql])
        .unwrap()
        .trim()
        .to_string()
}

const SCHEMA: &str = "
    create table account (id serial primary key, name text not null unique);
    create table note (id bigserial primary key, account_id int not null references account,
                       body text);
    create index note_account on note (account_id);
    insert into account (name) select 'a' || g from generate_series(1, 50) g;
    insert into note (account_id, body) select 1 + g % 50, repeat('x', g)
      from generate_series(1, 200) g;";

const INDEXES: &str = "select count(*) from pg_indexes where schemaname = 'public'";

#[tokio::test]
async fn migrate_resume_and_cutover_against_moto() {
    let moto = support::Moto::start();
    support::set_aws_env(&moto.url());
    let source = Cluster::builder(15)
        .setting("wal_level", "logical")
        .start()
        .unwrap();
    let target = Cluster::start(15).unwrap();
    source.create_db("app").unwrap();
    target.create_db("app").unwrap();
    source.sql("app", SCHEMA).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let loaded = Config::load(&support::write_config(dir.path())).unwrap();
    let client = client::build(&AwsSettings::default()).await.unwrap();
    let migration = Migration::new(
        source.url("app").parse().unwrap(),
        target.url("app").parse().unwrap(),
    )
    .jobs(2);
    let opts = MigrateOptions {
        source: source.url("app"),
        target: target.url("app").parse().unwrap(),
        plan: PlanOptions::default(),
        wait: fast(),
    };
    let seen = Mutex::new(Vec::new());
    let progress = |e: Event<'_>| {
        if let Event::Step(s) = e {
            seen.lock().unwrap().push((s.step, s.status));
        }
    };
    let probe = Latency(Duration::from_millis(200));

    // An earlier run stopped once the schema was committed (the process was killed before it
    // reached DMS): the schema and the record of it are on the target, nothing on DMS.
    let r = Box::pin(
        migration
            .clone()
            .data(DataMode::ExternalReplication)
            .run(&|_| {}),
    )
    .await
    .unwrap();
    assert!(r.waiting_for_data);

    // The run that continues it: every other step, the DMS calls in their order.
    let r = flow::migrate_with(&client, &loaded, &migration, &opts, &probe, &progress)
        .await
        .unwrap();
    let steps: Vec<FlowStep> = r.steps.iter().map(|s| s.step).collect();
    assert_eq!(
        steps,
        [
            FlowStep::Plan,
            FlowStep::Schema,
            FlowStep::Apply,
            FlowStep::Start,
            FlowStep::FullLoad,
            FlowStep::PostData,
            FlowStep::Resume,
            FlowStep::Cdc
        ]
    );
    let statuses: Vec<FlowStatus> = r.steps.iter().map(|s| s.status).collect();
    let mut want = [FlowStatus::Done; 8];
    want[1] = FlowStatus::AlreadyDone;
    assert_eq!(statuses, want, "{:?}", r.steps);
    assert_eq!(seen.lock().unwrap().len(), 8);
    assert!(r.passed(), "{r:#?}");
    assert_eq!(r.task.as_ref().unwrap().status, "running");
    assert_eq!(r.cdc_latency_seconds, Some(0.2));
    assert!(dir.path().join("plan/table-mappings.json").is_file());
    assert_eq!(
        moto.changes(),
        [
            "CreateReplicationSubnetGroup",
            "CreateReplicationInstance",
            "CreateEndpoint",
            "CreateEndpoint",
            "TestConnection",
            "TestConnection",
            "CreateReplicationTask",
            "StartReplicationTask start-replication",
            "StartReplicationTask resume-processing",
        ]
    );
    // Schema and post-data on the target, sequences left to cutover, the record kept.
    assert_eq!(one(&target, INDEXES), "4");
    assert_eq!(one(&target, "select count(*) from account"), "0");
    assert_eq!(
        one(
            &target,
            "select last_value || ' ' || is_called from account_id_seq"
        ),
        "1 false"
    );
    assert_eq!(
        one(
            &target,
            "select string_agg(key || '=' || value, ' ' order by key) \
               from jsonb_each_text(obj_description('pgmove_migrate'::regnamespace, \
                                                    'pg_namespace')::jsonb -> 'steps')"
        ),
        "data=external-replication post-data=done schema=done"
    );

    // Second run: nothing to do on either side.
    let r = flow::migrate_with(&client, &loaded, &migration, &opts, &probe, &|_| {})
        .await
        .unwrap();
    let statuses: Vec<FlowStatus> = r.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [[FlowStatus::AlreadyDone; 7].as_slice(), &[FlowStatus::Done]].concat()
    );
    assert!(r.passed());
    assert_eq!(moto.changes(), Vec::<String>::new());

    // DMS's rows (the full load and the changes since), then the application's writes stop.
    source.copy_rows("app", &target, "app").unwrap();

    let cut = CutoverOptions {
        source: source.url("app").parse().unwrap(),
        target: target.url("app").parse().unwrap(),
        filter: Default::default(),
        margin: 1000,
        max_latency: Duration::from_secs(5),
        wait: fast(),
        jobs: 2,
        destroy: true,
    };
    let c = flow::cutover_with(&client, &loaded, &cut, &probe, |_| {})
        .await
        .unwrap();
    assert!(c.passed(), "{c:#?}");
    assert!(c.stopped_task);
    assert_eq!(c.latency_seconds, Some(0.2));
    assert_eq!(c.sequences_set.len(), 2, "{:?}", c.sequences_set);
    assert_eq!(c.destroyed.len(), 5, "{:?}", c.destroyed);
    assert_eq!(
        moto.changes(),
        [
            "StopReplicationTask",
            "DeleteReplicationTask",
            "DeleteEndpoint",
            "DeleteEndpoint",
            "DeleteReplicationInstance",
            "DeleteReplicationSubnetGroup",
        ]
    );
    // Sequences past the source's with the margin; nothing of pgmove's left on the target.
    assert_eq!(
        one(&target, "select last_value from account_id_seq"),
        "1050"
    );
    assert_eq!(one(&target, "select last_value from note_id_seq"), "1200");
    assert_eq!(
        one(
            &target,
            "select count(*) from pg_namespace where nspname = 'pgmove_migrate'"
        ),
        "0"
    );
    assert!(!loaded.state_file().exists());

    // Again: nothing to do, nothing called.
    let c = flow::cutover_with(&client, &loaded, &cut, &probe, |_| {})
        .await
        .unwrap();
    assert!(c.already_done && c.passed() && c.destroyed.is_empty());
    assert_eq!(moto.changes(), Vec::<String>::new());
}
