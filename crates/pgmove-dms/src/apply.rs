//! `pgmove dms apply --config FILE`: create what is missing, in dependency order, describing
//! before creating so a second run creates nothing:
//! replication subnet group → replication instance (waited on until `available`) → source and
//! target endpoints → connection tests from the instance → the replication task from the plan.
//!
//! What apply creates is recorded in a state file (written after every creation, so a failure
//! half-way still lets `destroy` clean up); `destroy` deletes only what is recorded there, never
//! resources that existed before.

use crate::config::{Config, Endpoint, Loaded};
use crate::error::{aws, SdkErrorExt};
use crate::{Error, Result};
use aws_sdk_databasemigration::types::{
    DmsSslModeValue, Filter, MigrationTypeValue, PostgreSqlSettings, ReplicationEndpointTypeValue,
    ReplicationInstance, ReplicationTask, Tag,
};
use aws_sdk_databasemigration::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// What apply created, by identifier and ARN; read by `destroy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub subnet_group_id: Option<String>,
    pub instance_arn: Option<String>,
    pub source_endpoint_arn: Option<String>,
    pub target_endpoint_arn: Option<String>,
    pub task_arn: Option<String>,
}

impl State {
    /// Read the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::file(path, e)),
        }
    }
    /// Write it (or remove the file when nothing is left).
    pub fn save(&self, path: &Path) -> Result<()> {
        if *self == State::default() {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::file(path, e))
                }
                _ => return Ok(()),
            }
        }
        let mut text = serde_json::to_string_pretty(self).expect("state serializes");
        text.push('\n');
        std::fs::write(path, text).map_err(|e| Error::file(path, e))?;
        Ok(())
    }
}

/// What apply did to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Exists,
    /// The task existed with other table mappings or settings and was modified.
    Updated,
}

/// One line of the apply report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `subnet group`, `replication instance`, `source endpoint`, `target endpoint`, `task`.
    pub kind: &'static str,
    pub id: String,
    pub arn: Option<String>,
    pub outcome: Outcome,
}

/// What apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub actions: Vec<Action>,
    /// Connection test results: `(endpoint id, status)`.
    pub connections: Vec<(String, String)>,
    pub state: State,
}

impl ApplyReport {
    /// How many resources this run created.
    pub fn created(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| a.outcome == Outcome::Created)
            .count()
    }
    /// One line per resource and connection test.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for a in &self.actions {
            let what = match a.outcome {
                Outcome::Created => "created",
                Outcome::Exists => "exists ",
                Outcome::Updated => "updated",
            };
            out.push_str(&format!("{what} {} {}\n", a.kind, a.id));
        }
        for (id, status) in &self.connections {
            out.push_str(&format!("connection {id}: {status}\n"));
        }
        out
    }
}

/// `pgmove dms apply --config FILE`: build the client from the config's `[aws]` and the
/// environment, then [`apply_with`].
pub async fn apply(loaded: &Loaded) -> Result<ApplyReport> {
    let client = crate::client::build(&loaded.config.aws).await?;
    apply_with(&client, loaded).await
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder()
        .name(name)
        .values(value)
        .build()
        .expect("name and values are set")
}

fn tags(config: &Config) -> Vec<Tag> {
    let mut v: Vec<Tag> = config
        .tags
        .iter()
        .map(|(k, val)| Tag::builder().key(k).value(val).build())
        .collect();
    if !config.tags.contains_key("managed-by") {
        v.push(Tag::builder().key("managed-by").value("pgmove").build());
    }
    v
}

/// Read the plan's two files, checking they are JSON.
pub fn read_plan(dir: &Path) -> Result<(String, String)> {
    let mut out = Vec::new();
    for name in [
        crate::plan::TABLE_MAPPINGS_FILE,
        crate::plan::TASK_SETTINGS_FILE,
    ] {
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p).map_err(|e| {
            Error::Config(format!(
                "reading {}: {e} (run `pgmove dms plan --out {}` first)",
                p.display(),
                dir.display()
            ))
        })?;
        serde_json::from_str::<Value>(&text)
            .map_err(|e| Error::Config(format!("{}: not JSON: {e}", p.display())))?;
        out.push(text);
    }
    let settings = out.pop().unwrap();
    let mappings = out.pop().unwrap();
    Ok((mappings, settings))
}

