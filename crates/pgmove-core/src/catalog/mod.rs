//! Catalog readers: fill a [`Catalog`] from `pg_catalog` in a fixed number of queries.
//!
//! Like pg_dump's `getX` functions, each reader runs one query for one kind of object, whatever
//! the number of objects: pgmove never sends a query per table (the one exception is sequence
//! state on 9.4–9.6, see `sequences`). All readers run inside one `REPEATABLE READ, READ ONLY`
//! transaction with `search_path = ''`, so every name the server's deparsers print is
//! schema-qualified and every query sees the same snapshot. The readers never render SQL for
//! the target and never write.
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
//! With two connections ([`read_parallel`]) the second imports the first's snapshot, and the
//! check is cheaper still: after the read, the first connection (its transaction ended) asks
//! for the server's current transaction snapshot (`txid_current_snapshot()`). If it equals the
//! read's — no transaction took an xid since, and none that was running has ended — nothing
//! can have committed DDL (DDL always takes an xid), and no fingerprint is read at all.
//! Otherwise the two fingerprints are read at once: the one *before* on the second connection,
//! still inside the snapshot, the one *after* on the first.
//!
//! Rows of temporary objects (namespaces `pg_temp_N`/`pg_toast_temp_N`) are left out of the
//! fingerprint, so sessions that create temp tables on the source do not force retries. Role
//! renames are not covered (`pg_authid` is not readable by every user); they change only
//! owner names and GRANT lines.
//!
//! The cost is at most two scans of the catalogs and two queries, against pg_dump's lock per
//! table.
//!
//! The deparsers themselves take no lock on the tables whose definitions they print (indexes,
//! constraints, defaults, partition keys and bounds, triggers, policies come from the caches).
//! Deparsing a *query* does: `pg_get_viewdef` and `pg_get_ruledef` take `ACCESS SHARE` on the
//! relations a view or rule reads (as the planner would), until the read ends. That lock only
//! conflicts with `ACCESS EXCLUSIVE`, and its count is that of relations views read, not of
//! tables. `tests/tests/extract_consistency.rs` checks both.
//!
//! ## Round trips
//!
//! Over a real network each round trip costs a millisecond or more, so a read spends as few as
//! it can: every catalog query goes out unprepared (parse, bind and execute in one message:
//! one round trip, not the two of a prepared statement); a reader's small queries go out
//! together (`query_many`); the first connection's readers run at once, and the second
//! connection's queries go in two groups (what needs the columns waits for them). All of it is
//! pipelined on the connection, so a whole read waits a fixed, small number of round trips
//! whatever the number of objects (`cargo xtask bench extract` reports it beside pg_dump's).
//! Rows are decoded as they arrive, by column name through a per-query
//! hash table (`row.rs`).

mod constraintdef;
mod exprdef;
mod indexdef;
mod misc;
mod relations;
mod routines;
mod row;
mod schemas;
mod sequences;
mod typeref;
mod types;

use crate::model::Catalog;
use crate::{Error, Result};
use row::Row;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_postgres::Client;

/// The `WHERE` fragment that leaves out system schemas, for a namespace alias `n`.
pub(crate) const USER_SCHEMAS: &str =
    "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_(catalog|toast|temp_|toast_temp_)'";

/// How many times [`read`] reads the catalog before giving up on a source whose schema keeps
/// changing.
pub const MAX_ATTEMPTS: u32 = 4;

/// What one read cost, from [`read_with_stats`]. It describes that read only: no count is kept
/// between reads or shared by two of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadStats {
    /// Statements sent to the server, on every connection and in every attempt, transaction
    /// control included. It does not grow with the number of objects (see the module
    /// documentation), which is what the extraction benchmark and its test check.
    pub queries: usize,
    /// How many times the catalog was read: 1, or more when DDL committed during a read.
    pub attempts: u32,
}

/// One connection of a read, with that read's count of statements sent. Readers send only
/// through it, so that [`ReadStats::queries`] counts every statement of the read; it is never
/// kept past the read.
#[derive(Clone, Copy)]
pub(crate) struct Conn<'a> {
    client: &'a Client,
    sent: &'a AtomicUsize,
}

