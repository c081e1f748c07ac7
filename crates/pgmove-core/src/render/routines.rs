//! Functions, procedures, aggregates, operators and casts.

use super::{comment, option_list, owner, render_acl, Item, Kind, Options};
use crate::model::{class, Catalog, ObjRef};
use crate::quote::qualified;

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    for f in &cat.functions {
        let name = qualified(&f.schema, &f.name);
        let word = if f.kind == 'p' {
            "PROCEDURE"
        } else {
            "FUNCTION"
        };
        let sig = format!("{word} {name}({})", f.identity_args);
        // pg_get_functiondef ends the body without a semicolon; its body is dollar-quoted by
        // the server with a tag that does not occur in it.
        let mut sql = format!("{};\n", f.definition.trim_end());
        sql += &owner(opts, &sig, &f.owner);
        sql += &comment(cat, class::PG_PROC, f.oid, 0, &sig);
        if opts.privileges {
            sql += &render_acl("FUNCTION", &sig, f.acl.as_deref(), &f.owner, None);
        }
        items.push(
            Item::new(
                Kind::Function,
                format!("function {name}({})", f.identity_args),
                &f.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_PROC, f.oid)),
        );
    }

    for a in &cat.aggregates {
        let name = qualified(&a.schema, &a.name);
        let args = if a.arguments.is_empty() {
            "*".to_string()
        } else {
            a.arguments.clone()
        };
        let ident_args = if a.identity_args.is_empty() {
            "*".to_string()
        } else {
            a.identity_args.clone()
        };
        let sig = format!("AGGREGATE {name}({ident_args})");
        let mut sql = format!(
            "CREATE AGGREGATE {name}({args}) {};\n",
            option_list(&a.options)
        );
        sql += &owner(opts, &sig, &a.owner);
        sql += &comment(cat, class::PG_PROC, a.oid, 0, &sig);
        if opts.privileges {
            sql += &render_acl(
                "FUNCTION",
                &format!("FUNCTION {name}({})", a.identity_args),
                a.acl.as_deref(),
                &a.owner,
                None,
            );
        }
        items.push(
            Item::new(
                Kind::Aggregate,
                format!("aggregate {name}({ident_args})"),
                &a.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_PROC, a.oid)),
        );
    }

    for o in &cat.operators {
        let name = format!("{}.{}", crate::quote::ident(&o.schema), o.name);
        let sig = format!(
            "OPERATOR {name} ({}, {})",
            o.left.as_deref().unwrap_or("NONE"),
            o.right.as_deref().unwrap_or("NONE")
        );
        let mut sql = format!("CREATE OPERATOR {name} {};\n", option_list(&o.options));
        sql += &comment(cat, class::PG_OPERATOR, o.oid, 0, &sig);
        items.push(
            Item::new(Kind::Operator, format!("operator {name}"), &o.schema, sql)
                .provides(ObjRef::new(class::PG_OPERATOR, o.oid)),
        );
    }

    for c in &cat.casts {
        let how = match (c.method, &c.function) {
            ('f', Some(f)) => format!("WITH FUNCTION {f}"),
            ('i', _) => "WITH INOUT".to_string(),
            _ => "WITHOUT FUNCTION".to_string(),
        };
        let ctx = match c.context {
            'a' => " AS ASSIGNMENT",
            'i' => " AS IMPLICIT",
            _ => "",
        };
        let what = format!("CAST ({} AS {})", c.source, c.target);
        let mut sql = format!("CREATE {what} {how}{ctx};\n");
        sql += &comment(cat, class::PG_CAST, c.oid, 0, &what);
        items.push(
            Item::new(
                Kind::Cast,
                format!("cast ({} as {})", c.source, c.target),
                "",
                sql,
            )
            .provides(ObjRef::new(class::PG_CAST, c.oid)),
        );
    }
}
