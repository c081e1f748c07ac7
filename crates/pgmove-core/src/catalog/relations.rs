//! Tables, columns, views, indexes, constraints, triggers, rules, policies and extended statistics.

use super::constraintdef::{self, RawCheck, RawKey};
use super::exprdef::{self, Operator, Operators};
use super::indexdef::{self, KeyColumn, Opclass, Opclasses, RawIndex};
use super::row::Row;
use super::typeref::{type_cols, TypeCols};
use super::{ch, opt_ch, query, query_each, since, Conn, USER_SCHEMAS};
use crate::model::{
    class, Attribute, Catalog, Column, ColumnExtra, ColumnType, Constraint, Index, IndexExtra,
    ObjRef, Policy, Rule, Statistic, Table, TableExtra, TypeKind, View,
};
use crate::Result;
use std::collections::HashMap;
use std::sync::Arc;

/// Tables, views, columns, indexes, triggers, rules, policies and statistics. Returns the
/// columns of composite types, for [`fill_composite_types`], and every column by (table,
/// attnum) and the operators of `pg_catalog`, for [`finish_constraints`]. Constraints are read
/// apart, by [`read_constraints`], so the two halves can run on two connections.
///
/// Two groups of queries, each sent at once (pipelined, see the module documentation): first
/// the columns and what needs nothing else (operators, operator classes, inheritance,
/// triggers, rules, policies, statistics), then what is built with the columns (tables,
/// views, indexes). Each reader fills its own part of the model; `cat` absorbs them in a fixed
/// order, so the model does not depend on which query finishes first.
pub(super) async fn read(client: Conn<'_>, cat: &mut Catalog) -> Result<(Columns, Operators)> {
    let part = || Catalog {
        server_version: cat.server_version,
        ..Default::default()
    };
    let (mut columns_part, mut triggers_part, mut statistics_part) = (part(), part(), part());
    let (columns, operators, inherits, opclasses, triggers, statistics) = futures::join!(
        read_columns(client, &mut columns_part),
        read_operators(client),
        read_inherits(client, cat.server_version),
        read_opclasses(client),
        read_triggers_rules(client, &mut triggers_part),
        read_statistics(client, &mut statistics_part),
    );
    let (columns, operators, mut inherits, opclasses) = match (
        columns, operators, inherits, opclasses, triggers, statistics,
    ) {
        (Ok(c), Ok(o), Ok(i), Ok(oc), Ok(()), Ok(())) => (c, o, i, oc),
        (c, o, i, oc, t, s) => {
            return Err(super::cause([
                c.err(),
                o.err(),
                i.err(),
                oc.err(),
                t.err(),
                s.err(),
            ]))
        }
    };
    let (mut columns, key_columns) = columns;

    let (mut tables_part, mut indexes_part) = (part(), part());
    let views_sql = views_sql(cat.server_version);
    let (tables, views, indexes) = futures::join!(
        read_tables(client, &mut tables_part, &mut columns, &mut inherits),
        query(client, "views", &views_sql),
        read_indexes(
            client,
            &mut indexes_part,
            &key_columns,
            &operators,
            &opclasses
        ),
    );
    let views = match (tables, views, indexes) {
        (Ok(()), Ok(views), Ok(())) => views,
        (t, v, i) => return Err(super::cause([t.err(), v.err(), i.err()])),
    };
    for p in [columns_part, tables_part] {
        cat.absorb(p);
    }
    read_views(cat, views, &mut columns);
    for p in [indexes_part, statistics_part, triggers_part] {
        cat.absorb(p);
    }
    Ok(((columns, key_columns), operators))
}

/// Inheritance parents that are not partition parents, in order, by child.
async fn read_inherits(client: Conn<'_>, v: i32) -> Result<HashMap<u32, Vec<Parent>>> {
    let mut inherits: HashMap<u32, Vec<Parent>> = HashMap::new();
    // Declarative partitioning arrived in 10: before, every pg_inherits row is inheritance.
    let not_partition = since(v, 100000, "NOT c.relispartition", "true");
    for r in query(
        client,
        "inheritance",
        &format!(
            "SELECT i.inhrelid, i.inhparent, pn.nspname::text AS parent_schema,
                    p.relname::text AS parent_name
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace pn ON pn.oid = p.relnamespace
             WHERE c.relkind IN ('r', 'p', 'f') AND {not_partition}
             ORDER BY i.inhrelid, i.inhseqno"
        ),
    )
    .await?
    {
        inherits.entry(r.get("inhrelid")).or_default().push((
            r.get("inhparent"),
            r.text("parent_schema"),
            r.text("parent_name"),
        ));
    }
    Ok(inherits)
}

/// An inheritance parent: OID, schema, name.
type Parent = (
    u32,
    crate::model::CompactString,
    crate::model::CompactString,
);

/// A typed table's type.
const OF_TYPE: TypeCols = type_cols!("of_type");

