//! Functions, procedures, aggregates, operators and casts.

use super::{comment, option_list, owner, push, render_acl, Item, Kind, Options};
use crate::model::{
    class, Aggregate, Argument, Catalog, ColumnType, FuncMember, Function, ObjRef, OpMember,
};
use crate::quote::{ident, qualified};

pub(super) fn render(cat: &Catalog, opts: &Options, items: &mut Vec<Item>) {
    let on_keys = functions_on_keys(cat);
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
                match on_keys.contains(&f.oid) {
                    true => Kind::PostponedDefinition,
                    false => Kind::Function,
                },
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
            option_list(&aggregate_options(a))
        );
        sql += &owner(opts, || sig.to_string(), &a.owner);
        sql += &comment(cat, class::PG_PROC, a.oid, 0, || sig.to_string());
        if opts.privileges {
            sql += &render_acl(
                "FUNCTION",
                &format!("FUNCTION {name}({})", type_list(&a.argument_types)),
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
            o.left.as_ref().map_or("NONE", |t| t.rendered.as_str()),
            o.right.as_ref().map_or("NONE", |t| t.rendered.as_str())
        );
        let mut sql = format!("CREATE OPERATOR {name} {};\n", option_list(&o.options));
        sql += &comment(cat, class::PG_OPERATOR, o.oid, 0, || sig.to_string());
        push(
            items,
            Item::new(Kind::Operator, format!("operator {name}"), &o.schema, sql)
                .provides(ObjRef::new(class::PG_OPERATOR, o.oid)),
        );
    }

    for m in &cat.access_methods {
        let name = ident(&m.name);
        let what = if m.kind == 't' { "TABLE" } else { "INDEX" };
        let mut sql = format!(
            "CREATE ACCESS METHOD {name} TYPE {what} HANDLER {};\n",
            m.handler
        );
        sql += &comment(cat, class::PG_AM, m.oid, 0, || {
            format!("ACCESS METHOD {name}")
        });
        push(
            items,
            Item::new(Kind::AccessMethod, format!("access method {name}"), "", sql)
                .provides(ObjRef::new(class::PG_AM, m.oid)),
        );
    }

    for f in &cat.operator_families {
        let name = qualified(&f.schema, &f.name);
        let using = format!("{name} USING {}", ident(&f.method));
        let mut sql = format!("CREATE OPERATOR FAMILY {using};\n");
        let members = member_list(&f.operators, &f.functions);
        if !members.is_empty() {
            sql += &format!("ALTER OPERATOR FAMILY {using} ADD\n    {members};\n");
        }
        sql += &comment(cat, class::PG_OPFAMILY, f.oid, 0, || {
            format!("OPERATOR FAMILY {using}")
        });
        push(
            items,
            Item::new(
                Kind::OperatorFamily,
                format!("operator family {using}"),
                &f.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_OPFAMILY, f.oid)),
        );
    }

    for c in &cat.operator_classes {
        let name = qualified(&c.schema, &c.name);
        let using = format!("{name} USING {}", ident(&c.method));
        let mut sql = format!("CREATE OPERATOR CLASS {name}\n    ");
        if c.default {
            sql += "DEFAULT ";
        }
        let input_type = &c.input_type.rendered;
        sql += &format!("FOR TYPE {input_type} USING {}", ident(&c.method));
        // Without FAMILY the class goes into the family of its own name (made if missing).
        if c.family != (c.schema.clone(), c.name.clone()) {
            sql += &format!(" FAMILY {}", qualified(&c.family.0, &c.family.1));
        }
        let mut members = member_list(&c.operators, &c.functions);
        if let Some(s) = c.storage.as_ref().map(|s| &s.rendered) {
            members = match members.is_empty() {
                true => format!("STORAGE {s}"),
                false => format!("{members},\n    STORAGE {s}"),
            };
        } else if members.is_empty() {
            // The list cannot be empty: naming the input type as storage changes nothing.
            members = format!("STORAGE {input_type}");
        }
        sql += &format!(" AS\n    {members};\n");
        sql += &comment(cat, class::PG_OPCLASS, c.oid, 0, || {
            format!("OPERATOR CLASS {using}")
        });
        push(
            items,
            Item::new(
                Kind::OperatorClass,
                format!("operator class {using}"),
                &c.schema,
                sql,
            )
            .provides(ObjRef::new(class::PG_OPCLASS, c.oid)),
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
        let (source, target) = (&c.source.rendered, &c.target.rendered);
        let what = format!("CAST ({source} AS {target})");
        let mut sql = format!("CREATE {what} {how}{ctx};\n");
        sql += &comment(cat, class::PG_CAST, c.oid, 0, || what.to_string());
        let mut item = Item::new(Kind::Cast, format!("cast ({source} as {target})"), "", sql)
            .provides(ObjRef::new(class::PG_CAST, c.oid));
        // A cast function's result must be the target type or binary-coercible to it, which a
        // binary cast into the target may be what allows: such casts come first.
        if c.method == 'f' {
            item.after.extend(
                cat.casts
                    .iter()
                    .filter(|b| b.method == 'b' && b.target.oid == c.target.oid && b.oid != c.oid)
                    .map(|b| ObjRef::new(class::PG_CAST, b.oid)),
            );
        }
        push(items, item);
    }
}

