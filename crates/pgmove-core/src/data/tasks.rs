//! Planning the copy, purely from the model: which tables hold rows to copy, with which
//! columns, and how a big table is cut into ranges. No connection here; the bounds a key split
//! needs are read by the caller and handed in.

use crate::filter::Filter;
use crate::model::{class, Catalog, CompactString, ObjRef};
use crate::quote::{ident, literal, qualified};
use serde::Serialize;
use std::collections::HashMap;

/// One table whose own rows are copied.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableCopy {
    pub oid: u32,
    pub schema: CompactString,
    pub name: CompactString,
    /// The columns copied (every column but generated ones), name and `format_type`, in the
    /// table's order.
    pub columns: Vec<(CompactString, CompactString)>,
    /// For an extension's configuration table: its `extcondition` (`WHERE …` or empty). Such a
    /// table may hold the extension's own rows on the target already, so it is neither
    /// truncated nor required to be empty.
    pub ext_condition: Option<String>,
    /// The single-column `smallint`/`integer`/`bigint` primary key, if the table has one.
    pub int_key: Option<CompactString>,
    /// Size on disk as the model has it (the run measures it again on the source).
    pub size_bytes: i64,
}

impl TableCopy {
    /// `schema.name`, quoted as needed.
    pub fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }

    /// The quoted column list, e.g. `a, "B c"`.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(n, _)| ident(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The tables of `cat` whose rows are copied, as `filter` selects them: plain and unlogged
/// tables, leaf partitions, inheritance parents and children (each its own rows), and the
/// configuration tables of extensions. Never a partitioned parent (it holds no rows), a foreign
/// table, a view or another extension member. Largest first.
pub fn tables(cat: &Catalog, filter: &Filter) -> Vec<TableCopy> {
    let selected = filter.relations(cat);
    let config: HashMap<u32, &str> = cat
        .extensions
        .iter()
        .flat_map(|e| e.config.iter().map(|(oid, cond)| (*oid, cond.as_str())))
        .collect();
    let mut out: Vec<TableCopy> = cat
        .tables
        .iter()
        .filter(|t| t.relkind == 'r' && selected.contains(&t.oid))
        .filter(|t| {
            config.contains_key(&t.oid)
                || !cat
                    .extension_members
                    .contains(&ObjRef::new(class::PG_CLASS, t.oid))
        })
        .map(|t| {
            let columns: Vec<(CompactString, CompactString)> = t
                .columns
                .iter()
                .filter(|c| c.generated.is_none())
                .map(|c| (c.name.clone(), c.type_name().into()))
                .collect();
            let int_key = cat
                .constraints
                .iter()
                .find(|c| c.contype == 'p' && c.table_oid == t.oid)
                .and_then(|c| c.key.as_deref())
                .filter(|k| k.columns.len() == 1)
                .and_then(|k| {
                    let col = t.columns.iter().find(|c| c.name == k.columns[0])?;
                    ["int2", "int4", "int8"]
                        .iter()
                        .any(|t| col.ty.is_builtin_named(t))
                        .then(|| col.name.clone())
                });
            TableCopy {
                oid: t.oid,
                schema: t.schema.clone(),
                name: t.name.clone(),
                columns,
                ext_condition: config.get(&t.oid).map(|c| c.to_string()),
                int_key,
                size_bytes: t.size_bytes,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.size_bytes
            .cmp(&a.size_bytes)
            .then_with(|| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)))
    });
    out
}

/// Which rows of a table one task copies. Bounds: `lo` inclusive, `hi` exclusive, `None`
/// open, so the first and last ranges also take rows beyond the bounds seen when planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum Range {
    /// The whole table.
    Whole,
    /// A range of the single-column integer primary key.
    Key {
        column: CompactString,
        lo: Option<i64>,
        hi: Option<i64>,
    },
    /// A range of heap blocks (`ctid >= '(lo,0)' AND ctid < '(hi,0)'`).
    Ctid { lo: Option<i64>, hi: Option<i64> },
}

