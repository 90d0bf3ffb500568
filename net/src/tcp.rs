//! TCP: `TcpListener` and `TcpStream`.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::Exchange;
use crate::socket::{Inner, fd_traits, stream_io, timeouts};

/// Listen backlog used unless the builder says otherwise (the kernel caps it at
/// `net.core.somaxconn`).
const DEFAULT_BACKLOG: i32 = 4096;

fn socket_addr(addr: &SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
}

/// Resolves `addr` and calls `f` on each address until one succeeds.
fn each_addr<A: ToSocketAddrs, T>(addr: A, mut f: impl FnMut(&SocketAddr) -> io::Result<T>) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}

/// A TCP socket listening for connections.
pub struct TcpListener {
    inner: Inner,
}

/// Options for a listener: `TcpListener::builder(addr).reuse_port(true).backlog(1024).bind()`.
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder<A> {
    addr: A,
    reuse_port: bool,
    backlog: i32,
    only_v6: Option<bool>,
}

impl<A: ToSocketAddrs> TcpListenerBuilder<A> {
    /// Sets `SO_REUSEPORT`, so that several listeners (in this or other processes) can bind
    /// the same address and the kernel spreads connections among them.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The listen backlog (default 4096, capped by the kernel at `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// For an IPv6 address: accept IPv6 only (`true`) or IPv4-mapped too (`false`).
    pub fn only_v6(mut self, only: bool) -> Self {
        self.only_v6 = Some(only);
        self
    }

    /// Creates, binds and starts the listener (`SO_REUSEADDR` is always set).
    pub fn bind(self) -> io::Result<TcpListener> {
        each_addr(&self.addr, |addr| {
            let socket =
                Socket::new(Domain::for_address(*addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            if self.reuse_port {
                socket.set_reuse_port(true)?;
            }
            if let (SocketAddr::V6(_), Some(only)) = (addr, self.only_v6) {
                socket.set_only_v6(only)?;
            }
            socket.bind(&(*addr).into())?;
            socket.listen(self.backlog)?;
            Ok(TcpListener { inner: Inner::new(socket)? })
        })
    }
}

impl TcpListener {
    /// Binds a listener to `addr` with `SO_REUSEADDR` and a large backlog.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Self::builder(addr).bind()
    }

    /// A builder for `SO_REUSEPORT`, the backlog and IPv6-only mode.
    pub fn builder<A: ToSocketAddrs>(addr: A) -> TcpListenerBuilder<A> {
        TcpListenerBuilder { addr, reuse_port: false, backlog: DEFAULT_BACKLOG, only_v6: None }
    }

    /// Waits for a connection. The new stream has no time-outs.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, addr) = oc_runtime::io::accept(self.inner.fd(), self.inner.read_deadline())?;
        Ok((TcpStream { inner: Inner::from_nonblocking(fd) }, socket_addr(&addr)?))
    }

    /// An endless iterator of incoming connections (and accept errors).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Makes `accept` fail with `TimedOut` when no connection arrives in time.
    pub fn set_accept_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.inner.socket().local_addr()?)
    }

    /// Another handle to the same listener.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener { inner: self.inner.try_clone()? })
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.socket().set_ttl(ttl)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.socket().take_error()
    }

    /// Converts into a blocking `std::net::TcpListener`.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.inner.into_blocking_fd()?.into())
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Takes over a std listener, switching it to non-blocking mode.
    ///
    /// # Panics
    ///
    /// Panics if the mode cannot be changed.
    fn from(l: std::net::TcpListener) -> TcpListener {
        TcpListener { inner: Inner::new(Socket::from(l)).expect("set O_NONBLOCK on the listener") }
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}

use std::os::fd::AsRawFd;
fd_traits!(TcpListener);

