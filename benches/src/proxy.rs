//! A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each direction: a delay
//! line, not stop-and-wait, so pipelined traffic stays pipelined as over a real WAN link, and a
//! round trip costs twice the delay more than direct. Plain threads and `thread::sleep` (exact
//! to tens of microseconds), not an async timer wheel, whose millisecond ticks would round each
//! 1 ms delay up to nearly 2 ms.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A running proxy. Its threads live until the process ends (benchmarks are short-lived).
pub struct DelayProxy {
    port: u16,
}

impl DelayProxy {
    /// Listen on a free port of 127.0.0.1 and forward each connection to `127.0.0.1:upstream`,
    /// delaying data by `delay` each way.
    pub fn start(upstream: u16, delay: Duration) -> Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        let port = listener.local_addr()?.port();
        thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                for s in [&inbound, &outbound] {
                    let _ = s.set_nodelay(true);
                }
                let (Ok(i2), Ok(o2)) = (inbound.try_clone(), outbound.try_clone()) else {
                    continue;
                };
                pipe(inbound, o2, delay);
                pipe(outbound, i2, delay);
            }
        });
        Ok(DelayProxy { port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Copy `from` to `to` on two threads, each chunk `delay` after it arrived.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        while let Ok((due, chunk)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The median round trip of `SELECT 1` on `conninfo`, to show what the proxy adds.
pub fn round_trip(conninfo: &str, samples: usize) -> Result<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = pgmove_core::conn::connect_str(conninfo).await?;
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t = Instant::now();
            client.simple_query("SELECT 1").await?;
            times.push(t.elapsed());
        }
        Ok(crate::median(&times))
    })
}
