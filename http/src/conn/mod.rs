//! One HTTP/1.1 connection, split by responsibility (as hyper's `proto/h1` is):
//!
//! - `connection`: the connection's state (`Connection`, its named `Phase`s) and the serve
//!   loop: read, parse every complete request, answer them in one batch, write, wait.
//! - `role`: what the server does with a parsed request: call the handler, check its
//!   response, decide framing and keep-alive, encode or stream it.
//! - `encode`: response heads (`Framing`, the per-connection `HeadCache`), refusals, and the
//!   sized and chunked writers of streamed bodies.
//! - `write`: every write to the client, under the write time-out and minimum send rate.
//! - `recv`: the receive buffer's size and the memory large requests make it grow by.
//! - `pool`: each thread's spare receive and send buffers.
//! - `transport`: what a connection runs over (TCP, or TLS on it).
//!
//! Parsing a request (head and body framing) is `crate::parse`'s; reading a streamed
//! request body is `crate::body`'s.

mod connection;
mod encode;
mod pool;
mod recv;
mod recv_pool;
mod role;
mod transport;
mod write;

use std::sync::Arc;
use std::sync::atomic::AtomicU8;

pub(crate) use transport::Transport;

use crate::server::Shared;
use connection::Connection;

/// A connection waits for its next request (the server may close it to shut down).
pub(crate) const IDLE: u8 = 0;
/// A connection is reading or answering a request.
pub(crate) const BUSY: u8 = 1;
/// The server is closing the connection.
pub(crate) const CLOSING: u8 = 2;

/// Serves `stream` until the client closes it, a limit or time-out ends it, or the server
/// shuts down.
pub(crate) fn serve<S: Transport>(stream: S, server: &Shared, state: &Arc<AtomicU8>) {
    // Two copies of the loop: one for routers with streaming routes, and one without.
    if server.router.streams() {
        Connection::<S, true>::new(stream, server, state).run()
    } else {
        Connection::<S, false>::new(stream, server, state).run()
    }
}
