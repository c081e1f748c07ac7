//! Tables (with columns, defaults, checks, partitioning, inheritance), views and materialized
//! views, and the per-column settings pg_dump writes after `CREATE TABLE`.

use super::{
    comment, fdw_option_list, fdw_options, owner, push, render_acl, sequences, Item, Kind, Options,
};
use crate::model::{class, Catalog, Column, ColumnExtra, ObjRef, Table};
use crate::oidhash::{OidMap, OidSet};
use crate::quote::{ident, qualified};
use std::collections::HashMap;

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    let detached = detached_defaults(cat);
    let identity_seqs: HashMap<(u32, &str), &crate::model::Sequence> = cat
        .sequences
        .iter()
        .filter(|s| s.identity)
        .filter_map(|s| {
            let o = s.owned_by.as_ref()?;
            Some(((o.table_oid, o.column.as_str()), s))
        })
        .collect();
    let tables = cat.table_by_oid();
    // A table's own checks go in its CREATE TABLE. A partition is created on its own and
    // attached afterwards, and ATTACH PARTITION wants the parent's checks already there (it
    // then marks them inherited), so a partition lists its inherited checks too, as pg_dump.
    let mut checks: OidMap<u32, Vec<&crate::model::Constraint>> = OidMap::default();
    // A check calling a function over its own table's row type is added in post-data.
    let separate = separate_checks(cat);
    for c in &cat.constraints {
        let partition = || tables.get(&c.table_oid).is_some_and(|t| t.is_partition());
        if c.contype == 'c'
            && c.validated
            && (c.is_local || partition())
            && !(c.is_local && separate.contains(&c.oid))
        {
            checks.entry(c.table_oid).or_default().push(c);
        }
    }

    for t in &cat.tables {
        let me = ObjRef::new(class::PG_CLASS, t.oid);
        if cat.extension_members.contains(&me) {
            continue;
        }
        let name = qualified(&t.schema, &t.name);
        let mut lines: Vec<String> = Vec::new();
        let of_type = t.extra().of_type.as_ref().map(|ty| ty.rendered.as_str());
        for c in &t.columns {
            // A typed table's columns come from its type: only their own options are listed.
            if of_type.is_some() && !t.is_partition() {
                if let Some(line) =
                    typed_column_options(c, detached.contains(&c.attrdef_oid.unwrap_or(0)))
                {
                    lines.push(line);
                }
                continue;
            }
            // Inherited-only columns come from the parent; a partition is created on its own
            // and attached afterwards, so it lists every column.
            if !c.is_local && !t.is_partition() {
                continue;
            }
            let seq = identity_seqs.get(&(t.oid, c.name.as_str())).copied();
            lines.push(column_def(
                c,
                t,
                seq,
                detached.contains(&c.attrdef_oid.unwrap_or(0)),
                owns_not_null(cat, &tables, t, c),
            ));
        }
        for c in checks.get(&t.oid).into_iter().flatten() {
            lines.push(format!(
                "    CONSTRAINT {} {}",
                ident(&c.name),
                c.definition
            ));
        }
        // A NOT NULL of its own on a column it only inherits. 18 writes it as a table
        // constraint; a source before 18 may go to a target before 18, which has no such
        // syntax, so there it is set after CREATE TABLE (same result on 18), unless the SQL
        // is for 18 or later.
        let declared_here: Vec<&Column> = if of_type.is_none() && !t.is_partition() {
            t.columns
                .iter()
                .filter(|c| !c.is_local && c.not_null && !not_null_invalid(c))
                .filter(|c| owns_not_null(cat, &tables, t, c))
                .collect()
        } else {
            Vec::new()
        };
        let mut set_not_null = String::new();
        for c in &declared_here {
            if opts.target_version.unwrap_or(cat.server_version) >= 180000 {
                lines.push(format!(
                    "    CONSTRAINT {} NOT NULL {}",
                    ident(&not_null_name(t, c)),
                    ident(&c.name)
                ));
            } else {
                set_not_null += &format!(
                    "ALTER TABLE ONLY {name} ALTER COLUMN {} SET NOT NULL;\n",
                    ident(&c.name)
                );
            }
        }
        let mut sql = format!(
            "CREATE {}{}TABLE {name}",
            if t.persistence == 'u' {
                "UNLOGGED "
            } else {
                ""
            },
            if t.relkind == 'f' { "FOREIGN " } else { "" },
        );
        match of_type.filter(|_| !t.is_partition()) {
            Some(ty) if lines.is_empty() => sql += &format!(" OF {ty}"),
            Some(ty) => sql += &format!(" OF {ty} (\n{}\n)", lines.join(",\n")),
            None => sql += &format!(" (\n{}\n)", lines.join(",\n")),
        }
        if !t.extra().inherits.is_empty() {
            let parents: Vec<String> = t
                .extra()
                .inherits
                .iter()
                .map(|(_, schema, name)| qualified(schema, name))
                .collect();
            sql += &format!("\nINHERITS ({})", parents.join(", "));
        }
        if let Some(k) = &t.extra().partition_key {
            sql += &format!("\nPARTITION BY {k}");
        }
        if let Some(s) = &t.extra().foreign_server {
            sql += &format!(
                "\nSERVER {}{}",
                ident(s),
                fdw_options(&t.extra().foreign_options)
            );
        }
        if let Some(am) = &t.extra().access_method {
            sql += &format!("\nUSING {}", ident(am));
        }
        if !t.extra().reloptions.is_empty() {
            sql += &format!("\nWITH ({})", t.extra().reloptions.join(", "));
        }
        sql += ";\n";
        sql += &set_not_null;
        sql += &column_settings(t, &name);
        // An identity sequence takes its table's persistence; one set apart keeps its own.
        for c in t.columns.iter().filter(|c| c.identity.is_some()) {
            if let Some(seq) = identity_seqs.get(&(t.oid, c.name.as_str())) {
                if seq.unlogged != (t.persistence == 'u') {
                    let how = if seq.unlogged { "UNLOGGED" } else { "LOGGED" };
                    let seq_name = qualified(&seq.schema, &seq.name);
                    sql += &format!("ALTER SEQUENCE {seq_name} SET {how};\n");
                }
            }
        }
        // FORCE is part of the table in pg_dump's pre-data; ENABLE comes with the policies.
        if t.rls_forced {
            sql += &format!("ALTER TABLE ONLY {name} FORCE ROW LEVEL SECURITY;\n");
        }
        // Foreign tables report `n` but cannot have a replica identity set.
        match if t.relkind == 'f' {
            'd'
        } else {
            t.replica_identity
        } {
            'f' => sql += &format!("ALTER TABLE ONLY {name} REPLICA IDENTITY FULL;\n"),
            'n' => sql += &format!("ALTER TABLE ONLY {name} REPLICA IDENTITY NOTHING;\n"),
            _ => {}
        }
        let word = if t.relkind == 'f' {
            "FOREIGN TABLE"
        } else {
            "TABLE"
        };
        sql += &owner(opts, || format!("{word} {name}"), &t.owner);
        sql += &comment(cat, class::PG_CLASS, t.oid, 0, || format!("{word} {name}"));
        for c in &t.columns {
            sql += &comment(cat, class::PG_CLASS, t.oid, c.num as i32, || {
                format!("COLUMN {name}.{}", ident(&c.name))
            });
        }
        // Checks written into CREATE TABLE have their comments here; the others, theirs.
        for c in checks.get(&t.oid).into_iter().flatten() {
            sql += &comment(cat, class::PG_CONSTRAINT, c.oid, 0, || {
                format!("CONSTRAINT {} ON {name}", ident(&c.name))
            });
        }
        // Comments on NOT NULL constraints this CREATE TABLE writes (a column it lists, or
        // declares a constraint on).
        let listed = |c: &Column| (c.is_local || t.is_partition()) && of_type.is_none();
        let written = t
            .columns
            .iter()
            .filter(|c| c.not_null && listed(c))
            .chain(declared_here.iter().copied());
        for c in written {
            if let Some(nn) = c.extra().not_null_constraint.filter(|n| n.validated) {
                sql += &comment(cat, class::PG_CONSTRAINT, nn.oid, 0, || {
                    format!("CONSTRAINT {} ON {name}", ident(&not_null_name(t, c)))
                });
            }
        }
        // Privileges only where there is an ACL: the target's text is not built for the rest.
        if opts.privileges {
            let acls = std::iter::once((t.extra().acl.as_deref(), None)).chain(
                t.columns
                    .iter()
                    .map(|c| (c.extra().acl.as_deref(), Some(c.name.as_str()))),
            );
            for (acl, column) in acls.filter(|(acl, _)| acl.is_some()) {
                let target = format!("TABLE {name}");
                sql += &render_acl("TABLE", &target, acl, &t.owner, column);
            }
        }
        let mut item = Item::new(Kind::Table, format!("table {name}"), &t.schema, sql)
            .provides(me)
            .on_table(t.oid);
        // Identity sequences are created by the column; claim them so dependencies resolve.
        for s in identity_seqs
            .iter()
            .filter(|((tab, _), _)| *tab == t.oid)
            .map(|(_, s)| s)
        {
            item.provides.push(ObjRef::new(class::PG_CLASS, s.oid));
        }
        push(items, item);

        for c in &t.columns {
            if let Some(d) = c.attrdef_oid.filter(|d| detached.contains(d)) {
                let def = c.default.as_deref().unwrap_or("NULL");
                push(
                    items,
                    Item::new(
                        Kind::Default,
                        format!("default {name}.{}", ident(&c.name)),
                        &t.schema,
                        format!(
                            "ALTER TABLE ONLY {name} ALTER COLUMN {} SET DEFAULT {def};\n",
                            ident(&c.name)
                        ),
                    )
                    .provides(ObjRef::new(class::PG_ATTRDEF, d))
                    .after(me)
                    .on_table(t.oid),
                );
            }
        }

        if let Some((parent, bound)) = &t.extra().partition_of {
            let pname = tables
                .get(parent)
                .map(|p| qualified(&p.schema, &p.name))
                .unwrap_or_default();
            push(
                items,
                Item::new(
                    Kind::TableAttach,
                    format!("partition {name} of {pname}"),
                    &t.schema,
                    format!("ALTER TABLE ONLY {pname} ATTACH PARTITION {name} {bound};\n"),
                )
                .after(me)
                .after(ObjRef::new(class::PG_CLASS, *parent))
                .on_table(*parent),
            );
        }
    }

    let on_constraints = views_on_constraints(cat);
    // A view that selects from itself (made with CREATE OR REPLACE) cannot be created in one
    // step: pg_dump's script fails on it; pgmove creates a dummy first, then the definition.
    let self_referencing: OidSet<u32> = cat
        .depends
        .iter()
        .filter(|d| {
            // Column references only: before 16 every view's rule also depends on the whole
            // view (refobjsubid 0) through its OLD/NEW range table entries.
            d.obj.class == class::PG_REWRITE
                && d.deptype == 'n'
                && d.ref_sub > 0
                && cat.owners.get(&d.obj) == Some(&d.refobj)
        })
        .map(|d| d.refobj.oid)
        .collect();
    for v in &cat.views {
        let me = ObjRef::new(class::PG_CLASS, v.oid);
        if cat.extension_members.contains(&me) {
            continue;
        }
        let name = qualified(&v.schema, &v.name);
        let matview = v.relkind == 'm';
        let word = if matview { "MATERIALIZED VIEW" } else { "VIEW" };
        let on_keys = on_constraints.get(&v.oid);
        let self_ref = self_referencing.contains(&v.oid);
        let split = !matview && (on_keys.is_some() || self_ref);
        let with = if v.options.is_empty() {
            String::new()
        } else {
            format!(" WITH ({})", v.options.join(", "))
        };
        let query = match &v.check_option {
            Some(c) => format!(
                " AS\n{}\n  WITH {} CHECK OPTION",
                v.definition,
                c.to_uppercase()
            ),
            None => format!(" AS\n{}", v.definition),
        };
        let mut sql = format!("CREATE {word} {name}");
        if let Some(am) = &v.access_method {
            sql += &format!(" USING {}", ident(am));
        }
        sql += &with;
        if split {
            let cols: Vec<String> = v
                .columns
                .iter()
                .map(|a| {
                    let coll = a
                        .collation
                        .as_ref()
                        .map(|(schema, name)| format!(" COLLATE {}", qualified(schema, name)))
                        .unwrap_or_default();
                    format!("    NULL::{}{coll} AS {}", a.ty.rendered, ident(&a.name))
                })
                .collect();
            sql += &format!(" AS\nSELECT\n{};\n", cols.join(",\n"));
            let real = format!("CREATE OR REPLACE VIEW {name}{with}{query};\n");
            let kind = if on_keys.is_some() {
                Kind::ViewDefinition
            } else {
                Kind::ViewRedefinition
            };
            let mut item =
                Item::new(kind, format!("view {name} definition"), &v.schema, real).after(me);
            item.after.extend(
                on_keys
                    .into_iter()
                    .flatten()
                    .map(|c| ObjRef::new(class::PG_CONSTRAINT, *c)),
            );
            push(items, item);
        } else {
            let no_data = if matview { "\n  WITH NO DATA" } else { "" };
            sql += &format!("{query}{no_data};\n");
        }
        for (col, def) in &v.column_defaults {
            sql += &format!(
                "ALTER VIEW {name} ALTER COLUMN {} SET DEFAULT {def};\n",
                ident(col)
            );
        }
        sql += &column_settings_of(
            word,
            &name,
            v.column_settings.iter().map(|(c, x)| (c.as_str(), &**x)),
        );
        sql += &owner(opts, || format!("{word} {name}"), &v.owner);
        sql += &comment(cat, class::PG_CLASS, v.oid, 0, || format!("{word} {name}"));
        for (i, col) in v.columns.iter().map(|a| &a.name).enumerate() {
            sql += &comment(cat, class::PG_CLASS, v.oid, i as i32 + 1, || {
                format!("COLUMN {name}.{}", ident(col))
            });
        }
        if opts.privileges {
            sql += &render_acl(
                "TABLE",
                &format!("TABLE {name}"),
                v.acl.as_deref(),
                &v.owner,
                None,
            );
            for (col, acl) in &v.column_acls {
                sql += &render_acl(
                    "TABLE",
                    &format!("TABLE {name}"),
                    Some(acl),
                    &v.owner,
                    Some(col),
                );
            }
        }
        let mut item = Item::new(
            Kind::View,
            format!("{} {name}", word.to_lowercase()),
            &v.schema,
            sql,
        )
        .provides(me);
        if matview && on_keys.is_some() {
            item.kind = Kind::PostponedDefinition;
            item.table = Some(v.oid);
        }
        push(items, item);
    }
}

