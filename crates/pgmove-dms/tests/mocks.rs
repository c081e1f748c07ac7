//! What moto lacks, against `aws-smithy-mocks`: table statistics and progress, waits on state
//! transitions (full load done, CDC latency), start's choice of start type, apply's task update,
//! throttling retried with backoff, and one-line errors.
mod support;

use aws_sdk_databasemigration::operation::describe_replication_tasks::{
    DescribeReplicationTasksError, DescribeReplicationTasksOutput,
};
use aws_sdk_databasemigration::operation::describe_table_statistics::DescribeTableStatisticsOutput;
use aws_sdk_databasemigration::types::{
    Connection, Endpoint, ReplicationInstance, ReplicationSubnetGroup, ReplicationTask,
    ReplicationTaskStats, StartReplicationTaskTypeValue, TableStatistics,
};
use aws_sdk_databasemigration::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::DateTime;
use pgmove_dms::apply::{self, Outcome};
use pgmove_dms::config::Config;
use pgmove_dms::error::AwsErrorKind;
use pgmove_dms::lifecycle::{
    self, LatencyProbe, NoLatency, StartMode, TaskStatus, WaitFor, WaitOptions,
};
use pgmove_dms::{client, Error, Result};
use std::sync::Mutex;
use std::time::Duration;

const ARN: &str = "arn:aws:dms:eu-west-2:123456789012:task:TEST";

fn client_with(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_databasemigration, RuleMode::MatchAny, rules, |b| b
        .retry_config(client::retry_config(3, Duration::from_millis(1))))
}

struct T {
    status: &'static str,
    pct: i32,
    loaded: i32,
    loading: i32,
    queued: i32,
    errored: i32,
    stop_reason: Option<&'static str>,
    failure: Option<&'static str>,
    started: bool,
}

impl Default for T {
    fn default() -> Self {
        T {
            status: "running",
            pct: 0,
            loaded: 0,
            loading: 0,
            queued: 0,
            errored: 0,
            stop_reason: None,
            failure: None,
            started: true,
        }
    }
}

fn task(t: T) -> DescribeReplicationTasksOutput {
    let mut b = ReplicationTask::builder()
        .replication_task_identifier("test-task")
        .replication_task_arn(ARN)
        .status(t.status)
        .table_mappings(r#"{"rules":[]}"#)
        .replication_task_stats(
            ReplicationTaskStats::builder()
                .full_load_progress_percent(t.pct)
                .tables_loaded(t.loaded)
                .tables_loading(t.loading)
                .tables_queued(t.queued)
                .tables_errored(t.errored)
                .elapsed_time_millis(12_000)
                .build(),
        );
    if let Some(r) = t.stop_reason {
        b = b.stop_reason(r);
    }
    if let Some(m) = t.failure {
        b = b.last_failure_message(m);
    }
    if t.started {
        b = b.replication_task_start_date(DateTime::from_secs(1_700_000_000));
    }
    DescribeReplicationTasksOutput::builder()
        .replication_tasks(b.build())
        .build()
}

fn table(name: &str, state: &str, rows: i64) -> TableStatistics {
    TableStatistics::builder()
        .schema_name("public")
        .table_name(name)
        .table_state(state)
        .full_load_rows(rows)
        .inserts(3)
        .updates(2)
        .deletes(1)
        .build()
}

fn stats(tables: Vec<TableStatistics>, marker: Option<&str>) -> DescribeTableStatisticsOutput {
    DescribeTableStatisticsOutput::builder()
        .replication_task_arn(ARN)
        .set_table_statistics(Some(tables))
        .set_marker(marker.map(str::to_string))
        .build()
}

fn stats_rule() -> Rule {
    mock!(Client::describe_table_statistics)
        .then_output(|| stats(vec![table("actor", "Table completed", 200)], None))
}

fn fast() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(10),
        poll: Duration::from_millis(1),
    }
}

fn one_line(e: &Error) -> String {
    let s = e.to_string();
    println!("{s}");
    assert!(!s.contains('\n'), "not one line: {s}");
    s
}

