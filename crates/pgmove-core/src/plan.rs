//! Steps of a migration as plans: the ordered items of `schema`, `sequences` or `post-data`,
//! and the checks a target must pass before a plan runs on it.
//!
//! This is the library's front door: read a [`Catalog`] with [`crate::catalog::read`], make a
//! [`Plan`] with [`plan`], then either write it ([`crate::apply::write_script`]) or check and
//! apply it on a target ([`check_target`], [`crate::apply`]).
//!
//! ```no_run
//! # async fn demo() -> pgmove_core::Result<()> {
//! use pgmove_core::{catalog, conn, plan};
//! let source = conn::connect(&"postgres://app@old-db/app".parse()?).await?;
//! let target = conn::connect(&"postgres://app@new-db/app".parse()?).await?;
//! let cat = catalog::read(&source).await?;
//! let p = plan::plan(&cat, plan::Step::Schema, &Default::default());
//! plan::check_target(&target, &cat, &p).await?;
//! pgmove_core::apply::apply_in_transaction(&target, &p.items, |_, _, _| {}).await?;
//! # Ok(()) }
//! ```

use crate::filter::Filter;
use crate::model::{class, Catalog, CompactString, ObjRef};
use crate::render::{self, Item, Lead, LeadRef};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap, HashSet};
use tokio_postgres::Client;

/// Which part of the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Pre-data: everything before the rows (`pg_dump --section=pre-data`).
    Schema,
    /// Sequence states, moved `margin` steps further in their direction.
    Sequences { margin: i64 },
    /// Post-data: keys, indexes, triggers… (`pg_dump --section=post-data`).
    PostData,
}

/// The ordered items of one step, with the warnings met while ordering them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub step: Step,
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
    /// The roles the items' `GRANT` and `REVOKE` statements name (never PUBLIC).
    pub roles: BTreeSet<String>,
}

/// Render and order one step, for the whole database.
pub fn plan(cat: &Catalog, step: Step, opts: &render::Options) -> Plan {
    plan_with(cat, step, opts, &Filter::default())
}

/// Render and order one step for what `filter` selects. Every step filters the same full set
/// of items, so `schema`, `sequences` and `post-data` of one filter always agree.
pub fn plan_with(cat: &Catalog, step: Step, opts: &render::Options, filter: &Filter) -> Plan {
    let margin = match step {
        Step::Sequences { margin } => margin,
        _ => 0,
    };
    let mut items = render::all(cat, opts);
    items.extend(render::setval_items(cat, margin));
    let in_step = |k: render::Kind| match step {
        Step::Schema => !k.is_post_data() && k != render::Kind::SequenceSet,
        Step::Sequences { .. } => k == render::Kind::SequenceSet,
        Step::PostData => k.is_post_data(),
    };
    let (items, left_out) = filter.apply(cat, items);
    let mut warnings: Vec<String> = left_out
        .into_iter()
        .filter(|(k, _)| in_step(*k))
        .map(|(_, w)| w)
        .collect();
    // What the other steps create, so that ordering never takes it for its owner (a check
    // added in post-data for the table it is on).
    let (items, others): (Vec<Item>, Vec<Item>) = items.into_iter().partition(|i| in_step(i.kind));
    let elsewhere = others
        .iter()
        .flat_map(|i| i.provides.iter().copied())
        .collect();
    drop(others);
    let (items, sort_warnings) = crate::sort::order_step(cat, items, &elsewhere);
    warnings.extend(sort_warnings);
    let roles = match opts.privileges {
        true => roles_named(cat, &items),
        false => BTreeSet::new(),
    };
    Plan {
        step,
        items,
        warnings,
        roles,
    }
}

