//! `--restart`: take a target back to what it held before an earlier run of the migration,
//! so the run can start over (after the source's schema changed, or a run went wrong).
//!
//! The schema step records a baseline in its own transaction, read right before it creates
//! anything: every user object the target database held then (catalog and OID, for each catalog whose
//! objects a migration can create). Restarting drops every user object that is not in that
//! baseline, top-level objects only (a table's indexes, constraints, triggers, row type and
//! owned sequences go with it), each in its own statement with `IF EXISTS … CASCADE`, so an
//! interrupted restart is continued by restarting again. The record goes last.
//!
//! It must never touch what was there before the earlier run (the baseline protects it), nor
//! run without a record of an earlier run: a target the migration never wrote to is not its
//! to empty. Roles are cluster-wide and left alone (the roles step is idempotent).

use crate::quote::literal;
use crate::{Error, Result};
use std::collections::BTreeSet;
use tokio_postgres::Client;

/// One catalog a migration creates top-level objects in, and since which major it exists.
struct Source {
    catalog: &'static str,
    since: i32,
    /// Extra condition on the catalog's rows (`o` is the row).
    only: &'static str,
}

/// The catalogs, in the order their objects are dropped: dependents before what they depend
/// on, so that `IF EXISTS` rarely has to skip and no drop names a type already gone.
const SOURCES: &[Source] = &[
    Source {
        catalog: "pg_event_trigger",
        since: 90300,
        only: "",
    },
    Source {
        catalog: "pg_publication",
        since: 100000,
        only: "",
    },
    Source {
        catalog: "pg_class",
        since: 0,
        only: "o.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')",
    },
    Source {
        catalog: "pg_proc",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_operator",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_opclass",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_opfamily",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_cast",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_type",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_collation",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_conversion",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_ts_config",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_ts_dict",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_ts_template",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_ts_parser",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_foreign_server",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_foreign_data_wrapper",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_language",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_am",
        since: 90600,
        only: "",
    },
    Source {
        catalog: "pg_extension",
        since: 0,
        only: "",
    },
    Source {
        catalog: "pg_namespace",
        since: 0,
        only: "",
    },
];

/// The first OID `initdb` leaves to users: anything below is the system's own.
const FIRST_NORMAL_OID: u32 = 16384;

/// A query giving `(classid, objid)` of every top-level user object of the connected database,
/// for a server of `version` (`server_version_num`). Top-level: not an internal, automatic or
/// extension dependent of another object (those go with their owner); large objects come with
/// classid `pg_largeobject`.
pub fn objects_sql(version: i32) -> String {
    let mut parts: Vec<String> = SOURCES
        .iter()
        .filter(|s| version >= s.since)
        .map(|s| {
            let only = if s.only.is_empty() {
                String::new()
            } else {
                format!(" AND {}", s.only)
            };
            format!(
                "SELECT '{cat}'::regclass::oid AS classid, o.oid AS objid FROM pg_catalog.{cat} o \
                  WHERE o.oid >= {FIRST_NORMAL_OID}{only} AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d \
                  WHERE d.classid = '{cat}'::regclass AND d.objid = o.oid AND d.deptype IN ('i', 'a', 'e', 'x'))",
                cat = s.catalog
            )
        })
        .collect();
    parts.push(
        "SELECT 'pg_largeobject'::regclass::oid, oid FROM pg_catalog.pg_largeobject_metadata"
            .into(),
    );
    parts.join("\nUNION ALL ")
}

/// The baseline of `target` as the record keeps it (`classid:objid,…`): read right before the
/// schema step, which records it in its own transaction.
pub async fn baseline(target: &Client) -> Result<String> {
    let version = crate::conn::server_version(target).await?;
    let sql = format!(
        "SELECT coalesce(string_agg(classid::text || ':' || objid::text, ','), '') FROM ({}) b",
        objects_sql(version)
    );
    Ok(target
        .query_one(&sql, &[])
        .await
        .map_err(|e| Error::db(e, None, Some("listing the target's objects")))?
        .get(0))
}

/// The keyword `DROP` takes for an object type as `pg_identify_object` names it; `None` for
/// types restart leaves alone (their owner's drop takes them, or they cannot be dropped).
fn drop_keyword(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "table" => "TABLE",
        "view" => "VIEW",
        "materialized view" => "MATERIALIZED VIEW",
        "sequence" => "SEQUENCE",
        "foreign table" => "FOREIGN TABLE",
        "composite type" | "type" => "TYPE",
        "domain" => "DOMAIN",
        "function" => "FUNCTION",
        "aggregate" => "AGGREGATE",
        "procedure" => "PROCEDURE",
        "operator" => "OPERATOR",
        "operator class" => "OPERATOR CLASS",
        "operator family" => "OPERATOR FAMILY",
        "cast" => "CAST",
        "collation" => "COLLATION",
        "conversion" => "CONVERSION",
        "text search configuration" => "TEXT SEARCH CONFIGURATION",
        "text search dictionary" => "TEXT SEARCH DICTIONARY",
        "text search template" => "TEXT SEARCH TEMPLATE",
        "text search parser" => "TEXT SEARCH PARSER",
        "server" => "SERVER",
        "foreign-data wrapper" => "FOREIGN DATA WRAPPER",
        "language" => "LANGUAGE",
        "access method" => "ACCESS METHOD",
        "extension" => "EXTENSION",
        "schema" => "SCHEMA",
        "event trigger" => "EVENT TRIGGER",
        "publication" => "PUBLICATION",
        _ => return None,
    })
}