/// Views whose query needs a primary key, unique or exclusion constraint (post-data), with
/// those constraints' OIDs.
pub(super) fn views_on_constraints(cat: &Catalog) -> OidMap<u32, Vec<u32>> {
    let keys: OidSet<u32> = cat
        .constraints
        .iter()
        .filter(|c| matches!(c.contype, 'p' | 'u' | 'x'))
        .map(|c| c.oid)
        .collect();
    let mut out: OidMap<u32, Vec<u32>> = OidMap::default();
    for d in &cat.depends {
        if d.obj.class == class::PG_REWRITE
            && d.refobj.class == class::PG_CONSTRAINT
            && keys.contains(&d.refobj.oid)
        {
            if let Some(view) = cat.owners.get(&d.obj) {
                out.entry(view.oid).or_default().push(d.refobj.oid);
            }
        }
    }
    out
}

/// Checks that call a user function which itself depends on the check's table (its rowtype,
/// directly or through other types or functions): the table cannot be created with them, so
/// they are added after the function, in post-data, as pg_dump does. Their OIDs.
pub(super) fn separate_checks(cat: &Catalog) -> OidSet<u32> {
    let user_functions: OidSet<u32> = cat.functions.iter().map(|f| f.oid).collect();
    let table_checks: OidMap<u32, u32> = cat
        .constraints
        .iter()
        .filter(|c| c.contype == 'c' && c.table_oid != 0)
        .map(|c| (c.oid, c.table_oid))
        .collect();
    let calls: Vec<(u32, u32, ObjRef)> = cat
        .depends
        .iter()
        .filter(|d| {
            d.obj.class == class::PG_CONSTRAINT
                && d.refobj.class == class::PG_PROC
                && user_functions.contains(&d.refobj.oid)
        })
        .filter_map(|d| {
            let table = table_checks.get(&d.obj.oid)?;
            Some((d.obj.oid, *table, d.refobj))
        })
        .collect();
    if calls.is_empty() {
        return OidSet::default();
    }
    // What each object depends on, with sub-objects (a rowtype, an array type, a composite's
    // relation) taken as what defines them.
    let owner_of = |mut r: ObjRef| {
        for _ in 0..8 {
            match cat.owners.get(&r) {
                Some(o) => r = *o,
                None => break,
            }
        }
        r
    };
    let mut refs: OidMap<ObjRef, Vec<ObjRef>> = OidMap::default();
    for d in &cat.depends {
        refs.entry(owner_of(d.obj))
            .or_default()
            .push(owner_of(d.refobj));
    }
    let mut out = OidSet::default();
    for (check, table, function) in calls {
        let goal = ObjRef::new(class::PG_CLASS, table);
        let mut seen: OidSet<ObjRef> = OidSet::default();
        let mut stack = vec![function];
        while let Some(r) = stack.pop() {
            if r == goal {
                out.insert(check);
                break;
            }
            if seen.insert(r) {
                stack.extend(refs.get(&r).into_iter().flatten().copied());
            }
        }
    }
    out
}

