//! Where replication stands: each table's state on the target (`pg_subscription_rel`), the lag
//! in bytes (the source's WAL position minus what the slot's consumer confirmed) and in time
//! (`pg_stat_subscription`), and what cutover would do now. Read-only on both servers.

use super::{existing, names_of, Names};
use crate::{Error, Result};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// A table's state in the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableState {
    /// `i`: waiting for a table sync worker.
    Init,
    /// `d`: its rows are being copied.
    Copying,
    /// `f`, `s`: copied; catching up with the stream before the apply worker takes it over.
    Syncing,
    /// `r`: every change streams through the apply worker.
    Streaming,
    /// A state this pgmove does not know.
    Other,
}

impl TableState {
    /// From `pg_subscription_rel.srsubstate`.
    pub fn from_code(c: char) -> TableState {
        match c {
            'i' => TableState::Init,
            'd' => TableState::Copying,
            'f' | 's' => TableState::Syncing,
            'r' => TableState::Streaming,
            _ => TableState::Other,
        }
    }
    /// The state's name, as in `pgmove status`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableState::Init => "init",
            TableState::Copying => "copying",
            TableState::Syncing => "syncing",
            TableState::Streaming => "streaming",
            TableState::Other => "other",
        }
    }
}

/// One table of the subscription.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    /// Quoted `schema.table`.
    pub table: String,
    /// Its state.
    pub state: TableState,
    /// `srsubstate` itself.
    pub code: char,
}

/// How many tables are in each [`TableState`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // one per state, named after it
pub struct Counts {
    pub init: usize,
    pub copying: usize,
    pub syncing: usize,
    pub streaming: usize,
    pub other: usize,
}

impl Counts {
    fn add(&mut self, s: TableState) {
        *match s {
            TableState::Init => &mut self.init,
            TableState::Copying => &mut self.copying,
            TableState::Syncing => &mut self.syncing,
            TableState::Streaming => &mut self.streaming,
            TableState::Other => &mut self.other,
        } += 1;
    }
}

/// Where one migration's replication stands.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The migration's object names.
    pub names: Names,
    /// pgmove's publication exists on the source.
    pub publication_exists: bool,
    /// pgmove's subscription exists on the target.
    pub subscription_exists: bool,
    /// The subscription's slot exists on the source.
    pub slot_exists: bool,
    /// The subscription is enabled.
    pub enabled: bool,
    /// The subscription's apply worker runs on the target (when not, see the target's log).
    pub apply_worker_running: bool,
    /// Every table of the subscription, by name.
    pub tables: Vec<TableStatus>,
    /// Tables per state.
    pub counts: Counts,
    /// Bytes of the source's WAL the target has not confirmed yet.
    pub lag_bytes: Option<i64>,
    /// Seconds since the apply worker last heard of the source's WAL end (`latest_end_time`).
    pub lag_seconds: Option<f64>,
    /// Apply and table sync errors so far (`pg_stat_subscription_stats`, targets 15+).
    pub errors: Option<(i64, i64)>,
    /// What `cutover` would do now, in order.
    pub cutover_will: Vec<String>,
}

impl Status {
    /// Every table streams (and there is at least one).
    pub fn all_streaming(&self) -> bool {
        !self.tables.is_empty() && self.counts.streaming == self.tables.len()
    }
}

