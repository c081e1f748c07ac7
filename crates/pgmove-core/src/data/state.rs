//! A run's resume state, kept on the target in the schema [`SCHEMA`]: the planned tasks (ranges
//! included, so a resume reuses exactly the same ones), which are done with their rows and
//! bytes, and a fingerprint of the copied tables. A task's row is marked done in the same
//! transaction as its rows land. A finished run drops the schema, so nothing of pgmove stays.
//!
//! This module only reads and writes that schema; it never touches user tables.

use super::tasks::{Range, Task};
use crate::quote::literal;
use crate::{Error, Result};
use tokio_postgres::Client;

/// The schema holding a run's state on the target.
pub const SCHEMA: &str = "pgmove_data_state";

/// The advisory lock a run holds on the target, so two runs never share one state.
const LOCK_KEY: i64 = 0x7067_6d6f_7665_6461; // "pgmoveda"

/// A task as stored: the table by name (the OIDs differ between runs' catalog reads).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stored {
    pub id: i32,
    pub schema: String,
    pub name: String,
    pub range: Range,
    pub part: i32,
    pub parts: i32,
    pub done: bool,
    pub rows: i64,
    pub bytes: i64,
}

/// What an earlier, interrupted run left.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Resume {
    pub fingerprint: String,
    pub tasks: Vec<Stored>,
}

fn db(what: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::db(e, Some(format!("keeping the run's state ({what})")), None)
}

/// Take the run's advisory lock on `target` (waiting up to 10 s: a killed run's backend may
/// still be ending). Fails clearly when another run holds it.
pub async fn lock(target: &Client) -> Result<()> {
    target
        .batch_execute("SET lock_timeout = '10s'")
        .await
        .map_err(db("lock"))?;
    let r = target
        .execute(
            &format!("SELECT pg_catalog.pg_advisory_lock({LOCK_KEY})"),
            &[],
        )
        .await;
    target
        .batch_execute("SET lock_timeout = 0")
        .await
        .map_err(db("lock"))?;
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code().map(|c| c.code()) == Some("55P03") => Err(Error::Invalid(
            "another pgmove data run is copying into this target database".into(),
        )),
        Err(e) => Err(db("lock")(e)),
    }
}

/// The state of an unfinished run, if there is one.
pub async fn load(target: &Client) -> Result<Option<Resume>> {
    let exists: bool = target
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&SCHEMA],
        )
        .await
        .map_err(db("read"))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let fingerprint: String = target
        .query_opt(&format!("SELECT fingerprint FROM {SCHEMA}.run"), &[])
        .await
        .map_err(db("read"))?
        .map(|r| r.get(0))
        .unwrap_or_default();
    let rows = target
        .query(
            &format!(
                "SELECT id, schema_name, table_name, method, key_column, lo, hi, part, parts,
                        done, rows, bytes
                 FROM {SCHEMA}.task ORDER BY id"
            ),
            &[],
        )
        .await
        .map_err(db("read"))?;
    let mut tasks = Vec::with_capacity(rows.len());
    for r in rows {
        let method: String = r.get("method");
        let (lo, hi): (Option<i64>, Option<i64>) = (r.get("lo"), r.get("hi"));
        let range = match method.as_str() {
            "whole" => Range::Whole,
            "ctid" => Range::Ctid { lo, hi },
            "key" => Range::Key {
                column: r.get::<_, String>("key_column").into(),
                lo,
                hi,
            },
            other => {
                return Err(Error::Invalid(format!(
                    "the target's {SCHEMA}.task has a task of unknown kind {other:?}; drop schema {SCHEMA} to start over"
                )))
            }
        };
        tasks.push(Stored {
            id: r.get("id"),
            schema: r.get("schema_name"),
            name: r.get("table_name"),
            range,
            part: r.get("part"),
            parts: r.get("parts"),
            done: r.get("done"),
            rows: r.get::<_, Option<i64>>("rows").unwrap_or(0),
            bytes: r.get::<_, Option<i64>>("bytes").unwrap_or(0),
        });
    }
    Ok(Some(Resume { fingerprint, tasks }))
}

/// Create the state of a new run with its planned tasks, in one transaction.
pub async fn create(
    target: &Client,
    fingerprint: &str,
    tasks: &[Task],
    name_of: &dyn Fn(usize) -> (String, String),
) -> Result<()> {
    let mut sql = format!(
        "BEGIN;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.run (fingerprint text NOT NULL, started timestamptz NOT NULL DEFAULT now());
CREATE TABLE {SCHEMA}.task (
    id integer PRIMARY KEY, schema_name text NOT NULL, table_name text NOT NULL,
    method text NOT NULL, key_column text, lo bigint, hi bigint, part integer NOT NULL,
    parts integer NOT NULL, done boolean NOT NULL DEFAULT false, rows bigint, bytes bigint);
INSERT INTO {SCHEMA}.run (fingerprint) VALUES ({});
",
        literal(fingerprint)
    );
    let num = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
    for chunk in tasks.chunks(1000) {
        sql += &format!(
            "INSERT INTO {SCHEMA}.task (id, schema_name, table_name, method, key_column, lo, hi, part, parts) VALUES\n"
        );
        let values: Vec<String> = chunk
            .iter()
            .map(|t| {
                let (schema, name) = name_of(t.table);
                let (method, key, lo, hi) = match &t.range {
                    Range::Whole => ("whole", "NULL".to_string(), None, None),
                    Range::Key { column, lo, hi } => ("key", literal(column), *lo, *hi),
                    Range::Ctid { lo, hi } => ("ctid", "NULL".to_string(), *lo, *hi),
                };
                format!(
                    "({}, {}, {}, '{method}', {key}, {}, {}, {}, {})",
                    t.id,
                    literal(&schema),
                    literal(&name),
                    num(lo),
                    num(hi),
                    t.part,
                    t.parts
                )
            })
            .collect();
        sql += &values.join(",\n");
        sql += ";\n";
    }
    sql += "COMMIT;";
    if let Err(e) = target.batch_execute(&sql).await {
        let _ = target.batch_execute("ROLLBACK").await;
        return Err(db("create")(e));
    }
    Ok(())
}

/// The statement that marks task `id` done, sent inside the task's transaction.
pub fn mark_done_sql(id: i32, rows: u64, bytes: u64) -> String {
    format!("UPDATE {SCHEMA}.task SET done = true, rows = {rows}, bytes = {bytes} WHERE id = {id}")
}

/// Drop the state of a finished run.
pub async fn drop(target: &Client) -> Result<()> {
    target
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .await
        .map_err(db("drop"))
}
