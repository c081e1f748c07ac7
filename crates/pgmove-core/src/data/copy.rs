//! Streaming one task: the source's `COPY (…) TO STDOUT` piped into the target's
//! `COPY … FROM STDIN`, chunk by chunk, never more than a few chunks in memory whatever the
//! table's size, and no file. On the target the rows and the task's done mark commit in one
//! transaction, so an interrupted run leaves no half table and no half range.

use super::state;
use super::tasks::{Range, TableCopy};
use crate::quote::literal;
use crate::{Error, Result};
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use tokio_postgres::Client;

/// The wire format of one table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// PostgreSQL's binary COPY: used when every column is a built-in base type (or an array of
    /// one) and the source is 10+ (integer timestamps on both sides).
    Binary,
    /// Text COPY: every other table.
    Text,
}

/// Session settings of a source connection: text forms that any server parses back exactly
/// (ISO dates, hex bytea, floats with every digit), the source's own encoding, no row security
/// (a table that would be filtered fails rather than copying part of it), no timeouts.
/// Settings a server may lack are set through `pg_settings`.
pub fn source_setup(encoding: &str) -> String {
    format!(
        "SET application_name = 'pgmove data';
SET client_encoding = {};
SET DateStyle = 'ISO';
SET IntervalStyle = 'postgres';
SET TimeZone = 'UTC';
SET extra_float_digits = 3;
SET bytea_output = 'hex';
SET statement_timeout = 0;
SET lock_timeout = 0;
SELECT pg_catalog.set_config(name, 'off', false) FROM pg_catalog.pg_settings
 WHERE name IN ('row_security', 'jit');
SELECT pg_catalog.set_config(name, '0', false) FROM pg_catalog.pg_settings
 WHERE name = 'idle_in_transaction_session_timeout';
SELECT pg_catalog.set_config('search_path', '', false);",
        literal(encoding)
    )
}

/// Session settings of a target connection: pgmove's usual ones, the source's encoding, the
/// same text forms, and `synchronous_commit = off` (a commit lost to a crash is a task not
/// marked done, copied again by the next run).
pub fn target_setup(encoding: &str) -> String {
    format!(
        "{}SET application_name = 'pgmove data';
SET client_encoding = {};
SET DateStyle = 'ISO';
SET IntervalStyle = 'postgres';
SET TimeZone = 'UTC';
SET synchronous_commit = off;",
        crate::apply::SESSION_SETUP,
        literal(encoding)
    )
}

/// The source statement of a task.
pub fn copy_out_sql(t: &TableCopy, range: &Range, format: Format) -> String {
    let fmt = match format {
        Format::Binary => " (FORMAT binary)",
        Format::Text => "",
    };
    let cols = t.column_list();
    let name = t.qualified();
    match (range.condition(), &t.ext_condition) {
        (None, None) => format!("COPY {name}{} TO STDOUT{fmt}", paren(&cols)),
        (Some(cond), _) => {
            format!("COPY (SELECT {cols} FROM ONLY {name} WHERE {cond}) TO STDOUT{fmt}")
        }
        (None, Some(cond)) => {
            format!("COPY (SELECT {cols} FROM ONLY {name} {cond}) TO STDOUT{fmt}")
        }
    }
}

/// The target statement of a task; `freeze` when the same transaction truncated the table.
pub fn copy_in_sql(t: &TableCopy, format: Format, freeze: bool) -> String {
    let mut opts = Vec::new();
    if format == Format::Binary {
        opts.push("FORMAT binary");
    }
    if freeze {
        opts.push("FREEZE");
    }
    let opts = if opts.is_empty() {
        String::new()
    } else {
        format!(" ({})", opts.join(", "))
    };
    format!(
        "COPY {}{} FROM STDIN{opts}",
        t.qualified(),
        paren(&t.column_list())
    )
}

/// ` (a, b)`, or nothing for a table without columns (its rows still count: `COPY t` moves
/// them, where `COPY t ()` is a syntax error).
fn paren(cols: &str) -> String {
    if cols.is_empty() {
        String::new()
    } else {
        format!(" ({cols})")
    }
}

/// What one task moved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moved {
    pub rows: u64,
    pub bytes: u64,
}

/// Bytes gathered into one CopyData message to the target.
const BATCH: usize = 256 * 1024;

/// Progress is reported after at least this many bytes of a task.
const PROGRESS_EVERY: u64 = 4 << 20;

