//! A loopback address where a connection is refused, for as long as its holder lives.
//!
//! Shared by several crates' tests through `#[path]`. A port merely bound and freed again is
//! not enough: the kernel may hand it to another test's server in the same process meanwhile,
//! which then answers where the test expects a refusal.

use std::net::SocketAddr;

/// A port bound by a socket that never listens: a connection there is refused, and no other
/// socket can take the port until the returned socket is dropped.
pub(crate) fn refused_addr() -> (SocketAddr, socket2::Socket) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    assert!(std::net::TcpListener::bind(addr).is_err(), "{addr} can be taken while held");
    (addr, socket)
}
