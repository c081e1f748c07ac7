//! The data step: copies the rows of every table in scope from the source to the target,
//! between `schema` (the target has the tables, no indexes or keys yet) and `post-data`.
//!
//! - One snapshot: every source connection reads in the same exported snapshot (or in one the
//!   caller exported, [`Options::snapshot`]), so the copy is consistent across tables; its id
//!   is in [`Progress::Started`] and [`Report::snapshot`] for other readers of the same state.
//! - Streaming: each task pipes the source's `COPY … TO STDOUT` into the target's
//!   `COPY … FROM STDIN` (`copy`); memory stays bounded and nothing touches a disk.
//! - Largest first, on [`Options::jobs`] connection pairs; a table much larger than the rest
//!   is cut into ranges (heap blocks on a 14+ source, else its integer primary key) that
//!   several connections share (`tasks`), decided once and stored.
//! - Binary COPY for tables whose every column is a built-in type (or array of one), text
//!   otherwise ([`Format`]).
//! - Resumable: the planned tasks live on the target (`state`); each task's rows and its done
//!   mark commit in one transaction (a whole table after `TRUNCATE ONLY`, loaded with
//!   `FREEZE`), so a killed run leaves no half table; running the same command again skips
//!   what is done. A finished run drops its state: nothing of pgmove stays on the target.
//!   A resumed run copies the rest in a new snapshot (the old one died with its run).
//! - Preflight (`checks`): every problem (a missing table, differing columns, a target table
//!   already holding rows, no privilege) is listed before any row moves.
//!
//! It never creates, alters or drops user objects, never writes to the source, and never
//! copies a partitioned parent, a foreign table, a view or a materialized view.

mod checks;
mod copy;
pub mod state;
pub mod tasks;

pub use copy::Format;

use crate::conn::{self, ConnSpec};
use crate::filter::Filter;
use crate::model::Catalog;
use crate::quote::{ident, literal};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tasks::{Range, Split, TableCopy, Task};
use tokio_postgres::Client;

/// How to copy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Connection pairs copying at once (at least 1).
    pub jobs: usize,
    /// A snapshot exported by the caller (`pg_export_snapshot()`), kept alive by the caller
    /// for the whole run; `None`: the run exports its own.
    pub snapshot: Option<String>,
    /// The largest range (bytes on disk) a table is copied in; 0 never splits. A table
    /// larger than its share of the run is cut into ranges of about
    /// `min(split_bytes, max(64 MiB, all bytes / (2 × jobs)))` (see [`tasks::range_bytes`]).
    pub split_bytes: i64,
    /// Use binary COPY where it is safe (see [`Format`]); `false`: text for every table.
    pub binary: bool,
    /// Copy the large objects too ([`crate::lobs`]), in the same snapshot, after the tables.
    /// As with pg_dump, they are left out when a filter selects part of the database.
    pub large_objects: bool,
    /// With the large objects, their GRANTs (like pg_dump without `-x`).
    pub privileges: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 4,
            snapshot: None,
            split_bytes: 1 << 30,
            binary: true,
            large_objects: true,
            privileges: true,
        }
    }
}

/// What [`run`] is doing, for progress displays.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// Preflight passed; copying starts. `tasks_done` were done by an interrupted run.
    Started {
        snapshot: &'a str,
        tables: usize,
        tasks: usize,
        tasks_done: usize,
        /// Bytes on disk of the source tables still to copy (an estimate of what will stream).
        bytes_estimate: u64,
    },
    /// Rows are streaming: `table`'s task has sent `bytes` so far; `total` in the whole run.
    Copying {
        table: &'a str,
        bytes: u64,
        total: u64,
    },
    /// One task committed.
    TaskDone {
        table: &'a str,
        part: i32,
        parts: i32,
        rows: u64,
        bytes: u64,
        tasks_done: usize,
        tasks: usize,
        total: u64,
    },
}