#[tokio::test]
async fn status_shows_overall_and_per_table_progress_across_pages() {
    let tasks = mock!(Client::describe_replication_tasks).then_output(|| {
        task(T {
            pct: 50,
            loaded: 1,
            loading: 1,
            ..Default::default()
        })
    });
    let page1 = mock!(Client::describe_table_statistics)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| stats(vec![table("film", "Full load", 500)], Some("m1")));
    let page2 = mock!(Client::describe_table_statistics)
        .match_requests(|r| r.marker() == Some("m1"))
        .then_output(|| stats(vec![table("actor", "Table completed", 200)], None));
    let c = client_with(&[&tasks, &page1, &page2]);
    let st = lifecycle::status_with(&c, "test-task").await.unwrap();
    assert_eq!(st.status, "running");
    assert_eq!(st.full_load_percent, 50);
    let names: Vec<&str> = st.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(names, ["actor", "film"]);
    let text = st.render();
    assert!(text.contains("full load 50%"), "{text}");
    assert!(text.contains("public.film: Full load | rows 500"), "{text}");
    assert!(text.contains("cdc +3 ~2 -1"), "{text}");
}

#[tokio::test]
async fn wait_full_load_polls_until_the_task_stops_before_cached_changes() {
    let tasks = mock!(Client::describe_replication_tasks)
        .sequence()
        .output(|| {
            task(T {
                pct: 10,
                loading: 2,
                queued: 3,
                ..Default::default()
            })
        })
        .output(|| {
            task(T {
                pct: 80,
                loaded: 4,
                loading: 1,
                ..Default::default()
            })
        })
        .output(|| {
            task(T {
                status: "stopped",
                pct: 100,
                loaded: 5,
                stop_reason: Some("Stop Reason CACHED_CHANGES_NOT_APPLIED"),
                ..Default::default()
            })
        })
        .build();
    let stats = stats_rule();
    let c = client_with(&[&tasks, &stats]);
    let mut seen = Vec::new();
    let st = lifecycle::wait_with(
        &c,
        "test-task",
        &WaitFor::FullLoadDone,
        &NoLatency,
        fast(),
        |s: &TaskStatus| seen.push(s.full_load_percent),
    )
    .await
    .unwrap();
    assert_eq!(seen, [10, 80, 100]);
    assert_eq!(st.status, "stopped");
    assert_eq!(tasks.num_calls(), 3);
}

#[tokio::test]
async fn wait_full_load_fails_at_once_on_an_errored_table() {
    let tasks = mock!(Client::describe_replication_tasks).then_output(|| {
        task(T {
            pct: 60,
            loaded: 1,
            errored: 1,
            ..Default::default()
        })
    });
    let stats = mock!(Client::describe_table_statistics)
        .then_output(|| stats(vec![table("film", "Table error", 0)], None));
    let c = client_with(&[&tasks, &stats]);
    let e = lifecycle::wait_with(
        &c,
        "test-task",
        &WaitFor::FullLoadDone,
        &NoLatency,
        fast(),
        |_| {},
    )
    .await
    .unwrap_err();
    let s = one_line(&e);
    assert!(
        s.contains("1 tables errored") && s.contains("public.film"),
        "{s}"
    );
}

#[tokio::test]
async fn wait_fails_when_the_task_fails_and_times_out_in_one_line() {
    let failed = mock!(Client::describe_replication_tasks).then_output(|| {
        task(T {
            status: "failed",
            failure: Some("Last Error ODBC general error.\nTask error"),
            ..Default::default()
        })
    });
    let stats = stats_rule();
    let c = client_with(&[&failed, &stats]);
    let e = lifecycle::wait_with(
        &c,
        "test-task",
        &WaitFor::FullLoadDone,
        &NoLatency,
        fast(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(one_line(&e).contains("failed: Last Error ODBC general error."));

    let running = mock!(Client::describe_replication_tasks).then_output(|| task(T::default()));
    let stats = stats_rule();
    let c = client_with(&[&running, &stats]);
    let opts = WaitOptions {
        timeout: Duration::from_millis(30),
        poll: Duration::from_millis(5),
    };
    let e = lifecycle::wait_with(
        &c,
        "test-task",
        &WaitFor::Status("stopped".into()),
        &NoLatency,
        opts,
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)));
    one_line(&e);
}

/// Latencies handed out one per poll.
struct Scripted(Mutex<Vec<Option<Duration>>>);

impl LatencyProbe for Scripted {
    async fn latency(&self, _status: &TaskStatus) -> Result<Option<Duration>> {
        let mut v = self.0.lock().unwrap();
        Ok(if v.len() > 1 { v.remove(0) } else { v[0] })
    }
}

