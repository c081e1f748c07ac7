//! Sequences: definition, owner column and current state.
//!
//! State is read in one query on 10+ (`pg_sequences`; `pg_get_sequence_data` on 18). On 10–17
//! `pg_sequence_last_value` is NULL both for a never-called sequence and for one set with
//! `setval(…, false)`: those are read again from the relations themselves, one small SELECT
//! each, all in one simple-query message, so `is_called = false` states survive. Reading a
//! sequence's state opens it, so it takes a lock per sequence on every version (state is not
//! part of the snapshot: sequences are not transactional). Before 10 there is no `pg_sequence`: the
//! definition and state of each sequence come from the relation itself (one query per sequence —
//! the only per-object query pgmove has, kept for 9.4–9.6 sources).

use super::{ch, query_each, Conn, USER_SCHEMAS};
use crate::model::{Catalog, OwnedBy, Sequence};
use crate::quote;
use crate::Result;

/// Definitions always; with `with_state`, each sequence's current value too.
pub(super) async fn read(client: Conn<'_>, cat: &mut Catalog, with_state: bool) -> Result<()> {
    let v = cat.server_version;
    let (defn, state, join) = if v >= 100000 && !with_state {
        (
            "format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement, s.seqmin,
             s.seqmax, s.seqcache, s.seqcycle",
            "NULL::int8 AS last_value, false AS is_called",
            "JOIN pg_sequence s ON s.seqrelid = c.oid",
        )
    } else if v >= 180000 {
        (
            "format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement, s.seqmin,
             s.seqmax, s.seqcache, s.seqcycle",
            "sd.last_value, sd.is_called",
            "JOIN pg_sequence s ON s.seqrelid = c.oid
             LEFT JOIN LATERAL pg_get_sequence_data(c.oid) sd ON true",
        )
    } else if v >= 100000 {
        (
            "format_type(s.seqtypid, NULL) AS type, s.seqstart, s.seqincrement, s.seqmin,
             s.seqmax, s.seqcache, s.seqcycle",
            // What pg_sequences.last_value is, without joining that view by name (which ran
            // pg_sequence_last_value once per pair of sequences under a nested loop).
            "ps.last_value, ps.last_value IS NOT NULL AS is_called",
            "JOIN pg_sequence s ON s.seqrelid = c.oid
             CROSS JOIN LATERAL (SELECT CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
                                 THEN pg_sequence_last_value(c.oid) END AS last_value) ps",
        )
    } else {
        (
            "'bigint'::text AS type, 0::int8 AS seqstart, 0::int8 AS seqincrement,
             0::int8 AS seqmin, 0::int8 AS seqmax, 0::int8 AS seqcache, false AS seqcycle",
            "NULL::int8 AS last_value, false AS is_called",
            "",
        )
    };
    let sql = format!(
        "SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, {defn}, {state},
                c.relpersistence, c.relacl::text[] AS acl, pg_get_userbyid(c.relowner)::text AS owner,
                d.refobjid AS owner_table, ocn.nspname::text AS owner_schema,
                oc.relname::text AS owner_rel, a.attname::text AS owner_column, d.deptype
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         {join}
         LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
              AND d.deptype IN ('a', 'i')
         LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         -- The owning table's name by a join, not `::regclass::text`: that looks each table
         -- up in a fresh backend's empty cache.
         LEFT JOIN pg_class oc ON oc.oid = d.refobjid
         LEFT JOIN pg_namespace ocn ON ocn.oid = oc.relnamespace
         WHERE c.relkind = 'S' AND {USER_SCHEMAS}
         ORDER BY 2, 3"
    );
    query_each(client, "sequences", &sql, |r| {
        let deptype: Option<i8> = r.get("deptype");
        let owner_table: Option<u32> = r.get("owner_table");
        cat.sequences.push(Sequence {
            oid: r.get("oid"),
            schema: r.text("schema"),
            name: r.text("name"),
            type_name: r.text("type"),
            start: r.get("seqstart"),
            increment: r.get("seqincrement"),
            min: r.get("seqmin"),
            max: r.get("seqmax"),
            cache: r.get("seqcache"),
            cycle: r.get("seqcycle"),
            owned_by: owner_table.map(|table_oid| OwnedBy {
                table_oid,
                schema: r.text("owner_schema"),
                table: r.text("owner_rel"),
                column: r.text("owner_column"),
            }),
            identity: deptype == Some(b'i' as i8),
            last_value: r.get("last_value"),
            is_called: r.get("is_called"),
            unlogged: ch(&r, "relpersistence") == 'u',
            acl: r.get("acl"),
            owner: r.text("owner"),
        });
    })
    .await?;

    if v < 100000 {
        // 9.4–9.6: no pg_sequence; each sequence relation holds its definition and state.
        for s in &mut cat.sequences {
            let rel = quote::qualified(&s.schema, &s.name);
            let r = client
                .send(1)
                .query_one(
                    &format!(
                        "SELECT start_value, increment_by, min_value, max_value, cache_value,
                                is_cycled, last_value, is_called FROM {rel}"
                    ),
                    &[],
                )
                .await?;
            s.start = r.get(0);
            s.increment = r.get(1);
            s.min = r.get(2);
            s.max = r.get(3);
            s.cache = r.get(4);
            s.cycle = r.get(5);
            s.last_value = Some(r.get(6));
            s.is_called = r.get(7);
        }
    } else if v < 180000 && with_state {
        // Re-read the NULL-last_value ones (never called, or setval(…, false)) in one query.
        let pending: Vec<usize> = (0..cat.sequences.len())
            .filter(|&i| cat.sequences[i].last_value.is_none())
            .collect();
        if !pending.is_empty() {
            // One simple-query message of one small SELECT per sequence: one round trip, and
            // each statement is planned alone (the planner takes quadratic time over a
            // UNION ALL of them all).
            let sql: String = pending
                .iter()
                .map(|&i| {
                    let s = &cat.sequences[i];
                    format!(
                        "SELECT {i}, last_value, is_called FROM {};\n",
                        quote::qualified(&s.schema, &s.name)
                    )
                })
                .collect();
            // Without SELECT privilege on a sequence this fails; the state then stays unknown.
            // The savepoint keeps such a failure from aborting the snapshot transaction.
            let client = client.send(3);
            client.batch_execute("SAVEPOINT sequence_state").await?;
            let rows = client.simple_query(&sql).await;
            let end = if rows.is_ok() {
                "RELEASE"
            } else {
                "ROLLBACK TO"
            };
            client
                .batch_execute(&format!("{end} SAVEPOINT sequence_state"))
                .await?;
            for m in rows.into_iter().flatten() {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    let parsed = (
                        r.get(0).and_then(|v| v.parse::<usize>().ok()),
                        r.get(1).and_then(|v| v.parse::<i64>().ok()),
                    );
                    if let (Some(i), Some(last)) = parsed {
                        let s = &mut cat.sequences[i];
                        s.last_value = Some(last);
                        s.is_called = r.get(2) == Some("t");
                    }
                }
            }
        }
    }
    Ok(())
}
