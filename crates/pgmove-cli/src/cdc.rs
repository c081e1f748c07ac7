//! `pgmove replicate`, `pgmove status` and `pgmove cutover`: an online migration with native
//! logical replication. This file parses arguments and prints; the work is
//! `pgmove_core::cdc`.

use crate::filter_args::FilterArgs;
use crate::validate::Format;
use clap::Args;
use pgmove_core::cdc::{self, CutoverOptions, StartOptions, Status};
use pgmove_core::conn::{self, ConnSpec, Secret};
use pgmove_core::{catalog, Error, Result};
use std::time::{Duration, Instant};

pub const REPLICATE_HELP: &str = "EXAMPLES:
  pgmove schema    --source \"$SRC\" --target \"$DST\"
  pgmove replicate --source \"$SRC\" --target \"$DST\"
  pgmove status    --source \"$SRC\" --target \"$DST\"      # until every table streams
  pgmove post-data --source \"$SRC\" --target \"$DST\" --jobs 4
  # stop the application's writes to the source, then:
  pgmove cutover   --source \"$SRC\" --target \"$DST\" --margin 1000

The source needs wal_level = logical, free replication slots and WAL senders (1 + the target's
max_sync_workers_per_subscription), a user that may create the publication and replicate; the
target needs the pre-data schema with empty tables and a user that may create a subscription.
Every problem is listed before anything is created. The target connects to the source with the
source's own connection string (password included; PostgreSQL stores it in the target's
pg_subscription until cutover drops the subscription) unless --source-from-target gives another.
Run again after an interruption: it finds its publication and subscription and continues.
Large objects are not replicated by PostgreSQL: replicate copies them once the subscription
exists (without filters, unless --no-large-objects), and cutover copies what changed since.";

pub const CUTOVER_HELP: &str =
    "Run once the application stopped writing to the source. Waits until every table streams
and the target confirmed the source's WAL, checks that the source's schema did not change since
replicate started (DDL is not replicated), sets every sequence from its current source value
plus --margin, brings the large objects up to date (without filters: copies new ones, removes
dropped ones, copies changed ones again, comparing hashes each server computes; not with
--no-large-objects), then drops the subscription (and its slot) and the publication.
Safe to run again; exit status 0 only when the cutover is done.

With AWS DMS (after `pgmove migrate --data dms --dms-config dms.toml`; a build with the `dms`
feature): waits until the task's CDC latency is at most --max-latency (the replication lag of
DMS's logical slot on the source), stops the task, sets every sequence from its current source
value plus --margin, validates schema, sequences and rows, ends the migration's record on the
target, and with --destroy deletes what `pgmove dms apply` created. Exit 0 only when the target
validated clean; run again after a failure (a stopped task is not waited on twice, sequences
are set once).

EXAMPLES:
  pgmove cutover --source \"$SRC\" --target \"$DST\" --margin 1000
  pgmove cutover --source \"$SRC\" --target \"$DST\" --dms-config dms.toml --margin 1000 \\
      --max-latency 5s --timeout 30m --destroy";

#[derive(Args, Debug)]
pub struct Endpoints {
    /// The database migrated from (URI or key=value; see CONNECTIONS below).
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE")]
    pub(crate) source: String,
    /// The database migrated to.
    #[arg(long, value_name = "CONN", env = "PGMOVE_TARGET")]
    pub(crate) target: String,
}

impl Endpoints {
    pub(crate) fn specs(&self) -> Result<(ConnSpec, ConnSpec)> {
        Ok((self.source.parse()?, self.target.parse()?))
    }
}

