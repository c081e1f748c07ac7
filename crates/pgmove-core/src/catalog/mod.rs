//! Catalog readers: fill a [`Catalog`] from `pg_catalog` in a fixed number of queries.
//!
//! Like pg_dump's `getX` functions, each reader runs one query for one kind of object, whatever
//! the number of objects: pgmove never sends a query per table. All readers run inside one
//! `REPEATABLE READ, READ ONLY` transaction with `search_path = ''`, so every name the server's
//! deparsers print is schema-qualified and every query sees the same snapshot. The readers never
//! render SQL for the target and never write.

mod misc;
mod relations;
mod routines;
mod schemas;
mod sequences;
mod types;

use crate::model::Catalog;
use crate::{Error, Result};
use tokio_postgres::Client;

/// The `WHERE` fragment that leaves out system schemas, for a namespace alias `n`.
pub(crate) const USER_SCHEMAS: &str =
    "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_(catalog|toast|temp_|toast_temp_)'";

/// Read the whole catalog of the database `client` is connected to.
///
/// The transaction is read-only and takes no lock on user tables (the queries read system
/// catalogs only, so the target of a migration or validation is never blocked).
pub async fn read(client: &Client) -> Result<Catalog> {
    client
        .batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
             SELECT pg_catalog.set_config('search_path', '', true);
             SET LOCAL extra_float_digits = 3;",
        )
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
    let result = read_in_snapshot(client).await;
    // Read-only: rolling back is the same as committing, and also cleans up after an error.
    let _ = client.batch_execute("ROLLBACK").await;
    result
}

async fn read_in_snapshot(client: &Client) -> Result<Catalog> {
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .get(0);
    if version < 90400 {
        return Err(Error::Unsupported {
            target: "source".into(),
            version: version.to_string(),
        });
    }
    let mut cat = Catalog {
        server_version: version,
        ..Default::default()
    };
    schemas::read(client, &mut cat).await?;
    types::read(client, &mut cat).await?;
    routines::read(client, &mut cat).await?;
    sequences::read(client, &mut cat).await?;
    relations::read(client, &mut cat).await?;
    misc::read(client, &mut cat).await?;
    Ok(cat)
}

/// One version gate of a catalog query: `new` on servers of `min` (`server_version_num`) and
/// later, `old` before. Every column that arrived in some release goes through here.
pub(crate) fn since(version: i32, min: i32, new: &'static str, old: &'static str) -> &'static str {
    if version >= min {
        new
    } else {
        old
    }
}

/// A `WHERE` fragment that leaves out what `CREATE EXTENSION` made (`pg_depend` deptype `e`),
/// and with `internal`, what another object owns internally (deptype `i`, e.g. a range type's
/// constructor functions and casts): object `alias.oid` of system catalog `catalog`.
pub(crate) fn not_member(catalog: &str, alias: &str, internal: bool) -> String {
    let types = if internal { "'e', 'i'" } else { "'e'" };
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass
                     AND d.objid = {alias}.oid AND d.deptype IN ({types}))"
    )
}

/// Run one catalog query, naming it in the error when it fails.
pub(crate) async fn query(
    client: &Client,
    what: &str,
    sql: &str,
) -> Result<Vec<tokio_postgres::Row>> {
    client
        .query(sql, &[])
        .await
        .map_err(|e| Error::db(e, Some(format!("catalog query for {what}")), Some(sql)))
}

/// A `"char"` column as a Rust char.
pub(crate) fn ch(row: &tokio_postgres::Row, idx: &str) -> char {
    let v: i8 = row.get(idx);
    v as u8 as char
}

/// A nullable `"char"` column, empty meaning none.
pub(crate) fn opt_ch(row: &tokio_postgres::Row, idx: &str) -> Option<char> {
    let v: Option<i8> = row.get(idx);
    v.filter(|c| *c != 0).map(|c| c as u8 as char)
}
