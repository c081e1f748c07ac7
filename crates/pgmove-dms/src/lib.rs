//! # pgmove-dms
//!
//! Step 3 of the pgmove runbook: AWS Database Migration Service moves the rows (full load, then
//! change data capture) between pgmove's pre-data and post-data schema steps. This crate is kept
//! apart from `pgmove-core` (which never depends on it) because the AWS SDK builds slowly.
//!
//! The modules, each with one job:
//! - [`classify`]: pure, from `pgmove_core::model` (tables, columns and their types, keys,
//!   partitions, generated columns) to the DMS view of each table: LOB columns, types DMS moves
//!   badly, what holds rows.
//! - [`source`]: connects with `pgmove_core::conn`, reads the catalog with
//!   `pgmove_core::catalog::read`, and adds what the model lacks: server settings (`wal_level`,
//!   slots, WAL senders) and the real maximum size of each LOB column.
//! - [`plan`]: pure rendering of `table-mappings.json` and `task-settings.json`; [`plan::run`] is
//!   `pgmove dms plan`.
//! - [`preflight`]: the report of what will stop or damage CDC on this source.
//! - [`config`]: the `pgmove dms apply` config file (TOML or JSON).
//! - [`client`]: the SDK client from the standard AWS configuration (credential chain, region,
//!   profile, `AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE` or an explicit endpoint URL).
//! - [`apply`]: create what is missing, idempotently (describe before create).
//! - [`lifecycle`]: start, status, wait, stop, destroy.
//! - [`flow`]: the whole online migration with DMS as the engine (`pgmove migrate --data dms`,
//!   `pgmove cutover --dms-config`), resumable, over pgmove-core's `Migration` and the above.
//! - [`error`]: one error type; each AWS failure class prints as one clear line.
pub mod apply;
pub mod classify;
pub mod client;
pub mod config;
pub mod error;
pub mod flow;
pub mod lifecycle;
pub mod plan;
pub mod preflight;
pub mod source;

pub use error::{Error, Result};
