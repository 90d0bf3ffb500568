//! A scripted stand-in for a PostgreSQL server, on a plain thread with std sockets: it logs
//! clients in without a password, then never answers a query. It records cancel requests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake server saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Sessions that completed start-up.
    pub(crate) sessions: AtomicUsize,
    /// (process id, secret) of each cancel request.
    pub(crate) cancels: Mutex<Vec<(i32, i32)>>,
}

const PID: i32 = 4242;
const SECRET: i32 = 0x5EC2E7;

/// Starts the fake server on a free loopback port; it serves until the process ends.
pub(crate) fn silent_server() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let s = s.clone();
            std::thread::spawn(move || serve(conn, &s));
        }
    });
    (addr, seen)
}

fn serve(mut conn: TcpStream, seen: &Seen) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut len = [0u8; 4];
    if conn.read_exact(&mut len).is_err() {
        return;
    }
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
    if conn.read_exact(&mut body).is_err() {
        return;
    }
    let code = i32::from_be_bytes(body[0..4].try_into().unwrap());
    if code == 80877102 {
        let pid = i32::from_be_bytes(body[4..8].try_into().unwrap());
        let secret = i32::from_be_bytes(body[8..12].try_into().unwrap());
        seen.cancels.lock().unwrap().push((pid, secret));
        return; // closes the cancel connection, and ignores it
    }
    // AuthenticationOk, BackendKeyData, ReadyForQuery(idle).
    let mut out = Vec::new();
    out.extend_from_slice(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]);
    out.push(b'K');
    out.extend_from_slice(&12i32.to_be_bytes());
    out.extend_from_slice(&PID.to_be_bytes());
    out.extend_from_slice(&SECRET.to_be_bytes());
    out.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
    if conn.write_all(&out).is_err() {
        return;
    }
    seen.sessions.fetch_add(1, Ordering::SeqCst);
    // Swallow whatever comes, answer nothing.
    let mut sink = [0u8; 4096];
    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
}

/// The cancel key the fake server hands out.
pub(crate) fn key() -> (i32, i32) {
    (PID, SECRET)
}

/// A server that answers the start-up message with `reply`, then keeps the connection
/// open without a word more.
pub(crate) fn scripted_server(reply: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut len = [0u8; 4];
                if conn.read_exact(&mut len).is_err() {
                    return;
                }
                let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                if conn.read_exact(&mut body).is_err() || conn.write_all(&reply).is_err() {
                    return;
                }
                let mut sink = [0u8; 4096];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}
