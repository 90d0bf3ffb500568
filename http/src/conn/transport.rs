//! The transport a connection runs over (plain TCP, or TLS on it), and what the serve loop
//! asks of it beyond reading and writing.

use std::io::{self, Read, Write};

use oc_net::{Exchange, TcpStream};

/// What a connection runs over: a TCP stream, or TLS on one.
pub(crate) trait Transport: Read + Write {
    /// The TCP stream underneath (for time-outs and addresses).
    fn tcp(&self) -> &TcpStream;

    /// Whether the connection is encrypted (TLS).
    fn secure(&self) -> bool {
        false
    }

    /// Whether `write_all_then_wait` is one step whose write finishes even if the coroutine
    /// is cancelled meanwhile (so the connection may count as idle during it).
    fn one_step(&self) -> bool {
        false
    }

    /// Writes all of `out`, then waits until `read_ready` may find something to read. This
    /// default does not wait (`read_ready` blocks instead): right for a transport that may
    /// hold received bytes of its own (TLS).
    fn write_all_then_wait(&mut self, out: &[u8]) -> Exchange<()> {
        match self.write_all(out) {
            Ok(()) => Exchange::Done(()),
            Err(e) => Exchange::WriteFailed(e),
        }
    }

    /// Reads after `write_all_then_wait`: `WouldBlock` if nothing has arrived after all.
    fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    /// Whether `write_all_then_wait` waits until bytes have arrived (so that `read_ready`
    /// does not wait).
    fn waits_for_bytes(&self) -> bool {
        false
    }
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    fn one_step(&self) -> bool {
        oc_runtime::io::one_step_exchange()
    }

    fn write_all_then_wait(&mut self, out: &[u8]) -> Exchange<()> {
        // In one step (on io_uring, no system call of its own); with nothing to write, a wait.
        self.write_all_then_readable(out)
    }

    fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }

    fn waits_for_bytes(&self) -> bool {
        true
    }
}
