//! Name look-ups that suspend only the calling coroutine.
//!
//! `getaddrinfo` waits for the name server inside the C library, where no hook reaches: called
//! in a coroutine it holds the worker thread, and every coroutine queued on it, until the
//! answer comes (or the monitor hands the worker off). [`lookup_host`] runs it on the
//! runtime's blocking pool instead, and can bound the wait.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The addresses of `addr` (`"host:port"`, `(host, port)`, ...), looked up on the runtime's
/// blocking pool while the calling coroutine waits (a plain thread blocks), for at most
/// `timeout` when given. Parse address literals first where it matters: a literal needs no
/// look-up, but this sends it to the pool all the same.
///
/// Errors: the look-up's own; `TimedOut` when `timeout` passed first (the look-up finishes on
/// its own and is dropped); `NotFound` when the name has no address.
///
/// ```
/// let rt = oc_runtime::Runtime::builder().workers(1).build()?;
/// let addrs = rt.block_on(|| oc_net::lookup_host(("localhost", 80), None))?;
/// assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn lookup_host<A>(addr: A, timeout: Option<Duration>) -> io::Result<Vec<SocketAddr>>
where
    A: ToSocketAddrs + Send + 'static,
{
    let mut lookup = oc_runtime::spawn_blocking(move || addr.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
    let looked = match timeout {
        Some(t) => lookup.timeout_join(t),
        None => lookup.join(),
    };
    let addrs = match looked {
        Ok(result) => result?,
        Err(e) if e.is_timeout() => {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the name look-up did not finish within its time-out"));
        }
        Err(e) => return Err(io::Error::other(format!("the name look-up failed: {e}"))),
    };
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "the name has no address"));
    }
    Ok(addrs)
}
