//! Start replication: after the preflight passed, a publication on the source for exactly the
//! tables in scope (its comment holds the schema's [`super::fingerprint`]), the primary keys
//! and replica-identity indexes of those tables on the target, and a subscription on the
//! target with `copy_data = true`. Idempotent: a re-run (after a kill at any point) finds what
//! an earlier run created, by name, and continues.
//!
//! Why keys before the copy, when the rest of post-data waits: the subscriber finds the row
//! each replicated UPDATE or DELETE names through its table's primary key or replica identity
//! index, and refuses both on a table without one (unless the source sends whole rows, with
//! `REPLICA IDENTITY FULL`). Changes flow from the first minute, during the copy, so those
//! keys must exist before; a later `post-data` skips them as already there.
//!
//! Never prints or returns the connection string's password; the failing `CREATE
//! SUBSCRIPTION` is reported without its statement, and the session asks the target not to log
//! it. While that statement runs (creating the slot waits for the source's open transactions),
//! its text is visible in the target's `pg_stat_activity` to superusers and the same role.

use super::fingerprint::{self, Meta};
use super::names::Names;
use super::{
    check_owner, existing, names_of, preflight, table_name, tables_in_scope, target_identity,
};
use crate::conn::{self, ConnSpec, Secret};
use crate::filter::Filter;
use crate::model::{class, Catalog, ObjRef};
use crate::plan::{self, Step};
use crate::quote::{ident, literal};
use crate::render::Kind;
use crate::{apply, Error, Result};
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Choices of [`start`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StartOptions {
    /// Which tables replicate (the same filters as the other steps).
    pub filter: Filter,
    /// The user's consent to set `REPLICA IDENTITY FULL` on tables in scope that have neither
    /// a primary key nor a replica identity (else the preflight refuses them). Every UPDATE and
    /// DELETE on them then writes the whole old row to the source's WAL; cutover sets their
    /// replica identity back.
    pub replica_identity_full: bool,
    /// The connection string the target uses to reach the source, when it differs from the
    /// source's own (another address from inside the target's network, other TLS files).
    /// By default the source's own: host, port, user, database, password and sslmode.
    pub source_from_target: Option<Secret>,
}

impl StartOptions {
    /// Options for the tables `filter` selects, without consent to `REPLICA IDENTITY FULL`.
    pub fn new(filter: Filter) -> StartOptions {
        StartOptions {
            filter,
            ..Default::default()
        }
    }
}

/// What [`start`] did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Started {
    /// The publication's, slot's and subscription's names.
    pub names: Names,
    /// Tables published (quoted `schema.table`).
    pub tables: Vec<String>,
    /// The subscription existed already: this run continued an earlier one.
    pub resumed: bool,
    /// Tables set to `REPLICA IDENTITY FULL` on the source by this run.
    pub identity_full: Vec<String>,
    /// Primary keys and replica-identity indexes created on the target by this run.
    pub keys_created: usize,
}

