//! Data comparison: per table (and populated materialized view), row counts and checksums
//! computed by each server, chunk by chunk.
//!
//! A chunk's checksum is an order-independent aggregate of its rows' hashes: `count(*)` and two
//! sums of 32-bit halves of `md5(ROW(columns)::text)`, so no row ever travels to pgmove and row
//! order does not matter. Tables with a primary key are cut into key ranges (split points read
//! on the source, every `chunk_rows` keys), so a difference is located to a range; tables
//! without one are compared whole. Columns are hashed in their text form with the same session
//! settings on both sides; `real`/`double precision` go through `numeric` when one side is older
//! than 12 (whose float output differs), so a cross-version migration compares equal.
//!
//! It must never write, never lock beyond the ACCESS SHARE a `SELECT` takes, and never pull rows.

use crate::model::{Catalog, ColumnType, Table};
use crate::quote::{ident, literal, qualified};
use crate::{Error, Result};
use futures::future::join_all;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio_postgres::Client;

/// One source table to compare, with what the queries need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableSpec {
    /// `schema.name`, quoted as needed.
    pub name: String,
    /// The row expression hashed, e.g. `ROW(a, b::numeric)`.
    pub row: String,
    /// Primary key columns (quoted) and their types, when there is a key.
    pub key: Vec<(String, String)>,
    pub est_rows: f64,
}

/// One chunk's checksum on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Sum {
    pub rows: i64,
    /// The two 32-bit-half sums as one hex string's worth of bits.
    pub hash: (i64, i64),
}

/// A key range whose rows differ.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ChunkDiff {
    /// The range as SQL, e.g. `id > 100 AND id <= 200` (`all rows` for a table without key).
    pub range: String,
    pub source_rows: i64,
    pub target_rows: i64,
}

/// What one table's comparison found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct TableResult {
    pub table: String,
    /// `match`, `differ`, `missing` (no such table on the target) or `error`.
    pub status: String,
    pub source_rows: i64,
    pub target_rows: i64,
    pub chunks: usize,
    /// Compared by key ranges (`true`) or as a whole (`false`, no primary key).
    pub keyed: bool,
    pub differing: Vec<ChunkDiff>,
    /// Why it could not be compared, for `error` and `missing`.
    pub note: Option<String>,
}

impl TableResult {
    pub fn differs(&self) -> bool {
        self.status != "match"
    }
}

/// The tables of `cat` whose rows are compared: plain tables and partitions (a partitioned
/// parent holds no rows of its own; foreign tables live elsewhere). `exact_floats`: both
/// servers print floats the same way (12+), so they are hashed as printed.
pub fn table_specs(
    cat: &Catalog,
    keep: &dyn Fn(&Table) -> bool,
    exact_floats: bool,
) -> Vec<TableSpec> {
    let mut out: Vec<TableSpec> = cat
        .tables
        .iter()
        .filter(|t| t.relkind == 'r' && keep(t))
        .filter(|t| {
            !cat.extension_members.contains(&crate::model::ObjRef::new(
                crate::model::class::PG_CLASS,
                t.oid,
            ))
        })
        .map(|t| {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|c| column_expr(&c.name, &c.ty, exact_floats))
                .collect();
            let key = cat
                .constraints
                .iter()
                .find(|c| c.contype == 'p' && c.table_oid == t.oid)
                .and_then(|c| c.key.as_deref())
                .map(|k| k.columns.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|k| {
                    let col = t.columns.iter().find(|c| c.name == *k)?;
                    Some((ident(k), col.type_name().to_string()))
                })
                .collect();
            TableSpec {
                name: qualified(&t.schema, &t.name),
                row: format!("ROW({})", cols.join(", ")),
                key,
                est_rows: t.est_rows,
            }
        })
        .collect();
    // Largest first, so the long ones start early.
    out.sort_by(|a, b| b.est_rows.total_cmp(&a.est_rows));
    out
}

/// The materialized views of `cat` whose rows are compared (those `keep` accepts), whole (a
/// matview has no primary key), as tables are.
pub fn matview_specs(
    cat: &Catalog,
    keep: &dyn Fn(&crate::model::View) -> bool,
    exact_floats: bool,
) -> Vec<TableSpec> {
    cat.views
        .iter()
        .filter(|v| v.relkind == 'm' && v.populated && keep(v))
        .map(|v| {
            let cols: Vec<String> = v
                .columns
                .iter()
                .map(|a| column_expr(&a.name, &a.ty, exact_floats))
                .collect();
            TableSpec {
                name: qualified(&v.schema, &v.name),
                row: format!("ROW({})", cols.join(", ")),
                key: Vec::new(),
                est_rows: 0.0,
            }
        })
        .collect()
}

