//! What every socket type shares: the descriptor, its time-outs, closing.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::Exchange;

/// A non-blocking socket with read and write time-outs.
pub(crate) struct Inner {
    /// The standing readiness registration (io_uring), let go before the socket closes.
    readiness: oc_runtime::io::Readiness,
    socket: Socket,
    /// Read time-out in nanoseconds; 0 means none.
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

impl Inner {
    /// Takes over `socket` and puts it in non-blocking mode.
    pub(crate) fn new(socket: Socket) -> io::Result<Inner> {
        socket.set_nonblocking(true)?;
        Ok(Inner::from_socket(socket))
    }

    /// Takes over a descriptor that is already non-blocking (fresh from `accept`).
    pub(crate) fn from_nonblocking(fd: OwnedFd) -> Inner {
        Inner::from_socket(Socket::from(fd))
    }

    fn from_socket(socket: Socket) -> Inner {
        Inner {
            readiness: oc_runtime::io::Readiness::new(),
            socket,
            read_timeout: AtomicU64::new(0),
            write_timeout: AtomicU64::new(0),
        }
    }

    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn encode(timeout: Option<Duration>) -> io::Result<u64> {
        match timeout {
            None => Ok(0),
            Some(d) if d.is_zero() => {
                Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"))
            }
            Some(d) => Ok(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)),
        }
    }