/// Add foreign keys `NOT VALID` and validate them at the end: the add is instant and the long
/// scan runs under `VALIDATE CONSTRAINT`, whose lock lets reads and writes go on. `cat` is the
/// catalog `plan` was made from: it names the constraints.
pub fn fk_not_valid(plan: &mut Plan, cat: &Catalog) {
    // Foreign keys the source holds valid: one NOT VALID there stays as it is.
    let names: HashMap<u32, &str> = cat
        .constraints
        .iter()
        .filter(|c| c.contype == 'f' && c.validated)
        .map(|c| (c.oid, c.name.as_str()))
        .collect();
    // Items a run before already split (their validations are named after them).
    let split: HashSet<CompactString> = plan
        .items
        .iter()
        .filter(|i| i.kind == render::Kind::ValidateConstraint)
        .map(|i| i.name.clone())
        .collect();
    let mut validations = Vec::new();
    for it in plan
        .items
        .iter_mut()
        .filter(|i| i.kind == render::Kind::ForeignKey)
    {
        if split.contains(&validation_name(&it.name)) {
            continue;
        }
        let Some((LeadRef::AlterTable { head, cmd, .. }, _)) = it.split() else {
            continue;
        };
        let Some(cname) = it
            .provides
            .iter()
            .find(|r| r.class == class::PG_CONSTRAINT)
            .and_then(|r| names.get(&r.oid))
        else {
            continue;
        };
        let cname = crate::quote::ident(cname);
        let (head, cmd) = (head.to_string(), cmd.to_string());
        let mut v = it.clone();
        v.kind = render::Kind::ValidateConstraint;
        v.name = validation_name(&it.name);
        let validate = Lead::AlterTable {
            head: head.clone(),
            cmd: format!("VALIDATE CONSTRAINT {cname}"),
            using_index: None,
            primary_key: None,
        };
        v.set_lead(validate, "");
        v.provides.clear();
        it.replace_lead(Lead::AlterTable {
            head,
            cmd: format!("{cmd} NOT VALID"),
            using_index: None,
            primary_key: None,
        });
        validations.push(v);
    }
    plan.items.extend(validations);
}

/// The name of the item that validates foreign key item `name`.
fn validation_name(name: &str) -> CompactString {
    compact_str::format_compact!("validate {name}")
}

/// Check that `plan` can run on `target` before anything is sent: for `schema`, that none of
/// the schemas, relations, types or functions it creates already exist (beyond what every new
/// database has), and that every role the plan's privileges name exists there.
pub async fn check_target(target: &Client, cat: &Catalog, plan: &Plan) -> Result<()> {
    if plan.step != Step::Schema {
        return Ok(());
    }
    if let Some(conflicts) = existing_objects(target, cat, plan).await? {
        return Err(Error::Conflict(conflicts));
    }
    if let Some(missing) = missing_roles(target, cat, plan).await? {
        return Err(Error::Invalid(missing));
    }
    Ok(())
}

/// What of `plan` already exists on `target`, as one line; `None` when nothing does.
pub(crate) async fn existing_objects(
    target: &Client,
    cat: &Catalog,
    plan: &Plan,
) -> Result<Option<String>> {
    let existing = target
        .query(
            "SELECT 'schema ' || quote_ident(nspname) FROM pg_namespace
              WHERE nspname <> 'public' AND nspname <> 'information_schema' AND nspname !~ '^pg_'
             UNION ALL
             SELECT 'relation ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
                AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c', 'i', 'I')
             UNION ALL
             SELECT 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
             UNION ALL
             SELECT 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname)
               FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
                AND t.typtype IN ('e', 'd', 'r', 'b')",
            &[],
        )
        .await
        .map_err(|e| Error::db(e, Some("checking the target".into()), None))?;
    let existing: BTreeSet<String> = existing.iter().map(|r| r.get(0)).collect();
    let wanted = planned_names(cat, plan);
    let conflicts: Vec<&String> = wanted.intersection(&existing).collect();
    if conflicts.is_empty() {
        return Ok(None);
    }
    let shown: Vec<String> = conflicts.iter().take(5).map(|s| s.to_string()).collect();
    let more = if conflicts.len() > 5 {
        format!(" and {} more", conflicts.len() - 5)
    } else {
        String::new()
    };
    Ok(Some(format!(
        "{} object(s) already exist on the target: {}{more}; use an empty database",
        conflicts.len(),
        shown.join(", ")
    )))
}

/// The roles `plan`'s privileges name that `target` lacks, as one line; `None` when none.
pub(crate) async fn missing_roles(
    target: &Client,
    _cat: &Catalog,
    plan: &Plan,
) -> Result<Option<String>> {
    let roles = &plan.roles;
    if roles.is_empty() {
        return Ok(None);
    }
    let list: Vec<String> = roles.iter().cloned().collect();
    let present = target
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1)",
            &[&list],
        )
        .await
        .map_err(|e| Error::db(e, Some("checking roles on the target".into()), None))?;
    let present: BTreeSet<String> = present.iter().map(|r| r.get(0)).collect();
    let missing: Vec<&str> = roles.difference(&present).map(String::as_str).collect();
    if missing.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "the target lacks role(s) that privileges name: {}; create them first, or use --no-privileges",
        missing.join(", ")
    )))
}

