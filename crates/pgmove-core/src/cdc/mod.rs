//! Online migration with PostgreSQL's native logical replication (sources 10 and newer): the
//! target subscribes to the source, copies every table from a consistent snapshot and then
//! streams each later change, while the application keeps writing to the source; at cutover
//! the application stops writing, replication catches up, sequences are set and every
//! replication object is dropped.
//!
//! The flow, one function each:
//! 1. `pgmove schema` (pre-data) on the target, as for an offline migration.
//! 2. [`preflight()`] then [`start()`]: a publication on the source for exactly the tables in scope
//!    and a subscription on the target with `copy_data = true`. Returns once the subscription
//!    exists; the server copies and streams on its own.
//! 3. [`status()`] / [`wait_streaming`]: per table state, lag in bytes and time.
//! 4. Post-data on the target while changes flow (`plan::Step::PostData`, as offline).
//! 5. [`cutover()`], once the application stopped writing to the source.
//!
//! Why PostgreSQL's table sync and not pgmove's own parallel copy from the slot's snapshot:
//! the server hands each table over from its copy to the stream itself (each table sync
//! worker copies in its own snapshot and applies the changes between that snapshot and the
//! main stream's position before handing the table to the apply worker), so no change can be
//! lost or applied twice at the seam, with nothing in pgmove to get wrong. Tables are copied
//! `max_sync_workers_per_subscription` at a time (a target setting, 2 by default; raise it,
//! with `max_logical_replication_workers` and the source's `max_wal_senders` and
//! `max_replication_slots`, for more parallel copies).
//!
//! What this module never does: it never copies or changes rows itself, never creates
//! anything on either server before every preflight check passed, and never prints, logs or
//! returns the password of the connection string the target uses to reach the source. That
//! string is stored in the target's `pg_subscription` while replication runs, as with any
//! subscription (readable by superusers there), and is gone once cutover drops the
//! subscription.
//!
//! Not replicated by PostgreSQL: DDL (detected, see [`fingerprint`]), sequence values (set at
//! cutover) and large objects (`pg_largeobject`; `migrate --online` copies them with the rows,
//! and cutover brings them up to date with [`crate::lobs::sync`]).

pub mod cutover;
pub mod fingerprint;
pub mod names;
pub mod preflight;
pub mod start;
pub mod status;

pub use cutover::{abandon, cutover, CutoverOptions, CutoverReport};
pub use names::Names;

pub use preflight::{preflight, Preflight};
pub use start::{start, StartOptions, Started};
pub use status::{status, wait_streaming, Counts, Status, TableState, TableStatus};

use crate::model::{Catalog, Table};
use crate::quote::qualified;
use crate::{filter::Filter, Error, Result};
use tokio_postgres::Client;

/// The tables whose rows replication moves: plain tables and leaf partitions that `filter`
/// selects. Partitioned parents hold no rows and are not published: each leaf is published
/// itself (`publish_via_partition_root` stays off), which works from a 10 source (partitioned
/// tables can be published only from 13), lets each leaf copy in its own table sync, and
/// matches the target, whose schema has the same leaves. Foreign tables are left out.
pub(crate) fn tables_in_scope<'c>(cat: &'c Catalog, filter: &Filter) -> Vec<&'c Table> {
    let keep = filter.relations(cat);
    let mut v: Vec<&Table> = cat
        .tables
        .iter()
        .filter(|t| t.relkind == 'r' && keep.contains(&t.oid))
        .collect();
    v.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    v
}

/// `schema.table`, quoted.
pub(crate) fn table_name(t: &Table) -> String {
    qualified(&t.schema, &t.name)
}

/// The names of this migration, from the target's database name.
pub async fn names_of(target: &Client) -> Result<Names> {
    let row = target
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(|e| Error::db(e, Some("reading the target's database name".into()), None))?;
    Ok(Names::for_target(row.get::<_, String>(0).as_str()))
}

/// What exists of one migration's replication objects.
#[derive(Debug, Clone, Default)]
pub(crate) struct Existing {
    /// The publication on the source, with its comment.
    pub publication: Option<Option<String>>,
    /// The subscription on the target: its OID and whether it is enabled.
    pub subscription: Option<(u32, bool)>,
    /// The slot on the source: the pid of the process using it, 0 when inactive.
    pub slot: Option<i32>,
}

pub(crate) async fn existing(source: &Client, target: &Client, names: &Names) -> Result<Existing> {
    let db = |what: &str| {
        let what = what.to_string();
        move |e| Error::db(e, Some(what), None)
    };
    let publication = source
        .query_opt(
            "SELECT obj_description(oid, 'pg_publication') FROM pg_publication WHERE pubname = $1",
            &[&names.publication],
        )
        .await
        .map_err(db("looking up the publication on the source"))?
        .map(|r| r.get::<_, Option<String>>(0));
    let slot = source
        .query_opt(
            "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1",
            &[&names.slot],
        )
        .await
        .map_err(db("looking up the replication slot on the source"))?
        .map(|r| r.get::<_, i32>(0));
    let subscription = target
        .query_opt(
            "SELECT s.oid, s.subenabled FROM pg_subscription s
              WHERE s.subname = $1
                AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&names.subscription],
        )
        .await
        .map_err(db("looking up the subscription on the target"))?
        .map(|r| (r.get::<_, u32>(0), r.get::<_, bool>(1)));
    Ok(Existing {
        publication,
        subscription,
        slot,
    })
}

/// Which target a migration belongs to: the target cluster's system identifier and the
/// database's name (the name alone when the server does not let this user read the
/// identifier).
pub async fn target_identity(target: &Client) -> Result<String> {
    let id = target
        .query_one(
            "SELECT system_identifier::text || '/' || current_database() FROM pg_control_system()",
            &[],
        )
        .await;
    match id {
        Ok(r) => Ok(r.get(0)),
        Err(_) => {
            let r = target
                .query_one("SELECT current_database()::text", &[])
                .await
                .map_err(|e| Error::db(e, Some("reading the target's identity".into()), None))?;
            Ok(r.get(0))
        }
    }
}

/// Fail when pgmove's publication on the source records another target than `target`.
pub(crate) fn check_owner(
    names: &Names,
    meta: Option<&fingerprint::Meta>,
    target: &str,
) -> Result<()> {
    match meta {
        Some(m) if !m.target.is_empty() && m.target != target => Err(Error::Invalid(format!(
            "publication {} on the source belongs to a migration into another target ({}),              whose database has this one's name; nothing was changed: finish or cut over that              migration first",
            names.publication, m.target
        ))),
        _ => Ok(()),
    }
}

/// `server_version_num` of a connection.
pub(crate) async fn version_num(c: &Client, side: &str) -> Result<i32> {
    let r = c
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| Error::db(e, Some(format!("reading the {side} version")), None))?;
    Ok(r.get(0))
}