/// One table's copy.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TableReport {
    /// `schema.name`, quoted as needed.
    pub table: String,
    pub format: Format,
    /// Tasks (ranges) the table was copied in.
    pub parts: usize,
    /// Rows and COPY bytes, this run's and an interrupted run's together.
    pub rows: u64,
    pub bytes: u64,
    /// Time this run's tasks of the table took, added up.
    pub seconds: f64,
}

/// What [`run`] did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The snapshot every source connection read in.
    pub snapshot: String,
    pub jobs: usize,
    pub tables: Vec<TableReport>,
    pub tasks: usize,
    /// Tasks an interrupted run had done, skipped.
    pub tasks_resumed: usize,
    /// Rows and COPY bytes this run moved.
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub bytes_per_second: f64,
    /// The large objects' copy, when [`Options::large_objects`] asked for it.
    pub large_objects: Option<crate::lobs::Report>,
}

/// A snapshot exported on a source connection, alive as long as this value: pass
/// [`Snapshot::id`] as [`Options::snapshot`] (and to other readers that must see the same
/// state, e.g. large objects) and drop it when they are all done.
pub struct Snapshot {
    id: String,
    _client: Client,
}

impl Snapshot {
    /// Open a connection, begin a `REPEATABLE READ, READ ONLY` transaction and export its
    /// snapshot.
    pub async fn export(source: &ConnSpec) -> Result<Snapshot> {
        let client = conn::connect(source).await?;
        let id = export_on(&client).await?;
        Ok(Snapshot {
            id,
            _client: client,
        })
    }

    /// The id to give `SET TRANSACTION SNAPSHOT`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

async fn export_on(client: &Client) -> Result<String> {
    let sql = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    client
        .batch_execute(sql)
        .await
        .map_err(|e| Error::db(e, Some("exporting the source's snapshot".into()), Some(sql)))?;
    let sql = "SELECT pg_catalog.pg_export_snapshot()";
    Ok(client
        .query_one(sql, &[])
        .await
        .map_err(|e| Error::db(e, Some("exporting the source's snapshot".into()), Some(sql)))?
        .get(0))
}

/// A source connection inside snapshot `id`.
async fn open_source(spec: &ConnSpec, encoding: &str, id: &str) -> Result<Client> {
    let c = conn::connect(spec).await?;
    c.batch_execute(&copy::source_setup(encoding))
        .await
        .map_err(|e| {
            let on = format!("setting up a connection to {}", spec.display_safe());
            Error::db(e, Some(on), Some("session setup"))
        })?;
    // Its own query string: statements sent with BEGIN in one string would run before it,
    // in the same transaction, and SET TRANSACTION SNAPSHOT must come first.
    let sql = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {};",
        literal(id)
    );
    c.batch_execute(&sql).await.map_err(|e| {
        Error::db(
            e,
            Some(format!(
                "importing snapshot {id} on {}",
                spec.display_safe()
            )),
            Some("SET TRANSACTION SNAPSHOT"),
        )
    })?;
    Ok(c)
}

async fn open_target(spec: &ConnSpec, encoding: &str) -> Result<Client> {
    let c = conn::connect(spec).await?;
    c.batch_execute(&copy::target_setup(encoding))
        .await
        .map_err(|e| {
            let on = format!("setting up a connection to {}", spec.display_safe());
            Error::db(e, Some(on), Some("session setup"))
        })?;
    Ok(c)
}

