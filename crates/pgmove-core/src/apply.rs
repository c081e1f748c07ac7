//! Appliers: send ordered items to a target server, or write them as a script for psql.
//!
//! On a server, a section runs inside one transaction: it lands whole or not at all, and the
//! first failing statement is reported with its object and SQLSTATE. As a script, the same
//! statements follow a header that sets what pg_dump's scripts set, so `psql -f` gives the same
//! result. Nothing here decides what to create; that is the renderers' and the sort's job.

use crate::render::Item;
use crate::{Error, Result};
use std::io::Write;
use tokio_postgres::Client;

/// Session settings every script and every apply connection starts with: no timeouts, UTF-8,
/// standard strings, an empty `search_path` (all names in the SQL are qualified), and no body
/// checks for functions (bodies may name objects created later, as with pg_dump).
pub const SESSION_SETUP: &str = "SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
";

/// Write `items` as a psql script (header, then each item with a comment naming it).
pub fn write_script(out: &mut dyn Write, title: &str, items: &[Item]) -> Result<()> {
    writeln!(out, "--\n-- pgmove: {title}\n--\n")?;
    out.write_all(SESSION_SETUP.as_bytes())?;
    for it in items {
        write!(out, "\n-- {}\n{}", it.name, it.sql)?;
    }
    out.flush()?;
    Ok(())
}

/// Apply `items` on `client` in one transaction. `progress` is called after each item with
/// (done, total, item name). On error the transaction is rolled back and the error names the
/// object and the statement.
pub async fn apply_in_transaction(
    client: &Client,
    items: &[Item],
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<()> {
    client
        .batch_execute(&format!("BEGIN;\n{SESSION_SETUP}"))
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
    for (i, it) in items.iter().enumerate() {
        if let Err(e) = client.batch_execute(&it.sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(Error::db(e, Some(it.name.clone()), Some(&it.sql)));
        }
        progress(i + 1, items.len(), &it.name);
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| Error::db(e, None, Some("COMMIT")))?;
    Ok(())
}

/// What a parallel apply did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Items that ran.
    pub applied: usize,
    /// Items skipped because what they create was already there (a resumed run).
    pub skipped: usize,
}

/// SQLSTATEs meaning "what this item creates is already there": duplicate relation or object,
/// and a second primary key.
const ALREADY_THERE: &[&str] = &["42P07", "42710", "42P16"];

