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

pub use acl::{
    acl_grantees, acl_roles, public_schema_acl_roles, render_acl, render_default_privileges,
    render_public_schema_acl, render_system_acl,
};

use crate::model::{Catalog, CompactString, ObjRef};
use serde::Serialize;
use std::sync::Arc;

/// An `Arc<str>` as the string it is (serde's `rc` feature is not on).
fn serialize_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

/// How far back [`share_schema`] looks for an item of the same schema.
const SHARE_LOOKBACK: usize = 8;

/// Give `item` the schema string of one of the last items of `items` with the same schema,
/// when there is one. Renderers emit the items of one schema one after another, so nearly all
/// items of a schema end up sharing one string. Looks only at `items`: never at state kept
/// between calls.
fn share_schema(items: &[Item], item: &mut Item) {
    if let Some(p) = items
        .iter()
        .rev()
        .take(SHARE_LOOKBACK)
        .find(|p| *p.schema == *item.schema)
    {
        item.schema = Arc::clone(&p.schema);
    }
}

/// `SELECT setval(…)` for every sequence whose state is known, identity ones included.
/// Re-running them is harmless: setval sets, it does not add.
pub fn setval_items(cat: &Catalog, margin: i64) -> Vec<Item> {
    let mut items = sequences::setval_items(cat, margin);
    for i in 1..items.len() {
        let (done, rest) = items.split_at_mut(i);
        share_schema(done, &mut rest[0]);
    }
    items
}

/// Kinds of items in the order they are emitted when nothing else decides (lower first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Kind {
    Schema,
    Language,
    Extension,
    Collation,
    ShellType,
    Type,
    Function,
    Aggregate,
    AccessMethod,
    Operator,
    OperatorFamily,
    OperatorClass,
    Cast,
    Transform,
    Conversion,
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
    /// A function whose body (`BEGIN ATOMIC`) or a materialized view whose query relies on a
    /// primary key, unique or exclusion constraint, as a `GROUP BY` may: created once the key
    /// is there, as pg_dump does (with the materialized view's indexes).
    PostponedDefinition,
    Rule,
    Trigger,
    /// The enabled state of a partition's clone of its parent's trigger, where it differs:
    /// once every trigger exists (the clone comes with the parent's).
    TriggerState,
    ForeignKey,
    Policy,
    /// `VALIDATE CONSTRAINT` of a foreign key added `NOT VALID` (`--fk-not-valid`).
    ValidateConstraint,
    Publication,
    Subscription,
    /// `ALTER DEFAULT PRIVILEGES`: last, as in pg_dump, so that objects the migration creates
    /// do not pick up default grants they did not have on the source.
    DefaultPrivileges,
    EventTrigger,
    /// `REFRESH MATERIALIZED VIEW` of a matview populated on the source: last, as in pg_dump,
    /// after its indexes (and after the matviews it reads).
    MatviewRefresh,
    // ---- data-state ----
    SequenceSet,
}

impl Kind {
    /// Whether the kind belongs to post-data (after the rows are loaded).
    pub fn is_post_data(self) -> bool {
        self >= Kind::Constraint && self != Kind::SequenceSet
    }
}

/// A few catalog objects, the first one held inline: nearly every item creates one object and
/// follows at most one, so most items need no heap allocation for them.
pub type ObjRefs = smallvec::SmallVec<[ObjRef; 1]>;

/// One object's statements, ready to order and apply.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Item {
    pub kind: Kind,
    /// What it is, for messages and progress: e.g. `table public.film`.
    pub name: CompactString,
    /// Schema, for filters and sorting. The items of one schema share one string (see
    /// `share_schema`), which lets sorting compare pointers before text.
    #[serde(serialize_with = "serialize_str")]
    pub schema: Arc<str>,
    /// The statements, each ending in `;` and a newline.
    pub sql: String,
    /// Catalog objects this item creates.
    pub provides: ObjRefs,
    /// Catalog objects it must follow beyond what `pg_depend` says.
    pub after: ObjRefs,
    /// The table it acts on (post-data scheduling: locks and sizes).
    pub table: Option<u32>,
    /// Where the first statement of `sql` splits into parts, for the post-data applier to
    /// recombine (several constraints of a table in one `ALTER TABLE`, a key's index built
    /// apart). `sql` stays the one-statement-per-object form that scripts print. Set with
    /// [`Item::set_lead`], read with [`Item::lead`] and [`Item::split`].
    pub lead: Option<LeadAt>,
}