/// Column defaults that call a user function: created after the table with `ALTER TABLE … SET
/// DEFAULT`, because the function may itself depend on the table (its rowtype, or a body that
/// names it) — the cycle pg_dump breaks the same way.
fn detached_defaults(cat: &Catalog) -> OidSet<u32> {
    let user_functions: OidSet<u32> = cat
        .functions
        .iter()
        .map(|f| f.oid)
        .chain(cat.aggregates.iter().map(|a| a.oid))
        .collect();
    cat.depends
        .iter()
        .filter(|d| {
            d.obj.class == class::PG_ATTRDEF
                && d.refobj.class == class::PG_PROC
                && user_functions.contains(&d.refobj.oid)
        })
        .map(|d| d.obj.oid)
        .collect()
}

/// A typed table's column as `CREATE TABLE … OF type (…)` lists it: its name and what it
/// adds to the type's attribute (default, NOT NULL), or nothing when it adds nothing.
fn typed_column_options(c: &Column, detached: bool) -> Option<String> {
    let mut s = String::new();
    if let (None, Some(expr), false) = (c.generated, &c.default, detached) {
        s += &format!(" DEFAULT {expr}");
    }
    if c.not_null && !not_null_invalid(c) {
        if let Some(n) = &c.extra().not_null_name {
            s += &format!(" CONSTRAINT {}", ident(n));
        }
        s += " NOT NULL";
    }
    (!s.is_empty()).then(|| format!("    {}{s}", ident(&c.name)))
}

