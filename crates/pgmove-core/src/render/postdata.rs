//! Post-data: keys and constraints, indexes, partition index attachments, extended statistics,
//! rules, triggers, foreign keys, row-level security and policies, publications, event triggers,
//! and the refresh of materialized views populated on the source.

use super::{comment, push, Item, Kind, Lead, Options, PrimaryKey, UsingIndex};
use crate::model::{class, Catalog, ObjRef};
use crate::oidhash::{OidMap, OidSet};
use crate::quote::{ident, literal, qualified};

/// `""`, `" DEFERRABLE"` or `" DEFERRABLE INITIALLY DEFERRED"`: how a constraint's
/// definition ends, and what a key's `USING INDEX` form carries.
fn deferrable_clause(c: &crate::model::Constraint) -> &'static str {
    match (c.deferrable, c.deferred) {
        (false, _) => "",
        (true, false) => " DEFERRABLE",
        (true, true) => " DEFERRABLE INITIALLY DEFERRED",
    }
}

/// A primary key or unique constraint as pg_dump writes it, from its columns, with its
/// index's storage parameters before `DEFERRABLE` (`pg_get_constraintdef` leaves them out, so
/// a key with `fillfactor` would lose it). A key whose columns the model lacks keeps its
/// definition as read.
fn key_with_storage(c: &crate::model::Constraint, reloptions: &[String]) -> String {
    let Some(k) = c.key.as_deref() else {
        return c.definition.clone();
    };
    let names = |cols: &[crate::model::CompactString]| {
        cols.iter().map(|n| ident(n)).collect::<Vec<_>>().join(", ")
    };
    let mut d = String::from(if c.contype == 'p' {
        "PRIMARY KEY "
    } else {
        "UNIQUE "
    });
    if k.nulls_not_distinct {
        d.push_str("NULLS NOT DISTINCT ");
    }
    d.push('(');
    d.push_str(&names(&k.columns));
    if k.period {
        d.push_str(" WITHOUT OVERLAPS");
    }
    d.push(')');
    if !k.include.is_empty() {
        d.push_str(&format!(" INCLUDE ({})", names(&k.include)));
    }
    if !reloptions.is_empty() {
        let opts: Vec<String> = reloptions
            .iter()
            .map(|o| match o.split_once('=') {
                Some((k, v)) => format!("{}={}", ident(k), literal(v)),
                None => ident(o),
            })
            .collect();
        d.push_str(&format!(" WITH ({})", opts.join(", ")));
    }
    d.push_str(deferrable_clause(c));
    d
}

