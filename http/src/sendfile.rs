//! A file as a response body: over plain TCP the kernel copies it to the socket
//! (`sendfile(2)`, the head sent just before with `MSG_MORE` so that both leave in one
//! packet); over TLS, where the bytes must be encrypted here, it is read and written.
//!
//! `sendfile` has no io_uring form: on either reactor the coroutine waits for the socket to
//! become writable (`oc_runtime::io::wait`), then copies again. Like the file's open, the
//! copy reads the page cache in the worker's thread: a file not in it blocks the worker while
//! the disk is read (`docs/caveats.md`).

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::Limits;
use crate::conn::Transport;

/// A file's bytes `[start, start + len)`, to be sent as a response body.
pub(crate) struct FileBody {
    pub(crate) file: oc_runtime::fs::File,
    pub(crate) start: u64,
    pub(crate) len: u64,
}

/// Files up to this size are read whole into the send buffer after their head over TLS (one
/// encrypted write); larger ones are read and sent this much at a time.
const READ_WHOLE: u64 = 64 * 1024;

/// Over plain TCP, files up to this size are read into the send buffer after their head and
/// leave with the connection's other answers, in its usual send (on io_uring, queued with
/// the worker's other sends): one `pread` in place of a `send` of the head and a `sendfile`.
/// Larger ones go through `sendfile`, which copies no byte through user space.
const INLINE_FILE: u64 = 16 * 1024;

/// Reads `body` into `out` after what is there (its head) when it is small enough to leave
/// with it (see `INLINE_FILE`; and within `max_output`): whether it did. A read that fails
/// leaves `out` as it was, for `send_file` to try (and report).
pub(crate) fn inline_small_file(out: &mut Vec<u8>, body: &FileBody, max_output: usize) -> bool {
    if body.len > INLINE_FILE || out.len() + body.len as usize > max_output {
        return false;
    }
    let head = out.len();
    out.resize(head + body.len as usize, 0);
    if read_exact_at(&body.file, &mut out[head..], body.start).is_err() {
        out.truncate(head);
        return false;
    }
    true
}

/// The most `sendfile` is asked to copy at once, and how much is sent between two yields to
/// the worker's other coroutines (a fast client would otherwise take the worker for the
/// whole file).
const SLICE: usize = 256 * 1024;

/// Sends `out` (the answers before it and `body`'s head) and then `body`. `send` writes
/// through the connection (TLS included), with its clock and limits. Returns the bytes sent
/// after `out` through the kernel's copy, which `send` did not see (0 over TLS); an error
/// ends the connection (the client sees a body shorter than announced).
pub(crate) fn send_file<S: Transport>(
    stream: &mut S,
    out: &mut Vec<u8>,
    body: FileBody,
    limits: &Limits,
    mut send: impl FnMut(&mut S, &[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    if stream.secure() {
        encrypted(stream, out, body, &mut send)?;
        return Ok(0);
    }
    // Each wait within the write time-out, and all of them no later than the minimum send
    // rate allows for the bytes sent so far (the limits `send` applies to its writes),
    // counted from the first reading of the clock, for the head (one reading per file sent
    // without waiting).
    let mut began = None;
    let mut deadline = |sent: u64| -> io::Result<Option<Instant>> {
        let now = Instant::now();
        let began = *began.get_or_insert(now);
        let each = now.checked_add(limits.write_timeout);
        if limits.min_send_rate == 0 {
            return Ok(each);
        }
        let allowed = limits.write_timeout.saturating_add(Duration::from_secs(sent / limits.min_send_rate));
        let overall = began.checked_add(allowed);
        if overall.is_some_and(|o| o <= now) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the client takes its answers too slowly"));
        }
        Ok(match (each, overall) {
            (Some(e), Some(o)) => Some(e.min(o)),
            (e, o) => e.or(o),
        })
    };
    let socket = stream.tcp().as_fd();
    let more = if body.len > 0 { crate::sys::MSG_MORE } else { 0 };
    let mut head: &[u8] = out;
    while !head.is_empty() {
        match oc_runtime::io::send(socket, head, more, deadline(0)?) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => head = &head[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.clear();
    let file = body.file.as_fd();
    let (mut offset, end) = (body.start, body.start + body.len);
    let mut unyielded = 0usize;
    while offset < end {
        let want = ((end - offset) as usize).min(SLICE);
        match crate::sys::sendfile(socket, file, &mut offset, want) {
            // The file is shorter than when it was measured: the body cannot be completed.
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while being sent")),
            Ok(n) => {
                unyielded += n;
                if unyielded >= SLICE && offset < end {
                    unyielded = 0;
                    oc_runtime::yield_now();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                oc_runtime::io::wait(socket, oc_runtime::io::Interest::Writable, deadline(offset - body.start)?)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(body.len)
}

/// `send_file` over TLS: a small file read into `out` after its head and sent with it, a
/// larger one read and sent a slice at a time.
fn encrypted<S: Transport>(
    stream: &mut S,
    out: &mut Vec<u8>,
    body: FileBody,
    send: &mut impl FnMut(&mut S, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let (start, end) = (body.start, body.start + body.len);
    if body.len <= READ_WHOLE {
        let head = out.len();
        out.resize(head + body.len as usize, 0);
        read_exact_at(&body.file, &mut out[head..], start)?;
        send(stream, out)?;
        out.clear();
        return Ok(());
    }
    send(stream, out)?;
    out.clear();
    let mut buf = vec![0u8; READ_WHOLE as usize];
    let mut pos = start;
    while pos < end {
        let want = ((end - pos) as usize).min(buf.len());
        read_exact_at(&body.file, &mut buf[..want], pos)?;
        send(stream, &buf[..want])?;
        pos += want as u64;
    }
    Ok(())
}

/// Fills `buf` from `file` at `offset`; a file that ends first has shrunk since it was
/// measured (`UnexpectedEof`).
fn read_exact_at(file: &oc_runtime::fs::File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while being sent")),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
