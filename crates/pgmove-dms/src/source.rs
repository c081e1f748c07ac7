//! Reads what the plan and the preflight need from the source catalog: one query per kind
//! (settings, tables, columns), then one `max(octet_length(..))` scan per table that has LOB
//! columns in scope.
//!
//! TODO(pgmove-core): connect through `pgmove_core::conn::connect(&ConnSpec)` (libpq-compatible
//! strings, `.pgpass`, TLS) and take tables from `pgmove_core::model` once both land.

use crate::plan::{
    Filters, LobColumn, LobKind, OddColumn, PlanInput, PlanTable, SourceSettings, TableKind,
};
use crate::{Error, Result};
use pgmove_core::quote::{ident, qualified};
use std::collections::{BTreeMap, HashSet};

/// Connect to the source with a libpq-style `key=value` string or URI (no TLS yet).
pub async fn connect(conninfo: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::Source(format!("could not connect to the source: {e}")))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn db(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(d) => Error::Source(format!("{}: {}", d.code().code(), d.message())),
        None => Error::Source(e.to_string()),
    }
}

/// Schemas never in scope.
const SYSTEM_SCHEMAS: &str = "n.nspname not in ('pg_catalog', 'information_schema') \
     and n.nspname !~ '^pg_toast' and n.nspname !~ '^pg_temp'";

/// Read settings, tables and columns, and measure LOB columns of the tables `filters` keeps.
pub async fn read(client: &tokio_postgres::Client, filters: &Filters) -> Result<PlanInput> {
    let settings = read_settings(client).await?;
    let v = settings.server_version_num;
    let relispartition = if v >= 100_000 {
        "c.relispartition"
    } else {
        "false"
    };
    let attgenerated = if v >= 120_000 {
        "a.attgenerated::text"
    } else {
        "''"
    };
    let attidentity = if v >= 100_000 {
        "a.attidentity::text"
    } else {
        "''"
    };

    // Tables: regular and partitioned, not owned by an extension.
    let sql = format!(
        "select n.nspname, c.relname, c.relkind::text, {relispartition} as ispart,
                c.relpersistence::text, c.relreplident::text, greatest(c.reltuples, 0)::int8,
                exists(select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary),
                exists(select 1 from pg_index i where i.indrelid = c.oid and i.indisunique
                       and not i.indisprimary and i.indisvalid and i.indpred is null
                       and i.indexprs is null),
                (select pn.nspname from pg_inherits h join pg_class pc on pc.oid = h.inhparent
                   join pg_namespace pn on pn.oid = pc.relnamespace
                  where h.inhrelid = c.oid limit 1),
                (select pc.relname from pg_inherits h join pg_class pc on pc.oid = h.inhparent
                  where h.inhrelid = c.oid limit 1)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and {SYSTEM_SCHEMAS}
            and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                            and d.objid = c.oid and d.deptype = 'e')
          order by 1, 2"
    );
    let mut tables: BTreeMap<(String, String), PlanTable> = BTreeMap::new();
    // LOB columns whose length is measured on their text form (json, xml, arrays...).
    let mut via_text: HashSet<(String, String, String)> = HashSet::new();
    for r in client.query(&sql, &[]).await.map_err(db)? {
        let schema: String = r.get(0);
        let name: String = r.get(1);
        let relkind: String = r.get(2);
        let ispart: bool = r.get(3);
        let kind = match (relkind.as_str(), ispart) {
            ("p", _) => TableKind::PartitionedParent,
            (_, true) => TableKind::LeafPartition,
            _ => TableKind::Regular,
        };
        let parent = match (
            r.get::<_, Option<String>>(9),
            r.get::<_, Option<String>>(10),
        ) {
            (Some(s), Some(n)) if ispart => Some((s, n)),
            _ => None,
        };
        tables.insert(
            (schema.clone(), name.clone()),
            PlanTable {
                schema,
                name,
                kind,
                parent,
                has_primary_key: r.get(7),
                has_unique_key: r.get(8),
                replica_identity: r.get(5),
                unlogged: r.get::<_, String>(4) == "u",
                estimated_rows: r.get(6),
                lob_columns: vec![],
                generated_columns: vec![],
                identity_always_columns: vec![],
                odd_columns: vec![],
            },
        );
    }

    // Columns: every column of those tables, with its base type (through domains).
    let sql = format!(
        "select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                coalesce(bt.typname, t.typname)::text,
                coalesce(bt.typcategory, t.typcategory)::text,
                coalesce(bt.typtype, t.typtype)::text,
                case when t.typtype = 'd' then t.typtypmod else a.atttypmod end,
                {attgenerated}, {attidentity},
                coalesce(bt.typnamespace, t.typnamespace) = 'pg_catalog'::regnamespace
           from pg_attribute a
           join pg_class c on c.oid = a.attrelid
           join pg_namespace n on n.oid = c.relnamespace
           join pg_type t on t.oid = a.atttypid
           left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
          where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p')
            and {SYSTEM_SCHEMAS}
          order by n.nspname, c.relname, a.attnum"
    );
    for r in client.query(&sql, &[]).await.map_err(db)? {
        let key = (r.get::<_, String>(0), r.get::<_, String>(1));
        let Some(t) = tables.get_mut(&key) else {
            continue;
        };
        let col: String = r.get(2);
        let type_name: String = r.get(3);
        let base: String = r.get(4);
        let category: String = r.get(5);
        let typtype: String = r.get(6);
        let typmod: i32 = r.get(7);
        let generated: String = r.get(8);
        let identity: String = r.get(9);
        let builtin: bool = r.get(10);
        if generated == "s" {
            t.generated_columns.push(col.clone());
            // The target computes it; DMS will not move it, so it is neither LOB nor odd.
            continue;
        }
        if identity == "a" {
            t.identity_always_columns.push(col.clone());
        }
        if let Some(kind) = lob_kind(&base, &category, typmod) {
            if !matches!(base.as_str(), "text" | "bytea" | "varchar") {
                via_text.insert((key.0.clone(), key.1.clone(), col.clone()));
            }
            t.lob_columns.push(LobColumn {
                name: col,
                type_name,
                kind,
                max_bytes: None,
            });
        } else if let Some(note) = odd_type(&base, &category, &typtype, typmod, builtin) {
            t.odd_columns.push(OddColumn {
                name: col,
                type_name,
                note: note.into(),
            });
        }
    }

    // LOB sizes: one scan per table in scope that has LOB columns.
    for t in tables.values_mut() {
        if t.lob_columns.is_empty() || !t.holds_rows() {
            continue;
        }
        let in_scope = match &t.parent {
            Some((ps, pn)) => filters.matches(&t.schema, &t.name) || filters.matches(ps, pn),
            None => filters.matches(&t.schema, &t.name),
        };
        if !in_scope {
            continue;
        }
        let exprs: Vec<String> = t
            .lob_columns
            .iter()
            .map(|c| {
                let id = ident(&c.name);
                if via_text.contains(&(t.schema.clone(), t.name.clone(), c.name.clone())) {
                    format!("max(octet_length({id}::text))::int8")
                } else {
                    format!("max(octet_length({id}))::int8")
                }
            })
            .collect();
        let sql = format!(
            "select {} from only {}",
            exprs.join(", "),
            qualified(&t.schema, &t.name)
        );
        let row = client.query_one(&sql, &[]).await.map_err(db)?;
        for (i, c) in t.lob_columns.iter_mut().enumerate() {
            c.max_bytes = row.get(i);
        }
    }

    let sequences: i64 = client
        .query_one(
            &format!(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                  where c.relkind = 'S' and {SYSTEM_SCHEMAS}"
            ),
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    let database: String = client
        .query_one("select current_database()::text", &[])
        .await
        .map_err(db)?
        .get(0);
    Ok(PlanInput {
        database,
        tables: tables.into_values().collect(),
        settings: SourceSettings {
            sequences,
            ..settings
        },
    })
}

