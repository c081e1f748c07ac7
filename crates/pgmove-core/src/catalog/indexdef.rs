//! Index definitions built from `pg_index`'s own columns, as `pg_get_indexdef(oid)` prints them.
//!
//! Why: `pg_get_indexdef` costs the server a round of cache misses per index (the index, its
//! table, access method, operator classes and collations), which adds up with the number of
//! indexes, while the columns it reads come back from a plain scan of `pg_index`. So pgmove
//! reads the columns and prints the definition itself for the indexes whose definition follows from them alone: plain
//! columns (no expressions), operator classes that are the default for the column's type or
//! named, no collation other than the column's, no per-column opclass options, no storage
//! parameters, not a partitioned index. Everything else — and any index this module is not
//! sure of — goes back to the server's `pg_get_indexdef` in one follow-up query, so the result
//! is never a guess. A partial index's predicate is printed by `exprdef` from `indpred`; one it
//! cannot print sends the whole definition to the server.
//!
//! `tests/tests/roundtrip.rs` compares every index definition pgmove reads with the server's
//! `pg_get_indexdef`, for every index of every test corpus.

use crate::model::{CompactString, IndexColumn, IndexKey, IndexParts};
use crate::quote;
use std::collections::{HashMap, HashSet};

/// What an index's definition needs from one column of its table.
#[derive(Debug, Clone)]
pub(super) struct KeyColumn {
    pub name: CompactString,
    /// `atttypid`.
    pub type_oid: u32,
    /// `attcollation`.
    pub collation: u32,
    /// A plain base type (not a domain, array, enum, range, composite or pseudo-type): only for
    /// those is the default operator class found here without the server's polymorphic rules.
    pub plain: bool,
    /// `typcategory` of the column's type.
    pub category: char,
}

/// One operator class.
#[derive(Debug, Clone)]
pub(super) struct Opclass {
    pub am: u32,
    pub input_type: u32,
    pub is_default: bool,
    /// The type category (`typcategory`) of the input type, when the input type is that
    /// category's preferred type (`typispreferred`).
    pub preferred_in: Option<char>,
    /// As `pg_get_indexdef` prints it with an empty `search_path`: bare in `pg_catalog`,
    /// schema-qualified elsewhere.
    pub name: String,
    /// Its schema and name, for the model.
    pub schema_name: (CompactString, CompactString),
}

/// The operator classes and binary-coercible casts of the server: what deciding whether an
/// index column's operator class is its type's default takes.
#[derive(Debug, Default)]
pub(super) struct Opclasses {
    pub by_oid: HashMap<u32, Opclass>,
    /// (source, target) of implicit binary-coercible casts (`castmethod = 'b'`,
    /// `castcontext = 'i'`).
    pub binary_casts: HashSet<(u32, u32)>,
}

impl Opclasses {
    /// The default operator class of access method `am` for a column of type `ty`, as
    /// `GetDefaultOpClass` finds it: the one default class for exactly that type, else the one
    /// default class the type is binary-coercible to, preferring one whose input type is the
    /// preferred type of the column type's category (so `text_ops`, not `bpchar_ops`, for a
    /// `varchar`). `None` when that is not one class.
    fn default_for(&self, am: u32, ty: u32, category: char) -> Option<u32> {
        let defaults = || {
            self.by_oid
                .iter()
                .filter(move |(_, o)| o.am == am && o.is_default)
        };
        let exact: Vec<u32> = defaults()
            .filter(|(_, o)| o.input_type == ty)
            .map(|(oid, _)| *oid)
            .collect();
        if !exact.is_empty() {
            return (exact.len() == 1).then(|| exact[0]);
        }
        let coercible: Vec<(u32, &Opclass)> = defaults()
            .filter(|(_, o)| self.binary_casts.contains(&(ty, o.input_type)))
            .map(|(oid, o)| (*oid, o))
            .collect();
        let preferred: Vec<u32> = coercible
            .iter()
            .filter(|(_, o)| o.preferred_in == Some(category))
            .map(|(oid, _)| *oid)
            .collect();
        match (preferred.as_slice(), coercible.as_slice()) {
            ([one], _) => Some(*one),
            ([], [(one, _)]) => Some(*one),
            _ => None,
        }
    }
}

/// An index as `pg_index` and `pg_class` describe it.
#[derive(Debug, Clone)]
pub(super) struct RawIndex {
    pub name: String,
    pub table_oid: u32,
    /// The table, schema-qualified and quoted.
    pub table: String,
    pub am: u32,
    pub am_name: String,
    pub unique: bool,
    pub nulls_not_distinct: bool,
    /// `indnkeyatts`: the columns after these are `INCLUDE` columns.
    pub key_count: usize,
    /// `indkey` (0 for an expression).
    pub keys: Vec<i16>,
    pub classes: Vec<u32>,
    pub collations: Vec<u32>,
    pub options: Vec<i16>,
    /// A partial index's predicate as `pg_get_expr(indpred, indrelid)` prints it.
    pub predicate: Option<String>,
    /// Anything this module does not print: expressions, storage parameters, opclass options,
    /// a partitioned index, a predicate `exprdef` cannot print.
    pub needs_server: bool,
}

