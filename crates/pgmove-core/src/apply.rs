//! Appliers: send ordered items to a target server, or write them as a script for psql.
//!
//! On a server, a section runs inside one transaction: it lands whole or not at all, and the
//! first failing statement is reported with its object and SQLSTATE. As a script, the same
//! statements follow a header that sets what pg_dump's scripts set, so `psql -f` gives the same
//! result. Nothing here decides what to create; that is the renderers' and the sort's job.

#[cfg(test)]
use crate::render::Lead;
use crate::render::{Item, Kind, LeadRef};
use crate::{Error, Result};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
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
    writeln!(out, "--\n-- pgmove: {}\n--\n", one_line(title))?;
    out.write_all(SESSION_SETUP.as_bytes())?;
    for it in items {
        write!(out, "\n-- {}\n{}", one_line(&it.name), it.sql)?;
    }
    out.flush()?;
    Ok(())
}

/// Text for a `--` comment line: line breaks (a name may hold them) become spaces, or the rest
/// of the name would be read as SQL.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    match s.contains(['\n', '\r']) {
        true => s.replace(['\n', '\r'], " ").into(),
        false => s.into(),
    }
}

/// How many items of [`apply_in_transaction_with`] are sent before the reply to the first of
/// them is awaited. Enough to keep a link with a few milliseconds of round trip busy with small
/// statements; few enough that an error leaves little queued behind it.
const PIPELINE_DEPTH: usize = 64;

/// Groups of post-data units one connection has on their way at once (see
/// [`apply_parallel_with`]).
const GROUPS_IN_FLIGHT: usize = 4;

/// Small post-data units sent together as one transaction (see [`run_group`]).
const UNITS_PER_GROUP: usize = 4;

/// Units on tables smaller than this are pipelined on a connection; a bigger one runs alone.
const PIPELINED_UNIT_MAX_BYTES: i64 = 8 << 20;

/// Apply `items` on `client` in one transaction. `progress` is called after each item with
/// (done, total, item name). On error the transaction is rolled back and the error names the
/// object and the statement.
pub async fn apply_in_transaction(
    client: &Client,
    items: &[Item],
    progress: impl FnMut(usize, usize, &str),
) -> Result<()> {
    apply_in_transaction_with(client, "", items, "", progress).await
}

/// [`apply_in_transaction`] with statements of the caller's own run first (`before`) and last
/// (`after`) inside the same transaction, e.g. bookkeeping that must commit with the items or
/// not at all. They are the caller's fixed SQL, never rendered objects.
///
/// The items are pipelined (sent ahead of the replies to earlier ones) on the one connection,
/// in order: over a link with latency the run does not wait a round trip per item. Errors,
/// rollback and progress are as if they ran one after the other.
pub async fn apply_in_transaction_with(
    client: &Client,
    before: &str,
    items: &[Item],
    after: &str,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<()> {
    client
        .batch_execute(&format!("BEGIN;\n{SESSION_SETUP}{before}"))
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
    // Items are pipelined: up to PIPELINE_DEPTH of them are on their way at once, each its own
    // query message, so the run waits for one round trip per window rather than per item.
    // `buffered` first polls (and so sends: tokio-postgres queues a request on its first poll)
    // the futures in the order it takes them, and yields their results in that order, so the
    // server runs the items in order and the first error seen is the first item that failed;
    // the ones sent after it fail as "current transaction is aborted" and are never looked at.
    let mut results = futures::stream::iter(items)
        .map(|it| async move { (it, client.batch_execute(&it.sql).await) })
        .buffered(PIPELINE_DEPTH);
    let mut done = 0;
    while let Some((it, result)) = results.next().await {
        if let Err(e) = result {
            drop(results);
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(item_error(e, it, &it.sql));
        }
        done += 1;
        progress(done, items.len(), &it.name);
    }
    client
        .batch_execute(&format!("{after}COMMIT"))
        .await
        .map_err(|e| Error::db(e, None, Some("COMMIT")))?;
    Ok(())
}

/// What a parallel apply did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ApplyReport {
    /// Items that ran.
    pub applied: usize,
    /// Items skipped because what they create was already there (a resumed run).
    pub skipped: usize,
    /// The memory each session was given (see [`crate::work_memory`]).
    pub memory: crate::work_memory::Granted,
}

/// SQLSTATEs meaning "what this item creates is already there": duplicate relation or object.
const ALREADY_THERE: &[&str] = &["42P07", "42710"];

/// What adding a primary key answers when the table has one (invalid table definition). Any
/// other invalid definition answers it too, so it means "already there" only when the table's
/// primary key is the one the item adds, by name (checked on the target).
const SECOND_PRIMARY_KEY: &str = "42P16";

/// What `ADD CONSTRAINT … USING INDEX` answers when the index already belongs to a constraint
/// (object not in prerequisite state). The index has the constraint's name and an index that
/// bears a constraint has its constraint's name, so the constraint is there: a resumed run.
const INDEX_ALREADY_A_CONSTRAINT: &str = "55000";

/// Tables at least this big (bytes on disk, as in `table_sizes`) have their index builds run
/// on several connections at once, their primary and unique keys included (as `CREATE UNIQUE
/// INDEX`, then `ADD CONSTRAINT … USING INDEX`). On a big table the builds are what takes the
/// time, and they can overlap instead of queueing behind the one connection that holds the
/// table. On a small one a key costs more as two statements than as one, and the overlap gains
/// nothing, so small tables keep `ADD CONSTRAINT … PRIMARY KEY`.
pub const PARALLEL_BUILDS_MIN_BYTES: i64 = 64 << 20;

/// Choices of [`apply_parallel_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParallelOptions {
    /// See [`PARALLEL_BUILDS_MIN_BYTES`], the default; 0 splits the builds of every table.
    pub parallel_builds_min_bytes: i64,
    /// The memory each connection asks for, for index builds and foreign key checks.
    pub memory: crate::work_memory::SessionMemory,
}

