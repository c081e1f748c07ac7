//! Relations and what hangs off them: tables, columns, views, sequences, indexes, constraints,
//! triggers, rules, policies, extended statistics.

use compact_str::CompactString;
use serde::Serialize;
use std::sync::Arc;

/// A table (`relkind` r), partitioned table (p) or foreign table (f).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Table {
    pub oid: u32,
    pub schema: CompactString,
    pub name: CompactString,
    /// `r`, `p` or `f`.
    pub relkind: char,
    /// `p` permanent, `u` unlogged.
    pub persistence: char,
    pub columns: Vec<Column>,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: char,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub owner: CompactString,
    /// Rows estimated by the planner and size on disk, for ordering post-data work.
    pub est_rows: f64,
    pub size_bytes: i64,
    /// What many tables lack, boxed (see [`TableExtra`]); `None` when it would be all unset.
    /// Read it with [`Table::extra`].
    pub extra: Option<Box<TableExtra>>,
}

/// A table's settings that plain tables leave unset: inheritance, partitioning, typed and
/// foreign tables, storage options, access method, privileges. Boxed apart so that a plain
/// table stays small; never boxed when all unset (see [`Table::set_extra`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TableExtra {
    /// Inheritance parents (not partition parents), in `inhseqno` order: OID, schema, name.
    pub inherits: Vec<(u32, CompactString, CompactString)>,
    /// For a partition: the parent's OID and the bound (`FOR VALUES …` / `DEFAULT`).
    pub partition_of: Option<(u32, String)>,
    /// For a partitioned table: `pg_get_partkeydef`, e.g. `RANGE (payment_date)`.
    pub partition_key: Option<String>,
    /// Typed table: `OF type` (a composite type).
    pub of_type: Option<ColumnType>,
    /// Storage parameters (`key=value`), the TOAST table's among them as `toast.key=value`.
    pub reloptions: Vec<String>,
    /// Table access method when not `heap` (PostgreSQL 12+).
    pub access_method: Option<String>,
    /// For a foreign table: server name and `OPTIONS`.
    pub foreign_server: Option<String>,
    pub foreign_options: Vec<String>,
    pub acl: Option<Vec<String>>,
}

/// What [`Table::extra`] lends for a table without extras.
static NO_TABLE_EXTRA: TableExtra = TableExtra {
    inherits: Vec::new(),
    partition_of: None,
    partition_key: None,
    of_type: None,
    reloptions: Vec::new(),
    access_method: None,
    foreign_server: None,
    foreign_options: Vec::new(),
    acl: None,
};

impl Table {
    /// A plain permanent table without columns, owner or settings.
    pub fn new(oid: u32, schema: &str, name: &str) -> Table {
        Table {
            oid,
            schema: schema.into(),
            name: name.into(),
            relkind: 'r',
            persistence: 'p',
            columns: Vec::new(),
            replica_identity: 'd',
            rls_enabled: false,
            rls_forced: false,
            owner: CompactString::default(),
            est_rows: 0.0,
            size_bytes: 0,
            extra: None,
        }
    }

    pub fn is_partition(&self) -> bool {
        self.extra().partition_of.is_some()
    }

    /// The table's [`TableExtra`], all unset when it has none.
    pub fn extra(&self) -> &TableExtra {
        self.extra.as_deref().unwrap_or(&NO_TABLE_EXTRA)
    }

    /// Store `extra`, boxed only when something in it is set.
    pub fn set_extra(&mut self, extra: TableExtra) {
        self.extra = (extra != TableExtra::default()).then(|| Box::new(extra));
    }
}