/// The statement dropping one object, from `pg_identify_object`'s type and identity (which the
/// server quotes); `None` when restart leaves it to its owner's drop.
fn drop_statement(kind: &str, identity: &str, oid: u32) -> Option<String> {
    if kind == "large object" {
        return Some(format!(
            "SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = {oid}"
        ));
    }
    let keyword = drop_keyword(kind)?;
    Some(format!("DROP {keyword} IF EXISTS {identity} CASCADE"))
}

/// What [`restart`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Restarted {
    /// Objects dropped, e.g. `table public.film`.
    pub dropped: Vec<String>,
    /// Objects found new but left alone (kinds restart does not drop), one line each.
    pub left: Vec<String>,
}

/// Drop what the earlier run recorded by `baseline` created on `target`, then its record.
/// `state_schema` is the record's own schema, dropped last.
pub async fn restart(target: &Client, baseline: &str, state_schema: &str) -> Result<Restarted> {
    let before: BTreeSet<(u32, u32)> = parse_baseline(baseline)?;
    let version = crate::conn::server_version(target).await?;
    // In SOURCES order (the UNION ALL keeps it), large objects last.
    let sql = format!(
        "SELECT o.classid, o.objid, i.type, i.identity
           FROM ({}) o, LATERAL pg_catalog.pg_identify_object(o.classid, o.objid, 0) i
          WHERE i.schema IS DISTINCT FROM {state}
            AND NOT (o.classid = 'pg_namespace'::regclass AND i.identity = {state})",
        objects_sql(version),
        state = literal(state_schema)
    );
    let rows = target
        .query(&sql, &[])
        .await
        .map_err(|e| Error::db(e, None, Some("listing the earlier run's objects")))?;
    let mut out = Restarted::default();
    for r in rows {
        let (classid, objid): (u32, u32) = (r.get(0), r.get(1));
        if before.contains(&(classid, objid)) {
            continue;
        }
        let (kind, identity): (String, String) = (r.get(2), r.get(3));
        let Some(stmt) = drop_statement(&kind, &identity, objid) else {
            out.left.push(format!("{kind} {identity}"));
            continue;
        };
        target.batch_execute(&stmt).await.map_err(|e| {
            Error::db(
                e,
                Some(format!("dropping {kind} {identity} for --restart")),
                Some(&stmt),
            )
        })?;
        out.dropped.push(format!("{kind} {identity}"));
    }
    super::state::drop(target).await?;
    Ok(out)
}

/// `classid:objid,…` as recorded by [`baseline_sql`].
fn parse_baseline(text: &str) -> Result<BTreeSet<(u32, u32)>> {
    text.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (c, o) = p.split_once(':').unwrap_or((p, ""));
            match (c.parse(), o.parse()) {
                (Ok(c), Ok(o)) => Ok((c, o)),
                _ => Err(Error::Invalid(format!(
                    "the migration's record on the target is damaged (baseline entry {p:?}); \
                     --restart cannot tell what was there before: recreate the target database"
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_sql_follows_the_server_version() {
        let v94 = objects_sql(90400);
        assert!(!v94.contains("pg_publication") && !v94.contains("pg_am "));
        let v18 = objects_sql(180000);
        assert!(v18.contains("pg_catalog.pg_publication o") && v18.contains("pg_catalog.pg_am o"));
        assert!(v18.ends_with("pg_catalog.pg_largeobject_metadata"));
    }

    #[test]
    fn drops_are_idempotent_and_cascade() {
        assert_eq!(
            drop_statement("foreign-data wrapper", "\"W\"", 1).unwrap(),
            "DROP FOREIGN DATA WRAPPER IF EXISTS \"W\" CASCADE"
        );
        assert!(drop_statement("large object", "16400", 16400)
            .unwrap()
            .contains("WHERE oid = 16400"));
        assert_eq!(drop_statement("default acl", "x", 1), None);
    }

    #[test]
    fn baseline_round_trips_and_rejects_damage() {
        assert_eq!(
            parse_baseline("2615:16390,1259:16400").unwrap(),
            BTreeSet::from([(2615, 16390), (1259, 16400)])
        );
        assert!(parse_baseline("").unwrap().is_empty());
        assert!(parse_baseline("2615:x").is_err());
    }
}