/// Apply with a client the caller built (tests pass one pointed at moto or a mock).
pub async fn apply_with(client: &Client, loaded: &Loaded) -> Result<ApplyReport> {
    let c = &loaded.config;
    let state_path = loaded.state_file();
    let (mappings, settings) = read_plan(&loaded.plan_dir())?;
    let mut state = State::load(&state_path)?;
    let mut report = ApplyReport::default();
    let timeout = Duration::from_secs(c.wait_timeout_secs);
    let poll = Duration::from_secs_f64(c.poll_interval_secs.max(0.0));

    // 1. Subnet group.
    let subnet_group_id = if let Some(sg) = &c.subnet_group {
        let found = match client
            .describe_replication_subnet_groups()
            .filters(filter("replication-subnet-group-id", &sg.id))
            .send()
            .await
        {
            Ok(o) => !o.replication_subnet_groups().is_empty(),
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(aws("DescribeReplicationSubnetGroups", e)),
        };
        let outcome = if found {
            Outcome::Exists
        } else {
            client
                .create_replication_subnet_group()
                .replication_subnet_group_identifier(&sg.id)
                .replication_subnet_group_description(&sg.description)
                .set_subnet_ids(Some(sg.subnet_ids.clone()))
                .set_tags(Some(tags(c)))
                .send()
                .await
                .map_err(|e| aws("CreateReplicationSubnetGroup", e))?;
            state.subnet_group_id = Some(sg.id.clone());
            state.save(&state_path)?;
            Outcome::Created
        };
        report.actions.push(Action {
            kind: "subnet group",
            id: sg.id.clone(),
            arn: None,
            outcome,
        });
        Some(sg.id.clone())
    } else {
        c.instance.subnet_group_id.clone()
    };

    // 2. Replication instance, then wait until it is available.
    let inst = &c.instance;
    let existing = describe_instance(client, &inst.id).await?;
    let (instance_arn, outcome) = match existing {
        Some(i) => (
            i.replication_instance_arn().unwrap_or("").to_string(),
            Outcome::Exists,
        ),
        None => {
            let out = client
                .create_replication_instance()
                .replication_instance_identifier(&inst.id)
                .replication_instance_class(&inst.class)
                .allocated_storage(inst.allocated_storage)
                .set_engine_version(inst.engine_version.clone())
                .multi_az(inst.multi_az)
                .publicly_accessible(inst.publicly_accessible)
                .set_vpc_security_group_ids(if inst.vpc_security_group_ids.is_empty() {
                    None
                } else {
                    Some(inst.vpc_security_group_ids.clone())
                })
                .set_replication_subnet_group_identifier(subnet_group_id)
                .set_kms_key_id(inst.kms_key_id.clone())
                .set_tags(Some(tags(c)))
                .send()
                .await
                .map_err(|e| aws("CreateReplicationInstance", e))?;
            let arn = out
                .replication_instance()
                .and_then(|i| i.replication_instance_arn())
                .unwrap_or("")
                .to_string();
            state.instance_arn = Some(arn.clone());
            state.save(&state_path)?;
            (arn, Outcome::Created)
        }
    };
    report.actions.push(Action {
        kind: "replication instance",
        id: inst.id.clone(),
        arn: Some(instance_arn.clone()),
        outcome,
    });
    wait_instance_available(client, &inst.id, timeout, poll).await?;

    // 3. Endpoints.
    let mut endpoint_arns = Vec::new();
    for (which, ep) in [("source", &c.source), ("target", &c.target)] {
        let (arn, outcome) = ensure_endpoint(client, c, which, ep).await?;
        if outcome == Outcome::Created {
            if which == "source" {
                state.source_endpoint_arn = Some(arn.clone());
            } else {
                state.target_endpoint_arn = Some(arn.clone());
            }
            state.save(&state_path)?;
        }
        report.actions.push(Action {
            kind: if which == "source" {
                "source endpoint"
            } else {
                "target endpoint"
            },
            id: ep.id.clone(),
            arn: Some(arn.clone()),
            outcome,
        });
        endpoint_arns.push((ep.id.clone(), arn));
    }

    // 4. Connection tests from the instance.
    for (id, arn) in &endpoint_arns {
        let status = test_connection(client, &instance_arn, arn, timeout, poll).await?;
        report.connections.push((id.clone(), status));
    }

    // 5. The task.
    let existing = describe_task(client, &c.task.id).await?;
    let (task_arn, outcome) = match existing {
        None => {
            let out = client
                .create_replication_task()
                .replication_task_identifier(&c.task.id)
                .source_endpoint_arn(&endpoint_arns[0].1)
                .target_endpoint_arn(&endpoint_arns[1].1)
                .replication_instance_arn(&instance_arn)
                .migration_type(MigrationTypeValue::from(c.task.migration_type.as_str()))
                .table_mappings(&mappings)
                .replication_task_settings(&settings)
                .set_tags(Some(tags(c)))
                .send()
                .await
                .map_err(|e| aws("CreateReplicationTask", e))?;
            let arn = out
                .replication_task()
                .and_then(|t| t.replication_task_arn())
                .unwrap_or("")
                .to_string();
            state.task_arn = Some(arn.clone());
            state.save(&state_path)?;
            (arn, Outcome::Created)
        }
        Some(t) => {
            let arn = t.replication_task_arn().unwrap_or("").to_string();
            let same_mappings = json_eq(t.table_mappings(), &mappings);
            let same_settings = json_subset(t.replication_task_settings(), &settings);
            if same_mappings && same_settings {
                (arn, Outcome::Exists)
            } else {
                let status = t.status().unwrap_or("");
                if !matches!(status, "ready" | "stopped" | "failed") {
                    return Err(Error::State(format!(
                        "task {} is {status}: its table mappings or settings differ from the \
                         plan; stop it (`pgmove dms stop`) and apply again",
                        c.task.id
                    )));
                }
                let mut m = client.modify_replication_task().replication_task_arn(&arn);
                if !same_mappings {
                    m = m.table_mappings(&mappings);
                }
                if !same_settings {
                    m = m.replication_task_settings(&settings);
                }
                m.send()
                    .await
                    .map_err(|e| aws("ModifyReplicationTask", e))?;
                (arn, Outcome::Updated)
            }
        }
    };
    report.actions.push(Action {
        kind: "task",
        id: c.task.id.clone(),
        arn: Some(task_arn),
        outcome,
    });
    report.state = state;
    Ok(report)
}

