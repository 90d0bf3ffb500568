//! UDP: `UdpSocket`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

use crate::socket::{Inner, fd_traits, timeouts};

/// A UDP socket.
pub struct UdpSocket {
    inner: Inner,
}

fn first_addr<A: ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses"))
}

impl UdpSocket {
    /// Binds a socket to `addr` (the first resolved address that works).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            let attempt = (|| {
                let socket =
                    Socket::new(Domain::for_address(a), Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))?;
                socket.bind(&a.into())?;
                Ok(UdpSocket { inner: Inner::new(socket)? })
            })();
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
    }

    /// Receives one datagram; returns its length and sender. A datagram longer than `buf` is
    /// truncated.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = oc_runtime::io::recv_from(self.inner.fd(), buf, self.inner.read_deadline())?;
        let addr = addr.as_socket().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))?;
        Ok((n, addr))
    }

    /// Sends `buf` as one datagram to `addr`.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = first_addr(addr)?;
        oc_runtime::io::send_to(self.inner.fd(), buf, &addr.into(), self.inner.write_deadline())
    }

    /// Sets the default peer for `send` and the only accepted sender for `recv`.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addr = first_addr(addr)?;
        self.inner.socket().connect(&addr.into())
    }

    /// Sends `buf` to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv_flags(buf, 0)
    }

    /// Receives a datagram without removing it from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv_flags(buf, libc::MSG_PEEK)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP address"))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().peer_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP address"))
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.socket().set_broadcast(on)
    }

    /// Another handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket { inner: self.inner.try_clone()? })
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.socket().take_error()
    }

    /// Converts into a blocking `std::net::UdpSocket`.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.inner.into_blocking_fd()?.into())
    }
}

impl From<std::net::UdpSocket> for UdpSocket {
    /// Takes over a std socket, switching it to non-blocking mode.
    ///
    /// # Panics
    ///
    /// Panics if the mode cannot be changed.
    fn from(s: std::net::UdpSocket) -> UdpSocket {
        UdpSocket { inner: Inner::new(Socket::from(s)).expect("set O_NONBLOCK on the socket") }
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("addr", &self.local_addr().ok()).field("fd", &self.inner.as_raw_fd()).finish()
    }
}

fd_traits!(UdpSocket);
timeouts!(UdpSocket);
