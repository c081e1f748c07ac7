//! Catalog readers: fill a [`Catalog`] from `pg_catalog` in a fixed number of queries.
//!
//! Like pg_dump's `getX` functions, each reader runs one query for one kind of object, whatever
//! the number of objects: pgmove never sends a query per table (the one exception is sequence
//! state on 9.4–9.6, see `sequences`). All readers run inside one `REPEATABLE READ, READ ONLY`
//! transaction with `search_path = ''`, so every name the server's deparsers print is
//! schema-qualified and every query sees the same snapshot. The readers never render SQL for
//! the target and never write. [`queries_sent`] counts the statements, for benchmarks.
//!
//! ## Consistency without locks
//!
//! One snapshot is not enough on its own: the deparsers (`pg_get_indexdef`, `pg_get_viewdef`,
//! `pg_get_constraintdef`, `pg_get_expr`…) read the catalog through the server's caches, which
//! show the *latest committed* catalog, not the transaction's snapshot. pg_dump copes by taking
//! `ACCESS SHARE` on every table it dumps (one lock per table: 100,000 tables need a lock table
//! that large) and still only covers tables. pgmove takes no such locks. It detects instead:
//!
//! 1. inside the snapshot, before any deparser runs, it reads a *fingerprint* of the catalogs
//!    the model comes from: for each catalog, the number of rows and the sum of a hash of each
//!    row's `xmin` (see `FINGERPRINT_CATALOGS`). Every committed DDL inserts, deletes or
//!    replaces rows of these catalogs, and a replaced row version carries the new `xmin`, so
//!    the fingerprint changes with any committed DDL (up to a 32-bit hash collision), including
//!    an ALTER and its reverse. In-place updates that are not DDL (`ANALYZE`'s `reltuples`,
//!    vacuum's `relfrozenxid`, freezing, which keeps the raw `xmin`) do not change it;
//! 2. after the last query, outside the snapshot (a new statement on the same connection,
//!    after `ROLLBACK`, sees the latest committed catalog), it reads the fingerprint again;
//! 3. equal fingerprints mean no DDL committed between the snapshot and the end of the read, so
//!    every deparser saw the snapshot's catalog and the model is consistent. Different ones
//!    mean some deparser may have seen a newer catalog than the joins around it: the whole read
//!    is thrown away and done again, up to [`MAX_ATTEMPTS`] times, then it fails with
//!    [`Error::SchemaChanged`]. A mixed model is never returned.
//!
//! Rows of temporary objects (namespaces `pg_temp_N`/`pg_toast_temp_N`) are left out of the
//! fingerprint, so sessions that create temp tables on the source do not force retries. Role
//! renames are not covered (`pg_authid` is not readable by every user); they change only
//! owner names and GRANT lines.
//!
//! The cost is two scans of the catalogs (tens of milliseconds at 10,000 tables) and two
//! queries, against pg_dump's lock per table.
//!
//! The deparsers themselves take no lock on the tables whose definitions they print (indexes,
//! constraints, defaults, partition keys and bounds, triggers, policies come from the caches).
//! Deparsing a *query* does: `pg_get_viewdef` and `pg_get_ruledef` take `ACCESS SHARE` on the
//! relations a view or rule reads (as the planner would), until the read ends. That lock only
//! conflicts with `ACCESS EXCLUSIVE`, and its count is that of relations views read, not of
//! tables. `tests/tests/extract_consistency.rs` checks both.

mod misc;
mod relations;
mod routines;
mod schemas;
mod sequences;
mod types;

use crate::model::Catalog;
use crate::{Error, Result};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_postgres::Client;

/// The `WHERE` fragment that leaves out system schemas, for a namespace alias `n`.
pub(crate) const USER_SCHEMAS: &str =
    "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_(catalog|toast|temp_|toast_temp_)'";

/// How many times [`read`] reads the catalog before giving up on a source whose schema keeps
/// changing.
pub const MAX_ATTEMPTS: u32 = 4;

static QUERIES: AtomicUsize = AtomicUsize::new(0);

/// Statements the catalog readers have sent in this process (all connections, all reads).
pub fn queries_sent() -> usize {
    QUERIES.load(Ordering::Relaxed)
}

fn count(n: usize) {
    QUERIES.fetch_add(n, Ordering::Relaxed);
}

