//! A 100 MiB request body and a 100 MiB response through the reverse proxy, in bounded
//! memory: the process's resident size (client, proxy and upstream together) grows by far
//! less than the body. One test in this binary, so that no other test's memory is counted.

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use oc_http::proxy::{ProxyConfig, ReverseProxy};
use oc_http::{Request, RequestBody, Response, Router, Server};
use support::{connect, each_backend, find, runtime};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 100 * MIB;
/// Most the resident size may grow while a body passes: a small fraction of `SIZE`.
const MAX_GROWTH: u64 = 32 * MIB;

/// The resident size of this process.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Samples the resident size every few milliseconds while `run` runs; the largest seen.
fn peak_rss_during(run: impl FnOnce()) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss()));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    run();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    peak.fetch_max(rss(), Ordering::Relaxed);
    peak.load(Ordering::Relaxed)
}

/// 64 KiB of pattern, and its byte at `at` of an endless repetition.
fn piece() -> Vec<u8> {
    (0..64 * 1024).map(|i| (i % 251) as u8).collect()
}

#[test]
fn hundred_mib_bodies_pass_the_proxy_both_ways_in_bounded_memory() {
    each_backend(|_| {
        let rt = runtime();
        let (upstream, front) = rt.block_on(|| {
            let router = Router::new()
                .streaming(Some("POST"), "/sink", |_: &Request, body: &mut RequestBody<'_>| {
                    // Counts the bytes and checks each against the pattern, keeping none.
                    let mut buf = vec![0u8; 64 * 1024];
                    let (mut n, mut wrong) = (0u64, 0u64);
                    loop {
                        match body.read(&mut buf) {
                            Ok(0) => break,
                            Ok(k) => {
                                for (i, b) in buf[..k].iter().enumerate() {
                                    wrong += u64::from(*b != ((n + i as u64) % (64 * 1024) % 251) as u8);
                                }
                                n += k as u64;
                            }
                            Err(e) => return Response::new(400).body(e.to_string()),
                        }
                    }
                    Response::text(format!("{n} {wrong}"))
                })
                .get("/source", |_: &Request| {
                    Response::stream_sized(SIZE, |w| {
                        let piece = piece();
                        for _ in 0..SIZE / piece.len() as u64 {
                            w.write_all(&piece)?;
                        }
                        Ok(())
                    })
                });
            let upstream = Server::new(router).bind("127.0.0.1:0").unwrap().start();
            let proxy = ReverseProxy::new(ProxyConfig::new([upstream.local_addrs()[0].to_string()])).unwrap();
            let front =
                Server::new(Router::new().streaming(None, "/*rest", proxy)).bind("127.0.0.1:0").unwrap().start();
            (upstream, front)
        });
        let addr = front.local_addrs()[0];
        // Warm up: connections, pools and buffers made before the baseline.
        let mut s = connect(addr);
        s.write_all(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\0\x01\x02")
            .unwrap();
        let mut warm = String::new();
        s.read_to_string(&mut warm).unwrap();
        assert!(warm.ends_with("\r\n\r\n3 0"), "{warm}");

        // The request body.
        let before = rss();
        let mut reply = String::new();
        let peak = peak_rss_during(|| {
            let mut s = connect(addr);
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
            s.write_all(
                format!("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
            let piece = piece();
            for _ in 0..SIZE / piece.len() as u64 {
                s.write_all(&piece).unwrap();
            }
            s.read_to_string(&mut reply).unwrap();
        });
        assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with(&format!("\r\n\r\n{SIZE} 0")), "{reply}");
        let growth = peak.saturating_sub(before);
        eprintln!("a {} MiB request body: resident size grew {:.1} MiB", SIZE / MIB, growth as f64 / MIB as f64);
        assert!(growth < MAX_GROWTH, "a streamed request body grew the process by {} MiB", growth / MIB);

        // The response body.
        let before = rss();
        let (mut received, mut wrong) = (0u64, 0u64);
        let peak = peak_rss_during(|| {
            let mut s = connect(addr);
            s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
            s.write_all(b"GET /source HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut head = Vec::new();
            let mut in_body = false;
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                let mut data = &buf[..n];
                if !in_body {
                    head.extend_from_slice(data);
                    let Some(end) = find(&head, b"\r\n\r\n") else { continue };
                    let text = String::from_utf8_lossy(&head[..end]).into_owned();
                    assert!(text.starts_with("HTTP/1.1 200") && text.contains(&format!("Content-Length: {SIZE}")));
                    let body_from = end + 4 - (head.len() - n);
                    data = &buf[body_from..n];
                    in_body = true;
                }
                for (i, b) in data.iter().enumerate() {
                    wrong += u64::from(*b != ((received + i as u64) % (64 * 1024) % 251) as u8);
                }
                received += data.len() as u64;
            }
        });
        assert_eq!((received, wrong), (SIZE, 0));
        let growth = peak.saturating_sub(before);
        eprintln!("a {} MiB response body: resident size grew {:.1} MiB", SIZE / MIB, growth as f64 / MIB as f64);
        assert!(growth < MAX_GROWTH, "a streamed response grew the process by {} MiB", growth / MIB);
        front.shutdown(Duration::from_secs(2));
        upstream.shutdown(Duration::from_secs(2));
    });
}