pub(super) fn render(cat: &Catalog, _opts: &Options, items: &mut Vec<Item>) {
    let mut rel: OidMap<u32, (String, char, &str)> = OidMap::default();
    for t in &cat.tables {
        rel.insert(
            t.oid,
            (qualified(&t.schema, &t.name), t.relkind, t.schema.as_str()),
        );
    }
    for v in &cat.views {
        rel.insert(
            v.oid,
            (qualified(&v.schema, &v.name), v.relkind, v.schema.as_str()),
        );
    }
    let has_parents: OidSet<u32> = cat
        .tables
        .iter()
        .filter(|t| !t.extra().inherits.is_empty() || t.is_partition())
        .map(|t| t.oid)
        .collect();
    let member = |c: u32, o: u32| cat.extension_members.contains(&ObjRef::new(c, o));
    let indexes: OidMap<u32, &crate::model::Index> =
        cat.indexes.iter().map(|i| (i.oid, i)).collect();

    let separate_checks = super::relations::separate_checks(cat);
    // Tables with inheritance children: a check added to one in post-data (NOT VALID) must
    // reach the children too (they have it, as inherited or merged), so it takes no ONLY.
    let inheritance_parents: OidSet<u32> = cat
        .tables
        .iter()
        .flat_map(|t| t.extra().inherits.iter().map(|(oid, _, _)| *oid))
        .collect();
    for c in &cat.constraints {
        let Some((table, relkind, schema)) = rel.get(&c.table_oid) else {
            continue;
        };
        if member(class::PG_CLASS, c.table_oid) {
            continue;
        }
        // Keys use ONLY everywhere (a partitioned table's key does not build its partitions'; their
        // own keys are attached). Foreign keys and checks on a partitioned table cannot be ONLY.
        let only = if *relkind == 'p' && c.contype != 'p' && c.contype != 'u' && c.contype != 'x'
            || c.contype == 'c' && inheritance_parents.contains(&c.table_oid)
        {
            ""
        } else {
            "ONLY "
        };
        let (kind, after_ref) = match c.contype {
            'p' | 'u' | 'x' => (Kind::Constraint, None),
            'f' if c.is_local => (
                Kind::ForeignKey,
                Some(ObjRef::new(class::PG_CLASS, c.ref_table_oid)),
            ),
            'c' if c.is_local && (!c.validated || separate_checks.contains(&c.oid)) => {
                (Kind::Constraint, None)
            }
            _ => continue,
        };
        let key_index = matches!(c.contype, 'p' | 'u')
            .then(|| indexes.get(&c.index_oid))
            .flatten();
        let using_index = key_index
            .filter(|_| *relkind != 'p')
            .and_then(|ix| using_index(c, ix))
            .map(|mut u| {
                u.inherited_not_null = c.contype == 'p' && has_parents.contains(&c.table_oid);
                u
            });
        let definition = match key_index {
            Some(ix) => key_with_storage(c, &ix.extra().reloptions),
            None => c.definition.clone(),
        };
        let lead = Lead::AlterTable {
            head: format!("ALTER TABLE {only}{table}"),
            cmd: format!("ADD CONSTRAINT {} {definition}", ident(&c.name)),
            using_index,
            primary_key: (c.contype == 'p').then(|| PrimaryKey {
                table: table.clone(),
                name: c.name.to_string(),
            }),
        };
        let rest = comment(cat, class::PG_CONSTRAINT, c.oid, 0, || {
            format!("CONSTRAINT {} ON {table}", ident(&c.name))
        });
        let mut item = Item::new(
            kind,
            format!("constraint {} on {table}", ident(&c.name)),
            schema,
            String::new(),
        )
        .provides(ObjRef::new(class::PG_CONSTRAINT, c.oid))
        .after(ObjRef::new(class::PG_CLASS, c.table_oid))
        .on_table(c.table_oid);
        item.set_lead(lead, &rest);
        if let Some(r) = after_ref {
            item.after.push(r);
        }
        if c.index_oid != 0 && matches!(c.contype, 'p' | 'u' | 'x') {
            item.provides
                .push(ObjRef::new(class::PG_CLASS, c.index_oid));
            if let Some(ix) = indexes.get(&c.index_oid) {
                item.sql += &index_extras(cat, ix, table);
            }
        }
        push(items, item);
    }

    // Materialized views created in post-data (their query needs a key): their indexes go
    // with them.
    let postponed: OidSet<u32> = super::relations::views_on_constraints(cat)
        .into_keys()
        .filter(|v| rel.get(v).is_some_and(|(_, k, _)| *k == 'm'))
        .collect();
    // NOT VALID NOT NULL constraints (18+) defined on their table: added once the rows are in,
    // as pg_dump does (without ONLY: children have them too).
    for t in &cat.tables {
        if member(class::PG_CLASS, t.oid) {
            continue;
        }
        let table = qualified(&t.schema, &t.name);
        for c in &t.columns {
            let Some(nn) = c.extra().not_null_constraint else {
                continue;
            };
            if nn.validated || !nn.is_local {
                continue;
            }
            let cname = ident(&super::relations::not_null_name(t, c));
            let sql = format!(
                "ALTER TABLE {table}\n    ADD CONSTRAINT {cname} NOT NULL {} NOT VALID;\n",
                ident(&c.name)
            ) + &comment(cat, class::PG_CONSTRAINT, nn.oid, 0, || {
                format!("CONSTRAINT {cname} ON {table}")
            });
            push(
                items,
                Item::new(
                    Kind::Constraint,
                    format!("constraint {cname} on {table}"),
                    &t.schema,
                    sql,
                )
                .provides(ObjRef::new(class::PG_CONSTRAINT, nn.oid))
                .after(ObjRef::new(class::PG_CLASS, t.oid))
                .on_table(t.oid),
            );
        }
    }

    for ix in &cat.indexes {
        let Some((table, _, schema)) = rel.get(&ix.table_oid) else {
            continue;
        };
        if member(class::PG_CLASS, ix.table_oid) || !ix.is_valid && !ix.is_partitioned {
            continue;
        }
        let name = qualified(&ix.schema, &ix.name);
        if ix.constraint_oid.is_none() {
            let lead = Lead::CreateIndex {
                create: ix.definition.clone(),
            };
            let kind = match postponed.contains(&ix.table_oid) {
                true => Kind::PostponedDefinition,
                false => Kind::Index,
            };
            let mut item = Item::new(kind, format!("index {name}"), schema, String::new())
                .provides(ObjRef::new(class::PG_CLASS, ix.oid))
                .after(ObjRef::new(class::PG_CLASS, ix.table_oid))
                .on_table(ix.table_oid);
            item.set_lead(lead, &index_extras(cat, ix, table));
            push(items, item);
        }
        if let Some((parent, parent_name)) = &ix.extra().parent_index {
            push(
                items,
                Item::new(
                    Kind::IndexAttach,
                    format!("index {name} attached to {parent_name}"),
                    schema,
                    format!("ALTER INDEX {parent_name} ATTACH PARTITION {name};\n"),
                )
                .after(ObjRef::new(class::PG_CLASS, ix.oid))
                .after(ObjRef::new(class::PG_CLASS, *parent))
                .on_table(ix.table_oid),
            );
        }
    }

    for s in &cat.statistics {
        let name = qualified(&s.schema, &s.name);
        let mut sql = format!("{};\n", s.definition);
        if let Some(n) = s.stat_target {
            sql += &format!("ALTER STATISTICS {name} SET STATISTICS {n};\n");
        }
        sql += &comment(cat, class::PG_STATISTIC_EXT, s.oid, 0, || {
            format!("STATISTICS {name}")
        });
        push(
            items,
            Item::new(
                Kind::Statistics,
                format!("statistics {name}"),
                &s.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_STATISTIC_EXT, s.oid))
            .after(ObjRef::new(class::PG_CLASS, s.table_oid))
            .on_table(s.table_oid),
        );
    }

    for r in &cat.rules {
        let Some((table, _, schema)) = rel.get(&r.table_oid) else {
            continue;
        };
        let mut sql = format!("{}\n", r.definition.trim_end());
        if !sql.trim_end().ends_with(';') {
            sql = format!("{};\n", sql.trim_end());
        }
        if r.enabled == 'D' {
            sql += &format!("ALTER TABLE {table} DISABLE RULE {};\n", ident(&r.name));
        }
        sql += &comment(cat, class::PG_REWRITE, r.oid, 0, || {
            format!("RULE {} ON {table}", ident(&r.name))
        });
        push(
            items,
            Item::new(
                Kind::Rule,
                format!("rule {} on {table}", ident(&r.name)),
                schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_REWRITE, r.oid))
            .after(ObjRef::new(class::PG_CLASS, r.table_oid))
            .on_table(r.table_oid),
        );
    }

    for t in &cat.triggers {
        let Some((table, _, schema)) = rel.get(&t.table_oid) else {
            continue;
        };
        let mut sql = match t.clone {
            false => format!("{};\n", t.definition),
            true => String::new(),
        };
        let name = ident(&t.name);
        match t.enabled {
            'O' if t.clone => sql += &format!("ALTER TABLE {table} ENABLE TRIGGER {name};\n"),
            'D' => sql += &format!("ALTER TABLE {table} DISABLE TRIGGER {name};\n"),
            'R' => sql += &format!("ALTER TABLE {table} ENABLE REPLICA TRIGGER {name};\n"),
            'A' => sql += &format!("ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name};\n"),
            _ => {}
        }
        sql += &comment(cat, class::PG_TRIGGER, t.oid, 0, || {
            format!("TRIGGER {name} ON {table}")
        });
        push(
            items,
            Item::new(
                match t.clone {
                    true => Kind::TriggerState,
                    false => Kind::Trigger,
                },
                format!("trigger {name} on {table}"),
                schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_TRIGGER, t.oid))
            .after(ObjRef::new(class::PG_CLASS, t.table_oid))
            .on_table(t.table_oid),
        );
    }

    for t in &cat.tables {
        let name = qualified(&t.schema, &t.name);
        let mut sql = String::new();
        if t.rls_enabled {
            sql += &format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n");
        }
        if !sql.is_empty() {
            push(
                items,
                Item::new(
                    Kind::Policy,
                    format!("row security on {name}"),
                    &t.schema,
                    sql,
                )
                .after(ObjRef::new(class::PG_CLASS, t.oid))
                .on_table(t.oid),
            );
        }
    }
    for p in &cat.policies {
        let Some((table, _, schema)) = rel.get(&p.table_oid) else {
            continue;
        };
        let name = ident(&p.name);
        let mut sql = format!("CREATE POLICY {name} ON {table}");
        if !p.permissive {
            sql += " AS RESTRICTIVE";
        }
        match p.command {
            'r' => sql += " FOR SELECT",
            'a' => sql += " FOR INSERT",
            'w' => sql += " FOR UPDATE",
            'd' => sql += " FOR DELETE",
            _ => {}
        }
        if !p.roles.is_empty() {
            sql += &format!(" TO {}", p.roles.join(", "));
        }
        if let Some(u) = &p.using {
            sql += &format!(" USING ({u})");
        }
        if let Some(w) = &p.with_check {
            sql += &format!(" WITH CHECK ({w})");
        }
        sql += ";\n";
        sql += &comment(cat, class::PG_POLICY, p.oid, 0, || {
            format!("POLICY {name} ON {table}")
        });
        push(
            items,
            Item::new(
                Kind::Policy,
                format!("policy {name} on {table}"),
                schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_POLICY, p.oid))
            .after(ObjRef::new(class::PG_CLASS, p.table_oid))
            .on_table(p.table_oid),
        );
    }

    for p in &cat.publications {
        let name = ident(&p.name);
        let mut sql = format!("CREATE PUBLICATION {name}");
        if p.all_tables {
            sql += " FOR ALL TABLES";
        }
        sql += &format!(" WITH (publish = {}", literal(&p.publish.join(", ")));
        if p.via_root {
            sql += ", publish_via_partition_root = true";
        }
        if p.generated_columns == Some('s') {
            sql += ", publish_generated_columns = stored";
        }
        sql += ");\n";
        sql += &comment(cat, class::PG_PUBLICATION, p.oid, 0, || {
            format!("PUBLICATION {name}")
        });
        for t in &p.tables {
            sql += &format!("ALTER PUBLICATION {name} ADD TABLE ONLY {}", t.table);
            if let Some(cols) = &t.columns {
                sql += &format!(" ({})", cols.join(", "));
            }
            if let Some(f) = &t.row_filter {
                sql += &format!(" WHERE ({f})");
            }
            sql += ";\n";
        }
        for s in &p.schemas {
            sql += &format!("ALTER PUBLICATION {name} ADD TABLES IN SCHEMA {s};\n");
        }
        push(
            items,
            Item::new(Kind::Publication, format!("publication {name}"), "", sql)
                .provides(ObjRef::new(class::PG_PUBLICATION, p.oid)),
        );
    }

    matview_refreshes(cat, items);
    // Made without connecting, as pg_dump does: the slot stays the source's to hand over.
    for s in &cat.subscriptions {
        let name = ident(&s.name);
        let pubs: Vec<String> = s.publications.iter().map(|p| ident(p)).collect();
        let mut options = vec!["connect = false".to_string()];
        options.push(match &s.slot_name {
            Some(slot) => format!("slot_name = {}", literal(slot)),
            None => "slot_name = NONE".into(),
        });
        options.extend(s.options.iter().map(|(k, v)| format!("{k} = {v}")));
        let mut sql = format!(
            "CREATE SUBSCRIPTION {name} CONNECTION {} PUBLICATION {} WITH ({});\n",
            literal(&s.conninfo),
            pubs.join(", "),
            options.join(", ")
        );
        sql += &comment(cat, class::PG_SUBSCRIPTION, s.oid, 0, || {
            format!("SUBSCRIPTION {name}")
        });
        push(
            items,
            Item::new(Kind::Subscription, format!("subscription {name}"), "", sql)
                .provides(ObjRef::new(class::PG_SUBSCRIPTION, s.oid)),
        );
    }

    for e in &cat.event_triggers {
        let name = ident(&e.name);
        let mut sql = format!("CREATE EVENT TRIGGER {name} ON {}", ident(&e.event));
        if !e.tags.is_empty() {
            let tags: Vec<String> = e.tags.iter().map(|t| literal(t)).collect();
            sql += &format!("\n         WHEN TAG IN ({})", tags.join(", "));
        }
        sql += &format!("\n   EXECUTE FUNCTION {}();\n", e.function);
        match e.enabled {
            'D' => sql += &format!("ALTER EVENT TRIGGER {name} DISABLE;\n"),
            'R' => sql += &format!("ALTER EVENT TRIGGER {name} ENABLE REPLICA;\n"),
            'A' => sql += &format!("ALTER EVENT TRIGGER {name} ENABLE ALWAYS;\n"),
            _ => {}
        }
        sql += &comment(cat, class::PG_EVENT_TRIGGER, e.oid, 0, || {
            format!("EVENT TRIGGER {name}")
        });
        push(
            items,
            Item::new(Kind::EventTrigger, format!("event trigger {name}"), "", sql)
                .provides(ObjRef::new(class::PG_EVENT_TRIGGER, e.oid)),
        );
    }
}