/// One column of a table, view or composite type.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Column {
    pub num: i16,
    pub name: CompactString,
    /// The column's type, shared with the other columns of the same type, modifier and
    /// dimensions. [`Column::type_name`] is its rendered form.
    #[serde(serialize_with = "serialize_type")]
    pub ty: Arc<ColumnType>,
    pub not_null: bool,
    /// `pg_get_expr(adbin)`; for a generated column, its expression.
    pub default: Option<CompactString>,
    pub attrdef_oid: Option<u32>,
    /// `''`, `s` stored or `v` virtual generated column.
    pub generated: Option<char>,
    /// `''`, `a` ALWAYS or `d` BY DEFAULT identity.
    pub identity: Option<char>,
    /// Defined locally (not only inherited).
    pub is_local: bool,
    pub inh_count: i32,
    /// What few columns have, boxed (see [`ColumnExtra`]); `None` when it would be all unset.
    pub extra: Option<Box<ColumnExtra>>,
}

/// A column's settings that most columns leave unset, boxed apart so that a column stays small
/// (there are many); never boxed when all unset (see [`Column::set_extra`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ColumnExtra {
    /// Name of the NOT NULL constraint (PostgreSQL 18 names them), when not the default one.
    pub not_null_name: Option<String>,
    /// The NOT NULL constraint (18+), only when it is NOT VALID (then added in post-data, as
    /// pg_dump does, where defined on this table), has a comment (found by its OID), or is
    /// local where the column is only inherited, or the reverse.
    pub not_null_constraint: Option<NotNullConstraint>,
    /// Collation when it differs from the type's default: (schema, name), unquoted.
    pub collation: Option<(CompactString, CompactString)>,
    /// `attstorage` when it differs from the type's default.
    pub storage: Option<char>,
    /// `attstattarget` when set (>= 0).
    pub stat_target: Option<i32>,
    /// `attcompression` (14+) when set.
    pub compression: Option<char>,
    pub options: Vec<String>,
    pub fdw_options: Vec<String>,
    pub acl: Option<Vec<String>>,
}

/// A column's NOT NULL constraint as 18 records it (see [`ColumnExtra::not_null_constraint`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct NotNullConstraint {
    pub oid: u32,
    pub validated: bool,
    pub is_local: bool,
}

/// What [`Column::extra`] points to when the column has none.
static NO_EXTRA: ColumnExtra = ColumnExtra {
    not_null_name: None,
    not_null_constraint: None,
    collation: None,
    storage: None,
    stat_target: None,
    compression: None,
    options: Vec::new(),
    fdw_options: Vec::new(),
    acl: None,
};

/// A view's column or a composite type's attribute: what `CREATE TYPE … AS (…)` and a view's
/// dummy `SELECT` list need of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Attribute {
    pub name: CompactString,
    pub ty: ColumnType,
    /// Collation when it differs from the type's default: (schema, name), unquoted.
    pub collation: Option<(CompactString, CompactString)>,
}

impl Attribute {
    /// The column `c` as an attribute.
    pub fn of_column(c: &Column) -> Attribute {
        Attribute {
            name: c.name.clone(),
            ty: c.ty.as_ref().clone(),
            collation: c.extra().collation.clone(),
        }
    }
}

