//! The model holds what the catalog says as data: a key's, a foreign key's and an index's
//! columns, a column's type. Checked against the server's own answers for every object of a
//! schema with hostile names, on each source major of `PGMOVE_TEST_PAIRS` (9.4 included).

use pgmove_core::model::{Catalog, ColumnType, IndexColumn};
use pgmove_core::{catalog, conn};
use pgmove_testkit::{test_pairs, Cluster, Major};
use std::collections::{BTreeSet, HashMap};

/// Every source major must load this (9.4 and up).
const SCHEMA: &str = r#"
CREATE SCHEMA "App Schema";
CREATE DOMAIN "App Schema"."Year" AS integer CHECK (VALUE > 0);
CREATE DOMAIN "App Schema".words AS text[];
CREATE TYPE "App Schema".mood AS ENUM ('ok', 'sad');
CREATE TABLE "App Schema"."Parent" (
    "Id, Key" integer NOT NULL,
    "select" text NOT NULL,
    PRIMARY KEY ("select", "Id, Key")
);
CREATE TABLE "App Schema".child (
    id bigserial PRIMARY KEY,
    p_id integer,
    p_sel text,
    name character varying(20),
    price numeric(10,2),
    amount numeric,
    ratio double precision,
    tags text[],
    grid integer[][],
    born "App Schema"."Year",
    said "App Schema".words,
    feeling "App Schema".mood,
    at timestamp(3) with time zone,
    UNIQUE (name) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (p_sel, p_id) REFERENCES "App Schema"."Parent" ("select", "Id, Key")
        MATCH FULL ON UPDATE CASCADE ON DELETE SET NULL
);
CREATE TABLE "App Schema".grandchild (extra int) INHERITS ("App Schema".child);
CREATE UNIQUE INDEX "Lower Name" ON "App Schema".child (lower(name), id DESC NULLS LAST)
    WHERE price > 0;
CREATE INDEX child_sel ON "App Schema".child (p_sel text_pattern_ops NULLS FIRST, (p_id + 1));
CREATE FUNCTION "App Schema"."eq(" (integer, integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2';
CREATE OPERATOR "App Schema".=== (PROCEDURE = "App Schema"."eq(", LEFTARG = integer,
    RIGHTARG = integer, COMMUTATOR = OPERATOR("App Schema".===));
CREATE TYPE "App Schema".pair AS (a integer, b text);
CREATE TABLE "App Schema".typed OF "App Schema".pair;
CREATE TYPE "App Schema".span AS RANGE (subtype = numeric);
CREATE FUNCTION "App Schema".tally("Words" "App Schema".words, n integer[] DEFAULT '{}',
    OUT total bigint) LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION "App Schema".rows_of(m "App Schema".mood)
    RETURNS TABLE(id integer, "Tag" text) LANGUAGE sql AS 'SELECT 1, ''x''::text';
CREATE FUNCTION "App Schema".to_mood(integer) RETURNS "App Schema".mood
    LANGUAGE sql AS 'SELECT ''ok''::"App Schema".mood';
CREATE CAST (integer AS "App Schema".mood) WITH FUNCTION "App Schema".to_mood(integer);
CREATE AGGREGATE "App Schema".gather(integer) (SFUNC = array_append, STYPE = integer[]);
CREATE OPERATOR CLASS "App Schema".int4_x FOR TYPE integer USING btree AS
    OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
    FUNCTION 1 btint4cmp(integer, integer);
"#;

/// 11+: INCLUDE columns, arrays of domains.
const SCHEMA_11: &str = r#"
ALTER TABLE "App Schema".child ADD COLUMN years "App Schema"."Year"[];
CREATE UNIQUE INDEX child_covering ON "App Schema".child (id) INCLUDE (name, price);
ALTER TABLE "App Schema"."Parent" ADD CONSTRAINT parent_sel UNIQUE ("select") INCLUDE ("Id, Key");
"#;

fn ident(s: &str) -> String {
    pgmove_core::quote::ident(s)
}

fn column_type<'a>(cat: &'a Catalog, table: &str, column: &str) -> &'a ColumnType {
    let t = cat.tables.iter().find(|t| t.name == table).unwrap();
    &t.columns.iter().find(|c| c.name == column).unwrap().ty
}

