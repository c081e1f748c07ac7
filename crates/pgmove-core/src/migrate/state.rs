//! A migration's bookkeeping on the target: which steps are done, a fingerprint of the source
//! schema they were done for, and what the target held before (for `--restart`), so an
//! interrupted `migrate` continues where it stopped.
//!
//! It is the comment of a schema of its own ([`STATE_SCHEMA`]) on the target, as JSON: no
//! table, so nothing of it shows in `information_schema.tables`/`columns` (a materialized
//! view over those, refreshed in post-data, must count what the source has). The schema step
//! creates it inside the schema step's own transaction, so the target either has the schema
//! and the record of it, or neither; every later step records itself done in the transaction
//! (or right after the work) that finishes it. A finished migration drops the schema: it must
//! never be left behind on a target that validated clean, and nothing but this module writes
//! it.

use crate::quote::literal;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// The target schema holding a migration's bookkeeping while it runs. Validation ignores it.
pub const STATE_SCHEMA: &str = "pgmove_migrate";

/// What an earlier run of the same migration recorded on the target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct State {
    /// step name → detail (`done`, or `external` for rows left to another tool).
    pub steps: BTreeMap<String, String>,
    /// The source schema fingerprint the steps were done for.
    pub fingerprint: String,
    /// What the target held before the run (see [`super::restart`]); `None` in a record
    /// written by a pgmove that did not keep one.
    #[serde(default)]
    pub baseline: Option<String>,
}

impl State {
    /// Whether `step` was finished by an earlier run.
    pub fn done(&self, step: &str) -> bool {
        self.steps.contains_key(step)
    }

    /// Record `step` as finished with `detail`, and return the SQL that stores the record so
    /// (run it in the transaction that finishes the step, or right after the work).
    pub fn mark_sql(&mut self, step: &str, detail: &str) -> String {
        self.steps.insert(step.to_string(), detail.to_string());
        self.store_sql()
    }

    /// The SQL that stores this record as the state schema's comment.
    fn store_sql(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("COMMENT ON SCHEMA {STATE_SCHEMA} IS {};\n", literal(&json))
    }
}

/// The state an earlier run left on the target, or `None` for a target no run has touched.
pub async fn read(target: &Client) -> Result<Option<State>> {
    let row = target
        .query_opt(
            "SELECT pg_catalog.obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace
              WHERE nspname = $1",
            &[&STATE_SCHEMA],
        )
        .await
        .map_err(|e| Error::db(e, None, Some("reading the migration state")))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text: Option<String> = row.get(0);
    let state = text
        .as_deref()
        .and_then(|t| serde_json::from_str::<State>(t).ok())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "the target's schema {STATE_SCHEMA} does not hold a migration record pgmove can \
                 read (its comment was changed, or an older pgmove wrote it): drop and recreate \
                 the target database, then run again"
            ))
        })?;
    Ok(Some(state))
}

/// SQL that creates the record of a new run, `state` (its fingerprint and baseline set, no
/// step done): run inside the schema step's transaction, before its items.
pub fn create_sql(state: &State) -> String {
    format!("CREATE SCHEMA {STATE_SCHEMA};\n{}", state.store_sql())
}

/// Record `step` as finished in `state` and on the target.
pub async fn mark(target: &Client, state: &mut State, step: &str, detail: &str) -> Result<()> {
    target
        .batch_execute(&state.mark_sql(step, detail))
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
    fn state_sql_quotes_what_it_records_and_reads_back() {
        let mut s = State {
            fingerprint: "00ff".into(),
            baseline: Some("2615:16390".into()),
            ..State::default()
        };
        assert!(create_sql(&s).starts_with("CREATE SCHEMA pgmove_migrate;\nCOMMENT ON SCHEMA"));
        let sql = s.mark_sql("post-data", "it's done");
        assert!(sql.contains("it''s done"), "{sql}");
        assert!(s.done("post-data"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
    }
}
