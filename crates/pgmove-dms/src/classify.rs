//! From `pgmove_core::model` to what DMS cares about, without a server: which relations hold
//! rows, their partition parents, keys, generated and identity columns, and each column's type
//! as DMS sees it (LOB or not, types it moves badly). Pure: a [`Catalog`] goes in, a
//! [`PlanInput`] whose LOB sizes are still unknown comes out; [`crate::source`] measures them.

use crate::plan::{LobColumn, LobKind, OddColumn, PlanInput, PlanTable, SourceSettings, TableKind};
use pgmove_core::model::{class, Catalog, ColumnType, Index, IndexColumn, ObjRef, Table, TypeKind};
use std::collections::{HashMap, HashSet};

/// A column type resolved through domains: what the DMS mapping depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseType {
    /// The base type's `typname` (`varchar`, `timetz`, `hstore`...), without schema or typmod.
    pub name: String,
    /// An array (of anything).
    pub array: bool,
    /// The type carries a modifier (`varchar(20)`, `numeric(10,2)`).
    pub has_typmod: bool,
    /// `pg_type.typtype`: `b` base, `e` enum, `c` composite, `r` range, `m` multirange.
    pub typtype: char,
    /// Lives in `pg_catalog`.
    pub builtin: bool,
}

/// Resolves column types through the catalog's domains to the type DMS sees.
pub struct TypeResolver<'a> {
    /// Each domain's base type, by the domain's schema and name.
    domains: HashMap<(&'a str, &'a str), &'a ColumnType>,
}

impl<'a> TypeResolver<'a> {
    pub fn new(cat: &'a Catalog) -> Self {
        TypeResolver {
            domains: cat
                .types
                .iter()
                .filter_map(|t| match &t.kind {
                    TypeKind::Domain { base, .. } => {
                        Some(((t.schema.as_str(), t.name.as_str()), base))
                    }
                    _ => None,
                })
                .collect(),
        }
    }

    /// Resolve one column type (through domains, an array of them, a domain over an array).
    pub fn resolve(&self, ty: &ColumnType) -> BaseType {
        self.resolve_depth(ty, 0)
    }

    fn resolve_depth(&self, ty: &ColumnType, depth: u32) -> BaseType {
        let array = ty.dims > 0;
        if ty.kind == 'd' && depth < 16 {
            // Domain over domain ends at a base type; the depth bound guards a cycle.
            if let Some(base) = self.domains.get(&(ty.schema.as_str(), ty.name.as_str())) {
                let mut b = self.resolve_depth(base, depth + 1);
                b.array |= array;
                return b;
            }
        }
        BaseType {
            name: ty.name.to_string(),
            array,
            has_typmod: ty.typmod >= 0,
            typtype: ty.kind,
            builtin: ty.is_builtin(),
        }
    }
}

/// DMS moves these as LOBs (NCLOB or BLOB) from a PostgreSQL source.
pub fn lob_kind(t: &BaseType) -> Option<LobKind> {
    if t.array {
        return Some(LobKind::Nclob);
    }
    match t.name.as_str() {
        "bytea" if t.builtin => Some(LobKind::Blob),
        "text" | "json" | "jsonb" | "xml" if t.builtin => Some(LobKind::Nclob),
        // hstore is an extension's type, wherever it was installed.
        "hstore" => Some(LobKind::Nclob),
        // Unbounded varchar has no length to map to: DMS treats it as a LOB.
        "varchar" if t.builtin && !t.has_typmod => Some(LobKind::Nclob),
        _ => None,
    }
}

/// Types DMS is known to move badly; `None` for the ones it handles.
pub fn odd_type(t: &BaseType) -> Option<&'static str> {
    if t.builtin {
        let note = match t.name.as_str() {
            "numeric" if !t.has_typmod => {
                "unconstrained numeric: DMS rounds to NUMERIC(28,6) unless the source endpoint has MapUnboundedNumericAsString=true (pgmove's apply sets it)"
            }
            "money" => "money: moved as NUMERIC(38,4); locale formatting may differ",
            "timetz" => "time with time zone: offset may be lost",
            "interval" => "interval: moved as text; check the target's IntervalStyle",
            "tsvector" | "tsquery" => "text search type: not supported by DMS",
            "point" | "line" | "lseg" | "box" | "path" | "polygon" | "circle" => {
                "geometric type: moved as text"
            }
            "bit" | "varbit" => "bit string: moved as text; check lengths",
            "pg_lsn" | "txid_snapshot" | "pg_snapshot" | "oid" | "regclass" | "regproc"
            | "regtype" | "tid" | "xid" | "xid8" | "cid" => "system type: not supported by DMS",
            _ if matches!(t.typtype, 'r' | 'm') => "range type: moved as text",
            _ => return None,
        };
        return Some(note);
    }
    Some(match t.typtype {
        'r' | 'm' => "range type: moved as text",
        'c' => "composite type: moved as text",
        'e' => "enum: moved as text; the target type must accept every label",
        _ => "extension or user-defined type: DMS may not support it",
    })
}

