//! The checks before replication starts: the source can publish (wal_level, free replication
//! slots and WAL senders, the right to create a publication and to replicate), the target can
//! subscribe (the right to create a subscription; every table there and empty), and every
//! table in scope can replicate its UPDATEs and DELETEs (a primary key or replica identity).
//! Read-only on both servers; every problem is one line, all reported at once.

use super::{existing, names_of, table_name, tables_in_scope, version_num, StartOptions};
use crate::model::Catalog;
use crate::quote::literal;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::HashSet;
use tokio_postgres::Client;

/// What the preflight found.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Preflight {
    /// Everything that stops replication from starting, one line each.
    pub problems: Vec<String>,
    /// Tables in scope without a primary key or replica identity (quoted `schema.table`), each
    /// with its current `relreplident` (`d` or `n`). Given `replica_identity_full`, [`super::start()`]
    /// sets `REPLICA IDENTITY FULL` on them; otherwise each is a problem too.
    pub without_key: Vec<(String, char)>,
    /// Tables in scope (quoted `schema.table`).
    pub tables: Vec<String>,
    /// pgmove's subscription already exists on the target: a re-run continues it.
    pub resuming: bool,
    /// Tables in scope the target lacks: a problem for [`Preflight::check`] (the schema must
    /// be there first), not for a caller about to create the schema itself.
    pub missing_on_target: Vec<String>,
}

impl Preflight {
    /// `Ok` when nothing stands in the way, else one [`Error::Problems`] naming everything.
    pub fn check(&self) -> Result<()> {
        let mut problems = self.problems.clone();
        if !self.missing_on_target.is_empty() {
            problems.push(format!(
                "{} table(s) are missing on the target (run `pgmove schema` first): {}",
                self.missing_on_target.len(),
                shorten_list(&self.missing_on_target)
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::Problems {
            context: format!(
                "replication cannot start ({} problem(s); nothing was created)",
                problems.len()
            ),
            problems,
        })
    }
}

/// Check that replication of what `opts.filter` selects of `cat` can start from `source` to
/// `target`. Read-only on both servers.
pub async fn preflight(
    source: &Client,
    target: &Client,
    cat: &Catalog,
    opts: &StartOptions,
) -> Result<Preflight> {
    let names = names_of(target).await?;
    let mut out = Preflight::default();
    let p = &mut out.problems;
    let (sv, tv) = (
        version_num(source, "source").await?,
        version_num(target, "target").await?,
    );
    if sv < 100000 {
        p.push(format!(
            "the source runs PostgreSQL {}; native logical replication needs 10 or newer",
            sv / 10000
        ));
    }
    if tv < 100000 {
        p.push(format!(
            "the target runs PostgreSQL {}; native logical replication needs 10 or newer",
            tv / 10000
        ));
    }
    if !p.is_empty() {
        return Ok(out);
    }
    let ex = existing(source, target, &names).await?;
    out.resuming = ex.subscription.is_some();
    let scope = tables_in_scope(cat, &opts.filter);
    out.tables = scope.iter().map(|t| table_name(t)).collect();
    if scope.is_empty() {
        out.problems
            .push("no table in scope: the filters select no table holding rows".into());
    }
    let p = &mut out.problems;

    // The source.
    let sync_workers: i32 = target
        .query_one(
            "SELECT current_setting('max_sync_workers_per_subscription')::int",
            &[],
        )
        .await
        .map_err(|e| Error::db(e, Some("reading target settings".into()), None))?
        .get(0);
    let r = source
        .query_one(
            "SELECT current_setting('wal_level'),
                    current_setting('max_replication_slots')::int
                      - (SELECT count(*) FROM pg_replication_slots)::int,
                    current_setting('max_replication_slots')::int,
                    current_setting('max_wal_senders')::int
                      - (SELECT count(*) FROM pg_stat_replication)::int,
                    current_setting('max_wal_senders')::int,
                    r.rolsuper, r.rolreplication,
                    EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_superuser'
                             AND pg_has_role(current_user, g.oid, 'MEMBER')),
                    EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_replication'
                             AND pg_has_role(current_user, g.oid, 'MEMBER')),
                    has_database_privilege(current_database(), 'CREATE'),
                    current_user::text
               FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| Error::db(e, Some("reading source settings".into()), None))?;
    let wal_level: String = r.get(0);
    let (free_slots, max_slots, free_senders, max_senders): (i32, i32, i32, i32) =
        (r.get(1), r.get(2), r.get(3), r.get(4));
    let (superuser, replication, rds_super, rds_repl, create_db): (bool, bool, bool, bool, bool) =
        (r.get(5), r.get(6), r.get(7), r.get(8), r.get(9));
    let user: String = r.get(10);
    if wal_level != "logical" {
        p.push(format!(
            "the source's wal_level is '{wal_level}'; logical replication needs 'logical' \
             (ALTER SYSTEM SET wal_level = logical and a restart; on RDS, rds.logical_replication = 1)"
        ));
    }
    if ex.subscription.is_none() {
        // The subscription's slot and walsender, and one each per table sync worker.
        let need = 1 + sync_workers - i32::from(ex.slot.is_some());
        if free_slots < need {
            p.push(format!(
                "the source has {free_slots} free replication slot(s) of max_replication_slots = \
                 {max_slots}; replication needs {need} (1 + the target's \
                 max_sync_workers_per_subscription = {sync_workers})"
            ));
        }
        let need = 1 + sync_workers;
        if free_senders < need {
            p.push(format!(
                "the source has {free_senders} free WAL sender(s) of max_wal_senders = \
                 {max_senders}; replication needs {need} (1 + the target's \
                 max_sync_workers_per_subscription = {sync_workers})"
            ));
        }
    }
    if opts.source_from_target.is_none() && !(superuser || replication || rds_repl) {
        p.push(format!(
            "the source user {user} has neither the REPLICATION attribute nor superuser \
             (nor rds_replication): the subscription cannot stream from it \
             (ALTER ROLE {} REPLICATION)",
            crate::quote::ident(&user)
        ));
    }
    if ex.publication.is_none() {
        if !create_db {
            p.push(format!(
                "the source user {user} may not create a publication: it lacks CREATE on the database"
            ));
        }
        if !(superuser || rds_super || scope.is_empty()) {
            let oids: Vec<u32> = scope.iter().map(|t| t.oid).collect();
            let rows = source
                .query(
                    "SELECT c.oid FROM pg_class c WHERE c.oid = ANY($1)
                        AND NOT pg_has_role(current_user, c.relowner, 'USAGE')",
                    &[&oids],
                )
                .await
                .map_err(|e| {
                    Error::db(e, Some("reading table owners on the source".into()), None)
                })?;
            let not_owned: HashSet<u32> = rows.iter().map(|r| r.get(0)).collect();
            let names: Vec<String> = scope
                .iter()
                .filter(|t| not_owned.contains(&t.oid))
                .map(|t| table_name(t))
                .collect();
            if !names.is_empty() {
                p.push(format!(
                    "the source user {user} is not a superuser and does not own {} table(s) it \
                     would publish: {}",
                    names.len(),
                    shorten_list(&names)
                ));
            }
        }
    }

