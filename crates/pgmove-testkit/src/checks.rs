//! What tests compare between a source and a target, computed by the servers through psql and
//! never by pgmove: rows, large objects, sequence states. Each returns text that is equal on
//! two databases exactly when what it covers is (up to md5 collisions). And the schema as
//! pg_dump prints it, cut into blocks, to set pgmove's target beside pg_dump's own migration.

use crate::Cluster;
use anyhow::Result;
use std::collections::BTreeMap;

/// A `pg_dump` script cut into its `-- Name:` blocks, order-free.
pub fn dump_blocks(dump: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in dump.split("\n--\n-- Name: ").skip(1) {
        *out.entry(b.trim().to_string()).or_insert(0) += 1;
    }
    out
}

/// The blocks of two dumps found on one side only, as `(side, block)`: `pgmove` is the dump
/// of pgmove's target, `reference` that of the target `pg_dump | psql` made.
pub fn differing_blocks(pgmove: &str, reference: &str) -> Vec<(&'static str, String)> {
    let (a, b) = (dump_blocks(pgmove), dump_blocks(reference));
    let mut out = Vec::new();
    for (blk, n) in &a {
        if b.get(blk) != Some(n) {
            out.push(("only in pgmove's target", blk.clone()));
        }
    }
    for (blk, n) in &b {
        if a.get(blk) != Some(n) {
            out.push(("only in pg_dump's target", blk.clone()));
        }
    }
    out
}

/// Per table and populated materialized view of `db`, one line: its name, `count(*)` and an
/// order-free md5 of its rows' text.
pub fn relation_rows(c: &Cluster, db: &str) -> Result<String> {
    let list = "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE (c.relkind = 'r' OR c.relkind = 'm' AND c.relispopulated)
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname !~ '^pg_toast' ORDER BY 1";
    let mut out = String::new();
    for t in c.psql(db, &["-At", "-c", list])?.lines() {
        let q = format!(
            "SELECT count(*) || ' ' || coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '-') FROM ONLY {t} x"
        );
        out += &format!("{t} {}", c.psql(db, &["-At", "-c", &q])?);
    }
    Ok(out)
}

/// The large objects of `db`: their count, and an md5 over each one's OID and contents' md5.
pub fn large_objects(c: &Cluster, db: &str) -> Result<String> {
    c.psql(
        db,
        &[
            "-At",
            "-c",
            "SELECT count(*) || ' ' || coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid)), '-')
               FROM pg_largeobject_metadata",
        ],
    )
}

/// Each sequence's state, `schema.name=last_value` or `=not called`, read from the sequence
/// itself by a temporary function (pg_sequences arrives in 10): the same on every major.
pub fn sequence_states(c: &Cluster, db: &str) -> Result<String> {
    c.sql(db, SEQUENCE_STATES)
}

const SEQUENCE_STATES: &str = "
    CREATE FUNCTION pg_temp.state(regclass) RETURNS text LANGUAGE plpgsql AS $$
    DECLARE s text;
    BEGIN
        EXECUTE format('SELECT CASE WHEN is_called THEN last_value::text END FROM %s', $1) INTO s;
        RETURN coalesce(s, 'not called');
    END $$;
    SELECT n.nspname || '.' || c.relname || '=' || pg_temp.state(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' ORDER BY 1";