/// Whether table `t` writes the NOT NULL of column `c` itself (on the column, or as a
/// constraint of its own), rather than leaving it to what its parents pass down. The one
/// place that decides it, so that each NOT NULL lands on the target local or inherited as
/// in pg_dump's migration. A table without inheritance parents owns all its NOT NULLs, and
/// a partition (created alone, then attached) lists all of its own.
/// - From 18 the catalog says: the constraint is the child's own (`conislocal`), or it is
///   valid here while every parent's is NOT VALID (left to inheritance, it would come out
///   NOT VALID). The reader keeps the constraint only where it differs from the column's
///   locality, so without one it is the column's.
/// - Before 18 nothing records it, and the child owns it only when no parent has the
///   column NOT NULL (pg_dump's convention: a re-declared inherited NOT NULL stays
///   inherited, and one set on the child alone stays the child's).
///
/// It never says whether the column is NOT NULL, nor whether the constraint is valid: the
/// caller asks `c.not_null` and [`not_null_invalid`].
fn owns_not_null(cat: &Catalog, tables: &HashMap<u32, &Table>, t: &Table, c: &Column) -> bool {
    if t.is_partition() || t.extra().inherits.is_empty() {
        return true;
    }
    if cat.server_version < 180000 {
        return parent_not_nulls(tables, t, c).next().is_none();
    }
    match c.extra().not_null_constraint {
        Some(own) => own.is_local || parents_not_valid(tables, t, c),
        None => c.is_local,
    }
}

