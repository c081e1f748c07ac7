//! # pgmove-core
//!
//! Moves a PostgreSQL database from one server to another without `pg_dump`: it reads
//! `pg_catalog` once into one typed [`model::Catalog`], and from that model renders pre-data DDL,
//! sequence `setval`s and post-data DDL, orders them by dependency, applies them to a target,
//! copies the rows, and compares the result with the source.
//!
//! ## The whole migration
//!
//! [`migrate::Migration`] runs the runbook `pgmove migrate` runs (preflight, roles, schema,
//! rows, sequences, post-data, validation), resumably, on one catalog read:
//!
//! ```no_run
//! use pgmove_core::conn::ConnSpec;
//! use pgmove_core::migrate::Migration;
//!
//! # async fn run() -> pgmove_core::Result<()> {
//! let source: ConnSpec = "host=old.example.com dbname=app user=app".parse()?;
//! let target: ConnSpec = "postgres://app@new.example.com/app?sslmode=verify-full".parse()?;
//! let report = Migration::new(source, target).jobs(4).run(&|_event| {}).await?;
//! assert!(report.passed(), "{:?}", report.validation);
//! # Ok(())
//! # }
//! ```
//!
//! ## One step, or SQL without a target
//!
//! The model is plain data, and rendering never queries: a [`model::Catalog`] read with
//! [`catalog::read`] or built by hand becomes an ordered [`plan::Plan`], which
//! [`apply::write_script`] writes for `psql` (or [`apply::apply_in_transaction`] applies):
//!
//! ```
//! use pgmove_core::model::{Catalog, Column, ColumnType, Schema, Table};
//! use pgmove_core::plan::{self, Step};
//!
//! let mut cat = Catalog::default();
//! cat.server_version = 150_000;
//! cat.schemas.push(Schema::new(16_384, "app"));
//! let mut film = Table::new(16_385, "app", "film");
//! film.columns.push(Column::new(1, "title", ColumnType::builtin(25, "text", "text")));
//! cat.tables.push(film);
//!
//! let plan = plan::plan(&cat, Step::Schema, &Default::default());
//! let mut script = Vec::new();
//! pgmove_core::apply::write_script(&mut script, "pre-data of app", &plan.items)?;
//! let script = String::from_utf8(script).expect("SQL is text");
//! assert!(script.contains("CREATE SCHEMA app;"), "{script}");
//! assert!(script.contains("CREATE TABLE app.film (\n    title text\n);"), "{script}");
//! # Ok::<(), pgmove_core::Error>(())
//! ```
//!
//! ## Errors
//!
//! Every fallible call returns [`Error`]. A failed statement is [`Error::Db`]: the server's
//! SQLSTATE, message, detail and hint, what pgmove was doing and the statement, with the
//! driver's error as its [`source`](std::error::Error::source). No error carries a password.
//!
//! ## The layers
//!
//! Each a module with one job:
//! - [`conn`]: libpq-compatible connection strings, environment, `.pgpass`, TLS.
//! - [`catalog`]: the readers; each fills plain model structs from one catalog query.
//! - [`model`]: the plain structs; the hub everything else reads.
//! - [`render`]: pure functions, model in, SQL text out. Never queries.
//! - [`quote`]: the one place identifiers and literals are quoted.
//! - [`sort`]: dependency order (pg_depend plus a per-kind priority).
//! - [`plan`]: one step's items, rendered, filtered and ordered; the target checks before it.
//! - [`apply`]: streams statements into a target, in one transaction or on N connections.
//! - [`build_progress`]: what the target's index builds are doing, for progress displays.
//! - [`work_memory`]: the memory post-data's sessions ask the target for (index builds, key checks).
//! - [`lobs`]: copies large objects (contents, privileges, comments) under their OIDs.
//! - [`data`]: copies the rows, streaming COPY on N connections in one snapshot, resumably.
//! - [`cdc`]: online migration: native logical replication from the source, then cutover.
//! - [`validate`]: compares a target with its source: schema, sequence states, rows.
//! - [`migrate`]: the whole runbook in one resumable call, on one catalog read.
//! - [`roles`]: creates on a target the roles the source's owners and GRANTs name (no passwords).
pub mod apply;
pub mod build_progress;
pub mod catalog;
pub mod cdc;
pub mod conn;
pub mod data;
pub mod error;
pub mod filter;
pub mod lobs;
pub mod migrate;
pub mod model;
mod oidhash;
pub mod plan;
pub mod postdata;
pub mod quote;
pub mod render;
pub mod roles;
pub mod sort;
pub mod validate;
pub mod work_memory;

pub use error::{DbError, Error, Result};