impl Default for ParallelOptions {
    fn default() -> Self {
        ParallelOptions {
            parallel_builds_min_bytes: PARALLEL_BUILDS_MIN_BYTES,
            memory: Default::default(),
        }
    }
}

/// Apply post-data `items` on several connections at once, resumably, with the default
/// [`ParallelOptions`].
pub async fn apply_parallel(
    clients: &[Client],
    items: &[Item],
    table_sizes: &HashMap<u32, i64>,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ApplyReport> {
    apply_parallel_with(
        clients,
        items,
        table_sizes,
        &ParallelOptions::default(),
        progress,
    )
    .await
}

/// Apply post-data `items` on several connections at once, resumably.
///
/// Items run in phases of one [`crate::render::Kind`] group at a time (keys and indexes, then
/// partition attachments, statistics, rules, triggers, foreign keys, policies…, and last the
/// refreshes of materialized views, each after the refreshes of the matviews it reads), so what
/// an item needs from an earlier kind is always done. A foreign key between two tables with rows of
/// their own is the exception: it runs in the first phase, as soon as the keys and indexes of
/// both its tables are built, while other tables' builds go on. Within a phase, the items on one table form a
/// unit that runs on one connection (they take conflicting locks); a unit *claims* its table and,
/// for foreign keys, the tables they reference, and a connection only starts a unit whose tables no
/// running unit claims. So pgmove's connections never wait for each other's locks and cannot
/// deadlock (two foreign keys locking the same pair in opposite orders never run at once), while
/// foreign keys of a long chain of tables still run in parallel. The largest tables start first.
///
/// On a table of at least [`ParallelOptions::parallel_builds_min_bytes`], each index build of
/// the keys-and-indexes phase is a unit of its own that claims the table *shared*: builds take
/// SHARE locks, which do not conflict with each other, so they run on several connections at
/// once. The rest of the table's phase (the keys' `ADD CONSTRAINT … USING INDEX`, exclusion
/// constraints, comments, `CLUSTER ON`…) is a unit that claims the table exclusively and
/// starts once all its builds are done. (On an 18+ target, a primary key on a table with
/// parents is not built apart: see [`crate::render::UsingIndex::inherited_not_null`].)
///
/// Units of small tables go in groups of up to [`UNITS_PER_GROUP`], one transaction each
/// (see [`run_group`]), and a connection keeps up to [`GROUPS_IN_FLIGHT`] groups on their way
/// at once (pipelined), so that over a link with latency it does not wait a round trip per
/// unit; a unit of a bigger table runs alone on its connection.
///
/// A unit's statements go to the server in one round trip, as one implicit transaction, with
/// consecutive `ALTER TABLE` subcommands on the same table (its keys, its foreign keys) in one
/// `ALTER TABLE`: one statement instead of several is less work for the server, whose CPU is
/// what many small tables spend. If that fails, the items run again one by one, each its own
/// transaction, which names the failing object and skips what already exists: after an
/// interruption, running again skips what exists, rebuilds indexes left invalid, and attaches
/// keys' indexes that were built apart but not yet made keys.
pub async fn apply_parallel_with(
    clients: &[Client],
    items: &[Item],
    table_sizes: &HashMap<u32, i64>,
    opts: &ParallelOptions,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ApplyReport> {
    let first = clients
        .first()
        .ok_or_else(|| Error::Invalid("no connection to apply with".into()))?;
    let version = crate::conn::server_version(first).await?;
    apply_parallel_on(clients, items, table_sizes, opts, version, progress).await
}

/// [`apply_parallel_with`] on a target whose `server_version_num` the caller read.
pub(crate) async fn apply_parallel_on(
    clients: &[Client],
    items: &[Item],
    table_sizes: &HashMap<u32, i64>,
    opts: &ParallelOptions,
    version: i32,
    progress: impl FnMut(usize, usize, &str),
) -> Result<ApplyReport> {
    use futures::future::join_all;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    let first = clients
        .first()
        .ok_or_else(|| Error::Invalid("no connection to apply with".into()))?;
    for c in clients {
        c.batch_execute(SESSION_SETUP)
            .await
            .map_err(|e| Error::db(e, None, Some("session setup")))?;
    }
    let memory = crate::work_memory::size(
        opts.memory,
        &crate::work_memory::settings(first).await?,
        clients.len(),
    );
    let memory_sql = memory.sql();
    if !memory_sql.is_empty() {
        for c in clients {
            c.batch_execute(&memory_sql)
                .await
                .map_err(|e| Error::db(e, None, Some("setting the sessions' memory")))?;
        }
    }
    rebuild_invalid_indexes(first, items).await?;
    let schedule = Schedule {
        items,
        table_sizes,
        parallel_builds_min_bytes: opts.parallel_builds_min_bytes,
        version,
    };
    let last_phase = (0..items.len())
        .map(|i| schedule.phase_of(i))
        .max()
        .unwrap_or(0);
    let total = items.len();
    let progress = Mutex::new((0usize, progress));
    let report = Mutex::new(ApplyReport {
        memory,
        ..ApplyReport::default()
    });
    // Per item: whether what it creates was found already there.
    let found = Mutex::new(vec![false; total]);
    for phase in 0..=last_phase {
        let (units, claims) = schedule.units(phase);
        if units.is_empty() {
            continue;
        }
        // The units not started yet, and the tables running units claim.
        let state = Mutex::new((units.into_iter().collect::<VecDeque<_>>(), claims));
        let released = tokio::sync::Notify::new();
        let failed: Mutex<Option<Error>> = Mutex::new(None);

        let (state, released, failed) = (&state, &released, &failed);
        let (found, report, progress) = (&found, &report, &progress);
        let workers = clients.iter().map(|client| async move {
            // The units on their way on this connection. Small ones are pipelined (sent
            // ahead of the replies to earlier ones): over a link with latency a connection
            // does not wait a round trip per unit. A big one goes alone, so that small units
            // never queue behind a long build while another connection could run them.
            let mut in_flight = futures::stream::FuturesUnordered::new();
            let mut big_in_flight = false;
            loop {
                let wake = released.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                let stop = {
                    let mut st = state.lock().unwrap();
                    let mut stop = failed.lock().unwrap().is_some() || st.0.is_empty();
                    let (queue, claims) = &mut *st;
                    while !stop && !big_in_flight && in_flight.len() < GROUPS_IN_FLIGHT {
                        // A group: one unit, or several small ones sent as one transaction.
                        let mut group = Vec::new();
                        while group.len() < UNITS_PER_GROUP {
                            let alone = in_flight.is_empty() && group.is_empty();
                            let Some(i) = queue
                                .iter()
                                .position(|u| claims.free(u) && (alone || u.pipelined()))
                            else {
                                break;
                            };
                            let unit = queue.remove(i).expect("position is in range");
                            claims.take(&unit);
                            let big = !unit.pipelined();
                            group.push(unit);
                            if big {
                                big_in_flight = true;
                                break;
                            }
                        }
                        if group.is_empty() {
                            break;
                        }
                        in_flight.push(async move {
                            let began = std::time::Instant::now();
                            let outcomes = run_group(client, &group).await;
                            (group, outcomes, began)
                        });
                    }
                    // Nothing runs that could free a unit: they wait for each other
                    // (dependencies in a cycle, which no catalog makes).
                    if !stop && in_flight.is_empty() && claims.running == 0 {
                        let names: Vec<&str> =
                            queue.iter().map(|u| u.ops[0].item.name.as_str()).collect();
                        failed.lock().unwrap().get_or_insert(Error::Invalid(format!(
                            "post-data items wait for each other: {}",
                            names.join(", ")
                        )));
                        stop = true;
                    }
                    stop
                };
                if in_flight.is_empty() {
                    if stop {
                        // Others may be waiting for a unit this worker will never take.
                        released.notify_waiters();
                        return;
                    }
                    wake.await;
                    continue;
                }
                let (group, outcomes, began) = in_flight.next().await.expect("not empty");
                tracing::debug!(
                    "post-data phase {phase}: {} and {} more unit(s) took {:.2}s",
                    group[0].ops[0].item.name,
                    group.len() - 1,
                    began.elapsed().as_secs_f64()
                );
                if group.iter().any(|u| !u.pipelined()) {
                    big_in_flight = false;
                }
                {
                    let mut st = state.lock().unwrap();
                    for unit in &group {
                        st.1.release(unit);
                    }
                }
                released.notify_waiters();
                for (unit, outcome) in group.iter().zip(outcomes) {
                    let already = match outcome {
                        Ok(a) => a,
                        Err(e) => {
                            // No new unit starts; the ones on their way finish (each is its own
                            // transaction), and the first error is the one reported.
                            failed.lock().unwrap().get_or_insert(e);
                            released.notify_waiters();
                            continue;
                        }
                    };
                    let mut done = Vec::new();
                    {
                        let mut found = found.lock().unwrap();
                        let mut r = report.lock().unwrap();
                        for (op, there) in unit.ops.iter().zip(already) {
                            if op.creates() && there {
                                found[op.index] = true;
                            }
                            if op.completes() {
                                if found[op.index] {
                                    r.skipped += 1;
                                } else {
                                    r.applied += 1;
                                }
                                done.push(op.item);
                            }
                        }
                    }
                    let mut p = progress.lock().unwrap();
                    for it in done {
                        p.0 += 1;
                        let n = p.0;
                        (p.1)(n, total, &it.name);
                    }
                }
            }
        });
        join_all(workers).await;
        let first_error = failed.lock().unwrap().take();
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    Ok(report.into_inner().unwrap())
}

/// How [`apply_parallel_with`] groups the items: the phase of each, and the units of a phase
/// with what each waits for. Pure: it never touches a server, so its order can be tested.
struct Schedule<'a> {
    items: &'a [Item],
    table_sizes: &'a HashMap<u32, i64>,
    parallel_builds_min_bytes: i64,
    /// The target's `server_version_num`.
    version: i32,
}

impl<'a> Schedule<'a> {
    fn size_of(&self, t: u32) -> i64 {
        self.table_sizes.get(&t).copied().unwrap_or(0)
    }

    /// Whether the item's index may be built apart (see [`UsingIndex::inherited_not_null`]).
    ///
    /// [`UsingIndex::inherited_not_null`]: crate::render::UsingIndex::inherited_not_null
    fn may_split(&self, it: &Item) -> bool {
        self.version < 180000
            || !matches!(it.lead(), Some(LeadRef::AlterTable { using_index: Some(u), .. })
                         if u.inherited_not_null)
    }

    /// A foreign key needs the referenced key built, and it locks both tables against their
    /// builds. Between tables with rows of their own (not partitioned: then it needs the
    /// partitions' indexes attached, phase 1), it is a unit of phase 0 that *waits for* the
    /// other phase-0 units on both tables, so a big table's key checks start as soon as its
    /// builds and the referenced table's are done, while other tables still build; a foreign
    /// key on a partitioned table, or on an empty one, keeps its own phase.
    fn early_fk(&self, it: &Item) -> bool {
        it.kind == Kind::ForeignKey
            && it.table.is_some_and(|t| self.size_of(t) > 0)
            && it
                .after
                .iter()
                .filter(|a| a.class == crate::model::class::PG_CLASS)
                .all(|a| self.table_sizes.get(&a.oid).is_none_or(|s| *s > 0))
    }

    /// The phase item `i` runs in.
    ///
    /// Matview refreshes come last, in a phase of their own: a refresh runs the view's query
    /// as its owner, and what that query reads is not all recorded (a function's body may
    /// read any table), so the row security (`ENABLE ROW LEVEL SECURITY` and policies, phase
    /// 4) of every table it might read, the real definitions of views (phase 2) and the event
    /// triggers that fire on `REFRESH` (phase 4, as in pg_dump) must all exist first. Within
    /// their phase, a refresh waits only for the refreshes of the matviews it reads.
    fn phase_of(&self, i: usize) -> usize {
        match self.items[i].kind {
            Kind::Constraint | Kind::Index => 0,
            Kind::IndexAttach => 1,
            Kind::Statistics
            | Kind::ViewDefinition
            | Kind::PostponedDefinition
            | Kind::Rule
            | Kind::Trigger => 2,
            Kind::ForeignKey if self.early_fk(&self.items[i]) => 0,
            Kind::ForeignKey => 3,
            Kind::MatviewRefresh => 5,
            _ => 4,
        }
    }

    /// The units of `phase`, largest first, and the claims they start from.
    fn units(&self, phase: usize) -> (Vec<Unit<'a>>, Claims) {
        let items = self.items;
        let mut by_table: HashMap<u32, Unit> = HashMap::new();
        // Phase 0's foreign keys, per table: they wait for the table's (and the referenced
        // tables') other phase-0 units.
        let mut early_fks: HashMap<u32, Unit> = HashMap::new();
        let mut units: Vec<Unit> = Vec::new();
        // Trigger states go in one unit, in the items' order: a partitioned table's ENABLE or
        // DISABLE TRIGGER reaches its partitions, whose own state must be set after it.
        let mut trigger_states = Vec::new();
        // Index attachments go in one unit too: attaching a partition's index can make its
        // parent index valid, and that climbs the tree only through attachments already
        // committed. Two levels attached at once on two connections can each miss the other,
        // leaving the root's index invalid for good (and its key unusable by a foreign key).
        let mut attachments = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if self.phase_of(i) != phase {
                continue;
            }
            if it.kind == Kind::TriggerState {
                trigger_states.push(Op::whole(i, it));
                continue;
            }
            if it.kind == Kind::IndexAttach {
                attachments.push(Op::whole(i, it));
                continue;
            }
            let Some(t) = it.table else {
                units.push(Unit::new(0, vec![Op::whole(i, it)]));
                continue;
            };
            let size = self.size_of(t);
            if phase == 0 && size >= self.parallel_builds_min_bytes && self.may_split(it) {
                if let Some((build, finish)) = Op::split(i, it) {
                    let mut u = Unit::new(size, vec![build]);
                    u.shared.push(t);
                    u.builds_on = Some(t);
                    units.push(u);
                    let u = by_table.entry(t).or_insert_with(|| Unit::on_table(t, size));
                    u.after_builds_on = Some(t);
                    u.ops.extend(finish);
                    continue;
                }
            }
            let map = if phase == 0 && it.kind == Kind::ForeignKey {
                &mut early_fks
            } else {
                &mut by_table
            };
            let u = map.entry(t).or_insert_with(|| Unit::on_table(t, size));
            u.ops.push(Op::whole(i, it));
            if it.kind == Kind::ForeignKey {
                for a in &it.after {
                    if a.class == crate::model::class::PG_CLASS && !u.exclusive.contains(&a.oid) {
                        u.exclusive.push(a.oid);
                        u.size = u.size.max(self.size_of(a.oid));
                    }
                }
            }
            // A refresh waits for the refreshes of the matviews its query reads (their
            // rows are its input), each unit claiming its own matview.
            if it.kind == Kind::MatviewRefresh {
                for a in &it.after {
                    if a.class == crate::model::class::MATVIEW_DATA && !u.waits_for.contains(&a.oid)
                    {
                        u.waits_for.push(a.oid);
                    }
                }
            }
        }
        units.extend(by_table.into_values().filter(|u| !u.ops.is_empty()));
        for (_, mut u) in early_fks {
            u.waits_for = u
                .exclusive
                .iter()
                .copied()
                .filter(|t| self.table_sizes.contains_key(t))
                .collect();
            units.push(u);
        }
        if !trigger_states.is_empty() {
            units.push(Unit::new(0, trigger_states));
        }
        if !attachments.is_empty() {
            units.push(Unit::new(0, attachments));
        }
        units.sort_by_key(|u| std::cmp::Reverse(u.size));
        let mut claims = Claims::default();
        for u in &mut units {
            if let Some(t) = u.builds_on {
                *claims.builds_left.entry(t).or_insert(0) += 1;
            }
            // Others wait for a unit on the tables it claims, unless it waits for one of
            // them itself (a foreign key of phase 0 waits for the rest on its tables, not
            // for the other foreign keys there).
            let claimed: Vec<u32> = u.exclusive.iter().chain(&u.shared).copied().collect();
            if !claimed.iter().any(|t| u.waits_for.contains(t)) {
                for t in &claimed {
                    *claims.pending.entry(*t).or_insert(0) += 1;
                }
                u.awaited = claimed;
            }
        }
        (units, claims)
    }
}

/// Statements that run together on one connection, and the tables they lock.
struct Unit<'a> {
    /// The largest table's size, for starting big work first.
    size: i64,
    /// Tables no other unit may touch meanwhile.
    exclusive: Vec<u32>,
    /// Tables only other index builds may touch meanwhile (this unit builds an index there).
    shared: Vec<u32>,
    /// For an index build: its table, whose finishing unit waits for all its builds.
    builds_on: Option<u32>,
    /// For a table's finishing unit: start only once every build on it is done.
    after_builds_on: Option<u32>,
    /// Start only once no unit that others wait for and that touches these tables is left
    /// (see [`Claims::pending`]): for a foreign key in phase 0, its tables; for a matview's
    /// refresh, the matviews it reads.
    waits_for: Vec<u32>,
    /// The tables this unit counts in [`Claims::pending`] until it is done.
    awaited: Vec<u32>,
    ops: Vec<Op<'a>>,
}

