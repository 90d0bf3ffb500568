//! Failures: a server-side kill mid-query, a down server, statement and connect time-outs.

mod support;

#[path = "support/fake.rs"]
mod fake;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use oc_postgres::{Client, Config, ErrorKind, SqlState};

fn backend_pid(client: &mut Client) -> i32 {
    let stmt = client.prepare("SELECT pg_backend_pid()").unwrap();
    client.query_one(&stmt, &[]).unwrap().get(0)
}

/// `pg_terminate_backend` from another connection while `pg_sleep(5)` runs: the sleeper
/// gets a clear error at once, and its next call reconnects.
#[test]
fn server_kill_mid_query_then_reconnect() {
    support::on_each_backend(2, |backend| {
        let mut victim = support::client();
        let pid = backend_pid(&mut victim);
        let sleep = victim.prepare("SELECT pg_sleep(5)").unwrap();
        let killer = oc_runtime::spawn(move || {
            let mut admin = support::client();
            let active = admin
                .prepare("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(5)%'")
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(4);
            while admin.query_one(&active, &[&pid]).unwrap().get::<_, i64>(0) == 0 {
                assert!(Instant::now() < deadline, "the sleep never showed in pg_stat_activity");
                oc_runtime::sleep(Duration::from_millis(10));
            }
            let kill = admin.prepare("SELECT pg_terminate_backend($1)").unwrap();
            assert!(admin.query_one(&kill, &[&pid]).unwrap().get::<_, bool>(0));
        });
        let start = Instant::now();
        let err = victim.query(&sleep, &[]).unwrap_err();
        let took = start.elapsed();
        killer.join().unwrap();
        assert_eq!(err.kind(), ErrorKind::Closed, "{backend:?}: {err}");
        assert_eq!(err.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{err}");
        assert!(err.to_string().contains("closed"), "{err}");
        assert!(took < Duration::from_secs(4), "the error came only after {took:?}");
        assert!(!victim.is_connected());

        // The next call reconnects, and the cached statement is parsed again there.
        let new_pid = backend_pid(&mut victim);
        assert_ne!(new_pid, pid);
        let echo = victim.prepare("SELECT $1::int4").unwrap();
        assert_eq!(victim.query_one(&echo, &[&7i32]).unwrap().get::<_, i32>(0), 7);
    });
}

/// A connection dropped while idle (the server restarted it, say): the first call says so,
/// the second works.
#[test]
fn idle_connection_killed_reconnects_on_next_use() {
    support::on_each_backend(2, |_| {
        let mut client = support::client();
        let pid = backend_pid(&mut client);
        let mut admin = support::client();
        admin.batch_execute(&format!("SELECT pg_terminate_backend({pid})")).unwrap();
        // Let the FATAL notice reach the socket.
        oc_runtime::sleep(Duration::from_millis(100));
        let first = client.batch_execute("SELECT 1");
        if let Err(e) = &first {
            assert!(e.is_closed() || e.kind() == ErrorKind::Io, "{e}");
        }
        assert_ne!(backend_pid(&mut client), pid);
    });
}

/// Pointing at a closed port fails fast with a clear error, every time, and never hangs.
#[test]
fn database_down_fails_fast() {
    support::on_each_backend(2, |_| {
        let (addr, _held) = support::refused_addr();
        let port = addr.port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        for _ in 0..3 {
            let start = Instant::now();
            let err = Client::connect(&url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
            assert!(err.is_unavailable());
            assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
            assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
        }
        // A pool does the same from get().
        let pool = oc_postgres::Pool::new(&url, 2).unwrap();
        let start = Instant::now();
        assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::Connect);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(pool.open(), 0, "a failed connect gives its place back");
    });
}

/// A host name is looked up (on the blocking pool) and connected to; one that does not resolve
/// is a clear `Connect` error naming it, within the connect time-out.
#[test]
fn host_names_resolve_and_unknown_ones_fail_clearly() {
    support::on_each_backend(1, |_| {
        let mut client = Client::connect("postgres://postgres@localhost:5432/postgres").unwrap();
        assert_eq!(client.query_one("SELECT 1::int4", &[]).unwrap().get::<_, i32>(0), 1);
        let start = Instant::now();
        let err =
            Client::connect("postgres://postgres@no-such-host.invalid:5432/postgres?connect_timeout=3").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Connect | ErrorKind::Timeout), "{err}");
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
    });
}

