//! A loopback address that never answers a connection attempt, for as long as its holder
//! lives. Shared by several crates' tests through `#[path]`.

use std::net::SocketAddr;
use std::time::Duration;

/// A loopback listener (backlog 0) whose accept queue is already full, so the kernel drops
/// further SYNs and a connect waits until its time-out (as behind a firewall that drops
/// packets). Returns the listener and the connections that fill its queue: keep them alive
/// for as long as the address must stay silent.
pub(crate) fn unanswering_addr() -> (socket2::Socket, SocketAddr, Vec<std::net::TcpStream>) {
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    // The first connections complete into the queue; the first that cannot is the proof.
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fill.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (listener, addr, fill),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue of a backlog-0 listener took {} connections", fill.len());
}
