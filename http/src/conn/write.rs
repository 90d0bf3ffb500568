//! Writing to the client: every write of a connection goes through `send`, which holds it
//! to the write time-out and the minimum send rate (`SendClock`), and lets the worker's other
//! coroutines run after a long stretch of writing.

use std::io::{self, Write};
use std::time::Duration;

use super::transport::Transport;
use crate::Limits;

/// The time a connection's writes have waited, and what they sent, for the minimum send
/// rate (`Limits::min_send_rate`). Only writes through `send` count: on io_uring the usual
/// batch (at most `max_output` bytes) goes out with the next read, under the write time-out
/// alone. Time is counted in the `Date` ticker's seconds (an atomic load, no clock reading):
/// a rate allowed `write_timeout` of grace is not hurt by a second more or less.
#[derive(Default)]
pub(super) struct SendClock {
    /// Time spent in `send`, in whole seconds of the ticker.
    spent: u64,
    /// Bytes given to `send`.
    pub(super) sent: u64,
    /// Bytes given to `send` since it last let other coroutines run.
    unyielded: u64,
}

/// A connection that has written this much without a pause lets the other coroutines of its
/// worker run (the kernel's buffers may take many MiB at once on a fast link: without it, a
/// thousand clients asking for large files would each fill theirs before anyone else is
/// answered).
const YIELD_EVERY: u64 = 256 * 1024;

/// Writes all of `data` (and flushes it, for TLS), each wait at most the write time-out, and
/// the whole no later than the minimum send rate allows: the connection's writes may have
/// waited `write_timeout` plus the time its bytes take at `min_send_rate`, in all. (Out of
/// line: the connection's loop stays small.)
#[inline(never)]
pub(super) fn send<S: Transport>(
    stream: &mut S,
    clock: &mut SendClock,
    limits: &Limits,
    mut data: &[u8],
) -> io::Result<()> {
    let began = crate::date::second();
    let len = data.len() as u64;
    clock.sent += len;
    let sent = clock.sent;
    let spent = clock.spent;
    // Each write waits at most the write time-out, and not past what the writes may still
    // wait in all (whole seconds); the socket's time-out is changed only when that is shorter.
    let mut shortened = false;
    let mut wait = |stream: &mut S| -> io::Result<()> {
        if limits.min_send_rate == 0 {
            return Ok(());
        }
        let grace = limits.write_timeout.as_secs() + u64::from(limits.write_timeout.subsec_nanos() > 0);
        let allowed = (grace + sent / limits.min_send_rate).saturating_sub(spent);
        let left = allowed.saturating_sub(crate::date::second().saturating_sub(began));
        if left == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the client takes its answers too slowly"));
        }
        let left = Duration::from_secs(left);
        if left < limits.write_timeout {
            let _ = stream.tcp().set_write_timeout(Some(left));
            shortened = true;
        }
        Ok(())
    };
    let result = (|| {
        // Before any wait was counted, the first write cannot need a shorter time-out.
        let mut first = spent == 0;
        while !data.is_empty() {
            if !std::mem::take(&mut first) {
                wait(stream)?;
            }
            match stream.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // TLS: the records still buffered (a plain socket has none).
        if spent > 0 {
            wait(stream)?;
        }
        stream.flush()
    })();
    if shortened {
        let _ = stream.tcp().set_write_timeout(Some(limits.write_timeout));
    }
    clock.spent += crate::date::second().saturating_sub(began);
    clock.unyielded += len;
    if clock.unyielded >= YIELD_EVERY && result.is_ok() {
        clock.unyielded = 0;
        oc_runtime::yield_now();
    }
    result
}

/// Writes `out` and then `body`, which does not fit in `max_output` with it: the body goes
/// from where it lies rather than be copied.
#[cold]
#[inline(never)]
pub(super) fn send_beside<S: Transport>(
    stream: &mut S,
    clock: &mut SendClock,
    limits: &Limits,
    out: &mut Vec<u8>,
    body: &[u8],
) -> io::Result<()> {
    send(stream, clock, limits, out)?;
    out.clear();
    send(stream, clock, limits, body)
}

/// What a streamed body is written through: `send` with the connection's clock.
pub(super) struct Sender<'a, S> {
    pub(super) stream: &'a mut S,
    pub(super) clock: &'a mut SendClock,
    pub(super) limits: &'a Limits,
}

impl<S: Transport> Sender<'_, S> {
    pub(super) fn send(&mut self, data: &[u8]) -> io::Result<()> {
        send(self.stream, self.clock, self.limits, data)
    }
}

impl<S: Transport> Write for Sender<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.send(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