/// Read the whole catalog of the database `client` is connected to.
///
/// The transaction is read-only and takes no lock on user tables (the queries read system
/// catalogs only, so the target of a migration or validation is never blocked). If DDL commits
/// on the source while it reads, it reads again (see the module documentation).
pub async fn read(client: &Client) -> Result<Catalog> {
    read_with(client, ReadOptions::default()).await
}

/// What a read includes beyond the schema itself.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Each sequence's current value (`last_value`, `is_called`). Only the `sequences` step and
    /// validation need it, and reading it opens, so locks, every sequence: the `schema` and
    /// `post-data` steps leave it out. Default: read it.
    pub sequence_state: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            sequence_state: true,
        }
    }
}

/// [`read`] with [`ReadOptions`].
pub async fn read_with(client: &Client, opts: ReadOptions) -> Result<Catalog> {
    read_attempts(client, opts, |_, _| async {}).await
}

/// Where in a read [`read_with_hook`] calls its hook.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Inside the snapshot, after the opening fingerprint, before any reader.
    Started,
    /// Inside the snapshot, after the last reader (the read's locks are still held).
    Read,
}

/// [`read`], calling `hook(attempt, stage)` at each [`Stage`] of each attempt: tests commit
/// DDL there to check that it is detected, and look at the locks the read holds.
#[doc(hidden)]
pub async fn read_with_hook<F, Fut>(client: &Client, opts: ReadOptions, hook: F) -> Result<Catalog>
where
    F: FnMut(u32, Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    read_attempts(client, opts, hook).await
}

async fn read_attempts<F, Fut>(client: &Client, opts: ReadOptions, mut hook: F) -> Result<Catalog>
where
    F: FnMut(u32, Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    for attempt in 0..MAX_ATTEMPTS {
        count(1);
        client
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
                 SELECT pg_catalog.set_config('search_path', '', true);
                 SET LOCAL extra_float_digits = 3;",
            )
            .await
            .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
        let result = read_in_snapshot(client, opts, &mut hook, attempt).await;
        // Read-only: rolling back is the same as committing, and also cleans up after an error.
        count(1);
        let _ = client.batch_execute("ROLLBACK").await;
        let (cat, before) = result?;
        // Outside the snapshot: the catalog as it is now, after every deparser has run.
        let after = fingerprint(client, cat.server_version).await?;
        if after == before {
            return Ok(cat);
        }
        tracing::info!(
            "the source's catalog changed during read {}; reading again",
            attempt + 1
        );
    }
    Err(Error::SchemaChanged {
        attempts: MAX_ATTEMPTS,
    })
}

async fn read_in_snapshot<F, Fut>(
    client: &Client,
    opts: ReadOptions,
    hook: &mut F,
    attempt: u32,
) -> Result<(Catalog, String)>
where
    F: FnMut(u32, Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    count(1);
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
    let before = fingerprint(client, version).await?;
    hook(attempt, Stage::Started).await;
    let mut cat = Catalog {
        server_version: version,
        ..Default::default()
    };
    schemas::read(client, &mut cat).await?;
    types::read(client, &mut cat).await?;
    routines::read(client, &mut cat).await?;
    sequences::read(client, &mut cat, opts.sequence_state).await?;
    relations::read(client, &mut cat).await?;
    misc::read(client, &mut cat).await?;
    hook(attempt, Stage::Read).await;
    Ok((cat, before))
}