impl<'a> Conn<'a> {
    pub(crate) fn new(client: &'a Client, sent: &'a AtomicUsize) -> Self {
        Conn { client, sent }
    }

    /// The connection, to send `n` statements on it (counted now).
    pub(crate) fn send(self, n: usize) -> &'a Client {
        self.sent.fetch_add(n, Ordering::Relaxed);
        self.client
    }
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
#[non_exhaustive]
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
    read_parallel(std::slice::from_ref(client), opts).await
}

/// [`read_with`] on two connections to the same database at once, for a read in about half
/// the time: most of a read's cost is the server deparsing definitions, and the two halves run
/// on two backends. The second connection imports the first one's snapshot
/// (`pg_export_snapshot`, `SET TRANSACTION SNAPSHOT`), so both see exactly the same catalog;
/// where a snapshot cannot be exported (a 9.x standby), everything runs on the first.
/// Connections past the second are not used.
///
/// ```no_run
/// # async fn demo() -> pgmove_core::Result<()> {
/// use pgmove_core::{catalog, conn};
/// let clients = vec![
///     conn::connect_str("host=db1 dbname=app").await?,
///     conn::connect_str("host=db1 dbname=app").await?,
/// ];
/// let cat = catalog::read_parallel(&clients, catalog::ReadOptions::default()).await?;
/// println!("{} tables", cat.tables.len());
/// # Ok(()) }
/// ```
pub async fn read_parallel(clients: &[Client], opts: ReadOptions) -> Result<Catalog> {
    Ok(read_with_stats(clients, opts).await?.0)
}

/// [`read_parallel`] (on one connection or two), also telling what the read cost: how many
/// statements it sent and how many attempts it took.
///
/// ```no_run
/// # async fn demo() -> pgmove_core::Result<()> {
/// use pgmove_core::{catalog, conn};
/// let client = conn::connect_str("host=db1 dbname=app").await?;
/// let (cat, stats) =
///     catalog::read_with_stats(&[client], catalog::ReadOptions::default()).await?;
/// println!("{} tables in {} queries", cat.tables.len(), stats.queries);
/// # Ok(()) }
/// ```
pub async fn read_with_stats(
    clients: &[Client],
    opts: ReadOptions,
) -> Result<(Catalog, ReadStats)> {
    read_attempts(clients, opts, |_, _| async {}).await
}

/// Read every sequence's current state (`last_value`, `is_called`) again into `cat`, whose
/// definitions were read earlier from the same database. A migration reads the catalog once
/// at its start, but sequence states must be read after the rows were copied: a value taken
/// before the copy may be behind rows the copy moved.
pub async fn refresh_sequence_state(client: &Client, cat: &mut Catalog) -> Result<()> {
    // Counted as any read's statements are; this one reports no figures.
    let sent = AtomicUsize::new(0);
    let conn = Conn::new(client, &sent);
    begin_read(conn).await?;
    let mut fresh = Catalog {
        server_version: cat.server_version,
        ..Default::default()
    };
    let read = sequences::read(conn, &mut fresh, true).await;
    let _ = client.batch_execute("ROLLBACK").await;
    read?;
    let states: std::collections::HashMap<u32, (Option<i64>, bool)> = fresh
        .sequences
        .iter()
        .map(|s| (s.oid, (s.last_value, s.is_called)))
        .collect();
    for s in &mut cat.sequences {
        if let Some(&(last, called)) = states.get(&s.oid) {
            s.last_value = last;
            s.is_called = called;
        }
    }
    Ok(())
}

/// Where in a read [`read_with_hook`] calls its hook.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Inside the snapshot, before any reader (the opening fingerprint included).
    Started,
    /// Inside the snapshot, after the last reader (the read's locks are still held).
    Read,
}