/// The NOT NULL columns of `t`'s inheritance parents that `c` inherits (same name).
fn parent_not_nulls<'a>(
    tables: &'a HashMap<u32, &Table>,
    t: &'a Table,
    c: &'a Column,
) -> impl Iterator<Item = &'a Column> {
    t.extra()
        .inherits
        .iter()
        .filter_map(|(parent, _, _)| tables.get(parent))
        .filter_map(|p| p.columns.iter().find(|pc| pc.name == c.name && pc.not_null))
}

/// Whether every parent NOT NULL constraint on the column `c` inherits is NOT VALID (and there
/// is one): one valid parent constraint makes the inherited one valid.
fn parents_not_valid(tables: &HashMap<u32, &Table>, t: &Table, c: &Column) -> bool {
    let mut parents = parent_not_nulls(tables, t, c).peekable();
    parents.peek().is_some() && parents.all(not_null_invalid)
}

/// Whether the column's NOT NULL constraint is NOT VALID (18+): added in post-data.
pub(super) fn not_null_invalid(c: &Column) -> bool {
    c.extra().not_null_constraint.is_some_and(|n| !n.validated)
}

/// The name of a column's NOT NULL constraint (18+ names them; the default when not kept).
pub(super) fn not_null_name(t: &Table, c: &Column) -> String {
    match &c.extra().not_null_name {
        Some(n) => n.to_string(),
        None => crate::model::default_constraint_name(&t.name, &c.name, "not_null"),
    }
}

