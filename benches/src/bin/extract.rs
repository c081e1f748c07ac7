//! pgmove's side of the extraction benchmark, as its own process so its peak RSS compares with
//! pg_dump's: read the catalog of `CONNINFO`, render schema and post-data, order them and write
//! the script to a sink (as `pg_dump --schema-only -f /dev/null` does), reading on two
//! connections as the CLI does. Prints one line of
//! `key=value` pairs: `read_ms render_ms total_ms queries items bytes vmhwm_kib`.

use pgmove_core::{apply, catalog, conn, render, sort};
use std::io::Write;
use std::time::Instant;

/// A sink that counts what it is given.
struct Count(usize);
impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let conninfo = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: extract CONNINFO"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (cat, stats) = rt.block_on(async {
        // As the CLI: two connections sharing one snapshot.
        let (a, b) =
            futures::try_join!(conn::connect_str(&conninfo), conn::connect_str(&conninfo))?;
        let clients = vec![a, b];
        // As pg_dump --schema-only: definitions, not sequence states.
        let mut opts = catalog::ReadOptions::default();
        opts.sequence_state = false;
        catalog::read_with_stats(&clients, opts).await
    })?;
    let read = started.elapsed();
    let items = render::all(&cat, &render::Options::default());
    let (items, _warnings) = sort::order(&cat, items);
    let mut sink = Count(0);
    apply::write_script(&mut sink, "bench", &items)?;
    let total = started.elapsed();
    let hwm = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "read_ms={} render_ms={} total_ms={} queries={} items={} bytes={} vmhwm_kib={hwm}",
        read.as_millis(),
        (total - read).as_millis(),
        total.as_millis(),
        stats.queries,
        items.len(),
        sink.0,
    );
    // As the CLI: the process ends here, and the exit reclaims the model and the items.
    std::mem::forget(cat);
    std::mem::forget(items);
    Ok(())
}
