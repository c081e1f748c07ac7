//! Reads the source for `pgmove dms plan`. Tables, columns, keys, partitions and generated
//! columns come from the core catalog reader (`pgmove_core::catalog::read`, classified by
//! [`crate::classify`]); this module only adds what the model does not hold: the server
//! settings CDC depends on (`wal_level`, slots, WAL senders) and the real maximum size of each
//! LOB column in scope, one `max(octet_length(..))` scan per table that has LOB columns.

use crate::plan::{Filters, LobKind, PlanInput, SourceSettings};
use crate::{Error, Result};
use pgmove_core::conn::{self, ConnSpec};
use pgmove_core::quote::{ident, qualified};

/// Connect to the source with a libpq-style `key=value` string or URI, through pgmove's
/// connection layer: `PG*` environment variables, `.pgpass` and TLS (`sslmode`) as libpq.
pub async fn connect(conninfo: &str) -> Result<tokio_postgres::Client> {
    let spec = ConnSpec::parse(conninfo).map_err(Error::Source)?;
    conn::connect(&spec).await.map_err(Error::Source)
}

/// A failed statement on the source, with the server's fields.
fn db(what: String, sql: &str) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::Source(pgmove_core::Error::db(e, Some(what), Some(sql)))
}

/// Read the catalog and the settings, and measure the LOB columns of the tables `filters` keeps.
pub async fn read(client: &tokio_postgres::Client, filters: &Filters) -> Result<PlanInput> {
    let cat = pgmove_core::catalog::read(client)
        .await
        .map_err(Error::Source)?;
    let (database, settings) = read_settings(client).await?;
    let mut input = crate::classify::from_catalog(&cat, database, settings);
    measure_lobs(client, &mut input, filters).await?;
    Ok(input)
}

/// Fill `max_bytes` of every LOB column of the tables in scope that hold rows: one scan per
/// table (`from only`, so a partition's rows are counted once).
pub async fn measure_lobs(
    client: &tokio_postgres::Client,
    input: &mut PlanInput,
    filters: &Filters,
) -> Result<()> {
    for t in input.tables.iter_mut() {
        if t.lob_columns.is_empty() || !t.holds_rows() || !filters.matches_table(t) {
            continue;
        }
        let exprs: Vec<String> = t
            .lob_columns
            .iter()
            .map(|c| {
                let id = ident(&c.name);
                // bytea (through domains too) is measured as it is; every other LOB on its
                // text form (json, xml, arrays, hstore... have no octet_length of their own).
                if c.kind == LobKind::Blob {
                    format!("max(octet_length({id}))::int8")
                } else {
                    format!("max(octet_length({id}::text))::int8")
                }
            })
            .collect();
        let sql = format!(
            "select {} from only {}",
            exprs.join(", "),
            qualified(&t.schema, &t.name)
        );
        let what = format!("measuring the LOB columns of {}", t.name);
        let row = client.query_one(&sql, &[]).await.map_err(db(what, &sql))?;
        for (i, c) in t.lob_columns.iter_mut().enumerate() {
            c.max_bytes = row.get(i);
        }
    }
    Ok(())
}

/// The database name and the server settings that decide whether CDC can work at all.
///
/// `rds.logical_replication` exists on RDS only; it is read from `pg_settings` because
/// `current_setting`'s `missing_ok` argument arrives in 9.6, and sources go back to 9.4.
pub async fn read_settings(client: &tokio_postgres::Client) -> Result<(String, SourceSettings)> {
    let sql = "select current_setting('server_version'),
                    current_setting('server_version_num')::int4,
                    current_setting('wal_level'),
                    (select s.setting from pg_catalog.pg_settings s
                      where s.name = 'rds.logical_replication'),
                    current_setting('max_replication_slots')::int4,
                    current_setting('max_wal_senders')::int4,
                    (select count(*) from pg_replication_slots),
                    (select count(*) from pg_stat_replication),
                    current_database()::text";
    let r = client
        .query_one(sql, &[])
        .await
        .map_err(db("reading source settings".into(), sql))?;
    let settings = SourceSettings {
        server_version: r.get(0),
        server_version_num: r.get(1),
        wal_level: r.get(2),
        rds_logical_replication: r.get::<_, Option<String>>(3).filter(|s| !s.is_empty()),
        max_replication_slots: r.get(4),
        replication_slots_used: r.get::<_, i64>(6) as i32,
        max_wal_senders: r.get(5),
        wal_senders_used: r.get::<_, i64>(7) as i32,
        sequences: 0,
    };
    Ok((r.get(8), settings))
}