/// One column as hashed: floats through `numeric` unless both sides print them alike.
fn column_expr(name: &str, ty: &ColumnType, exact_floats: bool) -> String {
    let col = ident(name);
    if exact_floats || !ty.is_builtin() || !matches!(ty.name.as_str(), "float4" | "float8") {
        return col;
    }
    match ty.dims {
        0 => format!("{col}::numeric"),
        _ => format!("{col}::numeric[]"),
    }
}

/// `SELECT` of the split points: every `chunk_rows`-th key of the source, in key order, as text.
pub fn split_points_sql(t: &TableSpec, chunk_rows: i64) -> String {
    let keys: Vec<&str> = t.key.iter().map(|(k, _)| k.as_str()).collect();
    let order = keys.join(", ");
    let texts: Vec<String> = keys.iter().map(|k| format!("{k}::text")).collect();
    format!(
        "SELECT {} FROM (SELECT {order}, row_number() OVER (ORDER BY {order}) AS pgmove_rn FROM ONLY {}) s WHERE pgmove_rn % {chunk_rows} = 0 ORDER BY pgmove_rn",
        texts.join(", "),
        t.name
    )
}

/// The `WHERE` conditions of the chunks cut at `points` (each a key's values as text):
/// `key <= p1`, `key > p1 AND key <= p2`, …, `key > pn`. No points: one chunk, no condition.
pub fn chunk_ranges(t: &TableSpec, points: &[Vec<String>]) -> Vec<Option<String>> {
    if points.is_empty() {
        return vec![None];
    }
    let lhs = if t.key.len() == 1 {
        t.key[0].0.clone()
    } else {
        format!(
            "({})",
            t.key
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let value = |p: &Vec<String>| {
        let v: Vec<String> = p
            .iter()
            .zip(&t.key)
            .map(|(v, (_, ty))| format!("{}::{ty}", literal(v)))
            .collect();
        if v.len() == 1 {
            v[0].clone()
        } else {
            format!("ROW({})", v.join(", "))
        }
    };
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut prev: Option<String> = None;
    for p in points {
        let v = value(p);
        out.push(Some(match &prev {
            None => format!("{lhs} <= {v}"),
            Some(pv) => format!("{lhs} > {pv} AND {lhs} <= {v}"),
        }));
        prev = Some(v);
    }
    out.push(prev.map(|pv| format!("{lhs} > {pv}")));
    out
}

/// The checksum query of one chunk (or of the whole table when `range` is `None`).
pub fn checksum_sql(t: &TableSpec, range: Option<&str>) -> String {
    let filter = range.map(|r| format!(" WHERE {r}")).unwrap_or_default();
    format!(
        "SELECT count(*), \
                coalesce(sum(('x' || substr(h, 1, 8))::bit(32)::int), 0), \
                coalesce(sum(('x' || substr(h, 9, 8))::bit(32)::int), 0) \
           FROM (SELECT md5({}::text) AS h FROM ONLY {}{filter}) s",
        t.row, t.name
    )
}

/// Run one checksum query.
pub async fn checksum(client: &Client, sql: &str, table: &str) -> Result<Sum> {
    let row = client.query_one(sql, &[]).await.map_err(|e| {
        Error::db(
            e,
            Some(format!("computing the checksum of {table}")),
            Some(sql),
        )
    })?;
    Ok(Sum {
        rows: row.get(0),
        hash: (row.get(1), row.get(2)),
    })
}

/// One table cut into chunks: its index, each chunk's range (`None`: all rows), and the error
/// that kept it from being cut.
type Cut = (usize, Vec<Option<String>>, Option<String>);

/// Compare `tables` on pairs of (source, target) connections, one chunk per pair at a time.
/// `missing` names source tables absent from the target (reported, not queried). `progress`
/// is called after each chunk with (chunks done, chunks known, table).
pub async fn compare(
    pairs: &[(Client, Client)],
    tables: &[TableSpec],
    chunk_rows: i64,
    progress: impl FnMut(usize, usize, &str) + Send,
) -> Result<Vec<TableResult>> {
    if pairs.is_empty() {
        return Err(Error::Invalid("no connection to compare with".into()));
    }
    // Phase 1: cut keyed tables into chunks (split points read on the source), in parallel.
    let todo = Mutex::new(tables.iter().enumerate().collect::<VecDeque<_>>());
    let cut: Mutex<Vec<Cut>> = Mutex::new(Vec::new());
    let cutters = pairs.iter().map(|(src, _)| async {
        loop {
            let Some((i, t)) = todo.lock().unwrap().pop_front() else {
                return;
            };
            let small = t.est_rows >= 0.0 && t.est_rows < 1.5 * chunk_rows as f64;
            if t.key.is_empty() || small {
                cut.lock().unwrap().push((i, vec![None], None));
                continue;
            }
            let sql = split_points_sql(t, chunk_rows);
            match src.query(&sql, &[]).await {
                Ok(rows) => {
                    let points: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| (0..t.key.len()).map(|c| r.get::<_, String>(c)).collect())
                        .collect();
                    cut.lock()
                        .unwrap()
                        .push((i, chunk_ranges(t, &points), None));
                }
                Err(e) => {
                    let e = Error::db(e, Some(format!("reading split points of {}", t.name)), None);
                    cut.lock().unwrap().push((i, vec![], Some(e.to_string())));
                }
            }
        }
    });
    join_all(cutters).await;
    let mut cut = cut.into_inner().unwrap();
    cut.sort_by_key(|c| c.0);

    let mut results: Vec<TableResult> = tables
        .iter()
        .zip(&cut)
        .map(|(t, (_, ranges, err))| TableResult {
            table: t.name.clone(),
            status: if err.is_some() { "error" } else { "match" }.into(),
            source_rows: 0,
            target_rows: 0,
            chunks: ranges.len(),
            keyed: !t.key.is_empty(),
            differing: Vec::new(),
            note: err.clone(),
        })
        .collect();

    // Phase 2: every chunk of every table, largest tables first, on all pairs.
    let jobs: VecDeque<(usize, Option<String>)> = cut
        .iter()
        .flat_map(|(i, ranges, _)| ranges.iter().map(move |r| (*i, r.clone())))
        .collect();
    let total = jobs.len();
    let jobs = Mutex::new(jobs);
    let results_m = Mutex::new(&mut results);
    let progress = Mutex::new((0usize, progress));
    let workers = pairs.iter().map(|(src, tgt)| async {
        loop {
            let Some((i, range)) = jobs.lock().unwrap().pop_front() else {
                return;
            };
            let t = &tables[i];
            let sql = checksum_sql(t, range.as_deref());
            let (a, b) = futures::join!(checksum(src, &sql, &t.name), checksum(tgt, &sql, &t.name));
            {
                let mut res = results_m.lock().unwrap();
                let r = &mut res[i];
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        r.source_rows += a.rows;
                        r.target_rows += b.rows;
                        if a != b {
                            r.status = "differ".into();
                            r.differing.push(ChunkDiff {
                                range: range.clone().unwrap_or_else(|| "all rows".into()),
                                source_rows: a.rows,
                                target_rows: b.rows,
                            });
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        r.status = "error".into();
                        r.note.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            let mut p = progress.lock().unwrap();
            p.0 += 1;
            let done = p.0;
            (p.1)(done, total, &t.name);
        }
    });
    join_all(workers).await;
    for r in &mut results {
        r.differing.sort_by(|a, b| a.range.cmp(&b.range));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &[(&str, &str)]) -> TableSpec {
        TableSpec {
            name: "public.t".into(),
            row: "ROW(a, b)".into(),
            key: key
                .iter()
                .map(|(k, t)| (k.to_string(), t.to_string()))
                .collect(),
            est_rows: 10.0,
        }
    }

    #[test]
    fn chunks_cover_every_key_once() {
        let t = spec(&[("id", "integer")]);
        let r = chunk_ranges(&t, &[vec!["10".into()], vec!["20".into()]]);
        assert_eq!(
            r,
            vec![
                Some("id <= '10'::integer".into()),
                Some("id > '10'::integer AND id <= '20'::integer".into()),
                Some("id > '20'::integer".into()),
            ]
        );
        assert_eq!(chunk_ranges(&t, &[]), vec![None]);
        let t2 = spec(&[("a", "integer"), ("b", "text")]);
        let r = chunk_ranges(&t2, &[vec!["1".into(), "it's".into()]]);
        assert_eq!(
            r[0].as_deref(),
            Some("(a, b) <= ROW('1'::integer, 'it''s'::text)")
        );
    }

    fn builtin(name: &str, dims: i16, rendered: &str) -> ColumnType {
        ColumnType {
            oid: 0,
            schema: "pg_catalog".into(),
            name: name.into(),
            kind: 'b',
            typmod: -1,
            dims,
            rendered: rendered.into(),
        }
    }

    #[test]
    fn floats_go_through_numeric_only_across_float_formats() {
        let float8 = builtin("float8", 0, "double precision");
        assert_eq!(column_expr("x", &float8, false), "x::numeric");
        let reals = builtin("float4", 1, "real[]");
        assert_eq!(column_expr("x", &reals, false), "x::numeric[]");
        assert_eq!(column_expr("x", &float8, true), "x");
        let text = builtin("text", 0, "text");
        assert_eq!(column_expr("Y", &text, false), "\"Y\"");
        let mut user = float8.clone();
        user.schema = "app".into();
        assert_eq!(
            column_expr("x", &user, false),
            "x",
            "a user type named float8"
        );
    }

    #[test]
    fn checksum_query_is_order_free_and_reads_only_the_table() {
        let sql = checksum_sql(&spec(&[]), Some("id > 1"));
        assert!(sql.contains("FROM ONLY public.t WHERE id > 1"), "{sql}");
        assert!(sql.contains("sum(("), "{sql}");
        assert!(!sql.to_uppercase().contains("ORDER BY"), "{sql}");
    }
}
