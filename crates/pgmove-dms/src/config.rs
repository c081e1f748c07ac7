//! The `pgmove dms apply --config FILE` file: TOML (`.toml`) or JSON (anything else that starts
//! with `{`). The README of this crate documents every key with an example and maps each to the
//! variables of the ministryofjustice/cloud-platform-terraform-dms module and its example's
//! `aws_dms_endpoint`/`aws_dms_replication_task` resources.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole apply configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// AWS settings; all optional (the standard chain decides what is not given).
    #[serde(default)]
    pub aws: AwsSettings,
    /// The directory `pgmove dms plan --out` wrote (relative to the config file).
    pub plan_dir: PathBuf,
    /// Where apply records what it created, for `destroy` (relative to the config file).
    /// Default: `pgmove-dms-state.json` beside the config file.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// Tags put on everything apply creates (terraform: `Owner = var.team_name`, ...).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The replication subnet group; leave out to use an existing one named in
    /// `instance.subnet_group_id`, or none (default VPC).
    #[serde(default)]
    pub subnet_group: Option<SubnetGroup>,
    pub instance: Instance,
    pub source: Endpoint,
    pub target: Endpoint,
    pub task: Task,
    /// Seconds to wait for the instance to become available and connection tests to finish.
    #[serde(default = "default_wait")]
    pub wait_timeout_secs: u64,
    /// Seconds between polls while waiting.
    #[serde(default = "default_poll")]
    pub poll_interval_secs: f64,
}

fn default_wait() -> u64 {
    1800
}
fn default_poll() -> f64 {
    10.0
}

/// Standard AWS configuration overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Overrides `AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE` / `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Attempts per call, throttling included (standard retry mode, exponential backoff).
    pub max_attempts: Option<u32>,
}

/// `aws_dms_replication_subnet_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetGroup {
    pub id: String,
    #[serde(default = "default_description")]
    pub description: String,
    pub subnet_ids: Vec<String>,
}

fn default_description() -> String {
    "pgmove DMS replication subnet group".into()
}

/// `aws_dms_replication_instance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub id: String,
    /// `instance_type` in the terraform module, e.g. `dms.t3.medium`.
    #[serde(default = "default_class")]
    pub class: String,
    /// GB of local storage (`allocated_storage`).
    #[serde(default = "default_storage")]
    pub allocated_storage: i32,
    pub engine_version: Option<String>,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default)]
    pub publicly_accessible: bool,
    #[serde(default)]
    pub vpc_security_group_ids: Vec<String>,
    /// An existing subnet group to use when `[subnet_group]` is not given.
    pub subnet_group_id: Option<String>,
    pub kms_key_id: Option<String>,
}

fn default_class() -> String {
    "dms.t3.medium".into()
}
fn default_storage() -> i32 {
    50
}

/// `aws_dms_endpoint` (the secret's `src_*` / `dst_*` keys in the terraform example).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub id: String,
    /// `postgres` or `aurora-postgresql`.
    #[serde(default = "default_engine")]
    pub engine: String,
    /// Host name or address (`src_addr`).
    pub server: Option<String>,
    #[serde(default = "default_port")]
    pub port: i32,
    pub database: String,
    pub username: Option<String>,
    /// Prefer `password_env`: the name of an environment variable holding the password.
    pub password: Option<String>,
    pub password_env: Option<String>,
    /// Secrets Manager instead of a password: the secret's ARN and the role DMS assumes to
    /// read it. Server, port and user then come from the secret.
    pub secrets_manager_secret_id: Option<String>,
    pub secrets_manager_access_role_arn: Option<String>,
    /// `none`, `require`, `verify-ca` or `verify-full` (`src_ssl`).
    #[serde(default = "default_ssl")]
    pub ssl_mode: String,
    /// A DMS certificate ARN, needed for `verify-ca` / `verify-full`.
    pub certificate_arn: Option<String>,
    #[serde(default)]
    pub extra_connection_attributes: Option<String>,
    /// Source only (default true): fail the task when a LOB is larger than `LobMaxSize`
    /// instead of truncating it silently (`FailTasksOnLobTruncation`).
    pub fail_on_lob_truncation: Option<bool>,
    /// Source only (default true): move unconstrained `numeric` as text so no digit is lost
    /// (extra connection attribute `MapUnboundedNumericAsString=true`; PostgreSQL to PostgreSQL).
    pub map_unbounded_numeric_as_string: Option<bool>,
}

fn default_engine() -> String {
    "postgres".into()
}
fn default_port() -> i32 {
    5432
}
fn default_ssl() -> String {
    "require".into()
}

/// `aws_dms_replication_task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub id: String,
    /// `full-load-and-cdc` (default), `full-load` or `cdc`.
    #[serde(default = "default_migration_type")]
    pub migration_type: String,
}

fn default_migration_type() -> String {
    "full-load-and-cdc".into()
}

/// A loaded config with the directory its relative paths are taken from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub base_dir: PathBuf,
}

impl Loaded {
    pub fn plan_dir(&self) -> PathBuf {
        self.base_dir.join(&self.config.plan_dir)
    }
    pub fn state_file(&self) -> PathBuf {
        match &self.config.state_file {
            Some(p) => self.base_dir.join(p),
            None => self.base_dir.join("pgmove-dms-state.json"),
        }
    }
}