/// Tables, with the columns and inheritance parents read before.
async fn read_tables(
    client: Conn<'_>,
    cat: &mut Catalog,
    columns: &mut HashMap<u32, Vec<Column>>,
    inherits: &mut HashMap<u32, Vec<Parent>>,
) -> Result<()> {
    let v = cat.server_version;
    let sql = format!(
        "SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind,
                c.relpersistence, c.relacl::text[] AS acl,
                array_cat(c.reloptions, (SELECT array_agg('toast.' || o) FROM unnest(tc.reloptions) o))::text[]
                  AS reloptions,
                pg_get_userbyid(c.relowner)::text AS owner, c.reltuples::float8 AS est_rows,
                c.relpages::int8 * current_setting('block_size')::int8 AS size_bytes,
                c.relreplident, {rls} AS relrowsecurity, {force_rls} AS relforcerowsecurity,
                {part_parent} AS part_parent, {part_bound} AS part_bound, {part_key} AS part_key,
                {of_type_select},
                {am} AS am, fs.srvname::text AS server, ft.ftoptions::text[] AS ftoptions
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         {of_type_joins}
         LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
         LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
         LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid AND tc.reloptions IS NOT NULL
         {am_join}
         WHERE c.relkind IN ('r', 'p', 'f') AND {USER_SCHEMAS}
         ORDER BY 2, 3",
        of_type_select = OF_TYPE.select(),
        of_type_joins = OF_TYPE.joins("c.reloftype"),
        // Row-level security arrived in 9.5.
        rls = since(v, 90500, "c.relrowsecurity", "false"),
        force_rls = since(v, 90500, "c.relforcerowsecurity", "false"),
        // Declarative partitioning arrived in 10.
        part_parent = since(v, 100000,
            "CASE WHEN c.relispartition THEN (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid) END",
            "NULL::oid"
        ),
        part_bound = since(v, 100000,
            "CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END",
            "NULL::text"
        ),
        part_key = since(v, 100000,
            "CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END",
            "NULL::text"
        ),
        // A join, not a subquery per table (which would scan pg_am once per table).
        am = since(v, 120000, "am.amname::text", "NULL::text"),
        // A partitioned table has one from 17 (what its partitions take by default).
        am_join = match v >= 170000 {
            true => "LEFT JOIN pg_am am ON am.oid = c.relam AND am.amname <> 'heap'",
            false => since(v, 120000,
                "LEFT JOIN pg_am am ON am.oid = c.relam AND am.amname <> 'heap' AND c.relkind <> 'p'",
                ""
            ),
        },
    );
    query_each(client, "tables", &sql, |r| {
        let oid: u32 = r.get("oid");
        let part_parent: Option<u32> = r.get("part_parent");
        let part_bound: Option<String> = r.get("part_bound");
        let mut table = Table {
            oid,
            schema: r.text("schema"),
            name: r.text("name"),
            relkind: ch(&r, "relkind"),
            persistence: ch(&r, "relpersistence"),
            columns: columns.remove(&oid).unwrap_or_default(),
            replica_identity: ch(&r, "relreplident"),
            rls_enabled: r.get("relrowsecurity"),
            rls_forced: r.get("relforcerowsecurity"),
            owner: r.text("owner"),
            est_rows: r.get("est_rows"),
            size_bytes: r.get("size_bytes"),
            extra: None,
        };
        table.set_extra(TableExtra {
            inherits: inherits.remove(&oid).unwrap_or_default(),
            partition_of: part_parent.zip(part_bound),
            partition_key: r.get("part_key"),
            of_type: OF_TYPE.read(&r),
            reloptions: r
                .get::<_, Option<Vec<String>>>("reloptions")
                .unwrap_or_default(),
            access_method: r.get("am"),
            foreign_server: r.get("server"),
            foreign_options: r
                .get::<_, Option<Vec<String>>>("ftoptions")
                .unwrap_or_default(),
            acl: r.get("acl"),
        });
        cat.tables.push(table);
    })
    .await?;

    Ok(())
}

/// The views query. From each view's and matview's `_RETURN` rule (every one has exactly one,
/// which it needs), of a relation made after initdb (as every one in a user schema is): found
/// by the index on pg_rewrite, where a filter on relkind would scan all of pg_class.
fn views_sql(v: i32) -> String {
    format!(
        "SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind,
                pg_get_viewdef(c.oid) AS def, c.reloptions::text[] AS reloptions,
                c.relacl::text[] AS acl, pg_get_userbyid(c.relowner)::text AS owner,
                {am} AS am, r.oid AS rule, c.relispopulated AS populated
         FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE r.rulename = '_RETURN' AND r.ev_class >= 16384 AND c.relkind IN ('v', 'm')
           AND {USER_SCHEMAS}
         ORDER BY 2, 3",
        am = since(
            v,
            120000,
            "(SELECT am.amname::text FROM pg_am am WHERE am.oid = c.relam AND am.amname <> 'heap')",
            "NULL::text"
        ),
    )
}

/// Views and materialized views from the rows of [`views_sql`], with their columns.
fn read_views(cat: &mut Catalog, rows: Vec<Row>, columns: &mut HashMap<u32, Vec<Column>>) {
    for r in rows {
        let oid: u32 = r.get("oid");
        if let Some(rule) = r.get::<_, Option<u32>>("rule") {
            cat.owners.insert(
                ObjRef::new(class::PG_REWRITE, rule),
                ObjRef::new(class::PG_CLASS, oid),
            );
        }
        let mut options: Vec<String> = r
            .get::<_, Option<Vec<String>>>("reloptions")
            .unwrap_or_default();
        let check_option = options
            .iter()
            .position(|o| o.starts_with("check_option="))
            .map(|i| options.remove(i)["check_option=".len()..].to_string());
        let cols = columns.remove(&oid).unwrap_or_default();
        let def: String = r.get("def");
        cat.views.push(View {
            oid,
            schema: r.text("schema"),
            name: r.text("name"),
            relkind: ch(&r, "relkind"),
            definition: def.trim_end().trim_end_matches(';').to_string(),
            options,
            check_option,
            column_defaults: cols
                .iter()
                .filter_map(|c| {
                    c.default
                        .as_ref()
                        .map(|d| (c.name.to_string(), d.to_string()))
                })
                .collect(),
            column_acls: cols
                .iter()
                .filter_map(|c| c.extra().acl.clone().map(|a| (c.name.to_string(), a)))
                .collect(),
            column_settings: cols
                .iter()
                .filter_map(|c| {
                    let x = c.extra.as_deref()?;
                    let any = x.storage.is_some()
                        || x.stat_target.is_some()
                        || x.compression.is_some()
                        || !x.options.is_empty();
                    any.then(|| (c.name.clone(), Box::new(x.clone())))
                })
                .collect(),
            columns: cols.iter().map(Attribute::of_column).collect(),
            access_method: r.get("am"),
            acl: r.get("acl"),
            owner: r.text("owner"),
            populated: r.get("populated"),
        });
    }
}