/// A column's type as `pg_attribute` and `pg_type` record it, and every other reference to a
/// type in the model (a function's argument, a cast's source, an operator's operand…), which
/// has no modifier and at most one array dimension. Read these fields to know what a type is;
/// [`ColumnType::rendered`] is only for writing SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct ColumnType {
    /// `atttypid` (for an array column, the array type's OID).
    pub oid: u32,
    /// The type's schema and `typname` (`pg_catalog`, `int4`); for an array, its element
    /// type's.
    pub schema: CompactString,
    pub name: CompactString,
    /// `typtype` of that type: `b` base, `c` composite, `d` domain, `e` enum, `m` multirange,
    /// `p` pseudo-type, `r` range.
    pub kind: char,
    /// `atttypmod`: -1 without a modifier (`varchar`, `numeric`).
    pub typmod: i32,
    /// 0 for a column that is not an array; else its declared dimensions (`attndims`), at
    /// least 1.
    pub dims: i16,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(20)[]`.
    pub rendered: CompactString,
}

impl ColumnType {
    /// The type `schema.name` (OID `oid`, `typtype` `kind`) without modifier, not an array,
    /// written as `rendered`; set [`ColumnType::typmod`] and [`ColumnType::dims`] for others.
    pub fn new(oid: u32, schema: &str, name: &str, kind: char, rendered: &str) -> ColumnType {
        ColumnType {
            oid,
            schema: schema.into(),
            name: name.into(),
            kind,
            typmod: -1,
            dims: 0,
            rendered: rendered.into(),
        }
    }

    /// The built-in type `pg_catalog.name` (OID `oid`) without modifier, not an array, as
    /// `rendered` (`format_type`'s text, e.g. `integer` for `int4`).
    pub fn builtin(oid: u32, name: &str, rendered: &str) -> ColumnType {
        ColumnType {
            oid,
            schema: "pg_catalog".into(),
            name: name.into(),
            kind: 'b',
            typmod: -1,
            dims: 0,
            rendered: rendered.into(),
        }
    }

    /// A built-in type, or an array of one, that lives in `pg_catalog`.
    pub fn is_builtin(&self) -> bool {
        self.schema == "pg_catalog"
    }

    /// Whether this is the built-in type `typname` itself (not an array of it).
    pub fn is_builtin_named(&self, typname: &str) -> bool {
        self.dims == 0 && self.is_builtin() && self.name == typname
    }
}

/// A column's shared type as the type itself (serde's `rc` feature is not on).
fn serialize_type<S: serde::Serializer>(t: &Arc<ColumnType>, ser: S) -> Result<S::Ok, S::Error> {
    t.as_ref().serialize(ser)
}

impl Column {
    /// A column of its own table (not inherited), nullable, without default.
    pub fn new(num: i16, name: &str, ty: ColumnType) -> Column {
        Column {
            num,
            name: name.into(),
            ty: Arc::new(ty),
            not_null: false,
            default: None,
            attrdef_oid: None,
            generated: None,
            identity: None,
            is_local: true,
            inh_count: 0,
            extra: None,
        }
    }

    /// The column's type as SQL: `format_type(atttypid, atttypmod)`.
    pub fn type_name(&self) -> &str {
        &self.ty.rendered
    }

    /// The column's rarely set settings (all unset when it has none).
    pub fn extra(&self) -> &ColumnExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// Store `extra`, boxed only when something in it is set.
    pub fn set_extra(&mut self, extra: ColumnExtra) {
        self.extra = (extra != ColumnExtra::default()).then(|| Box::new(extra));
    }
}

/// A view (`v`) or materialized view (`m`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct View {
    pub oid: u32,
    pub schema: CompactString,
    pub name: CompactString,
    pub relkind: char,
    /// `pg_get_viewdef(oid)`, ending without a semicolon.
    pub definition: String,
    /// reloptions other than `check_option`.
    pub options: Vec<String>,
    /// `local` or `cascaded`.
    pub check_option: Option<String>,
    /// The columns, for the dummy view that breaks a dependency cycle.
    pub columns: Vec<Attribute>,
    /// Defaults set on view columns (`ALTER VIEW … ALTER COLUMN … SET DEFAULT`).
    pub column_defaults: Vec<(String, String)>,
    pub access_method: Option<String>,
    pub acl: Option<Vec<String>>,
    pub column_acls: Vec<(String, Vec<String>)>,
    /// A materialized view's columns with settings of their own (storage, statistics target,
    /// compression, attribute options), by name.
    pub column_settings: Vec<(CompactString, Box<ColumnExtra>)>,
    pub owner: CompactString,
    /// A materialized view holds rows (`relispopulated`; true for a plain view).
    pub populated: bool,
}

/// A sequence: its definition, its owner column and its current state.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Sequence {
    pub oid: u32,
    pub schema: CompactString,
    pub name: CompactString,
    /// `bigint`, `integer` or `smallint` (always bigint before 10).
    pub type_name: CompactString,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// `OWNED BY`: the column the sequence belongs to.
    pub owned_by: Option<OwnedBy>,
    /// Belongs to an identity column (created with it, never on its own).
    pub identity: bool,
    /// `last_value` and `is_called`; `None` when it could not be read (no privilege).
    pub last_value: Option<i64>,
    pub is_called: bool,
    pub unlogged: bool,
    pub acl: Option<Vec<String>>,
    pub owner: CompactString,
}

/// The column a sequence is `OWNED BY`, as the catalog names it (unquoted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OwnedBy {
    /// The owning table's OID.
    pub table_oid: u32,
    pub schema: CompactString,
    pub table: CompactString,
    pub column: CompactString,
}

impl OwnedBy {
    /// Column `column` of table `schema.table` (OID `table_oid`).
    pub fn new(table_oid: u32, schema: &str, table: &str, column: &str) -> OwnedBy {
        OwnedBy {
            table_oid,
            schema: schema.into(),
            table: table.into(),
            column: column.into(),
        }
    }
}

/// An index (`pg_get_indexdef`) and what pg_dump attaches to it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Index {
    pub oid: u32,
    pub schema: CompactString,
    pub name: CompactString,
    pub table_oid: u32,
    pub definition: String,
    /// The constraint it implements (primary key, unique, exclusion), if any.
    pub constraint_oid: Option<u32>,
    pub is_valid: bool,
    pub is_clustered: bool,
    pub is_replica_identity: bool,
    pub is_partitioned: bool,
    /// What the index is made of, as data (see [`IndexParts`]).
    pub parts: Box<IndexParts>,
    /// What most indexes lack, boxed (see [`IndexExtra`]); `None` when it would be all unset.
    /// Read it with [`Index::extra`].
    pub extra: Option<Box<IndexExtra>>,
}

/// What an index is made of, as `pg_index` records it: read these, never the text of
/// [`Index::definition`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexParts {
    /// The access method (`btree`, `gist`, …).
    pub method: CompactString,
    /// `indisunique`.
    pub unique: bool,
    /// `indnullsnotdistinct` (15+).
    pub nulls_not_distinct: bool,
    /// The key columns or expressions, in order (`indnkeyatts` of them, 11+; all before).
    pub keys: Vec<IndexKey>,
    /// The `INCLUDE` columns (11+), by name.
    pub include: Vec<CompactString>,
    /// A partial index's predicate, as `pg_get_expr(indpred, indrelid)` prints it.
    pub predicate: Option<String>,
}

/// One key of an index.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexKey {
    pub key: IndexColumn,
    /// The operator class (`indclass`): schema and name.
    pub opclass: (CompactString, CompactString),
    /// `indoption`: `DESC`, `NULLS FIRST`.
    pub descending: bool,
    pub nulls_first: bool,
}

impl IndexKey {
    /// An ascending key, nulls last, with operator class `opclass` (schema, name).
    pub fn new(key: IndexColumn, opclass: (CompactString, CompactString)) -> IndexKey {
        IndexKey {
            key,
            opclass,
            descending: false,
            nulls_first: false,
        }
    }
}

/// What an index key indexes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum IndexColumn {
    /// A column of the table, by name.
    Column(CompactString),
    /// An expression, as `pg_get_indexdef(index, n, false)` prints it.
    Expression(String),
}

/// An index's settings that most indexes leave unset, boxed apart so that an index stays
/// small.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexExtra {
    /// Storage parameters (`pg_class.reloptions`, e.g. `fillfactor=70`). Part of `definition`
    /// already; kept apart for the keys built on the index, whose `pg_get_constraintdef` text
    /// leaves them out.
    pub reloptions: Vec<String>,
    /// For an index on a partition: the partitioned index it is attached to.
    pub parent_index: Option<(u32, String)>,
    /// Per-column statistics targets (`ALTER INDEX … ALTER COLUMN n SET STATISTICS`).
    pub stat_targets: Vec<(i16, i32)>,
}

/// What [`Index::extra`] lends for an index without extras.
static NO_INDEX_EXTRA: IndexExtra = IndexExtra {
    reloptions: Vec::new(),
    parent_index: None,
    stat_targets: Vec::new(),
};

impl Index {
    /// A valid, non-partitioned index `schema.name` (OID `oid`) of table `table_oid`, made of
    /// `parts`, implementing no constraint and without extras.
    pub fn new(oid: u32, schema: &str, name: &str, table_oid: u32, parts: IndexParts) -> Index {
        Index {
            oid,
            schema: schema.into(),
            name: name.into(),
            table_oid,
            definition: String::new(),
            constraint_oid: None,
            is_valid: true,
            is_clustered: false,
            is_replica_identity: false,
            is_partitioned: false,
            parts: Box::new(parts),
            extra: None,
        }
    }

    /// The index's [`IndexExtra`], all unset when it has none.
    pub fn extra(&self) -> &IndexExtra {
        self.extra.as_deref().unwrap_or(&NO_INDEX_EXTRA)
    }

    /// Store `extra`, boxed only when something in it is set.
    pub fn set_extra(&mut self, extra: IndexExtra) {
        self.extra = (extra != IndexExtra::default()).then(|| Box::new(extra));
    }
}

/// A constraint on a table or a domain.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Constraint {
    pub oid: u32,
    pub schema: CompactString,
    pub name: CompactString,
    /// `c` check, `f` foreign key, `p` primary key, `u` unique, `x` exclusion, `t` trigger, `n` not null.
    pub contype: char,
    pub table_oid: u32,
    pub domain_oid: u32,
    /// `pg_get_constraintdef(oid)`.
    pub definition: String,
    pub validated: bool,
    pub is_local: bool,
    pub inh_count: i32,
    pub index_oid: u32,
    /// For a constraint on a partition inherited from the parent's (`conparentid`, 11+).
    pub parent_oid: u32,
    /// For foreign keys: the referenced table.
    pub ref_table_oid: u32,
    /// `condeferrable`, `condeferred`.
    pub deferrable: bool,
    pub deferred: bool,
    /// For a primary key, unique or foreign key constraint on a table: its columns and what
    /// it references, as data (see [`KeyDef`]). `None` for other kinds.
    pub key: Option<Box<KeyDef>>,
}

/// What a primary key, unique or foreign key constraint is made of, as `pg_constraint` (and
/// a key's index) record it: read these, never the text of [`Constraint::definition`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct KeyDef {
    /// `conkey`: the constrained columns, by name, in order.
    pub columns: Vec<CompactString>,
    /// Primary and unique keys: the index's `INCLUDE` columns (11+), by name.
    pub include: Vec<CompactString>,
    /// Primary and unique keys: `indnullsnotdistinct` of the index (15+).
    pub nulls_not_distinct: bool,
    /// `conperiod` (18+): the last column is `WITHOUT OVERLAPS` (in a foreign key, `PERIOD`).
    pub period: bool,
    /// Foreign keys: the referenced table, columns and actions.
    pub references: Option<References>,
}

/// What a foreign key references, and what it does on changes there.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct References {
    /// `confrelid`, with its schema and name.
    pub table_oid: u32,
    pub schema: CompactString,
    pub table: CompactString,
    /// `confkey`: the referenced columns, by name, in order.
    pub columns: Vec<CompactString>,
    /// `confmatchtype`: `s` simple, `f` full, `p` partial.
    pub match_type: char,
    /// `confupdtype`, `confdeltype`: `a` no action, `r` restrict, `c` cascade, `n` set null,
    /// `d` set default.
    pub on_update: char,
    pub on_delete: char,
    /// `confdelsetcols` (15+): the columns `ON DELETE SET NULL/DEFAULT` sets, when listed.
    pub on_delete_set: Vec<CompactString>,
}

/// A trigger (`pg_get_triggerdef`) with its enabled state.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Trigger {
    pub oid: u32,
    pub table_oid: u32,
    pub name: String,
    pub definition: String,
    /// `O` origin (default), `D` disabled, `R` replica, `A` always.
    pub enabled: char,
    /// A partition's clone of its parent's trigger (13+), read only when its enabled state is
    /// not the parent's: the clone comes with the partition, only the state is set.
    pub clone: bool,
}

/// A rewrite rule other than a view's `_RETURN`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Rule {
    pub oid: u32,
    pub table_oid: u32,
    pub name: String,
    pub definition: String,
    pub enabled: char,
}

/// A row-level security policy.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Policy {
    pub oid: u32,
    pub table_oid: u32,
    pub name: String,
    pub permissive: bool,
    /// `r`, `a`, `w`, `d` or `*`.
    pub command: char,
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

/// An extended statistics object (`CREATE STATISTICS`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Statistic {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub table_oid: u32,
    pub definition: String,
    pub stat_target: Option<i32>,
}

/// The name PostgreSQL gives a constraint it names itself (its `makeObjectName`): `a_b_label`,
/// the longer of `a` and `b` shortened a byte at a time until the whole fits in 63 bytes,
/// never splitting a character. Used to tell a default name from a chosen one.
pub fn default_constraint_name(a: &str, b: &str, label: &str) -> String {
    const NAME_BYTES: usize = 63;
    let avail = NAME_BYTES.saturating_sub(label.len() + 2);
    let (mut n1, mut n2) = (a.len(), b.len());
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let clip = |s: &'_ str, mut n: usize| -> String {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    format!("{}_{}_{label}", clip(a, n1), clip(b, n2))
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_constraint_names_are_cut_as_the_server_cuts_them() {
        assert_eq!(
            default_constraint_name("t", "id", "not_null"),
            "t_id_not_null"
        );
        // Seen on 18: the longer part loses bytes first.
        assert_eq!(
            default_constraint_name(
                "artist_attribute_type_allowed_value",
                "artist_attribute_type",
                "not_null"
            ),
            "artist_attribute_type_allowed_va_artist_attribute_type_not_null"
        );
        let long = "é".repeat(40);
        let n = default_constraint_name(&long, "c", "not_null");
        assert!(n.len() <= 63 && n.ends_with("_c_not_null"));
    }
    use super::*;

    /// The sizes the memory work settled on (64-bit targets): a field added to one of these
    /// structs costs its size once per object, hundreds of thousands of times at 100,000
    /// tables, so growing them should be a decision (rare fields go into the `extra` boxes).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn per_object_structs_stay_small() {
        assert_eq!(std::mem::size_of::<Table>(), 144);
        assert_eq!(std::mem::size_of::<Column>(), 88);
        assert_eq!(std::mem::size_of::<Index>(), 112);
        assert_eq!(std::mem::size_of::<Constraint>(), 120);
    }

    #[test]
    fn extras_are_boxed_only_when_set() {
        let mut ix = Index {
            oid: 1,
            schema: "s".into(),
            name: "i".into(),
            table_oid: 2,
            definition: "CREATE INDEX i ON s.t USING btree (a)".into(),
            constraint_oid: None,
            is_valid: true,
            is_clustered: false,
            is_replica_identity: false,
            is_partitioned: false,
            parts: Box::default(),
            extra: None,
        };
        ix.set_extra(IndexExtra::default());
        assert!(ix.extra.is_none());
        assert!(ix.extra().reloptions.is_empty());
        ix.set_extra(IndexExtra {
            reloptions: vec!["fillfactor=70".into()],
            ..Default::default()
        });
        assert_eq!(ix.extra().reloptions, ["fillfactor=70"]);

        let mut t = Table {
            oid: 2,
            schema: "s".into(),
            name: "t".into(),
            relkind: 'r',
            persistence: 'p',
            columns: vec![],
            replica_identity: 'd',
            rls_enabled: false,
            rls_forced: false,
            owner: "o".into(),
            est_rows: 0.0,
            size_bytes: 0,
            extra: None,
        };
        t.set_extra(TableExtra::default());
        assert!(t.extra.is_none() && !t.is_partition());
        t.set_extra(TableExtra {
            partition_of: Some((3, "DEFAULT".into())),
            ..Default::default()
        });
        assert!(t.is_partition());
    }
}