    fn decode(nanos: u64) -> Option<Duration> {
        (nanos != 0).then(|| Duration::from_nanos(nanos))
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.store(Self::encode(timeout)?, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.store(Self::encode(timeout)?, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        Self::decode(self.read_timeout.load(Ordering::Relaxed))
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        Self::decode(self.write_timeout.load(Ordering::Relaxed))
    }

    /// The deadline for a read starting now.
    pub(crate) fn read_deadline(&self) -> Option<Instant> {
        self.read_timeout().and_then(|t| Instant::now().checked_add(t))
    }

    /// The deadline for a write starting now.
    pub(crate) fn write_deadline(&self) -> Option<Instant> {
        self.write_timeout().and_then(|t| Instant::now().checked_add(t))
    }

    pub(crate) fn try_clone(&self) -> io::Result<Inner> {
        let socket = self.socket.try_clone()?;
        Ok(Inner {
            readiness: oc_runtime::io::Readiness::new(),
            socket,
            read_timeout: AtomicU64::new(self.read_timeout.load(Ordering::Relaxed)),
            write_timeout: AtomicU64::new(self.write_timeout.load(Ordering::Relaxed)),
        })
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.note_read(oc_runtime::io::recv_timeout(self.fd(), buf, 0, self.read_timeout()), buf.len())
    }

    /// Tells the readiness registration when a read found the receive queue empty (see
    /// `Readiness::drained`).
    #[inline]
    fn note_read(&self, read: io::Result<usize>, asked: usize) -> io::Result<usize> {
        match &read {
            Ok(n) if *n > 0 && *n < asked => self.readiness.drained(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readiness.drained(),
            _ => {}
        }
        read
    }

    pub(crate) fn read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        oc_runtime::io::readv(self.fd(), bufs, self.read_deadline())
    }

    pub(crate) fn recv_flags(&self, buf: &mut [u8], flags: i32) -> io::Result<usize> {
        oc_runtime::io::recv_timeout(self.fd(), buf, flags, self.read_timeout())
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        oc_runtime::io::send_timeout(self.fd(), buf, 0, self.write_timeout())
    }

    pub(crate) fn write_all_then_read(&self, out: &[u8], buf: &mut [u8]) -> Exchange<usize> {
        Exchange::from_halves(oc_runtime::io::send_all_then_recv(
            self.fd(),
            out,
            buf,
            self.write_timeout(),
            self.read_timeout(),
        ))
    }

    pub(crate) fn write_all_then_readable(&self, out: &[u8]) -> Exchange<()> {
        Exchange::from_halves(oc_runtime::io::send_all_then_readable(
            self.fd(),
            out,
            &self.readiness,
            self.write_timeout(),
            self.read_timeout(),
        ))
    }

    pub(crate) fn readable(&self) -> io::Result<()> {
        self.write_all_then_readable(&[]).into_result()
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.note_read(oc_runtime::io::try_recv(self.fd(), buf), buf.len())
    }

    pub(crate) fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        oc_runtime::io::writev(self.fd(), bufs, self.write_deadline())
    }

    /// Gives the descriptor up, in blocking mode (for a std type).
    pub(crate) fn into_blocking_fd(self) -> io::Result<OwnedFd> {
        self.socket.set_nonblocking(false)?;
        let inner = std::mem::ManuallyDrop::new(self);
        // SAFETY: `inner` is never dropped, so each field is moved out exactly once: the
        // registration to be dropped here (the std type must own the only reference to the
        // socket's file), the descriptor to be returned.
        let (readiness, socket) = unsafe { (std::ptr::read(&inner.readiness), std::ptr::read(&inner.socket)) };
        drop(readiness);
        oc_runtime::io::forget(socket.as_raw_fd());
        Ok(OwnedFd::from(socket))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        oc_runtime::io::forget(self.socket.as_raw_fd());
    }
}

impl AsRawFd for Inner {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Builds an `Inner` from a raw descriptor the caller owns.
///
/// # Safety
///
/// `fd` must be an open socket owned by the caller.
pub(crate) unsafe fn from_raw(fd: RawFd) -> io::Result<Inner> {
    // SAFETY: forwarded from the caller.
    Inner::new(unsafe { Socket::from_raw_fd(fd) })
}

/// Gives the descriptor up as is.
pub(crate) fn into_raw(inner: Inner) -> RawFd {
    let inner = std::mem::ManuallyDrop::new(inner);
    // SAFETY: `inner` is never dropped, so each field is moved out exactly once (the
    // registration to be dropped: the new owner must hold the only reference to the file).
    let (readiness, socket) = unsafe { (std::ptr::read(&inner.readiness), std::ptr::read(&inner.socket)) };
    drop(readiness);
    oc_runtime::io::forget(socket.as_raw_fd());
    socket.into_raw_fd()
}

/// Implements the descriptor traits for a type with an `inner: Inner` field.
macro_rules! fd_traits {
    ($t: ty) => {
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.as_raw_fd()
            }
        }
        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.fd()
            }
        }
        impl std::os::fd::IntoRawFd for $t {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                crate::socket::into_raw(self.inner)
            }
        }
        impl std::os::fd::FromRawFd for $t {
            /// Takes over `fd` and puts it in non-blocking mode.
            ///
            /// # Panics
            ///
            /// Panics if the mode cannot be changed (not a valid descriptor).
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Self {
                // SAFETY: forwarded from the caller, who owns `fd`.
                let inner = unsafe { crate::socket::from_raw(fd) }.expect("set O_NONBLOCK on the descriptor");
                Self { inner }
            }
        }
        impl From<std::os::fd::OwnedFd> for $t {
            /// Takes over `fd` and puts it in non-blocking mode.
            ///
            /// # Panics
            ///
            /// Panics if the mode cannot be changed (not a socket).
            fn from(fd: std::os::fd::OwnedFd) -> Self {
                let inner =
                    crate::socket::Inner::new(socket2::Socket::from(fd)).expect("set O_NONBLOCK on the descriptor");
                Self { inner }
            }
        }
    };
}
pub(crate) use fd_traits;

/// Implements `Read` and `Write` for a stream type and a reference to it.
macro_rules! stream_io {
    ($t: ty) => {
        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(buf)
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                self.inner.read_vectored(bufs)
            }
        }
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(buf)
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                self.inner.read_vectored(bufs)
            }
        }
        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.write_vectored(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.write_vectored(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_io;

/// Implements the time-out accessors for a type with an `inner: Inner` field.
macro_rules! timeouts {
    ($t: ty) => {
        impl $t {
            /// Makes reads (receives) fail with `ErrorKind::TimedOut` after `timeout` without
            /// data; `None` waits forever. A zero duration is an error, as with std. The
            /// socket stays usable after a time-out.
            pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
                self.inner.set_read_timeout(timeout)
            }

            /// Makes writes (sends) fail with `ErrorKind::TimedOut` after `timeout` without
            /// progress; `None` waits forever.
            pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
                self.inner.set_write_timeout(timeout)
            }

            /// The read time-out.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.inner.read_timeout())
            }

            /// The write time-out.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.inner.write_timeout())
            }
        }
    };
}
pub(crate) use timeouts;