/// Copy the rows of the tables of `cat` that `filter` selects from `source` to `target`.
///
/// `cat` is the source's catalog (as the other steps read it); the target must hold the
/// tables (after the `schema` step), empty. On success the target holds every row the
/// snapshot saw and no trace of the run; on failure it holds whole tables and ranges only,
/// and calling `run` again with the same arguments finishes the work.
///
/// ```no_run
/// # async fn demo() -> pgmove_core::Result<()> {
/// use pgmove_core::{catalog, conn, data, filter::Filter};
/// let (source, target) = ("host=old dbname=app".parse()?, "host=new dbname=app".parse()?);
/// let cat = catalog::read(&conn::connect(&source).await?).await?;
/// let mut opts = data::Options::default();
/// opts.jobs = 2;
/// let report = data::run(&source, &target, &cat, &Filter::default(), &opts, &|p| {
///     if let data::Progress::TaskDone { table, rows, .. } = p {
///         println!("{table}: {rows} rows");
///     }
/// })
/// .await?;
/// println!("{} rows in {:.1}s", report.rows, report.seconds);
/// # Ok(()) }
/// ```
pub async fn run(
    source: &ConnSpec,
    target: &ConnSpec,
    cat: &Catalog,
    filter: &Filter,
    opts: &Options,
    progress: &(dyn Fn(Progress<'_>) + Send + Sync),
) -> Result<Report> {
    let started = Instant::now();
    let tables = tasks::tables(cat, filter);
    if tables.is_empty() && !filter.is_empty() {
        return Err(Error::Invalid(
            "the filters select no table with rows to copy".into(),
        ));
    }

    // The source: sizes, privileges and binary safety, then the snapshot.
    let control = conn::connect(source).await?;
    let info = checks::source_info(&control, &tables).await?;
    let mut problems = checks::source_problems(&tables, &info);
    // Our own snapshot lives as long as `control`'s transaction: until the run ends.
    let snapshot = match &opts.snapshot {
        Some(id) => id.clone(),
        None => export_on(&control).await?,
    };
    let first_source = open_source(source, &info.encoding, &snapshot).await?;

    // The target: one run at a time, an earlier run's state, the tables.
    let target_control = open_target(target, &info.encoding).await?;
    state::lock(&target_control).await?;
    let resume = state::load(&target_control).await?;
    let fingerprint = tasks::fingerprint(&tables);
    let by_name: HashMap<(&str, &str), usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.schema.as_str(), t.name.as_str()), i))
        .collect();
    let mut resumed_rows: HashMap<usize, (u64, u64, usize)> = HashMap::new();
    let mut plan: Vec<Task> = Vec::new();
    match &resume {
        Some(r) if r.fingerprint != fingerprint => problems.push(format!(
            "the target holds the state of an interrupted pgmove data run of other tables or \
             columns; drop schema {} on the target to start over",
            state::SCHEMA
        )),
        Some(r) => {
            for s in &r.tasks {
                let Some(&i) = by_name.get(&(s.schema.as_str(), s.name.as_str())) else {
                    problems.push(format!(
                        "the interrupted run's state names table {}, which this run does not copy",
                        crate::quote::qualified(&s.schema, &s.name)
                    ));
                    continue;
                };
                if s.done {
                    let e = resumed_rows.entry(i).or_default();
                    e.0 += s.rows as u64;
                    e.1 += s.bytes as u64;
                    e.2 += 1;
                }
                plan.push(Task {
                    id: s.id,
                    table: i,
                    range: s.range.clone(),
                    part: s.part,
                    parts: s.parts,
                    est_bytes: info.tables[i].bytes / s.parts.max(1) as i64,
                    done: s.done,
                });
            }
        }
        // Planning reads key bounds: not from tables the source already refuses.
        None if problems.is_empty() => {
            plan = plan_tasks(&first_source, &tables, &info, opts).await?;
        }
        None => {}
    }
    let may_hold_rows =
        |i: usize| tables[i].ext_condition.is_some() || resumed_rows.contains_key(&i);
    let (target_problems, target_tables) =
        checks::target_check(&target_control, &tables, &may_hold_rows).await?;
    problems.extend(target_problems);
    if !problems.is_empty() {
        return Err(Error::Problems {
            context: format!(
                "cannot copy rows ({} problem(s); nothing was written)",
                problems.len()
            ),
            problems,
        });
    }
    if resume.is_none() {
        state::create(&target_control, &fingerprint, &plan, &|i| {
            (tables[i].schema.to_string(), tables[i].name.to_string())
        })
        .await?;
    }

    // Formats, then the queue of what is left, largest first.
    let formats: Vec<Format> = tables
        .iter()
        .zip(&info.tables)
        .map(|(t, s)| {
            let safe = opts.binary
                && info.version >= 100000
                && t.columns
                    .iter()
                    .all(|(c, _)| !s.text_columns.contains(c.as_str()));
            if safe {
                Format::Binary
            } else {
                Format::Text
            }
        })
        .collect();
    let total_tasks = plan.len();
    let done_before = plan.iter().filter(|t| t.done).count();
    let mut pending: Vec<&Task> = plan.iter().filter(|t| !t.done).collect();
    pending.sort_by(|a, b| b.est_bytes.cmp(&a.est_bytes).then(a.id.cmp(&b.id)));
    progress(Progress::Started {
        snapshot: &snapshot,
        tables: tables.len(),
        tasks: total_tasks,
        tasks_done: done_before,
        bytes_estimate: pending.iter().map(|t| t.est_bytes.max(0) as u64).sum(),
    });

    let jobs = opts.jobs.max(1).min(pending.len().max(1));
    let mut pairs = vec![(first_source, open_target(target, &info.encoding).await?)];
    for _ in 1..jobs {
        pairs.push((
            open_source(source, &info.encoding, &snapshot).await?,
            open_target(target, &info.encoding).await?,
        ));
    }
    let names: Vec<String> = tables.iter().map(TableCopy::qualified).collect();
    let queue = Mutex::new(pending.into_iter().collect::<VecDeque<&Task>>());
    let failed = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let tasks_done = std::sync::atomic::AtomicUsize::new(done_before);
    let results: Mutex<Vec<(usize, copy::Moved, f64)>> = Mutex::new(Vec::new());
    let worker = |w: usize| {
        let (source, target) = &pairs[w];
        let (queue, failed, total, tasks_done, results) =
            (&queue, &failed, &total, &tasks_done, &results);
        let (tables, names, formats, target_tables) = (&tables, &names, &formats, &target_tables);
        async move {
            loop {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let Some(task) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                    return Ok(());
                };
                let t = &tables[task.table];
                let name = names[task.table].as_str();
                let truncate = task.range == Range::Whole
                    && t.ext_condition.is_none()
                    && target_tables[task.table].freeze;
                let task_started = Instant::now();
                let last = AtomicU64::new(0);
                let on_bytes = |b: u64| {
                    let before = last.swap(b, Ordering::Relaxed);
                    let all = total.fetch_add(b - before, Ordering::Relaxed) + b - before;
                    progress(Progress::Copying {
                        table: name,
                        bytes: b,
                        total: all,
                    });
                };
                let r = copy::copy_task(
                    source,
                    target,
                    t,
                    &task.range,
                    formats[task.table],
                    truncate,
                    task.id,
                    &on_bytes,
                )
                .await;
                let moved = match r {
                    Ok(m) => m,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                };
                let before = last.load(Ordering::Relaxed);
                let all =
                    total.fetch_add(moved.bytes - before, Ordering::Relaxed) + moved.bytes - before;
                let n = tasks_done.fetch_add(1, Ordering::Relaxed) + 1;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((
                    task.table,
                    moved,
                    task_started.elapsed().as_secs_f64(),
                ));
                progress(Progress::TaskDone {
                    table: name,
                    part: task.part,
                    parts: task.parts,
                    rows: moved.rows,
                    bytes: moved.bytes,
                    tasks_done: n,
                    tasks: total_tasks,
                    total: all,
                });
            }
        }
    };
    let outcomes = futures::future::join_all((0..pairs.len()).map(worker)).await;
    for o in outcomes {
        o?;
    }
    // Large objects in the same snapshot, while it is still held; each lands whole, so a
    // rerun after a failure here skips the tables (their state is still there) and the
    // objects already copied.
    let large_objects = if opts.large_objects && filter.is_empty() {
        let mut lo = crate::lobs::Options::with_jobs(opts.jobs.max(1));
        lo.privileges = opts.privileges;
        Some(crate::lobs::copy(source, target, Some(&snapshot), &lo, &|_| {}).await?)
    } else {
        None
    };
    state::drop(&target_control).await?;
    drop(control);

    // The report: per table, this run's tasks and the interrupted run's.
    let mut per_table: HashMap<usize, TableReport> = HashMap::new();
    let parts_of = |i: usize| plan.iter().filter(|t| t.table == i).count();
    let entry = |per_table: &mut HashMap<usize, TableReport>, i: usize| {
        per_table.entry(i).or_insert_with(|| TableReport {
            table: names[i].clone(),
            format: formats[i],
            parts: parts_of(i),
            rows: 0,
            bytes: 0,
            seconds: 0.0,
        });
    };
    for (&i, &(rows, bytes, _)) in &resumed_rows {
        entry(&mut per_table, i);
        let r = per_table.get_mut(&i).expect("just inserted");
        r.rows += rows;
        r.bytes += bytes;
    }
    let (mut rows, mut bytes) = (0u64, 0u64);
    for (i, moved, secs) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        entry(&mut per_table, i);
        let r = per_table.get_mut(&i).expect("just inserted");
        r.rows += moved.rows;
        r.bytes += moved.bytes;
        r.seconds += secs;
        rows += moved.rows;
        bytes += moved.bytes;
    }
    let mut tables_report: Vec<TableReport> = per_table.into_values().collect();
    tables_report.sort_by(|a, b| a.table.cmp(&b.table));
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        snapshot,
        jobs,
        tables: tables_report,
        tasks: total_tasks,
        tasks_resumed: done_before,
        rows,
        bytes,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
        bytes_per_second: bytes as f64 / seconds.max(1e-9),
        large_objects,
    })
}