#[derive(Args, Debug)]
pub struct ReplicateArgs {
    #[command(flatten)]
    ends: Endpoints,
    #[command(flatten)]
    filter: FilterArgs,
    /// Set REPLICA IDENTITY FULL on tables in scope without a primary key or replica identity
    /// (otherwise they are refused); cutover sets it back.
    #[arg(long)]
    replica_identity_full: bool,
    /// The connection string the target uses to reach the source, when the source's own
    /// address is not reachable from the target.
    #[arg(long, value_name = "CONN", env = "PGMOVE_SOURCE_FROM_TARGET")]
    source_from_target: Option<String>,
    /// Leave the large objects out (by default they are copied once the subscription exists,
    /// unless a filter is given; cutover brings them up to date).
    #[arg(long)]
    no_large_objects: bool,
    /// Connection pairs copying large objects.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    ends: Endpoints,
    /// Text for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args, Debug)]
pub struct CutoverArgs {
    #[command(flatten)]
    pub(crate) ends: Endpoints,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Move each sequence N more steps in its direction.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) margin: i64,
    /// How long to wait for replication to catch up: e.g. 90s, 10m, 1h.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// Go on although the source's schema changed since replicate started (apply the same
    /// changes on the target first).
    #[arg(long)]
    allow_schema_changes: bool,
    /// Leave the large objects as they are on the target (by default cutover copies the ones
    /// created, changed or dropped on the source since they were copied).
    #[arg(long)]
    pub(crate) no_large_objects: bool,
    /// The report as text or JSON (on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Print no progress while waiting.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Cut over an AWS DMS migration (`pgmove migrate --data dms`): its `pgmove dms apply`
    /// config file.
    #[arg(long, value_name = "FILE")]
    pub(crate) dms_config: Option<std::path::PathBuf>,
    /// With --dms-config: stop the task once its CDC latency is at most this (e.g. 5s).
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) max_latency: Duration,
    /// With --dms-config: once the target validated clean, delete what `pgmove dms apply`
    /// created (task, endpoints, instance, subnet group).
    #[arg(long, requires = "dms_config")]
    pub(crate) destroy: bool,
    /// Connection pairs bringing large objects up to date and, with --dms-config, checking
    /// rows.
    #[arg(short, long, default_value_t = 4, value_name = "N")]
    pub(crate) jobs: usize,
}

/// `90`, `90s`, `10m`, `1h`.
pub(crate) fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration \"{s}\" (e.g. 90s, 10m, 1h)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("invalid duration \"{s}\" (e.g. 90s, 10m, 1h)")),
    };
    Ok(Duration::from_secs(secs))
}

pub async fn replicate(a: ReplicateArgs) -> Result<()> {
    let (source, target) = a.ends.specs()?;
    let mut opts = StartOptions::new(a.filter.filter()?);
    opts.replica_identity_full = a.replica_identity_full;
    opts.source_from_target = a.source_from_target.map(Secret::new);
    let (x, y) = tokio::try_join!(conn::connect(&source), conn::connect(&source))?;
    let mut read = catalog::ReadOptions::default();
    read.sequence_state = false;
    let cat = catalog::read_parallel(&[x, y], read).await?;
    let started = cdc::start(&source, &target, &cat, &opts).await?;
    // Large objects are not replicated: copy them now, so cutover (while writes are stopped)
    // only copies what changed since.
    let lobs = if a.no_large_objects || !opts.filter.is_empty() {
        None
    } else {
        let lo = pgmove_core::lobs::Options::with_jobs(a.jobs.max(1));
        Some(pgmove_core::lobs::sync(&source, &target, &lo, &|_| {}).await?)
    };
    if !a.quiet {
        for t in &started.identity_full {
            eprintln!("  set REPLICA IDENTITY FULL on {t} (the source)");
        }
        let verb = if started.resumed {
            "already replicating"
        } else {
            "replicating"
        };
        eprintln!(
            "pgmove: {verb} {} table(s) from {} to {} (publication and subscription {}); \
             {} key(s) created on the target first",
            started.tables.len(),
            source.display_safe(),
            target.display_safe(),
            started.names.subscription,
            started.keys_created
        );
        match &lobs {
            Some(l) => eprintln!(
                "pgmove: large objects: {} copied, {} removed, {} copied again (changed), {} \
                 unchanged; cutover copies what changes from now on",
                l.copied, l.removed, l.recopied, l.unchanged
            ),
            None if a.no_large_objects => {
                eprintln!("pgmove: large objects left out (--no-large-objects)")
            }
            None => eprintln!("pgmove: large objects left out (filters)"),
        }
        eprintln!(
            "watch it:  pgmove status --source SOURCE --target TARGET\n\
             meanwhile: pgmove post-data --source SOURCE --target TARGET\n\
             then stop the application's writes and run: pgmove cutover --source SOURCE --target TARGET"
        );
    }
    Ok(())
}

pub async fn status(a: StatusArgs) -> Result<()> {
    let (source, target) = a.ends.specs()?;
    let (s, t) = tokio::try_join!(conn::connect(&source), conn::connect(&target))?;
    let st = cdc::status(&s, &t).await?;
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&st).map_err(|e| Error::Invalid(e.to_string()))?
        ),
        Format::Text => print!("{}", status_text(&st)),
    }
    Ok(())
}

