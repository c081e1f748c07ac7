//! `pgmove dms start | status | wait | stop | destroy`.
//!
//! Each command has a form taking a loaded config ([`start`], [`status`], ...), which builds the
//! client from the config's `[aws]` and the environment, and a `*_with` form taking a client the
//! caller built (tests pass one pointed at moto or at `aws-smithy-mocks`).

use crate::apply::{describe_instance, describe_task, State};
use crate::config::Loaded;
use crate::error::{aws, AwsErrorKind, SdkErrorExt};
use crate::{Error, Result};
use aws_sdk_databasemigration::types::{ReplicationTask, StartReplicationTaskTypeValue};
use aws_sdk_databasemigration::Client;
use std::future::Future;
use std::time::{Duration, Instant};

/// Progress of one table, from `DescribeTableStatistics`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableProgress {
    pub schema: String,
    pub table: String,
    /// `Table completed`, `Full load`, `Before load`, `Table error`, ...
    pub state: String,
    pub full_load_rows: i64,
    pub full_load_error_rows: i64,
    pub inserts: i64,
    pub updates: i64,
    pub deletes: i64,
    pub ddls: i64,
    pub validation_state: Option<String>,
}

/// A task's state and progress, overall and per table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskStatus {
    pub id: String,
    pub arn: String,
    /// `creating`, `ready`, `starting`, `running`, `stopping`, `stopped`, `failed`, ...
    pub status: String,
    pub stop_reason: Option<String>,
    pub last_failure_message: Option<String>,
    pub full_load_percent: i32,
    pub tables_loaded: i32,
    pub tables_loading: i32,
    pub tables_queued: i32,
    pub tables_errored: i32,
    pub elapsed_ms: i64,
    /// DMS set a full-load finish date.
    pub full_load_finished: bool,
    /// Whether the task ever started (a fresh task starts with `start-replication`).
    pub ever_started: bool,
    pub tables: Vec<TableProgress>,
    /// Why per-table statistics are missing (e.g. the task has not run yet).
    pub tables_note: Option<String>,
}

impl TaskStatus {
    pub(crate) fn from_task(t: &ReplicationTask) -> TaskStatus {
        let stats = t.replication_task_stats();
        TaskStatus {
            id: t.replication_task_identifier().unwrap_or("").into(),
            arn: t.replication_task_arn().unwrap_or("").into(),
            status: t.status().unwrap_or("unknown").into(),
            stop_reason: t.stop_reason().map(str::to_string),
            last_failure_message: t.last_failure_message().map(str::to_string),
            full_load_percent: stats.map(|s| s.full_load_progress_percent()).unwrap_or(0),
            tables_loaded: stats.map(|s| s.tables_loaded()).unwrap_or(0),
            tables_loading: stats.map(|s| s.tables_loading()).unwrap_or(0),
            tables_queued: stats.map(|s| s.tables_queued()).unwrap_or(0),
            tables_errored: stats.map(|s| s.tables_errored()).unwrap_or(0),
            elapsed_ms: stats.map(|s| s.elapsed_time_millis()).unwrap_or(0),
            full_load_finished: stats.and_then(|s| s.full_load_finish_date()).is_some(),
            ever_started: t.replication_task_start_date().is_some()
                || stats.and_then(|s| s.start_date()).is_some(),
            tables: vec![],
            tables_note: None,
        }
    }

    /// The full load is over: every table loaded, none loading or queued.
    pub fn full_load_done(&self) -> bool {
        let stats_done =
            self.full_load_percent >= 100 && self.tables_loading == 0 && self.tables_queued == 0;
        let stopped_after_load = self.status == "stopped"
            && self
                .stop_reason
                .as_deref()
                .is_some_and(|r| r.contains("FULL_LOAD") || r.contains("CACHED_CHANGES"));
        (stats_done || stopped_after_load) && matches!(self.status.as_str(), "running" | "stopped")
    }

    /// The status as text: one overall line, then one line per table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "task {}: {} | full load {}% | tables loaded {}, loading {}, queued {}, errored {} | \
             elapsed {}s",
            self.id,
            self.status,
            self.full_load_percent,
            self.tables_loaded,
            self.tables_loading,
            self.tables_queued,
            self.tables_errored,
            self.elapsed_ms / 1000
        );
        if let Some(r) = &self.stop_reason {
            out.push_str(&format!(" | stop reason: {r}"));
        }
        if let Some(m) = &self.last_failure_message {
            out.push_str(&format!(" | last failure: {}", m.replace('\n', " ")));
        }
        out.push('\n');
        for t in &self.tables {
            out.push_str(&format!(
                "  {}.{}: {} | rows {} (errors {}) | cdc +{} ~{} -{}{}\n",
                t.schema,
                t.table,
                t.state,
                t.full_load_rows,
                t.full_load_error_rows,
                t.inserts,
                t.updates,
                t.deletes,
                t.validation_state
                    .as_deref()
                    .map(|v| format!(" | validation {v}"))
                    .unwrap_or_default()
            ));
        }
        if let Some(n) = &self.tables_note {
            out.push_str(&format!("  (no table statistics: {n})\n"));
        }
        out
    }
}