/// Check, then start replicating what `opts.filter` selects of `cat` (read from `source`)
/// into `target`, whose pre-data schema must exist with empty tables. Returns once the
/// subscription exists; the copy and the stream run on the servers (see [`super::status()`]).
pub async fn start(
    source: &ConnSpec,
    target: &ConnSpec,
    cat: &Catalog,
    opts: &StartOptions,
) -> Result<Started> {
    let (s, t) = tokio::try_join!(conn::connect(source), conn::connect(target))?;
    let names = names_of(&t).await?;
    let me = target_identity(&t).await?;
    let ex = existing(&s, &t, &names).await?;
    let meta = ex
        .publication
        .as_ref()
        .and_then(|c| c.as_deref())
        .and_then(Meta::from_comment);
    check_owner(&names, meta.as_ref(), &me)?;
    // A session of an earlier, killed run may still wait in CREATE SUBSCRIPTION; end it first,
    // so what exists below is settled.
    end_earlier_sessions(&t, &names).await?;
    let pre = preflight(&s, &t, cat, opts).await?;
    pre.check()?;
    let ex = existing(&s, &t, &names).await?;

    let mut identity_full = Vec::new();
    if ex.publication.is_some() {
        check_published(&s, &names, &pre.tables).await?;
    } else {
        // REPLICA IDENTITY FULL, the publication and its record in one transaction: a kill
        // leaves all of it or none, so the record always names every table set to FULL.
        let mut sql = String::new();
        for (name, _) in &pre.without_key {
            sql.push_str(&format!("ALTER TABLE ONLY {name} REPLICA IDENTITY FULL;\n"));
            identity_full.push(name.clone());
        }
        let meta = Meta {
            pgmove_cdc: 1,
            schema: digest_with_full(cat, &opts.filter, &pre.without_key),
            identity_full: pre.without_key.clone(),
            target: me,
        };
        sql += &format!(
            "CREATE PUBLICATION {p} FOR TABLE {};\nCOMMENT ON PUBLICATION {p} IS {};",
            pre.tables
                .iter()
                .map(|t| format!("ONLY {t}"))
                .collect::<Vec<_>>()
                .join(", "),
            literal(&meta.to_comment()),
            p = ident(&names.publication)
        );
        // One simple query: one implicit transaction.
        s.batch_execute(&sql).await.map_err(|e| {
            Error::creating(e, &format!("publication {}", names.publication), Some(&sql))
        })?;
    }

    // The target's copies of the tables set to FULL get it too, so the two schemas stay
    // alike until cutover sets both back (a subscriber's replica identity changes nothing).
    let full_on_source: Vec<&String> = match (&meta, ex.publication.is_some()) {
        (Some(m), true) => m.identity_full.iter().map(|(t, _)| t).collect(),
        _ => pre.without_key.iter().map(|(t, _)| t).collect(),
    };
    if !full_on_source.is_empty() {
        let sql: String = full_on_source
            .iter()
            .map(|t| format!("ALTER TABLE IF EXISTS ONLY {t} REPLICA IDENTITY FULL;\n"))
            .collect();
        t.batch_execute(&sql).await.map_err(|e| {
            Error::db(
                e,
                Some("setting REPLICA IDENTITY FULL on the target".into()),
                Some(&sql),
            )
        })?;
    }

    let keys_created = if ex.subscription.is_none() {
        identity_keys(&t, cat, &opts.filter).await?
    } else {
        0
    };

    if ex.subscription.is_none() {
        drop_orphan_slot(&s, &names, ex.slot).await?;
        let conninfo = match &opts.source_from_target {
            Some(c) => c.clone(),
            None => source.to_conninfo(),
        };
        create_subscription(&t, &names, &conninfo).await?;
    }
    Ok(Started {
        names,
        tables: pre.tables,
        resumed: ex.subscription.is_some(),
        identity_full,
        keys_created,
    })
}

/// The schema digest as the source will render it once `set` tables are `REPLICA IDENTITY
/// FULL` (the catalog was read before).
fn digest_with_full(cat: &Catalog, filter: &Filter, set: &[(String, char)]) -> fingerprint::Digest {
    if set.is_empty() {
        return fingerprint::digest(cat, filter);
    }
    let names: HashSet<&str> = set.iter().map(|(n, _)| n.as_str()).collect();
    let mut c = cat.clone();
    for t in c.tables.iter_mut() {
        if names.contains(table_name(t).as_str()) {
            t.replica_identity = 'f';
        }
    }
    fingerprint::digest(&c, filter)
}

/// An existing publication must publish exactly the tables in scope (a re-run with other
/// filters would silently replicate other tables).
async fn check_published(source: &Client, names: &Names, tables: &[String]) -> Result<()> {
    let rows = source
        .query(
            "SELECT quote_ident(schemaname::text) || '.' || quote_ident(tablename::text)
               FROM pg_publication_tables WHERE pubname = $1",
            &[&names.publication],
        )
        .await
        .map_err(|e| {
            Error::db(
                e,
                Some(format!("reading publication {}", names.publication)),
                None,
            )
        })?;
    let published: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let wanted: HashSet<String> = tables.iter().cloned().collect();
    if published != wanted {
        let mut problems: Vec<String> = wanted
            .difference(&published)
            .map(|t| format!("{t} is in scope but not published"))
            .chain(
                published
                    .difference(&wanted)
                    .map(|t| format!("{t} is published but not in scope")),
            )
            .collect();
        problems.sort();
        return Err(Error::Problems {
            context: format!(
                "publication {} on the source, from an earlier run, publishes other tables than \
                 these filters select; run with the earlier filters",
                names.publication
            ),
            problems,
        });
    }
    Ok(())
}