fn column_def(
    c: &Column,
    t: &Table,
    identity_seq: Option<&crate::model::Sequence>,
    detached: bool,
    owns_not_null: bool,
) -> String {
    let mut s = format!("    {} {}", ident(&c.name), c.type_name());
    if let Some((schema, name)) = &c.extra().collation {
        s += &format!(" COLLATE {}", qualified(schema, name));
    }
    match (c.generated, &c.default) {
        (Some('s'), Some(expr)) => s += &format!(" GENERATED ALWAYS AS ({expr}) STORED"),
        (Some('v'), Some(expr)) => s += &format!(" GENERATED ALWAYS AS ({expr}) VIRTUAL"),
        (_, Some(expr)) if !detached => s += &format!(" DEFAULT {expr}"),
        _ => {}
    }
    if c.not_null && !not_null_invalid(c) && owns_not_null {
        if let Some(n) = &c.extra().not_null_name {
            s += &format!(" CONSTRAINT {}", ident(n));
        }
        s += " NOT NULL";
    }
    if let (Some(id), Some(seq)) = (c.identity, identity_seq) {
        if !t.is_partition() || c.is_local {
            let kind = if id == 'a' { "ALWAYS" } else { "BY DEFAULT" };
            // `AS type` is the column's; the rest are the sequence's own options.
            let options = sequences::bounds(seq);
            s += &format!(
                " GENERATED {kind} AS IDENTITY (SEQUENCE NAME {} {})",
                qualified(&seq.schema, &seq.name),
                options.join(" ")
            );
        }
    }
    s
}