impl Range {
    /// The `WHERE` condition, or `None` for the whole table.
    pub fn condition(&self) -> Option<String> {
        let (col, lo, hi) = match self {
            Range::Whole => return None,
            Range::Key { column, lo, hi } => (
                ident(column),
                lo.map(|v| v.to_string()),
                hi.map(|v| v.to_string()),
            ),
            Range::Ctid { lo, hi } => (
                "ctid".to_string(),
                lo.map(|v| format!("'({v},0)'::pg_catalog.tid")),
                hi.map(|v| format!("'({v},0)'::pg_catalog.tid")),
            ),
        };
        let parts: Vec<String> = [
            lo.map(|v| format!("{col} >= {v}")),
            hi.map(|v| format!("{col} < {v}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        Some(if parts.is_empty() {
            "true".into()
        } else {
            parts.join(" AND ")
        })
    }
}

/// One unit of work: a table or one range of it. It lands in one target transaction with the
/// record that it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Task {
    /// Its number in the run's state.
    pub id: i32,
    /// Index into the run's [`TableCopy`] list.
    pub table: usize,
    pub range: Range,
    /// Position among the table's tasks (0-based) and their count.
    pub part: i32,
    pub parts: i32,
    /// Estimated bytes, for ordering (largest first).
    pub est_bytes: i64,
    pub done: bool,
}

/// How a table is cut, decided from its size before any bound is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Whole,
    /// By integer primary key into this many ranges (bounds read on the source).
    Key(i32),
    /// By heap blocks: (blocks in the table, ranges).
    Ctid(i64, i32),
}

/// At most this many ranges per table.
pub const MAX_PARTS: i64 = 256;

/// How to cut a table of `bytes` on disk (`heap_bytes` of them its heap): into ranges of about
/// `split_bytes` when it is larger, by heap blocks on a 14+ source (TID range scans read only
/// their blocks), else by an integer primary key, else not at all. An extension's configuration
/// table is never cut (its condition is a whole `WHERE` clause), nor a table whose heap is a
/// single block (its bytes are in TOAST, reached through the heap's rows).
pub fn split(
    t: &TableCopy,
    (bytes, heap_bytes): (i64, i64),
    split_bytes: i64,
    source_major: i32,
    block_size: i64,
) -> Split {
    if split_bytes <= 0 || bytes <= split_bytes || t.ext_condition.is_some() {
        return Split::Whole;
    }
    let parts = ((bytes + split_bytes - 1) / split_bytes).clamp(2, MAX_PARTS) as i32;
    let blocks = heap_bytes / block_size.max(1);
    if source_major >= 14 && blocks > 1 {
        Split::Ctid(blocks, parts.min(blocks as i32))
    } else if t.int_key.is_some() {
        // Below 14 a ctid condition scans the whole heap for each range.
        Split::Key(parts)
    } else {
        Split::Whole
    }
}

/// Ranges smaller than this are not worth their extra scans and transactions.
pub const MIN_RANGE_BYTES: i64 = 64 << 20;

/// The size of the ranges a big table is cut into: a table larger than a fair share of the
/// run (half of what each of `jobs` connections copies) is shared between connections, in
/// ranges of about that share but not under [`MIN_RANGE_BYTES`] nor over `split_bytes` (the
/// caller's largest range; 0 never splits).
pub fn range_bytes(total_bytes: i64, jobs: usize, split_bytes: i64) -> i64 {
    if split_bytes <= 0 {
        return 0;
    }
    let share = total_bytes / (2 * jobs.max(1) as i64);
    share.max(MIN_RANGE_BYTES).min(split_bytes)
}

/// `parts` ranges covering everything, cut evenly between `min` and `max` inclusive; the first
/// is open below and the last open above. Fewer when the span is smaller than `parts`.
pub fn even_ranges(min: i64, max: i64, parts: i32) -> Vec<(Option<i64>, Option<i64>)> {
    let span = (max as i128 - min as i128 + 1).max(1);
    let parts = (parts.max(1) as i128).min(span);
    let mut cuts: Vec<i64> = (1..parts)
        .map(|i| (min as i128 + span * i / parts) as i64)
        .collect();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut lo = None;
    for c in cuts {
        out.push((lo, Some(c)));
        lo = Some(c);
    }
    out.push((lo, None));
    out
}

