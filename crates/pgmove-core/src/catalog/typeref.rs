//! Type references outside columns (a function's argument and result, a typed table's type, a
//! range's subtype, a cast's source and target, an operator's operands, an aggregate's
//! argument and state types) read as [`ColumnType`] values: the type's OID, schema, name,
//! kind and array dimensions as data, with `format_type(oid, NULL)` beside for the renderers.
//!
//! A reader adds a [`TypeCols`]'s [`TypeCols::select`] to its SELECT list and its
//! [`TypeCols::joins`] to its FROM clause, then takes the value from each row with
//! [`TypeCols::read`]. This module never renders SQL for the target and never looks inside the
//! text `format_type` printed.

use super::ch;
use super::row::Row;
use crate::model::ColumnType;

/// The columns of one type reference in a query, named after `prefix` (which must be unique
/// in its query and usable as an SQL alias): `{prefix}_oid`, `{prefix}_schema`,
/// `{prefix}_name`, `{prefix}_kind`, `{prefix}_array`, and `{prefix}` for the rendered text.
/// Build one with [`type_cols!`].
pub(super) struct TypeCols {
    pub prefix: &'static str,
    pub oid: &'static str,
    pub schema: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub array: &'static str,
}

/// The [`TypeCols`] named after a string literal.
macro_rules! type_cols {
    ($p:literal) => {
        $crate::catalog::typeref::TypeCols {
            prefix: $p,
            oid: concat!($p, "_oid"),
            schema: concat!($p, "_schema"),
            name: concat!($p, "_name"),
            kind: concat!($p, "_kind"),
            array: concat!($p, "_array"),
        }
    };
}
pub(super) use type_cols;

impl TypeCols {
    /// The SELECT-list entries, read from the tables [`TypeCols::joins`] adds. An array's
    /// schema, name and kind are its element type's, as `format_type` decides what is an array
    /// (a varlena type with an element, not stored plain); all are NULL when no type matched.
    pub(super) fn select(&self) -> String {
        let p = self.prefix;
        format!(
            "{p}_t.oid AS {p}_oid, COALESCE({p}_etn.nspname, {p}_tn.nspname)::text AS {p}_schema,
             COALESCE({p}_et.typname, {p}_t.typname)::text AS {p}_name,
             COALESCE({p}_et.typtype, {p}_t.typtype) AS {p}_kind,
             {p}_et.oid IS NOT NULL AS {p}_array, format_type({p}_t.oid, NULL) AS {p}"
        )
    }

    /// Left joins of `pg_type` and `pg_namespace` for the type whose OID is the SQL expression
    /// `oid` (0 or NULL for none). Joins, not a subquery per row: the planner may hash them.
    pub(super) fn joins(&self, oid: &str) -> String {
        let p = self.prefix;
        format!(
            "LEFT JOIN pg_type {p}_t ON {p}_t.oid = {oid}
             LEFT JOIN pg_namespace {p}_tn ON {p}_tn.oid = {p}_t.typnamespace
             LEFT JOIN pg_type {p}_et ON {p}_et.oid = {p}_t.typelem AND {p}_t.typlen = -1
               AND {p}_t.typstorage <> 'p'
             LEFT JOIN pg_namespace {p}_etn ON {p}_etn.oid = {p}_et.typnamespace"
        )
    }

    /// The type of row `r`, None when it names none. A reference outside a column has no
    /// modifier, and an array has one dimension.
    pub(super) fn read(&self, r: &Row) -> Option<ColumnType> {
        let oid: u32 = r.get::<_, Option<u32>>(self.oid)?;
        Some(ColumnType {
            oid,
            schema: r.text(self.schema),
            name: r.text(self.name),
            kind: ch(r, self.kind),
            typmod: -1,
            dims: i16::from(r.get::<_, bool>(self.array)),
            rendered: r.text(self.prefix),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_named_after_the_prefix() {
        let c = type_cols!("left");
        assert_eq!(
            [c.prefix, c.oid, c.schema, c.name, c.kind, c.array],
            [
                "left",
                "left_oid",
                "left_schema",
                "left_name",
                "left_kind",
                "left_array"
            ]
        );
    }
}