#[tokio::test]
async fn wait_cdc_latency_under_a_bound() {
    let tasks = mock!(Client::describe_replication_tasks).then_output(|| {
        task(T {
            pct: 100,
            loaded: 5,
            ..Default::default()
        })
    });
    let stats = stats_rule();
    let c = client_with(&[&tasks, &stats]);
    let probe = Scripted(Mutex::new(vec![
        None,
        Some(Duration::from_secs(120)),
        Some(Duration::from_secs(30)),
        Some(Duration::from_secs(2)),
    ]));
    let mut polls = 0;
    lifecycle::wait_with(
        &c,
        "test-task",
        &WaitFor::CdcLatencyBelow(Duration::from_secs(5)),
        &probe,
        fast(),
        |_| polls += 1,
    )
    .await
    .unwrap();
    assert_eq!(polls, 4);
}

#[tokio::test]
async fn start_starts_a_fresh_task_and_resumes_a_stopped_one() {
    for (status, started, want) in [
        (
            "ready",
            false,
            StartReplicationTaskTypeValue::StartReplication,
        ),
        (
            "stopped",
            true,
            StartReplicationTaskTypeValue::ResumeProcessing,
        ),
    ] {
        let tasks = mock!(Client::describe_replication_tasks).then_output(move || {
            task(T {
                status,
                started,
                ..Default::default()
            })
        });
        let want2 = want.clone();
        let start = mock!(Client::start_replication_task)
            .match_requests(move |r| r.start_replication_task_type() == Some(&want2))
            .then_output(|| {
                aws_sdk_databasemigration::operation::start_replication_task::StartReplicationTaskOutput::builder()
                    .replication_task(
                        ReplicationTask::builder()
                            .replication_task_identifier("test-task")
                            .replication_task_arn(ARN)
                            .status("starting")
                            .build(),
                    )
                    .build()
            });
        let c = client_with(&[&tasks, &start]);
        let st = lifecycle::start_with(&c, "test-task", StartMode::Auto)
            .await
            .unwrap();
        assert_eq!(st.status, "starting");
        assert_eq!(start.num_calls(), 1, "{status}: expected {want:?}");
    }
}

fn throttled() -> DescribeReplicationTasksError {
    DescribeReplicationTasksError::generic(
        ErrorMetadata::builder()
            .code("ThrottlingException")
            .message("Rate exceeded")
            .build(),
    )
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    let tasks = mock!(Client::describe_replication_tasks)
        .sequence()
        .error(throttled)
        .times(2)
        .output(|| task(T::default()))
        .build();
    let stats = stats_rule();
    let c = client_with(&[&tasks, &stats]);
    let st = lifecycle::status_with(&c, "test-task").await.unwrap();
    assert_eq!(st.status, "running");
    assert_eq!(tasks.num_calls(), 3);
}

#[tokio::test]
async fn throttling_past_the_attempts_is_one_clear_line() {
    let tasks = mock!(Client::describe_replication_tasks).then_error(throttled);
    let c = client_with(&[&tasks]);
    let e = lifecycle::status_with(&c, "test-task").await.unwrap_err();
    assert_eq!(e.aws_kind(), Some(AwsErrorKind::Throttled));
    let s = one_line(&e);
    assert!(
        s.contains("DescribeReplicationTasks") && s.contains("throttled"),
        "{s}"
    );
    assert_eq!(tasks.num_calls(), 3, "three attempts");
}

#[tokio::test]
async fn access_denied_is_one_clear_line() {
    let tasks = mock!(Client::describe_replication_tasks).then_error(|| {
        DescribeReplicationTasksError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message(
                    "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: \
                     dms:DescribeReplicationTasks",
                )
                .build(),
        )
    });
    let c = client_with(&[&tasks]);
    let e = lifecycle::status_with(&c, "test-task").await.unwrap_err();
    assert_eq!(e.aws_kind(), Some(AwsErrorKind::AccessDenied));
    let s = one_line(&e);
    assert!(
        s.starts_with("AWS DescribeReplicationTasks: access denied"),
        "{s}"
    );
    assert!(s.contains("not authorized"), "{s}");
    assert_eq!(tasks.num_calls(), 1, "access denied is not retried");
}