/// `INDOPTION_DESC` and `INDOPTION_NULLS_FIRST` of `pg_index.indoption`.
const DESC: i16 = 1;
const NULLS_FIRST: i16 = 2;

/// The model's [`IndexParts`] of `ix`. An expression key comes as an empty
/// [`IndexColumn::Expression`], and a predicate `exprdef` could not print as `None`: the
/// caller fills both from the server (every index with either is one it asks anyway).
pub(super) fn parts(
    ix: &RawIndex,
    columns: &HashMap<(u32, i16), KeyColumn>,
    opclasses: &Opclasses,
) -> IndexParts {
    let key_count = ix.key_count.min(ix.keys.len());
    let name = |n: i16| columns.get(&(ix.table_oid, n)).map(|c| c.name.clone());
    let keys = ix.keys[..key_count]
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            let opt = ix.options.get(k).copied().unwrap_or(0);
            IndexKey {
                key: match name(n).filter(|_| n > 0) {
                    Some(c) => IndexColumn::Column(c),
                    None => IndexColumn::Expression(String::new()),
                },
                opclass: ix
                    .classes
                    .get(k)
                    .and_then(|c| opclasses.by_oid.get(c))
                    .map(|o| o.schema_name.clone())
                    .unwrap_or_default(),
                descending: opt & DESC != 0,
                nulls_first: opt & NULLS_FIRST != 0,
            }
        })
        .collect();
    IndexParts {
        method: ix.am_name.as_str().into(),
        unique: ix.unique,
        nulls_not_distinct: ix.nulls_not_distinct,
        keys,
        include: ix.keys[key_count..]
            .iter()
            .filter_map(|&n| name(n))
            .collect(),
        predicate: ix.predicate.clone(),
    }
}

