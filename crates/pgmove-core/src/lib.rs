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
//! - [`cdc`]: online migration: native logical replication from the source, then cutover.
//! - [`validate`]: compares a target with its source: schema, sequence states, rows.
pub mod apply;
pub mod catalog;
pub mod cdc;
pub mod conn;
pub mod error;
pub mod filter;
pub mod model;
mod oidhash;
pub mod plan;
pub mod quote;
pub mod render;
pub mod sort;
pub mod validate;

pub use error::{Error, Result};