/// [`read_parallel`], calling `hook(attempt, stage)` at each [`Stage`] of each attempt: tests
/// commit DDL there to check that it is detected, and look at the locks the read holds.
#[doc(hidden)]
pub async fn read_with_hook<F, Fut>(
    clients: &[Client],
    opts: ReadOptions,
    hook: F,
) -> Result<Catalog>
where
    F: FnMut(u32, Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    Ok(read_attempts(clients, opts, hook).await?.0)
}

/// Opens a read's transaction: one snapshot for every query.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;";

/// What every connection of a read sets inside its transaction: names always schema-qualified,
/// floats printed exactly, room to sort wide catalog rows in memory, no parallel workers and no
/// JIT (set through `pg_settings`, so servers without the setting skip it: workers are 9.6+,
/// `jit` 11+). No workers: the read already runs on two connections, and a worker's start-up,
/// a Gather Merge of wide rows and the cores it takes from the other connection cost more than
/// they save. No JIT: the planner's cost estimates of the index and function queries pass
/// `jit_above_cost`, and compiling costs more than it ever saves on queries that run once.
const READ_SETTINGS: &str = "SELECT pg_catalog.set_config('search_path', '', true);
     SET LOCAL extra_float_digits = 3;
     SET LOCAL work_mem = '64MB';
     SELECT pg_catalog.set_config(name, CASE name WHEN 'jit' THEN 'off' ELSE '0' END, true)
       FROM pg_catalog.pg_settings WHERE name IN ('max_parallel_workers_per_gather', 'jit');";

/// Open a read's transaction on `client` (the first connection: its snapshot is the read's).
async fn begin_read(client: Conn<'_>) -> Result<()> {
    client
        .send(1)
        .batch_execute(&format!("{BEGIN_READ}\n{READ_SETTINGS}"))
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))
}

