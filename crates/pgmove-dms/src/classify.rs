//! From `pgmove_core::model` to what DMS cares about, without a server: which relations hold
//! rows, their partition parents, keys, generated and identity columns, and each column's type
//! as DMS sees it (LOB or not, types it moves badly). Pure: a [`Catalog`] goes in, a
//! [`PlanInput`] whose LOB sizes are still unknown comes out; [`crate::source`] measures them.

use crate::plan::{LobColumn, LobKind, OddColumn, PlanInput, PlanTable, SourceSettings, TableKind};
use pgmove_core::model::{class, Catalog, Index, ObjRef, Table, TypeDef, TypeKind};
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

/// Built-in range and multirange types (typtype `r` / `m` in `pg_catalog`).
const BUILTIN_RANGES: &[&str] = &[
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
];

/// Resolves `format_type` names, as the catalog reader stores them (read with
/// `search_path = ''`: every type outside `pg_catalog` is schema-qualified), through the
/// catalog's user-defined types.
pub struct TypeResolver<'a> {
    types: HashMap<(&'a str, &'a str), &'a TypeDef>,
    multiranges: HashSet<&'a str>,
    rowtypes: HashSet<(&'a str, &'a str)>,
}

impl<'a> TypeResolver<'a> {
    pub fn new(cat: &'a Catalog) -> Self {
        let mut multiranges = HashSet::new();
        for t in &cat.types {
            if let TypeKind::Range {
                multirange: Some(m),
                ..
            } = &t.kind
            {
                multiranges.insert(m.as_str());
            }
        }
        TypeResolver {
            types: cat
                .types
                .iter()
                .map(|t| ((t.schema.as_str(), t.name.as_str()), t))
                .collect(),
            multiranges,
            rowtypes: cat
                .tables
                .iter()
                .map(|t| (t.schema.as_str(), t.name.as_str()))
                .chain(
                    cat.views
                        .iter()
                        .map(|v| (v.schema.as_str(), v.name.as_str())),
                )
                .collect(),
        }
    }

    /// Resolve one `format_type` name (`character varying(20)`, `public.mpaa_rating`,
    /// `"My Schema"."Dom"[]`).
    pub fn resolve(&self, type_name: &str) -> BaseType {
        self.resolve_depth(type_name, 0)
    }

    fn resolve_depth(&self, type_name: &str, depth: u32) -> BaseType {
        let t = type_name.trim();
        if let Some(elem) = t.strip_suffix("[]") {
            let mut b = self.resolve_depth(elem, depth + 1);
            b.array = true;
            return b;
        }
        let parts = split_qualified(t);
        if let [schema, name] = parts.as_slice() {
            let name_plain = name.as_str();
            if let Some(def) = self.types.get(&(schema.as_str(), name_plain)) {
                return match &def.kind {
                    // Domain over domain ends at a base type; the depth bound guards a cycle.
                    TypeKind::Domain { base, .. } if depth < 16 => {
                        self.resolve_depth(base, depth + 1)
                    }
                    TypeKind::Enum { .. } => user(name_plain, 'e'),
                    TypeKind::Composite { .. } => user(name_plain, 'c'),
                    TypeKind::Range { .. } => user(name_plain, 'r'),
                    _ => user(name_plain, 'b'),
                };
            }
            if self.multiranges.contains(t) {
                return user(name_plain, 'm');
            }
            if self.rowtypes.contains(&(schema.as_str(), name_plain)) {
                return user(name_plain, 'c');
            }
            return user(name_plain, 'b');
        }
        builtin(t)
    }
}

fn user(name: &str, typtype: char) -> BaseType {
    BaseType {
        name: name.to_string(),
        array: false,
        has_typmod: false,
        typtype,
        builtin: false,
    }
}

/// A `pg_catalog` type as `format_type` prints it, back to its `typname`.
fn builtin(t: &str) -> BaseType {
    let has_typmod = t.contains('(');
    // Drop every `(...)` modifier: `timestamp(3) with time zone` -> `timestamp with time zone`.
    let mut plain = String::with_capacity(t.len());
    let mut depth = 0;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    let plain = plain.trim_matches('"');
    let name = match plain {
        "character varying" => "varchar",
        "character" => "bpchar",
        "bit varying" => "varbit",
        "time with time zone" => "timetz",
        "time without time zone" => "time",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        "double precision" => "float8",
        "real" => "float4",
        "integer" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "boolean" => "bool",
        p if p.starts_with("interval") => "interval",
        p => p,
    };
    let typtype = if BUILTIN_RANGES.contains(&name) {
        'r'
    } else if name.ends_with("multirange") {
        'm'
    } else {
        'b'
    };
    BaseType {
        name: name.to_string(),
        array: false,
        has_typmod,
        typtype,
        builtin: true,
    }
}