/// A status for people: the summary, the tables not streaming yet, what cutover would do.
fn status_text(st: &Status) -> String {
    let mut out = String::new();
    let n = &st.names;
    let yes = |b: bool| if b { "yes" } else { "no" };
    out.push_str(&format!(
        "subscription {} on the target: {}{}\n",
        n.subscription,
        if st.subscription_exists {
            "exists"
        } else {
            "missing"
        },
        match (st.subscription_exists, st.enabled, st.apply_worker_running) {
            (false, _, _) => String::new(),
            (true, false, _) => ", disabled".into(),
            (true, true, r) => format!(", apply worker running: {}", yes(r)),
        }
    ));
    out.push_str(&format!(
        "publication {} on the source: {}; slot: {}\n",
        n.publication,
        if st.publication_exists {
            "exists"
        } else {
            "missing"
        },
        if st.slot_exists { "exists" } else { "missing" }
    ));
    out.push_str(&format!(
        "tables: {} streaming, {} syncing, {} copying, {} waiting{}\n",
        st.counts.streaming,
        st.counts.syncing,
        st.counts.copying,
        st.counts.init,
        if st.counts.other > 0 {
            format!(", {} other", st.counts.other)
        } else {
            String::new()
        }
    ));
    out.push_str(&format!(
        "lag: {} behind, last report from the source {}\n",
        st.lag_bytes
            .map_or("unknown".into(), |b| format!("{b} bytes")),
        st.lag_seconds
            .map_or("unknown".into(), |s| format!("{s:.1}s ago"))
    ));
    if let Some((apply, sync)) = st.errors {
        if apply + sync > 0 {
            out.push_str(&format!(
                "errors: {apply} apply, {sync} table sync (see the target's server log)\n"
            ));
        }
    }
    let pending: Vec<_> = st
        .tables
        .iter()
        .filter(|t| t.state != cdc::TableState::Streaming)
        .collect();
    for t in pending.iter().take(20) {
        out.push_str(&format!("  {:<9} {}\n", t.state.as_str(), t.table));
    }
    if pending.len() > 20 {
        out.push_str(&format!(
            "  … and {} more not streaming\n",
            pending.len() - 20
        ));
    }
    out.push_str("cutover would:\n");
    for (i, step) in st.cutover_will.iter().enumerate() {
        out.push_str(&format!("  {}. {step}\n", i + 1));
    }
    out
}

pub async fn cutover(a: CutoverArgs) -> Result<()> {
    if a.dms_config.is_some() {
        #[cfg(feature = "dms")]
        return crate::dms_flow::cutover(a).await;
        #[cfg(not(feature = "dms"))]
        return Err(Error::Invalid(crate::migrate::NO_DMS.into()));
    }
    let (source, target) = a.ends.specs()?;
    let mut opts = CutoverOptions::default();
    opts.filter = a.filter.filter()?;
    opts.margin = a.margin;
    opts.timeout = a.timeout;
    opts.allow_schema_changes = a.allow_schema_changes;
    opts.large_objects =
        (!a.no_large_objects).then(|| pgmove_core::lobs::Options::with_jobs(a.jobs.max(1)));
    let mut last = Instant::now();
    let quiet = a.quiet;
    let report = cdc::cutover(&source, &target, &opts, |st| {
        if !quiet && last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            eprintln!(
                "pgmove: waiting: {}/{} tables streaming, {} behind",
                st.counts.streaming,
                st.tables.len(),
                st.lag_bytes
                    .map_or("unknown".into(), |b| format!("{b} bytes"))
            );
        }
    })
    .await?;
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::Invalid(e.to_string()))?
        ),
        Format::Text => {
            if report.already_done {
                println!(
                    "nothing to do: no replication objects named {} (already cut over)",
                    report.names.subscription
                );
                return Ok(());
            }
            for w in &report.open_writes {
                println!("open write transaction on the source at cutover: {w}");
            }
            if let Some(lsn) = &report.confirmed_lsn {
                println!(
                    "caught up: the target confirmed the source's WAL up to {lsn} ({:.1}s)",
                    report.waited_seconds
                );
            }
            for c in &report.schema_changes {
                println!("schema change allowed: {c}");
            }
            for s in &report.sequences_set {
                println!("set {s}");
            }
            if let Some(l) = &report.large_objects {
                println!(
                    "large objects: {} copied, {} removed, {} copied again (changed), {} unchanged ({:.1} MB written)",
                    l.copied,
                    l.removed,
                    l.recopied,
                    l.unchanged,
                    l.bytes as f64 / (1 << 20) as f64
                );
            }
            for t in &report.identity_restored {
                println!("replica identity set back on {t}");
            }
            for d in &report.dropped {
                println!("dropped {d}");
            }
            let lobs = match &report.large_objects {
                Some(_) => "large objects up to date",
                None if opts.large_objects.is_none() => {
                    "large objects left out (--no-large-objects)"
                }
                None if opts.filter.is_empty() => {
                    "large objects not touched (the subscription was already gone)"
                }
                None => "large objects left out (filters)",
            };
            println!(
                "cutover done: {} sequence(s) set; {lobs}",
                report.sequences_set.len()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