async fn read_attempts<F, Fut>(
    clients: &[Client],
    opts: ReadOptions,
    mut hook: F,
) -> Result<(Catalog, ReadStats)>
where
    F: FnMut(u32, Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    let sent = AtomicUsize::new(0);
    let first = clients
        .first()
        .ok_or_else(|| Error::Invalid("no connection to read the catalog with".into()))?;
    let first = Conn::new(first, &sent);
    for attempt in 0..MAX_ATTEMPTS {
        begin_read(first).await?;
        let second = match clients.get(1) {
            Some(c) => share_snapshot(first, Conn::new(c, &sent)).await?,
            None => None,
        };
        let result = read_in_snapshot(first, second, opts, &mut hook, attempt).await;
        // Read-only: rolling back is the same as committing, and also cleans up after an error.
        let rollback = || first.send(1).batch_execute("ROLLBACK");
        let unchanged = match second {
            None => {
                let _ = rollback().await;
                let (cat, before, _) = result?;
                // Outside the snapshot: the catalog as it is now, after every deparser has run.
                let after = fingerprint(first, cat.server_version).await?;
                (after == before.unwrap_or_default()).then_some(cat)
            }
            Some(second) => {
                // The server's transaction snapshot once the read's has ended, asked in the
                // same round trip as the ROLLBACK (pipelined).
                let (_, now) = futures::join!(
                    rollback(),
                    text_row(first, "SELECT txid_current_snapshot()::text")
                );
                let checked = async {
                    let (cat, _, snapshot) = result?;
                    // No transaction with an xid began or ended since the snapshot (the
                    // server's snapshot now is the read's): nothing can have committed DDL,
                    // and neither fingerprint is needed. Otherwise compare them, the one
                    // before on `second`, which still holds the snapshot, the one after on
                    // `first`, at once.
                    if now?.first() == Some(&snapshot) {
                        return Ok::<_, Error>(Some(cat));
                    }
                    let v = cat.server_version;
                    let (before, after) =
                        futures::try_join!(fingerprint(second, v), fingerprint(first, v))?;
                    Ok((after == before).then_some(cat))
                }
                .await;
                let _ = second.send(1).batch_execute("ROLLBACK").await;
                checked?
            }
        };
        if let Some(cat) = unchanged {
            let stats = ReadStats {
                queries: sent.load(Ordering::Relaxed),
                attempts: attempt + 1,
            };
            return Ok((cat, stats));
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

/// Give `second` the snapshot of `first`'s open transaction. `None` (all reading then happens
/// on `first`) when the server cannot export one; `first`'s transaction is then open again.
async fn share_snapshot<'a>(first: Conn<'_>, second: Conn<'a>) -> Result<Option<Conn<'a>>> {
    let id = match text_row(first, "SELECT pg_export_snapshot()").await {
        Ok(row) => row.into_iter().next().unwrap_or_default(),
        Err(e) => {
            tracing::debug!("reading on one connection: cannot export a snapshot: {e}");
            // The failed statement aborted the transaction: start it again.
            first
                .send(1)
                .batch_execute("ROLLBACK")
                .await
                .map_err(|e| Error::db(e, None, Some("ROLLBACK")))?;
            begin_read(first).await?;
            return Ok(None);
        }
    };
    second
        .send(1)
        .batch_execute(&format!(
            "{BEGIN_READ}\nSET TRANSACTION SNAPSHOT {};\n{READ_SETTINGS}",
            crate::quote::literal(&id),
        ))
        .await
        .map_err(|e| Error::db(e, None, Some("SET TRANSACTION SNAPSHOT")))?;
    Ok(Some(second))
}

async fn read_in_snapshot<F, Fut>(
    first: Conn<'_>,
    second: Option<Conn<'_>>,
    opts: ReadOptions,
    hook: &mut F,
    attempt: u32,
) -> Result<(Catalog, Option<String>, String)>
where
    F: FnMut(u32, Stage) -> Fut,
    Fut: Future<Output = ()>,
{
    let row = text_row(
        first,
        "SELECT current_setting('server_version_num'), txid_current_snapshot()::text",
    )
    .await?;
    let version: i32 = row.first().and_then(|v| v.parse().ok()).unwrap_or(0);
    let snapshot = row.get(1).cloned().unwrap_or_default();
    if version < 90400 {
        return Err(Error::Unsupported {
            target: "source".into(),
            version: version.to_string(),
        });
    }
    hook(attempt, Stage::Started).await;
    let empty = || Catalog {
        server_version: version,
        ..Default::default()
    };
    // Two halves of about equal server cost. On one connection the opening fingerprint is read
    // here (it may run after the snapshot was taken: it reads the catalogs through the
    // snapshot, whatever the time); on two, only if needed, at the end (see `read_attempts`).
    let started = std::time::Instant::now();
    let half_a = async {
        let before = match second {
            None => Some(fingerprint(first, version).await?),
            Some(_) => None,
        };
        // The half's readers are independent: each fills its own part of the model and all
        // their queries go out at once (pipelined on the one connection), so the server never
        // waits a round trip for the next query, and the client decodes one result while the
        // server computes the next. The constraints' part is the base: the pending keys point
        // into its `constraints`, which the other parts leave empty. Reading sequence *state*
        // waits until the others are done: before 18 it may use a savepoint, which must not
        // have other readers' queries in the middle of it.
        let state_apart = opts.sequence_state && version < 180000;
        let (mut cat, mut s, mut t, mut r, mut q, mut m) =
            (empty(), empty(), empty(), empty(), empty(), empty());
        let (keys, schemas, types, routines, seqs, misc) = futures::join!(
            relations::read_constraints(first, &mut cat),
            schemas::read(first, &mut s),
            types::read(first, &mut t),
            routines::read(first, &mut r),
            async {
                match state_apart {
                    true => Ok(()),
                    false => sequences::read(first, &mut q, opts.sequence_state).await,
                }
            },
            misc::read(first, &mut m),
        );
        let keys = match (keys, schemas, types, routines, seqs, misc) {
            (Ok(keys), Ok(()), Ok(()), Ok(()), Ok(()), Ok(())) => keys,
            (k, s, t, r, q, m) => {
                return Err(cause([
                    k.err(),
                    s.err(),
                    t.err(),
                    r.err(),
                    q.err(),
                    m.err(),
                ]))
            }
        };
        if state_apart {
            sequences::read(first, &mut q, true).await?;
        }
        for part in [s, t, r, q, m] {
            cat.absorb(part);
        }
        tracing::debug!("first half of the read: {:?}", started.elapsed());
        Ok::<_, Error>((cat, before, keys))
    };
    let half_b = async {
        let mut cat = empty();
        let columns = relations::read(second.unwrap_or(first), &mut cat).await?;
        tracing::debug!("second half of the read: {:?}", started.elapsed());
        Ok::<_, Error>((cat, columns))
    };
    let ((mut cat, before, keys), (other, ((columns, key_columns), operators))) = match second {
        Some(_) => futures::try_join!(half_a, half_b)?,
        // On one connection, one half after the other: a half's error (and the sequence
        // reader's savepoints) must not land in the middle of the other's queries.
        None => {
            let a = half_a.await?;
            (a, half_b.await?)
        }
    };
    cat.absorb(other);
    relations::fill_composite_types(&mut cat, columns);
    relations::finish_constraints(first, &mut cat, keys, &key_columns, &operators).await?;
    hook(attempt, Stage::Read).await;
    Ok((cat, before, snapshot))
}

/// Of the errors of a group of pipelined queries (in the order they were sent; `None` for
/// those that succeeded), the one that caused the others. On one connection a failed query
/// aborts the transaction, so the queries queued behind it fail too, with "current
/// transaction is aborted" (SQLSTATE 25P02), and a reader sent earlier may be waiting on one
/// of those: the error worth showing is the first one of another kind.
pub(super) fn cause(errors: impl IntoIterator<Item = Option<Error>>) -> Error {
    let mut errors: Vec<Error> = errors.into_iter().flatten().collect();
    if errors.is_empty() {
        return Error::Invalid("a pipelined catalog read failed without an error".into());
    }
    let i = errors
        .iter()
        .position(|e| e.sqlstate() != Some("25P02"))
        .unwrap_or(0);
    errors.swap_remove(i)
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
    ("pg_amop", 0, "true"),
    ("pg_amproc", 0, "true"),
    ("pg_am", 0, "true"),
    ("pg_language", 0, "true"),
    ("pg_transform", 90500, "true"),
    ("pg_conversion", 0, "true"),
    ("pg_ts_parser", 0, "true"),
    ("pg_ts_template", 0, "true"),
    ("pg_init_privs", 90600, "true"),
    ("pg_cast", 0, "true"),
    ("pg_enum", 0, "true"),
    ("pg_range", 0, "true"),
    ("pg_collation", 0, "true"),
    ("pg_extension", 0, "true"),
    ("pg_default_acl", 0, "true"),
    ("pg_foreign_data_wrapper", 0, "true"),
    ("pg_foreign_server", 0, "true"),
    ("pg_foreign_table", 0, "true"),
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
    ("pg_publication_namespace", 150000, "true"),
];

/// The catalog fingerprint (see the module documentation): one text, equal before and after a
/// read exactly when no DDL committed in between (up to hash collisions).
async fn fingerprint(client: Conn<'_>, version: i32) -> Result<String> {
    let parts: Vec<String> = FINGERPRINT_CATALOGS
        .iter()
        .filter(|(_, min, _)| version >= *min)
        .map(|(catalog, _, keep)| {
            format!(
                "SELECT '{catalog}:' || count(*) || ':' || COALESCE(sum(hashint8(xmin::text::int8)), 0)
                 FROM pg_catalog.{catalog} WHERE {keep}"
            )
        })
        .chain(std::iter::once(
            // pg_user_mapping is readable by superusers only; its view by everyone, without
            // xmin, so its rows themselves make the part.
            "SELECT 'pg_user_mappings:' || count(*) || ':'
                    || COALESCE(sum(hashtext(umid::text || ':' || COALESCE(umoptions::text, ''))), 0)
             FROM pg_catalog.pg_user_mappings"
                .to_string(),
        ))
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
pub(crate) async fn query(client: Conn<'_>, what: &str, sql: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    query_each(client, what, sql, |r| rows.push(r)).await?;
    Ok(rows)
}

/// Run small catalog queries at once, pipelined on one connection: one round trip for all of
/// them rather than one each, which is what a read costs over a real network. Each query's
/// rows are collected (use [`query_each`] for the ones that grow with the schema); an empty
/// SQL text (a catalog this server does not have) gives no rows and sends nothing. On failure
/// the error is the one that caused the others' (see [`cause`]).
pub(crate) async fn query_many<const N: usize>(
    client: Conn<'_>,
    queries: [(&str, String); N],
) -> Result<[Vec<Row>; N]> {
    let results = futures::future::join_all(queries.iter().map(|(what, sql)| async move {
        match sql.is_empty() {
            true => Ok(Vec::new()),
            false => query(client, what, sql).await,
        }
    }))
    .await;
    if results.iter().any(Result::is_err) {
        return Err(cause(results.into_iter().map(Result::err)));
    }
    let rows: Vec<Vec<Row>> = results.into_iter().flatten().collect();
    Ok(rows
        .try_into()
        .unwrap_or_else(|_| unreachable!("one result per query")))
}

/// Run one catalog query and hand each row to `each` as it arrives (with its time at debug
/// level). The queries whose rows grow with the number of objects (dependencies, columns,
/// tables, sequences, constraints, indexes…) use it directly: collected first, their rows would
/// sit in memory beside the model built from them.
pub(crate) async fn query_each(
    client: Conn<'_>,
    what: &str,
    sql: &str,
    mut each: impl FnMut(Row),
) -> Result<()> {
    use futures::TryStreamExt;
    let started = std::time::Instant::now();
    let fail = |e| {
        Error::db(
            e,
            Some(format!("reading {what} from the catalog")),
            Some(sql),
        )
    };
    // Unprepared (`query_typed_raw`: parse, bind and execute in one message): one round trip
    // instead of two, and nothing to prepare, as none of these queries runs twice.
    let stream = client
        .send(1)
        .query_typed_raw(
            sql,
            std::iter::empty::<(i32, tokio_postgres::types::Type)>(),
        )
        .await
        .map_err(fail)?;
    futures::pin_mut!(stream);
    let mut n = 0usize;
    let mut names = None;
    while let Some(row) = stream.try_next().await.map_err(fail)? {
        let names = names.get_or_insert_with(|| Arc::new(row::Names::new(row.columns())));
        each(Row::new(row, Arc::clone(names)));
        n += 1;
    }
    tracing::debug!(
        "catalog query for {what}: {n} rows in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// The first row of a small query, its values as text (NULL as empty): the simple-query
/// protocol, so one round trip, where `query_one` would prepare first (two).
async fn text_row(client: Conn<'_>, sql: &str) -> Result<Vec<String>> {
    let messages = client
        .send(1)
        .simple_query(sql)
        .await
        .map_err(|e| Error::db(e, None, Some(sql)))?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or_default().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default())
}

/// A `"char"` column as a Rust char.
pub(crate) fn ch(row: &Row, idx: &'static str) -> char {
    let v: i8 = row.get(idx);
    v as u8 as char
}

/// A nullable `"char"` column, empty meaning none.
pub(crate) fn opt_ch(row: &Row, idx: &'static str) -> Option<char> {
    let v: Option<i8> = row.get(idx);
    v.filter(|c| *c != 0).map(|c| c as u8 as char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(sqlstate: &str) -> Error {
        crate::error::server_error(sqlstate, sqlstate, None)
    }

    #[test]
    fn cause_is_the_error_behind_the_aborted_queries() {
        // The reader sent first holds "transaction aborted"; the cause is another's.
        let e = cause([
            Some(db("25P02")),
            None,
            Some(db("42501")),
            Some(db("25P02")),
        ]);
        assert_eq!(e.sqlstate(), Some("42501"));
        let e = cause([None, Some(db("25P02")), Some(db("42P01"))]);
        assert_eq!(e.sqlstate(), Some("42P01"));
        let e = cause([None, Some(db("25P02"))]);
        assert_eq!(e.sqlstate(), Some("25P02"));
    }
}
