//! `Exchange`: what became of each half of a write and a read made in one step.

use std::io;

/// What became of a write and the read that follows it in one step
/// ([`TcpStream::write_all_then_read`](crate::TcpStream::write_all_then_read) and
/// [`TcpStream::write_all_then_readable`](crate::TcpStream::write_all_then_readable)).
///
/// The halves fail apart, and mean different things for the connection. A failed write
/// leaves the peer with part of the message at most, and the read is abandoned: the
/// connection is of no further use. A read that fails after a whole write (typically
/// `TimedOut`, past the read time-out) leaves the message delivered and, after a time-out,
/// the connection usable.
///
/// ```no_run
/// use oc_net::Exchange;
///
/// # fn demo(stream: &oc_net::TcpStream) -> std::io::Result<()> {
/// let mut buf = [0u8; 4096];
/// match stream.write_all_then_read(b"ping\n", &mut buf) {
///     Exchange::Done(0) => println!("answered; the peer has finished"),
///     Exchange::Done(n) => println!("answered; next: {:?}", &buf[..n]),
///     Exchange::ReadFailed(e) if e.kind() == std::io::ErrorKind::TimedOut => println!("answered; idle"),
///     Exchange::ReadFailed(e) => return Err(e),
///     Exchange::WriteFailed(e) => return Err(e),
/// }
/// // Or, when either failure ends the conversation:
/// let n = stream.write_all_then_read(b"ping\n", &mut buf).into_result()?;
/// # let _ = n;
/// # Ok(())
/// # }
/// ```
#[must_use = "the write may have failed"]
#[derive(Debug)]
pub enum Exchange<T> {
    /// The write went out whole, and the read gave this: the bytes read (0 at the end of the
    /// stream) for `write_all_then_read`; for `write_all_then_readable`, `()`: the stream
    /// has something to read (or the wait ended early, and `try_read` says `WouldBlock`).
    Done(T),
    /// The write went out whole; the read (or the wait for something to read) failed:
    /// `TimedOut` past the read time-out, or the connection's error.
    ReadFailed(io::Error),
    /// The write failed (`TimedOut` past the write time-out, a reset connection, ...); the
    /// read was abandoned, and whatever it may already have received is dropped with it.
    WriteFailed(io::Error),
}

impl<T> Exchange<T> {
    /// Both halves as one result: the read's value, or whichever error happened.
    pub fn into_result(self) -> io::Result<T> {
        match self {
            Exchange::Done(value) => Ok(value),
            Exchange::ReadFailed(e) | Exchange::WriteFailed(e) => Err(e),
        }
    }

    /// Whether the write went out whole (the outcome is `Done` or `ReadFailed`).
    pub fn is_written(&self) -> bool {
        !matches!(self, Exchange::WriteFailed(_))
    }

    /// The outcome of the runtime's exchange call: the outer result is the write's, the
    /// inner one the read's.
    pub(crate) fn from_halves(halves: io::Result<io::Result<T>>) -> Exchange<T> {
        match halves {
            Ok(Ok(value)) => Exchange::Done(value),
            Ok(Err(e)) => Exchange::ReadFailed(e),
            Err(e) => Exchange::WriteFailed(e),
        }
    }
}