/// Where an item's lead lies in its `sql`: the lengths of its parts, which are the text's own
/// beginning. Not copies of the parts: they would double the memory of the SQL text for what
/// only the post-data applier reads, and only on some tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadAt {
    /// Length of the `ALTER TABLE …` head; 0 for a `CREATE INDEX` (which has none).
    head: u32,
    /// Length of the subcommand, or of the `CREATE INDEX` statement. Never zero, and that
    /// unused zero keeps `Option<LeadAt>` as small as `LeadAt`.
    cmd: std::num::NonZeroU32,
    /// What a key's lead carries beyond its text (boxed: most leads have none).
    key: Option<Box<KeyLead>>,
}

/// A key's `USING INDEX` form (its text is not in `sql`, so it is kept apart) and, for a
/// primary key, its table and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct KeyLead {
    using_index: Option<UsingIndex>,
    primary_key: Option<PrimaryKey>,
}

/// An item's lead as it stands in its `sql` ([`Item::lead`]): [`Lead`] with borrowed parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadRef<'a> {
    /// `{head}\n    {cmd};\n`: see [`Lead::AlterTable`].
    AlterTable {
        head: &'a str,
        cmd: &'a str,
        using_index: Option<&'a UsingIndex>,
        primary_key: Option<&'a PrimaryKey>,
    },
    /// `{create};\n`: see [`Lead::CreateIndex`].
    CreateIndex { create: &'a str },
}

/// The first statement of a post-data item, in parts.
///
/// Server work per statement is what post-data spends on many small tables, so the applier
/// sends the subcommands of one table as one `ALTER TABLE`; and on a big table it builds a
/// key's index alongside the table's other index builds. Both need the statement in parts,
/// which the renderer knows and the SQL text would only give back through parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Lead {
    /// `{head}\n    {cmd};\n`: one subcommand of `ALTER TABLE`. Items whose heads are equal
    /// (same table, same `ONLY`) can share one statement.
    AlterTable {
        /// `ALTER TABLE ONLY public.t` (or without `ONLY` where it cannot apply).
        head: String,
        /// `ADD CONSTRAINT t_pkey PRIMARY KEY (id)`.
        cmd: String,
        /// For a primary key or unique constraint whose index can be built first.
        using_index: Option<UsingIndex>,
        /// For a primary key: what it is, so a resumed run can tell it is there already.
        primary_key: Option<PrimaryKey>,
    },
    /// `{create};\n`: an index build (`CREATE INDEX` takes a SHARE lock on its table, which
    /// does not conflict with other builds on that table).
    CreateIndex { create: String },
}

/// A primary key or unique constraint as two statements: its index, built like any other
/// (SHARE lock, alongside the table's other builds), then `ALTER TABLE … ADD CONSTRAINT …
/// USING INDEX`, which only attaches it. The index is created under the constraint's name, so
/// the attachment renames nothing and the catalog ends as with `ADD CONSTRAINT … PRIMARY KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsingIndex {
    /// `CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)`, without `;`.
    pub create: String,
    /// `ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey`, with `DEFERRABLE …` if so.
    pub cmd: String,
    /// A primary key on a table with parents (inheritance or partitioning), whose columns' NOT
    /// NULL constraints may be inherited: PostgreSQL 18 makes them local too when `ADD PRIMARY
    /// KEY … USING INDEX` covers them (the plain `ADD PRIMARY KEY` leaves them inherited), so
    /// on an 18+ target such a key keeps the plain form.
    pub inherited_not_null: bool,
}

/// The primary key an `ADD CONSTRAINT` adds, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrimaryKey {
    /// The table, qualified and quoted as `regclass` reads it.
    pub table: String,
    /// The constraint's name.
    pub name: String,
}

impl Lead {
    /// The statement as it begins the item's `sql`.
    pub fn sql(&self) -> String {
        let mut sql = String::new();
        self.write(&mut sql);
        sql
    }

    /// Append [`Lead::sql`] to `out`.
    fn write(&self, out: &mut String) {
        match self {
            Lead::AlterTable { head, cmd, .. } => {
                out.push_str(head);
                out.push_str("\n    ");
                out.push_str(cmd);
            }
            Lead::CreateIndex { create } => out.push_str(create),
        }
        out.push_str(";\n");
    }

    /// The lengths of the parts, keeping only the `USING INDEX` form's text; `None` when a
    /// part is empty (0 means "no head") or over 4 GB, which no renderer makes: such an item
    /// is applied whole, as one whose `sql` no longer begins with its lead.
    fn at(self) -> Option<LeadAt> {
        let len = |s: &str| std::num::NonZeroU32::new(u32::try_from(s.len()).ok()?);
        Some(match self {
            Lead::AlterTable {
                head,
                cmd,
                using_index,
                primary_key,
            } => LeadAt {
                head: len(&head)?.get(),
                cmd: len(&cmd)?,
                key: (using_index.is_some() || primary_key.is_some()).then(|| {
                    Box::new(KeyLead {
                        using_index,
                        primary_key,
                    })
                }),
            },
            Lead::CreateIndex { create } => LeadAt {
                head: 0,
                cmd: len(&create)?,
                key: None,
            },
        })
    }
}