/// Give composite types their attributes, from the columns [`read`] left over: the types may
/// have been read on another connection of the same snapshot.
pub(super) fn fill_composite_types(cat: &mut Catalog, mut columns: HashMap<u32, Vec<Column>>) {
    for t in &mut cat.types {
        if let TypeKind::Composite { relid, attributes } = &mut t.kind {
            if let Some(cols) = columns.remove(relid) {
                *attributes = cols.iter().map(Attribute::of_column).collect();
            }
        }
    }
}

/// What [`ColumnTypes::get`] reads of a type, given `t` (the type) and `tn` (its schema),
/// `et` (its element type, joined only for a true array as `format_type` tells one) and `etn`
/// (that one's schema), and `typmod`, `ndims` and `type` (`format_type`) beside. (The schemas
/// are joined apart: one join on either schema misled the planner into a nested loop over
/// every column.)
const TYPE_PARTS: &str =
    "t.oid AS type_oid, COALESCE(etn.nspname, tn.nspname)::text AS type_schema,
    COALESCE(et.typname, t.typname)::text AS type_base,
    COALESCE(et.typtype, t.typtype) AS type_kind, et.oid IS NOT NULL AS type_is_array";

/// Column types as [`TYPE_PARTS`] reads them, one shared value per type, modifier and
/// dimensions.
#[derive(Default)]
pub(super) struct ColumnTypes(HashMap<(u32, i32, i32), Arc<ColumnType>>);

impl ColumnTypes {
    pub(super) fn get(&mut self, r: &Row) -> Arc<ColumnType> {
        let oid: u32 = r.get("type_oid");
        let typmod: i32 = r.get("typmod");
        let is_array: bool = r.get("type_is_array");
        let ndims: i32 = if is_array {
            r.get::<_, i32>("ndims").max(1)
        } else {
            0
        };
        Arc::clone(self.0.entry((oid, typmod, ndims)).or_insert_with(|| {
            Arc::new(ColumnType {
                oid,
                schema: r.text("type_schema"),
                name: r.text("type_base"),
                kind: ch(r, "type_kind"),
                typmod,
                dims: ndims.clamp(0, i16::MAX.into()) as i16,
                rendered: r.text("type"),
            })
        }))
    }
}

/// Columns by table, and by (table, attnum), what index definitions need of each.
pub(super) type Columns = (HashMap<u32, Vec<Column>>, HashMap<(u32, i16), KeyColumn>);

