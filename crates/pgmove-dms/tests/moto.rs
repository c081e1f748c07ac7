//! `apply → start → resume → status → stop → destroy` against a real local DMS API (moto).
//! One test per binary: it sets the process's AWS environment.
mod support;

use pgmove_dms::apply::{self, Outcome, State};
use pgmove_dms::config::{AwsSettings, Config};
use pgmove_dms::lifecycle::{self, StartMode};
use pgmove_dms::{client, Error};

#[tokio::test]
async fn apply_start_status_stop_destroy_against_moto() {
    let moto = support::Moto::start();
    support::set_aws_env(&moto.url());
    let dir = tempfile::tempdir().unwrap();
    support::write_small_plan(dir.path());
    let loaded = Config::load(&support::write_config(dir.path())).unwrap();
    let client = client::build(&AwsSettings::default()).await.unwrap();

    // First apply creates the five resources and tests both connections.
    let first = apply::apply_with(&client, &loaded).await.unwrap();
    print!("{}", first.render());
    assert_eq!(first.created(), 5, "{}", first.render());
    assert_eq!(
        first.connections,
        [
            ("test-src".to_string(), "successful".to_string()),
            ("test-dst".to_string(), "successful".to_string())
        ]
    );
    let state = State::load(&loaded.state_file()).unwrap();
    assert!(state.task_arn.is_some() && state.instance_arn.is_some());
    assert_eq!(state.subnet_group_id.as_deref(), Some("test-sg"));

    // The task carries the plan as written.
    let task = apply::describe_task(&client, "test-task")
        .await
        .unwrap()
        .unwrap();
    let (mappings, _) = apply::read_plan(&loaded.plan_dir()).unwrap();
    assert_eq!(task.table_mappings(), Some(mappings.as_str()));

    // The endpoints carry the settings that keep data whole, and the target its secret.
    let eps = client.describe_endpoints().send().await.unwrap();
    let src = eps
        .endpoints()
        .iter()
        .find(|e| e.endpoint_identifier() == Some("test-src"))
        .unwrap();
    let pg = src.postgre_sql_settings().unwrap();
    assert_eq!(pg.fail_tasks_on_lob_truncation(), Some(true));
    assert_eq!(pg.map_boolean_as_boolean(), Some(true));
    assert_eq!(
        src.extra_connection_attributes(),
        Some("MapUnboundedNumericAsString=true")
    );
    let dst = eps
        .endpoints()
        .iter()
        .find(|e| e.endpoint_identifier() == Some("test-dst"))
        .unwrap();
    let pg = dst.postgre_sql_settings().unwrap();
    assert!(pg
        .secrets_manager_secret_id()
        .is_some_and(|s| s.starts_with("arn:aws:secretsmanager:")));
    assert_eq!(pg.fail_tasks_on_lob_truncation(), None);

    // Second apply creates nothing.
    let second = apply::apply_with(&client, &loaded).await.unwrap();
    assert_eq!(second.created(), 0, "{}", second.render());
    assert!(second.actions.iter().all(|a| a.outcome == Outcome::Exists));
    assert_eq!(State::load(&loaded.state_file()).unwrap(), state);

    // The path the CLI takes (client from the config + environment) works too. A fresh task
    // starts its full load and, as the plan asks, stops before cached changes apply (the
    // wrapper's DMS loads at once); the next start resumes it.
    let st = lifecycle::start(&loaded, StartMode::Auto).await.unwrap();
    assert_eq!(st.status, "stopped");
    assert!(st.full_load_done(), "{}", st.render());
    let st = lifecycle::start(&loaded, StartMode::Auto).await.unwrap();
    assert_eq!(st.status, "running");
    assert_eq!(
        moto.changes()
            .into_iter()
            .filter(|c| c.starts_with("Start"))
            .collect::<Vec<_>>(),
        [
            "StartReplicationTask start-replication",
            "StartReplicationTask resume-processing"
        ]
    );

    let st = lifecycle::status(&loaded).await.unwrap();
    print!("{}", st.render());
    assert_eq!(st.status, "running");
    assert_eq!(st.id, "test-task");
    // moto's dates reached the SDK as epoch seconds (the wrapper's job): the start date parsed.
    assert!(st.ever_started);

    let st = lifecycle::stop_with(&client, "test-task").await.unwrap();
    assert_eq!(st.status, "stopped");
    // Stopping a stopped task is a no-op, not an error.
    let st = lifecycle::stop_with(&client, "test-task").await.unwrap();
    assert_eq!(st.status, "stopped");

    let deleted = lifecycle::destroy_with(&client, &loaded).await.unwrap();
    let kinds: Vec<&str> = deleted.iter().map(|d| d.0).collect();
    assert_eq!(
        kinds,
        [
            "task",
            "source endpoint",
            "target endpoint",
            "replication instance",
            "subnet group"
        ]
    );
    assert!(!loaded.state_file().exists());
    assert!(apply::describe_task(&client, "test-task")
        .await
        .unwrap()
        .is_none());
    assert!(apply::describe_instance(&client, "test-dms")
        .await
        .unwrap()
        .is_none());
    // Nothing left to destroy; status now says the task is gone, in one line.
    assert!(lifecycle::destroy_with(&client, &loaded)
        .await
        .unwrap()
        .is_empty());
    let e = lifecycle::status_with(&client, "test-task")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::State(_)));
    assert!(!e.to_string().contains('\n'), "{e}");
}
