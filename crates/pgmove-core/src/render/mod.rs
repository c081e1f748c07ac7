//! Renderers: pure functions from the [`Catalog`] model to SQL text for the target.
//!
//! Like pg_dump's `dumpX` functions, each renderer writes the statements for one kind of object
//! and never queries a server. What they produce is a list of [`Item`]s: one object's statements,
//! what catalog objects it creates (so [`crate::sort`] can order it by `pg_depend`), and its
//! [`Kind`], whose order is the tie-breaking priority (pg_dump_sort's `dbObjectTypePriority`).

mod acl;
mod postdata;
mod relations;
mod routines;
mod schemas;
mod sequences;
mod types;

pub use acl::{acl_grantees, render_acl, render_default_privileges, render_public_schema_acl};
pub use sequences::setval_items;

use crate::model::{Catalog, ObjRef};
use serde::Serialize;

/// Kinds of items in the order they are emitted when nothing else decides (lower first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Schema,
    Extension,
    Collation,
    ShellType,
    Type,
    Function,
    Aggregate,
    Operator,
    Cast,
    TextSearch,
    ForeignDataWrapper,
    ForeignServer,
    Sequence,
    Table,
    View,
    TableAttach,
    /// The real definition of a view that selects from itself (created first as a dummy).
    ViewRedefinition,
    Default,
    SequenceOwnedBy,
    Acl,
    // ---- post-data ----
    Constraint,
    Index,
    IndexAttach,
    Statistics,
    /// A view's real definition, when it needs a post-data constraint (a `GROUP BY` that relies
    /// on a primary key): pre-data creates a dummy with the same columns, as pg_dump does.
    ViewDefinition,
    Rule,
    Trigger,
    ForeignKey,
    Policy,
    /// `VALIDATE CONSTRAINT` of a foreign key added `NOT VALID` (`--fk-not-valid`).
    ValidateConstraint,
    Publication,
    /// `ALTER DEFAULT PRIVILEGES`: last, as in pg_dump, so that objects the migration creates
    /// do not pick up default grants they did not have on the source.
    DefaultPrivileges,
    EventTrigger,
    // ---- data-state ----
    SequenceSet,
}

impl Kind {
    /// Whether the kind belongs to post-data (after the rows are loaded).
    pub fn is_post_data(self) -> bool {
        self >= Kind::Constraint && self != Kind::SequenceSet
    }
}

/// One object's statements, ready to order and apply.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub kind: Kind,
    /// What it is, for messages and progress: e.g. `table public.film`.
    pub name: String,
    /// Schema, for filters and sorting.
    pub schema: String,
    /// The statements, each ending in `;` and a newline.
    pub sql: String,
    /// Catalog objects this item creates.
    pub provides: Vec<ObjRef>,
    /// Catalog objects it must follow beyond what `pg_depend` says.
    pub after: Vec<ObjRef>,
    /// The table it acts on (post-data scheduling: locks and sizes).
    pub table: Option<u32>,
}

impl Item {
    fn new(kind: Kind, name: String, schema: &str, sql: String) -> Item {
        Item {
            kind,
            name,
            schema: schema.to_string(),
            sql,
            provides: Vec::new(),
            after: Vec::new(),
            table: None,
        }
    }
    fn provides(mut self, r: ObjRef) -> Item {
        self.provides.push(r);
        self
    }
    fn after(mut self, r: ObjRef) -> Item {
        self.after.push(r);
        self
    }
    fn on_table(mut self, oid: u32) -> Item {
        self.table = Some(oid);
        self
    }
}

/// Choices that change what is rendered (pg_dump's `-O` and `-x` and their opposites).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Emit `ALTER … OWNER TO` (off by default, as `pg_dump -O`).
    pub owners: bool,
    /// Emit GRANT/REVOKE and default privileges (on by default; `-x` turns it off).
    pub privileges: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            owners: false,
            privileges: true,
        }
    }
}

