//! Cutover, once the application stopped writing to the source: wait until every table streams
//! and the target confirmed everything the source wrote, check that the source's schema is
//! the one replication started with, set every sequence from the source's current state plus
//! a margin, bring the large objects up to date (PostgreSQL does not replicate them: new ones
//! are copied, dropped ones removed, changed ones copied again, see [`crate::lobs::sync`]),
//! then drop the subscription (which drops its slot on the source) and the publication,
//! leaving nothing of pgmove on either server.
//!
//! Safe to run again at any point: sequences and large objects are set only while the
//! subscription exists (after it is dropped the target may already take writes, and an older
//! source state must never overwrite them), and every drop skips what is gone.

use super::fingerprint::{self, Meta};
use super::status::{status, wait_streaming, Status};
use super::{check_owner, existing, names_of, target_identity, Names};
use crate::catalog::{self, ReadOptions};
use crate::conn::{self, ConnSpec};
use crate::filter::Filter;
use crate::plan::{self, Step};
use crate::quote::ident;
use crate::{apply, Error, Result};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Choices of [`cutover`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CutoverOptions {
    /// The filters `start` ran with: which sequences are set.
    pub filter: Filter,
    /// Move each sequence this many steps further in its direction.
    pub margin: i64,
    /// How long to wait for the tables to stream and the lag to close.
    pub timeout: Duration,
    /// Go on when the source's schema changed since start (the user applied the same changes
    /// on the target); by default such changes are an error and nothing is dropped.
    pub allow_schema_changes: bool,
    /// How large objects are brought up to date (connections, privileges); `None` leaves
    /// them out. They are left out too when `filter` selects part of the database, as
    /// pg_dump leaves them out of a filtered dump.
    pub large_objects: Option<crate::lobs::Options>,
}

impl Default for CutoverOptions {
    fn default() -> Self {
        CutoverOptions {
            filter: Filter::default(),
            margin: 0,
            timeout: Duration::from_secs(600),
            allow_schema_changes: false,
            large_objects: Some(crate::lobs::Options::default()),
        }
    }
}

/// What [`cutover`] did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CutoverReport {
    /// The publication's, slot's and subscription's names.
    pub names: Names,
    /// Sessions on the source with an open write transaction when cutover began (the
    /// application should have stopped; those writes land only if they commit before the
    /// wait ends).
    pub open_writes: Vec<String>,
    /// The source's WAL position the target confirmed before anything was dropped.
    pub confirmed_lsn: Option<String>,
    /// Seconds spent waiting for tables and lag.
    pub waited_seconds: f64,
    /// Sequences set (`sequence schema.name`).
    pub sequences_set: Vec<String>,
    /// What bringing the large objects up to date did; none when they were left out (a
    /// filter) or the subscription was already gone.
    pub large_objects: Option<crate::lobs::SyncReport>,
    /// Schema changes on the source since start, when allowed.
    pub schema_changes: Vec<String>,
    /// Tables whose replica identity was set back on the source.
    pub identity_restored: Vec<String>,
    /// Objects dropped, e.g. `subscription pgmove_cdc_app on the target`.
    pub dropped: Vec<String>,
    /// Nothing was left to do: an earlier cutover finished (or replication never started).
    pub already_done: bool,
}