    // The tables.
    let keyed: HashSet<u32> = cat
        .constraints
        .iter()
        .filter(|c| c.contype == 'p')
        .map(|c| c.table_oid)
        .collect();
    for t in &scope {
        let name = table_name(t);
        if t.persistence == 'u' {
            p.push(format!(
                "table {name} is unlogged: logical replication cannot carry it; exclude it \
                 (-T) or ALTER TABLE … SET LOGGED"
            ));
        }
        let identity = match t.replica_identity {
            'f' | 'i' => true,
            'd' => keyed.contains(&t.oid),
            _ => false,
        };
        if !identity {
            out.without_key.push((name.clone(), t.replica_identity));
            if !opts.replica_identity_full {
                p.push(format!(
                    "table {name} has no primary key or replica identity: its UPDATEs and \
                     DELETEs would fail on the source once published; add a key, or consent \
                     to REPLICA IDENTITY FULL (--replica-identity-full)"
                ));
            }
        }
    }

    // The target.
    let r = target
        .query_one(
            "SELECT r.rolsuper,
                    EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_superuser'
                             AND pg_has_role(current_user, g.oid, 'MEMBER')),
                    current_setting('server_version_num')::int >= 160000
                      AND EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'pg_create_subscription'
                                   AND pg_has_role(current_user, g.oid, 'MEMBER'))
                      AND has_database_privilege(current_database(), 'CREATE'),
                    current_user::text
               FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| Error::db(e, Some("reading the target role".into()), None))?;
    let (tsuper, trds, tcreate, tuser): (bool, bool, bool, String) =
        (r.get(0), r.get(1), r.get(2), r.get(3));
    if ex.subscription.is_none() {
        let r = target
            .query_one(
                "SELECT current_setting('max_logical_replication_workers')::int,
                        (SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL)::int",
                &[],
            )
            .await
            .map_err(|e| Error::db(e, Some("reading target settings".into()), None))?;
        let (max, used): (i32, i32) = (r.get(0), r.get(1));
        if max - used < 2 {
            out.problems.push(format!(
                "the target has {} free logical replication worker(s) of \
                 max_logical_replication_workers = {max}; replication needs 2 (the apply \
                 worker and a table sync worker)",
                max - used
            ));
        }
    }
    let p = &mut out.problems;
    if ex.subscription.is_none() && !(tsuper || trds || tcreate) {
        p.push(format!(
            "the target user {tuser} may not create a subscription: it needs superuser, \
             rds_superuser, or (16+) pg_create_subscription with CREATE on the database"
        ));
    }
    if ex.subscription.is_none() && !scope.is_empty() {
        let (missing, filled) = target_tables(target, &out.tables).await?;
        let p = &mut out.problems;
        out.missing_on_target = missing;
        if !filled.is_empty() {
            p.push(format!(
                "{} table(s) already hold rows on the target; replication copies every row, \
                 so they must be empty: {}",
                filled.len(),
                shorten_list(&filled)
            ));
        }
    }
    Ok(out)
}

/// Which of `tables` are missing on the target, and which hold rows.
async fn target_tables(target: &Client, tables: &[String]) -> Result<(Vec<String>, Vec<String>)> {
    let err = |e| Error::db(e, Some("reading tables on the target".into()), None);
    let rows = target
        .query(
            "SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i)
              WHERE to_regclass(n) IS NULL ORDER BY i",
            &[&tables],
        )
        .await
        .map_err(err)?;
    let missing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let gone: HashSet<&String> = missing.iter().collect();
    let present: Vec<&String> = tables.iter().filter(|t| !gone.contains(t)).collect();
    let mut filled = Vec::new();
    for chunk in present.chunks(200) {
        let sql = chunk
            .iter()
            .map(|t| {
                format!(
                    "SELECT {}::text WHERE EXISTS (SELECT 1 FROM ONLY {t})",
                    literal(t)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows = target.query(&sql, &[]).await.map_err(err)?;
        filled.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    Ok((missing, filled))
}

/// At most ten names, then how many more.
pub(crate) fn shorten_list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}
