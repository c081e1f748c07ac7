//! Functions, procedures, aggregates, operators and casts.

use super::typeref::{type_cols, TypeCols};
use super::{ch, not_member, opt_ch, query_many, since, Conn, USER_SCHEMAS};
use crate::model::{
    class, AccessMethod, Aggregate, Argument, Cast, Catalog, FuncMember, Function, ObjRef, OpClass,
    OpFamily, OpMember, Operator,
};
use crate::quote;
use crate::Result;
use std::collections::HashMap;

/// A routine's result type and each argument's type.
const RESULT: TypeCols = type_cols!("result");
const ARGUMENT: TypeCols = type_cols!("arg");
/// A cast's source and target types.
const SOURCE: TypeCols = type_cols!("source");
const TARGET: TypeCols = type_cols!("target");
/// An aggregate's state type and its moving-aggregate state type.
const STATE: TypeCols = type_cols!("stype");
const MOVING_STATE: TypeCols = type_cols!("mstype");
/// An operator's operand types, and those of a support function of an operator class or
/// family.
const LEFT: TypeCols = type_cols!("left");
const RIGHT: TypeCols = type_cols!("right");
/// An operator class's indexed type and the type stored, when another.
const INPUT: TypeCols = type_cols!("input_type");
const STORAGE: TypeCols = type_cols!("storage");

