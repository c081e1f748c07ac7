//! Post-data onto a target server as one call: the worker connections, the scheduler of
//! [`crate::apply::apply_parallel_with`], and the index builds watched from a connection of
//! their own, as `pgmove post-data` and `pgmove migrate` both run it.
//!
//! This module only wires those pieces together; it never decides what to create or in which
//! order (the plan and the scheduler do), and never prints: what happens is passed to the
//! caller's callbacks.

use crate::apply::{self, ApplyReport, ParallelOptions};
use crate::build_progress::{self, Build};
use crate::conn::{self, ConnSpec};
use crate::render::Item;
use crate::Result;
use std::collections::HashMap;
use std::time::Duration;

/// Choices of [`apply_post_data`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// How many connections apply at once (at least one).
    pub jobs: usize,
    /// The scheduler's choices (session memory, which tables split their builds).
    pub parallel: ParallelOptions,
    /// How often the index builds running on the target are polled for progress.
    pub build_poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 1,
            parallel: ParallelOptions::default(),
            build_poll: Duration::from_secs(1),
        }
    }
}

/// Apply post-data `items` on `target` with `opts.jobs` connections of its own, resumably
/// (see [`apply::apply_parallel_with`]), and a further connection that watches the index
/// builds. `table_sizes` maps table OIDs to their size on the source, in bytes; big tables
/// start first and have their builds split.
///
/// `progress` is called after each item with (done, total, item name); `builds` with the
/// index builds running now, about every `opts.build_poll` while some run, and once with an
/// empty list when they end. Watching is best effort and never fails the apply.
pub async fn apply_post_data(
    target: &ConnSpec,
    items: &[Item],
    table_sizes: &HashMap<u32, i64>,
    opts: &Options,
    progress: impl FnMut(usize, usize, &str),
    builds: impl FnMut(&[Build]),
) -> Result<ApplyReport> {
    let clients =
        futures::future::try_join_all((0..opts.jobs.max(1)).map(|_| conn::connect(target))).await?;
    let version = crate::conn::server_version(&clients[0]).await?;
    let work = apply::apply_parallel_on(
        &clients,
        items,
        table_sizes,
        &opts.parallel,
        version,
        progress,
    );
    let monitor = conn::connect(target).await?;
    build_progress::watch(&monitor, version, work, opts.build_poll, builds).await
}