impl Item {
    fn new(kind: Kind, name: String, schema: &str, sql: String) -> Item {
        Item {
            kind,
            name: name.into(),
            schema: Arc::from(schema),
            sql,
            provides: ObjRefs::new(),
            after: ObjRefs::new(),
            table: None,
            lead: None,
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

    /// The item's lead, when it has one and `sql` still begins with it (code that rewrites
    /// `sql` without the lead only loses the recombining, never statements).
    pub fn lead(&self) -> Option<LeadRef<'_>> {
        self.split().map(|(lead, _)| lead)
    }

    /// The lead and the statements after it (comments, `CLUSTER ON`…), when the item has a
    /// lead and `sql` still begins with it.
    pub fn split(&self) -> Option<(LeadRef<'_>, &str)> {
        let at = self.lead.as_ref()?;
        let (head, cmd) = (at.head as usize, at.cmd.get() as usize);
        if head == 0 {
            let create = self.sql.get(..cmd)?;
            let rest = self.sql[cmd..].strip_prefix(";\n")?;
            return Some((LeadRef::CreateIndex { create }, rest));
        }
        let h = self.sql.get(..head)?;
        let after = self.sql[head..].strip_prefix("\n    ")?;
        let c = after.get(..cmd)?;
        let rest = after[cmd..].strip_prefix(";\n")?;
        let lead = LeadRef::AlterTable {
            head: h,
            cmd: c,
            using_index: at.key.as_ref().and_then(|k| k.using_index.as_ref()),
            primary_key: at.key.as_ref().and_then(|k| k.primary_key.as_ref()),
        };
        Some((lead, rest))
    }

    /// Make `sql` the lead's statement followed by `rest`, and remember the lead's parts.
    pub fn set_lead(&mut self, lead: Lead, rest: &str) {
        self.sql.clear();
        lead.write(&mut self.sql);
        self.sql.push_str(rest);
        self.lead = lead.at();
    }

    /// Replace the lead, keeping the statements after it; false (and nothing changed) when
    /// the item has no lead that begins its `sql`.
    pub fn replace_lead(&mut self, lead: Lead) -> bool {
        let Some((_, rest)) = self.split() else {
            return false;
        };
        let rest = rest.to_string();
        self.set_lead(lead, &rest);
        true
    }
}

/// Choices that change what is rendered (pg_dump's `-O` and `-x` and their opposites).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Options {
    /// Emit `ALTER … OWNER TO` (off by default, as `pg_dump -O`).
    pub owners: bool,
    /// Emit GRANT/REVOKE and default privileges (on by default; `-x` turns it off).
    pub privileges: bool,
    /// The `server_version_num` of the server the SQL is for, where versions spell one
    /// object differently; `None`: the catalog's own (a target of that version or later).
    /// Validation sets it so that a catalog before 18 and one of 18 render alike.
    pub target_version: Option<i32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            owners: false,
            privileges: true,
            target_version: None,
        }
    }
}

/// Every item of the schema, pre-data and post-data, unordered.
pub fn all(cat: &Catalog, opts: &Options) -> Vec<Item> {
    // About one item per object (a sequence has two: itself and its OWNED BY), reserved at
    // once: grown by doubling, the vector would briefly hold its old and new buffers.
    let mut items = Vec::with_capacity(object_count(cat) + cat.sequences.len());
    schemas::render(cat, opts, &mut items);
    types::render(cat, opts, &mut items);
    routines::render(cat, opts, &mut items);
    sequences::render(cat, opts, &mut items);
    relations::render(cat, opts, &mut items);
    postdata::render(cat, opts, &mut items);
    security_labels(cat, &mut items);
    items.shrink_to_fit();
    items
}

/// Add a finished item. Statements are built by appending, so a string's capacity can be up to
/// twice its length: trimmed here, one item at a time, the slack never adds up (trimmed only at
/// the end, it would all be held at once at the peak).
fn push(items: &mut Vec<Item>, mut item: Item) {
    item.sql.shrink_to_fit();
    share_schema(items, &mut item);
    items.push(item);
}

