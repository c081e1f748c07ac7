//! The `online` benchmark's application: a steady write load on the source at a fixed rate,
//! each transaction one insert into `s.live` (its `at` column is the commit's clock, which the
//! lag measure reads on the target) and one update of a row of `s.big_1`. It writes only
//! those two tables and never changes the schema.

use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running writer; [`Writer::stop`] ends it and returns how many transactions it committed.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64>>,
}

impl Writer {
    /// Connect to `conninfo` and commit `rate` transactions a second until stopped; `big_rows`
    /// is the id range of `s.big_1` whose rows it updates.
    pub fn start(conninfo: String, rate: u32, big_rows: i64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(write(conninfo, rate.max(1), big_rows.max(1), flag))
        });
        Writer { stop, handle }
    }

    /// Stop writing; the number of committed transactions, or the writer's error.
    pub fn stop(self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the writer panicked"))?
    }
}

async fn write(conninfo: String, rate: u32, big_rows: i64, stop: Arc<AtomicBool>) -> Result<u64> {
    let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .context("the writer's connection")?;
    tokio::spawn(conn);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        // A spread of rows: a prime step through the id range.
        let id = (n as i64 * 7919) % big_rows + 1;
        client
            .batch_execute(&format!(
                "BEGIN;
                 INSERT INTO s.live (note) VALUES ('live {n}');
                 UPDATE s.big_1 SET amount = amount + 1 WHERE id = {id};
                 COMMIT"
            ))
            .await
            .context("the writer's transaction")?;
        n += 1;
    }
    Ok(n)
}