async fn find_task(client: &Client, id: &str) -> Result<ReplicationTask> {
    describe_task(client, id).await?.ok_or_else(|| {
        Error::State(format!(
            "replication task {id} does not exist (run `pgmove dms apply` first)"
        ))
    })
}

/// How `start` starts the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// `start-replication` for a task that never ran, `resume-processing` otherwise.
    Auto,
    StartReplication,
    ResumeProcessing,
    /// Truncate nothing (DO_NOTHING) but load everything again.
    ReloadTarget,
}

/// `pgmove dms start`: start the task (full-load-and-cdc) or resume it.
pub async fn start(loaded: &Loaded, mode: StartMode) -> Result<TaskStatus> {
    let client = crate::client::build(&loaded.config.aws).await?;
    start_with(&client, &loaded.config.task.id, mode).await
}

/// [`start`] with a given client and task identifier. A task still being created or modified
/// is waited on (up to ten minutes) first; a running task is left alone.
pub async fn start_with(client: &Client, task_id: &str, mode: StartMode) -> Result<TaskStatus> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let task = loop {
        let t = find_task(client, task_id).await?;
        match t.status().unwrap_or("") {
            "creating" | "modifying" | "moving" if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(5)).await
            }
            _ => break t,
        }
    };
    let st = TaskStatus::from_task(&task);
    if matches!(st.status.as_str(), "running" | "starting") {
        return Ok(st);
    }
    let kind = match mode {
        StartMode::Auto if st.status == "ready" && !st.ever_started => {
            StartReplicationTaskTypeValue::StartReplication
        }
        StartMode::Auto => StartReplicationTaskTypeValue::ResumeProcessing,
        StartMode::StartReplication => StartReplicationTaskTypeValue::StartReplication,
        StartMode::ResumeProcessing => StartReplicationTaskTypeValue::ResumeProcessing,
        StartMode::ReloadTarget => StartReplicationTaskTypeValue::ReloadTarget,
    };
    let out = client
        .start_replication_task()
        .replication_task_arn(&st.arn)
        .start_replication_task_type(kind)
        .send()
        .await
        .map_err(|e| aws("StartReplicationTask", e))?;
    Ok(out
        .replication_task()
        .map(TaskStatus::from_task)
        .unwrap_or(st))
}

/// `pgmove dms status`: the task's state and progress, overall and per table.
pub async fn status(loaded: &Loaded) -> Result<TaskStatus> {
    let client = crate::client::build(&loaded.config.aws).await?;
    status_with(&client, &loaded.config.task.id).await
}

/// [`status`] with a given client and task identifier.
pub async fn status_with(client: &Client, task_id: &str) -> Result<TaskStatus> {
    let task = find_task(client, task_id).await?;
    let mut st = TaskStatus::from_task(&task);
    let mut tables = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let res = client
            .describe_table_statistics()
            .replication_task_arn(&st.arn)
            .max_records(500)
            .set_marker(marker.clone())
            .send()
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) => {
                let err = aws("DescribeTableStatistics", e);
                match err.aws_kind() {
                    // What the user must act on is an error; DMS refusing statistics for a
                    // task that has not run (or an API without them) is a note.
                    Some(
                        AwsErrorKind::NoCredentials
                        | AwsErrorKind::AccessDenied
                        | AwsErrorKind::Throttled
                        | AwsErrorKind::Unreachable,
                    ) => return Err(err),
                    _ => {
                        st.tables_note = Some(err.to_string());
                        break;
                    }
                }
            }
        };
        for t in out.table_statistics() {
            tables.push(TableProgress {
                schema: t.schema_name().unwrap_or("").into(),
                table: t.table_name().unwrap_or("").into(),
                state: t.table_state().unwrap_or("").into(),
                full_load_rows: t.full_load_rows(),
                full_load_error_rows: t.full_load_error_rows(),
                inserts: t.inserts(),
                updates: t.updates(),
                deletes: t.deletes(),
                ddls: t.ddls(),
                validation_state: t.validation_state().map(str::to_string),
            });
        }
        marker = out.marker().filter(|m| !m.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    tables.sort_by(|a, b| (&a.schema, &a.table).cmp(&(&b.schema, &b.table)));
    st.tables = tables;
    Ok(st)
}