impl Config {
    /// Parse TOML or JSON text (JSON when it starts with `{`).
    pub fn parse(text: &str) -> Result<Config> {
        let c: Config = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| Error::Config(e.message().to_string()))?
        };
        c.validate()?;
        Ok(c)
    }

    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<Loaded> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
        let config =
            Config::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Loaded { config, base_dir })
    }

    fn validate(&self) -> Result<()> {
        for (which, e) in [("source", &self.source), ("target", &self.target)] {
            if !matches!(
                e.ssl_mode.as_str(),
                "none" | "require" | "verify-ca" | "verify-full"
            ) {
                return Err(Error::Config(format!(
                    "{which}.ssl_mode = {:?}: use none, require, verify-ca or verify-full",
                    e.ssl_mode
                )));
            }
            if e.ssl_mode.starts_with("verify") && e.certificate_arn.is_none() {
                return Err(Error::Config(format!(
                    "{which}.ssl_mode = {} needs {which}.certificate_arn",
                    e.ssl_mode
                )));
            }
            let secret = e.secrets_manager_secret_id.is_some();
            if secret != e.secrets_manager_access_role_arn.is_some() {
                return Err(Error::Config(format!(
                    "{which}: secrets_manager_secret_id and secrets_manager_access_role_arn go together"
                )));
            }
            if !secret && (e.server.is_none() || e.username.is_none()) {
                return Err(Error::Config(format!(
                    "{which}: give server and username (with password or password_env), or a \
                     Secrets Manager secret"
                )));
            }
            if which == "target"
                && (e.fail_on_lob_truncation.is_some()
                    || e.map_unbounded_numeric_as_string.is_some())
            {
                return Err(Error::Config(
                    "target: fail_on_lob_truncation and map_unbounded_numeric_as_string are source settings".into(),
                ));
            }
            if e.password.is_some() && e.password_env.is_some() {
                return Err(Error::Config(format!(
                    "{which}: password and password_env are exclusive"
                )));
            }
        }
        if !matches!(
            self.task.migration_type.as_str(),
            "full-load-and-cdc" | "full-load" | "cdc"
        ) {
            return Err(Error::Config(format!(
                "task.migration_type = {:?}: use full-load-and-cdc, full-load or cdc",
                self.task.migration_type
            )));
        }
        Ok(())
    }
}

impl Endpoint {
    /// The extra connection attributes sent to DMS: the configured ones, plus
    /// `MapUnboundedNumericAsString=true` on a source unless turned off or already there.
    pub fn connection_attributes(&self, source: bool) -> Option<String> {
        let mut parts: Vec<String> = self
            .extra_connection_attributes
            .iter()
            .flat_map(|a| a.split(';'))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let present = parts.iter().any(|p| {
            p.to_ascii_lowercase()
                .starts_with("mapunboundednumericasstring")
        });
        if source && self.map_unbounded_numeric_as_string.unwrap_or(true) && !present {
            parts.push("MapUnboundedNumericAsString=true".into());
        }
        (!parts.is_empty()).then(|| parts.join(";"))
    }

    /// The password, read from `password_env` when that is set.
    pub fn resolved_password(&self) -> Result<Option<String>> {
        match (&self.password, &self.password_env) {
            (Some(p), _) => Ok(Some(p.clone())),
            (None, Some(var)) => std::env::var(var).map(Some).map_err(|_| {
                Error::Config(format!(
                    "{}: environment variable {var} is not set",
                    self.id
                ))
            }),
            (None, None) => Ok(None),
        }
    }
}

/// The example documented in the README (kept here so a test proves it parses).
pub const EXAMPLE_TOML: &str = include_str!("../examples/dms.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses() {
        let c = Config::parse(EXAMPLE_TOML).unwrap();
        assert_eq!(c.task.migration_type, "full-load-and-cdc");
        assert_eq!(c.source.ssl_mode, "require");
        assert_eq!(c.tags.get("Owner").map(String::as_str), Some("my-team"));
        // Same thing as JSON.
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(Config::parse(&json).unwrap(), c);
    }

    #[test]
    fn source_gets_unbounded_numeric_as_string() {
        let c = Config::parse(EXAMPLE_TOML).unwrap();
        assert_eq!(
            c.source.connection_attributes(true).as_deref(),
            Some("MapUnboundedNumericAsString=true")
        );
        assert_eq!(c.target.connection_attributes(false), None);
        let mut s = c.source.clone();
        s.extra_connection_attributes = Some("heartbeatEnable=true;".into());
        assert_eq!(
            s.connection_attributes(true).as_deref(),
            Some("heartbeatEnable=true;MapUnboundedNumericAsString=true")
        );
        s.map_unbounded_numeric_as_string = Some(false);
        assert_eq!(
            s.connection_attributes(true).as_deref(),
            Some("heartbeatEnable=true")
        );
    }

    #[test]
    fn bad_ssl_mode_is_one_line() {
        let text = EXAMPLE_TOML.replace("ssl_mode = \"require\"", "ssl_mode = \"prefer\"");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("ssl_mode") && !e.contains('\n'), "{e}");
    }
}