/// A statement over its time-out is cancelled on the server, the call fails with
/// `Timeout`, and the same session stays usable.
#[test]
fn statement_timeout_cancels_and_keeps_the_connection() {
    support::on_each_backend(2, |backend| {
        let mut client = support::client();
        let pid = backend_pid(&mut client);
        let sleep = client.prepare("SELECT pg_sleep(30)").unwrap();
        client.set_statement_timeout(Some(Duration::from_millis(300)));
        let start = Instant::now();
        let err = client.query(&sleep, &[]).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{backend:?}: {err}");
        assert!(err.is_timeout());
        assert!(took >= Duration::from_millis(300), "{took:?}");
        // 300 ms plus at most the 2 s cancel grace, with room for a loaded machine; far
        // below the 30 s sleep.
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(client.is_connected());
        client.set_statement_timeout(Some(Duration::from_secs(20)));
        assert_eq!(backend_pid(&mut client), pid, "the session was kept");
        // A pipeline obeys it too.
        client.set_statement_timeout(Some(Duration::from_millis(200)));
        let mut p = client.pipeline();
        p.query(&sleep, &[]);
        assert_eq!(p.run().unwrap_err().kind(), ErrorKind::Timeout);
        client.set_statement_timeout(None);
        assert_eq!(backend_pid(&mut client), pid);
    });
}

/// With a server that takes the statement and never answers, not even the cancel, the
/// client sends a `CancelRequest` with the session's key, gives up after a grace period,
/// drops the connection, and reconnects on the next call.
#[test]
fn statement_timeout_without_answer_drops_the_connection() {
    let (addr, seen) = fake::silent_server();
    support::on_each_backend(2, move |_| {
        let before = seen.sessions.load(Ordering::SeqCst);
        let cancels_before = seen.cancels.lock().unwrap().len();
        let mut client = Client::connect(&format!("postgres://u@{addr}/db?statement_timeout=200")).unwrap();
        assert_eq!(client.statement_timeout(), Some(Duration::from_millis(200)));
        let start = Instant::now();
        let err = client.batch_execute("SELECT 1").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
        assert!(!client.is_connected(), "an unanswered session is dropped");
        let cancels = seen.cancels.lock().unwrap().clone();
        assert_eq!(cancels.len(), cancels_before + 1);
        assert_eq!(cancels[cancels_before], fake::key());
        // The next call reconnects (and times out again: the fake never answers).
        assert_eq!(client.batch_execute("SELECT 1").unwrap_err().kind(), ErrorKind::Timeout);
        assert_eq!(seen.sessions.load(Ordering::SeqCst), before + 2);
    });
}

/// A listener that accepts but never speaks: connecting fails with `Timeout` after the
/// connect time-out, not never.
#[test]
fn connect_timeout_bounds_a_silent_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    support::on_each_backend(2, move |_| {
        let mut config: Config = format!("postgres://u@{addr}/db").parse().unwrap();
        config.connect_timeout(Some(Duration::from_millis(300)));
        let start = Instant::now();
        let err = Client::connect_config(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    });
    drop(listener);
}

/// A server that sends garbage gets a clear error, never a panic, a hang or a huge
/// allocation.
#[test]
fn garbage_from_the_server_is_a_protocol_error() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an absurd length", vec![b'R', 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0]),
        ("a length below the header", vec![b'R', 0, 0, 0, 2]),
        ("an unknown tag", vec![b'@', 0, 0, 0, 4]),
        ("an unknown auth method", vec![b'R', 0, 0, 0, 8, 0, 0, 0, 99]),
        ("a query answer during log-in", vec![b'C', 0, 0, 0, 9, b'S', b'E', b'L', b'\0', 0]),
    ];
    let servers: Vec<_> = cases.into_iter().map(|(what, reply)| (what, fake::scripted_server(reply))).collect();
    let servers = std::sync::Arc::new(servers);
    support::on_each_backend(2, move |backend| {
        for (what, addr) in servers.iter() {
            let mut config: Config = format!("postgres://u@{addr}/db").parse().unwrap();
            config.connect_timeout(Some(Duration::from_secs(3)));
            let start = Instant::now();
            let err = Client::connect_config(config).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::Protocol | ErrorKind::Auth), "{backend:?} {what}: {err:?}");
            assert!(start.elapsed() < Duration::from_secs(2), "{what}: {:?}", start.elapsed());
        }
    });
}