pub(super) async fn read(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    // prokind arrived in 11; before it, proisagg/proiswindow said the same.
    let kind = since(
        v,
        110000,
        "p.prokind",
        "CASE WHEN p.proisagg THEN 'a' WHEN p.proiswindow THEN 'w' ELSE 'f' END::\"char\"",
    );
    let p_not_member = not_member("pg_proc", "p", true);
    let o_not_member = not_member("pg_operator", "o", false);
    let c_not_member = not_member("pg_cast", "c", true);
    let aggregates = format!(
        "SELECT p.oid, n.nspname::text AS schema, p.proname::text AS name,
                pg_get_function_arguments(p.oid) AS args,
                pg_get_function_identity_arguments(p.oid) AS identity_args,
                p.proacl::text[] AS acl, pg_get_userbyid(p.proowner)::text AS owner,
                a.aggtransfn::regproc::text AS sfunc, {stype_select},
                a.aggtransspace AS sspace,
                NULLIF(a.aggfinalfn, 0)::regproc::text AS finalfunc, a.aggfinalextra AS finalextra,
                {combine} AS combinefunc, {serial} AS serialfunc, {deserial} AS deserialfunc,
                a.agginitval AS initcond,
                NULLIF(a.aggmtransfn, 0)::regproc::text AS msfunc,
                NULLIF(a.aggminvtransfn, 0)::regproc::text AS minvfunc,
                {mstype_select},
                a.aggmtransspace AS msspace,
                NULLIF(a.aggmfinalfn, 0)::regproc::text AS mfinalfunc, a.aggmfinalextra AS mfinalextra,
                a.aggminitval AS minitcond,
                {sortop} AS sortop,
                {finalmodify} AS finalmodify, {parallel} AS parallel, a.aggkind
         FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
         JOIN pg_namespace n ON n.oid = p.pronamespace
         {stype_joins}
         {mstype_joins}
         WHERE {USER_SCHEMAS}
           AND {p_not_member}
         ORDER BY 2, 3",
        sortop = operator_name("NULLIF(a.aggsortop, 0)"),
        stype_select = STATE.select(),
        mstype_select = MOVING_STATE.select(),
        stype_joins = STATE.joins("a.aggtranstype"),
        mstype_joins = MOVING_STATE.joins("a.aggmtranstype"),
        // Combine, serial and deserial functions and parallel safety: parallel query, 9.6.
        combine = since(v, 90600, "NULLIF(a.aggcombinefn, 0)::regproc::text", "NULL::text"),
        serial = since(v, 90600, "NULLIF(a.aggserialfn, 0)::regproc::text", "NULL::text"),
        deserial = since(v, 90600, "NULLIF(a.aggdeserialfn, 0)::regproc::text", "NULL::text"),
        // Before 11 a final function could not choose: it left a plain aggregate's state alone
        // and could change an ordered-set one's, as 11's defaults for each kind still say.
        finalmodify = since(
            v,
            110000,
            "a.aggfinalmodify",
            "CASE a.aggkind WHEN 'n' THEN 'r' ELSE 'w' END::\"char\"",
        ),
        parallel = since(v, 90600, "p.proparallel", "'u'::\"char\""),
    );
    let functions = format!(
        "SELECT p.oid, n.nspname::text AS schema, p.proname::text AS name, {kind} AS kind,
                    pg_get_function_identity_arguments(p.oid) AS identity_args,
                    CASE WHEN {kind} <> 'a' THEN pg_get_functiondef(p.oid) END AS def,
                    p.proacl::text[] AS acl, pg_get_userbyid(p.proowner)::text AS owner,
                    pg_get_function_arguments(p.oid) AS server_args,
                    pg_get_function_result(p.oid) AS server_result,
                    p.proretset, {result_select}
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             {result_joins}
             WHERE {USER_SCHEMAS}
               AND {p_not_member}
             ORDER BY 2, 3, 5",
        result_select = RESULT.select(),
        result_joins = RESULT.joins("p.prorettype"),
    );
    // Every argument of every routine (aggregates too), one a row: `OUT` and `TABLE` ones
    // among them (`proallargtypes`, when set).
    let arguments = format!(
        "SELECT p.oid AS proc, p.proargnames[u.n]::text AS argname,
                p.proargmodes[u.n] AS argmode,
                pg_get_function_arg_default(p.oid, u.n::int4) AS argdefault,
                {arg_select}
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         CROSS JOIN LATERAL unnest(COALESCE(p.proallargtypes, p.proargtypes::oid[]))
               WITH ORDINALITY AS u(t, n)
         {arg_joins}
         WHERE {USER_SCHEMAS}
           AND {p_not_member}
         ORDER BY p.oid, u.n",
        arg_select = ARGUMENT.select(),
        arg_joins = ARGUMENT.joins("u.t"),
    );
    // A shell operator (no function: made by another operator's COMMUTATOR or NEGATOR that
    // names it before it exists) is left out, as pg_dump does: the operator naming it makes it
    // again on the target.
    let operators = format!(
        "SELECT o.oid, n.nspname::text AS schema, o.oprname::text AS name,
                    {left_select}, {right_select},
                    {func} AS func, {com} AS com, {neg} AS neg,
                    NULLIF(o.oprrest, 0)::regproc::text AS rest,
                    NULLIF(o.oprjoin, 0)::regproc::text AS join,
                    o.oprcanhash, o.oprcanmerge
             FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
             {left_joins}
             {right_joins}
             WHERE {USER_SCHEMAS}
               AND {o_not_member}
               AND o.oprcode <> 0
             ORDER BY 2, 3",
        func = function_name("o.oprcode"),
        com = operator_name("o.oprcom"),
        neg = operator_name("o.oprnegate"),
        left_select = LEFT.select(),
        right_select = RIGHT.select(),
        left_joins = LEFT.joins("o.oprleft"),
        right_joins = RIGHT.joins("o.oprright"),
    );
    let casts = format!(
        "SELECT c.oid, {source_select}, {target_select}, c.castmethod,
                CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END AS func,
                c.castcontext
         FROM pg_cast c
         {source_joins}
         {target_joins}
         WHERE c.oid >= 16384
           AND {c_not_member}
         ORDER BY source, target",
        source_select = SOURCE.select(),
        target_select = TARGET.select(),
        source_joins = SOURCE.joins("c.castsource"),
        target_joins = TARGET.joins("c.casttarget"),
    );
    // User access methods (9.6+: `amtype`); before, none can be made.
    let methods = match v >= 90600 {
        true => format!(
            "SELECT a.oid, a.amname::text AS name, a.amtype, a.amhandler::regproc::text AS handler
             FROM pg_am a WHERE a.oid >= 16384 AND {} ORDER BY 2",
            not_member("pg_am", "a", false)
        ),
        false => String::new(),
    };
    let families = format!(
        "SELECT f.oid, n.nspname::text AS schema, f.opfname::text AS name, a.amname::text AS method
         FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace
         JOIN pg_am a ON a.oid = f.opfmethod
         WHERE {USER_SCHEMAS} AND {} ORDER BY 2, 3",
        not_member("pg_opfamily", "f", false)
    );
    let classes = format!(
        "SELECT c.oid, n.nspname::text AS schema, c.opcname::text AS name, a.amname::text AS method,
                {input_select}, c.opcdefault,
                fn.nspname::text AS family_schema, f.opfname::text AS family,
                {storage_select}
         FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
         JOIN pg_am a ON a.oid = c.opcmethod
         JOIN pg_opfamily f ON f.oid = c.opcfamily JOIN pg_namespace fn ON fn.oid = f.opfnamespace
         {input_joins}
         {storage_joins}
         WHERE {USER_SCHEMAS} AND {} ORDER BY 2, 3",
        not_member("pg_opclass", "c", false),
        input_select = INPUT.select(),
        storage_select = STORAGE.select(),
        input_joins = INPUT.joins("c.opcintype"),
        storage_joins = STORAGE.joins(
            "CASE WHEN c.opckeytype <> c.opcintype THEN c.opckeytype END"
        ),
    );
    // Members made by users (OIDs past the built-in ones), each with the class or family it
    // belongs to (its `pg_depend` row: internal on a class, auto on a family), in the order
    // they were made, which the target then keeps.
    let members = format!(
        "SELECT u.*, {left_select}, {right_select}
         FROM (SELECT 'o' AS what, m.oid, d.refclassid, d.refobjid, m.amopstrategy AS number,
                      m.amopopr::regoperator::text AS member, NULL::oid AS lefttype,
                      NULL::oid AS righttype,
                      CASE WHEN m.amoppurpose = 'o'
                           THEN quote_ident(sn.nspname) || '.' || quote_ident(sf.opfname)
                      END AS order_by
               FROM pg_amop m
               JOIN pg_depend d ON d.classid = 'pg_amop'::regclass AND d.objid = m.oid
                    AND d.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)
               LEFT JOIN pg_opfamily sf ON sf.oid = m.amopsortfamily
               LEFT JOIN pg_namespace sn ON sn.oid = sf.opfnamespace
               WHERE m.oid >= 16384
               UNION ALL
               SELECT 'f', m.oid, d.refclassid, d.refobjid, m.amprocnum,
                      m.amproc::regprocedure::text, m.amproclefttype, m.amprocrighttype, NULL
               FROM pg_amproc m
               JOIN pg_depend d ON d.classid = 'pg_amproc'::regclass AND d.objid = m.oid
                    AND d.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass)
               WHERE m.oid >= 16384) u
         {left_joins}
         {right_joins}
         ORDER BY 1, 2",
        left_select = LEFT.select(),
        right_select = RIGHT.select(),
        left_joins = LEFT.joins("u.lefttype"),
        right_joins = RIGHT.joins("u.righttype"),
    );
    // Every query of this reader at once (pipelined: one round trip), then the rows in order.
    let [functions, arguments, aggregates, operators, casts, methods, families, classes, members] =
        query_many(
            client,
            [
                ("functions", functions),
                ("function arguments", arguments),
                ("aggregates", aggregates),
                ("operators", operators),
                ("casts", casts),
                ("access methods", methods),
                ("operator families", families),
                ("operator classes", classes),
                ("operator class members", members),
            ],
        )
        .await?;
    for r in methods {
        cat.access_methods.push(AccessMethod {
            oid: r.get("oid"),
            name: r.get("name"),
            kind: ch(&r, "amtype"),
            handler: r.get("handler"),
        });
    }
    // Members by the class or family they belong to; each member's objects are its owner's.
    type Members = (Vec<OpMember>, Vec<FuncMember>);
    let mut by_owner: HashMap<ObjRef, Members> = HashMap::new();
    for r in members {
        let owner = ObjRef::new(r.get("refclassid"), r.get("refobjid"));
        let entry = by_owner.entry(owner).or_default();
        let number: i16 = r.get("number");
        let member: String = r.get("member");
        let class_id = if r.get::<_, &str>("what") == "o" {
            entry.0.push(OpMember {
                strategy: number,
                operator: member,
                order_by: r.get("order_by"),
            });
            class::PG_AMOP
        } else {
            // Not in one snapshot: the member's dependencies keep both types.
            let (Some(left), Some(right)) = (LEFT.read(&r), RIGHT.read(&r)) else {
                continue;
            };
            entry.1.push(FuncMember {
                number,
                left,
                right,
                function: member,
            });
            class::PG_AMPROC
        };
        cat.owners
            .insert(ObjRef::new(class_id, r.get("oid")), owner);
    }
    for r in families {
        let oid: u32 = r.get("oid");
        let (operators, functions) = by_owner
            .remove(&ObjRef::new(class::PG_OPFAMILY, oid))
            .unwrap_or_default();
        cat.operator_families.push(OpFamily {
            oid,
            schema: r.get("schema"),
            name: r.get("name"),
            method: r.get("method"),
            operators,
            functions,
        });
    }
    for r in classes {
        let Some(input_type) = INPUT.read(&r) else {
            continue; // not in one snapshot: the class's dependency keeps its type
        };
        let oid: u32 = r.get("oid");
        let (operators, functions) = by_owner
            .remove(&ObjRef::new(class::PG_OPCLASS, oid))
            .unwrap_or_default();
        cat.operator_classes.push(OpClass {
            oid,
            schema: r.get("schema"),
            name: r.get("name"),
            method: r.get("method"),
            input_type,
            default: r.get("opcdefault"),
            family: (r.get("family_schema"), r.get("family")),
            storage: STORAGE.read(&r),
            operators,
            functions,
        });
    }
    // Arguments by routine (aggregates too), in order.
    let mut arguments_of: HashMap<u32, Vec<Argument>> = HashMap::new();
    for r in arguments {
        let Some(ty) = ARGUMENT.read(&r) else {
            // Not in one snapshot: the routine's dependency keeps its types.
            continue;
        };
        arguments_of
            .entry(r.get("proc"))
            .or_default()
            .push(Argument {
                mode: opt_ch(&r, "argmode").unwrap_or('i'),
                name: r.get::<_, Option<String>>("argname").unwrap_or_default(),
                ty,
                default: r.get("argdefault"),
            });
    }
    for r in functions {
        let kind = ch(&r, "kind");
        if kind == 'a' {
            continue; // read with its pg_aggregate row below
        }
        let oid: u32 = r.get("oid");
        let arguments = arguments_of.remove(&oid).unwrap_or_default();
        cat.functions.push(Function {
            oid,
            schema: r.get("schema"),
            name: r.get("name"),
            kind,
            definition: r.get("def"),
            arguments,
            server_arguments: r.get("server_args"),
            server_result: r
                .get::<_, Option<String>>("server_result")
                .unwrap_or_default(),
            result: RESULT.read(&r),
            returns_set: r.get("proretset"),
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }

    for r in aggregates {
        let mut o: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                o.push((k.to_string(), v));
            }
        };
        push("SFUNC", r.get("sfunc"));
        let sspace: i32 = r.get("sspace");
        push("SSPACE", (sspace != 0).then(|| sspace.to_string()));
        push("FINALFUNC", r.get("finalfunc"));
        push(
            "FINALFUNC_EXTRA",
            r.get::<_, bool>("finalextra").then(String::new),
        );
        push("COMBINEFUNC", r.get("combinefunc"));
        push("SERIALFUNC", r.get("serialfunc"));
        push("DESERIALFUNC", r.get("deserialfunc"));
        push(
            "INITCOND",
            r.get::<_, Option<String>>("initcond")
                .map(|s| quote::literal(&s)),
        );
        push("MSFUNC", r.get("msfunc"));
        push("MINVFUNC", r.get("minvfunc"));
        let msspace: i32 = r.get("msspace");
        push("MSSPACE", (msspace != 0).then(|| msspace.to_string()));
        push("MFINALFUNC", r.get("mfinalfunc"));
        push(
            "MFINALFUNC_EXTRA",
            r.get::<_, bool>("mfinalextra").then(String::new),
        );
        push(
            "MINITCOND",
            r.get::<_, Option<String>>("minitcond")
                .map(|s| quote::literal(&s)),
        );
        push(
            "SORTOP",
            r.get::<_, Option<String>>("sortop")
                .map(|op| format!("OPERATOR({op})")),
        );
        let fm = ch(&r, "finalmodify");
        push(
            "FINALFUNC_MODIFY",
            match fm {
                's' => Some("SHAREABLE".into()),
                'w' => Some("READ_WRITE".into()),
                _ => None,
            },
        );
        push(
            "PARALLEL",
            match ch(&r, "parallel") {
                's' => Some("safe".into()),
                'r' => Some("restricted".into()),
                _ => None,
            },
        );
        push("HYPOTHETICAL", (ch(&r, "aggkind") == 'h').then(String::new));
        let Some(state_type) = STATE.read(&r) else {
            continue; // not in one snapshot: the aggregate's dependency keeps its state type
        };
        let oid: u32 = r.get("oid");
        let argument_types = arguments_of
            .remove(&oid)
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.ty)
            .collect();
        cat.aggregates.push(Aggregate {
            oid,
            schema: r.get("schema"),
            name: r.get("name"),
            arguments: r.get("args"),
            identity_args: r.get("identity_args"),
            argument_types,
            state_type,
            moving_state_type: MOVING_STATE.read(&r),
            options: o,
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }

    for r in operators {
        let (left, right) = (LEFT.read(&r), RIGHT.read(&r));
        let mut options = Vec::new();
        options.push(("FUNCTION".to_string(), r.get("func")));
        if let Some(l) = &left {
            options.push(("LEFTARG".into(), l.rendered.to_string()));
        }
        if let Some(rt) = &right {
            options.push(("RIGHTARG".into(), rt.rendered.to_string()));
        }
        for (k, c) in [("COMMUTATOR", "com"), ("NEGATOR", "neg")] {
            if let Some(op) = r.get::<_, Option<String>>(c) {
                options.push((k.into(), format!("OPERATOR({op})")));
            }
        }
        for (k, c) in [("RESTRICT", "rest"), ("JOIN", "join")] {
            if let Some(f) = r.get::<_, Option<String>>(c) {
                options.push((k.into(), f));
            }
        }
        if r.get::<_, bool>("oprcanhash") {
            options.push(("HASHES".into(), String::new()));
        }
        if r.get::<_, bool>("oprcanmerge") {
            options.push(("MERGES".into(), String::new()));
        }
        cat.operators.push(Operator {
            oid: r.get("oid"),
            schema: r.get("schema"),
            name: r.get("name"),
            left,
            right,
            options,
        });
    }

    for r in casts {
        // Not in one snapshot: the cast's dependencies keep both types.
        let (Some(source), Some(target)) = (SOURCE.read(&r), TARGET.read(&r)) else {
            continue;
        };
        cat.casts.push(Cast {
            oid: r.get("oid"),
            source,
            target,
            method: ch(&r, "castmethod"),
            function: r.get("func"),
            context: ch(&r, "castcontext"),
        });
    }
    Ok(())
}

/// SQL for the name of function `oid` (NULL for 0) as `regprocedure` prints it, without its
/// argument types: schema-qualified unless visible, each part quoted as needed.
fn function_name(oid: &str) -> String {
    format!(
        "(SELECT CASE WHEN pg_function_is_visible(fp.oid) THEN quote_ident(fp.proname)
                      ELSE quote_ident(fpn.nspname) || '.' || quote_ident(fp.proname) END
          FROM pg_proc fp JOIN pg_namespace fpn ON fpn.oid = fp.pronamespace
          WHERE fp.oid = {oid})"
    )
}

/// SQL for the name of operator `oid` (NULL for 0) as `regoperator` prints it, without its
/// argument types: schema-qualified (the schema quoted as needed) unless visible.
fn operator_name(oid: &str) -> String {
    format!(
        "(SELECT CASE WHEN pg_operator_is_visible(op.oid) THEN op.oprname::text
                      ELSE quote_ident(opn.nspname) || '.' || op.oprname END
          FROM pg_operator op JOIN pg_namespace opn ON opn.oid = op.oprnamespace
          WHERE op.oid = {oid})"
    )
}
