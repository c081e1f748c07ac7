//! Schemas, extensions, collations, foreign data wrappers and servers, text search, default
//! privileges.

use super::{comment, fdw_options, owner, push, render_acl, Item, Kind, Options};
use crate::model::{class, Catalog, ObjRef};
use crate::quote::{ident, literal, qualified};

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    for s in &cat.schemas {
        if cat
            .extension_members
            .contains(&ObjRef::new(class::PG_NAMESPACE, s.oid))
        {
            continue;
        }
        let name = ident(&s.name);
        // `public` exists in every new database: only its comment and privileges travel.
        let mut sql = if s.name == "public" {
            String::new()
        } else {
            format!("CREATE SCHEMA {name};\n")
        };
        sql += &owner(opts, || format!("SCHEMA {name}"), &s.owner);
        // A new database's `public` has the comment 'standard public schema'; only a changed
        // one travels.
        let default_comment = s.name == "public"
            && cat.comment(class::PG_NAMESPACE, s.oid, 0) == Some("standard public schema");
        if s.name == "public" && cat.comment(class::PG_NAMESPACE, s.oid, 0).is_none() {
            sql += "COMMENT ON SCHEMA public IS '';\n";
        } else if !default_comment {
            sql += &comment(cat, class::PG_NAMESPACE, s.oid, 0, || {
                format!("SCHEMA {name}")
            });
        }
        if opts.privileges {
            if s.name == "public" {
                sql += &super::render_public_schema_acl(s.acl.as_deref(), &s.owner);
            } else {
                sql += &render_acl(
                    "SCHEMA",
                    &format!("SCHEMA {name}"),
                    s.acl.as_deref(),
                    &s.owner,
                    None,
                );
            }
        }
        if sql.is_empty() {
            continue;
        }
        push(
            items,
            Item::new(Kind::Schema, format!("schema {name}"), &s.name, sql)
                .provides(ObjRef::new(class::PG_NAMESPACE, s.oid)),
        );
    }

    for e in &cat.extensions {
        if e.name == "plpgsql" {
            continue;
        }
        let name = ident(&e.name);
        let sql = format!(
            "CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA {};\n{}",
            ident(&e.schema),
            comment(cat, class::PG_EXTENSION, e.oid, 0, || format!(
                "EXTENSION {name}"
            ))
        );
        push(
            items,
            Item::new(Kind::Extension, format!("extension {name}"), &e.schema, sql)
                .provides(ObjRef::new(class::PG_EXTENSION, e.oid)),
        );
    }

    for c in &cat.collations {
        if cat
            .extension_members
            .contains(&ObjRef::new(class::PG_COLLATION, c.oid))
        {
            continue;
        }
        let name = qualified(&c.schema, &c.name);
        let mut parts = Vec::new();
        match c.provider {
            'i' => parts.push("provider = icu".to_string()),
            'b' => parts.push("provider = builtin".to_string()),
            _ => parts.push("provider = libc".to_string()),
        }
        if !c.deterministic {
            parts.push("deterministic = false".into());
        }
        match (&c.locale, &c.collate, &c.ctype) {
            (Some(l), _, _) => parts.push(format!("locale = {}", literal(l))),
            (None, Some(a), Some(b)) if a == b => parts.push(format!("locale = {}", literal(a))),
            (None, a, b) => {
                if let Some(a) = a {
                    parts.push(format!("lc_collate = {}", literal(a)));
                }
                if let Some(b) = b {
                    parts.push(format!("lc_ctype = {}", literal(b)));
                }
            }
        }
        if let Some(r) = &c.icu_rules {
            parts.push(format!("rules = {}", literal(r)));
        }
        let sql = format!(
            "CREATE COLLATION {name} ({});\n{}",
            parts.join(", "),
            comment(cat, class::PG_COLLATION, c.oid, 0, || format!(
                "COLLATION {name}"
            ))
        );
        push(
            items,
            Item::new(Kind::Collation, format!("collation {name}"), &c.schema, sql)
                .provides(ObjRef::new(class::PG_COLLATION, c.oid)),
        );
    }

    for w in &cat.foreign_data_wrappers {
        let name = ident(&w.name);
        let mut sql = format!("CREATE FOREIGN DATA WRAPPER {name}");
        if let Some(h) = &w.handler {
            sql += &format!(" HANDLER {h}");
        }
        if let Some(v) = &w.validator {
            sql += &format!(" VALIDATOR {v}");
        }
        sql += &fdw_options(&w.options);
        sql += ";\n";
        if opts.privileges {
            let target = format!("FOREIGN DATA WRAPPER {name}");
            sql += &render_acl(
                "FOREIGN DATA WRAPPER",
                &target,
                w.acl.as_deref(),
                &w.owner,
                None,
            );
        }
        push(
            items,
            Item::new(
                Kind::ForeignDataWrapper,
                format!("foreign data wrapper {name}"),
                "",
                sql,
            )
            .provides(ObjRef::new(class::PG_FOREIGN_DATA_WRAPPER, w.oid)),
        );
    }
    for s in &cat.foreign_servers {
        let name = ident(&s.name);
        let mut sql = format!("CREATE SERVER {name}");
        if let Some(t) = &s.server_type {
            sql += &format!(" TYPE {}", literal(t));
        }
        if let Some(v) = &s.version {
            sql += &format!(" VERSION {}", literal(v));
        }
        sql += &format!(" FOREIGN DATA WRAPPER {}", ident(&s.wrapper));
        sql += &fdw_options(&s.options);
        sql += ";\n";
        for (role, options) in &s.user_mappings {
            sql += &format!(
                "CREATE USER MAPPING FOR {role} SERVER {name}{};\n",
                fdw_options(options)
            );
        }
        if opts.privileges {
            let target = format!("FOREIGN SERVER {name}");
            sql += &render_acl("FOREIGN SERVER", &target, s.acl.as_deref(), &s.owner, None);
        }
        push(
            items,
            Item::new(Kind::ForeignServer, format!("server {name}"), "", sql)
                .provides(ObjRef::new(class::PG_FOREIGN_SERVER, s.oid)),
        );
    }

    // One item per object, its own privileges before its columns' (REVOKE ALL on a table
    // also takes its column grants back), as the reader lists them.
    if opts.privileges {
        let mut acls = cat.system_acls.iter().peekable();
        while let Some(first) = acls.next() {
            let target = format!("{} {}", first.kind, first.target);
            let mut sql = String::new();
            let mut add = |a: &crate::model::SystemAcl| {
                sql += &super::render_system_acl(
                    &a.kind,
                    &target,
                    &a.acl,
                    a.initial.as_deref(),
                    &a.owner,
                    a.column.as_deref(),
                );
            };
            add(first);
            while let Some(a) = acls.next_if(|a| a.kind == first.kind && a.target == first.target) {
                add(a);
            }
            if sql.is_empty() {
                continue;
            }
            let what = format!(
                "privileges on {} {}",
                first.kind.to_lowercase(),
                first.target
            );
            let schema = if first.kind == "LANGUAGE" {
                ""
            } else {
                "pg_catalog"
            };
            push(items, Item::new(Kind::Acl, what, schema, sql));
        }
    }

    for l in &cat.languages {
        let name = ident(&l.name);
        let mut sql = format!(
            "CREATE {}PROCEDURAL LANGUAGE {name}",
            if l.trusted { "TRUSTED " } else { "" }
        );
        if let Some(h) = &l.handler {
            sql += &format!(" HANDLER {h}");
            if let Some(i) = &l.inline {
                sql += &format!(" INLINE {i}");
            }
            if let Some(v) = &l.validator {
                sql += &format!(" VALIDATOR {v}");
            }
        }
        sql += ";\n";
        sql += &owner(opts, || format!("LANGUAGE {name}"), &l.owner);
        sql += &comment(cat, class::PG_LANGUAGE, l.oid, 0, || {
            format!("LANGUAGE {name}")
        });
        if opts.privileges {
            let target = format!("LANGUAGE {name}");
            sql += &render_acl("LANGUAGE", &target, l.acl.as_deref(), &l.owner, None);
        }
        push(
            items,
            Item::new(Kind::Language, format!("language {name}"), "", sql)
                .provides(ObjRef::new(class::PG_LANGUAGE, l.oid)),
        );
    }

    for t in &cat.transforms {
        let what = format!(
            "TRANSFORM FOR {} LANGUAGE {}",
            t.ty.rendered,
            ident(&t.language)
        );
        let mut parts = Vec::new();
        if let Some(f) = &t.from_sql {
            parts.push(format!("FROM SQL WITH FUNCTION {f}"));
        }
        if let Some(f) = &t.to_sql {
            parts.push(format!("TO SQL WITH FUNCTION {f}"));
        }
        let mut sql = format!("CREATE {what} ({});\n", parts.join(", "));
        sql += &comment(cat, class::PG_TRANSFORM, t.oid, 0, || what.clone());
        push(
            items,
            Item::new(
                Kind::Transform,
                format!("transform for {} language {}", t.ty.rendered, t.language),
                "",
                sql,
            )
            .provides(ObjRef::new(class::PG_TRANSFORM, t.oid)),
        );
    }

    for c in &cat.conversions {
        let name = qualified(&c.schema, &c.name);
        let mut sql = format!(
            "CREATE {}CONVERSION {name} FOR {} TO {} FROM {};\n",
            if c.default { "DEFAULT " } else { "" },
            literal(&c.from_encoding),
            literal(&c.to_encoding),
            c.function
        );
        sql += &comment(cat, class::PG_CONVERSION, c.oid, 0, || {
            format!("CONVERSION {name}")
        });
        push(
            items,
            Item::new(
                Kind::Conversion,
                format!("conversion {name}"),
                &c.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_CONVERSION, c.oid)),
        );
    }

    for p in &cat.text_search_parts {
        let name = qualified(&p.schema, &p.name);
        let word = if p.kind == 'P' { "PARSER" } else { "TEMPLATE" };
        let options: Vec<String> = p
            .functions
            .iter()
            .map(|(k, f)| format!("    {k} = {f}"))
            .collect();
        let mut sql = format!(
            "CREATE TEXT SEARCH {word} {name} (\n{} );\n",
            options.join(",\n")
        );
        let class_id = if p.kind == 'P' {
            class::PG_TS_PARSER
        } else {
            class::PG_TS_TEMPLATE
        };
        sql += &comment(cat, class_id, p.oid, 0, || {
            format!("TEXT SEARCH {word} {name}")
        });
        push(
            items,
            Item::new(
                Kind::TextSearch,
                format!("text search {} {name}", word.to_lowercase()),
                &p.schema,
                sql,
            )
            .provides(ObjRef::new(class_id, p.oid)),
        );
    }

    for d in &cat.text_search_dicts {
        let name = qualified(&d.schema, &d.name);
        let mut sql = format!(
            "CREATE TEXT SEARCH DICTIONARY {name} (\n    TEMPLATE = {}",
            d.template
        );
        if let Some(o) = &d.options {
            sql += &format!(",\n    {o}");
        }
        sql += " );\n";
        sql += &comment(cat, class::PG_TS_DICT, d.oid, 0, || {
            format!("TEXT SEARCH DICTIONARY {name}")
        });
        push(
            items,
            Item::new(
                Kind::TextSearch,
                format!("text search dictionary {name}"),
                &d.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_TS_DICT, d.oid)),
        );
    }
    for c in &cat.text_search_configs {
        let name = qualified(&c.schema, &c.name);
        let mut sql = format!(
            "CREATE TEXT SEARCH CONFIGURATION {name} (\n    PARSER = {} );\n",
            c.parser
        );
        for (alias, dicts) in &c.mappings {
            sql += &format!(
                "ALTER TEXT SEARCH CONFIGURATION {name}\n    ADD MAPPING FOR {} WITH {};\n",
                ident(alias),
                dicts.join(", ")
            );
        }
        sql += &comment(cat, class::PG_TS_CONFIG, c.oid, 0, || {
            format!("TEXT SEARCH CONFIGURATION {name}")
        });
        push(
            items,
            Item::new(
                Kind::TextSearch,
                format!("text search configuration {name}"),
                &c.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_TS_CONFIG, c.oid)),
        );
    }

    if opts.privileges {
        for d in &cat.default_privileges {
            let (kind, word) = match d.objtype {
                'r' => ("TABLE", "TABLES"),
                'S' => ("SEQUENCE", "SEQUENCES"),
                'f' => ("FUNCTION", "FUNCTIONS"),
                'T' => ("TYPE", "TYPES"),
                'n' => ("SCHEMA", "SCHEMAS"),
                _ => continue,
            };
            let mut prefix = format!("ALTER DEFAULT PRIVILEGES FOR ROLE {}", ident(&d.role));
            if let Some(s) = &d.schema {
                prefix += &format!(" IN SCHEMA {}", ident(s));
            }
            let body =
                super::render_default_privileges(kind, word, &d.acl, &d.role, d.schema.is_some());
            let sql: String = body.lines().map(|l| format!("{prefix} {l}\n")).collect();
            if !sql.is_empty() {
                push(
                    items,
                    Item::new(
                        Kind::DefaultPrivileges,
                        format!("default privileges of {}", d.role),
                        d.schema.as_deref().unwrap_or(""),
                        sql,
                    ),
                );
            }
        }
    }
}