impl<'a> Unit<'a> {
    fn new(size: i64, ops: Vec<Op<'a>>) -> Unit<'a> {
        Unit {
            size,
            exclusive: Vec::new(),
            shared: Vec::new(),
            builds_on: None,
            after_builds_on: None,
            waits_for: Vec::new(),
            awaited: Vec::new(),
            ops,
        }
    }
    /// Whether the unit may share its connection's pipeline with others (a small table's).
    fn pipelined(&self) -> bool {
        self.size < PIPELINED_UNIT_MAX_BYTES
    }
    fn on_table(t: u32, size: i64) -> Unit<'a> {
        let mut u = Unit::new(size, Vec::new());
        u.exclusive.push(t);
        u
    }
}

/// The tables running units claim, and the builds not done yet per table.
#[derive(Default)]
struct Claims {
    exclusive: HashSet<u32>,
    shared: HashMap<u32, usize>,
    builds_left: HashMap<u32, usize>,
    /// Per table, the units not done yet that touch it and that waiting units wait for
    /// (everything in the phase but units that wait for a table they claim themselves).
    pending: HashMap<u32, usize>,
    /// Units taken and not yet released.
    running: usize,
}

impl Claims {
    fn free(&self, u: &Unit) -> bool {
        u.exclusive
            .iter()
            .all(|t| !self.exclusive.contains(t) && !self.shared.contains_key(t))
            && u.shared.iter().all(|t| !self.exclusive.contains(t))
            && u.after_builds_on
                .is_none_or(|t| self.builds_left.get(&t).is_none_or(|n| *n == 0))
            && u.waits_for
                .iter()
                .all(|t| self.pending.get(t).is_none_or(|n| *n == 0))
    }
    fn take(&mut self, u: &Unit) {
        self.running += 1;
        self.exclusive.extend(u.exclusive.iter().copied());
        for t in &u.shared {
            *self.shared.entry(*t).or_insert(0) += 1;
        }
    }
    /// After `u` ran (or failed: then nothing else starts anyway).
    fn release(&mut self, u: &Unit) {
        self.running = self.running.saturating_sub(1);
        for t in &u.exclusive {
            self.exclusive.remove(t);
        }
        for t in &u.shared {
            if let Some(n) = self.shared.get_mut(t) {
                *n -= 1;
                if *n == 0 {
                    self.shared.remove(t);
                }
            }
        }
        if let Some(t) = u.builds_on {
            if let Some(n) = self.builds_left.get_mut(&t) {
                *n = n.saturating_sub(1);
            }
        }
        for t in &u.awaited {
            if let Some(n) = self.pending.get_mut(t) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Which statements of an item an [`Op`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// All of them.
    Whole,
    /// Only the index build: the key's `CREATE UNIQUE INDEX`, or the `CREATE INDEX`.
    Build,
    /// The rest after [`Part::Build`]: the key's `ADD CONSTRAINT … USING INDEX` and what
    /// follows it, or what follows the `CREATE INDEX`.
    Finish,
}

/// One item's statements, or a part of them, in a unit.
#[derive(Debug, Clone, Copy)]
struct Op<'a> {
    /// The item's position in the plan.
    index: usize,
    item: &'a Item,
    part: Part,
}

impl<'a> Op<'a> {
    fn whole(index: usize, item: &'a Item) -> Op<'a> {
        Op {
            index,
            item,
            part: Part::Whole,
        }
    }

    /// The item as a build, and a finish when something follows the build; `None` when the
    /// item builds no index that can be built apart.
    fn split(index: usize, item: &'a Item) -> Option<(Op<'a>, Option<Op<'a>>)> {
        let finish = match item.split()? {
            (LeadRef::AlterTable { using_index, .. }, _) => {
                using_index?;
                true
            }
            (LeadRef::CreateIndex { .. }, rest) => !rest.is_empty(),
        };
        let op = |part| Op { index, item, part };
        Some((op(Part::Build), finish.then(|| op(Part::Finish))))
    }

    /// `(head, subcommand, what follows)` when the op's first statement is an `ALTER TABLE`
    /// subcommand that can share a statement with others of the same head.
    fn alter(&self) -> Option<(&'a str, &'a str, &'a str)> {
        match (self.part, self.item.split()?) {
            (Part::Whole, (LeadRef::AlterTable { head, cmd, .. }, rest)) => Some((head, cmd, rest)),
            (
                Part::Finish,
                (
                    LeadRef::AlterTable {
                        head,
                        using_index: Some(u),
                        ..
                    },
                    rest,
                ),
            ) => Some((head, u.cmd.as_str(), rest)),
            _ => None,
        }
    }

    /// The op's statements, alone.
    fn sql(&self) -> String {
        if let Some((head, cmd, rest)) = self.alter() {
            return format!("{head}\n    {cmd};\n{rest}");
        }
        match (self.part, self.item.split()) {
            (Part::Build, Some((LeadRef::CreateIndex { create }, _))) => format!("{create};\n"),
            (
                Part::Build,
                Some((
                    LeadRef::AlterTable {
                        using_index: Some(u),
                        ..
                    },
                    _,
                )),
            ) => format!("{};\n", u.create),
            (Part::Finish, Some((_, rest))) => rest.to_string(),
            _ => self.item.sql.clone(),
        }
    }

    /// Whether this op creates what the item provides (a build of a key's index does not:
    /// the key is what its finish adds).
    fn creates(&self) -> bool {
        match self.part {
            Part::Whole => true,
            Part::Build => matches!(self.item.lead(), Some(LeadRef::CreateIndex { .. })),
            Part::Finish => matches!(self.item.lead(), Some(LeadRef::AlterTable { .. })),
        }
    }

    /// Whether the item is done once this op is (its last op).
    fn completes(&self) -> bool {
        match self.part {
            Part::Whole | Part::Finish => true,
            Part::Build => Op::split(self.index, self.item).is_some_and(|(_, f)| f.is_none()),
        }
    }

    /// For a whole key that has a USING INDEX form: that form's attachment, to run when the
    /// key's index exists (42P07).
    fn attach_instead(&self) -> Option<Op<'a>> {
        let (_, finish) = Op::split(self.index, self.item)?;
        finish.filter(|f| self.part == Part::Whole && f.creates())
    }

    /// Whether `sqlstate`, answered to this op alone, means it was already done.
    fn already_there(&self, sqlstate: &str) -> bool {
        ALREADY_THERE.contains(&sqlstate)
            || self.part == Part::Finish
                && sqlstate == INDEX_ALREADY_A_CONSTRAINT
                && matches!(self.item.lead(), Some(LeadRef::AlterTable { .. }))
    }
}

/// The error of a statement that applies `item`, naming it and what applying it does
/// ("creating" only for what creates an object).
fn item_error(e: tokio_postgres::Error, item: &Item, sql: &str) -> Error {
    let doing = match item.kind {
        Kind::SequenceSet => "setting",
        Kind::MatviewRefresh => "refreshing",
        Kind::Acl | Kind::DefaultPrivileges => "granting",
        Kind::TableAttach | Kind::IndexAttach => "attaching",
        Kind::ValidateConstraint => "validating",
        Kind::Default
        | Kind::SequenceOwnedBy
        | Kind::TriggerState
        | Kind::ViewRedefinition
        | Kind::ViewDefinition
        | Kind::PostponedDefinition => "applying",
        _ => "creating",
    };
    let what = item.name.strip_prefix("validate ").unwrap_or(&item.name);
    Error::on_object(e, &item.name, format!("{doing} {what}"), Some(sql))
}

/// A unit's statements as one text: consecutive ops whose first statements are subcommands of
/// the same `ALTER TABLE` head become one `ALTER TABLE` with those subcommands in order, and
/// what follows each (its comment, `CLUSTER ON`…) comes after that statement, in order.
fn combined_sql(ops: &[Op]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ops.len() {
        let Some((head, cmd, rest)) = ops[i].alter() else {
            out += &ops[i].sql();
            i += 1;
            continue;
        };
        let mut cmds = vec![cmd];
        let mut rests = vec![rest];
        i += 1;
        while let Some((h, c, r)) = ops.get(i).and_then(Op::alter) {
            if h != head {
                break;
            }
            cmds.push(c);
            rests.push(r);
            i += 1;
        }
        out += &format!("{head}\n    {};\n", cmds.join(",\n    "));
        out.extend(rests);
    }
    out
}

/// Run a group of units: several small ones in one round trip and one implicit transaction
/// (one commit instead of one each: less work for the server, whose CPU is what many small
/// tables spend); when that fails, each unit again on its own ([`run_unit`]), so a failure
/// is named and what exists is skipped as if they had run apart. One outcome per unit.
async fn run_group(client: &Client, group: &[Unit<'_>]) -> Vec<Result<Vec<bool>>> {
    if group.len() > 1 {
        let sql: String = group.iter().map(|u| combined_sql(&u.ops)).collect();
        if client.batch_execute(&sql).await.is_ok() {
            return group.iter().map(|u| Ok(vec![false; u.ops.len()])).collect();
        }
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for unit in group {
        outcomes.push(run_unit(client, &unit.ops).await);
    }
    outcomes
}

/// Run a unit's ops: all in one round trip (one implicit transaction, [`combined_sql`]) when
/// there are several, else, or when that fails, one by one. Returns, per op, whether what it
/// creates was already there.
async fn run_unit(client: &Client, ops: &[Op<'_>]) -> Result<Vec<bool>> {
    if ops.len() > 1 && client.batch_execute(&combined_sql(ops)).await.is_ok() {
        return Ok(vec![false; ops.len()]);
    }
    // Rolled back whole: find which item failed, and skip what exists, one by one.
    let mut already = Vec::with_capacity(ops.len());
    for op in ops {
        already.push(run_op(client, op).await?);
    }
    Ok(already)
}

/// Run one op alone; true when what it creates was already there.
async fn run_op(client: &Client, op: &Op<'_>) -> Result<bool> {
    let sql = op.sql();
    let code = match client.batch_execute(&sql).await {
        Ok(()) => return Ok(false),
        Err(e) => match e.code().map(|c| c.code().to_string()) {
            Some(c) if op.already_there(&c) => c,
            Some(c) if c == SECOND_PRIMARY_KEY && primary_key_there(client, op).await? => c,
            _ => return Err(item_error(e, op.item, &sql)),
        },
    };
    // A key whose index is there: either the key is too, or a run that built the key's index
    // apart stopped before attaching it. Attaching tells which.
    if let Some(attach) = op.attach_instead().filter(|_| code == "42P07") {
        let sql = attach.sql();
        return match client.batch_execute(&sql).await {
            Ok(()) => Ok(false),
            Err(e) if e.code().is_some_and(|c| attach.already_there(c.code())) => Ok(true),
            Err(e) => Err(item_error(e, op.item, &sql)),
        };
    }
    Ok(true)
}

/// Whether the op adds a primary key that its table on the target already has, under the
/// same name (a resumed run), rather than a second one.
async fn primary_key_there(client: &Client, op: &Op<'_>) -> Result<bool> {
    let key = match op.alter().and(op.item.lead()) {
        Some(LeadRef::AlterTable {
            primary_key: Some(k),
            ..
        }) => k,
        _ => return Ok(false),
    };
    let sql = "SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint
                               WHERE contype = 'p' AND conrelid = $1::text::regclass
                                 AND conname = $2)";
    let row = client
        .query_one(sql, &[&key.table, &key.name])
        .await
        .map_err(|e| Error::db(e, Some(format!("looking for {}", op.item.name)), Some(sql)))?;
    Ok(row.get(0))
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
                .map_err(|e| Error::db(e, Some(format!("dropping invalid index {name}")), None))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn script_comments_stay_on_one_line() {
        use crate::render::Kind;
        let it = crate::render::Item {
            kind: Kind::Table,
            name: "table public.\"new\nline\"".into(),
            schema: "public".into(),
            sql: "CREATE TABLE public.\"new\nline\" ();\n".into(),
            provides: Default::default(),
            after: Default::default(),
            table: None,
            lead: None,
        };
        let mut out = Vec::new();
        super::write_script(&mut out, "a\ntitle", std::slice::from_ref(&it)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("-- pgmove: a title\n"));
        assert!(text
            .contains("\n-- table public.\"new line\"\nCREATE TABLE public.\"new\nline\" ();\n"));
    }

    use super::*;
    use crate::render::{Kind, UsingIndex};

    fn item(name: &str, lead: Option<Lead>, rest: &str) -> Item {
        let mut it = Item {
            kind: Kind::Constraint,
            name: name.into(),
            schema: "public".into(),
            sql: rest.into(),
            provides: Default::default(),
            after: Default::default(),
            table: Some(1),
            lead: None,
        };
        if let Some(lead) = lead {
            it.set_lead(lead, rest);
        }
        it
    }

    fn add(head: &str, cmd: &str) -> Option<Lead> {
        Some(Lead::AlterTable {
            head: head.into(),
            cmd: cmd.into(),
            using_index: None,
            primary_key: None,
        })
    }

    /// A key named `name` (`PRIMARY KEY` or `UNIQUE`) on `col`, with its USING INDEX form.
    fn key(name: &str, kind: &str, col: &str) -> Option<Lead> {
        Some(Lead::AlterTable {
            head: "ALTER TABLE ONLY public.t".into(),
            cmd: format!("ADD CONSTRAINT {name} {kind} ({col})"),
            using_index: Some(UsingIndex {
                create: format!("CREATE UNIQUE INDEX {name} ON public.t USING btree ({col})"),
                cmd: format!("ADD CONSTRAINT {name} {kind} USING INDEX {name}"),
                inherited_not_null: false,
            }),
            primary_key: None,
        })
    }

    fn whole(items: &[Item]) -> Vec<Op<'_>> {
        items
            .iter()
            .enumerate()
            .map(|(i, it)| Op::whole(i, it))
            .collect()
    }

    const T: &str = "ALTER TABLE ONLY public.t";

    #[test]
    fn constraints_of_one_table_share_one_alter_table_and_comments_follow_in_order() {
        let items = [
            item(
                "pk",
                add(T, "ADD CONSTRAINT pk PRIMARY KEY (id)"),
                "COMMENT ON CONSTRAINT pk ON public.t IS 'k';\n",
            ),
            item("u", add(T, "ADD CONSTRAINT u UNIQUE (a)"), ""),
            item(
                "x",
                add(T, "ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&)"),
                "ALTER TABLE public.t CLUSTER ON x;\n",
            ),
        ];
        assert_eq!(
            combined_sql(&whole(&items)),
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT pk PRIMARY KEY (id),\n    \
             ADD CONSTRAINT u UNIQUE (a),\n    ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&);\n\
             COMMENT ON CONSTRAINT pk ON public.t IS 'k';\n\
             ALTER TABLE public.t CLUSTER ON x;\n"
        );
        // Alone, each op is its item exactly (the fallback runs items as scripts have them).
        for op in whole(&items) {
            assert_eq!(op.sql(), op.item.sql);
        }
    }

    #[test]
    fn only_consecutive_subcommands_of_the_same_head_merge() {
        let items = [
            item("a", add(T, "ADD CONSTRAINT a CHECK (x > 0) NOT VALID"), ""),
            // Without ONLY: another statement, though the same table.
            item(
                "b",
                add(
                    "ALTER TABLE public.t",
                    "ADD CONSTRAINT b CHECK (y > 0) NOT VALID",
                ),
                "",
            ),
            item(
                "i",
                Some(Lead::CreateIndex {
                    create: "CREATE INDEX i ON public.t USING btree (a)".into(),
                }),
                "",
            ),
            item("c", add(T, "ADD CONSTRAINT c UNIQUE (c)"), ""),
            item("d", add(T, "ADD CONSTRAINT d UNIQUE (d)"), ""),
            item(
                "opaque",
                None,
                "CREATE RULE r AS ON INSERT TO public.t DO NOTHING;\n",
            ),
        ];
        assert_eq!(
            combined_sql(&whole(&items)),
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT a CHECK (x > 0) NOT VALID;\n\
             ALTER TABLE public.t\n    ADD CONSTRAINT b CHECK (y > 0) NOT VALID;\n\
             CREATE INDEX i ON public.t USING btree (a);\n\
             ALTER TABLE ONLY public.t\n    ADD CONSTRAINT c UNIQUE (c),\n    ADD CONSTRAINT d UNIQUE (d);\n\
             CREATE RULE r AS ON INSERT TO public.t DO NOTHING;\n"
        );
    }

    #[test]
    fn an_item_whose_sql_no_longer_begins_with_its_lead_runs_as_it_is() {
        let mut it = item("pk", add(T, "ADD CONSTRAINT pk PRIMARY KEY (id)"), "");
        it.sql = "SELECT 1;\n".into();
        let other = item("u", add(T, "ADD CONSTRAINT u UNIQUE (a)"), "");
        let items = [it, other];
        assert_eq!(
            combined_sql(&whole(&items)),
            "SELECT 1;\nALTER TABLE ONLY public.t\n    ADD CONSTRAINT u UNIQUE (a);\n"
        );
        assert!(Op::split(0, &items[0]).is_none());
    }

    #[test]
    fn a_key_splits_into_its_index_build_and_an_attachment_that_merges() {
        let items = [
            item(
                "pk",
                key("pk", "PRIMARY KEY", "id"),
                "COMMENT ON CONSTRAINT pk ON public.t IS 'k';\n",
            ),
            item("u", key("u", "UNIQUE", "a"), ""),
            item(
                "i",
                Some(Lead::CreateIndex {
                    create: "CREATE INDEX i ON public.t USING btree (a)".into(),
                }),
                "COMMENT ON INDEX public.i IS 'i';\n",
            ),
            item(
                "j",
                Some(Lead::CreateIndex {
                    create: "CREATE INDEX j ON public.t USING btree (b)".into(),
                }),
                "",
            ),
            // No USING INDEX form (an exclusion constraint): not split.
            item(
                "x",
                add(T, "ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&)"),
                "",
            ),
        ];
        let parts: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, it)| Op::split(i, it))
            .collect();
        assert!(parts[4].is_none());
        let (b, f) = parts[0].unwrap();
        assert_eq!(
            b.sql(),
            "CREATE UNIQUE INDEX pk ON public.t USING btree (id);\n"
        );
        assert!(!b.creates() && !b.completes());
        let f = f.unwrap();
        assert!(f.creates() && f.completes());
        assert!(f.already_there(INDEX_ALREADY_A_CONSTRAINT));
        assert!(!b.already_there(INDEX_ALREADY_A_CONSTRAINT));
        // An index with statements after its build: the build creates, the finish completes.
        let (b, f) = parts[2].unwrap();
        assert!(b.creates() && !b.completes());
        let f = f.unwrap();
        assert!(!f.creates() && f.completes());
        assert_eq!(f.sql(), "COMMENT ON INDEX public.i IS 'i';\n");
        // An index with nothing after: the build is all.
        let (b, f) = parts[3].unwrap();
        assert!(b.creates() && b.completes() && f.is_none());

        let finish = [
            parts[0].unwrap().1.unwrap(),
            parts[1].unwrap().1.unwrap(),
            parts[2].unwrap().1.unwrap(),
            Op::whole(4, &items[4]),
        ];
        assert_eq!(
            combined_sql(&finish),
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT pk PRIMARY KEY USING INDEX pk,\n    \
             ADD CONSTRAINT u UNIQUE USING INDEX u;\n\
             COMMENT ON CONSTRAINT pk ON public.t IS 'k';\n\
             COMMENT ON INDEX public.i IS 'i';\n\
             ALTER TABLE ONLY public.t\n    ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&);\n"
        );
    }

    /// A matview's refresh, claiming the matview and reading the matviews `reads`.
    fn refresh(oid: u32, reads: &[u32]) -> Item {
        use crate::model::{class, ObjRef};
        let mut it = item(&format!("m{oid}"), None, "REFRESH MATERIALIZED VIEW m;\n");
        it.kind = Kind::MatviewRefresh;
        it.table = Some(oid);
        it.provides.push(ObjRef::new(class::MATVIEW_DATA, oid));
        it.after.push(ObjRef::new(class::PG_CLASS, oid));
        it.after
            .extend(reads.iter().map(|r| ObjRef::new(class::MATVIEW_DATA, *r)));
        it
    }

    fn schedule<'a>(items: &'a [Item], sizes: &'a HashMap<u32, i64>) -> Schedule<'a> {
        Schedule {
            items,
            table_sizes: sizes,
            parallel_builds_min_bytes: PARALLEL_BUILDS_MIN_BYTES,
            version: 180000,
        }
    }

    #[test]
    fn a_refresh_waits_only_for_the_refreshes_of_what_it_reads() {
        // Listed out of order: 3 reads 2 and 1, 2 reads 1, 4 reads nothing; 5 reads a
        // matview whose refresh is not in the plan. An index on table 9 comes first.
        let mut ix = item("ix", None, "CREATE INDEX ix ON public.t (a);\n");
        ix.kind = Kind::Index;
        ix.table = Some(9);
        let items = [
            refresh(3, &[2, 1]),
            ix,
            refresh(2, &[1]),
            refresh(1, &[]),
            refresh(4, &[]),
            refresh(5, &[6]),
        ];
        let sizes = HashMap::from([(9, 1 << 30)]);
        let s = schedule(&items, &sizes);
        let phases: Vec<usize> = (0..items.len()).map(|i| s.phase_of(i)).collect();
        assert_eq!(phases, [5, 0, 5, 5, 5, 5], "refreshes after all else");

        let (units, mut c) = s.units(5);
        let unit = |m: u32| {
            units
                .iter()
                .find(|u| u.exclusive == [m])
                .unwrap_or_else(|| panic!("no unit for m{m}"))
        };
        let (m1, m2, m3, m4, m5) = (unit(1), unit(2), unit(3), unit(4), unit(5));
        assert_eq!(units.len(), 5);
        for u in [m1, m4, m5] {
            assert!(
                c.free(u),
                "{} reads no refresh of the plan",
                u.ops[0].item.name
            );
        }
        assert!(!c.free(m2) && !c.free(m3));
        c.take(m4);
        c.take(m1);
        assert!(!c.free(m2), "m2 waits for m1");
        c.release(m1);
        assert!(c.free(m2), "m2 waits for m1 only, not for m4 still running");
        assert!(!c.free(m3), "m3 also waits for m2");
        c.take(m2);
        assert!(!c.free(m3));
        c.release(m2);
        assert!(c.free(m3));
        c.take(m3);
        c.release(m3);
        c.release(m4);
        assert_eq!(c.running, 0);
    }

    #[test]
    fn a_cycle_of_refreshes_is_never_free() {
        // No catalog makes one; the workers report it instead of waiting forever.
        let items = [refresh(1, &[2]), refresh(2, &[1])];
        let sizes = HashMap::new();
        let (units, c) = schedule(&items, &sizes).units(5);
        assert!(units.iter().all(|u| !c.free(u)));
        assert_eq!(c.running, 0);
    }

    #[test]
    fn shared_claims_admit_builds_and_hold_off_the_rest() {
        let it = item("i", None, "");
        let build = || {
            let mut u = Unit::new(0, vec![Op::whole(0, &it)]);
            u.shared.push(7);
            u.builds_on = Some(7);
            u
        };
        let mut finish = Unit::on_table(7, 0);
        finish.after_builds_on = Some(7);
        let mut fk = Unit::on_table(8, 0);
        fk.exclusive.push(7);

        let mut c = Claims::default();
        let (b1, b2) = (build(), build());
        c.builds_left.insert(7, 2);
        assert!(c.free(&b1));
        c.take(&b1);
        assert!(c.free(&b2), "builds on one table run at once");
        assert!(
            !c.free(&fk),
            "a unit that locks the table waits for the builds"
        );
        c.take(&b2);
        c.release(&b1);
        assert!(!c.free(&finish), "one build left");
        c.release(&b2);
        assert!(c.free(&finish));
        c.take(&finish);
        assert!(!c.free(&build()), "nothing shares with an exclusive claim");
        assert!(!c.free(&fk));
        c.release(&finish);
        assert!(c.free(&fk));
    }
}
