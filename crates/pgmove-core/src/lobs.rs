//! Large objects: copies every large object of a source database to a target, with its
//! contents, its privileges and its comment, under the same OID (as pg_dump does; AWS DMS
//! moves none of them).
//!
//! Contents travel in chunks (`lo_get(oid, offset, len)` on the source, `lo_create(oid)` and
//! `lo_put(oid, offset, bytea)` on the target, both from 9.4), never a whole object in memory.
//! The first chunks of many objects go in one statement each way, and objects are written in
//! batches, one target transaction per batch, on `jobs` (source, target) connection pairs.
//!
//! An object is created with all its chunks, its GRANTs and its comment in one transaction, so
//! an object present on the target is complete, and a second run skips what is there: it
//! resumes without any state of its own. A target holding large objects the source lacks is
//! refused before anything is written. Owners are not copied (pgmove works like `pg_dump -O`):
//! the target's objects belong to the role that connects.
//!
//! [`sync`] brings a target that already holds a copy up to date (an online migration's
//! cutover): it copies what is new, removes what the source dropped and copies again what
//! changed, deciding by hashes each server computes over its own objects.
//!
//! It must never write to the source: every source connection reads in one `REPEATABLE READ
//! READ ONLY` transaction sharing one snapshot (the caller's, or one exported here).

use crate::conn::{self, ConnSpec};
use crate::quote::literal;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Instant;
use tokio_postgres::Client;

/// How to copy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// (source, target) connection pairs working at once.
    pub jobs: usize,
    /// Copy the objects' GRANTs (like pg_dump without `-x`).
    pub privileges: bool,
    /// Bytes read and written per `lo_get`/`lo_put`.
    pub chunk_bytes: usize,
    /// Objects per target transaction (their first chunks travel in one statement each way,
    /// so at most this many chunks are in memory per connection pair).
    pub batch_objects: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 4,
            privileges: true,
            chunk_bytes: 256 * 1024,
            batch_objects: 32,
        }
    }
}

impl Options {
    /// The defaults with `jobs` connection pairs.
    pub fn with_jobs(jobs: usize) -> Options {
        Options {
            jobs,
            ..Options::default()
        }
    }
}

/// Where a copy stands, after each committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Objects copied so far in this run.
    pub objects_done: usize,
    /// Objects this run copies (those already on the target are not counted).
    pub objects_total: usize,
    /// Bytes of contents copied so far in this run.
    pub bytes_done: u64,
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Objects created on the target.
    pub objects: usize,
    /// Objects skipped because the target had them (an earlier, interrupted run).
    pub skipped: usize,
    /// Bytes of contents written.
    pub bytes: u64,
    /// Wall time of the copy, in seconds.
    pub seconds: f64,
}

/// One source object: its OID, ACL, owner (to read the ACL against) and comment.
#[derive(Debug, Clone)]
struct Object {
    oid: u32,
    acl: Option<Vec<String>>,
    owner: String,
    comment: Option<String>,
}

const LIST: &str = "SELECT m.oid, m.lomacl::text[], pg_catalog.pg_get_userbyid(m.lomowner)::text,
       d.description
  FROM pg_catalog.pg_largeobject_metadata m
  LEFT JOIN pg_catalog.pg_description d
    ON d.classoid = 'pg_catalog.pg_largeobject'::pg_catalog.regclass
   AND d.objoid = m.oid AND d.objsubid = 0
 ORDER BY m.oid";

/// The first `$2` bytes of each object of `$1`.
const READ_FIRST: &str = "SELECT u.o, pg_catalog.lo_get(u.o, 0, $2)
  FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS u(o)";
/// `$3` bytes of object `$1` from offset `$2`.
const READ_MORE: &str = "SELECT pg_catalog.lo_get($1, $2, $3)";
/// Create each object of `$1` under its OID with its first chunk from `$2`.
const WRITE_FIRST: &str = "SELECT pg_catalog.lo_put(pg_catalog.lo_create(u.o), 0, u.d)
  FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]),
                  pg_catalog.unnest($2::pg_catalog.bytea[])) AS u(o, d)";