/// The definition `pg_get_indexdef` prints for `ix`, or `None` when the server must print it.
pub(super) fn build(
    ix: &RawIndex,
    columns: &HashMap<(u32, i16), KeyColumn>,
    opclasses: &Opclasses,
) -> Option<String> {
    if ix.needs_server
        || ix.keys.is_empty()
        || ix.key_count > ix.keys.len()
        || ix.classes.len() < ix.key_count
        || ix.collations.len() < ix.key_count
        || ix.options.len() < ix.key_count
    {
        return None;
    }
    // Only btree orders its columns (amcanorder); other methods have no DESC/NULLS options.
    let orders = ix.am_name == "btree";
    let mut keys = Vec::with_capacity(ix.key_count);
    for k in 0..ix.key_count {
        if ix.keys[k] <= 0 {
            return None; // an expression
        }
        let col = columns.get(&(ix.table_oid, ix.keys[k]))?;
        let mut s = quote::ident(&col.name);
        let coll = ix.collations[k];
        if coll != 0 && coll != col.collation {
            return None;
        }
        let class = ix.classes[k];
        let opc = opclasses.by_oid.get(&class)?;
        if !col.plain {
            // Domains, arrays, enums…: the default class needs the server's polymorphic rules,
            // unless the class is named for exactly this type and is its default.
            if !(opc.is_default && opc.input_type == col.type_oid && opc.am == ix.am) {
                return None;
            }
        } else if opclasses.default_for(ix.am, col.type_oid, col.category) != Some(class) {
            s.push(' ');
            s.push_str(&opc.name);
        }
        let opt = ix.options[k];
        if orders {
            let desc = opt & DESC != 0;
            let nulls_first = opt & NULLS_FIRST != 0;
            if desc {
                s.push_str(" DESC");
            }
            if nulls_first && !desc {
                s.push_str(" NULLS FIRST");
            } else if !nulls_first && desc {
                s.push_str(" NULLS LAST");
            }
        } else if opt != 0 {
            return None;
        }
        keys.push(s);
    }
    let mut include = Vec::new();
    for &attnum in &ix.keys[ix.key_count..] {
        if attnum <= 0 {
            return None;
        }
        include.push(quote::ident(&columns.get(&(ix.table_oid, attnum))?.name));
    }
    let mut def = format!(
        "CREATE {}INDEX {} ON {} USING {} ({})",
        if ix.unique { "UNIQUE " } else { "" },
        quote::ident(&ix.name),
        ix.table,
        quote::ident(&ix.am_name),
        keys.join(", ")
    );
    if !include.is_empty() {
        def.push_str(&format!(" INCLUDE ({})", include.join(", ")));
    }
    if ix.nulls_not_distinct {
        def.push_str(" NULLS NOT DISTINCT");
    }
    if let Some(p) = &ix.predicate {
        def.push_str(" WHERE ");
        def.push_str(p);
    }
    Some(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BTREE: u32 = 403;
    const INT4: u32 = 23;
    const TEXT: u32 = 25;
    const VARCHAR: u32 = 1043;
    const INT4_OPS: u32 = 1978;
    const TEXT_OPS: u32 = 3126;
    const TEXT_PATTERN_OPS: u32 = 4217;
    const BPCHAR: u32 = 1042;
    const BPCHAR_OPS: u32 = 426;

    fn opclasses() -> Opclasses {
        let mut o = Opclasses::default();
        for (oid, ty, def, name) in [
            (INT4_OPS, INT4, true, "int4_ops"),
            (TEXT_OPS, TEXT, true, "text_ops"),
            (TEXT_PATTERN_OPS, TEXT, false, "text_pattern_ops"),
            (BPCHAR_OPS, BPCHAR, true, "bpchar_ops"),
        ] {
            o.by_oid.insert(
                oid,
                Opclass {
                    am: BTREE,
                    input_type: ty,
                    is_default: def,
                    preferred_in: (ty == TEXT).then_some('S'),
                    name: name.into(),
                    schema_name: ("pg_catalog".into(), name.into()),
                },
            );
        }
        // varchar is binary-coercible to both text and bpchar: text, the preferred string
        // type, wins.
        o.binary_casts.insert((VARCHAR, TEXT));
        o.binary_casts.insert((VARCHAR, BPCHAR));
        o
    }

    fn columns() -> HashMap<(u32, i16), KeyColumn> {
        let col = |name: &str, ty| KeyColumn {
            name: name.into(),
            type_oid: ty,
            collation: if ty == INT4 { 0 } else { 100 },
            plain: true,
            category: if ty == INT4 { 'N' } else { 'S' },
        };
        HashMap::from([
            ((1, 1), col("id", INT4)),
            ((1, 2), col("Name", VARCHAR)),
            ((1, 3), col("select", TEXT)),
        ])
    }

    fn index(keys: Vec<i16>, classes: Vec<u32>, options: Vec<i16>) -> RawIndex {
        RawIndex {
            name: "t_idx".into(),
            table_oid: 1,
            table: "public.t".into(),
            am: BTREE,
            am_name: "btree".into(),
            unique: false,
            nulls_not_distinct: false,
            key_count: keys.len(),
            collations: keys.iter().map(|_| 0).collect(),
            keys,
            classes,
            options,
            predicate: None,
            needs_server: false,
        }
    }

    #[test]
    fn plain_columns_default_classes_and_order() {
        let mut ix = index(vec![1, 2], vec![INT4_OPS, TEXT_OPS], vec![3, 1]);
        ix.collations = vec![0, 100];
        ix.unique = true;
        assert_eq!(
            build(&ix, &columns(), &opclasses()).unwrap(),
            "CREATE UNIQUE INDEX t_idx ON public.t USING btree (id DESC, \"Name\" DESC NULLS LAST)"
        );
        let ix = index(vec![1], vec![INT4_OPS], vec![2]);
        assert_eq!(
            build(&ix, &columns(), &opclasses()).unwrap(),
            "CREATE INDEX t_idx ON public.t USING btree (id NULLS FIRST)"
        );
    }

    #[test]
    fn named_class_include_nulls_not_distinct_and_predicate() {
        let mut ix = index(vec![3, 1], vec![TEXT_PATTERN_OPS], vec![0]);
        ix.key_count = 1;
        ix.collations = vec![100];
        ix.nulls_not_distinct = true;
        ix.predicate = Some("(id > 0)".into());
        assert_eq!(
            build(&ix, &columns(), &opclasses()).unwrap(),
            "CREATE INDEX t_idx ON public.t USING btree (\"select\" text_pattern_ops) INCLUDE (id) NULLS NOT DISTINCT WHERE (id > 0)"
        );
    }

    #[test]
    fn left_to_the_server() {
        let cols = columns();
        let ops = opclasses();
        let mut ix = index(vec![0], vec![INT4_OPS], vec![0]);
        assert!(build(&ix, &cols, &ops).is_none(), "expression");
        ix = index(vec![2], vec![TEXT_OPS], vec![0]);
        ix.collations = vec![950];
        assert!(build(&ix, &cols, &ops).is_none(), "other collation");
        ix = index(vec![1], vec![INT4_OPS], vec![0]);
        ix.needs_server = true;
        assert!(build(&ix, &cols, &ops).is_none(), "flagged");
        ix = index(vec![1], vec![INT4_OPS], vec![1]);
        ix.am_name = "hash".into();
        assert!(
            build(&ix, &cols, &ops).is_none(),
            "options on an unordered method"
        );
        ix = index(vec![9], vec![INT4_OPS], vec![0]);
        assert!(build(&ix, &cols, &ops).is_none(), "unknown column");
    }
}