/// Whether a unique index can serve as a row key: valid, not partial, on plain columns (no
/// expression).
pub fn is_plain_unique_index(ix: &Index) -> bool {
    let p = &ix.parts;
    ix.is_valid
        && p.unique
        && p.predicate.is_none()
        && p.keys
            .iter()
            .all(|k| matches!(k.key, IndexColumn::Column(_)))
}

/// The DMS view of every table that can hold rows: regular tables, partitions and partitioned
/// parents, leaving out foreign tables and tables an extension created. LOB sizes are `None`
/// until [`crate::source::measure_lobs`] fills them.
pub fn from_catalog(cat: &Catalog, database: String, settings: SourceSettings) -> PlanInput {
    let resolver = TypeResolver::new(cat);
    let by_oid = cat.table_by_oid();
    let mut primary: HashSet<u32> = HashSet::new();
    let mut unique: HashSet<u32> = HashSet::new();
    for c in &cat.constraints {
        match c.contype {
            'p' => {
                primary.insert(c.table_oid);
            }
            'u' => {
                unique.insert(c.table_oid);
            }
            _ => {}
        }
    }
    for ix in &cat.indexes {
        if ix.constraint_oid.is_none() && is_plain_unique_index(ix) {
            unique.insert(ix.table_oid);
        }
    }
    let mut tables: Vec<PlanTable> = cat
        .tables
        .iter()
        .filter(|t| {
            matches!(t.relkind, 'r' | 'p')
                && !cat
                    .extension_members
                    .contains(&ObjRef::new(class::PG_CLASS, t.oid))
        })
        .map(|t| plan_table(t, &by_oid, &resolver, &primary, &unique))
        .collect();
    tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    PlanInput {
        database,
        tables,
        settings: SourceSettings {
            sequences: cat.sequences.len() as i64,
            ..settings
        },
    }
}