/// `REFRESH MATERIALIZED VIEW` of each matview populated on the source (pg_dump's
/// "MATERIALIZED VIEW DATA"): last in post-data, so after the matview's indexes, and after the
/// refreshes of the matviews it reads, directly or through plain views. One that reads a matview
/// left unpopulated is left unpopulated too: its refresh would fail. Unpopulated ones stay so.
fn matview_refreshes(cat: &Catalog, items: &mut Vec<Item>) {
    let views: OidMap<u32, &crate::model::View> = cat.views.iter().map(|v| (v.oid, v)).collect();
    // What each view's rule reads.
    let mut reads: OidMap<u32, Vec<u32>> = OidMap::default();
    for d in &cat.depends {
        if d.obj.class != class::PG_REWRITE || d.refobj.class != class::PG_CLASS {
            continue;
        }
        let Some(owner) = cat.owners.get(&d.obj) else {
            continue;
        };
        if owner.class == class::PG_CLASS
            && owner.oid != d.refobj.oid
            && views.contains_key(&owner.oid)
        {
            reads.entry(owner.oid).or_default().push(d.refobj.oid);
        }
    }
    for v in cat.views.iter().filter(|v| v.relkind == 'm' && v.populated) {
        let me = ObjRef::new(class::PG_CLASS, v.oid);
        if cat.extension_members.contains(&me) {
            continue;
        }
        let mut after: Vec<u32> = Vec::new();
        let mut unpopulated_input = false;
        let mut seen: OidSet<u32> = OidSet::default();
        let mut todo: Vec<u32> = reads.get(&v.oid).cloned().unwrap_or_default();
        while let Some(r) = todo.pop() {
            if !seen.insert(r) {
                continue;
            }
            match views.get(&r) {
                Some(m) if m.relkind == 'm' => match m.populated {
                    true => after.push(r),
                    false => unpopulated_input = true,
                },
                Some(_) => todo.extend(reads.get(&r).into_iter().flatten().copied()),
                None => {}
            }
        }
        if unpopulated_input {
            continue;
        }
        let name = qualified(&v.schema, &v.name);
        let mut item = Item::new(
            Kind::MatviewRefresh,
            format!("materialized view data {name}"),
            &v.schema,
            format!("REFRESH MATERIALIZED VIEW {name};\n"),
        )
        .provides(ObjRef::new(class::MATVIEW_DATA, v.oid))
        .after(me)
        .on_table(v.oid);
        after.sort_unstable();
        item.after.extend(
            after
                .into_iter()
                .map(|r| ObjRef::new(class::MATVIEW_DATA, r)),
        );
        push(items, item);
    }
}

