//! # pgmove-core
//!
//! Moves a PostgreSQL database's schema from one server to another without `pg_dump`: it reads
//! `pg_catalog` once into one typed [`model::Catalog`], and from that model renders pre-data DDL,
//! sequence `setval`s and post-data DDL, orders them by dependency, and applies them to a target.
//!
//! The layers, each a module with one job:
//! - [`conn`]: libpq-compatible connection strings, environment, `.pgpass`, TLS.
//! - [`catalog`]: the readers; each fills plain model structs from one catalog query.
//! - [`model`]: the plain structs; the hub everything else reads.
//! - [`render`]: pure functions, model in, SQL text out. Never queries.
//! - [`quote`]: the one place identifiers and literals are quoted.
//! - [`sort`]: dependency order (pg_depend plus a per-kind priority).
//! - [`apply`]: streams statements into a target, in one transaction or on N connections.
//! - [`lobs`]: copies large objects (contents, privileges, comments) under their OIDs.
//! - [`data`]: copies the rows, streaming COPY on N connections in one snapshot, resumably.
//! - [`cdc`]: online migration: native logical replication from the source, then cutover.
//! - [`validate`]: compares a target with its source: schema, sequence states, rows.
//! - [`migrate`]: the whole runbook in one resumable call, on one catalog read.
//! - [`roles`]: creates on a target the roles the source's owners and GRANTs name (no passwords).
pub mod apply;
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
pub mod quote;
pub mod render;
pub mod roles;
pub mod sort;
pub mod validate;

pub use error::{Error, Result};