/// Something that measures CDC latency (how far the target is behind the source).
pub trait LatencyProbe {
    /// The current latency, or `None` when it cannot be told yet.
    fn latency(&self, status: &TaskStatus) -> impl Future<Output = Result<Option<Duration>>>;
}

/// CDC latency as the source sees it: the replay lag PostgreSQL reports for the logical
/// replication connection DMS holds (`pg_stat_replication` joined to the active logical slot).
/// A lag of NULL with an active slot means caught up (PostgreSQL clears it when idle).
///
/// TODO: CloudWatch's `CDCLatencyTarget` is the AWS-side measure; reading it needs
/// aws-sdk-cloudwatch, not pulled in yet.
pub struct SourceReplicationLag {
    pub conninfo: String,
    /// The slot DMS uses; `None` takes the largest lag over all active logical slots.
    pub slot_name: Option<String>,
}

impl LatencyProbe for SourceReplicationLag {
    async fn latency(&self, _status: &TaskStatus) -> Result<Option<Duration>> {
        let client = crate::source::connect(&self.conninfo).await?;
        let row = client
            .query_one(
                "select count(*), max(extract(epoch from coalesce(r.replay_lag, r.flush_lag,
                        r.write_lag, interval '0')))::float8
                   from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid
                  where s.slot_type = 'logical' and s.active
                    and ($1::text is null or s.slot_name = $1)",
                &[&self.slot_name],
            )
            .await
            .map_err(|e| {
                Error::Source(pgmove_core::Error::db(
                    e,
                    Some("reading replication lag on the source".into()),
                    None,
                ))
            })?;
        let active: i64 = row.get(0);
        if active == 0 {
            return Ok(None);
        }
        Ok(row
            .get::<_, Option<f64>>(1)
            .map(|s| Duration::from_secs_f64(s.max(0.0))))
    }
}

/// A probe for callers with no way to measure latency: never satisfied.
pub struct NoLatency;
impl LatencyProbe for NoLatency {
    async fn latency(&self, _status: &TaskStatus) -> Result<Option<Duration>> {
        Ok(None)
    }
}

/// What `wait` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// The task's status is this one (`ready`, `running`, `stopped`...).
    Status(String),
    /// The full load finished (with `StopTaskCachedChangesNotApplied` the task then stops).
    FullLoadDone,
    /// The task is running CDC and the probe's latency is at most this.
    CdcLatencyBelow(Duration),
}

/// Polling for [`wait_with`].
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub timeout: Duration,
    pub poll: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(24 * 3600),
            poll: Duration::from_secs(15),
        }
    }
}

/// `pgmove dms wait`: poll the task until `what` holds; `progress` sees every status polled.
pub async fn wait<P: LatencyProbe>(
    loaded: &Loaded,
    what: &WaitFor,
    probe: &P,
    opts: WaitOptions,
    progress: impl FnMut(&TaskStatus),
) -> Result<TaskStatus> {
    let client = crate::client::build(&loaded.config.aws).await?;
    wait_with(&client, &loaded.config.task.id, what, probe, opts, progress).await
}