/// An aggregate's `CREATE AGGREGATE` options, with `STYPE` after `SFUNC` and `MSTYPE` after
/// `MINVFUNC` (each moving-aggregate option requires the others).
fn aggregate_options(a: &Aggregate) -> Vec<(String, String)> {
    let mut options = Vec::with_capacity(a.options.len() + 2);
    for (key, value) in &a.options {
        options.push((key.clone(), value.clone()));
        match (key.as_str(), &a.moving_state_type) {
            ("SFUNC", _) => options.push(("STYPE".into(), a.state_type.rendered.to_string())),
            ("MINVFUNC", Some(m)) => options.push(("MSTYPE".into(), m.rendered.to_string())),
            _ => {}
        }
    }
    options
}

/// Types as a comma-separated list of their rendered names.
fn type_list(types: &[ColumnType]) -> String {
    types
        .iter()
        .map(|t| t.rendered.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Functions whose body (`BEGIN ATOMIC`: the server records what it uses) relies on a primary
/// key, unique or exclusion constraint, all post-data.
fn functions_on_keys(cat: &Catalog) -> crate::oidhash::OidSet<u32> {
    let keys: crate::oidhash::OidSet<u32> = cat
        .constraints
        .iter()
        .filter(|c| matches!(c.contype, 'p' | 'u' | 'x'))
        .map(|c| c.oid)
        .collect();
    cat.depends
        .iter()
        .filter(|d| {
            d.obj.class == class::PG_PROC
                && d.refobj.class == class::PG_CONSTRAINT
                && keys.contains(&d.refobj.oid)
        })
        .map(|d| d.obj.oid)
        .collect()
}

/// The `OPERATOR …` and `FUNCTION …` entries of an operator class or family, one a line.
/// Operand types of support functions are always named: `ALTER OPERATOR FAMILY` requires them,
/// and in a class they are the ones the server would infer.
fn member_list(operators: &[OpMember], functions: &[FuncMember]) -> String {
    let ops = operators.iter().map(|o| {
        let mut s = format!("OPERATOR {} {}", o.strategy, o.operator);
        if let Some(f) = &o.order_by {
            s += &format!(" FOR ORDER BY {f}");
        }
        s
    });
    let funcs = functions.iter().map(|f| {
        format!(
            "FUNCTION {} ({}, {}) {}",
            f.number, f.left.rendered, f.right.rendered, f.function
        )
    });
    ops.chain(funcs).collect::<Vec<_>>().join(",\n    ")
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
            format!("{mode}{name}{}{default}", a.ty.rendered)
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
        .map(|a| format!("{} {}", ident(&a.name), a.ty.rendered))
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
        let typname = match ty {
            "integer" => "int4",
            other => other,
        };
        Argument {
            mode,
            name: name.into(),
            ty: ColumnType::builtin(0, typname, ty),
            default: default.map(str::to_string),
        }
    }

    #[test]
    fn state_types_follow_their_functions() {
        let ty = |name: &str| ColumnType::builtin(0, name, name);
        let option = |k: &str, v: &str| (k.to_string(), v.to_string());
        let a = Aggregate {
            oid: 1,
            schema: "s".into(),
            name: "agg".into(),
            arguments: "integer".into(),
            identity_args: "integer".into(),
            argument_types: vec![ColumnType::builtin(23, "int4", "integer")],
            state_type: ty("int8"),
            moving_state_type: Some(ty("numeric")),
            options: vec![
                option("SFUNC", "s.step"),
                option("SSPACE", "8"),
                option("MSFUNC", "s.mstep"),
                option("MINVFUNC", "s.minv"),
                option("MSSPACE", "16"),
            ],
            acl: None,
            owner: "postgres".into(),
        };
        let keys: Vec<(String, String)> = aggregate_options(&a);
        assert_eq!(
            keys,
            [
                option("SFUNC", "s.step"),
                option("STYPE", "int8"),
                option("SSPACE", "8"),
                option("MSFUNC", "s.mstep"),
                option("MINVFUNC", "s.minv"),
                option("MSTYPE", "numeric"),
                option("MSSPACE", "16"),
            ]
        );
        assert_eq!(type_list(&a.argument_types), "integer");
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
            result: Some(ColumnType::builtin(23, "int4", "integer")),
            returns_set: false,
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
