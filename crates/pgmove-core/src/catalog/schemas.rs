//! Schemas, extensions, collations, comments and dependencies.

use super::{ch, query_each, query_many, since, Conn, USER_SCHEMAS};
use crate::model::{class, Catalog, Collation, Depend, Extension, ObjRef, Schema};
use crate::Result;

pub(super) async fn read(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    // Collations: provider columns arrived over the versions (10: provider, 12: deterministic,
    // 15: ICU locale, 16: ICU rules, 17: colllocale replaces colliculocale).
    let provider = since(v, 100000, "c.collprovider", "'c'::\"char\"");
    let deterministic = since(v, 120000, "c.collisdeterministic", "true");
    let locale = since(
        v,
        170000,
        "c.colllocale",
        since(v, 150000, "c.colliculocale", "NULL::text"),
    );
    let rules = since(v, 160000, "c.collicurules", "NULL::text");
    let schemas = format!(
        "SELECT n.oid, n.nspname::text AS name, n.nspacl::text[] AS acl,
                    pg_get_userbyid(n.nspowner)::text AS owner
             FROM pg_namespace n WHERE {USER_SCHEMAS} ORDER BY n.nspname"
    );
    let extensions =
        "SELECT e.oid, e.extname::text AS name, n.nspname::text AS schema, e.extversion AS version,
                e.extconfig::oid[] AS config, e.extcondition AS conditions
         FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY e.extname"
            .to_string();
    // An extension member's `e` dependency always references its extension: by `refclassid`
    // the reference index finds them, where `deptype` alone would read all of pg_depend.
    let members = "SELECT classid, objid FROM pg_depend
         WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'"
        .to_string();
    let collations = format!(
        "SELECT c.oid, n.nspname::text AS schema, c.collname::text AS name,
                    {provider} AS provider, {deterministic} AS deterministic,
                    c.collcollate::text AS collate, c.collctype::text AS ctype,
                    {locale}::text AS locale, {rules}::text AS rules
             FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
             WHERE {USER_SCHEMAS} ORDER BY 2, 3"
    );
    let comments = "SELECT classoid, objoid, objsubid, description FROM pg_description
         WHERE objoid >= 16384 OR (classoid = 'pg_namespace'::regclass AND objoid = 2200)"
        .to_string();
    // Every query of this reader at once (pipelined: one round trip), then the rows in order.
    let [schemas, extensions, members, collations, comments] = query_many(
        client,
        [
            ("schemas", schemas),
            ("extensions", extensions),
            ("extension members", members),
            ("collations", collations),
            ("comments", comments),
        ],
    )
    .await?;
    for r in schemas {
        cat.schemas.push(Schema {
            oid: r.get("oid"),
            name: r.get("name"),
            acl: r.get("acl"),
            owner: r.get("owner"),
        });
    }

    for r in extensions {
        let config: Vec<u32> = r.get::<_, Option<Vec<u32>>>("config").unwrap_or_default();
        let conditions: Vec<String> = r
            .get::<_, Option<Vec<String>>>("conditions")
            .unwrap_or_default();
        cat.extensions.push(Extension {
            oid: r.get("oid"),
            name: r.get("name"),
            schema: r.get("schema"),
            version: r.get("version"),
            config: config
                .into_iter()
                .zip(
                    conditions
                        .into_iter()
                        .chain(std::iter::repeat(String::new())),
                )
                .collect(),
        });
    }

    for r in members {
        cat.extension_members
            .insert(ObjRef::new(r.get("classid"), r.get("objid")));
    }

    for r in collations {
        cat.collations.push(Collation {
            oid: r.get("oid"),
            schema: r.get("schema"),
            name: r.get("name"),
            provider: ch(&r, "provider"),
            deterministic: r.get("deterministic"),
            collate: r.get("collate"),
            ctype: r.get("ctype"),
            locale: r.get("locale"),
            icu_rules: r.get("rules"),
        });
    }

    for r in comments {
        cat.comments.insert(
            (r.get("classoid"), r.get("objoid"), r.get("objsubid")),
            r.get("description"),
        );
    }

    query_each(
        client,
        "dependencies",
        // Two kinds of rows are left out, a large share of them, because the sort
        // could only drop them: a type's internal dependency (a rowtype on its relation, an
        // array on its element, a multirange on its range) joins two things that
        // `Catalog::owners` already makes one; and the internal triggers of foreign keys are
        // never emitted (the key creates them).
        "SELECT classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype
         FROM pg_depend
         WHERE objid >= 16384 AND refobjid >= 16384 AND deptype IN ('n', 'a', 'i')
           AND NOT (classid = 'pg_type'::regclass AND deptype = 'i')
           AND NOT (classid = 'pg_trigger'::regclass
                    AND objid IN (SELECT oid FROM pg_trigger WHERE tgisinternal))",
        |r| {
            cat.depends.push(Depend {
                obj: ObjRef::new(r.get("classid"), r.get("objid")),
                obj_sub: r.get("objsubid"),
                refobj: ObjRef::new(r.get("refclassid"), r.get("refobjid")),
                ref_sub: r.get("refobjsubid"),
                deptype: ch(&r, "deptype"),
            })
        },
    )
    .await?;
    let _ = class::PG_CLASS;
    Ok(())
}