/// Catalogs whose rows the model (or a deparser it calls) reads, with the server version that
/// has them and how a row of a temporary object is recognised (`tmp_ns`: temp namespaces,
/// `tmp_rel`: their relations, `tmp_obj`: relations, types and constraints in them).
const FINGERPRINT_CATALOGS: &[(&str, i32, &str)] = &[
    ("pg_namespace", 0, "oid NOT IN (SELECT oid FROM tmp_ns)"),
    (
        "pg_class",
        0,
        "relnamespace NOT IN (SELECT oid FROM tmp_ns)",
    ),
    (
        "pg_attribute",
        0,
        "attrelid NOT IN (SELECT oid FROM tmp_rel)",
    ),
    ("pg_attrdef", 0, "adrelid NOT IN (SELECT oid FROM tmp_rel)"),
    (
        "pg_constraint",
        0,
        "connamespace NOT IN (SELECT oid FROM tmp_ns)",
    ),
    ("pg_index", 0, "indrelid NOT IN (SELECT oid FROM tmp_rel)"),
    (
        "pg_inherits",
        0,
        "inhrelid NOT IN (SELECT oid FROM tmp_rel)",
    ),
    ("pg_type", 0, "typnamespace NOT IN (SELECT oid FROM tmp_ns)"),
    (
        "pg_depend",
        0,
        "objid NOT IN (SELECT oid FROM tmp_obj) AND refobjid NOT IN (SELECT oid FROM tmp_obj)",
    ),
    ("pg_trigger", 0, "tgrelid NOT IN (SELECT oid FROM tmp_rel)"),
    ("pg_rewrite", 0, "ev_class NOT IN (SELECT oid FROM tmp_rel)"),
    (
        "pg_description",
        0,
        "objoid NOT IN (SELECT oid FROM tmp_obj)",
    ),
    ("pg_proc", 0, "true"),
    ("pg_aggregate", 0, "true"),
    ("pg_operator", 0, "true"),
    ("pg_opclass", 0, "true"),
    ("pg_opfamily", 0, "true"),
    ("pg_cast", 0, "true"),
    ("pg_enum", 0, "true"),
    ("pg_range", 0, "true"),
    ("pg_collation", 0, "true"),
    ("pg_extension", 0, "true"),
    ("pg_default_acl", 0, "true"),
    ("pg_foreign_data_wrapper", 0, "true"),
    ("pg_foreign_server", 0, "true"),
    ("pg_foreign_table", 0, "true"),
    ("pg_user_mapping", 0, "true"),
    ("pg_ts_config", 0, "true"),
    ("pg_ts_config_map", 0, "true"),
    ("pg_ts_dict", 0, "true"),
    ("pg_event_trigger", 0, "true"),
    (
        "pg_policy",
        90500,
        "polrelid NOT IN (SELECT oid FROM tmp_rel)",
    ),
    (
        "pg_sequence",
        100000,
        "seqrelid NOT IN (SELECT oid FROM tmp_rel)",
    ),
    (
        "pg_partitioned_table",
        100000,
        "partrelid NOT IN (SELECT oid FROM tmp_rel)",
    ),
    (
        "pg_statistic_ext",
        100000,
        "stxnamespace NOT IN (SELECT oid FROM tmp_ns)",
    ),
    ("pg_publication", 100000, "true"),
    ("pg_publication_rel", 100000, "true"),
];

/// The catalog fingerprint (see the module documentation): one text, equal before and after a
/// read exactly when no DDL committed in between (up to hash collisions).
async fn fingerprint(client: &Client, version: i32) -> Result<String> {
    let parts: Vec<String> = FINGERPRINT_CATALOGS
        .iter()
        .filter(|(_, min, _)| version >= *min)
        .map(|(catalog, _, keep)| {
            format!(
                "SELECT '{catalog}:' || count(*) || ':' || COALESCE(sum(hashint8(xmin::text::int8)), 0)
                 FROM pg_catalog.{catalog} WHERE {keep}"
            )
        })
        .collect();
    let sql = format!(
        "WITH tmp_ns AS (SELECT oid FROM pg_catalog.pg_namespace
                          WHERE nspname ~ '^pg_(toast_)?temp_'),
              tmp_rel AS (SELECT oid FROM pg_catalog.pg_class
                           WHERE relnamespace IN (SELECT oid FROM tmp_ns)),
              tmp_obj AS (SELECT oid FROM tmp_ns UNION ALL SELECT oid FROM tmp_rel
                          UNION ALL SELECT oid FROM pg_catalog.pg_type
                                     WHERE typnamespace IN (SELECT oid FROM tmp_ns)
                          UNION ALL SELECT oid FROM pg_catalog.pg_constraint
                                     WHERE connamespace IN (SELECT oid FROM tmp_ns))
         SELECT string_agg(f, ' ' ORDER BY f) FROM ({}) x(f)",
        parts.join("\n UNION ALL ")
    );
    let rows = query(client, "the catalog fingerprint", &sql).await?;
    Ok(rows
        .first()
        .and_then(|r| r.get::<_, Option<String>>(0))
        .unwrap_or_default())
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
    count(1);
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
