//! Syscall hooks with real libraries: a synchronous HTTP client (ureq) and a tokio runtime,
//! both driven from coroutines on one worker, on both reactors.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;

use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

/// A minimal HTTP/1.1 server on std::net, in coroutines: answers every request with its path.
fn serve_http(listener: TcpListener) {
    for conn in listener.incoming() {
        // An error ends the loop (at the end of the test the runtime cancels it).
        let Ok(mut conn) = conn else {
            return;
        };
        oc_runtime::spawn(move || {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&req);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            // A little latency, so that the requests overlap.
            std::thread::sleep(Duration::from_millis(20));
            let body = format!("you asked for {path}");
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = conn.write_all(resp.as_bytes());
        });
    }
}

#[test]
fn ureq_makes_200_concurrent_requests_from_coroutines() {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = oc_runtime::Runtime::builder().workers(1).io_backend(backend).build().unwrap();
        rt.block_on(move || {
            let listener = support::std_listener(1024);
            let addr = listener.local_addr().unwrap();
            oc_runtime::spawn(move || serve_http(listener));
            let start = Instant::now();
            let requests: Vec<_> = (0..200)
                .map(|i| {
                    oc_runtime::spawn(move || {
                        let body = ureq::get(&format!("http://{addr}/item/{i}"))
                            .call()
                            .unwrap_or_else(|e| panic!("{backend:?} request {i}: {e}"))
                            .body_mut()
                            .read_to_string()
                            .unwrap();
                        assert_eq!(body, format!("you asked for /item/{i}"));
                    })
                })
                .collect();
            for r in requests {
                r.join().unwrap();
            }
            // 200 requests with 20 ms of server latency each, on one worker: one after the
            // other they would take 4 s; concurrent, a few hundred ms (the bound leaves room
            // for a loaded machine).
            let took = start.elapsed();
            eprintln!("{backend:?}: 200 requests in {took:?}");
            assert!(took < Duration::from_secs(2), "{backend:?}: {took:?}");
        });
        assert!(rt.shutdown(Duration::from_secs(10)));
    }
}

#[test]
fn a_tokio_runtime_inside_a_coroutine_still_works() {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = oc_runtime::Runtime::builder().workers(1).io_backend(backend).build().unwrap();
        let echoed = rt.block_on(|| {
            let tokio_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            tokio_rt.block_on(async {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut buf = [0u8; 5];
                    s.read_exact(&mut buf).await.unwrap();
                    s.write_all(&buf).await.unwrap();
                });
                let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
                c.write_all(b"tokio").await.unwrap();
                let mut buf = [0u8; 5];
                c.read_exact(&mut buf).await.unwrap();
                server.await.unwrap();
                buf
            })
        });
        assert_eq!(&echoed, b"tokio", "{backend:?}");
        assert!(rt.shutdown(Duration::from_secs(10)));
    }
}