/// A primary or unique key's index as its own `CREATE UNIQUE INDEX`, and the `ADD CONSTRAINT
/// … USING INDEX` that makes it the key, when that gives the same catalog as the plain `ADD
/// CONSTRAINT`. The index gets the constraint's name (a key's index always has it), so the
/// attachment renames nothing. Not for partitioned tables (the server rejects `USING INDEX`
/// there; the caller checks), nor for an index that is not a valid btree (a PostgreSQL 18
/// `WITHOUT OVERLAPS` key is GiST, and `USING INDEX` takes btree only).
///
/// `INCLUDE`, `NULLS NOT DISTINCT` and storage parameters are in the index definition and
/// carry over; `DEFERRABLE [INITIALLY DEFERRED]` goes on the `ADD CONSTRAINT`, which marks
/// the index deferrable as a plain `ADD CONSTRAINT` would.
fn using_index(c: &crate::model::Constraint, ix: &crate::model::Index) -> Option<UsingIndex> {
    if !ix.is_valid || ix.name != c.name || !ix.parts.unique || ix.parts.method != "btree" {
        return None;
    }
    let key = match c.contype {
        'p' => "PRIMARY KEY",
        'u' => "UNIQUE",
        _ => return None,
    };
    let deferrable = deferrable_clause(c);
    let name = ident(&c.name);
    Some(UsingIndex {
        create: ix.definition.clone(),
        cmd: format!("ADD CONSTRAINT {name} {key} USING INDEX {name}{deferrable}"),
        inherited_not_null: false,
    })
}