fn json_eq(existing: Option<&str>, wanted: &str) -> bool {
    match (
        existing.and_then(|e| serde_json::from_str::<Value>(e).ok()),
        serde_json::from_str::<Value>(wanted).ok(),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether every key the plan sets has the same value in the task's settings (DMS fills in
/// defaults for everything else, so equality would never hold).
fn json_subset(existing: Option<&str>, wanted: &str) -> bool {
    fn sub(want: &Value, have: &Value) -> bool {
        match (want, have) {
            (Value::Object(w), Value::Object(h)) => {
                w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| sub(v, hv)))
            }
            (w, h) => w == h,
        }
    }
    match (
        existing.and_then(|e| serde_json::from_str::<Value>(e).ok()),
        serde_json::from_str::<Value>(wanted).ok(),
    ) {
        (Some(have), Some(want)) => sub(&want, &have),
        _ => false,
    }
}

/// The replication instance with this identifier, if any.
pub async fn describe_instance(client: &Client, id: &str) -> Result<Option<ReplicationInstance>> {
    match client
        .describe_replication_instances()
        .filters(filter("replication-instance-id", id))
        .send()
        .await
    {
        Ok(o) => Ok(o.replication_instances().first().cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(aws("DescribeReplicationInstances", e)),
    }
}

/// The replication task with this identifier, if any.
pub async fn describe_task(client: &Client, id: &str) -> Result<Option<ReplicationTask>> {
    match client
        .describe_replication_tasks()
        .filters(filter("replication-task-id", id))
        .send()
        .await
    {
        Ok(o) => Ok(o.replication_tasks().first().cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(aws("DescribeReplicationTasks", e)),
    }
}

async fn wait_instance_available(
    client: &Client,
    id: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = describe_instance(client, id)
            .await?
            .and_then(|i| i.replication_instance_status().map(str::to_string))
            .unwrap_or_default();
        match status.as_str() {
            "available" => return Ok(()),
            "failed"
            | "incompatible-network"
            | "inaccessible-encryption-credentials"
            | "storage-full"
            | "deleting" => {
                return Err(Error::State(format!(
                    "replication instance {id} is {status}"
                )))
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!(
                "replication instance {id} still {status} after {}s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(poll).await;
    }
}

async fn ensure_endpoint(
    client: &Client,
    config: &Config,
    which: &str,
    ep: &Endpoint,
) -> Result<(String, Outcome)> {
    let found = match client
        .describe_endpoints()
        .filters(filter("endpoint-id", &ep.id))
        .send()
        .await
    {
        Ok(o) => o
            .endpoints()
            .first()
            .and_then(|e| e.endpoint_arn())
            .map(str::to_string),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(aws("DescribeEndpoints", e)),
    };
    if let Some(arn) = found {
        return Ok((arn, Outcome::Exists));
    }
    let source = which == "source";
    // Booleans as booleans (both ends must say so); on the source, a LOB past LobMaxSize fails
    // the task instead of being truncated silently.
    let mut pg = PostgreSqlSettings::builder().map_boolean_as_boolean(true);
    if source {
        pg = pg.fail_tasks_on_lob_truncation(ep.fail_on_lob_truncation.unwrap_or(true));
    }
    let mut b = client
        .create_endpoint()
        .endpoint_identifier(&ep.id)
        .endpoint_type(if source {
            ReplicationEndpointTypeValue::Source
        } else {
            ReplicationEndpointTypeValue::Target
        })
        .engine_name(&ep.engine)
        .database_name(&ep.database)
        .ssl_mode(DmsSslModeValue::from(ep.ssl_mode.as_str()))
        .set_certificate_arn(ep.certificate_arn.clone())
        .set_extra_connection_attributes(ep.connection_attributes(source))
        .set_tags(Some(tags(config)));
    if let (Some(secret), Some(role)) = (
        &ep.secrets_manager_secret_id,
        &ep.secrets_manager_access_role_arn,
    ) {
        pg = pg
            .secrets_manager_secret_id(secret)
            .secrets_manager_access_role_arn(role)
            .database_name(&ep.database);
    } else {
        b = b
            .set_server_name(ep.server.clone())
            .port(ep.port)
            .set_username(ep.username.clone())
            .set_password(ep.resolved_password()?);
    }
    b = b.postgre_sql_settings(pg.build());
    let out = b.send().await.map_err(|e| aws("CreateEndpoint", e))?;
    let arn = out
        .endpoint()
        .and_then(|e| e.endpoint_arn())
        .unwrap_or("")
        .to_string();
    Ok((arn, Outcome::Created))
}

/// Test the connection from the instance to an endpoint and wait for the verdict.
async fn test_connection(
    client: &Client,
    instance_arn: &str,
    endpoint_arn: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<String> {
    if let Err(e) = client
        .test_connection()
        .replication_instance_arn(instance_arn)
        .endpoint_arn(endpoint_arn)
        .send()
        .await
    {
        // A test already running for this pair: wait for its verdict.
        let err = aws("TestConnection", e);
        if err.aws_kind() != Some(crate::error::AwsErrorKind::InvalidState) {
            return Err(err);
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        // DMS answers ResourceNotFoundFault until the test is registered: keep polling.
        let out = match client
            .describe_connections()
            .filters(filter("endpoint-arn", endpoint_arn))
            .filters(filter("replication-instance-arn", instance_arn))
            .send()
            .await
        {
            Ok(o) => Some(o),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(aws("DescribeConnections", e)),
        };
        let conn = out.as_ref().and_then(|o| o.connections().first());
        let status = conn.and_then(|c| c.status()).unwrap_or("testing");
        match status {
            "successful" => return Ok(status.to_string()),
            "failed" => {
                return Err(Error::State(format!(
                    "connection test {} failed: {}",
                    conn.and_then(|c| c.endpoint_identifier())
                        .unwrap_or(endpoint_arn),
                    conn.and_then(|c| c.last_failure_message())
                        .unwrap_or("no message")
                        .replace('\n', " ")
                )))
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!(
                "connection test to {endpoint_arn} still {status} after {}s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_subset_ignores_dms_defaults() {
        let have = r#"{"FullLoadSettings":{"TargetTablePrepMode":"DO_NOTHING","CommitRate":10000},"Logging":{}}"#;
        assert!(json_subset(
            Some(have),
            r#"{"FullLoadSettings":{"TargetTablePrepMode":"DO_NOTHING"}}"#
        ));
        assert!(!json_subset(
            Some(have),
            r#"{"FullLoadSettings":{"TargetTablePrepMode":"TRUNCATE_BEFORE_LOAD"}}"#
        ));
        assert!(json_eq(Some(r#"{"a": 1}"#), r#"{ "a":1 }"#));
    }
}
