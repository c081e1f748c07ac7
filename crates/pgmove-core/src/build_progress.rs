//! Progress of the index builds running on a target, for displays: what each build is doing
//! and how far it is, from `pg_stat_progress_create_index` (PostgreSQL 12+).
//!
//! Read on a connection of its own while post-data's connections are busy building. Best
//! effort: a target that cannot say (before 12, or a failed poll) shows no build progress, and
//! watching never fails or slows the work it watches.

use std::future::Future;
use std::time::Duration;
use tokio_postgres::Client;

/// One index build in progress.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Build {
    /// The table, `schema.name` (unquoted, for display).
    pub table: String,
    /// The server's phase name, e.g. `building index: scanning table`.
    pub phase: String,
    /// How far the phase is, 0–100, when the server counts it.
    pub percent: Option<f64>,
}

impl std::fmt::Display for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = self.phase.trim_start_matches("building index: ");
        match self.percent {
            Some(p) => write!(f, "{}: {phase} {p:.0}%", self.table),
            None => write!(f, "{}: {phase}", self.table),
        }
    }
}

/// The builds running in the client's database now (empty before 12).
pub async fn read(client: &Client) -> crate::Result<Vec<Build>> {
    // blocks_* count the table scan, tuples_* the sort's load into the tree; whichever the
    // phase is counting is the one with a total.
    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname, p.phase,
                    CASE WHEN p.blocks_total > 0 AND p.phase LIKE '%scanning%'
                              THEN 100.0 * p.blocks_done / p.blocks_total
                         WHEN p.tuples_total > 0 THEN 100.0 * p.tuples_done / p.tuples_total
                         WHEN p.blocks_total > 0 THEN 100.0 * p.blocks_done / p.blocks_total
                    END::float8
             FROM pg_catalog.pg_stat_progress_create_index p
             JOIN pg_catalog.pg_class c ON c.oid = p.relid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE p.datid = (SELECT oid FROM pg_catalog.pg_database
                              WHERE datname = pg_catalog.current_database())
             ORDER BY p.pid",
            &[],
        )
        .await
        .map_err(|e| crate::Error::db(e, None, Some("reading index build progress")))?;
    Ok(rows
        .iter()
        .map(|r| Build {
            table: r.get(0),
            phase: r.get(1),
            percent: r.get(2),
        })
        .collect())
}

/// Run `work` to its end while polling `client` every `every` and passing the builds seen to
/// `on` (an empty list once none run). Returns what `work` returns. `server_version` is the
/// target's `server_version_num`: before 12 there is nothing to poll. A poll that fails stops
/// the polling; the work goes on.
pub async fn watch<F: Future>(
    client: &Client,
    server_version: i32,
    work: F,
    every: Duration,
    mut on: impl FnMut(&[Build]),
) -> F::Output {
    let polls = async {
        if server_version < 120000 {
            return;
        }
        let mut shown = false;
        loop {
            tokio::time::sleep(every).await;
            let Ok(builds) = read(client).await else {
                return;
            };
            if !builds.is_empty() || shown {
                on(&builds);
            }
            shown = !builds.is_empty();
        }
    };
    tokio::pin!(work);
    tokio::pin!(polls);
    let mut polling = true;
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = &mut polls, if polling => polling = false,
        }
    }
}

/// The builds as one line for a progress display: `table: phase N%; …`.
pub fn summary(builds: &[Build]) -> String {
    builds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_each_build() {
        let b = |t: &str, p: &str, pct| Build {
            table: t.into(),
            phase: p.into(),
            percent: pct,
        };
        assert_eq!(
            summary(&[
                b("s.big_1", "building index: scanning table", Some(45.2)),
                b("s.big 2", "initializing", None),
            ]),
            "s.big_1: scanning table 45%; s.big 2: initializing"
        );
        assert_eq!(summary(&[]), "");
    }
}