fn plan_table(
    t: &Table,
    by_oid: &HashMap<u32, &Table>,
    resolver: &TypeResolver,
    primary: &HashSet<u32>,
    unique: &HashSet<u32>,
) -> PlanTable {
    let parent = t
        .extra()
        .partition_of
        .as_ref()
        .and_then(|(oid, _)| by_oid.get(oid))
        .map(|p| (p.schema.to_string(), p.name.to_string()));
    let kind = if t.relkind == 'p' {
        TableKind::PartitionedParent
    } else if t.is_partition() {
        TableKind::LeafPartition
    } else {
        TableKind::Regular
    };
    let mut pt = PlanTable {
        schema: t.schema.to_string(),
        name: t.name.to_string(),
        kind,
        parent,
        has_primary_key: primary.contains(&t.oid),
        has_unique_key: unique.contains(&t.oid),
        replica_identity: t.replica_identity.to_string(),
        unlogged: t.persistence == 'u',
        estimated_rows: t.est_rows.max(0.0) as i64,
        lob_columns: vec![],
        generated_columns: vec![],
        identity_always_columns: vec![],
        odd_columns: vec![],
    };
    for c in &t.columns {
        if matches!(c.generated, Some('s' | 'v')) {
            pt.generated_columns.push(c.name.to_string());
            // The target computes it; DMS will not move it, so it is neither LOB nor odd.
            continue;
        }
        if c.identity == Some('a') {
            pt.identity_always_columns.push(c.name.to_string());
        }
        let base = resolver.resolve(&c.ty);
        if let Some(kind) = lob_kind(&base) {
            pt.lob_columns.push(LobColumn {
                name: c.name.to_string(),
                type_name: c.type_name().to_string(),
                kind,
                max_bytes: None,
            });
        } else if let Some(note) = odd_type(&base) {
            pt.odd_columns.push(OddColumn {
                name: c.name.to_string(),
                type_name: c.type_name().to_string(),
                note: note.into(),
            });
        }
    }
    pt
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgmove_core::model::{IndexKey, IndexParts, TypeDef};

    /// A column type: `schema.name`, modifier, array dimensions, `typtype`.
    fn ty(schema: &str, name: &str, typmod: i32, dims: i16, kind: char) -> ColumnType {
        let mut t = ColumnType::new(0, schema, name, kind, "");
        t.typmod = typmod;
        t.dims = dims;
        t
    }

    fn builtin(name: &str, typmod: i32) -> ColumnType {
        ty("pg_catalog", name, typmod, 0, 'b')
    }

    fn domain(schema: &str, name: &str, base: ColumnType) -> TypeDef {
        let kind = TypeKind::Domain {
            base,
            collation: None,
            default: None,
            not_null: false,
            constraints: vec![],
        };
        TypeDef::new(0, schema, name, kind)
    }

    #[test]
    fn builtin_types_resolve_to_their_typnames() {
        let cat = Catalog::default();
        let r = TypeResolver::new(&cat);
        // character varying(20)
        let v = r.resolve(&builtin("varchar", 24));
        assert_eq!((v.name.as_str(), v.has_typmod), ("varchar", true));
        assert_eq!(lob_kind(&v), None);
        assert_eq!(
            lob_kind(&r.resolve(&builtin("varchar", -1))),
            Some(LobKind::Nclob)
        );
        assert_eq!(
            lob_kind(&r.resolve(&builtin("bytea", -1))),
            Some(LobKind::Blob)
        );
        let ints = ty("pg_catalog", "int4", -1, 1, 'b');
        assert_eq!(lob_kind(&r.resolve(&ints)), Some(LobKind::Nclob));
        assert!(odd_type(&r.resolve(&builtin("numeric", -1))).is_some());
        assert!(odd_type(&r.resolve(&builtin("numeric", 655366))).is_none());
        assert!(odd_type(&r.resolve(&builtin("uuid", -1))).is_none());
        assert!(odd_type(&r.resolve(&builtin("timestamptz", -1))).is_none());
        assert!(odd_type(&r.resolve(&builtin("timetz", 3))).is_some());
        let range = ty("pg_catalog", "tstzrange", -1, 0, 'r');
        assert_eq!(r.resolve(&range).typtype, 'r');
        assert!(odd_type(&r.resolve(&range)).is_some());
    }

    #[test]
    fn user_types_resolve_through_domains() {
        let mut cat = Catalog::default();
        cat.types
            .push(domain("public", "year", builtin("int4", -1)));
        cat.types
            .push(domain("public", "Long Text", builtin("text", -1)));
        cat.types.push(domain(
            "public",
            "words",
            ty("public", "Long Text", -1, 1, 'd'),
        ));
        let r = TypeResolver::new(&cat);
        assert!(odd_type(&r.resolve(&ty("public", "year", -1, 0, 'd'))).is_none());
        let long_text = ty("public", "Long Text", -1, 0, 'd');
        assert_eq!(lob_kind(&r.resolve(&long_text)), Some(LobKind::Nclob));
        let words = r.resolve(&ty("public", "words", -1, 0, 'd'));
        assert!(words.array && words.builtin && words.name == "text");
        let hstore = ty("ext", "hstore", -1, 0, 'b');
        assert_eq!(lob_kind(&r.resolve(&hstore)), Some(LobKind::Nclob));
        let citext = ty("public", "citext", -1, 0, 'b');
        assert_eq!(lob_kind(&r.resolve(&citext)), None);
        assert_eq!(
            odd_type(&r.resolve(&citext)),
            Some("extension or user-defined type: DMS may not support it")
        );
        let rating = ty("public", "mpaa_rating", -1, 0, 'e');
        assert!(odd_type(&r.resolve(&rating)).unwrap().starts_with("enum"));
        // A user type named like a built-in one is not taken for it.
        let own_bytea = ty("app", "bytea", -1, 0, 'b');
        assert_eq!(lob_kind(&r.resolve(&own_bytea)), None);
    }

    fn index(unique: bool, keys: Vec<IndexColumn>, predicate: Option<&str>) -> Index {
        let mut parts = IndexParts::default();
        parts.method = "btree".into();
        parts.unique = unique;
        parts.keys = keys
            .into_iter()
            .map(|key| IndexKey::new(key, ("pg_catalog".into(), "int4_ops".into())))
            .collect();
        parts.include = vec!["d".into()];
        parts.predicate = predicate.map(String::from);
        Index::new(1, "s", "i", 2, parts)
    }

    #[test]
    fn unique_indexes_that_key_rows() {
        let col = |n: &str| IndexColumn::Column(n.into());
        let yes = index(true, vec![col("a"), col("b(c)")], None);
        assert!(is_plain_unique_index(&yes));
        let not_unique = index(false, vec![col("a")], None);
        assert!(!is_plain_unique_index(&not_unique));
        let expression = index(true, vec![IndexColumn::Expression("lower(a)".into())], None);
        assert!(!is_plain_unique_index(&expression));
        let partial = index(true, vec![col("a")], Some("(a > 0)"));
        assert!(!is_plain_unique_index(&partial));
        let mut invalid = yes.clone();
        invalid.is_valid = false;
        assert!(!is_plain_unique_index(&invalid));
    }
}