/// Every item of the schema, pre-data and post-data, unordered.
pub fn all(cat: &Catalog, opts: &Options) -> Vec<Item> {
    let mut items = Vec::new();
    schemas::render(cat, opts, &mut items);
    types::render(cat, opts, &mut items);
    routines::render(cat, opts, &mut items);
    sequences::render(cat, opts, &mut items);
    relations::render(cat, opts, &mut items);
    postdata::render(cat, opts, &mut items);
    security_labels(cat, &mut items);
    items
}

/// `SECURITY LABEL`s travel inside the item of the object they label (a column's with its
/// table), so they follow it through ordering and filters.
fn security_labels(cat: &Catalog, items: &mut [Item]) {
    for l in &cat.security_labels {
        let target = ObjRef::new(l.class, l.oid);
        if let Some(it) = items.iter_mut().find(|i| i.provides.contains(&target)) {
            it.sql += &format!(
                "SECURITY LABEL FOR {} ON {} {} IS {};\n",
                crate::quote::ident(&l.provider),
                l.objtype.to_uppercase(),
                l.objname,
                crate::quote::literal(&l.label)
            );
        }
    }
}

/// Everything pg_dump puts in `--section=pre-data`.
pub fn pre_data(cat: &Catalog, opts: &Options) -> Vec<Item> {
    all(cat, opts)
        .into_iter()
        .filter(|i| !i.kind.is_post_data())
        .collect()
}

/// Everything pg_dump puts in `--section=post-data`.
pub fn post_data(cat: &Catalog, opts: &Options) -> Vec<Item> {
    all(cat, opts)
        .into_iter()
        .filter(|i| i.kind.is_post_data())
        .collect()
}

/// `COMMENT ON <what> IS '…';` when the object has a comment.
fn comment(cat: &Catalog, class: u32, oid: u32, sub: i32, what: &str) -> String {
    match cat.comment(class, oid, sub) {
        Some(c) => format!("COMMENT ON {what} IS {};\n", crate::quote::literal(c)),
        None => String::new(),
    }
}

/// `ALTER <kind> <name> OWNER TO <owner>;` when owners are kept.
fn owner(opts: &Options, what: &str, owner: &str) -> String {
    if opts.owners {
        format!("ALTER {what} OWNER TO {};\n", crate::quote::ident(owner))
    } else {
        String::new()
    }
}

/// `(a = b, c)` options list for `CREATE TYPE`/`AGGREGATE`/`OPERATOR`.
fn option_list(options: &[(String, String)]) -> String {
    let parts: Vec<String> = options
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                format!("    {k}")
            } else {
                format!("    {k} = {v}")
            }
        })
        .collect();
    format!("(\n{}\n)", parts.join(",\n"))
}

/// `OPTIONS (k 'v', …)` from `{k=v}` text arrays of FDW options.
fn fdw_options(options: &[String]) -> String {
    if options.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = options
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap_or((o, ""));
            format!("{} {}", crate::quote::ident(k), crate::quote::literal(v))
        })
        .collect();
    format!(" OPTIONS (\n    {}\n)", parts.join(",\n    "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{class, SecurityLabel};

    #[test]
    fn security_labels_go_with_their_object() {
        let cat = Catalog {
            security_labels: vec![SecurityLabel {
                class: class::PG_CLASS,
                oid: 7,
                objtype: "column".into(),
                objname: "public.\"T\".secret".into(),
                provider: "selinux".into(),
                label: "system_u:object_r:sepgsql_secret_table_t:s0".into(),
            }],
            ..Default::default()
        };
        let mut items = vec![Item::new(
            Kind::Table,
            "table public.\"T\"".into(),
            "public",
            String::new(),
        )
        .provides(ObjRef::new(class::PG_CLASS, 7))];
        security_labels(&cat, &mut items);
        assert_eq!(
            items[0].sql,
            "SECURITY LABEL FOR selinux ON COLUMN public.\"T\".secret IS 'system_u:object_r:sepgsql_secret_table_t:s0';\n"
        );
    }
}