/// Apply post-data `items` on several connections at once, resumably.
///
/// Items run in phases of one [`crate::render::Kind`] group at a time (keys and indexes, then
/// partition attachments, statistics, rules, triggers, foreign keys, policies…), so what an item
/// needs from an earlier kind is always done. Within a phase, the items on one table form a
/// unit that runs on one connection (they take conflicting locks); a unit *claims* its table
/// and, for foreign keys, the tables they reference, and a connection only starts a unit whose
/// tables no running unit claims. So pgmove's connections never wait for each other's locks
/// and cannot deadlock (two foreign keys locking the same pair in opposite orders never run at
/// once), while foreign keys of a long chain of tables still run in parallel. The largest
/// tables start first.
///
/// A unit's items go to the server in one round trip, as one implicit transaction. If that
/// fails, they run again one by one, each its own transaction, which names the failing object
/// and skips what already exists: after an interruption, running again skips what exists and
/// rebuilds indexes left invalid.
pub async fn apply_parallel(
    clients: &[Client],
    items: &[Item],
    table_sizes: &std::collections::HashMap<u32, i64>,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ApplyReport> {
    use crate::render::Kind;
    use futures::future::join_all;
    use std::collections::{HashMap, HashSet, VecDeque};
    use std::sync::Mutex;

    let first = clients
        .first()
        .ok_or_else(|| Error::Invalid("no connection to apply with".into()))?;
    for c in clients {
        c.batch_execute(SESSION_SETUP)
            .await
            .map_err(|e| Error::db(e, None, Some("session setup")))?;
    }
    rebuild_invalid_indexes(first, items).await?;

    let phase_of = |k: Kind| -> u8 {
        match k {
            Kind::Constraint | Kind::Index => 0,
            Kind::IndexAttach => 1,
            Kind::Statistics | Kind::ViewDefinition | Kind::Rule | Kind::Trigger => 2,
            Kind::ForeignKey => 3,
            _ => 4,
        }
    };
    /// Items that run together on one connection, and the tables they lock.
    struct Unit<'a> {
        size: i64,
        tables: Vec<u32>,
        items: Vec<&'a Item>,
    }
    let total = items.len();
    let progress = Mutex::new((0usize, progress));
    let report = Mutex::new(ApplyReport::default());
    for phase in 0..=4u8 {
        let mut by_table: HashMap<u32, Unit> = HashMap::new();
        let mut units: Vec<Unit> = Vec::new();
        for it in items.iter().filter(|i| phase_of(i.kind) == phase) {
            let Some(t) = it.table else {
                units.push(Unit {
                    size: 0,
                    tables: Vec::new(),
                    items: vec![it],
                });
                continue;
            };
            let u = by_table.entry(t).or_insert_with(|| Unit {
                size: table_sizes.get(&t).copied().unwrap_or(0),
                tables: vec![t],
                items: Vec::new(),
            });
            u.items.push(it);
            if it.kind == Kind::ForeignKey {
                for a in &it.after {
                    if a.class == crate::model::class::PG_CLASS && !u.tables.contains(&a.oid) {
                        u.tables.push(a.oid);
                        let s = table_sizes.get(&a.oid).copied().unwrap_or(0);
                        u.size = u.size.max(s);
                    }
                }
            }
        }
        if by_table.is_empty() && units.is_empty() {
            continue;
        }
        units.extend(by_table.into_values());
        units.sort_by_key(|u| std::cmp::Reverse(u.size));
        // The units not started yet, and the tables running units claim.
        let state = Mutex::new((units.into_iter().collect::<VecDeque<_>>(), HashSet::new()));
        let released = tokio::sync::Notify::new();
        let failed: Mutex<Option<Error>> = Mutex::new(None);

        let workers = clients.iter().map(|client| async {
            loop {
                let unit = loop {
                    let wake = released.notified();
                    tokio::pin!(wake);
                    wake.as_mut().enable();
                    {
                        let mut st = state.lock().unwrap();
                        if failed.lock().unwrap().is_some() || st.0.is_empty() {
                            drop(st);
                            // Others may be waiting for a unit this worker will never take.
                            released.notify_waiters();
                            return;
                        }
                        let (queue, claimed) = &mut *st;
                        let free = queue
                            .iter()
                            .position(|u| u.tables.iter().all(|t| !claimed.contains(t)));
                        if let Some(i) = free {
                            let u = queue.remove(i).expect("position is in range");
                            claimed.extend(u.tables.iter().copied());
                            break u;
                        }
                    }
                    wake.await;
                };
                let outcome = run_unit(client, &unit.items).await;
                {
                    let mut st = state.lock().unwrap();
                    for t in &unit.tables {
                        st.1.remove(t);
                    }
                }
                released.notify_waiters();
                match outcome {
                    Ok(skipped) => {
                        let mut r = report.lock().unwrap();
                        r.applied += unit.items.len() - skipped;
                        r.skipped += skipped;
                    }
                    Err(e) => {
                        *failed.lock().unwrap() = Some(e);
                        released.notify_waiters();
                        return;
                    }
                }
                let mut p = progress.lock().unwrap();
                for it in &unit.items {
                    p.0 += 1;
                    let done = p.0;
                    (p.1)(done, total, &it.name);
                }
            }
        });
        join_all(workers).await;
        if let Some(e) = failed.into_inner().unwrap() {
            return Err(e);
        }
    }
    Ok(report.into_inner().unwrap())
}

/// Run a unit's items: all in one round trip (one implicit transaction) when there are
/// several, else, or when that fails, one by one. Returns how many were already there.
async fn run_unit(client: &Client, items: &[&Item]) -> Result<usize> {
    if items.len() > 1 {
        let batch: String = items.iter().map(|it| it.sql.as_str()).collect();
        if client.batch_execute(&batch).await.is_ok() {
            return Ok(0);
        }
        // Rolled back whole: find which item failed, and skip what exists, one by one.
    }
    let mut skipped = 0;
    for it in items {
        match client.batch_execute(&it.sql).await {
            Ok(()) => {}
            Err(e) if e.code().is_some_and(|c| ALREADY_THERE.contains(&c.code())) => skipped += 1,
            Err(e) => return Err(Error::db(e, Some(it.name.clone()), Some(&it.sql))),
        }
    }
    Ok(skipped)
}

/// Drop indexes the plan creates that exist on the target but are invalid (a `CREATE INDEX
/// CONCURRENTLY` or a build cut short), so the run builds them again.
async fn rebuild_invalid_indexes(client: &Client, items: &[Item]) -> Result<()> {
    let rows = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT i.indisvalid AND c.relkind = 'i'",
            &[],
        )
        .await?;
    for r in rows {
        let name: String = r.get(0);
        if items.iter().any(|i| i.name == format!("index {name}")) {
            client
                .batch_execute(&format!("DROP INDEX {name}"))
                .await
                .map_err(|e| Error::db(e, Some(format!("invalid index {name}")), None))?;
        }
    }
    Ok(())
}