/// Names (in the form the target check prints) of what the plan creates.
fn planned_names(cat: &Catalog, plan: &Plan) -> BTreeSet<String> {
    use crate::quote::ident;
    let created: HashSet<ObjRef> = plan
        .items
        .iter()
        .flat_map(|i| i.provides.iter().copied())
        .collect();
    let has = |c: u32, oid: u32| created.contains(&ObjRef::new(c, oid));
    let q = |s: &str, n: &str| format!("{}.{}", ident(s), ident(n));
    let mut out = BTreeSet::new();
    for s in cat
        .schemas
        .iter()
        .filter(|s| s.name != "public" && has(class::PG_NAMESPACE, s.oid))
    {
        out.insert(format!("schema {}", ident(&s.name)));
    }
    let relations = cat
        .tables
        .iter()
        .map(|t| (t.oid, &t.schema, &t.name))
        .chain(cat.views.iter().map(|v| (v.oid, &v.schema, &v.name)))
        .chain(cat.sequences.iter().map(|s| (s.oid, &s.schema, &s.name)));
    for (oid, schema, name) in relations {
        if has(class::PG_CLASS, oid) {
            out.insert(format!("relation {}", q(schema, name)));
        }
    }
    // Indexes (key-backing ones included) are relations too: post-data creates those of the
    // tables the schema step creates, and an index of the same name already on the target
    // would be taken for one a resumed run built.
    for i in cat
        .indexes
        .iter()
        .filter(|i| has(class::PG_CLASS, i.table_oid))
    {
        out.insert(format!("relation {}", q(&i.schema, &i.name)));
    }
    for f in cat.functions.iter().filter(|f| has(class::PG_PROC, f.oid)) {
        out.insert(format!("function {}", q(&f.schema, &f.name)));
    }
    for t in cat.types.iter().filter(|t| has(class::PG_TYPE, t.oid)) {
        out.insert(format!("type {}", q(&t.schema, &t.name)));
    }
    out
}