/// DMS moves these as LOBs (NCLOB or BLOB) from a PostgreSQL source.
pub fn lob_kind(base: &str, category: &str, typmod: i32) -> Option<LobKind> {
    match base {
        "bytea" => Some(LobKind::Blob),
        "text" | "json" | "jsonb" | "xml" | "hstore" => Some(LobKind::Nclob),
        // Unbounded varchar has no length to map to: DMS treats it as a LOB.
        "varchar" if typmod < 0 => Some(LobKind::Nclob),
        _ if category == "A" => Some(LobKind::Nclob),
        _ => None,
    }
}

/// Types DMS is known to move badly; `None` for the ones it handles. `builtin`: the (base) type
/// lives in `pg_catalog`.
pub fn odd_type(
    base: &str,
    category: &str,
    typtype: &str,
    typmod: i32,
    builtin: bool,
) -> Option<&'static str> {
    Some(match base {
        "numeric" if typmod < 0 => {
            "unconstrained numeric: DMS rounds to NUMERIC(28,6) unless the source endpoint has MapUnboundedNumericAsString=true (pgmove's apply sets it)"
        }
        "money" => "money: moved as NUMERIC(38,4); locale formatting may differ",
        "timetz" => "time with time zone: offset may be lost",
        "interval" => "interval: moved as text; check the target's IntervalStyle",
        "tsvector" | "tsquery" => "text search type: not supported by DMS",
        "point" | "line" | "lseg" | "box" | "path" | "polygon" | "circle" => {
            "geometric type: moved as text"
        }
        "bit" | "varbit" => "bit string: moved as text; check lengths",
        "pg_lsn" | "txid_snapshot" | "pg_snapshot" | "oid" | "regclass" | "regproc"
        | "regtype" | "tid" | "xid" | "xid8" | "cid" => "system type: not supported by DMS",
        _ => match typtype {
            "r" | "m" => "range type: moved as text",
            "c" => "composite type: moved as text",
            "e" => "enum: moved as text; the target type must accept every label",
            _ if !builtin => "extension or user-defined type: DMS may not support it",
            _ => {
                let _ = category;
                return None;
            }
        },
    })
}

async fn read_settings(client: &tokio_postgres::Client) -> Result<SourceSettings> {
    let r = client
        .query_one(
            "select current_setting('server_version'),
                    current_setting('server_version_num')::int4,
                    current_setting('wal_level'),
                    current_setting('rds.logical_replication', true),
                    current_setting('max_replication_slots')::int4,
                    current_setting('max_wal_senders')::int4",
            &[],
        )
        .await
        .map_err(db)?;
    let used_slots: i64 = client
        .query_one("select count(*) from pg_replication_slots", &[])
        .await
        .map_err(db)?
        .get(0);
    let used_senders: i64 = client
        .query_one("select count(*) from pg_stat_replication", &[])
        .await
        .map_err(db)?
        .get(0);
    Ok(SourceSettings {
        server_version: r.get(0),
        server_version_num: r.get(1),
        wal_level: r.get(2),
        rds_logical_replication: r.get::<_, Option<String>>(3).filter(|s| !s.is_empty()),
        max_replication_slots: r.get(4),
        replication_slots_used: used_slots as i32,
        max_wal_senders: r.get(5),
        wal_senders_used: used_senders as i32,
        sequences: 0,
    })
}