/// `ALTER TABLE ONLY … ALTER COLUMN …` for storage, statistics, compression and options.
fn column_settings(t: &Table, name: &str) -> String {
    // Most columns have none of these settings, and no statement prefix to build.
    let with = t
        .columns
        .iter()
        .filter_map(|c| c.extra.as_deref().map(|x| (c.name.as_str(), x)));
    column_settings_of("TABLE", name, with)
}

/// The same settings for the columns of a table (`word` = `TABLE`) or materialized view.
fn column_settings_of<'a>(
    word: &str,
    name: &str,
    columns: impl Iterator<Item = (&'a str, &'a ColumnExtra)>,
) -> String {
    let mut sql = String::new();
    for (col, x) in columns {
        let col = ident(col);
        // A materialized view has no children, and its ALTER takes no ONLY.
        let only = if word == "TABLE" { "ONLY " } else { "" };
        let alter = format!("ALTER {word} {only}{name} ALTER COLUMN {col}");
        if let Some(st) = x.storage {
            let s = match st {
                'p' => "PLAIN",
                'e' => "EXTERNAL",
                'm' => "MAIN",
                _ => "EXTENDED",
            };
            sql += &format!("{alter} SET STORAGE {s};\n");
        }
        if let Some(n) = x.stat_target {
            sql += &format!("{alter} SET STATISTICS {n};\n");
        }
        match x.compression {
            Some('p') => sql += &format!("{alter} SET COMPRESSION pglz;\n"),
            Some('l') => sql += &format!("{alter} SET COMPRESSION lz4;\n"),
            _ => {}
        }
        if !x.options.is_empty() {
            sql += &format!("{alter} SET ({});\n", x.options.join(", "));
        }
        if !x.fdw_options.is_empty() {
            let opts = fdw_option_list(&x.fdw_options).join(",\n    ADD ");
            sql += &format!(
                "ALTER FOREIGN TABLE ONLY {name} ALTER COLUMN {col} OPTIONS (ADD \n    {opts}\n);\n"
            );
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ColumnType, NotNullConstraint, TableExtra};

    /// An `integer` column; `own` says whether the table defines it (not only inherits it).
    fn int(num: i16, name: &str, not_null: bool, own: bool) -> Column {
        let mut c = Column::new(num, name, ColumnType::builtin(23, "int4", "integer"));
        c.not_null = not_null;
        c.is_local = own;
        c.inh_count = i32::from(!own);
        c
    }

    /// Table `oid` named `name`, inheriting from `parent` when given.
    fn table(oid: u32, name: &str, parent: Option<&str>, columns: Vec<Column>) -> Table {
        let mut t = Table::new(oid, "public", name);
        t.columns = columns;
        if let Some(p) = parent {
            t.set_extra(TableExtra {
                inherits: vec![(1, "public".into(), p.into())],
                ..TableExtra::default()
            });
        }
        t
    }

    /// The CREATE TABLE item of each table, by table name.
    fn create_tables(cat: &Catalog) -> HashMap<String, String> {
        let mut items = Vec::new();
        render(cat, &Options::default(), &mut items);
        items
            .into_iter()
            .filter(|i| i.kind == Kind::Table)
            .map(|i| {
                (
                    i.name.trim_start_matches("table public.").to_string(),
                    i.sql,
                )
            })
            .collect()
    }

    /// Parent `p (a NOT NULL, b)` and its children: `c1` re-declares `a NOT NULL`, `c2`
    /// declares `b NOT NULL`, `c3` only inherits both and sets `b NOT NULL` itself, `c4`
    /// only inherits both.
    fn family(version: i32) -> Catalog {
        let mut cat = Catalog {
            server_version: version,
            ..Catalog::default()
        };
        cat.tables = vec![
            table(
                1,
                "p",
                None,
                vec![int(1, "a", true, true), int(2, "b", false, true)],
            ),
            table(
                2,
                "c1",
                Some("p"),
                vec![int(1, "a", true, true), int(2, "b", false, true)],
            ),
            table(
                3,
                "c2",
                Some("p"),
                vec![int(1, "a", true, false), int(2, "b", true, true)],
            ),
            table(
                4,
                "c3",
                Some("p"),
                vec![int(1, "a", true, false), int(2, "b", true, false)],
            ),
            table(
                5,
                "c4",
                Some("p"),
                vec![int(1, "a", true, false), int(2, "b", false, false)],
            ),
        ];
        cat
    }

    #[test]
    fn foreign_column_options_are_added_one_by_one() {
        let x = ColumnExtra {
            fdw_options: vec!["a=x".into(), "b=1,\n    2".into()],
            ..ColumnExtra::default()
        };
        assert_eq!(
            column_settings_of("FOREIGN TABLE", "public.f", [("c", &x)].into_iter()),
            "ALTER FOREIGN TABLE ONLY public.f ALTER COLUMN c OPTIONS (ADD \n    a 'x',\n    \
             ADD b '1,\n    2'\n);\n"
        );
    }

    #[test]
    fn before_18_a_child_owns_a_not_null_no_parent_has() {
        let sql = create_tables(&family(150000));
        // A NOT NULL the parent has stays inherited, even where the child re-declares it.
        assert!(sql["c1"].contains("    a integer,\n"), "{}", sql["c1"]);
        // One the parent lacks is the child's: on its column, or set on the inherited one
        // (with no table-constraint syntax, which a target before 18 lacks).
        assert!(
            sql["c2"].contains("    b integer NOT NULL\n"),
            "{}",
            sql["c2"]
        );
        assert!(
            sql["c3"].contains("ALTER TABLE ONLY public.c3 ALTER COLUMN b SET NOT NULL;\n"),
            "{}",
            sql["c3"]
        );
        assert!(!sql["c3"].contains("CONSTRAINT"), "{}", sql["c3"]);
        assert!(!sql["c4"].contains("NOT NULL"), "{}", sql["c4"]);
        assert!(
            sql["p"].contains("    a integer NOT NULL,\n"),
            "{}",
            sql["p"]
        );
    }

    #[test]
    fn before_18_rendered_for_18_a_child_s_own_not_null_is_a_table_constraint() {
        let mut items = Vec::new();
        let opts = Options {
            target_version: Some(180000),
            ..Options::default()
        };
        render(&family(150000), &opts, &mut items);
        let c3 = items
            .iter()
            .find(|i| i.kind == Kind::Table && i.name == "table public.c3")
            .unwrap();
        // As an 18 source's catalog renders it: the name is the one 18 gives it.
        assert!(
            c3.sql.contains("    CONSTRAINT c3_b_not_null NOT NULL b\n"),
            "{}",
            c3.sql
        );
        assert!(!c3.sql.contains("SET NOT NULL"), "{}", c3.sql);
    }

    #[test]
    fn from_18_the_constraint_says_whose_it_is() {
        let mut cat = family(180000);
        // 18 records c1's re-declared NOT NULL as its own (local), and c3's as its own; the
        // reader keeps a constraint only where it differs from the column's locality.
        let own = |oid| NotNullConstraint {
            oid,
            validated: true,
            is_local: true,
        };
        cat.tables[3].columns[1].set_extra(ColumnExtra {
            not_null_constraint: Some(own(30)),
            ..ColumnExtra::default()
        });
        let sql = create_tables(&cat);
        assert!(
            sql["c1"].contains("    a integer NOT NULL,\n"),
            "{}",
            sql["c1"]
        );
        assert!(
            sql["c3"].contains("    CONSTRAINT c3_b_not_null NOT NULL b\n"),
            "{}",
            sql["c3"]
        );
        assert!(!sql["c4"].contains("NOT NULL"), "{}", sql["c4"]);
        // A re-declared NOT NULL that 18 records as inherited only stays inherited.
        cat.tables[1].columns[0].set_extra(ColumnExtra {
            not_null_constraint: Some(NotNullConstraint {
                is_local: false,
                ..own(20)
            }),
            ..ColumnExtra::default()
        });
        let sql = create_tables(&cat);
        assert!(sql["c1"].contains("    a integer,\n"), "{}", sql["c1"]);
    }
}
