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
/// needs from an earlier kind is always done. Within a phase, items on the same table run on one
/// connection one after another (they take conflicting locks), and foreign keys whose tables
/// are linked run together too (two connections locking the same pair in opposite orders would
/// deadlock); the largest tables start first. Each item is its own transaction: after an
/// interruption, running again skips what exists and rebuilds indexes left invalid.
pub async fn apply_parallel(
    clients: &[Client],
    items: &[Item],
    table_sizes: &std::collections::HashMap<u32, i64>,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ApplyReport> {
    use crate::render::Kind;
    use futures::future::join_all;
    use std::collections::{HashMap, VecDeque};
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
    let total = items.len();
    let progress = Mutex::new((0usize, progress));
    let report = Mutex::new(ApplyReport::default());
    for phase in 0..=4u8 {
        let phase_items: Vec<&Item> = items.iter().filter(|i| phase_of(i.kind) == phase).collect();
        if phase_items.is_empty() {
            continue;
        }
        // Group by table, joining the groups of the two tables of each foreign key.
        let mut parent: HashMap<u32, u32> = HashMap::new();
        fn find(p: &mut HashMap<u32, u32>, x: u32) -> u32 {
            let up = *p.get(&x).unwrap_or(&x);
            if up == x {
                return x;
            }
            let root = find(p, up);
            p.insert(x, root);
            root
        }
        for it in &phase_items {
            if let Some(t) = it.table {
                for a in &it.after {
                    if a.class == crate::model::class::PG_CLASS && it.kind == Kind::ForeignKey {
                        let (ra, rb) = (find(&mut parent, t), find(&mut parent, a.oid));
                        if ra != rb {
                            parent.insert(ra, rb);
                        }
                    }
                }
            }
        }
        let mut groups: HashMap<u32, Vec<&Item>> = HashMap::new();
        let mut loose: Vec<Vec<&Item>> = Vec::new();
        for it in phase_items {
            match it.table {
                Some(t) => groups.entry(find(&mut parent, t)).or_default().push(it),
                None => loose.push(vec![it]),
            }
        }
        let mut queue: Vec<(i64, Vec<&Item>)> = groups
            .into_values()
            .map(|g| {
                let size = g
                    .iter()
                    .filter_map(|i| i.table)
                    .map(|t| table_sizes.get(&t).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                (size, g)
            })
            .chain(loose.into_iter().map(|g| (0, g)))
            .collect();
        queue.sort_by_key(|g| std::cmp::Reverse(g.0));
        let queue = Mutex::new(queue.into_iter().map(|(_, g)| g).collect::<VecDeque<_>>());
        let failed: Mutex<Option<Error>> = Mutex::new(None);

        let workers = clients.iter().map(|client| async {
            loop {
                if failed.lock().unwrap().is_some() {
                    return;
                }
                let Some(group) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                for it in group {
                    match client.batch_execute(&it.sql).await {
                        Ok(()) => report.lock().unwrap().applied += 1,
                        Err(e) if e.code().is_some_and(|c| ALREADY_THERE.contains(&c.code())) => {
                            report.lock().unwrap().skipped += 1
                        }
                        Err(e) => {
                            *failed.lock().unwrap() =
                                Some(Error::db(e, Some(it.name.clone()), Some(&it.sql)));
                            return;
                        }
                    }
                    let mut p = progress.lock().unwrap();
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