/// Everything apply describes exists; the task's table mappings differ from the plan.
fn existing_world(task_status: &'static str) -> Vec<Rule> {
    use aws_sdk_databasemigration::operation::{
        describe_connections::DescribeConnectionsOutput,
        describe_endpoints::DescribeEndpointsOutput,
        describe_replication_instances::DescribeReplicationInstancesOutput,
        describe_replication_subnet_groups::DescribeReplicationSubnetGroupsOutput,
        test_connection::TestConnectionOutput,
    };
    vec![
        mock!(Client::describe_replication_subnet_groups).then_output(|| {
            DescribeReplicationSubnetGroupsOutput::builder()
                .replication_subnet_groups(
                    ReplicationSubnetGroup::builder()
                        .replication_subnet_group_identifier("test-sg")
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_replication_instances).then_output(|| {
            DescribeReplicationInstancesOutput::builder()
                .replication_instances(
                    ReplicationInstance::builder()
                        .replication_instance_identifier("test-dms")
                        .replication_instance_arn("arn:aws:dms:eu-west-2:123456789012:rep:X")
                        .replication_instance_status("available")
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_endpoints).then_compute_output(|r| {
            let id = r.filters()[0].values()[0].clone();
            DescribeEndpointsOutput::builder()
                .endpoints(
                    Endpoint::builder()
                        .endpoint_arn(format!("arn:aws:dms:eu-west-2:123456789012:endpoint:{id}"))
                        .endpoint_identifier(id)
                        .build(),
                )
                .build()
        }),
        mock!(Client::test_connection).then_output(|| TestConnectionOutput::builder().build()),
        mock!(Client::describe_connections).then_output(|| {
            DescribeConnectionsOutput::builder()
                .connections(Connection::builder().status("successful").build())
                .build()
        }),
        mock!(Client::describe_replication_tasks).then_output(move || {
            task(T {
                status: task_status,
                ..Default::default()
            })
        }),
    ]
}

#[tokio::test]
async fn apply_updates_a_stopped_task_whose_plan_changed_and_refuses_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    support::write_small_plan(dir.path());
    let loaded = Config::load(&support::write_config(dir.path())).unwrap();

    let mut rules = existing_world("stopped");
    rules.push(
        mock!(Client::modify_replication_task)
            .match_requests(|r| r.table_mappings().is_some_and(|m| m.contains("accounts")))
            .then_output(|| {
                aws_sdk_databasemigration::operation::modify_replication_task::ModifyReplicationTaskOutput::builder()
                    .build()
            }),
    );
    let refs: Vec<&Rule> = rules.iter().collect();
    let c = client_with(&refs);
    let report = apply::apply_with(&c, &loaded).await.unwrap();
    assert_eq!(report.created(), 0, "{}", report.render());
    let task = report.actions.last().unwrap();
    assert_eq!((task.kind, &task.outcome), ("task", &Outcome::Updated));
    assert_eq!(rules.last().unwrap().num_calls(), 1);
    // Nothing was created, so there is nothing for destroy to delete.
    assert!(!loaded.state_file().exists());

    let rules = existing_world("running");
    let refs: Vec<&Rule> = rules.iter().collect();
    let c = client_with(&refs);
    let e = apply::apply_with(&c, &loaded).await.unwrap_err();
    assert!(one_line(&e).contains("task test-task is running"), "{e}");
}

#[tokio::test]
async fn a_failed_connection_test_stops_apply_with_dms_message() {
    use aws_sdk_databasemigration::operation::describe_connections::DescribeConnectionsOutput;
    let dir = tempfile::tempdir().unwrap();
    support::write_small_plan(dir.path());
    let loaded = Config::load(&support::write_config(dir.path())).unwrap();
    let mut rules = vec![mock!(Client::describe_connections).then_output(|| {
        DescribeConnectionsOutput::builder()
            .connections(
                Connection::builder()
                    .endpoint_identifier("test-src")
                    .status("failed")
                    .last_failure_message(
                        "Test connection failed for endpoint 'test-src'.\nFATAL: no pg_hba.conf entry",
                    )
                    .build(),
            )
            .build()
    })];
    rules.extend(existing_world("stopped"));
    let refs: Vec<&Rule> = rules.iter().collect();
    let c = client_with(&refs);
    let e = apply::apply_with(&c, &loaded).await.unwrap_err();
    let s = one_line(&e);
    assert!(
        s.starts_with("connection test test-src failed: Test connection failed"),
        "{s}"
    );
    assert!(s.contains("no pg_hba.conf entry"), "{s}");
}
