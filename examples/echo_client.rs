//! Load client for echo servers: many connections, each sending a message and waiting for
//! its echo, over and over. Prints messages per second and latency percentiles.
//!
//! `cargo run --release -p oc-examples --example echo_client -- ADDR [CONNS] [SECONDS] [SIZE]`
//!
//! Defaults: 500 connections, 10 seconds, 64-byte messages. `WORKERS` sets the client's own
//! worker count (default 1). Every echoed byte is checked.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    oc_examples::log();
    let args: Vec<String> = std::env::args().collect();
    let usage =
        || std::io::Error::new(std::io::ErrorKind::InvalidInput, "usage: echo_client ADDR [CONNS] [SECONDS] [SIZE]");
    let addr: SocketAddr = args.get(1).ok_or_else(usage)?.parse().map_err(|_| usage())?;
    let conns: usize = args.get(2).map_or(Ok(500), |a| a.parse()).map_err(|_| usage())?;
    let seconds: u64 = args.get(3).map_or(Ok(10), |a| a.parse()).map_err(|_| usage())?;
    let size: usize = args.get(4).map_or(Ok(64), |a| a.parse()).map_err(|_| usage())?;
    let workers = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(1);
    let rt = oc_runtime::Runtime::builder().workers(workers).name("echo-client").build()?;
    let (count, mut latencies_us, errors) = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..conns)
            .map(|id| {
                let stop = stop.clone();
                oc_runtime::spawn(move || client(addr, id, size, &stop))
            })
            .collect();
        oc_runtime::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        let mut count = 0u64;
        let mut latencies = Vec::new();
        let mut errors = 0;
        for c in clients {
            match c.join() {
                Ok(Ok(mut l)) => {
                    count += l.len() as u64;
                    latencies.append(&mut l);
                }
                _ => errors += 1,
            }
        }
        (count, latencies, errors)
    });
    latencies_us.sort_unstable();
    let pct = |p: f64| {
        latencies_us
            .get(((latencies_us.len() as f64 * p) as usize).min(latencies_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "RESULT msgs_per_sec={:.0} p50_us={} p99_us={} p999_us={} conns={conns} size={size} errors={errors}",
        count as f64 / seconds as f64,
        pct(0.50),
        pct(0.99),
        pct(0.999)
    );
    Ok(())
}

/// One connection's loop; returns the latency of each round trip in microseconds.
fn client(addr: SocketAddr, id: usize, size: usize, stop: &AtomicBool) -> std::io::Result<Vec<u32>> {
    let mut s = oc_net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let msg: Vec<u8> = (0..size).map(|i| (id + i) as u8).collect();
    let mut back = vec![0u8; size];
    let mut latencies = Vec::with_capacity(1 << 14);
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        latencies.push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if back != msg {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "echo differs"));
        }
    }
    Ok(latencies)
}