/// A new run's tasks: each table whole, or cut as [`tasks::split`] decides, with the key
/// bounds read on `source`, which is inside the run's snapshot.
async fn plan_tasks(
    source: &Client,
    tables: &[TableCopy],
    info: &checks::SourceInfo,
    opts: &Options,
) -> Result<Vec<Task>> {
    let total: i64 = info.tables.iter().map(|t| t.bytes).sum();
    let range_bytes = tasks::range_bytes(total, opts.jobs, opts.split_bytes);
    let mut out = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let bytes = info.tables[i].bytes;
        let ranges: Vec<Range> = match tasks::split(
            t,
            (bytes, info.tables[i].heap_bytes),
            range_bytes,
            info.version / 10000,
            info.block_size,
        ) {
            Split::Whole => vec![Range::Whole],
            Split::Ctid(blocks, parts) => tasks::even_ranges(0, blocks.max(1) - 1, parts)
                .into_iter()
                .map(|(lo, hi)| Range::Ctid { lo, hi })
                .collect(),
            Split::Key(parts) => {
                let column = t.int_key.clone().expect("split by key has a key");
                let sql = format!(
                    "SELECT min({k})::int8, max({k})::int8 FROM ONLY {}",
                    t.qualified(),
                    k = ident(&column)
                );
                let row = source.query_one(&sql, &[]).await.map_err(|e| {
                    Error::db(
                        e,
                        Some(format!("reading the key bounds of {}", t.qualified())),
                        Some(&sql),
                    )
                })?;
                match (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) {
                    (Some(min), Some(max)) => tasks::even_ranges(min, max, parts)
                        .into_iter()
                        .map(|(lo, hi)| Range::Key {
                            column: column.clone(),
                            lo,
                            hi,
                        })
                        .collect(),
                    _ => vec![Range::Whole],
                }
            }
        };
        let parts = ranges.len() as i32;
        for (p, range) in ranges.into_iter().enumerate() {
            out.push(Task {
                id: out.len() as i32 + 1,
                table: i,
                range,
                part: p as i32,
                parts,
                est_bytes: bytes / parts as i64,
                done: false,
            });
        }
    }
    Ok(out)
}
