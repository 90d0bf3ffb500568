//! Syscall hooks: plain std code suspends its coroutine instead of blocking the worker.
//!
//! Every test runs on one worker, on both reactors: with one worker, a call that blocked the
//! thread would stall every other coroutine, so finishing in time proves it suspended.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

fn on_one_worker_each_backend<F>(f: F)
where
    F: Fn(IoBackend) + Send + Sync + Clone + 'static,
{
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = oc_runtime::Runtime::builder().workers(1).io_backend(backend).build().unwrap();
        assert!(rt.hooks_enabled(), "hooks are on by default");
        let f = f.clone();
        rt.block_on(move || f(backend));
        let m = rt.metrics();
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: {m:?}");
    }
}

#[test]
fn ten_thousand_std_thread_sleeps_overlap() {
    on_one_worker_each_backend(|backend| {
        support::require_max_map_count(oc_runtime::current_metrics().unwrap().stack_guard, 40_000);
        let start = Instant::now();
        let handles: Vec<_> =
            (0..10_000).map(|_| oc_runtime::spawn(|| std::thread::sleep(Duration::from_millis(100)))).collect();
        for h in handles {
            h.join().unwrap();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100));
        assert!(took < Duration::from_millis(800), "{backend:?}: 10,000 sleeps of 100 ms took {took:?}");
    });
}

#[test]
fn std_net_echo_server_serves_a_thousand_std_clients() {
    const CLIENTS: usize = 1000;
    on_one_worker_each_backend(|backend| {
        let listener = support::std_listener(CLIENTS as i32);
        let addr = listener.local_addr().unwrap();
        oc_runtime::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                oc_runtime::spawn(move || {
                    let mut buf = [0u8; 1024];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                        }
                    }
                });
            }
        });
        let done = Arc::new(AtomicUsize::new(0));
        let gate = support::Gate::new(CLIENTS);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (done, gate) = (done.clone(), gate.clone());
                oc_runtime::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    gate.arrive(); // all connected at once
                    let msg = format!("client {i} says hello");
                    for _ in 0..3 {
                        s.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), CLIENTS, "{backend:?}");
    });
}

#[test]
fn so_rcvtimeo_times_out_with_would_block_as_without_hooks() {
    on_one_worker_each_backend(|backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let c = TcpStream::connect(addr).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        // Another coroutine keeps running while this one waits.
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = oc_runtime::spawn(move || {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(10));
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        let start = Instant::now();
        let err = (&c).read(&mut [0u8; 8]).unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{backend:?}: {err}");
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(500), "{waited:?}");
        ticker.join().unwrap();
        assert_eq!(ticks.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn descriptors_the_application_made_non_blocking_get_would_block() {
    on_one_worker_each_backend(|backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        c.set_nonblocking(true).unwrap();
        let start = Instant::now();
        let err = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{backend:?}");
        assert!(start.elapsed() < Duration::from_millis(50));
        listener.set_nonblocking(true).unwrap();
        drop(c);
        let _ = listener.accept(); // the queued connection
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock, "{backend:?}");
    });
}

#[test]
fn connect_timeout_and_refused_through_hooked_poll_and_connect() {
    on_one_worker_each_backend(|backend| {
        let (addr, _held) = support::refused_addr();
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{backend:?}");
        assert_eq!(TcpStream::connect(addr).unwrap_err().kind(), ErrorKind::ConnectionRefused, "{backend:?}");
    });
}

#[test]
fn std_connect_timeout_times_out_against_a_peer_that_never_answers() {
    // A loopback listener with backlog 0 and a full accept queue drops further SYNs: std's
    // connect_timeout (a non-blocking connect, then a hooked poll) must time out on time
    // without blocking the only worker.
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    while fill.len() < 8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fill.push(s),
            Err(e) if e.kind() == ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    assert!(fill.len() < 8, "the accept queue never filled");
    on_one_worker_each_backend(move |backend| {
        const TIMEOUT: Duration = Duration::from_millis(300);
        let ticker = oc_runtime::spawn(|| {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(10));
            }
            Instant::now()
        });
        let start = Instant::now();
        let err = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{backend:?}: {err}");
        assert!(took >= TIMEOUT && took < TIMEOUT + Duration::from_millis(150), "{backend:?}: {took:?}");
        let ticked_at = ticker.join().unwrap();
        assert!(ticked_at < start + TIMEOUT, "{backend:?}: the worker was blocked while connecting");
    });
    drop(fill);
}

#[test]
fn hooked_poll_waits_without_blocking_the_worker() {
    on_one_worker_each_backend(|backend| {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let writer = oc_runtime::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            (&b).write_all(b"x").unwrap();
            b
        });
        let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&a), events: libc::POLLIN, revents: 0 };
        let start = Instant::now();
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert_eq!(n, 1, "{backend:?}");
        assert!(pfd.revents & libc::POLLIN != 0);
        assert!(start.elapsed() < Duration::from_secs(1));
        // And a poll that times out.
        let _b = writer.join().unwrap();
        let mut byte = [0u8; 1];
        (&a).read_exact(&mut byte).unwrap();
        let start = Instant::now();
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 60) };
        assert_eq!(n, 0);
        assert!(start.elapsed() >= Duration::from_millis(60));
    });
}

#[test]
fn hooks_can_be_turned_off() {
    let rt = oc_runtime::Runtime::builder().workers(1).hooks(false).preempt_interval(None).build().unwrap();
    assert!(!rt.hooks_enabled());
    let took = rt.block_on(|| {
        let start = Instant::now();
        let hs: Vec<_> = (0..5).map(|_| oc_runtime::spawn(|| std::thread::sleep(Duration::from_millis(40)))).collect();
        for h in hs {
            h.join().unwrap();
        }
        start.elapsed()
    });
    // Without hooks each sleep blocks the only worker: they run one after another.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(rt.shutdown(Duration::from_secs(5)));
}

#[test]
fn outside_coroutines_calls_go_straight_to_the_kernel() {
    let _rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(30));
    assert!(start.elapsed() >= Duration::from_millis(30));
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.write_all(b"plain").unwrap();
    let mut buf = [0u8; 5];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"plain");
}
