//! The checks `migrate` runs before it writes anything: every problem found, each one line,
//! all at once, so a user fixes them in one go instead of one failed run each.
//!
//! Read-only on both servers. It never decides what to create (the plan does) and never
//! writes; a problem here means nothing was sent to the target.

use crate::model::Catalog;
use crate::plan::{self, Plan};
use crate::quote::literal;
use crate::{Error, Result};
use tokio_postgres::Client;

/// What the checks need to know beyond the plan.
pub(super) struct Checks<'a> {
    pub cat: &'a Catalog,
    pub schema_plan: &'a Plan,
    /// Relations whose rows will be read from the source (their OIDs).
    pub copied_tables: &'a [u32],
    /// Roles will be created by the roles step first: missing ones are not a problem.
    pub roles_step: bool,
    /// Whether the schema step still has to run (a resumed run past it skips its checks).
    pub schema_pending: bool,
    /// Whether the data step will copy the large objects (and has not begun to).
    pub large_objects: bool,
}

/// Every problem that would make the migration fail, one line each; empty when none.
pub(super) async fn problems(
    source: &Client,
    target: &Client,
    c: &Checks<'_>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let target_version = crate::conn::server_version(target).await?;
    if target_version / 10000 < c.cat.server_version / 10000 {
        out.push(format!(
            "the target runs PostgreSQL {} and the source {}: the target's major version must be the same or newer",
            version_text(target_version),
            version_text(c.cat.server_version)
        ));
    }
    if c.schema_pending {
        if let Some(p) = plan::existing_objects(target, c.cat, c.schema_plan).await? {
            out.push(format!("target is not empty: {p}"));
        }
        if !c.roles_step {
            if let Some(p) = plan::missing_roles(target, c.cat, c.schema_plan).await? {
                out.push(format!("{p} (or pass --roles)"));
            }
        }
        out.extend(missing_extensions(target, c.cat).await?);
        let can_create: bool = target
            .query_one(
                "SELECT has_database_privilege(current_database(), 'CREATE')",
                &[],
            )
            .await
            .map_err(|e| Error::db(e, None, Some("target privilege check")))?
            .get(0);
        if !can_create {
            out.push(
                "the target user may not create schemas in the target database (needs CREATE on it)"
                    .into(),
            );
        }
    }
    if c.schema_pending && c.large_objects {
        out.extend(foreign_large_objects(source, target).await?);
    }
    out.extend(unreadable_tables(source, c.cat, c.copied_tables).await?);
    Ok(out)
}

/// Large objects on the target that the source does not have: the copy keeps each object's
/// OID, so it refuses a target holding others (they would be taken for the source's).
async fn foreign_large_objects(source: &Client, target: &Client) -> Result<Vec<String>> {
    let on_target: Vec<u32> = target
        .query("SELECT oid FROM pg_catalog.pg_largeobject_metadata", &[])
        .await
        .map_err(|e| Error::db(e, None, Some("target large object check")))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if on_target.is_empty() {
        return Ok(Vec::new());
    }
    let list = on_target
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let foreign: Vec<String> = source
        .query(
            &format!(
                "SELECT o::text FROM unnest({}::oid[]) o WHERE NOT EXISTS
                   (SELECT FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid = o) ORDER BY o",
                literal(&format!("{{{list}}}"))
            ),
            &[],
        )
        .await
        .map_err(|e| Error::db(e, None, Some("source large object check")))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if foreign.is_empty() {
        return Ok(Vec::new());
    }
    let more = match foreign.len() {
        n if n > 5 => format!(" and {} more", n - 5),
        _ => String::new(),
    };
    Ok(vec![format!(
        "target is not empty: it holds {} large object(s) the source does not have (OID {}{more}); \
         use a database without them",
        foreign.len(),
        foreign.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    )])
}

/// "15.4" for 150004, "9.6.22" for 90622.
fn version_text(v: i32) -> String {
    if v >= 100000 {
        format!("{}.{}", v / 10000, v % 10000)
    } else {
        format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
    }
}

/// Extensions of the source the target cannot create at the source's version or a newer one.
async fn missing_extensions(target: &Client, cat: &Catalog) -> Result<Vec<String>> {
    let names: Vec<String> = cat
        .extensions
        .iter()
        .filter(|e| e.name != "plpgsql")
        .map(|e| e.name.clone())
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = target
        .query(
            "SELECT name::text, array_agg(version::text) FROM pg_available_extension_versions
              WHERE name = ANY($1) GROUP BY name",
            &[&names],
        )
        .await
        .map_err(|e| Error::db(e, None, Some("target extension check")))?;
    let available: std::collections::HashMap<String, Vec<String>> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut out = Vec::new();
    for e in cat.extensions.iter().filter(|e| e.name != "plpgsql") {
        match available.get(&e.name) {
            None => out.push(format!(
                "extension {} (version {} on the source) is not available on the target: install it there first",
                e.name, e.version
            )),
            Some(versions) if !versions.iter().any(|v| version_at_least(v, &e.version)) => {
                out.push(format!(
                    "extension {} is at version {} on the source, but the target offers only {}",
                    e.name,
                    e.version,
                    versions.join(", ")
                ))
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

/// Whether extension version `a` is `b` or newer: dotted numbers compared as numbers; versions
/// that are not dotted numbers only count when equal.
fn version_at_least(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let parse = |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.parse().ok()).collect() };
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x >= y,
        _ => false,
    }
}

/// Tables the source user may not read, named.
async fn unreadable_tables(source: &Client, cat: &Catalog, oids: &[u32]) -> Result<Vec<String>> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let list = oids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let rows = source
        .query(
            &format!(
                "SELECT o::oid FROM unnest({}::oid[]) o WHERE NOT has_table_privilege(o, 'SELECT')",
                literal(&format!("{{{list}}}"))
            ),
            &[],
        )
        .await
        .map_err(|e| Error::db(e, None, Some("source privilege check")))?;
    let by_oid = cat.table_by_oid();
    Ok(rows
        .iter()
        .filter_map(|r| by_oid.get(&r.get::<_, u32>(0)))
        .map(|t| {
            format!(
                "the source user may not read table {} (needs SELECT)",
                crate::quote::qualified(&t.schema, &t.name)
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version_at_least("1.10", "1.9"));
        assert!(!version_at_least("1.9", "1.10"));
        assert!(version_at_least("2.0", "2.0"));
        assert!(version_at_least("unpackaged", "unpackaged"));
        assert!(!version_at_least("1.0beta", "1.0"));
        assert_eq!(version_text(150004), "15.4");
        assert_eq!(version_text(90622), "9.6.22");
    }
}
