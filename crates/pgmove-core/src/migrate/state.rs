//! A migration's bookkeeping on the target: which steps are done, and a fingerprint of the
//! source schema they were done for, so an interrupted `migrate` continues where it stopped.
//!
//! It lives in one table of its own schema ([`STATE_SCHEMA`]) on the target. The schema step
//! creates it inside the schema step's own transaction, so the target either has the schema
//! and the record of it, or neither; every later step records itself done in the transaction
//! (or right after the work) that finishes it. A finished migration drops the schema: it must
//! never be left behind on a target that validated clean, and nothing but this module writes it.

use crate::quote::literal;
use crate::{Error, Result};
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// The target schema holding a migration's bookkeeping while it runs. Validation ignores it.
pub const STATE_SCHEMA: &str = "pgmove_migrate";

/// The state table, qualified.
const TABLE: &str = "pgmove_migrate.state";

/// What an earlier run of the same migration recorded on the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// step name → detail (`done`, or `external` for rows left to another tool).
    pub steps: BTreeMap<String, String>,
    /// The source schema fingerprint the steps were done for.
    pub fingerprint: String,
    /// What the target held before the run (see [`super::restart`]); `None` in a record
    /// written by a pgmove that did not keep one.
    pub baseline: Option<String>,
}

impl State {
    /// Whether `step` was finished by an earlier run.
    pub fn done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }
}

/// The state an earlier run left on the target, or `None` for a target no run has touched.
pub async fn read(target: &Client) -> Result<Option<State>> {
    let exists: bool = target
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&STATE_SCHEMA],
        )
        .await
        .map_err(|e| Error::db(e, None, Some("reading the migration state")))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = target
        .query(&format!("SELECT step, detail FROM {TABLE}"), &[])
        .await
        .map_err(|e| Error::db(e, None, Some("reading the migration state")))?;
    let mut state = State::default();
    for r in rows {
        let (step, detail): (String, String) = (r.get(0), r.get(1));
        if step == "fingerprint" {
            state.fingerprint = detail;
        } else if step == "baseline" {
            state.baseline = Some(detail);
        } else {
            state.steps.insert(step, detail);
        }
    }
    Ok(Some(state))
}

/// SQL that creates the state, recording `fingerprint` and what a target of `version`
/// (`server_version_num`) holds before the run: run inside the schema step's transaction,
/// before its items.
pub fn create_sql(fingerprint: &str, version: i32) -> String {
    format!(
        "CREATE SCHEMA {STATE_SCHEMA};\n\
         CREATE TABLE {TABLE} (step text PRIMARY KEY, detail text NOT NULL, \
         at timestamptz NOT NULL DEFAULT now());\n\
         INSERT INTO {TABLE} (step, detail) VALUES ('fingerprint', {});\n{}",
        literal(fingerprint),
        super::restart::baseline_sql(version, TABLE)
    )
}

/// SQL that records `step` as finished with `detail`; idempotent.
pub fn mark_sql(step: &str, detail: &str) -> String {
    format!(
        "INSERT INTO {TABLE} (step, detail) VALUES ({}, {}) \
         ON CONFLICT (step) DO UPDATE SET detail = EXCLUDED.detail, at = now();\n",
        literal(step),
        literal(detail)
    )
}

/// Record `step` as finished.
pub async fn mark(target: &Client, step: &str, detail: &str) -> Result<()> {
    target
        .batch_execute(&mark_sql(step, detail))
        .await
        .map_err(|e| Error::db(e, None, Some("recording the migration state")))
}

/// Remove the bookkeeping: the migration is finished.
pub async fn drop(target: &Client) -> Result<()> {
    target
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {STATE_SCHEMA} CASCADE"))
        .await
        .map_err(|e| Error::db(e, None, Some("dropping the migration state")))
}

/// A stable fingerprint of SQL text (64-bit FNV-1a, hex): the same rendered schema gives the
/// same value in every run and every build, unlike std's randomly keyed hasher.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_separates_parts() {
        assert_eq!(fingerprint(["a", "b"]), fingerprint(["a", "b"]));
        assert_ne!(fingerprint(["ab"]), fingerprint(["a", "b"]));
        assert_eq!(fingerprint([]), "cbf29ce484222325");
    }

    #[test]
    fn state_sql_quotes_what_it_records() {
        assert!(mark_sql("post-data", "it's done").contains("'it''s done'"));
        assert!(create_sql("00ff", 150000).contains("VALUES ('fingerprint', '00ff')"));
    }
}