/// What pg_dump writes with an index: CLUSTER ON, REPLICA IDENTITY USING INDEX, per-column
/// statistics targets, and its comment.
fn index_extras(cat: &Catalog, ix: &crate::model::Index, table: &str) -> String {
    let name = qualified(&ix.schema, &ix.name);
    let mut sql = String::new();
    if ix.is_clustered {
        sql += &format!("ALTER TABLE {table} CLUSTER ON {};\n", ident(&ix.name));
    }
    if ix.is_replica_identity {
        sql += &format!(
            "ALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {};\n",
            ident(&ix.name)
        );
    }
    for (col, n) in &ix.extra().stat_targets {
        sql += &format!("ALTER INDEX {name} ALTER COLUMN {col} SET STATISTICS {n};\n");
    }
    // A key's index has a comment of its own, apart from the key's.
    sql += &comment(cat, class::PG_CLASS, ix.oid, 0, || format!("INDEX {name}"));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Constraint, Index, IndexParts, KeyDef};

    fn key_def(columns: &[&str]) -> Option<Box<KeyDef>> {
        Some(Box::new(KeyDef {
            columns: columns.iter().map(|&c| c.into()).collect(),
            include: vec![],
            nulls_not_distinct: false,
            period: false,
            references: None,
        }))
    }

    #[test]
    fn key_storage_parameters_go_before_deferrable() {
        let opts = vec!["fillfactor=70".to_string()];
        let (mut c, _) = key("k", 'p', "PRIMARY KEY (id)", "");
        c.key = key_def(&["id"]);
        assert_eq!(
            key_with_storage(&c, &opts),
            "PRIMARY KEY (id) WITH (fillfactor='70')"
        );
        let (mut c, _) = key("k", 'u', "UNIQUE (a) DEFERRABLE INITIALLY DEFERRED", "");
        c.key = key_def(&["a"]);
        assert_eq!(
            key_with_storage(&c, &opts),
            "UNIQUE (a) WITH (fillfactor='70') DEFERRABLE INITIALLY DEFERRED"
        );
        let (mut c, _) = key("k", 'u', "UNIQUE (a)", "");
        c.key = key_def(&["a"]);
        assert_eq!(key_with_storage(&c, &[]), "UNIQUE (a)");
    }

    #[test]
    fn keys_are_written_from_their_columns() {
        let (mut c, _) = key("k", 'u', "", "");
        let mut k = key_def(&["a", "Valid At"]).unwrap();
        (k.include, k.nulls_not_distinct, k.period) = (vec!["b".into()], true, true);
        c.key = Some(k);
        assert_eq!(
            key_with_storage(&c, &[]),
            "UNIQUE NULLS NOT DISTINCT (a, \"Valid At\" WITHOUT OVERLAPS) INCLUDE (b)"
        );
        c.key = None;
        c.definition = "UNIQUE (x)".into();
        assert_eq!(
            key_with_storage(&c, &[]),
            "UNIQUE (x)",
            "no columns: as read"
        );
    }

    fn key(name: &str, contype: char, def: &str, index_def: &str) -> (Constraint, Index) {
        let c = Constraint {
            oid: 1,
            schema: "public".into(),
            name: name.into(),
            contype,
            table_oid: 2,
            domain_oid: 0,
            definition: def.into(),
            validated: true,
            is_local: true,
            inh_count: 0,
            index_oid: 3,
            parent_oid: 0,
            ref_table_oid: 0,
            deferrable: def.ends_with(" DEFERRABLE") || def.contains(" DEFERRABLE "),
            deferred: def.ends_with(" INITIALLY DEFERRED"),
            key: None,
        };
        let ix = Index {
            oid: 3,
            schema: "public".into(),
            name: name.into(),
            table_oid: 2,
            definition: index_def.into(),
            constraint_oid: Some(1),
            is_valid: true,
            is_clustered: false,
            is_replica_identity: false,
            is_partitioned: false,
            parts: Box::new(IndexParts {
                method: if index_def.contains(" USING gist ") {
                    "gist"
                } else {
                    "btree"
                }
                .into(),
                unique: index_def.starts_with("CREATE UNIQUE INDEX "),
                ..Default::default()
            }),
            extra: None,
        };
        (c, ix)
    }

    #[test]
    fn keys_get_a_using_index_form_with_their_deferrability() {
        let (c, ix) = key(
            "t_pkey",
            'p',
            "PRIMARY KEY (id)",
            "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)",
        );
        assert_eq!(
            using_index(&c, &ix),
            Some(UsingIndex {
                create: "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)".into(),
                cmd: "ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey".into(),
                inherited_not_null: false,
            })
        );
        let (c, ix) = key(
            "Odd Key",
            'u',
            "UNIQUE NULLS NOT DISTINCT (a) INCLUDE (b) WITH (fillfactor='70') DEFERRABLE INITIALLY DEFERRED",
            "CREATE UNIQUE INDEX \"Odd Key\" ON public.t USING btree (a) INCLUDE (b) NULLS NOT DISTINCT WITH (fillfactor='70')",
        );
        let u = using_index(&c, &ix).unwrap();
        assert_eq!(u.create, ix.definition);
        assert_eq!(
            u.cmd,
            "ADD CONSTRAINT \"Odd Key\" UNIQUE USING INDEX \"Odd Key\" DEFERRABLE INITIALLY DEFERRED"
        );
        let (c, ix) = key(
            "k",
            'u',
            "UNIQUE (a) DEFERRABLE",
            "CREATE UNIQUE INDEX k ON public.t USING btree (a)",
        );
        assert!(using_index(&c, &ix)
            .unwrap()
            .cmd
            .ends_with("USING INDEX k DEFERRABLE"));
    }

    #[test]
    fn keys_that_using_index_would_change_keep_the_plain_form() {
        // A temporal key (18) is GiST; USING INDEX takes btree only.
        let (c, ix) = key(
            "k",
            'p',
            "PRIMARY KEY (id, valid_at WITHOUT OVERLAPS)",
            "CREATE UNIQUE INDEX k ON public.t USING gist (id, valid_at)",
        );
        assert_eq!(using_index(&c, &ix), None);
        // Exclusion constraints have no USING INDEX form.
        let (c, ix) = key(
            "k",
            'x',
            "EXCLUDE USING btree (id WITH =)",
            "CREATE UNIQUE INDEX k ON public.t USING btree (id)",
        );
        assert_eq!(using_index(&c, &ix), None);
        let (c, mut ix) = key(
            "k",
            'p',
            "PRIMARY KEY (id)",
            "CREATE UNIQUE INDEX k ON public.t USING btree (id)",
        );
        ix.is_valid = false;
        assert_eq!(using_index(&c, &ix), None);
    }
}