/// Iterator over a listener's connections; see [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection.
pub struct TcpStream {
    inner: Inner,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn.
    ///
    /// Name resolution (`getaddrinfo`) blocks the worker; pass a `SocketAddr` in hot paths.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| Self::connect_deadline(a, None))
    }

    /// Connects to `addr`, failing with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        Self::connect_deadline(addr, Instant::now().checked_add(timeout))
    }

    fn connect_deadline(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let socket =
            Socket::new(Domain::for_address(*addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        let inner = Inner::new(socket)?;
        oc_runtime::io::connect(inner.fd(), &(*addr).into(), deadline)?;
        Ok(TcpStream { inner })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.inner.socket().peer_addr()?)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        socket_addr(&self.inner.socket().local_addr()?)
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.socket().shutdown(how)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.socket().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.socket().nodelay()
    }

    /// Writes all of `out`, then reads into `buf`, as `write_all` and `read` would (each
    /// limited by its time-out), in one step: on io_uring both are queued on the worker's ring
    /// together, so a request/response exchange costs no system call of its own and a
    /// worker's responses leave together. Elsewhere (epoll, a plain thread) it is a
    /// `write_all` and then a `read`.
    ///
    /// The [`Exchange`] says which half failed: if the write fails, the read is abandoned;
    /// `Done(0)` is the end of the stream. A coroutine cancelled during the call
    /// on io_uring lets the write finish (within the write time-out) before it unwinds;
    /// elsewhere the cancellation interrupts the write.
    ///
    /// ```no_run
    /// # fn demo(stream: &oc_net::TcpStream) -> std::io::Result<()> {
    /// let mut buf = [0u8; 4096];
    /// let n = stream.write_all_then_read(b"ping\n", &mut buf).into_result()?;
    /// println!("got {:?}", &buf[..n]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_all_then_read(&self, out: &[u8], buf: &mut [u8]) -> Exchange<usize> {
        self.inner.write_all_then_read(out, buf)
    }

    /// Writes all of `out` (as `write_all` would, within the write time-out), then waits until
    /// the stream has something to read (bytes, its end or an error), within the read
    /// time-out (`TimedOut`), in one step as [`write_all_then_read`](Self::write_all_then_read)
    /// does. The read is left to [`try_read`](Self::try_read), so its buffer is needed only
    /// once there is something to read: a server of many idle connections need not keep a
    /// buffer for each. The wait may end early: `try_read` then says `WouldBlock`. With `out`
    /// empty it is [`readable`](Self::readable).
    ///
    /// The [`Exchange`] says which half failed: `Done(())` once the write went whole and
    /// the wait ended; if the write fails, the wait is abandoned.
    ///
    /// ```no_run
    /// # fn demo(stream: &oc_net::TcpStream) -> std::io::Result<()> {
    /// stream.write_all_then_readable(b"ping\n").into_result()?;
    /// let mut buf = [0u8; 4096];
    /// match stream.try_read(&mut buf) {
    ///     Ok(n) => println!("got {:?}", &buf[..n]),
    ///     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => println!("not yet"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_all_then_readable(&self, out: &[u8]) -> Exchange<()> {
        self.inner.write_all_then_readable(out)
    }

    /// Waits until the stream has something to read (bytes, its end or an error), within the
    /// read time-out (`TimedOut`). It may return early: a following
    /// [`try_read`](Self::try_read) then says `WouldBlock`.
    pub fn readable(&self) -> io::Result<()> {
        self.inner.readable()
    }

    /// Reads what has arrived without waiting: the bytes read, 0 at the end of the stream,
    /// `WouldBlock` if nothing has arrived.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_read(buf)
    }

    /// Reads without removing the data from the socket's queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv_flags(buf, libc::MSG_PEEK)
    }

    /// Another handle to the same connection (time-outs are copied, then independent).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream { inner: self.inner.try_clone()? })
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.socket().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.socket().ttl()
    }

    /// Sets `SO_LINGER`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.socket().set_linger(linger)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.socket().take_error()
    }

    /// Converts into a blocking `std::net::TcpStream`.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.inner.into_blocking_fd()?.into())
    }
}

impl From<std::net::TcpStream> for TcpStream {
    /// Takes over a std stream, switching it to non-blocking mode.
    ///
    /// # Panics
    ///
    /// Panics if the mode cannot be changed.
    fn from(s: std::net::TcpStream) -> TcpStream {
        TcpStream { inner: Inner::new(Socket::from(s)).expect("set O_NONBLOCK on the stream") }
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}

fd_traits!(TcpStream);
stream_io!(TcpStream);
timeouts!(TcpStream);