/// Split `schema.name` (either part possibly double-quoted) into unquoted parts; a name
/// without an unquoted dot comes back as one part.
pub fn split_qualified(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
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
/// expression). Read from `pg_get_indexdef`, the only form the model keeps.
pub fn is_plain_unique_index(ix: &Index) -> bool {
    if !ix.is_valid || !ix.definition.starts_with("CREATE UNIQUE INDEX ") {
        return false;
    }
    // The column list is the first parenthesised group after `USING method`.
    let def = ix.definition.as_str();
    let Some(using) = find_unquoted(def, " USING ") else {
        return false;
    };
    let rest = &def[using..];
    let Some(open) = find_unquoted(rest, "(") else {
        return false;
    };
    let mut depth = 0usize;
    let mut quoted = false;
    let mut end = None;
    let mut expression = false;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                if depth > 1 {
                    expression = true;
                }
            }
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    end = Some(open + i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(end) = end else {
        return false;
    };
    !expression && find_unquoted(&rest[end..], " WHERE ").is_none()
}

/// Byte offset of `needle` in `s` outside double quotes.
fn find_unquoted(s: &str, needle: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted && s[i..].starts_with(needle) {
            return Some(i);
        }
    }
    None
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
        let base = resolver.resolve(&c.type_name);
        if let Some(kind) = lob_kind(&base) {
            pt.lob_columns.push(LobColumn {
                name: c.name.to_string(),
                type_name: c.type_name.to_string(),
                kind,
                max_bytes: None,
            });
        } else if let Some(note) = odd_type(&base) {
            pt.odd_columns.push(OddColumn {
                name: c.name.to_string(),
                type_name: c.type_name.to_string(),
                note: note.into(),
            });
        }
    }
    pt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(schema: &str, name: &str, base: &str) -> TypeDef {
        TypeDef {
            oid: 0,
            schema: schema.into(),
            name: name.into(),
            kind: TypeKind::Domain {
                base: base.into(),
                collation: None,
                default: None,
                not_null: false,
                constraints: vec![],
            },
            acl: None,
            owner: String::new(),
        }
    }

    #[test]
    fn builtin_names_resolve_to_typnames() {
        let cat = Catalog::default();
        let r = TypeResolver::new(&cat);
        let v = r.resolve("character varying(20)");
        assert_eq!((v.name.as_str(), v.has_typmod), ("varchar", true));
        assert_eq!(lob_kind(&v), None);
        assert_eq!(
            lob_kind(&r.resolve("character varying")),
            Some(LobKind::Nclob)
        );
        assert_eq!(lob_kind(&r.resolve("bytea")), Some(LobKind::Blob));
        assert_eq!(lob_kind(&r.resolve("integer[]")), Some(LobKind::Nclob));
        assert_eq!(r.resolve("time(3) with time zone").name, "timetz");
        assert_eq!(r.resolve("interval year to month").name, "interval");
        assert!(odd_type(&r.resolve("numeric")).is_some());
        assert!(odd_type(&r.resolve("numeric(10,2)")).is_none());
        assert!(odd_type(&r.resolve("uuid")).is_none());
        assert!(odd_type(&r.resolve("timestamp with time zone")).is_none());
        assert_eq!(r.resolve("tstzrange").typtype, 'r');
    }

    #[test]
    fn user_types_resolve_through_domains() {
        let mut cat = Catalog::default();
        cat.types.push(domain("public", "year", "integer"));
        cat.types.push(domain("public", "Long Text", "text"));
        cat.types
            .push(domain("public", "words", "public.\"Long Text\"[]"));
        cat.types.push(TypeDef {
            kind: TypeKind::Base { options: vec![] },
            ..domain("ext", "hstore", "")
        });
        cat.types.push(TypeDef {
            kind: TypeKind::Base { options: vec![] },
            ..domain("public", "citext", "")
        });
        cat.types.push(TypeDef {
            kind: TypeKind::Enum { labels: vec![] },
            ..domain("public", "mpaa_rating", "")
        });
        let r = TypeResolver::new(&cat);
        assert!(odd_type(&r.resolve("public.year")).is_none());
        assert_eq!(
            lob_kind(&r.resolve("public.\"Long Text\"")),
            Some(LobKind::Nclob)
        );
        assert!(r.resolve("public.words").array);
        assert_eq!(lob_kind(&r.resolve("ext.hstore")), Some(LobKind::Nclob));
        assert_eq!(lob_kind(&r.resolve("public.citext")), None);
        assert_eq!(
            odd_type(&r.resolve("public.citext")),
            Some("extension or user-defined type: DMS may not support it")
        );
        assert!(odd_type(&r.resolve("public.mpaa_rating"))
            .unwrap()
            .starts_with("enum"));
    }

    #[test]
    fn qualified_names_split_outside_quotes() {
        assert_eq!(split_qualified("a.b"), ["a", "b"]);
        assert_eq!(split_qualified("\"x.y\".\"q\"\"z\""), ["x.y", "q\"z"]);
        assert_eq!(split_qualified("text"), ["text"]);
    }

    fn index(def: &str) -> Index {
        Index {
            oid: 1,
            schema: "s".into(),
            name: "i".into(),
            table_oid: 2,
            definition: def.into(),
            constraint_oid: None,
            is_valid: true,
            is_clustered: false,
            is_replica_identity: false,
            is_partitioned: false,
            extra: None,
        }
    }

    #[test]
    fn unique_indexes_that_key_rows() {
        let yes =
            "CREATE UNIQUE INDEX i ON s.t USING btree (a, \"b(c)\" COLLATE \"C\") INCLUDE (d)";
        assert!(is_plain_unique_index(&index(yes)));
        for no in [
            "CREATE INDEX i ON s.t USING btree (a)",
            "CREATE UNIQUE INDEX i ON s.t USING btree (lower(a))",
            "CREATE UNIQUE INDEX i ON s.t USING btree (a) WHERE (a > 0)",
        ] {
            assert!(!is_plain_unique_index(&index(no)), "{no}");
        }
        let mut invalid = index(yes);
        invalid.is_valid = false;
        assert!(!is_plain_unique_index(&invalid));
    }
}