/// Cut over from `source` to `target`; see the module documentation. `progress` gets each
/// status read while waiting.
pub async fn cutover(
    source_spec: &ConnSpec,
    target_spec: &ConnSpec,
    opts: &CutoverOptions,
    mut progress: impl FnMut(&Status),
) -> Result<CutoverReport> {
    let (source, target) =
        tokio::try_join!(conn::connect(source_spec), conn::connect(target_spec))?;
    let (source, target) = (&source, &target);
    let (names, ex, meta) = what_replicates(source, target).await?;
    let mut report = CutoverReport {
        names: names.clone(),
        open_writes: open_writes(source).await?,
        confirmed_lsn: None,
        waited_seconds: 0.0,
        sequences_set: Vec::new(),
        large_objects: None,
        schema_changes: Vec::new(),
        identity_restored: Vec::new(),
        dropped: Vec::new(),
        already_done: ex.publication.is_none() && ex.subscription.is_none() && ex.slot.is_none(),
    };
    if report.already_done {
        return Ok(report);
    }

    if ex.subscription.is_some() {
        let started = Instant::now();
        let deadline = started + opts.timeout;
        wait_streaming(source, target, opts.timeout, &mut progress).await?;
        report.confirmed_lsn = Some(wait_confirmed(source, target, deadline, &mut progress).await?);
        report.waited_seconds = started.elapsed().as_secs_f64();

        // The catalog with sequence states, read after the lag closed.
        let cat = catalog::read_with(
            source,
            ReadOptions {
                sequence_state: true,
            },
        )
        .await?;
        if let Some(meta) = &meta {
            let changes = fingerprint::diff(&meta.schema, &fingerprint::digest(&cat, &opts.filter));
            if !changes.is_empty() && !opts.allow_schema_changes {
                return Err(Error::Problems {
                    context: format!(
                        "the source's schema changed during the migration ({} object(s); logical \
                         replication does not carry DDL); nothing was dropped: apply the same \
                         changes on the target, then run cutover again allowing schema changes",
                        changes.len()
                    ),
                    problems: changes,
                });
            }
            report.schema_changes = changes;
        }
        let p = plan::plan_with(
            &cat,
            Step::Sequences {
                margin: opts.margin,
            },
            &Default::default(),
            &opts.filter,
        );
        apply::apply_in_transaction(target, &p.items, |_, _, _| {}).await?;
        report.sequences_set = p.items.iter().map(|i| i.name.to_string()).collect();

        // Large objects, before the subscription goes: past it the target may take writes.
        if let (Some(lo), true) = (&opts.large_objects, opts.filter.is_empty()) {
            report.large_objects =
                Some(crate::lobs::sync(source_spec, target_spec, lo, &|_| {}).await?);
        }
    }
    if ex.publication.is_some() {
        report.identity_restored = meta
            .iter()
            .flat_map(|m| m.identity_full.iter().map(|(table, _)| table.clone()))
            .collect();
    }
    report.dropped = teardown(source, target, &names, &ex, meta.as_ref()).await?;
    Ok(report)
}

/// Stop replicating without cutting over: drop the subscription, the slot and the
/// publication (replica identities set back), leaving the target's tables as they are. For a
/// migration started over (`migrate --restart`); never sets sequences or validates. Returns
/// what was dropped; nothing when replication was never started or already torn down.
pub async fn abandon(source: &Client, target: &Client) -> Result<Vec<String>> {
    let (names, ex, meta) = what_replicates(source, target).await?;
    teardown(source, target, &names, &ex, meta.as_ref()).await
}

/// The replication `start` set up for `target`: its names, what of it exists, and what the
/// publication's comment recorded; an error when another target's migration owns it.
async fn what_replicates(
    source: &Client,
    target: &Client,
) -> Result<(Names, super::Existing, Option<Meta>)> {
    let names = names_of(target).await?;
    let ex = existing(source, target, &names).await?;
    let meta = ex
        .publication
        .as_ref()
        .and_then(|c| c.as_deref())
        .and_then(Meta::from_comment);
    check_owner(&names, meta.as_ref(), &target_identity(target).await?)?;
    Ok((names, ex, meta))
}

