//! Functions, procedures, aggregates, operators and casts.

use super::{comment, option_list, owner, push, render_acl, Item, Kind, Options};
use crate::model::{class, Argument, Catalog, Function, ObjRef};
use crate::quote::{ident, qualified};

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    for f in &cat.functions {
        let name = qualified(&f.schema, &f.name);
        let word = if f.kind == 'p' {
            "PROCEDURE"
        } else {
            "FUNCTION"
        };
        let identity = argument_list(&f.arguments, false);
        let sig = format!("{word} {name}({identity})");
        // pg_get_functiondef ends the body without a semicolon; its body is dollar-quoted by
        // the server with a tag that does not occur in it.
        let mut sql = format!("{};\n", definition(f).trim_end());
        sql += &owner(opts, || sig.to_string(), &f.owner);
        sql += &comment(cat, class::PG_PROC, f.oid, 0, || sig.to_string());
        if opts.privileges {
            sql += &render_acl("FUNCTION", &sig, f.acl.as_deref(), &f.owner, None);
        }
        push(
            items,
            Item::new(
                Kind::Function,
                format!("function {name}({identity})"),
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
        sql += &owner(opts, || sig.to_string(), &a.owner);
        sql += &comment(cat, class::PG_PROC, a.oid, 0, || sig.to_string());
        if opts.privileges {
            sql += &render_acl(
                "FUNCTION",
                &format!("FUNCTION {name}({})", a.type_args),
                a.acl.as_deref(),
                &a.owner,
                None,
            );
        }
        push(
            items,
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
        sql += &comment(cat, class::PG_OPERATOR, o.oid, 0, || sig.to_string());
        push(
            items,
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
        sql += &comment(cat, class::PG_CAST, c.oid, 0, || what.to_string());
        push(
            items,
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

/// `[mode ]name type[ DEFAULT expr]` for each argument but `RETURNS TABLE` columns, as
/// `pg_get_function_arguments` prints them (or, without defaults, the identity arguments), with
/// names quoted by pgmove.
fn argument_list(args: &[Argument], with_defaults: bool) -> String {
    args.iter()
        .filter(|a| a.mode != 't')
        .map(|a| {
            let mode = match a.mode {
                'o' => "OUT ",
                'b' => "INOUT ",
                'v' => "VARIADIC ",
                _ => "",
            };
            let name = if a.name.is_empty() {
                String::new()
            } else {
                format!("{} ", ident(&a.name))
            };
            let default = match (&a.default, with_defaults) {
                (Some(d), true) => format!(" DEFAULT {d}"),
                _ => String::new(),
            };
            format!("{mode}{name}{}{default}", a.type_name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The source's `pg_get_functiondef` with its argument list and its `RETURNS TABLE(…)` written
/// again from [`Function::arguments`]: the source quoted names by its own keyword list, which
/// may lack keywords of the target (an argument `json` is bare on 15 and a syntax error on 16+).
fn definition(f: &Function) -> String {
    let mut def = f.definition.clone();
    let ours = format!("({})\n", argument_list(&f.arguments, true));
    let theirs = format!("({})\n", f.server_arguments);
    if ours != theirs {
        def = def.replacen(&theirs, &ours, 1);
    }
    let columns: Vec<String> = f
        .arguments
        .iter()
        .filter(|a| a.mode == 't')
        .map(|a| format!("{} {}", ident(&a.name), a.type_name))
        .collect();
    if !columns.is_empty() {
        let ours = format!(" RETURNS TABLE({})\n", columns.join(", "));
        let theirs = format!(" RETURNS {}\n", f.server_result);
        def = def.replacen(&theirs, &ours, 1);
    }
    def
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(mode: char, name: &str, ty: &str, default: Option<&str>) -> Argument {
        Argument {
            mode,
            name: name.into(),
            type_name: ty.into(),
            default: default.map(str::to_string),
        }
    }

    #[test]
    fn argument_names_are_quoted_by_pgmove() {
        // As a 15 server prints it: `json` and `table` column `json` bare.
        let f = Function {
            oid: 1,
            schema: "test".into(),
            name: "f".into(),
            kind: 'f',
            definition: "CREATE OR REPLACE FUNCTION test.f(json json DEFAULT '{}'::json, OUT n integer)\n RETURNS integer\n LANGUAGE sql\nAS $function$ SELECT 1 $function$\n".into(),
            arguments: vec![
                arg('i', "json", "json", Some("'{}'::json")),
                arg('o', "n", "integer", None),
            ],
            server_arguments: "json json DEFAULT '{}'::json, OUT n integer".into(),
            server_result: "integer".into(),
            acl: None,
            owner: "postgres".into(),
        };
        assert_eq!(
            definition(&f),
            "CREATE OR REPLACE FUNCTION test.f(\"json\" json DEFAULT '{}'::json, OUT n integer)\n RETURNS integer\n LANGUAGE sql\nAS $function$ SELECT 1 $function$\n"
        );
        assert_eq!(
            argument_list(&f.arguments, false),
            "\"json\" json, OUT n integer"
        );

        let g = Function {
            definition: "CREATE OR REPLACE FUNCTION test.g()\n RETURNS TABLE(json json, \"Id\" integer)\n LANGUAGE sql\nAS $$ SELECT 1 $$\n".into(),
            arguments: vec![arg('t', "json", "json", None), arg('t', "Id", "integer", None)],
            server_arguments: String::new(),
            server_result: "TABLE(json json, \"Id\" integer)".into(),
            ..f
        };
        assert!(definition(&g).contains(" RETURNS TABLE(\"json\" json, \"Id\" integer)\n"));
    }
}
