//! User-defined types: enums, composites, ranges, domains and base types; and the map from
//! rowtypes and array types to what defines them.

use super::typeref::{type_cols, TypeCols};
use super::{ch, query_each, query_many, since, Conn, USER_SCHEMAS};
use crate::model::{class, Catalog, ColumnType, DomainCheck, ObjRef, TypeDef, TypeKind};
use crate::quote;
use crate::Result;
use std::collections::HashMap;

/// A range type's subtype and its multirange type.
const SUBTYPE: TypeCols = type_cols!("subtype");
const MULTIRANGE: TypeCols = type_cols!("multirange");

pub(super) async fn read(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    // Multiranges arrived in 14.
    let multi = since(v, 140000, "r.rngmultitypid", "0::oid");
    let acl = since(v, 90200, "t.typacl::text[]", "NULL::text[]");
    let label_rows =
        "SELECT enumtypid, enumlabel::text AS label FROM pg_enum ORDER BY enumtypid, enumsortorder"
            .to_string();
    let range_rows = format!(
        "SELECT r.rngtypid, {subtype_select}, {multi_select},
                    CASE WHEN NOT opc.opcdefault THEN quote_ident(ocn.nspname) || '.' || quote_ident(opc.opcname) END AS opclass,
                    CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation
                         THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
                    NULLIF(r.rngcanonical, 0)::regproc::text AS canonical,
                    NULLIF(r.rngsubdiff, 0)::regproc::text AS subdiff
             FROM pg_range r
             JOIN pg_type st ON st.oid = r.rngsubtype
             {subtype_joins}
             {multi_joins}
             JOIN pg_opclass opc ON opc.oid = r.rngsubopc
             JOIN pg_namespace ocn ON ocn.oid = opc.opcnamespace
             LEFT JOIN pg_collation co ON co.oid = r.rngcollation
             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
             WHERE r.rngtypid >= 16384",
        subtype_select = SUBTYPE.select(),
        multi_select = MULTIRANGE.select(),
        subtype_joins = SUBTYPE.joins("r.rngsubtype"),
        multi_joins = MULTIRANGE.joins(multi),
    );
    // `contypid > 0`, not `<> 0` (the same for an oid): the index on contypid finds the
    // few domain constraints, where `<>` would scan all of pg_constraint.
    let domain_check_rows = "SELECT co.oid, co.contypid, co.conname::text AS name,
                pg_get_constraintdef(co.oid) AS def, co.convalidated, co.contype = 'n' AS not_null
         FROM pg_constraint co
         WHERE co.contypid > 0 AND co.contype IN ('c', 'n')
         ORDER BY co.contypid, co.conname"
        .to_string();
    // The join to pg_class only keeps standalone composites (what the WHERE asks of it), so
    // it does not hash all of pg_class.
    let type_rows = format!(
            "SELECT t.oid, n.nspname::text AS schema, t.typname::text AS name, t.typtype,
                    {acl} AS acl, pg_get_userbyid(t.typowner)::text AS owner, t.typrelid,
                    format_type(t.typbasetype, t.typtypmod) AS type, t.typnotnull,
                    bt.oid AS type_oid, COALESCE(ben.nspname, bn.nspname)::text AS type_schema,
                    COALESCE(bet.typname, bt.typname)::text AS type_base,
                    COALESCE(bet.typtype, bt.typtype) AS type_kind,
                    bet.oid IS NOT NULL AS type_is_array, t.typtypmod AS typmod,
                    t.typndims AS ndims,
                    COALESCE(pg_get_expr(t.typdefaultbin, 0), t.typdefault) AS default,
                    CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation
                         THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation,
                    t.typinput::regproc::text AS input, t.typoutput::regproc::text AS output,
                    NULLIF(t.typreceive, 0)::regproc::text AS receive,
                    NULLIF(t.typsend, 0)::regproc::text AS send,
                    NULLIF(t.typmodin, 0)::regproc::text AS typmod_in,
                    NULLIF(t.typmodout, 0)::regproc::text AS typmod_out,
                    NULLIF(t.typanalyze, 0)::regproc::text AS analyze,
                    t.typlen, t.typbyval, t.typalign, t.typstorage, t.typcategory, t.typispreferred,
                    t.typdelim, CASE WHEN t.typelem <> 0 THEN format_type(t.typelem, NULL) END AS element,
                    t.typcollation <> 0 AS collatable
             FROM pg_type t
             JOIN pg_namespace n ON n.oid = t.typnamespace
             LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
             LEFT JOIN pg_type bet ON bet.oid = bt.typelem AND bt.typlen = -1
               AND bt.typstorage <> 'p'
             LEFT JOIN pg_namespace bn ON bn.oid = bt.typnamespace
             LEFT JOIN pg_namespace ben ON ben.oid = bet.typnamespace
             LEFT JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
             LEFT JOIN pg_collation co ON co.oid = t.typcollation
             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
             WHERE {USER_SCHEMAS}
               AND (t.typtype IN ('e', 'r', 'd', 'b') OR (t.typtype = 'c' AND c.relkind = 'c')
                    OR (t.typtype = 'p' AND NOT t.typisdefined))
               AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)
             ORDER BY 2, 3"
        );
    // Every query of this reader at once (pipelined: one round trip), then the rows in order.
    let [label_rows, range_rows, domain_check_rows, type_rows] = query_many(
        client,
        [
            ("enum labels", label_rows),
            ("range types", range_rows),
            ("domain constraints", domain_check_rows),
            ("types", type_rows),
        ],
    )
    .await?;
    // Which type stands behind each user type: rowtypes belong to their relation, arrays to
    // their element, multiranges to their range.
    let multirange = since(v, 140000, "r.rngtypid", "NULL::oid");
    let multirange_join = since(
        v,
        140000,
        "LEFT JOIN pg_range r ON r.rngmultitypid = t.oid",
        "",
    );
    query_each(
        client,
        "type owners",
        &format!(
            // Joins, not subqueries per type: nothing indexes `typarray`, so a subquery would
            // scan all of pg_type once per type (quadratic), and the multirange one pg_range
            // once per type. Only standalone composites' relations are joined (`relkind` is
            // 'c' or NULL, all the code below asks), so all of pg_class is not hashed.
            "SELECT t.oid, t.typrelid, c.relkind, e.oid AS array_of,
                    {multirange} AS multirange_of
             FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
             LEFT JOIN pg_type e ON e.typarray = t.oid
             {multirange_join}
             WHERE t.oid >= 16384"
        ),
        |r| {
            let oid: u32 = r.get("oid");
            let relid: u32 = r.get("typrelid");
            let relkind: Option<i8> = r.get("relkind");
            let array_of: Option<u32> = r.get("array_of");
            let multirange_of: Option<u32> = r.get("multirange_of");
            let me = ObjRef::new(class::PG_TYPE, oid);
            if let Some(e) = array_of {
                cat.owners.insert(me, ObjRef::new(class::PG_TYPE, e));
            } else if let Some(rng) = multirange_of {
                cat.owners.insert(me, ObjRef::new(class::PG_TYPE, rng));
            } else if relid != 0 {
                if relkind == Some(b'c' as i8) {
                    cat.owners.insert(ObjRef::new(class::PG_CLASS, relid), me);
                } else {
                    cat.owners.insert(me, ObjRef::new(class::PG_CLASS, relid));
                }
            }
        },
    )
    .await?;

    let mut labels: HashMap<u32, Vec<String>> = HashMap::new();
    for r in label_rows {
        labels
            .entry(r.get("enumtypid"))
            .or_default()
            .push(r.get("label"));
    }

    let mut ranges: HashMap<u32, TypeKind> = HashMap::new();
    for r in range_rows {
        let Some(subtype) = SUBTYPE.read(&r) else {
            continue; // not in one snapshot: the range's dependency keeps its subtype
        };
        ranges.insert(
            r.get("rngtypid"),
            TypeKind::Range {
                subtype,
                opclass: r.get("opclass"),
                collation: r.get("collation"),
                canonical: r.get("canonical"),
                subdiff: r.get("subdiff"),
                multirange: MULTIRANGE.read(&r),
            },
        );
    }

    // Domain constraints come from pg_constraint; NOT NULL ones (17+) are typnotnull.
    let mut domain_checks: HashMap<u32, Vec<DomainCheck>> = HashMap::new();
    for r in domain_check_rows {
        let typ: u32 = r.get("contypid");
        cat.owners.insert(
            ObjRef::new(class::PG_CONSTRAINT, r.get("oid")),
            ObjRef::new(class::PG_TYPE, typ),
        );
        domain_checks.entry(typ).or_default().push(DomainCheck {
            oid: r.get("oid"),
            name: r.get("name"),
            definition: r.get("def"),
            validated: r.get("convalidated"),
            not_null: r.get("not_null"),
        });
    }

    let mut domain_bases = super::relations::ColumnTypes::default();
    for r in type_rows {
        let oid: u32 = r.get("oid");
        let kind = match ch(&r, "typtype") {
            'e' => TypeKind::Enum {
                labels: labels.remove(&oid).unwrap_or_default(),
            },
            'c' => TypeKind::Composite {
                relid: r.get("typrelid"),
                attributes: Vec::new(), // filled from the column query in relations.rs
            },
            'r' => match ranges.remove(&oid) {
                Some(k) => k,
                None => continue,
            },
            'd' => TypeKind::Domain {
                base: ColumnType::clone(&domain_bases.get(&r)),
                collation: r.get("collation"),
                default: r.get("default"),
                not_null: r.get("typnotnull"),
                constraints: domain_checks.remove(&oid).unwrap_or_default(),
            },
            'p' => TypeKind::Shell,
            _ => TypeKind::Base {
                options: base_type_options(&r),
            },
        };
        cat.types.push(TypeDef {
            oid,
            schema: r.get("schema"),
            name: r.get("name"),
            kind,
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }
    Ok(())
}

/// `CREATE TYPE name (…)` options of a base type, in pg_dump's order.
fn base_type_options(r: &super::row::Row) -> Vec<(String, String)> {
    let mut o = Vec::new();
    let len: i16 = r.get("typlen");
    o.push((
        "INTERNALLENGTH".into(),
        if len == -1 {
            "variable".into()
        } else {
            len.to_string()
        },
    ));
    for (key, col) in [
        ("INPUT", "input"),
        ("OUTPUT", "output"),
        ("RECEIVE", "receive"),
        ("SEND", "send"),
        ("TYPMOD_IN", "typmod_in"),
        ("TYPMOD_OUT", "typmod_out"),
        ("ANALYZE", "analyze"),
    ] {
        if let Some(f) = r.get::<_, Option<String>>(col) {
            o.push((key.into(), f));
        }
    }
    if let Some(d) = r.get::<_, Option<String>>("default") {
        o.push(("DEFAULT".into(), quote::literal(&d)));
    }
    if let Some(e) = r.get::<_, Option<String>>("element") {
        o.push(("ELEMENT".into(), e));
    }
    let cat = ch(r, "typcategory");
    if cat != 'U' {
        o.push(("CATEGORY".into(), quote::literal(&cat.to_string())));
    }
    if r.get::<_, bool>("typispreferred") {
        o.push(("PREFERRED".into(), "true".into()));
    }
    let delim = ch(r, "typdelim");
    if delim != ',' {
        o.push(("DELIMITER".into(), quote::literal(&delim.to_string())));
    }
    let align = match ch(r, "typalign") {
        'c' => "char",
        's' => "int2",
        'd' => "double",
        _ => "int4",
    };
    o.push(("ALIGNMENT".into(), align.into()));
    let storage = match ch(r, "typstorage") {
        'p' => "plain",
        'e' => "external",
        'm' => "main",
        _ => "extended",
    };
    o.push(("STORAGE".into(), storage.into()));
    if r.get::<_, bool>("collatable") {
        o.push(("COLLATABLE".into(), "true".into()));
    }
    if r.get::<_, bool>("typbyval") {
        o.push(("PASSEDBYVALUE".into(), String::new()));
    }
    o
}