/// Drop what `start` created on both servers, each only if it is there; what was dropped.
async fn teardown(
    source: &Client,
    target: &Client,
    names: &Names,
    ex: &super::Existing,
    meta: Option<&Meta>,
) -> Result<Vec<String>> {
    let mut dropped = Vec::new();
    if ex.subscription.is_some() {
        let sql = format!("DROP SUBSCRIPTION IF EXISTS {}", ident(&names.subscription));
        target.batch_execute(&sql).await.map_err(|e| {
            Error::db(
                e,
                Some(format!("dropping subscription {}", names.subscription)),
                Some(&sql),
            )
        })?;
        dropped.push(format!("subscription {} on the target", names.subscription));
        dropped.push(format!("slot {} on the source", names.slot));
    }

    // A slot left behind (the subscription was dropped without reaching the source).
    let slot = source
        .query_opt(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
              WHERE slot_name = $1 AND NOT active",
            &[&names.slot],
        )
        .await
        .map_err(|e| {
            Error::db(
                e,
                Some(format!("dropping replication slot {}", names.slot)),
                None,
            )
        })?;
    if slot.is_some() && ex.subscription.is_none() {
        dropped.push(format!("slot {} on the source", names.slot));
    }

    if ex.publication.is_some() {
        // Replica identities back, and the publication dropped, in one transaction: a table
        // without a key must not stay published without its identity.
        let mut sql = String::new();
        for (table, was) in meta.iter().flat_map(|m| m.identity_full.iter()) {
            let identity = if *was == 'n' { "NOTHING" } else { "DEFAULT" };
            sql.push_str(&format!(
                "ALTER TABLE IF EXISTS ONLY {table} REPLICA IDENTITY {identity};\n"
            ));
        }
        // The target's copies first (start mirrored FULL there): while the publication is
        // there, a rerun still finds which tables they are.
        if !sql.is_empty() {
            target.batch_execute(&sql).await.map_err(|e| {
                Error::db(
                    e,
                    Some("setting replica identities back on the target".into()),
                    Some(&sql),
                )
            })?;
        }
        sql.push_str(&format!(
            "DROP PUBLICATION IF EXISTS {};",
            ident(&names.publication)
        ));
        source.batch_execute(&sql).await.map_err(|e| {
            Error::db(
                e,
                Some(format!("dropping publication {}", names.publication)),
                Some(&sql),
            )
        })?;
        dropped.push(format!("publication {} on the source", names.publication));
    }
    Ok(dropped)
}

/// Sessions on the source's database holding a transaction that wrote (has an xid), one line
/// each: what any cutover reports before it waits (the application should have stopped).
pub async fn open_writes(source: &Client) -> Result<Vec<String>> {
    let rows = source
        .query(
            "SELECT format('pid %s (%s, %s): open for %s s', pid, usename,
                           coalesce(nullif(application_name, ''), 'no application_name'),
                           round(extract(epoch FROM now() - xact_start)::numeric, 1))
               FROM pg_stat_activity
              WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
                AND datname = current_database()
              ORDER BY xact_start",
            &[],
        )
        .await
        .map_err(|e| {
            Error::db(
                e,
                Some("looking for open transactions on the source".into()),
                None,
            )
        })?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Wait until the slot's consumer confirmed the source's WAL position as of now. Returns it.
async fn wait_confirmed(
    source: &Client,
    target: &Client,
    deadline: Instant,
    progress: &mut impl FnMut(&Status),
) -> Result<String> {
    let names = names_of(target).await?;
    let lsn: String = source
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .map_err(|e| Error::db(e, Some("reading the source's WAL position".into()), None))?
        .get(0);
    loop {
        let row = source
            .query_opt(
                "SELECT confirmed_flush_lsn >= $2::text::pg_lsn,
                        pg_wal_lsn_diff($2::text::pg_lsn, confirmed_flush_lsn)::int8
                   FROM pg_replication_slots WHERE slot_name = $1",
                &[&names.slot, &lsn],
            )
            .await
            .map_err(|e| {
                Error::db(
                    e,
                    Some(format!("reading replication slot {}", names.slot)),
                    None,
                )
            })?;
        let Some(row) = row else {
            return Err(Error::Invalid(format!(
                "slot {} is missing on the source while the subscription exists",
                names.slot
            )));
        };
        if row.get::<_, Option<bool>>(0) == Some(true) {
            return Ok(lsn);
        }
        if Instant::now() > deadline {
            return Err(Error::Invalid(format!(
                "timed out: the target has not confirmed the source's WAL up to {lsn} ({} bytes \
                 behind); nothing was dropped",
                row.get::<_, Option<i64>>(1).unwrap_or(-1)
            )));
        }
        progress(&status(source, target).await?);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
