//! User-defined types: enums, composites, ranges, domains and base types.

use super::{comment, option_list, owner, push, render_acl, Item, Kind, Options};
use crate::model::{class, Catalog, ObjRef, TypeKind};
use crate::quote::{ident, literal, qualified};

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    for t in &cat.types {
        let me = ObjRef::new(class::PG_TYPE, t.oid);
        if cat.extension_members.contains(&me) {
            continue;
        }
        let name = qualified(&t.schema, &t.name);
        let mut word = "TYPE";
        let mut sql = match &t.kind {
            TypeKind::Enum { labels } => format!(
                "CREATE TYPE {name} AS ENUM (\n{}\n);\n",
                labels
                    .iter()
                    .map(|l| format!("    {}", literal(l)))
                    .collect::<Vec<_>>()
                    .join(",\n")
            ),
            TypeKind::Composite { attributes, .. } => format!(
                "CREATE TYPE {name} AS (\n{}\n);\n",
                attributes
                    .iter()
                    .map(|a| {
                        let c = a
                            .collation
                            .as_ref()
                            .map(|(schema, name)| format!(" COLLATE {}", qualified(schema, name)))
                            .unwrap_or_default();
                        format!("\t{} {}{c}", ident(&a.name), a.ty.rendered)
                    })
                    .collect::<Vec<_>>()
                    .join(",\n")
            ),
            TypeKind::Range {
                subtype,
                opclass,
                collation,
                canonical,
                subdiff,
                multirange,
            } => {
                let mut o = vec![("subtype".to_string(), subtype.rendered.to_string())];
                if let Some(m) = multirange {
                    o.push(("multirange_type_name".into(), m.rendered.to_string()));
                }
                if let Some(x) = opclass {
                    o.push(("subtype_opclass".into(), x.clone()));
                }
                if let Some(x) = collation {
                    o.push(("collation".into(), x.clone()));
                }
                if let Some(x) = canonical {
                    o.push(("canonical".into(), x.clone()));
                }
                if let Some(x) = subdiff {
                    o.push(("subtype_diff".into(), x.clone()));
                }
                format!("CREATE TYPE {name} AS RANGE {};\n", option_list(&o))
            }
            TypeKind::Domain {
                base,
                collation,
                default,
                not_null,
                constraints,
            } => {
                word = "DOMAIN";
                let mut s = format!("CREATE DOMAIN {name} AS {}", base.rendered);
                if let Some(c) = collation {
                    s += &format!(" COLLATE {c}");
                }
                if let Some(d) = default {
                    s += &format!(" DEFAULT {d}");
                }
                if *not_null {
                    // 17+ names the constraint: kept where it is not the default name.
                    let default_name = format!("{}_not_null", t.name);
                    match constraints.iter().find(|c| c.not_null) {
                        Some(c) if c.name != default_name => {
                            s += &format!(" CONSTRAINT {} NOT NULL", ident(&c.name))
                        }
                        _ => s += " NOT NULL",
                    }
                }
                for c in constraints.iter().filter(|c| c.validated && !c.not_null) {
                    s += &format!("\n\tCONSTRAINT {} {}", ident(&c.name), c.definition);
                }
                s += ";\n";
                for c in constraints.iter().filter(|c| c.validated) {
                    s += &comment(cat, class::PG_CONSTRAINT, c.oid, 0, || {
                        format!("CONSTRAINT {} ON DOMAIN {name}", ident(&c.name))
                    });
                }
                // NOT VALID ones are post-data, as in pg_dump: added once the rows are in.
                for c in constraints.iter().filter(|c| !c.validated && !c.not_null) {
                    let cname = ident(&c.name);
                    let sql = format!(
                        "ALTER DOMAIN {name}\n    ADD CONSTRAINT {cname} {};\n",
                        c.definition
                    ) + &comment(cat, class::PG_CONSTRAINT, c.oid, 0, || {
                        format!("CONSTRAINT {cname} ON DOMAIN {name}")
                    });
                    push(
                        items,
                        Item::new(
                            Kind::Constraint,
                            format!("constraint {cname} on domain {name}"),
                            &t.schema,
                            sql,
                        )
                        .after(me),
                    );
                }
                s
            }
            TypeKind::Shell => {
                let mut sql = format!("CREATE TYPE {name};\n");
                finish(cat, opts, t, &name, word, &mut sql);
                push(
                    items,
                    Item::new(
                        Kind::ShellType,
                        format!("shell type {name}"),
                        &t.schema,
                        sql,
                    )
                    .provides(me),
                );
                continue;
            }
            TypeKind::Base { options } => {
                // A shell first, so the I/O functions can name the type; completed after them.
                push(
                    items,
                    Item::new(
                        Kind::ShellType,
                        format!("shell type {name}"),
                        &t.schema,
                        format!("CREATE TYPE {name};\n"),
                    )
                    .provides(me),
                );
                // The full definition follows the shell and everything the type depends on
                // (its I/O functions); the sort gives the shell no dependencies of its own.
                // It provides the type too: the sort sends what needs the type to it, except
                // the functions the type itself depends on (its I/O functions), which take the
                // shell (see `sort::dependency_edges`).
                let mut full = Item::new(
                    Kind::Type,
                    format!("type {name}"),
                    &t.schema,
                    format!("CREATE TYPE {name} {};\n", option_list(options)),
                )
                .provides(me)
                .after(me);
                full.after
                    .extend(cat.depends.iter().filter(|d| d.obj == me).map(|d| d.refobj));
                finish(cat, opts, t, &name, word, &mut full.sql);
                push(items, full);
                continue;
            }
        };
        finish(cat, opts, t, &name, word, &mut sql);
        push(
            items,
            Item::new(Kind::Type, format!("type {name}"), &t.schema, sql).provides(me),
        );
    }
}

fn finish(
    cat: &Catalog,
    opts: &Options,
    t: &crate::model::TypeDef,
    name: &str,
    word: &str,
    sql: &mut String,
) {
    *sql += &owner(opts, || format!("{word} {name}"), &t.owner);
    *sql += &comment(cat, class::PG_TYPE, t.oid, 0, || format!("{word} {name}"));
    if let TypeKind::Composite { relid, attributes } = &t.kind {
        for (i, a) in attributes.iter().map(|a| &a.name).enumerate() {
            *sql += &comment(cat, class::PG_CLASS, *relid, i as i32 + 1, || {
                format!("COLUMN {name}.{}", ident(a))
            });
        }
    }
    if opts.privileges {
        *sql += &render_acl(
            "TYPE",
            &format!("TYPE {name}"),
            t.acl.as_deref(),
            &t.owner,
            None,
        );
    }
}