/// Write `$3` into object `$1` at offset `$2`.
const WRITE_MORE: &str = "SELECT pg_catalog.lo_put($1, $2, $3)";
/// Remove each object of `$1`.
const UNLINK: &str =
    "SELECT pg_catalog.lo_unlink(u.o) FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS u(o)";

/// Copy every large object of `source` that `target` lacks, reading in `snapshot` when given
/// (an exported snapshot id, as `pg_export_snapshot` returns; the caller keeps its transaction
/// open meanwhile), else in a snapshot exported here. `progress` is called after each batch
/// commits.
///
/// Fails before writing anything when the target holds large objects the source does not, or
/// lacks a role that the objects' GRANTs name (with `privileges`).
pub async fn copy(
    source: &ConnSpec,
    target: &ConnSpec,
    snapshot: Option<&str>,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Report> {
    let started = Instant::now();

    // The first source connection reads the list, in the caller's snapshot or its own.
    let first = open_source(source).await?;
    let snapshot = match snapshot {
        Some(s) => {
            import_snapshot(&first, s, source).await?;
            s.to_string()
        }
        None => export_snapshot(&first, source).await?,
    };
    let objects = list(&first, "source").await?;

    let first_target = open_target(target).await?;
    let present: Vec<u32> = first_target
        .query(
            "SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid",
            &[],
        )
        .await
        .map_err(|e| Error::db(e, Some("listing large objects of the target".into()), None))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let on_source: HashSet<u32> = objects.iter().map(|o| o.oid).collect();
    let foreign: Vec<u32> = present
        .iter()
        .copied()
        .filter(|o| !on_source.contains(o))
        .collect();
    if !foreign.is_empty() {
        return Err(Error::Conflict(format!(
            "the target holds {} large object(s) the source does not have (OID {}); \
             copy into a database without them",
            foreign.len(),
            first_oids(&foreign)
        )));
    }
    let present: HashSet<u32> = present.into_iter().collect();
    let todo: Vec<Object> = objects
        .into_iter()
        .filter(|o| !present.contains(&o.oid))
        .collect();
    if opts.privileges {
        check_roles(&first_target, &todo).await?;
    }
    let skipped = present.len();
    let batches = batches(todo, false, opts);
    let pairs = with_pairs(
        (first, first_target),
        source,
        target,
        &snapshot,
        opts.jobs.max(1).min(batches.len().max(1)),
    )
    .await?;
    let (objects, bytes) = copy_batches(&pairs, batches, opts, progress).await?;
    end_reads(&pairs).await;
    Ok(Report {
        objects,
        skipped,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What [`sync`] did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// Objects the target lacked, copied.
    pub copied: usize,
    /// Objects the source no longer has, removed from the target.
    pub removed: usize,
    /// Objects whose contents, privileges or comment differed, removed and copied again.
    pub recopied: usize,
    /// Objects equal on both sides, left as they are.
    pub unchanged: usize,
    /// Bytes of contents written.
    pub bytes: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl SyncReport {
    /// Whether the target had to change.
    pub fn changed(&self) -> bool {
        self.copied + self.removed + self.recopied > 0
    }
}

/// Make the target's large objects those of the source: copy the objects it lacks, remove
/// those the source does not have, and copy again those whose contents, privileges (with
/// `privileges`) or comment differ. Everything is read from the source in one snapshot,
/// exported here.
///
/// Which objects differ is decided from each server's own hash of each object's contents
/// (md5 over its 1 MiB pieces, computed where the object is, so none is pulled whole into
/// pgmove), its size, its GRANTs as they would be rendered for its owner, and its comment.
/// An object is removed and copied again in one target transaction, so the target never
/// shows it half written. Running it again after it finished changes nothing; after an
/// interruption it picks up whatever is still different.
///
/// It removes what the source lacks: meant for a target that only pgmove writes, such as
/// an online migration's before its cutover. Fails before writing anything when the target
/// lacks a role that the GRANTs of an object to copy name.
pub async fn sync(
    source: &ConnSpec,
    target: &ConnSpec,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<SyncReport> {
    let started = Instant::now();
    let first = open_source(source).await?;
    let snapshot = export_snapshot(&first, source).await?;
    let first_target = open_target(target).await?;
    let (objects, present) = futures::join!(list(&first, "source"), list(&first_target, "target"));
    let (objects, present) = (objects?, present?);

    let mut theirs: HashMap<u32, Object> = present.into_iter().map(|o| (o.oid, o)).collect();
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    let mut alike = Vec::new();
    for o in objects {
        match theirs.remove(&o.oid) {
            None => missing.push(o),
            Some(t) => {
                let (a, b) = (std::slice::from_ref(&o), std::slice::from_ref(&t));
                if extras(a, opts.privileges) == extras(b, opts.privileges) {
                    alike.push(o);
                } else {
                    differ.push(o);
                }
            }
        }
    }
    let mut removed: Vec<u32> = theirs.into_keys().collect();
    removed.sort_unstable();

    let jobs = opts.jobs.max(1);
    let pairs = with_pairs((first, first_target), source, target, &snapshot, jobs).await?;
    let (same, changed) = compare_contents(&pairs, alike).await?;
    differ.extend(changed);
    differ.sort_by_key(|o| o.oid);

    let mut todo = missing.clone();
    todo.extend(differ.iter().cloned());
    if opts.privileges {
        check_roles(&pairs[0].1, &todo).await?;
    }
    drop(todo);

    for oids in removed.chunks(1000) {
        let oids = oids.to_vec();
        pairs[0].1.query(UNLINK, &[&oids]).await.map_err(|e| {
            Error::db(
                e,
                Some(format!(
                    "removing large objects the source no longer has (OID {})",
                    first_oids(&oids)
                )),
                Some(UNLINK),
            )
        })?;
    }

    let (copied, recopied) = (missing.len(), differ.len());
    let mut queue = batches(missing, false, opts);
    queue.extend(batches(differ, true, opts));
    let (_, bytes) = copy_batches(&pairs, queue, opts, progress).await?;
    end_reads(&pairs).await;
    Ok(SyncReport {
        copied,
        removed: removed.len(),
        recopied,
        unchanged: same,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Objects hashed per query (each query opens one descriptor per object).
pub(crate) const HASH_BATCH: usize = 500;

/// Size and contents hash of each object of `$1`: the md5 of the md5s of its 1 MiB pieces,
/// in order, computed by the server that holds it.
pub(crate) const HASH: &str = "SELECT u.o, s.size,
       (SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(
                   pg_catalog.md5(pg_catalog.lo_get(u.o, c, 1048576)), '' ORDER BY c), ''))
          FROM pg_catalog.generate_series(0::pg_catalog.int8, s.size - 1, 1048576) c)
  FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS u(o),
       LATERAL (SELECT pg_catalog.lo_lseek64(pg_catalog.lo_open(u.o, 262144), 0, 2) AS size) s";

/// Hash `objects` on both sides of each pair; how many are equal, and those that are not.
async fn compare_contents(
    pairs: &[(Client, Client)],
    objects: Vec<Object>,
) -> Result<(usize, Vec<Object>)> {
    let queue: Mutex<VecDeque<Vec<Object>>> =
        Mutex::new(objects.chunks(HASH_BATCH).map(<[Object]>::to_vec).collect());
    let workers = pairs.iter().map(|(s, t)| async {
        let mut same = 0;
        let mut differ = Vec::new();
        loop {
            let Some(batch) = queue.lock().unwrap().pop_front() else {
                return Ok::<_, Error>((same, differ));
            };
            let oids: Vec<u32> = batch.iter().map(|o| o.oid).collect();
            let (a, b) = futures::join!(hash_in_snapshot(s, &oids), hashes(t, &oids, "target"));
            let b: HashMap<u32, (i64, String)> =
                b?.into_iter().map(|(o, n, h)| (o, (n, h))).collect();
            let a: HashMap<u32, (i64, String)> =
                a?.into_iter().map(|(o, n, h)| (o, (n, h))).collect();
            for o in batch {
                if a.contains_key(&o.oid) && a.get(&o.oid) == b.get(&o.oid) {
                    same += 1;
                } else {
                    differ.push(o);
                }
            }
        }
    });
    let mut same = 0;
    let mut differ = Vec::new();
    for r in futures::future::join_all(workers).await {
        let (n, mut d) = r?;
        same += n;
        differ.append(&mut d);
    }
    Ok((same, differ))
}

/// [`HASH`] on a source connection inside its snapshot's transaction, in a savepoint rolled
/// back after, so the descriptors it opens are closed and do not pile up in that transaction.
async fn hash_in_snapshot(c: &Client, oids: &[u32]) -> Result<Vec<(u32, i64, String)>> {
    let err = |e| Error::db(e, Some("hashing large objects on the source".into()), None);
    c.batch_execute("SAVEPOINT pgmove_lobs_hash")
        .await
        .map_err(err)?;
    let r = hashes(c, oids, "source").await;
    c.batch_execute("ROLLBACK TO SAVEPOINT pgmove_lobs_hash")
        .await
        .map_err(err)?;
    r
}

/// [`HASH`] of `oids` on `c`: (OID, size, hash) of each.
pub(crate) async fn hashes(
    c: &Client,
    oids: &[u32],
    side: &str,
) -> Result<Vec<(u32, i64, String)>> {
    let rows = c.query(HASH, &[&oids]).await.map_err(|e| {
        Error::db(
            e,
            Some(format!("hashing large objects on the {side}")),
            Some(HASH),
        )
    })?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The first five of `oids`, and how many more.
fn first_oids(oids: &[u32]) -> String {
    let shown: Vec<String> = oids.iter().take(5).map(u32::to_string).collect();
    match oids.len() {
        n if n > 5 => format!("{} and {} more", shown.join(", "), n - 5),
        _ => shown.join(", "),
    }
}

/// Every large object of a server with its ACL, owner and comment, by OID.
async fn list(c: &Client, side: &str) -> Result<Vec<Object>> {
    Ok(c.query(LIST, &[])
        .await
        .map_err(|e| {
            Error::db(
                e,
                Some(format!("listing large objects of the {side}")),
                Some(LIST),
            )
        })?
        .iter()
        .map(|r| Object {
            oid: r.get(0),
            acl: r.get(1),
            owner: r.get(2),
            comment: r.get(3),
        })
        .collect())
}

/// Objects to write in one target transaction each; `replace`: remove the target's first.
struct Batch {
    objects: Vec<Object>,
    replace: bool,
}

fn batches(objects: Vec<Object>, replace: bool, opts: &Options) -> VecDeque<Batch> {
    objects
        .chunks(opts.batch_objects.max(1))
        .map(|c| Batch {
            objects: c.to_vec(),
            replace,
        })
        .collect()
}

/// `first` and further pairs up to `n`, each source connection in `snapshot`.
async fn with_pairs(
    first: (Client, Client),
    source: &ConnSpec,
    target: &ConnSpec,
    snapshot: &str,
    n: usize,
) -> Result<Vec<(Client, Client)>> {
    let mut pairs = vec![first];
    for _ in 1..n.max(1) {
        let (s, t) = futures::join!(open_source(source), open_target(target));
        let s = s?;
        import_snapshot(&s, snapshot, source).await?;
        pairs.push((s, t?));
    }
    Ok(pairs)
}

/// End the source connections' read-only transactions.
async fn end_reads(pairs: &[(Client, Client)]) {
    for (s, _) in pairs {
        // Read-only: the end of the transaction changes nothing.
        let _ = s.batch_execute("COMMIT").await;
    }
}

/// Write `batches` on `pairs`, each pair taking the next batch; (objects, bytes) written.
async fn copy_batches(
    pairs: &[(Client, Client)],
    batches: VecDeque<Batch>,
    opts: &Options,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(usize, u64)> {
    let chunk = i32::try_from(opts.chunk_bytes.max(1)).unwrap_or(i32::MAX);
    let total = batches.iter().map(|b| b.objects.len()).sum();
    let busy = opts.jobs.max(1).min(batches.len()).min(pairs.len());
    let queue = Mutex::new(batches);
    let done = Mutex::new((0usize, 0u64));
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let workers = pairs[..busy].iter().map(|(s, t)| async {
        let statements = match prepare(s, t).await {
            Ok(p) => p,
            Err(e) => {
                failed.lock().unwrap().get_or_insert(e);
                return;
            }
        };
        loop {
            if failed.lock().unwrap().is_some() {
                return;
            }
            let Some(batch) = queue.lock().unwrap().pop_front() else {
                return;
            };
            match copy_batch(s, t, &statements, &batch, chunk, opts.privileges).await {
                Ok(bytes) => {
                    let p = {
                        let mut d = done.lock().unwrap();
                        d.0 += batch.objects.len();
                        d.1 += bytes;
                        Progress {
                            objects_done: d.0,
                            objects_total: total,
                            bytes_done: d.1,
                        }
                    };
                    progress(p);
                }
                Err(e) => {
                    failed.lock().unwrap().get_or_insert(e);
                    return;
                }
            }
        }
    });
    futures::future::join_all(workers).await;
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e);
    }
    Ok(done.into_inner().unwrap())
}

/// The four statements a pair runs, prepared once.
struct Statements {
    read_first: tokio_postgres::Statement,
    read_more: tokio_postgres::Statement,
    write_first: tokio_postgres::Statement,
    write_more: tokio_postgres::Statement,
}

async fn prepare(s: &Client, t: &Client) -> Result<Statements> {
    let (a, b, c, d) = futures::join!(
        s.prepare(READ_FIRST),
        s.prepare(READ_MORE),
        t.prepare(WRITE_FIRST),
        t.prepare(WRITE_MORE)
    );
    fn err(sql: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
        move |e| Error::db(e, None, Some(sql))
    }
    Ok(Statements {
        read_first: a.map_err(err(READ_FIRST))?,
        read_more: b.map_err(err(READ_MORE))?,
        write_first: c.map_err(err(WRITE_FIRST))?,
        write_more: d.map_err(err(WRITE_MORE))?,
    })
}

/// Copy one batch in one target transaction; the bytes written.
async fn copy_batch(
    s: &Client,
    t: &Client,
    st: &Statements,
    batch: &Batch,
    chunk: i32,
    privileges: bool,
) -> Result<u64> {
    let replace = batch.replace;
    let batch = &batch.objects;
    let oids: Vec<u32> = batch.iter().map(|o| o.oid).collect();
    let what = || match (oids.first(), oids.last()) {
        (Some(a), Some(b)) if a != b => format!("large objects {a} to {b}"),
        (Some(a), _) => format!("large object {a}"),
        _ => "large objects".into(),
    };
    let rows = s
        .query(&st.read_first, &[&oids, &chunk])
        .await
        .map_err(|e| Error::db(e, Some(format!("reading {}", what())), Some(READ_FIRST)))?;
    let mut firsts: Vec<(u32, Vec<u8>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    drop(rows);
    t.batch_execute("BEGIN")
        .await
        .map_err(|e| Error::db(e, None, Some("BEGIN")))?;
    let result = async {
        if replace {
            t.query(UNLINK, &[&oids])
                .await
                .map_err(|e| Error::db(e, Some(format!("removing {}", what())), Some(UNLINK)))?;
        }
        let mut bytes: u64 = firsts.iter().map(|(_, d)| d.len() as u64).sum();
        // Objects whose first chunk was full may have more.
        let longer: Vec<u32> = firsts
            .iter()
            .filter(|(_, d)| d.len() >= chunk as usize)
            .map(|(o, _)| *o)
            .collect();
        let (o, d): (Vec<u32>, Vec<Vec<u8>>) = firsts.drain(..).unzip();
        t.query(&st.write_first, &[&o, &d])
            .await
            .map_err(|e| Error::creating(e, &what(), Some(WRITE_FIRST)))?;
        drop(d);
        for oid in longer {
            let mut offset = i64::from(chunk);
            loop {
                let object = || format!("large object {oid}");
                let data: Vec<u8> = s
                    .query_one(&st.read_more, &[&oid, &offset, &chunk])
                    .await
                    .map_err(|e| {
                        Error::db(e, Some(format!("reading {}", object())), Some(READ_MORE))
                    })?
                    .get(0);
                if data.is_empty() {
                    break;
                }
                t.query_one(&st.write_more, &[&oid, &offset, &data])
                    .await
                    .map_err(|e| {
                        Error::db(e, Some(format!("writing {}", object())), Some(WRITE_MORE))
                    })?;
                bytes += data.len() as u64;
                offset += data.len() as i64;
                if data.len() < chunk as usize {
                    break;
                }
            }
        }
        let extras = extras(batch, privileges);
        if !extras.is_empty() {
            t.batch_execute(&extras).await.map_err(|e| {
                Error::db(
                    e,
                    Some(format!("granting and commenting {}", what())),
                    Some(&extras),
                )
            })?;
        }
        t.batch_execute("COMMIT")
            .await
            .map_err(|e| Error::db(e, Some(format!("committing {}", what())), Some("COMMIT")))?;
        Ok(bytes)
    }
    .await;
    if result.is_err() {
        let _ = t.batch_execute("ROLLBACK").await;
    }
    result
}

/// Fail, before anything is written, when the GRANTs of `objects` name roles the target lacks.
async fn check_roles(target: &Client, objects: &[Object]) -> Result<()> {
    use crate::render::acl_grantees;
    let named: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| o.acl.as_deref())
        .flat_map(acl_grantees)
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let list: Vec<&String> = named.iter().collect();
    let sql = "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1)";
    let present: HashSet<String> = target
        .query(sql, &[&list])
        .await
        .map_err(|e| Error::db(e, Some("checking roles on the target".into()), Some(sql)))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let absent: Vec<&String> = named.iter().filter(|r| !present.contains(*r)).collect();
    if absent.is_empty() {
        return Ok(());
    }
    // Only roles the GRANT/REVOKE lines name matter: grantors and owners are never sent.
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    for o in objects {
        let Some(acl) = o.acl.as_deref() else {
            continue;
        };
        let grantees = acl_grantees(acl);
        if !absent.iter().any(|r| grantees.contains(r)) {
            continue;
        }
        let sql = extras(std::slice::from_ref(o), true);
        for r in &absent {
            let q = crate::quote::ident(r);
            if sql.contains(&format!(" {q};")) || sql.contains(&format!(" {q} ")) {
                missing.insert(r);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "the target lacks role(s) that large objects' privileges name: {}; create them first, \
         or leave privileges out",
        missing.into_iter().collect::<Vec<_>>().join(", ")
    )))
}

/// The GRANTs (when `privileges`) and comments of `batch`, without owners.
fn extras(batch: &[Object], privileges: bool) -> String {
    let mut out = String::new();
    for o in batch {
        let target = format!("LARGE OBJECT {}", o.oid);
        if privileges {
            out += &crate::render::render_acl(
                "LARGE OBJECT",
                &target,
                o.acl.as_deref(),
                &o.owner,
                None,
            );
        }
        if let Some(c) = &o.comment {
            out += &format!("COMMENT ON {target} IS {};\n", literal(c));
        }
    }
    out
}

/// A source connection with settings that let a long copy run.
async fn open_source(spec: &ConnSpec) -> Result<Client> {
    let c = conn::connect(spec).await?;
    c.batch_execute(
        // idle_in_transaction_session_timeout exists from 9.6: set through pg_settings, so a
        // 9.4 source skips it.
        "SET statement_timeout = 0;
SELECT pg_catalog.set_config(name, '0', false) FROM pg_catalog.pg_settings
 WHERE name = 'idle_in_transaction_session_timeout';
SET application_name = 'pgmove large objects';",
    )
    .await
    .map_err(|e| Error::db(e, Some(setting_up(spec)), Some("session setup")))?;
    Ok(c)
}

fn setting_up(spec: &ConnSpec) -> String {
    format!("setting up a connection to {}", spec.display_safe())
}

async fn open_target(spec: &ConnSpec) -> Result<Client> {
    let c = conn::connect(spec).await?;
    c.batch_execute(crate::apply::SESSION_SETUP)
        .await
        .map_err(|e| Error::db(e, Some(setting_up(spec)), Some("session setup")))?;
    Ok(c)
}

async fn begin_read(c: &Client, spec: &ConnSpec) -> Result<()> {
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| {
            Error::db(
                e,
                Some(format!("reading {}", spec.display_safe())),
                Some("BEGIN"),
            )
        })
}

/// Begin a read-only transaction on `c` and export its snapshot; its id.
async fn export_snapshot(c: &Client, spec: &ConnSpec) -> Result<String> {
    begin_read(c, spec).await?;
    let row = c
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .map_err(|e| {
            Error::db(
                e,
                Some(format!("exporting a snapshot on {}", spec.display_safe())),
                Some("pg_export_snapshot"),
            )
        })?;
    Ok(row.get(0))
}

/// Begin a read-only transaction in the exported snapshot `id`.
async fn import_snapshot(c: &Client, id: &str, spec: &ConnSpec) -> Result<()> {
    begin_read(c, spec).await?;
    let sql = format!("SET TRANSACTION SNAPSHOT {}", literal(id));
    c.batch_execute(&sql).await.map_err(|e| {
        Error::db(
            e,
            Some(format!("importing a snapshot on {}", spec.display_safe())),
            Some(&sql),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(acl: Option<&[&str]>, comment: Option<&str>) -> Object {
        Object {
            oid: 16500,
            acl: acl.map(|a| a.iter().map(|s| s.to_string()).collect()),
            owner: "alice".into(),
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn grants_and_comments_without_owners() {
        let o = object(
            Some(&["alice=rw/alice", "\"Read Er\"=r/alice", "=w/alice"]),
            Some("it's"),
        );
        assert_eq!(
            extras(std::slice::from_ref(&o), true),
            "GRANT SELECT ON LARGE OBJECT 16500 TO \"Read Er\";\n\
             GRANT UPDATE ON LARGE OBJECT 16500 TO PUBLIC;\n\
             COMMENT ON LARGE OBJECT 16500 IS 'it''s';\n"
        );
        assert_eq!(
            extras(&[o], false),
            "COMMENT ON LARGE OBJECT 16500 IS 'it''s';\n"
        );
        // The default ACL (NULL, or the owner's full rights) gives nothing.
        assert_eq!(extras(&[object(None, None)], true), "");
        assert_eq!(extras(&[object(Some(&["alice=rw/alice"]), None)], true), "");
        // An owner who gave up a right: revoked, as pg_dump does.
        assert_eq!(
            extras(&[object(Some(&["alice=r/alice"]), None)], true),
            "REVOKE ALL ON LARGE OBJECT 16500 FROM alice;\n\
             GRANT SELECT ON LARGE OBJECT 16500 TO alice;\n"
        );
    }
}