/// [`wait`] with a given client and task identifier. Fails at once when the task fails or
/// (waiting on the full load) a table errors.
pub async fn wait_with<P: LatencyProbe>(
    client: &Client,
    task_id: &str,
    what: &WaitFor,
    probe: &P,
    opts: WaitOptions,
    mut progress: impl FnMut(&TaskStatus),
) -> Result<TaskStatus> {
    let deadline = Instant::now() + opts.timeout;
    loop {
        let st = status_with(client, task_id).await?;
        progress(&st);
        if st.status == "failed" && *what != WaitFor::Status("failed".into()) {
            return Err(Error::State(format!(
                "task {task_id} failed: {}",
                st.last_failure_message
                    .as_deref()
                    .unwrap_or("no failure message")
                    .replace('\n', " ")
            )));
        }
        let done = match what {
            WaitFor::Status(s) => st.status == *s,
            WaitFor::FullLoadDone => {
                if st.tables_errored > 0 {
                    return Err(Error::State(format!(
                        "task {task_id}: {} tables errored during the full load: {}",
                        st.tables_errored,
                        st.tables
                            .iter()
                            .filter(|t| t.state.to_ascii_lowercase().contains("error"))
                            .map(|t| format!("{}.{}", t.schema, t.table))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                st.full_load_done()
            }
            WaitFor::CdcLatencyBelow(max) => {
                st.status == "running"
                    && st.full_load_done()
                    && probe.latency(&st).await?.is_some_and(|l| l <= *max)
            }
        };
        if done {
            return Ok(st);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!(
                "task {task_id} did not reach {what:?} in {}s (now {}, full load {}%)",
                opts.timeout.as_secs(),
                st.status,
                st.full_load_percent
            )));
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// `pgmove dms stop`: stop the task (a task not running is left as it is).
pub async fn stop(loaded: &Loaded) -> Result<TaskStatus> {
    let client = crate::client::build(&loaded.config.aws).await?;
    stop_with(&client, &loaded.config.task.id).await
}

/// [`stop`] with a given client and task identifier.
pub async fn stop_with(client: &Client, task_id: &str) -> Result<TaskStatus> {
    let task = find_task(client, task_id).await?;
    let st = TaskStatus::from_task(&task);
    if !matches!(st.status.as_str(), "running" | "starting" | "resuming") {
        return Ok(st);
    }
    let out = client
        .stop_replication_task()
        .replication_task_arn(&st.arn)
        .send()
        .await
        .map_err(|e| aws("StopReplicationTask", e))?;
    Ok(out
        .replication_task()
        .map(TaskStatus::from_task)
        .unwrap_or(st))
}

/// What destroy deleted, in order: `(kind, identifier or ARN)`.
pub type Deleted = Vec<(&'static str, String)>;

/// `pgmove dms destroy`: delete what `apply` created (per its state file), task first, subnet
/// group last, waiting for each to be gone before deleting what it depends on.
pub async fn destroy(loaded: &Loaded) -> Result<Deleted> {
    let client = crate::client::build(&loaded.config.aws).await?;
    destroy_with(&client, loaded).await
}

/// [`destroy`] with a given client.
pub async fn destroy_with(client: &Client, loaded: &Loaded) -> Result<Deleted> {
    let path = loaded.state_file();
    let mut state = State::load(&path)?;
    let c = &loaded.config;
    let timeout = Duration::from_secs(c.wait_timeout_secs);
    let poll = Duration::from_secs_f64(c.poll_interval_secs.max(0.0));
    let mut deleted = Vec::new();

    if let Some(arn) = state.task_arn.clone() {
        if let Some(t) = describe_task(client, &c.task.id).await? {
            if matches!(
                t.status().unwrap_or(""),
                "running" | "starting" | "resuming"
            ) {
                stop_with(client, &c.task.id).await?;
                wait_gone_or(client, &c.task.id, timeout, poll, |s| s != "stopping").await?;
            }
            match client
                .delete_replication_task()
                .replication_task_arn(&arn)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(aws("DeleteReplicationTask", e)),
            }
            // Endpoints cannot go while the task still exists.
            wait_gone_or(client, &c.task.id, timeout, poll, |_| false).await?;
        }
        deleted.push(("task", arn));
        state.task_arn = None;
        state.save(&path)?;
    }
    for (kind, slot) in [
        ("source endpoint", state.source_endpoint_arn.clone()),
        ("target endpoint", state.target_endpoint_arn.clone()),
    ] {
        let Some(arn) = slot else { continue };
        match client.delete_endpoint().endpoint_arn(&arn).send().await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(aws("DeleteEndpoint", e)),
        }
        deleted.push((kind, arn));
        if kind == "source endpoint" {
            state.source_endpoint_arn = None;
        } else {
            state.target_endpoint_arn = None;
        }
        state.save(&path)?;
    }
    if let Some(arn) = state.instance_arn.clone() {
        match client
            .delete_replication_instance()
            .replication_instance_arn(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(aws("DeleteReplicationInstance", e)),
        }
        // The subnet group cannot go while the instance exists.
        let deadline = Instant::now() + timeout;
        while describe_instance(client, &c.instance.id).await?.is_some() {
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "replication instance {} still deleting after {}s",
                    c.instance.id,
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(poll).await;
        }
        deleted.push(("replication instance", arn));
        state.instance_arn = None;
        state.save(&path)?;
    }
    if let Some(id) = state.subnet_group_id.clone() {
        match client
            .delete_replication_subnet_group()
            .replication_subnet_group_identifier(&id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(aws("DeleteReplicationSubnetGroup", e)),
        }
        deleted.push(("subnet group", id));
        state.subnet_group_id = None;
        state.save(&path)?;
    }
    Ok(deleted)
}

/// Poll until the task is gone or `ok(status)` holds.
async fn wait_gone_or(
    client: &Client,
    task_id: &str,
    timeout: Duration,
    poll: Duration,
    ok: impl Fn(&str) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match describe_task(client, task_id).await? {
            None => return Ok(()),
            Some(t) if ok(t.status().unwrap_or("")) => return Ok(()),
            Some(t) => {
                if Instant::now() >= deadline {
                    return Err(Error::Timeout(format!(
                        "task {task_id} still {} after {}s",
                        t.status().unwrap_or(""),
                        timeout.as_secs()
                    )));
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}