/// A fingerprint of what a run copies (each table's name, columns, and condition), stored with
/// the run's state: a resume whose tables or columns differ is refused rather than mixing two
/// sources. FNV-1a, 64 bits: stable across builds, unlike std's hasher.
pub fn fingerprint(tables: &[TableCopy]) -> String {
    let mut names: Vec<String> = tables
        .iter()
        .map(|t| {
            let cols: Vec<String> = t
                .columns
                .iter()
                .map(|(n, ty)| format!("{} {ty}", ident(n)))
                .collect();
            format!(
                "{}({}){}",
                t.qualified(),
                cols.join(","),
                t.ext_condition.as_deref().map(literal).unwrap_or_default()
            )
        })
        .collect();
    names.sort();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in names.join("\n").bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(int_key: Option<&str>) -> TableCopy {
        TableCopy {
            oid: 1,
            schema: "s".into(),
            name: "T x".into(),
            columns: vec![("a".into(), "integer".into()), ("B".into(), "text".into())],
            ext_condition: None,
            int_key: int_key.map(Into::into),
            size_bytes: 0,
        }
    }

    #[test]
    fn ranges_cover_everything_once() {
        assert_eq!(
            even_ranges(1, 100, 4),
            vec![
                (None, Some(26)),
                (Some(26), Some(51)),
                (Some(51), Some(76)),
                (Some(76), None)
            ]
        );
        assert_eq!(even_ranges(5, 6, 8), vec![(None, Some(6)), (Some(6), None)]);
        assert_eq!(even_ranges(7, 7, 3), vec![(None, None)]);
        let r = even_ranges(i64::MIN, i64::MAX, 3);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].0, None);
        assert_eq!(r[2].1, None);
    }

    #[test]
    fn conditions_quote_and_open_ends() {
        let k = Range::Key {
            column: "Id".into(),
            lo: None,
            hi: Some(10),
        };
        assert_eq!(k.condition().unwrap(), "\"Id\" < 10");
        let c = Range::Ctid {
            lo: Some(3),
            hi: Some(9),
        };
        assert_eq!(
            c.condition().unwrap(),
            "ctid >= '(3,0)'::pg_catalog.tid AND ctid < '(9,0)'::pg_catalog.tid"
        );
        assert_eq!(Range::Whole.condition(), None);
    }

    #[test]
    fn split_by_size_version_and_key() {
        let t = table(Some("a"));
        let b = 8192;
        assert_eq!(split(&t, (10, 10), 100, 15, b), Split::Whole);
        assert_eq!(split(&t, (10 * b, 10 * b), b, 15, b), Split::Ctid(10, 10));
        assert_eq!(split(&t, (10 * b, 4 * b), b, 15, b), Split::Ctid(4, 4));
        // The bytes in TOAST, one heap block: by key where there is one.
        assert_eq!(split(&t, (10 * b, b), b, 15, b), Split::Key(10));
        assert_eq!(split(&t, (1000, 1000), 100, 13, b), Split::Key(10));
        assert_eq!(split(&table(None), (1000, 1000), 100, 13, b), Split::Whole);
        assert_eq!(split(&t, (1000, 1000), 0, 15, b), Split::Whole);
        assert_eq!(
            split(&t, (1 << 40, 1 << 40), 1, 15, b),
            Split::Ctid((1 << 40) / b, 256)
        );
    }

    #[test]
    fn a_table_much_larger_than_the_rest_is_shared() {
        let (mb, gb) = (1i64 << 20, 1i64 << 30);
        // 1 GB in all on 2 connections: ranges of 256 MB, so a 900 MB table is cut.
        assert_eq!(range_bytes(gb, 2, gb), 256 * mb);
        // Small runs: not under 64 MB.
        assert_eq!(range_bytes(100 * mb, 2, gb), 64 * mb);
        // Huge runs: not over the caller's largest range.
        assert_eq!(range_bytes(1000 * gb, 2, gb), gb);
        // A caller's smaller limit wins (tests cut small tables), 0 never splits.
        assert_eq!(range_bytes(gb, 2, 128 << 10), 128 << 10);
        assert_eq!(range_bytes(gb, 2, 0), 0);
    }

    #[test]
    fn fingerprint_sees_columns() {
        let a = table(None);
        let mut b = table(None);
        assert_eq!(
            fingerprint(std::slice::from_ref(&a)),
            fingerprint(std::slice::from_ref(&b))
        );
        b.columns[1].1 = "varchar".into();
        assert_ne!(fingerprint(&[a]), fingerprint(&[b]));
    }

    #[test]
    fn column_list_is_quoted() {
        assert_eq!(table(None).column_list(), "a, \"B\"");
        assert_eq!(table(None).qualified(), "s.\"T x\"");
    }
}
