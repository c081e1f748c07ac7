//! Large objects compared: which OIDs each side has, and per object its size, a hash of its
//! contents, its privileges and its comment, each computed by its own server.
//!
//! The hash is the md5 of the md5s of the object's 1 MiB pieces, in order, so no object has to
//! fit in one `bytea` on the server and none travels to pgmove. Privileges are compared as the
//! GRANTs that would recreate them without owners (pgmove copies objects like `pg_dump -O`, so
//! the owner may differ). It must never write and never pull an object's contents.

use crate::lobs::{hashes, HASH_BATCH};
use crate::quote::literal;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// Differences listed in a report at most (all are counted).
const LISTED: usize = 100;

/// What the comparison found.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct LargeObjectsResult {
    pub source_objects: usize,
    pub target_objects: usize,
    /// How many objects differ (missing, extra or different).
    pub differing_objects: usize,
    /// The first differences, by OID.
    pub differing: Vec<LargeObjectDiff>,
}

impl LargeObjectsResult {
    pub fn differs(&self) -> bool {
        self.differing_objects > 0
    }
}

/// One large object that is not the same on both sides.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LargeObjectDiff {
    pub oid: u32,
    /// e.g. `missing on the target`, `size 10 on the source, 12 on the target`.
    pub problem: String,
}

/// One side's view of an object.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// GRANTs that recreate its ACL for its owner.
    grants: String,
    comment: Option<String>,
}

const LIST: &str = "SELECT m.oid, m.lomacl::text[], pg_catalog.pg_get_userbyid(m.lomowner)::text,
       d.description
  FROM pg_catalog.pg_largeobject_metadata m
  LEFT JOIN pg_catalog.pg_description d
    ON d.classoid = 'pg_catalog.pg_largeobject'::pg_catalog.regclass
   AND d.objoid = m.oid AND d.objsubid = 0
 ORDER BY m.oid";

async fn list(c: &Client, side: &str) -> Result<BTreeMap<u32, Seen>> {
    let rows = c.query(LIST, &[]).await.map_err(|e| {
        Error::db(
            e,
            Some(format!("listing large objects of the {side}")),
            Some(LIST),
        )
    })?;
    Ok(rows
        .iter()
        .map(|r| {
            let oid: u32 = r.get(0);
            let acl: Option<Vec<String>> = r.get(1);
            let owner: String = r.get(2);
            let grants = crate::render::render_acl(
                "LARGE OBJECT",
                &format!("LARGE OBJECT {oid}"),
                acl.as_deref(),
                &owner,
                None,
            );
            (
                oid,
                Seen {
                    grants,
                    comment: r.get(3),
                },
            )
        })
        .collect())
}

/// Compare the large objects of the source `s` and the target `t`.
pub async fn compare(s: &Client, t: &Client) -> Result<LargeObjectsResult> {
    let (a, b) = futures::join!(list(s, "source"), list(t, "target"));
    let (a, b) = (a?, b?);
    let mut diffs: Vec<LargeObjectDiff> = Vec::new();
    let mut note = |oid: u32, problem: String| diffs.push(LargeObjectDiff { oid, problem });
    let mut common = Vec::new();
    for (oid, seen) in &a {
        match b.get(oid) {
            None => note(*oid, "missing on the target".into()),
            Some(other) => {
                if seen.grants != other.grants {
                    note(
                        *oid,
                        format!(
                            "privileges differ: source {}, target {}",
                            shown(&seen.grants),
                            shown(&other.grants)
                        ),
                    );
                } else if seen.comment != other.comment {
                    let c = |c: &Option<String>| c.as_deref().map_or("none".into(), literal);
                    note(
                        *oid,
                        format!(
                            "comment differs: source {}, target {}",
                            c(&seen.comment),
                            c(&other.comment)
                        ),
                    );
                }
                common.push(*oid);
            }
        }
    }
    for oid in b.keys().filter(|o| !a.contains_key(o)) {
        note(*oid, "extra on the target".into());
    }
    for batch in common.chunks(HASH_BATCH) {
        let (x, y) = futures::join!(hashes(s, batch, "source"), hashes(t, batch, "target"));
        let y: BTreeMap<u32, (i64, String)> = y?.into_iter().map(|(o, n, h)| (o, (n, h))).collect();
        for (oid, size, hash) in x? {
            match y.get(&oid) {
                Some((n, _)) if *n != size => {
                    note(oid, format!("size {size} on the source, {n} on the target"))
                }
                Some((_, h)) if *h != hash => note(oid, "contents differ".into()),
                Some(_) => {}
                None => note(oid, "missing on the target".into()),
            }
        }
    }
    diffs.sort_by_key(|d| d.oid);
    let differing_objects = diffs
        .iter()
        .map(|d| d.oid)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    diffs.truncate(LISTED);
    Ok(LargeObjectsResult {
        source_objects: a.len(),
        target_objects: b.len(),
        differing_objects,
        differing: diffs,
    })
}

/// GRANTs on one line, or `none`.
fn shown(grants: &str) -> String {
    match grants.trim() {
        "" => "none".into(),
        g => g.lines().collect::<Vec<_>>().join(" "),
    }
}