/// Read where replication into `target` (from `source`) stands.
pub async fn status(source: &Client, target: &Client) -> Result<Status> {
    let names = names_of(target).await?;
    let ex = existing(source, target, &names).await?;
    let terr = |e| {
        Error::db(
            e,
            Some("reading subscription status on the target".into()),
            None,
        )
    };
    let mut tables = Vec::new();
    let (mut apply_worker_running, mut lag_seconds, mut errors) = (false, None, None);
    if let Some((oid, _)) = ex.subscription {
        let rows = target
            .query(
                "SELECT quote_ident(n.nspname::text) || '.' || quote_ident(c.relname::text),
                        r.srsubstate::text
                   FROM pg_subscription_rel r JOIN pg_class c ON c.oid = r.srrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE r.srsubid = $1 ORDER BY 1",
                &[&oid],
            )
            .await
            .map_err(terr)?;
        for r in rows {
            let code = r.get::<_, String>(1).chars().next().unwrap_or('?');
            tables.push(TableStatus {
                table: r.get(0),
                state: TableState::from_code(code),
                code,
            });
        }
        if let Some(r) = target
            .query_opt(
                // The leader apply worker: table sync workers have a relid, parallel apply
                // workers (16+) a leader_pid, a column older servers lack.
                "SELECT pid IS NOT NULL,
                        extract(epoch FROM now() - latest_end_time)::float8
                   FROM pg_stat_subscription s
                  WHERE subid = $1 AND relid IS NULL AND to_jsonb(s) ->> 'leader_pid' IS NULL",
                &[&oid],
            )
            .await
            .map_err(terr)?
        {
            apply_worker_running = r.get(0);
            lag_seconds = r.get(1);
        }
        if super::version_num(target, "target").await? >= 150000 {
            errors = target
                .query_opt(
                    "SELECT apply_error_count, sync_error_count
                       FROM pg_stat_subscription_stats WHERE subid = $1",
                    &[&oid],
                )
                .await
                .map_err(terr)?
                .map(|r| (r.get(0), r.get(1)));
        }
    }
    let lag_bytes = match ex.slot {
        Some(_) => source
            .query_opt(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8
                   FROM pg_replication_slots WHERE slot_name = $1",
                &[&names.slot],
            )
            .await
            .map_err(|e| Error::db(e, Some("reading slot status on the source".into()), None))?
            .and_then(|r| r.get(0)),
        None => None,
    };
    let mut counts = Counts::default();
    for t in &tables {
        counts.add(t.state);
    }
    let mut st = Status {
        publication_exists: ex.publication.is_some(),
        subscription_exists: ex.subscription.is_some(),
        slot_exists: ex.slot.is_some(),
        enabled: ex.subscription.is_some_and(|s| s.1),
        apply_worker_running,
        tables,
        counts,
        lag_bytes,
        lag_seconds,
        errors,
        cutover_will: Vec::new(),
        names,
    };
    st.cutover_will = cutover_plan(&st);
    Ok(st)
}

/// What cutover would do, from a status.
fn cutover_plan(st: &Status) -> Vec<String> {
    let n = &st.names;
    let mut v = Vec::new();
    if !st.subscription_exists && !st.publication_exists && !st.slot_exists {
        v.push("nothing: no replication objects exist (never started, or already cut over)".into());
        return v;
    }
    if st.subscription_exists {
        let waiting = st.tables.len() - st.counts.streaming;
        if waiting > 0 {
            v.push(format!(
                "wait until the {waiting} table(s) still copying or syncing stream"
            ));
        }
        v.push(format!(
            "wait until the target confirmed the source's WAL position at cutover (lag now {})",
            st.lag_bytes
                .map_or("unknown".to_string(), |b| format!("{b} bytes"))
        ));
        v.push("compare the source's schema with the one at start (DDL since is an error)".into());
        v.push("set every sequence from the source's current state plus the margin".into());
        v.push(
            "bring the large objects up to date (copy new ones, remove dropped ones, copy \
             changed ones again), unless filters select part of the database"
                .into(),
        );
        v.push(format!(
            "drop subscription {} on the target, which drops slot {} on the source",
            n.subscription, n.slot
        ));
    } else if st.slot_exists {
        v.push(format!("drop the leftover slot {} on the source", n.slot));
    }
    if st.publication_exists {
        v.push(format!(
            "set back the replica identity of tables start set to FULL, drop publication {} on the source",
            n.publication
        ));
    }
    v
}

/// Wait until every table of the subscription streams, calling `progress` with each status
/// read (about once a second). Fails when the subscription is missing or after `timeout`.
pub async fn wait_streaming(
    source: &Client,
    target: &Client,
    timeout: Duration,
    mut progress: impl FnMut(&Status),
) -> Result<Status> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = status(source, target).await?;
        progress(&st);
        if !st.subscription_exists {
            return Err(Error::Invalid(format!(
                "the target has no subscription {}: run `pgmove replicate` first",
                st.names.subscription
            )));
        }
        if st.all_streaming() {
            return Ok(st);
        }
        if Instant::now() > deadline {
            return Err(Error::Invalid(format!(
                "timed out after {}s waiting for every table to stream: {} init, {} copying, {} syncing, {} streaming",
                timeout.as_secs(),
                st.counts.init,
                st.counts.copying,
                st.counts.syncing,
                st.counts.streaming
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