#[tokio::test]
async fn keys_indexes_and_column_types_are_the_catalogs() {
    let majors: BTreeSet<Major> = test_pairs().into_iter().map(|(s, _)| s).collect();
    for major in majors {
        let c = Cluster::start(major).unwrap();
        c.create_db("app").unwrap();
        c.sql("app", SCHEMA).unwrap();
        if major >= 11 {
            c.sql("app", SCHEMA_11).unwrap();
        }
        let client = conn::connect_str(&c.conninfo("app")).await.unwrap();
        let cat = catalog::read(&client).await.unwrap();
        client.batch_execute("SET search_path = ''").await.unwrap();
        check_types(&cat, &client, major).await;
        check_type_references(&cat, &client, major).await;
        check_keys(&cat, &client, major).await;
        check_indexes(&cat, &client, major).await;
        let grandchild = cat.tables.iter().find(|t| t.name == "grandchild").unwrap();
        let parents: Vec<(&str, &str)> = grandchild
            .extra()
            .inherits
            .iter()
            .map(|(_, s, n)| (s.as_str(), n.as_str()))
            .collect();
        assert_eq!(parents, [("App Schema", "child")], "{major}");
        // An operator's function and commutator by name, whatever the names hold.
        let op = cat.operators.iter().find(|o| o.name == "===").unwrap();
        let option = |k: &str| {
            op.options
                .iter()
                .find(|(o, _)| o == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            option("FUNCTION"),
            Some("\"App Schema\".\"eq(\""),
            "{major}"
        );
        assert_eq!(
            option("COMMUTATOR"),
            Some("OPERATOR(\"App Schema\".===)"),
            "{major}"
        );
    }
}

async fn check_types(cat: &Catalog, client: &tokio_postgres::Client, major: Major) {
    let t = |column| column_type(cat, "child", column);
    let parts = |ty: &ColumnType| {
        (
            ty.schema.to_string(),
            ty.name.to_string(),
            ty.kind,
            ty.typmod >= 0,
            ty.dims,
        )
    };
    let expect = |schema: &str, name: &str, kind, typmod, dims| {
        (schema.to_string(), name.to_string(), kind, typmod, dims)
    };
    let cases = [
        ("id", expect("pg_catalog", "int8", 'b', false, 0)),
        ("name", expect("pg_catalog", "varchar", 'b', true, 0)),
        ("price", expect("pg_catalog", "numeric", 'b', true, 0)),
        ("amount", expect("pg_catalog", "numeric", 'b', false, 0)),
        ("ratio", expect("pg_catalog", "float8", 'b', false, 0)),
        ("tags", expect("pg_catalog", "text", 'b', false, 1)),
        ("grid", expect("pg_catalog", "int4", 'b', false, 2)),
        ("born", expect("App Schema", "Year", 'd', false, 0)),
        ("said", expect("App Schema", "words", 'd', false, 0)),
        ("feeling", expect("App Schema", "mood", 'e', false, 0)),
        ("at", expect("pg_catalog", "timestamptz", 'b', true, 0)),
    ];
    for (column, want) in cases {
        assert_eq!(parts(t(column)), want, "{major}: column {column}");
    }
    assert_eq!(t("name").rendered, "character varying(20)");
    if major >= 11 {
        let years = t("years");
        assert_eq!(parts(years), expect("App Schema", "Year", 'd', false, 1));
        assert_eq!(years.rendered, "\"App Schema\".\"Year\"[]");
    }
    // A domain's base type as data too.
    let words = cat.types.iter().find(|t| t.name == "words").unwrap();
    let pgmove_core::model::TypeKind::Domain { base, .. } = &words.kind else {
        panic!("words is a domain");
    };
    assert_eq!(parts(base), expect("pg_catalog", "text", 'b', false, 1));

    // Every column: its (element) type and dimensions name what the server prints.
    let printed = printed_types(client).await;
    let columns: HashMap<(u32, i16), (String, i32)> = client
        .query(
            "SELECT attrelid, attnum, format_type(atttypid, NULL), atttypmod FROM pg_attribute
             WHERE attnum > 0 AND attrelid >= 16384",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    for t in &cat.tables {
        for col in &t.columns {
            let ty = &col.ty;
            let element = &printed[&(ty.schema.to_string(), ty.name.to_string())];
            let suffix = if ty.dims > 0 { "[]" } else { "" };
            let (server, typmod) = &columns[&(t.oid, col.num)];
            assert_eq!(
                (format!("{element}{suffix}"), ty.typmod),
                (server.clone(), *typmod),
                "{major}: {}.{}",
                t.name,
                col.name
            );
        }
    }
}

/// `(schema, name, kind, dims, rendered)` of a type reference.
type Parts = (String, String, char, i16, String);

fn type_parts(ty: &ColumnType) -> Parts {
    (
        ty.schema.to_string(),
        ty.name.to_string(),
        ty.kind,
        ty.dims,
        ty.rendered.to_string(),
    )
}

fn parts(schema: &str, name: &str, kind: char, dims: i16, rendered: &str) -> Parts {
    (schema.into(), name.into(), kind, dims, rendered.into())
}

/// Types named outside columns (arguments, results, typed tables, ranges, casts, operators,
/// aggregates, operator classes and their support functions) are data too, and each one's parts name what the server prints.
async fn check_type_references(cat: &Catalog, client: &tokio_postgres::Client, major: Major) {
    let int4 = parts("pg_catalog", "int4", 'b', 0, "integer");
    let mood = parts("App Schema", "mood", 'e', 0, "\"App Schema\".mood");
    let function = |name: &str| cat.functions.iter().find(|f| f.name == name).unwrap();
    let arguments = |name: &str| -> Vec<(char, String, Parts)> {
        function(name)
            .arguments
            .iter()
            .map(|a| (a.mode, a.name.clone(), type_parts(&a.ty)))
            .collect()
    };
    let tally = function("tally");
    assert_eq!(
        arguments("tally"),
        [
            (
                'i',
                "Words".to_string(),
                parts("App Schema", "words", 'd', 0, "\"App Schema\".words")
            ),
            (
                'i',
                "n".to_string(),
                parts("pg_catalog", "int4", 'b', 1, "integer[]")
            ),
            (
                'o',
                "total".to_string(),
                parts("pg_catalog", "int8", 'b', 0, "bigint")
            ),
        ],
        "{major}"
    );
    assert_eq!(
        tally.arguments[1].default.as_deref(),
        Some("'{}'::integer[]")
    );
    assert_eq!(
        type_parts(tally.result.as_ref().unwrap()),
        parts("pg_catalog", "int8", 'b', 0, "bigint")
    );
    assert!(!tally.returns_set);
    let rows_of = function("rows_of");
    assert_eq!(
        arguments("rows_of"),
        [
            ('i', "m".to_string(), mood.clone()),
            ('t', "id".to_string(), int4.clone()),
            (
                't',
                "Tag".to_string(),
                parts("pg_catalog", "text", 'b', 0, "text")
            ),
        ],
        "{major}"
    );
    assert_eq!(type_parts(rows_of.result.as_ref().unwrap()).1, "record");
    assert!(rows_of.returns_set);

    let typed = cat.tables.iter().find(|t| t.name == "typed").unwrap();
    assert_eq!(
        type_parts(typed.extra().of_type.as_ref().unwrap()),
        parts("App Schema", "pair", 'c', 0, "\"App Schema\".pair")
    );
    let span = cat.types.iter().find(|t| t.name == "span").unwrap();
    let pgmove_core::model::TypeKind::Range {
        subtype,
        multirange,
        ..
    } = &span.kind
    else {
        panic!("span is a range");
    };
    assert_eq!(
        type_parts(subtype),
        parts("pg_catalog", "numeric", 'b', 0, "numeric")
    );
    assert_eq!(
        multirange.as_ref().map(type_parts),
        (major >= 14).then(|| {
            parts(
                "App Schema",
                "span_multirange",
                'm',
                0,
                "\"App Schema\".span_multirange",
            )
        }),
        "{major}"
    );
    let cast = cat.casts.iter().find(|c| c.target.name == "mood").unwrap();
    assert_eq!(
        (type_parts(&cast.source), type_parts(&cast.target)),
        (int4.clone(), mood)
    );
    let op = cat.operators.iter().find(|o| o.name == "===").unwrap();
    assert_eq!(
        (
            op.left.as_ref().map(type_parts),
            op.right.as_ref().map(type_parts)
        ),
        (Some(int4.clone()), Some(int4.clone()))
    );
    let gather = cat.aggregates.iter().find(|a| a.name == "gather").unwrap();
    let argument_types: Vec<Parts> = gather.argument_types.iter().map(type_parts).collect();
    assert_eq!(argument_types, vec![int4.clone()]);
    assert_eq!(
        type_parts(&gather.state_type),
        parts("pg_catalog", "int4", 'b', 1, "integer[]")
    );
    assert_eq!(gather.moving_state_type, None);
    let class = cat
        .operator_classes
        .iter()
        .find(|c| c.name == "int4_x")
        .unwrap();
    assert_eq!(
        (type_parts(&class.input_type), &class.storage),
        (int4.clone(), &None)
    );
    let support: Vec<(Parts, Parts)> = class
        .functions
        .iter()
        .map(|f| (type_parts(&f.left), type_parts(&f.right)))
        .collect();
    assert_eq!(support, [(int4.clone(), int4.clone())], "{major}");

    // Every reference: its (element) type and dimensions name what the server prints.
    let printed = printed_types(client).await;
    let mut all: Vec<&ColumnType> = Vec::new();
    for f in &cat.functions {
        all.extend(f.arguments.iter().map(|a| &a.ty));
        all.extend(&f.result);
    }
    for a in &cat.aggregates {
        all.extend(&a.argument_types);
        all.push(&a.state_type);
        all.extend(&a.moving_state_type);
    }
    for c in &cat.casts {
        all.extend([&c.source, &c.target]);
    }
    for o in &cat.operators {
        all.extend(o.left.iter().chain(&o.right));
    }
    for c in &cat.operator_classes {
        all.push(&c.input_type);
        all.extend(&c.storage);
    }
    let families = cat.operator_families.iter().map(|f| &f.functions);
    for f in cat
        .operator_classes
        .iter()
        .map(|c| &c.functions)
        .chain(families)
    {
        all.extend(f.iter().flat_map(|m| [&m.left, &m.right]));
    }
    all.extend(cat.tables.iter().filter_map(|t| t.extra().of_type.as_ref()));
    for t in &cat.types {
        if let pgmove_core::model::TypeKind::Range {
            subtype,
            multirange,
            ..
        } = &t.kind
        {
            all.push(subtype);
            all.extend(multirange);
        }
    }
    assert!(all.len() > 15, "{major}: {} references", all.len());
    for ty in all {
        let element = &printed[&(ty.schema.to_string(), ty.name.to_string())];
        let suffix = if ty.dims > 0 { "[]" } else { "" };
        assert_eq!(format!("{element}{suffix}"), ty.rendered, "{major}: {ty:?}");
        assert_eq!(ty.typmod, -1, "{major}: {ty:?}");
    }
}

async fn check_keys(cat: &Catalog, client: &tokio_postgres::Client, major: Major) {
    let rows = client
        .query(
            "SELECT co.oid,
                    ARRAY(SELECT a.attname::text FROM generate_subscripts(co.conkey, 1) i
                          JOIN pg_attribute a ON a.attrelid = co.conrelid
                           AND a.attnum = co.conkey[i] ORDER BY i) AS columns,
                    ARRAY(SELECT a.attname::text FROM generate_subscripts(co.confkey, 1) i
                          JOIN pg_attribute a ON a.attrelid = co.confrelid
                           AND a.attnum = co.confkey[i] ORDER BY i) AS ref_columns,
                    co.confrelid, co.confmatchtype::text, co.confupdtype::text,
                    co.confdeltype::text
             FROM pg_constraint co WHERE co.contype IN ('p', 'u', 'f') AND co.conrelid <> 0",
            &[],
        )
        .await
        .unwrap();
    let mut seen = 0;
    for r in rows {
        let oid: u32 = r.get(0);
        let Some(c) = cat.constraints.iter().find(|c| c.oid == oid) else {
            continue;
        };
        seen += 1;
        let key = c
            .key
            .as_deref()
            .unwrap_or_else(|| panic!("{major}: {}", c.name));
        let names = |v: &[pgmove_core::model::CompactString]| {
            v.iter().map(|n| n.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(&key.columns),
            r.get::<_, Vec<String>>(1),
            "{major}: {}",
            c.name
        );
        match &key.references {
            Some(f) => {
                assert_eq!(c.contype, 'f');
                assert_eq!(names(&f.columns), r.get::<_, Vec<String>>(2));
                let server: (u32, String, String, String) =
                    (r.get(3), r.get(4), r.get(5), r.get(6));
                let ours = (
                    f.table_oid,
                    f.match_type.to_string(),
                    f.on_update.to_string(),
                    f.on_delete.to_string(),
                );
                assert_eq!(ours, server, "{major}: {}", c.name);
                assert_eq!(
                    (f.schema.as_str(), f.table.as_str()),
                    ("App Schema", "Parent")
                );
                assert_eq!((f.match_type, f.on_update, f.on_delete), ('f', 'c', 'n'));
            }
            None => assert_ne!(c.contype, 'f', "{major}: {}", c.name),
        }
    }
    assert_eq!(seen, if major >= 11 { 5 } else { 4 }, "{major}");
    let unique = cat
        .constraints
        .iter()
        .find(|c| c.contype == 'u' && c.name.starts_with("child"))
        .unwrap();
    assert!(unique.deferrable && unique.deferred);
    if major >= 11 {
        let sel = cat
            .constraints
            .iter()
            .find(|c| c.name == "parent_sel")
            .unwrap();
        let include = &sel.key.as_ref().unwrap().include;
        assert_eq!(include.as_slice(), ["Id, Key"], "{major}");
    }
}

async fn check_indexes(cat: &Catalog, client: &tokio_postgres::Client, major: Major) {
    // Each key and INCLUDE column as the server prints it alone, and the predicate.
    let rows = client
        .query(
            "SELECT i.indexrelid,
                    ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, false)
                          FROM generate_series(1, i.indnatts::int4) k ORDER BY k) AS columns,
                    pg_get_expr(i.indpred, i.indrelid) AS predicate
             FROM pg_index i WHERE i.indexrelid >= 16384",
            &[],
        )
        .await
        .unwrap();
    let mut seen = 0;
    for r in rows {
        let oid: u32 = r.get(0);
        let Some(ix) = cat.indexes.iter().find(|i| i.oid == oid) else {
            continue;
        };
        seen += 1;
        let p = &ix.parts;
        let mut ours: Vec<String> = p
            .keys
            .iter()
            .map(|k| match &k.key {
                IndexColumn::Column(n) => ident(n),
                IndexColumn::Expression(e) => e.clone(),
            })
            .collect();
        ours.extend(p.include.iter().map(|n| ident(n)));
        assert_eq!(ours, r.get::<_, Vec<String>>(1), "{major}: {}", ix.name);
        assert_eq!(
            p.predicate,
            r.get::<_, Option<String>>(2),
            "{major}: {}",
            ix.name
        );
        assert_eq!(p.method, "btree");
    }
    assert_eq!(seen, if major >= 11 { 7 } else { 5 }, "{major}");
    let lower = cat.indexes.iter().find(|i| i.name == "Lower Name").unwrap();
    assert!(lower.parts.unique);
    assert!(matches!(
        lower.parts.keys[0].key,
        IndexColumn::Expression(_)
    ));
    let id = &lower.parts.keys[1];
    assert!(id.descending && !id.nulls_first, "{major}");
    let sel = cat.indexes.iter().find(|i| i.name == "child_sel").unwrap();
    let k = &sel.parts.keys[0];
    assert_eq!(
        (
            k.opclass.0.as_str(),
            k.opclass.1.as_str(),
            k.nulls_first,
            k.descending
        ),
        ("pg_catalog", "text_pattern_ops", true, false)
    );
    assert!(!sel.parts.unique && sel.parts.predicate.is_none());
    if major >= 11 {
        let cov = cat
            .indexes
            .iter()
            .find(|i| i.name == "child_covering")
            .unwrap();
        assert_eq!(cov.parts.include.as_slice(), ["name", "price"]);
        assert_eq!(cov.parts.keys.len(), 1);
    }
}

/// What `format_type` prints for each type of the server, by (schema, name).
async fn printed_types(client: &tokio_postgres::Client) -> HashMap<(String, String), String> {
    client
        .query(
            "SELECT n.nspname::text, t.typname::text, format_type(t.oid, NULL)
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect()
}
