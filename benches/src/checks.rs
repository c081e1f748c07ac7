//! What the benchmarks compare between the source and each target, computed by the servers
//! (psql, pg_dump) and never by pgmove: rows per table, large objects, sequences, schema.
//! Read-only: a check never changes either database.

use anyhow::{bail, Result};
use pgmove_testkit::Cluster;
use std::collections::BTreeMap;

/// Per table of schema `s` (and, with `matviews`, per populated materialized view): count and
/// an order-free md5 of its rows, computed by the server.
pub fn row_hashes(c: &Cluster, db: &str, matviews: bool) -> Result<BTreeMap<String, String>> {
    let kinds = if matviews {
        "(c.relkind = 'r' OR c.relkind = 'm' AND c.relispopulated)"
    } else {
        "c.relkind = 'r'"
    };
    let list = c.psql(
        db,
        &[
            "-At",
            "-c",
            &format!(
                "SELECT string_agg(format('SELECT %L, count(*) || '' '' || coalesce(md5(string_agg(md5(t::text), '','' ORDER BY md5(t::text))), ''-'') FROM ONLY s.%I t', c.relname, c.relname), ' UNION ALL ')
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 's' AND {kinds}"
            ),
        ],
    )?;
    let out = c.psql(db, &["-At", "-F", "\t", "-c", list.trim()])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect())
}

/// Fail naming the first table whose rows differ (or that is missing on one side).
pub fn same_rows(
    tool: &str,
    want: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
) -> Result<()> {
    if got == want {
        return Ok(());
    }
    let differ: Vec<&String> = want
        .keys()
        .chain(got.keys())
        .filter(|k| got.get(*k) != want.get(*k))
        .collect();
    bail!(
        "{tool} left different rows in {} tables, e.g. {:?}: source {:?}, target {:?}",
        differ.len(),
        differ[0],
        want.get(differ[0]),
        got.get(differ[0])
    )
}

/// Fail unless `got` equals `want`, naming what differs and its first differing line.
pub fn same_text(tool: &str, what: &str, want: &str, got: &str) -> Result<()> {
    if want == got {
        return Ok(());
    }
    let (n, (w, g)) = want
        .lines()
        .chain(std::iter::repeat(""))
        .zip(got.lines().chain(std::iter::repeat("")))
        .enumerate()
        .find(|(_, (w, g))| w != g)
        .unwrap_or((0, ("", "")));
    bail!(
        "{tool}: {what} differ, first at line {}: expected {w:?}, got {g:?}",
        n + 1
    )
}

/// Count and md5 of the large objects of `db` (each one's OID and contents).
pub fn large_objects(c: &Cluster, db: &str) -> Result<String> {
    Ok(pgmove_testkit::checks::large_objects(c, db)?
        .trim()
        .to_string())
}

/// Every sequence's state (`schema.name=last_value`).
pub fn sequences(c: &Cluster, db: &str) -> Result<String> {
    pgmove_testkit::checks::sequence_states(c, db)
}

/// `pg_dump --schema-only -O` of `db` (the testkit's pg_dump, 18 when cached).
pub fn schema(c: &Cluster, db: &str) -> Result<String> {
    c.pg_dump(db, &["--schema-only", "-O"])
}