/// How many objects the model holds (not columns or dependencies).
fn object_count(cat: &Catalog) -> usize {
    cat.schemas.len()
        + cat.extensions.len()
        + cat.collations.len()
        + cat.types.len()
        + cat.functions.len()
        + cat.aggregates.len()
        + cat.operators.len()
        + cat.access_methods.len()
        + cat.operator_families.len()
        + cat.operator_classes.len()
        + cat.casts.len()
        + cat.text_search_configs.len()
        + cat.text_search_dicts.len()
        + cat.text_search_parts.len()
        + cat.languages.len()
        + cat.transforms.len()
        + cat.conversions.len()
        + cat.foreign_data_wrappers.len()
        + cat.foreign_servers.len()
        + cat.sequences.len()
        + cat.tables.len()
        + cat.views.len()
        + cat.indexes.len()
        + cat.constraints.len()
        + cat.triggers.len()
        + cat.rules.len()
        + cat.policies.len()
        + cat.statistics.len()
        + cat.event_triggers.len()
        + cat.publications.len()
        + cat.subscriptions.len()
        + cat.default_privileges.len()
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
    let mut items = all(cat, opts);
    items.retain(|i| !i.kind.is_post_data());
    items
}

/// Everything pg_dump puts in `--section=post-data`.
pub fn post_data(cat: &Catalog, opts: &Options) -> Vec<Item> {
    let mut items = all(cat, opts);
    items.retain(|i| i.kind.is_post_data());
    items
}

/// `COMMENT ON <what> IS '…';` when the object has a comment. `what` is built only then: most
/// objects have none, and every table built one per column to throw it away.
fn comment(cat: &Catalog, class: u32, oid: u32, sub: i32, what: impl FnOnce() -> String) -> String {
    match cat.comment(class, oid, sub) {
        Some(c) => format!("COMMENT ON {} IS {};\n", what(), crate::quote::literal(c)),
        None => String::new(),
    }
}

/// `ALTER <kind> <name> OWNER TO <owner>;` when owners are kept (`what` is built only then).
fn owner(opts: &Options, what: impl FnOnce() -> String, owner: &str) -> String {
    if opts.owners {
        format!(
            "ALTER {} OWNER TO {};\n",
            what(),
            crate::quote::ident(owner)
        )
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
    format!(
        " OPTIONS (\n    {}\n)",
        fdw_option_list(options).join(",\n    ")
    )
}

/// Each of `{k=v}` FDW options as `k 'v'`, quoted.
fn fdw_option_list(options: &[String]) -> Vec<String> {
    options
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap_or((o, ""));
            format!("{} {}", crate::quote::ident(k), crate::quote::literal(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{class, SecurityLabel};

    #[test]
    fn a_lead_is_read_back_from_the_sql_it_begins() {
        let mut it = Item::new(Kind::Constraint, "c".into(), "public", String::new());
        let using = UsingIndex {
            create: "CREATE UNIQUE INDEX k ON public.t USING btree (a)".into(),
            cmd: "ADD CONSTRAINT k UNIQUE USING INDEX k".into(),
            inherited_not_null: false,
        };
        let lead = Lead::AlterTable {
            head: "ALTER TABLE ONLY public.t".into(),
            cmd: "ADD CONSTRAINT k UNIQUE (a)".into(),
            using_index: Some(using.clone()),
            primary_key: None,
        };
        it.set_lead(
            lead.clone(),
            "COMMENT ON CONSTRAINT k ON public.t IS 'x';\n",
        );
        assert_eq!(
            it.split(),
            Some((
                LeadRef::AlterTable {
                    head: "ALTER TABLE ONLY public.t",
                    cmd: "ADD CONSTRAINT k UNIQUE (a)",
                    using_index: Some(&using),
                    primary_key: None,
                },
                "COMMENT ON CONSTRAINT k ON public.t IS 'x';\n"
            ))
        );
        assert!(it.sql.starts_with(&lead.sql()));
        let pk = PrimaryKey {
            table: "public.t".into(),
            name: "t_pkey".into(),
        };
        it.set_lead(
            Lead::AlterTable {
                head: "ALTER TABLE ONLY public.t".into(),
                cmd: "ADD CONSTRAINT t_pkey PRIMARY KEY (a)".into(),
                using_index: None,
                primary_key: Some(pk.clone()),
            },
            "",
        );
        assert!(matches!(
            it.lead(),
            Some(LeadRef::AlterTable { using_index: None, primary_key: Some(p), .. }) if *p == pk
        ));

        let create = "CREATE INDEX i ON public.t USING btree (b)";
        it.set_lead(
            Lead::CreateIndex {
                create: create.into(),
            },
            "",
        );
        assert_eq!(it.split(), Some((LeadRef::CreateIndex { create }, "")));

        // An empty part makes no lead rather than a wrong one.
        it.set_lead(
            Lead::CreateIndex {
                create: String::new(),
            },
            "",
        );
        assert_eq!((it.sql.as_str(), it.lead()), (";\n", None));

        assert_eq!(
            std::mem::size_of::<Option<LeadAt>>(),
            std::mem::size_of::<LeadAt>()
        );
    }

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