/// Copy one task: `source` is inside the run's snapshot; on `target`, one transaction holds
/// the rows (after `TRUNCATE ONLY` when `truncate`, then loaded with `FREEZE`) and the task's
/// done mark. `on_bytes` sees the bytes streamed so far, every few MB.
#[allow(clippy::too_many_arguments)]
pub async fn copy_task(
    source: &Client,
    target: &Client,
    t: &TableCopy,
    range: &Range,
    format: Format,
    truncate: bool,
    task_id: i32,
    on_bytes: &(dyn Fn(u64) + Send + Sync),
) -> Result<Moved> {
    let name = t.qualified();
    let tgt = |sql: &str| {
        let object = format!("copying rows into {name}");
        let sql = sql.to_string();
        move |e| Error::db(e, Some(object), Some(&sql))
    };
    let begin = if truncate {
        format!("BEGIN; TRUNCATE ONLY {name}")
    } else {
        "BEGIN".to_string()
    };
    target.batch_execute(&begin).await.map_err(tgt(&begin))?;
    let result = stream(source, target, t, range, format, truncate, on_bytes).await;
    let moved = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = target.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    };
    let done = format!(
        "{}; COMMIT",
        state::mark_done_sql(task_id, moved.rows, moved.bytes)
    );
    if let Err(e) = target.batch_execute(&done).await {
        let _ = target.batch_execute("ROLLBACK").await;
        return Err(tgt(&done)(e));
    }
    Ok(moved)
}

async fn stream(
    source: &Client,
    target: &Client,
    t: &TableCopy,
    range: &Range,
    format: Format,
    freeze: bool,
    on_bytes: &(dyn Fn(u64) + Send + Sync),
) -> Result<Moved> {
    let name = t.qualified();
    let out_sql = copy_out_sql(t, range, format);
    let in_sql = copy_in_sql(t, format, freeze);
    let src_err = |e| {
        Error::db(
            e,
            Some(format!("copying rows of {name} from the source")),
            Some(&out_sql),
        )
    };
    let tgt_err = |e| Error::db(e, Some(format!("copying rows into {name}")), Some(&in_sql));
    let sink = target.copy_in(&in_sql).await.map_err(tgt_err)?;
    let rows = source.copy_out(&out_sql).await.map_err(src_err)?;
    futures::pin_mut!(sink);
    futures::pin_mut!(rows);
    let mut bytes = 0u64;
    let mut reported = 0u64;
    // The source sends a message per row; they are gathered into one CopyData message of
    // about BATCH bytes, so the hand-over to the target connection happens per batch, not
    // per row. `feed` waits while the target is behind (the sink's channel holds one
    // message), so memory stays bounded.
    let mut batch = BytesMut::with_capacity(BATCH);
    while let Some(chunk) = rows.next().await {
        let chunk = chunk.map_err(src_err)?;
        bytes += chunk.len() as u64;
        batch.extend_from_slice(&chunk);
        if batch.len() >= BATCH {
            let full = std::mem::replace(&mut batch, BytesMut::with_capacity(BATCH));
            sink.feed(full.freeze()).await.map_err(tgt_err)?;
        }
        if bytes - reported >= PROGRESS_EVERY {
            reported = bytes;
            on_bytes(bytes);
        }
    }
    if !batch.is_empty() {
        sink.feed(batch.freeze()).await.map_err(tgt_err)?;
    }
    let rows = sink.as_mut().finish().await.map_err(tgt_err)?;
    Ok(Moved { rows, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cond: Option<&str>) -> TableCopy {
        TableCopy {
            oid: 1,
            schema: "S".into(),
            name: "t".into(),
            columns: vec![
                ("id".into(), "integer".into()),
                ("a b".into(), "text".into()),
            ],
            ext_condition: cond.map(Into::into),
            int_key: Some("id".into()),
            size_bytes: 0,
        }
    }

    #[test]
    fn statements_name_columns_and_only_the_table() {
        let t = table(None);
        assert_eq!(
            copy_out_sql(&t, &Range::Whole, Format::Binary),
            "COPY \"S\".t (id, \"a b\") TO STDOUT (FORMAT binary)"
        );
        let r = Range::Key {
            column: "id".into(),
            lo: Some(5),
            hi: None,
        };
        assert_eq!(
            copy_out_sql(&t, &r, Format::Text),
            "COPY (SELECT id, \"a b\" FROM ONLY \"S\".t WHERE id >= 5) TO STDOUT"
        );
        let c = table(Some("WHERE NOT standard"));
        assert_eq!(
            copy_out_sql(&c, &Range::Whole, Format::Text),
            "COPY (SELECT id, \"a b\" FROM ONLY \"S\".t WHERE NOT standard) TO STDOUT"
        );
        assert_eq!(
            copy_in_sql(&t, Format::Binary, true),
            "COPY \"S\".t (id, \"a b\") FROM STDIN (FORMAT binary, FREEZE)"
        );
        assert_eq!(
            copy_in_sql(&t, Format::Text, false),
            "COPY \"S\".t (id, \"a b\") FROM STDIN"
        );
        let mut none = table(None);
        none.columns.clear();
        assert_eq!(
            copy_out_sql(&none, &Range::Whole, Format::Binary),
            "COPY \"S\".t TO STDOUT (FORMAT binary)"
        );
        assert_eq!(
            copy_in_sql(&none, Format::Binary, false),
            "COPY \"S\".t FROM STDIN (FORMAT binary)"
        );
    }
}