/// Create the primary keys and replica-identity indexes of the tables in scope on the target,
/// skipping those already there. Returns how many were created.
async fn identity_keys(target: &Client, cat: &Catalog, filter: &Filter) -> Result<usize> {
    let scope: HashSet<u32> = tables_in_scope(cat, filter).iter().map(|t| t.oid).collect();
    let mut wanted: HashSet<ObjRef> = HashSet::new();
    for c in cat.constraints.iter().filter(|c| c.contype == 'p') {
        wanted.insert(ObjRef::new(class::PG_CONSTRAINT, c.oid));
        wanted.insert(ObjRef::new(class::PG_CLASS, c.index_oid));
    }
    for ix in cat.indexes.iter().filter(|i| i.is_replica_identity) {
        wanted.insert(ObjRef::new(class::PG_CLASS, ix.oid));
    }
    let p = plan::plan_with(cat, Step::PostData, &Default::default(), filter);
    let items: Vec<_> = p
        .items
        .into_iter()
        .filter(|i| matches!(i.kind, Kind::Constraint | Kind::Index))
        .filter(|i| i.table.is_some_and(|t| scope.contains(&t)))
        .filter(|i| i.provides.iter().any(|o| wanted.contains(o)))
        .collect();
    if items.is_empty() {
        return Ok(0);
    }
    let sizes = cat.tables.iter().map(|t| (t.oid, t.size_bytes)).collect();
    let report =
        apply::apply_parallel(std::slice::from_ref(target), &items, &sizes, |_, _, _| {}).await?;
    Ok(report.applied)
}

/// End sessions of earlier pgmove runs on the target that still wait in `CREATE SUBSCRIPTION`
/// (their client was killed), and wait until they are gone.
async fn end_earlier_sessions(target: &Client, names: &Names) -> Result<()> {
    let err = |e| {
        Error::db(
            e,
            Some("ending earlier pgmove sessions on the target".into()),
            None,
        )
    };
    target
        .batch_execute(&format!(
            "SET application_name = {}",
            literal(&names.session)
        ))
        .await
        .map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = target
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&names.session],
            )
            .await
            .map_err(err)?;
        if rows.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Invalid(format!(
                "an earlier pgmove session on the target (application_name '{}') did not end",
                names.session
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A slot named as ours without our subscription is what a killed `CREATE SUBSCRIPTION` left
/// on the source: drop it, after its walsender (if any) has gone.
async fn drop_orphan_slot(source: &Client, names: &Names, slot: Option<i32>) -> Result<()> {
    if slot.is_none() {
        return Ok(());
    }
    let err = |e| {
        Error::db(
            e,
            Some(format!("dropping replication slot {}", names.slot)),
            None,
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = source
            .query_opt(
                "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = $1",
                &[&names.slot],
            )
            .await
            .map_err(err)?;
        match row.map(|r| r.get::<_, i32>(0)) {
            None => return Ok(()),
            Some(0) => {
                source
                    .execute("SELECT pg_drop_replication_slot($1)", &[&names.slot])
                    .await
                    .map_err(err)?;
                return Ok(());
            }
            Some(pid) if Instant::now() > deadline => {
                return Err(Error::Invalid(format!(
                    "replication slot {} on the source is in use by process {pid}, but the \
                     target has no subscription {}; end that process, then run again",
                    names.slot, names.subscription
                )))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `CREATE SUBSCRIPTION` on the target. The statement holds the password: the server is asked
/// not to log it (best effort: those settings need superuser), and an error is reported
/// without it.
async fn create_subscription(target: &Client, names: &Names, conninfo: &Secret) -> Result<()> {
    let _ = target
        .batch_execute("SET log_statement = 'none'; SET log_min_error_statement = 'panic'")
        .await;
    let sql = format!(
        "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} \
         WITH (copy_data = true, create_slot = true, enabled = true, slot_name = {})",
        ident(&names.subscription),
        literal(conninfo.expose()),
        ident(&names.publication),
        literal(&names.slot)
    );
    target.batch_execute(&sql).await.map_err(|e| {
        let mut err = Error::creating(e, &format!("subscription {}", names.subscription), None);
        // The server may quote the connection string back; never pass it on.
        err = err.redact(conninfo.expose(), "<connection string>");
        if let Error::Db(db) = &mut err {
            // libpq's message spans lines (a hint on a tab-indented second line): make it one.
            let one_line = |s: &mut String| {
                *s = s.lines().map(str::trim).collect::<Vec<_>>().join(" ");
            };
            one_line(&mut db.message);
            if let Some(d) = &mut db.detail {
                one_line(d);
            }
        }
        err
    })
}
