//! Unix domain stream sockets: `UnixListener` and `UnixStream`.

use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::socket::{Inner, fd_traits, stream_io, timeouts};

/// Asks std for a Unix socket's addresses (socket2 has no `std::os::unix::net::SocketAddr`).
fn std_view(inner: &Inner) -> ManuallyDrop<std::os::unix::net::UnixStream> {
    // SAFETY: the std value borrows our descriptor and is never dropped, so it never closes it.
    ManuallyDrop::new(unsafe { std::os::unix::net::UnixStream::from_raw_fd(inner.as_raw_fd()) })
}

/// A Unix domain socket listening for connections.
pub struct UnixListener {
    inner: Inner,
}

impl UnixListener {
    /// Binds to the file system path `path` (which must not exist) and listens.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(4096)?;
        Ok(UnixListener { inner: Inner::new(socket)? })
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, _) = oc_runtime::io::accept(self.inner.fd(), self.inner.read_deadline())?;
        let stream = UnixStream { inner: Inner::from_nonblocking(fd) };
        let addr = std_view(&stream.inner).peer_addr()?;
        Ok((stream, addr))
    }

    /// Makes `accept` fail with `TimedOut` when no connection arrives in time.
    pub fn set_accept_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        std_view(&self.inner).local_addr()
    }

    /// Another handle to the same listener.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener { inner: self.inner.try_clone()? })
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}

fd_traits!(UnixListener);

/// A Unix domain stream connection.
pub struct UnixStream {
    inner: Inner,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
        let inner = Inner::new(socket)?;
        oc_runtime::io::connect(inner.fd(), &SockAddr::unix(path)?, None)?;
        Ok(UnixStream { inner })
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.cloexec(), None)?;
        Ok((UnixStream { inner: Inner::new(a)? }, UnixStream { inner: Inner::new(b)? }))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        std_view(&self.inner).local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        std_view(&self.inner).peer_addr()
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.socket().shutdown(how)
    }

    /// Another handle to the same connection.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream { inner: self.inner.try_clone()? })
    }

    /// Converts into a blocking `std::os::unix::net::UnixStream`.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(self.inner.into_blocking_fd()?.into())
    }
}

impl From<std::os::unix::net::UnixStream> for UnixStream {
    /// Takes over a std stream, switching it to non-blocking mode.
    ///
    /// # Panics
    ///
    /// Panics if the mode cannot be changed.
    fn from(s: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream { inner: Inner::new(Socket::from(std::os::fd::OwnedFd::from(s))).expect("set O_NONBLOCK") }
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("fd", &self.inner.as_raw_fd()).finish()
    }
}

fd_traits!(UnixStream);
timeouts!(UnixStream);
stream_io!(UnixStream);
