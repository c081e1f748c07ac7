//! Preflight: what the source and the target must be before a row moves. Each finding is one
//! line naming the table; the run lists them all and stops with nothing written. Also reads
//! what planning needs from the source (sizes, which tables can go in binary form).
//!
//! Only `SELECT`s here, on the catalogs (and one `EXISTS` per target table).

use super::tasks::TableCopy;
use crate::quote::{ident, qualified};
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use tokio_postgres::Client;

/// What the source says about one table, outside the snapshot (sizes are not transactional).
#[derive(Debug, Clone, Default)]
pub struct SourceTable {
    pub exists: bool,
    /// `pg_table_size`: heap, TOAST and maps, what the copy will read.
    pub bytes: i64,
    /// `pg_relation_size`: the heap alone, whose blocks a ctid range counts.
    pub heap_bytes: i64,
    pub can_select: bool,
    /// Columns whose binary form is not safe between two servers (a type that is not a
    /// built-in base type or an array of one: user types' binary forms carry OIDs).
    pub text_columns: HashSet<String>,
}

/// The source server's settings the run needs.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub encoding: String,
    pub version: i32,
    pub block_size: i64,
    pub tables: Vec<SourceTable>,
}

/// A built-in base type with send and receive functions, whose binary form is the same on
/// every server (not the `reg*` types, which are OIDs of objects).
const BINARY_SAFE: &str = "t.typnamespace = 11 AND t.typtype = 'b' AND t.typsend::oid <> 0
    AND t.typreceive::oid <> 0 AND t.typname !~ '^_?reg'
    AND (e.oid IS NULL OR (e.typnamespace = 11 AND e.typtype = 'b' AND e.typsend::oid <> 0
                           AND e.typreceive::oid <> 0 AND e.typname !~ '^reg'))";

fn db(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::db(e, Some(what.to_string()), None)
}

/// Read sizes, privileges and binary safety of `tables` on the source.
pub async fn source_info(source: &Client, tables: &[TableCopy]) -> Result<SourceInfo> {
    let row = source
        .query_one(
            "SELECT pg_catalog.current_setting('server_encoding'),
                    pg_catalog.current_setting('server_version_num')::int4,
                    pg_catalog.current_setting('block_size')::int8",
            &[],
        )
        .await
        .map_err(db("reading source settings"))?;
    let mut info = SourceInfo {
        encoding: row.get(0),
        version: row.get(1),
        block_size: row.get(2),
        tables: vec![SourceTable::default(); tables.len()],
    };
    let sql = format!(
        "SELECT c.oid, pg_catalog.pg_table_size(c.oid)::int8 AS bytes,
                pg_catalog.pg_relation_size(c.oid)::int8 AS heap_bytes,
                pg_catalog.has_table_privilege(c.oid, 'SELECT') AS can_select,
                ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                      LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typlen = -1
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        AND NOT ({BINARY_SAFE})) AS text_columns
         FROM pg_catalog.pg_class c WHERE c.oid = ANY($1::oid[])"
    );
    let index: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    for chunk in tables.chunks(1000) {
        let oids: Vec<u32> = chunk.iter().map(|t| t.oid).collect();
        for r in source
            .query(&sql, &[&oids])
            .await
            .map_err(db("reading source tables"))?
        {
            let oid: u32 = r.get("oid");
            if let Some(&i) = index.get(&oid) {
                info.tables[i] = SourceTable {
                    exists: true,
                    bytes: r.get("bytes"),
                    heap_bytes: r.get("heap_bytes"),
                    can_select: r.get::<_, Option<bool>>("can_select").unwrap_or(false),
                    text_columns: r
                        .get::<_, Vec<String>>("text_columns")
                        .into_iter()
                        .collect(),
                };
            }
        }
    }
    Ok(info)
}

/// Source-side problems: tables gone since the catalog read, tables without SELECT.
pub fn source_problems(tables: &[TableCopy], info: &SourceInfo) -> Vec<String> {
    let mut out = Vec::new();
    for (t, s) in tables.iter().zip(&info.tables) {
        if !s.exists {
            out.push(format!("source table {} no longer exists", t.qualified()));
        } else if !s.can_select {
            out.push(format!(
                "no SELECT privilege on source table {}",
                t.qualified()
            ));
        }
    }
    out
}

/// What the target says about one table.
#[derive(Debug, Clone, Default)]
pub struct TargetTable {
    /// May be truncated and loaded with `COPY … FREEZE`: the role may truncate it and no
    /// foreign key references it.
    pub freeze: bool,
}