/// Roles that the GRANTs and REVOKEs of `items` name: those of the privileges of each object
/// they create (a privileges-only item, such as an identity sequence's, follows its object),
/// as the renderers write them. Default privileges are post-data, and privileges on objects
/// pgmove does not create go unchecked, as the target may have them already.
fn roles_named(cat: &Catalog, items: &[Item]) -> BTreeSet<String> {
    use render::{acl_roles, public_schema_acl_roles};
    let objects: HashSet<ObjRef> = items
        .iter()
        .flat_map(|i| {
            let privileges_of = (i.kind == render::Kind::Acl).then_some(&i.after);
            i.provides.iter().chain(privileges_of.into_iter().flatten())
        })
        .copied()
        .collect();
    let has = |c: u32, oid: u32| objects.contains(&ObjRef::new(c, oid));
    let mut roles = BTreeSet::new();
    for s in cat
        .schemas
        .iter()
        .filter(|s| has(class::PG_NAMESPACE, s.oid))
    {
        roles.extend(match s.name == "public" {
            true => public_schema_acl_roles(s.acl.as_deref(), &s.owner),
            false => acl_roles("SCHEMA", s.acl.as_deref(), &s.owner, None),
        });
    }
    for t in cat.tables.iter().filter(|t| has(class::PG_CLASS, t.oid)) {
        roles.extend(acl_roles("TABLE", t.extra().acl.as_deref(), &t.owner, None));
        for c in &t.columns {
            let acl = c.extra().acl.as_deref();
            roles.extend(acl_roles("TABLE", acl, &t.owner, Some(&c.name)));
        }
    }
    for v in cat.views.iter().filter(|v| has(class::PG_CLASS, v.oid)) {
        roles.extend(acl_roles("TABLE", v.acl.as_deref(), &v.owner, None));
        for (c, acl) in &v.column_acls {
            roles.extend(acl_roles("TABLE", Some(acl), &v.owner, Some(c)));
        }
    }
    for s in cat.sequences.iter().filter(|s| has(class::PG_CLASS, s.oid)) {
        roles.extend(acl_roles("SEQUENCE", s.acl.as_deref(), &s.owner, None));
    }
    for f in cat.functions.iter().filter(|f| has(class::PG_PROC, f.oid)) {
        roles.extend(acl_roles("FUNCTION", f.acl.as_deref(), &f.owner, None));
    }
    for a in cat.aggregates.iter().filter(|a| has(class::PG_PROC, a.oid)) {
        roles.extend(acl_roles("FUNCTION", a.acl.as_deref(), &a.owner, None));
    }
    for t in cat.types.iter().filter(|t| has(class::PG_TYPE, t.oid)) {
        roles.extend(acl_roles("TYPE", t.acl.as_deref(), &t.owner, None));
    }
    let fdws = cat.foreign_data_wrappers.iter();
    for w in fdws.filter(|w| has(class::PG_FOREIGN_DATA_WRAPPER, w.oid)) {
        let acl = w.acl.as_deref();
        roles.extend(acl_roles("FOREIGN DATA WRAPPER", acl, &w.owner, None));
    }
    let servers = cat.foreign_servers.iter();
    for s in servers.filter(|s| has(class::PG_FOREIGN_SERVER, s.oid)) {
        roles.extend(acl_roles(
            "FOREIGN SERVER",
            s.acl.as_deref(),
            &s.owner,
            None,
        ));
    }
    for l in cat
        .languages
        .iter()
        .filter(|l| has(class::PG_LANGUAGE, l.oid))
    {
        roles.extend(acl_roles("LANGUAGE", l.acl.as_deref(), &l.owner, None));
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Kind;

    #[test]
    fn fk_not_valid_adds_not_valid_and_a_validation_that_can_share_an_alter_table() {
        let lead = Lead::AlterTable {
            head: "ALTER TABLE ONLY public.c".into(),
            cmd: "ADD CONSTRAINT c_p_fkey FOREIGN KEY (p) REFERENCES public.p(id)".into(),
            using_index: None,
            primary_key: None,
        };
        let mut fk = Item {
            kind: Kind::ForeignKey,
            name: "constraint c_p_fkey on public.c".into(),
            schema: "public".into(),
            sql: String::new(),
            provides: [ObjRef::new(class::PG_CONSTRAINT, 9)].into_iter().collect(),
            after: Default::default(),
            table: Some(1),
            lead: None,
        };
        fk.set_lead(lead, "COMMENT ON CONSTRAINT c_p_fkey ON public.c IS 'x';\n");
        let original = fk.clone();
        let mut p = Plan {
            step: Step::PostData,
            items: vec![fk],
            warnings: vec![],
            roles: BTreeSet::new(),
        };
        let mut cat = Catalog::default();
        cat.constraints.push(crate::model::Constraint {
            oid: 9,
            schema: "public".into(),
            name: "c_p_fkey".into(),
            contype: 'f',
            table_oid: 1,
            domain_oid: 0,
            definition: String::new(),
            validated: true,
            is_local: true,
            inh_count: 0,
            index_oid: 0,
            parent_oid: 0,
            ref_table_oid: 2,
            deferrable: false,
            deferred: false,
            key: None,
        });
        fk_not_valid(&mut p, &cat);
        assert_eq!(
            p.items[0].sql,
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_p_fkey FOREIGN KEY (p) REFERENCES public.p(id) NOT VALID;\n\
             COMMENT ON CONSTRAINT c_p_fkey ON public.c IS 'x';\n"
        );
        assert!(p.items[0].split().is_some(), "the lead follows the SQL");
        let v = &p.items[1];
        assert_eq!(v.kind, Kind::ValidateConstraint);
        assert_eq!(
            v.sql,
            "ALTER TABLE ONLY public.c\n    VALIDATE CONSTRAINT c_p_fkey;\n"
        );
        assert!(v.split().is_some() && v.provides.is_empty());
        // Twice changes nothing more.
        fk_not_valid(&mut p, &cat);
        assert_eq!(p.items.len(), 2);
        assert!(
            p.items[0].sql.contains("(id) NOT VALID;\n"),
            "once NOT VALID"
        );

        // A key NOT VALID on the source is left as it is.
        let sql = original.sql.clone();
        let mut q = Plan {
            items: vec![original],
            ..p
        };
        cat.constraints[0].validated = false;
        fk_not_valid(&mut q, &cat);
        assert_eq!((q.items.len(), q.items[0].sql.as_str()), (1, sql.as_str()));
    }
}