/// All columns of tables, views, matviews, foreign tables and composite types, in one query.
///
/// Defaults are deparsed with `pg_get_expr(adbin, 0)`: a default cannot refer to a column (only
/// a generated column's expression can), and with a relation the deparser opens it to learn its
/// column names, building a relcache entry per table. The text is the same either way.
async fn read_columns(client: Conn<'_>, cat: &mut Catalog) -> Result<Columns> {
    let v = cat.server_version;
    let sql = format!(
        "SELECT a.attrelid, a.attnum, a.attname::text AS name,
                format_type(a.atttypid, a.atttypmod) AS type, a.atttypmod AS typmod,
                a.attndims::int4 AS ndims, a.attnotnull,
                CASE WHEN {generated} = '' THEN pg_get_expr(d.adbin, 0)
                     ELSE pg_get_expr(d.adbin, d.adrelid) END AS default, d.oid AS attrdef,
                {generated} AS generated, {identity} AS identity,
                CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
                     THEN cn.nspname::text END AS collation_schema,
                co.collname::text AS collation_name,
                a.attislocal, a.attinhcount::int4 AS attinhcount, a.attstorage, t.typstorage,
                {stattarget} AS stattarget, {compression} AS compression,
                a.attoptions::text[] AS options, a.attfdwoptions::text[] AS fdwoptions,
                a.attacl::text[] AS acl, {nn_name} AS nn_name, c.relname::text AS relname,
                {nn_oid} AS nn_oid, {nn_valid} AS nn_valid, {nn_local} AS nn_local,
                a.atttypid, a.attcollation,
                t.typtype = 'b' AND NOT (t.typelem <> 0 AND t.typlen = -1) AS plain_type,
                t.typcategory, {TYPE_PARTS}
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_type t ON t.oid = a.atttypid
         JOIN pg_namespace tn ON tn.oid = t.typnamespace
         LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typlen = -1 AND t.typstorage <> 'p'
         LEFT JOIN pg_namespace etn ON etn.oid = et.typnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         LEFT JOIN pg_collation co ON co.oid = a.attcollation
         LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
         {nn_join}
         WHERE a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'c') AND {USER_SCHEMAS}
         ORDER BY a.attrelid, a.attnum",
        generated = since(v, 120000, "a.attgenerated", "''::\"char\""),
        identity = since(v, 100000, "a.attidentity", "''::\"char\""),
        stattarget = since(
            v,
            170000,
            "a.attstattarget::int4",
            "NULLIF(a.attstattarget, -1)::int4"
        ),
        compression = since(v, 140000, "a.attcompression", "''::\"char\""),
        // 18 names NOT NULL constraints; a join, not a subquery per column (one lookup per
        // column would grow with the whole schema).
        nn_name = since(v, 180000, "nc.conname::text", "NULL::text"),
        // Kept only where needed (NOT VALID, commented, local where the column is not or the
        // reverse, or valid here but inherited from a parent's NOT VALID one): every NOT NULL
        // column has one.
        nn_oid = since(
            v,
            180000,
            "CASE WHEN NOT nc.convalidated OR nd.objoid IS NOT NULL
                       OR nc.conislocal <> a.attislocal
                       OR (NOT nc.conislocal AND EXISTS (
                             SELECT FROM pg_inherits i JOIN pg_constraint pc
                               ON pc.conrelid = i.inhparent AND pc.contype = 'n'
                              AND pc.conname = nc.conname AND NOT pc.convalidated
                            WHERE i.inhrelid = a.attrelid)) THEN nc.oid END",
            "NULL::oid"
        ),
        nn_valid = since(v, 180000, "nc.convalidated", "true"),
        nn_local = since(v, 180000, "nc.conislocal", "true"),
        nn_join = since(
            v,
            180000,
            "LEFT JOIN pg_constraint nc ON nc.conrelid = a.attrelid AND nc.contype = 'n'
               AND nc.conkey[1] = a.attnum
             LEFT JOIN pg_description nd ON nd.objoid = nc.oid
               AND nd.classoid = 'pg_constraint'::regclass AND nd.objsubid = 0",
            ""
        ),
    );
    let mut out: HashMap<u32, Vec<Column>> = HashMap::new();
    let mut keys = HashMap::new();
    let mut types = ColumnTypes::default();
    query_each(client, "columns", &sql, |r| {
        let rel: u32 = r.get("attrelid");
        let num: i16 = r.get("attnum");
        let name = r.text("name");
        keys.insert(
            (rel, num),
            KeyColumn {
                name: name.clone(),
                type_oid: r.get("atttypid"),
                collation: r.get("attcollation"),
                plain: r.get("plain_type"),
                category: ch(&r, "typcategory"),
            },
        );
        let attrdef: Option<u32> = r.get("attrdef");
        if let Some(d) = attrdef {
            cat.owners.insert(
                ObjRef::new(class::PG_ATTRDEF, d),
                ObjRef::new(class::PG_CLASS, rel),
            );
        }
        let storage = ch(&r, "attstorage");
        // 18 names every NOT NULL constraint; only a name other than the default is kept.
        let nn_name: Option<String> = r.get("nn_name");
        let not_null_name = nn_name.filter(|n| {
            let relname: &str = r.get("relname");
            *n != crate::model::default_constraint_name(relname, &name, "not_null")
        });
        let mut column = Column {
            num,
            name,
            ty: types.get(&r),
            not_null: r.get("attnotnull"),
            default: r.text_opt("default"),
            attrdef_oid: attrdef,
            generated: opt_ch(&r, "generated"),
            identity: opt_ch(&r, "identity"),
            is_local: r.get("attislocal"),
            inh_count: r.get("attinhcount"),
            extra: None,
        };
        let nn_oid: Option<u32> = r.get("nn_oid");
        column.set_extra(ColumnExtra {
            not_null_name,
            not_null_constraint: nn_oid.map(|oid| crate::model::NotNullConstraint {
                oid,
                validated: r.get("nn_valid"),
                is_local: r.get("nn_local"),
            }),
            collation: r
                .text_opt("collation_schema")
                .map(|schema| (schema, r.text("collation_name"))),
            storage: (storage != ch(&r, "typstorage")).then_some(storage),
            stat_target: r.get("stattarget"),
            compression: opt_ch(&r, "compression"),
            options: r
                .get::<_, Option<Vec<String>>>("options")
                .unwrap_or_default(),
            fdw_options: r
                .get::<_, Option<Vec<String>>>("fdwoptions")
                .unwrap_or_default(),
            acl: r.get("acl"),
        });
        out.entry(rel).or_default().push(column);
    })
    .await?;
    // A table's columns arrive one by one, and a vector grown by pushes has room for up to
    // twice as many, memory that holds nothing.
    for cols in out.values_mut() {
        cols.shrink_to_fit();
    }
    Ok((out, keys))
}