/// Check the target's tables: each must exist as a table with the same copied columns (names
/// and types), be writable, and (unless `may_hold_rows` says it is this run's own resume or an
/// extension's configuration table) be empty. Returns the problems, one line each, and what
/// the copy needs to know per table.
pub async fn target_check(
    target: &Client,
    tables: &[TableCopy],
    may_hold_rows: &dyn Fn(usize) -> bool,
) -> Result<(Vec<String>, Vec<TargetTable>)> {
    let version: i32 = target
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int4",
            &[],
        )
        .await
        .map_err(db("reading target version"))?
        .get(0);
    let not_generated = if version >= 120000 {
        "a.attgenerated = ''"
    } else {
        "true"
    };
    let cols = |what: &str| {
        format!(
            "ARRAY(SELECT {what} FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                     AND {not_generated} ORDER BY a.attnum)"
        )
    };
    let sql = format!(
        "SELECT s.i::int4 AS i, c.relkind::text AS relkind,
                pg_catalog.has_table_privilege(c.oid, 'INSERT') AS can_insert,
                pg_catalog.has_table_privilege(c.oid, 'TRUNCATE') AS can_truncate,
                {names} AS names, {types} AS types,
                EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                        WHERE f.confrelid = c.oid AND f.contype = 'f') AS referenced
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(nsp, rel, i)
         LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.nsp
         LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.rel",
        names = cols("a.attname::text"),
        types = cols("pg_catalog.format_type(a.atttypid, a.atttypmod)"),
    );
    let mut problems = Vec::new();
    let mut out = vec![TargetTable::default(); tables.len()];
    let mut check_empty = Vec::new();
    for (c, chunk) in tables.chunks(1000).enumerate() {
        let schemas: Vec<&str> = chunk.iter().map(|t| t.schema.as_str()).collect();
        let names: Vec<&str> = chunk.iter().map(|t| t.name.as_str()).collect();
        for r in target
            .query(&sql, &[&schemas, &names])
            .await
            .map_err(db("reading target tables"))?
        {
            let i = c * 1000 + r.get::<_, i32>("i") as usize - 1;
            let t = &tables[i];
            let name = t.qualified();
            let relkind: Option<String> = r.get("relkind");
            match relkind.as_deref() {
                None => {
                    problems.push(format!("table {name} does not exist on the target"));
                    continue;
                }
                Some("r") => {}
                Some(k) => {
                    let what = match k {
                        "p" => "a partitioned table",
                        "v" => "a view",
                        "m" => "a materialized view",
                        "f" => "a foreign table",
                        "S" => "a sequence",
                        _ => "not a table",
                    };
                    problems.push(format!("{name} is {what} on the target, not a table"));
                    continue;
                }
            }
            let names: Vec<String> = r.get("names");
            let types: Vec<String> = r.get("types");
            let there: HashMap<&str, &str> = names
                .iter()
                .map(String::as_str)
                .zip(types.iter().map(String::as_str))
                .collect();
            let mut columns_ok = true;
            for (col, ty) in &t.columns {
                match there.get(col.as_str()) {
                    None => problems.push(format!(
                        "{name}: column {} ({ty}) is missing on the target",
                        ident(col)
                    )),
                    Some(tt) if *tt != ty.as_str() => problems.push(format!(
                        "{name}: column {} is {ty} on the source but {tt} on the target",
                        ident(col)
                    )),
                    Some(_) => continue,
                }
                columns_ok = false;
            }
            for (col, ty) in names.iter().zip(&types) {
                if !t.columns.iter().any(|(c, _)| c == col) {
                    problems.push(format!(
                        "{name}: column {} ({ty}) exists only on the target",
                        ident(col)
                    ));
                    columns_ok = false;
                }
            }
            if r.get::<_, Option<bool>>("can_insert") != Some(true) {
                problems.push(format!("no INSERT privilege on target table {name}"));
            }
            out[i].freeze = r.get::<_, Option<bool>>("can_truncate") == Some(true)
                && !r.get::<_, bool>("referenced");
            if columns_ok && !may_hold_rows(i) {
                check_empty.push(i);
            }
        }
    }
    // One round trip per 200 tables: `EXISTS` stops at the first row.
    for chunk in check_empty.chunks(200) {
        let sql: Vec<String> = chunk
            .iter()
            .map(|&i| {
                format!(
                    "SELECT {i}::int4 WHERE EXISTS (SELECT 1 FROM ONLY {})",
                    qualified(&tables[i].schema, &tables[i].name)
                )
            })
            .collect();
        for r in target
            .query(&sql.join(" UNION ALL "), &[])
            .await
            .map_err(db("reading target rows"))?
        {
            let i = r.get::<_, i32>(0) as usize;
            problems.push(format!(
                "target table {} already holds rows",
                tables[i].qualified()
            ));
        }
    }
    Ok((problems, out))
}