/// The server's own definitions of the objects in `pending` ((position, oid) pairs), by oid,
/// from `sql`, which takes the oids as `$1`: one query for everything pgmove could not print
/// itself. `None` for an object dropped since the snapshot (the fingerprint then reads again).
async fn server_definitions(
    client: Conn<'_>,
    what: &str,
    sql: &str,
    pending: &[(usize, u32)],
) -> Result<HashMap<u32, Option<String>>> {
    let oids: Vec<u32> = pending.iter().map(|(_, oid)| *oid).collect();
    Ok(client
        .send(1)
        .query_typed(sql, &[(&oids, tokio_postgres::types::Type::OID_ARRAY)])
        .await
        .map_err(|e| {
            crate::Error::db(
                e,
                Some(format!("reading {what} from the catalog")),
                Some(sql),
            )
        })?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Every operator class, and the implicit binary-coercible casts: what tells whether an index
/// column's class is its type's default (see `indexdef`).
async fn read_opclasses(client: Conn<'_>) -> Result<Opclasses> {
    let mut out = Opclasses::default();
    for r in query(
        client,
        "operator classes",
        "SELECT o.oid, o.opcmethod, o.opcintype, o.opcdefault, n.nspname::text AS schema,
                o.opcname::text AS name,
                CASE WHEN t.typispreferred THEN t.typcategory END AS preferred_in
         FROM pg_opclass o JOIN pg_namespace n ON n.oid = o.opcnamespace
         LEFT JOIN pg_type t ON t.oid = o.opcintype",
    )
    .await?
    {
        let schema: String = r.get("schema");
        let name: String = r.get("name");
        out.by_oid.insert(
            r.get("oid"),
            Opclass {
                am: r.get("opcmethod"),
                input_type: r.get("opcintype"),
                is_default: r.get("opcdefault"),
                preferred_in: opt_ch(&r, "preferred_in"),
                // pg_catalog is always on the search path, so its classes print bare.
                name: if schema == "pg_catalog" {
                    crate::quote::ident(&name)
                } else {
                    crate::quote::qualified(&schema, &name)
                },
                schema_name: (schema.into(), name.into()),
            },
        );
    }
    for r in query(
        client,
        "binary-coercible casts",
        "SELECT castsource, casttarget FROM pg_cast WHERE castmethod = 'b' AND castcontext = 'i'",
    )
    .await?
    {
        out.binary_casts.insert((r.get(0), r.get(1)));
    }
    Ok(out)
}

/// The operators of `pg_catalog`, for the expressions `exprdef` prints.
async fn read_operators(client: Conn<'_>) -> Result<Operators> {
    let mut out = Operators::default();
    for r in query(client, "operators", exprdef::OPERATORS_SQL).await? {
        out.by_oid.insert(
            r.get("oid"),
            Operator {
                name: r.get("name"),
                kind: ch(&r, "oprkind"),
                left: r.get("oprleft"),
                right: r.get("oprright"),
            },
        );
    }
    Ok(out)
}

/// What a constraint's definition is made of, when it waits for the columns.
#[derive(Debug)]
pub(super) enum RawDefinition {
    Key(RawKey),
    Check(RawCheck),
}

/// Keys, foreign keys and checks whose definition or columns wait for the columns (see
/// [`finish_constraints`]): the position in `Catalog::constraints`, the OID, what the
/// constraint is made of, and whether its definition is still to build (a key's columns
/// always are).
pub(super) type PendingKeys = Vec<(usize, u32, RawDefinition, bool)>;

/// Constraints on tables. Exclusion constraints, constraint triggers and the checks pgmove
/// does not print come with the server's definition; keys, foreign keys and the other checks
/// come back as [`PendingKeys`], for [`finish_constraints`] once the columns are known.
pub(super) async fn read_constraints(client: Conn<'_>, cat: &mut Catalog) -> Result<PendingKeys> {
    let v = cat.server_version;
    let parent = since(v, 110000, "co.conparentid", "0::oid");
    let plain_kind = since(
        v,
        180000,
        "co.contype IN ('p', 'u', 'f') AND NOT co.conperiod AND co.conenforced",
        "co.contype IN ('p', 'u', 'f')",
    );
    // NOT ENFORCED checks (18) stay with the server.
    let check_kind = since(
        v,
        180000,
        "co.contype = 'c' AND co.conenforced AND NOT co.condeferrable",
        "co.contype = 'c' AND NOT co.condeferrable",
    );
    let delete_set = since(v, 150000, "co.confdelsetcols::int2[]", "NULL::int2[]");
    let period = since(v, 180000, "co.conperiod", "false");
    let nulls_not_distinct = since(
        v,
        150000,
        "COALESCE(ix.indnullsnotdistinct, false)",
        "false",
    );
    let key_count = since(v, 110000, "ix.indnkeyatts::int4", "ix.indnatts::int4");
    let mut pending = Vec::new();
    // Only what a join can match is hashed: foreign keys reference tables, keys' indexes are
    // unique (so only tables of pg_class, and only unique indexes of pg_index).
    query_each(
        client,
        "constraints",
        &format!(
            "SELECT co.oid, n.nspname::text AS schema, co.conname::text AS name, co.contype,
                    co.conrelid, co.contypid,
                    CASE WHEN {plain_kind} OR {check_kind} THEN NULL
                         ELSE pg_get_constraintdef(co.oid) END AS def,
                    CASE WHEN {check_kind} THEN co.conbin::text END AS check_tree,
                    co.connoinherit, co.convalidated, co.conislocal,
                    co.coninhcount::int4 AS coninhcount, co.conindid,
                    {parent} AS parent, co.confrelid, co.conkey::int2[] AS conkey,
                    co.confkey::int2[] AS confkey, rn.nspname::text AS ref_schema,
                    rc.relname::text AS ref_name, co.confmatchtype, co.confupdtype,
                    co.confdeltype, {delete_set} AS delete_set, co.condeferrable, co.condeferred,
                    {nulls_not_distinct} AS nulls_not_distinct, ix.indkey::int2[] AS index_keys,
                    {period} AS period,
                    {key_count} AS index_key_count
             FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
             LEFT JOIN pg_class rc ON rc.oid = co.confrelid AND rc.relkind IN ('r', 'p')
             LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
             LEFT JOIN pg_index ix ON ix.indexrelid = co.conindid AND co.contype IN ('p', 'u')
               AND ix.indisunique
             WHERE co.conrelid <> 0 AND co.contype IN ('c', 'f', 'p', 'u', 'x', 't')
               AND {USER_SCHEMAS}
             ORDER BY co.conrelid, co.conname"
        ),
        |r| {
            let definition: Option<String> = r.get("def");
            let pending_key = definition.is_none();
            let c = Constraint {
                oid: r.get("oid"),
                schema: r.text("schema"),
                name: r.text("name"),
                contype: ch(&r, "contype"),
                table_oid: r.get("conrelid"),
                domain_oid: r.get("contypid"),
                definition: definition.unwrap_or_default(),
                validated: r.get("convalidated"),
                is_local: r.get("conislocal"),
                inh_count: r.get("coninhcount"),
                index_oid: r.get("conindid"),
                parent_oid: r.get("parent"),
                ref_table_oid: r.get("confrelid"),
                deferrable: r.get("condeferrable"),
                deferred: r.get("condeferred"),
                key: None,
            };
            let check_tree: Option<String> = r.get("check_tree");
            if pending_key && c.contype == 'c' {
                let raw = RawCheck {
                    table_oid: c.table_oid,
                    tree: check_tree.unwrap_or_default(),
                    no_inherit: r.get("connoinherit"),
                    validated: c.validated,
                };
                pending.push((
                    cat.constraints.len(),
                    c.oid,
                    RawDefinition::Check(raw),
                    true,
                ));
            } else if matches!(c.contype, 'p' | 'u' | 'f') && c.table_oid != 0 {
                let index_keys: Vec<i16> = r
                    .get::<_, Option<Vec<i16>>>("index_keys")
                    .unwrap_or_default();
                let key_count = r
                    .get::<_, Option<i32>>("index_key_count")
                    .unwrap_or(0)
                    .max(0) as usize;
                let ref_names = r
                    .get::<_, Option<String>>("ref_schema")
                    .zip(r.get::<_, Option<String>>("ref_name"));
                let ref_table = ref_names
                    .as_ref()
                    .map(|(s, n)| (c.ref_table_oid, crate::quote::qualified(s, n)));
                let raw = RawKey {
                    contype: c.contype,
                    table_oid: c.table_oid,
                    columns: r.get::<_, Option<Vec<i16>>>("conkey").unwrap_or_default(),
                    include: index_keys.get(key_count..).unwrap_or_default().to_vec(),
                    nulls_not_distinct: r.get("nulls_not_distinct"),
                    ref_table,
                    ref_names,
                    ref_columns: r.get::<_, Option<Vec<i16>>>("confkey").unwrap_or_default(),
                    match_type: ch(&r, "confmatchtype"),
                    on_update: ch(&r, "confupdtype"),
                    on_delete: ch(&r, "confdeltype"),
                    delete_set: r.get("delete_set"),
                    deferrable: c.deferrable,
                    deferred: c.deferred,
                    validated: c.validated,
                    period: r.get("period"),
                };
                let raw = RawDefinition::Key(raw);
                pending.push((cat.constraints.len(), c.oid, raw, pending_key));
            }
            // A validated check belongs to its table's CREATE TABLE.
            if c.contype == 'c' && c.validated {
                cat.owners.insert(
                    ObjRef::new(class::PG_CONSTRAINT, c.oid),
                    ObjRef::new(class::PG_CLASS, c.table_oid),
                );
            }
            cat.constraints.push(c);
        },
    )
    .await?;
    Ok(pending)
}

/// Give the keys and foreign keys [`read_constraints`] left pending their columns by name,
/// and the keys, foreign keys and checks without one their definitions: built from the
/// columns and operators (see `constraintdef`, `exprdef`), or, for any it cannot build, from
/// the server's `pg_get_constraintdef` in one query. Runs inside the read's snapshot.
pub(super) async fn finish_constraints(
    client: Conn<'_>,
    cat: &mut Catalog,
    pending: PendingKeys,
    columns: &HashMap<(u32, i16), KeyColumn>,
    operators: &Operators,
) -> Result<()> {
    let mut left = Vec::new();
    for (i, oid, raw, needs_definition) in pending {
        if let RawDefinition::Key(k) = &raw {
            cat.constraints[i].key = constraintdef::key_def(k, columns).map(Box::new);
        }
        if !needs_definition {
            continue;
        }
        let built = match &raw {
            RawDefinition::Key(k) => constraintdef::build(k, columns),
            RawDefinition::Check(c) => constraintdef::build_check(c, columns, operators),
        };
        match built {
            Some(def) => cat.constraints[i].definition = def,
            None => left.push((i, oid)),
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    let defs = server_definitions(
        client,
        "constraint definitions",
        "SELECT co.oid, pg_get_constraintdef(co.oid) FROM pg_constraint co WHERE co.oid = ANY($1)",
        &left,
    )
    .await?;
    for (i, oid) in left {
        cat.constraints[i].definition = defs.get(&oid).cloned().flatten().unwrap_or_default();
    }
    Ok(())
}

async fn read_indexes(
    client: Conn<'_>,
    cat: &mut Catalog,
    columns: &HashMap<(u32, i16), KeyColumn>,
    operators: &Operators,
    opclasses: &Opclasses,
) -> Result<()> {
    let v = cat.server_version;
    let partitioned = since(v, 110000, "ic.relkind = 'I'", "false");
    let key_count = since(v, 110000, "i.indnkeyatts::int4", "i.indnatts::int4");
    let nulls_not_distinct = since(v, 150000, "i.indnullsnotdistinct", "false");
    let mut pending = Vec::new();
    // The constraint and the columns' options and statistics targets by joins, not subqueries
    // per index (several index scans per index, and a scan of all of pg_attribute): one scan of
    // pg_attribute keeps its few rows with either.
    query_each(
        client,
        "indexes",
        &format!(
            "SELECT i.indexrelid, n.nspname::text AS schema, ic.relname::text AS name, i.indrelid,
                    tn.nspname::text AS table_schema, tc.relname::text AS table_name,
                    ic.relam AS am, am.amname::text AS am_name, i.indisunique,
                    ic.reloptions::text[] AS reloptions,
                    {nulls_not_distinct} AS nulls_not_distinct, {key_count} AS key_count,
                    i.indkey::int2[] AS keys, i.indclass::oid[] AS classes,
                    i.indcollation::oid[] AS collations, i.indoption::int2[] AS options,
                    i.indpred::text AS pred_tree,
                    i.indexprs IS NOT NULL OR ic.reloptions IS NOT NULL OR ic.relkind <> 'i'
                      OR COALESCE(ax.options, false) AS needs_server,
                    co.oid AS con,
                    inh.inhparent AS parent, inh.inhparent::regclass::text AS parent_name,
                    i.indisvalid, i.indisclustered, i.indisreplident, {partitioned} AS partitioned,
                    COALESCE(ax.stats, '{{}}') AS stats
             FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_class tc ON tc.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = ic.relnamespace
             JOIN pg_namespace tn ON tn.oid = tc.relnamespace
             JOIN pg_am am ON am.oid = ic.relam
             LEFT JOIN pg_inherits inh ON inh.inhrelid = i.indexrelid
             LEFT JOIN pg_constraint co ON co.conindid = i.indexrelid AND co.conrelid = i.indrelid
               AND co.contype IN ('p', 'u', 'x')
             LEFT JOIN (SELECT a.attrelid, bool_or(a.attoptions IS NOT NULL) AS options,
                               array_agg(a.attnum::int4 * 100000 + a.attstattarget::int4
                                         ORDER BY a.attnum) FILTER (WHERE a.attstattarget > 0) AS stats
                        FROM pg_attribute a WHERE a.attstattarget > 0 OR a.attoptions IS NOT NULL
                        GROUP BY a.attrelid) ax ON ax.attrelid = i.indexrelid
             WHERE tc.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS}"
        ),
        |r| {
            let parent: Option<u32> = r.get("parent");
            let stats: Vec<i32> = r.get("stats");
            let table_schema: String = r.get("table_schema");
            let table_name: String = r.get("table_name");
            let table_oid: u32 = r.get("indrelid");
            // A predicate pgmove cannot print sends the whole definition to the server.
            let pred_tree: Option<String> = r.get("pred_tree");
            let predicate = pred_tree.as_deref().map(|tree| {
                let ctx = exprdef::Context {
                    table_oid,
                    columns,
                    operators,
                };
                exprdef::deparse(tree, &ctx)
            });
            let raw = RawIndex {
                name: r.get("name"),
                table_oid,
                table: crate::quote::qualified(&table_schema, &table_name),
                am: r.get("am"),
                am_name: r.get("am_name"),
                unique: r.get("indisunique"),
                nulls_not_distinct: r.get("nulls_not_distinct"),
                key_count: r.get::<_, i32>("key_count").max(0) as usize,
                keys: r.get("keys"),
                classes: r.get("classes"),
                collations: r.get("collations"),
                options: r.get("options"),
                needs_server: r.get::<_, bool>("needs_server") || matches!(predicate, Some(None)),
                predicate: predicate.flatten(),
            };
            let definition = indexdef::build(&raw, columns, opclasses);
            let parts = indexdef::parts(&raw, columns, opclasses);
            let oid: u32 = r.get("indexrelid");
            if definition.is_none() {
                pending.push((cat.indexes.len(), oid));
            }
            let mut index = Index {
                oid,
                schema: r.text("schema"),
                name: raw.name.into(),
                table_oid: raw.table_oid,
                definition: definition.unwrap_or_default(),
                constraint_oid: r.get("con"),
                is_valid: r.get("indisvalid"),
                is_clustered: r.get("indisclustered"),
                is_replica_identity: r.get("indisreplident"),
                is_partitioned: r.get("partitioned"),
                parts: Box::new(parts),
                extra: None,
            };
            index.set_extra(IndexExtra {
                reloptions: r
                    .get::<_, Option<Vec<String>>>("reloptions")
                    .unwrap_or_default(),
                parent_index: parent.map(|p| (p, r.get("parent_name"))),
                stat_targets: stats
                    .into_iter()
                    .map(|s| ((s / 100000) as i16, s % 100000))
                    .collect(),
            });
            cat.indexes.push(index);
        },
    )
    .await?;
    // What the columns do not tell: the server's deparser, in one query for all of them,
    // with the expressions of expression keys and any predicate `exprdef` could not print.
    if !pending.is_empty() {
        let oids: Vec<u32> = pending.iter().map(|(_, oid)| *oid).collect();
        let sql = "SELECT i.indexrelid, pg_get_indexdef(i.indexrelid) AS def,
                          pg_get_expr(i.indpred, i.indrelid) AS predicate,
                          ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, false)
                                FROM generate_series(1, i.indnatts::int4) k
                                WHERE i.indkey[k - 1] = 0 ORDER BY k) AS expressions
                   FROM pg_index i WHERE i.indexrelid = ANY($1)";
        let rows = client
            .send(1)
            .query_typed(sql, &[(&oids, tokio_postgres::types::Type::OID_ARRAY)])
            .await
            .map_err(|e| {
                crate::Error::db(
                    e,
                    Some("reading index definitions from the catalog".into()),
                    Some(sql),
                )
            })?;
        let mut defs: HashMap<u32, (String, Option<String>, Vec<String>)> = rows
            .iter()
            .map(|r| {
                let def: Option<String> = r.get("def");
                let exprs: Option<Vec<String>> = r.get("expressions");
                (
                    r.get("indexrelid"),
                    (
                        def.unwrap_or_default(),
                        r.get("predicate"),
                        exprs.unwrap_or_default(),
                    ),
                )
            })
            .collect();
        for (i, oid) in pending {
            let Some((def, predicate, exprs)) = defs.remove(&oid) else {
                continue;
            };
            let ix = &mut cat.indexes[i];
            ix.definition = def;
            let parts = &mut ix.parts;
            if parts.predicate.is_none() {
                parts.predicate = predicate;
            }
            let mut exprs = exprs.into_iter();
            for k in &mut parts.keys {
                if let crate::model::IndexColumn::Expression(e) = &mut k.key {
                    *e = exprs.next().unwrap_or_default();
                }
            }
        }
    }
    // Ordered here, not by the query: on large schemas the server's sort of these wide rows
    // spills to disk, while the client sorts them in memory.
    cat.indexes
        .sort_unstable_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(())
}

/// Extended statistics (10+).
async fn read_statistics(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    if v >= 100000 {
        let target = since(v, 130000, "s.stxstattarget::int4", "NULL::int4");
        for r in query(
            client,
            "extended statistics",
            &format!(
                "SELECT s.oid, n.nspname::text AS schema, s.stxname::text AS name, s.stxrelid,
                        pg_get_statisticsobjdef(s.oid) AS def, NULLIF({target}, -1) AS target
                 FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
                 WHERE {USER_SCHEMAS} ORDER BY 2, 3"
            ),
        )
        .await?
        {
            cat.statistics.push(Statistic {
                oid: r.get("oid"),
                schema: r.get("schema"),
                name: r.get("name"),
                table_oid: r.get("stxrelid"),
                definition: r.get("def"),
                stat_target: r.get("target"),
            });
        }
    }
    Ok(())
}

async fn read_triggers_rules(client: Conn<'_>, cat: &mut Catalog) -> Result<()> {
    let v = cat.server_version;
    // Clones of a parent's trigger come with the partition; one whose enabled state differs
    // from its parent's is read for that state.
    let not_clone = since(
        v,
        130000,
        "(t.tgparentid = 0 OR t.tgenabled <> (SELECT p.tgenabled FROM pg_trigger p WHERE p.oid = t.tgparentid))",
        "true",
    );
    let clone = since(v, 130000, "t.tgparentid <> 0", "false");
    for r in query(
        client,
        "triggers",
        &format!(
            "SELECT t.oid, t.tgrelid, t.tgname::text AS name, pg_get_triggerdef(t.oid) AS def,
                    t.tgenabled, {clone} AS clone
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE NOT t.tgisinternal AND {not_clone} AND {USER_SCHEMAS}
             ORDER BY t.tgrelid, t.tgname"
        ),
    )
    .await?
    {
        cat.triggers.push(crate::model::Trigger {
            oid: r.get("oid"),
            table_oid: r.get("tgrelid"),
            name: r.get("name"),
            definition: r.get("def"),
            enabled: ch(&r, "tgenabled"),
            clone: r.get("clone"),
        });
    }

    for r in query(
        client,
        "rules",
        &format!(
            "SELECT r.oid, r.ev_class, r.rulename::text AS name, pg_get_ruledef(r.oid) AS def,
                    r.ev_enabled
             FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE r.rulename <> '_RETURN' AND {USER_SCHEMAS}
             ORDER BY r.ev_class, r.rulename"
        ),
    )
    .await?
    {
        cat.rules.push(Rule {
            oid: r.get("oid"),
            table_oid: r.get("ev_class"),
            name: r.get("name"),
            definition: r.get("def"),
            enabled: ch(&r, "ev_enabled"),
        });
    }

    // Policies arrived with row-level security in 9.5, restrictive ones in 10.
    if v >= 90500 {
        let permissive = since(v, 100000, "p.polpermissive", "true");
        for r in query(
            client,
            "policies",
            &format!(
                "SELECT p.oid, p.polrelid, p.polname::text AS name, {permissive} AS permissive,
                        p.polcmd,
                        ARRAY(SELECT CASE WHEN rid = 0 THEN 'PUBLIC'
                                          ELSE quote_ident(pg_get_userbyid(rid)) END
                              FROM unnest(p.polroles) rid ORDER BY 1) AS roles,
                        pg_get_expr(p.polqual, p.polrelid) AS using,
                        pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
                 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE {USER_SCHEMAS} ORDER BY p.polrelid, p.polname"
            ),
        )
        .await?
        {
            cat.policies.push(Policy {
                oid: r.get("oid"),
                table_oid: r.get("polrelid"),
                name: r.get("name"),
                permissive: r.get("permissive"),
                command: ch(&r, "polcmd"),
                roles: r.get("roles"),
                using: r.get("using"),
                with_check: r.get("with_check"),
            });
        }
    }
    Ok(())
}
