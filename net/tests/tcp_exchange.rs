//! `TcpStream::write_all_then_read` and `write_all_then_readable`: a response written whole
//! and the next request read (or waited for) in one step, with short writes, time-outs on
//! either side, a reset peer, and cancellation; each outcome an `Exchange`.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use oc_net::{Exchange, TcpListener, TcpStream};

/// A pair of connected streams: (the side under test, its peer).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, client)
}

/// A pair whose socket buffers hold little (the kernel's defaults may let tens of MiB sit in
/// a loopback connection that nobody reads), so that a few MiB keep a writer waiting.
fn small_buffered_pair() -> (TcpStream, TcpStream) {
    let (server, client) = pair();
    socket2::SockRef::from(&server).set_send_buffer_size(64 << 10).unwrap();
    socket2::SockRef::from(&client).set_recv_buffer_size(64 << 10).unwrap();
    (server, client)
}

#[test]
fn request_response_rounds_go_through_in_order() {
    support::on_each_backend(2, |backend| {
        let (server, mut client) = pair();
        let rounds = 200;
        let answering = oc_runtime::spawn(move || {
            let mut buf = [0u8; 64];
            let mut n = server.read_at_least(&mut buf);
            for round in 1..=rounds {
                let answer = format!("answer {round} to {}\n", String::from_utf8_lossy(&buf[..n]).trim());
                n = server.write_all_then_read(answer.as_bytes(), &mut buf).into_result().unwrap();
                if n == 0 {
                    return round;
                }
            }
            0
        });
        let mut reader = std::io::BufReader::new(client.try_clone().unwrap());
        for round in 1..=rounds {
            client.write_all(format!("question {round}\n").as_bytes()).unwrap();
            let mut line = String::new();
            std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
            assert_eq!(line, format!("answer {round} to question {round}\n"), "{backend:?}");
        }
        client.shutdown(std::net::Shutdown::Write).unwrap();
        // The last answer is read by the peer, then the end of the stream ends the loop.
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert_eq!(answering.join().unwrap(), rounds, "{backend:?}");
    });
}

trait ReadSome {
    fn read_at_least(&self, buf: &mut [u8]) -> usize;
}

impl ReadSome for TcpStream {
    fn read_at_least(&self, buf: &mut [u8]) -> usize {
        let n = (&mut &*self).read(buf).unwrap();
        assert!(n > 0);
        n
    }
}

#[test]
fn a_response_larger_than_the_socket_buffers_is_sent_whole_while_the_read_waits() {
    support::on_each_backend(2, |backend| {
        let (server, client) = small_buffered_pair();
        // Far more than the socket buffers hold: the first send comes back short, and the
        // peer sends its next request only once it has the whole response (a short send
        // that did not wake the sender would leave both waiting for ever).
        let big: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = big.clone();
        let reader = oc_runtime::spawn(move || {
            let mut client = client;
            let mut got = vec![0u8; expected.len()];
            // Slowly at first, so that the sender's buffer fills up.
            oc_runtime::sleep(Duration::from_millis(50));
            client.read_exact(&mut got).unwrap();
            assert!(got == expected, "the response arrived damaged");
            client.write_all(b"next").unwrap();
            client
        });
        let mut buf = [0u8; 16];
        let n = server.write_all_then_read(&big, &mut buf).into_result().unwrap();
        assert_eq!(&buf[..n], b"next", "{backend:?}");
        reader.join().unwrap();
    });
}

#[test]
fn the_read_times_out_after_a_whole_write() {
    support::on_each_backend(2, |backend| {
        let (server, mut client) = pair();
        server.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = vec![0x55u8; 32];
        let start = Instant::now();
        let exchange = server.write_all_then_read(b"hello", &mut buf);
        let waited = start.elapsed();
        assert!(exchange.is_written(), "{backend:?}: {exchange:?}");
        match exchange {
            Exchange::ReadFailed(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{backend:?}"),
            other => panic!("{backend:?}: expected the read to time out, got {other:?}"),
        }
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(800), "{backend:?}: {waited:?}");
        assert!(buf.iter().all(|&b| b == 0x55), "{backend:?}: the timed-out read's buffer was written to");
        let mut hello = [0u8; 5];
        client.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"hello");
        // The stream stays usable.
        client.write_all(b"late").unwrap();
        let n = server.write_all_then_read(b"!", &mut buf).into_result().unwrap();
        assert_eq!(&buf[..n], b"late", "{backend:?}");
    });
}

#[test]
fn the_write_times_out_when_the_peer_does_not_read() {
    support::on_each_backend(2, |backend| {
        let (server, _client) = small_buffered_pair();
        server.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
        // A bound on the read, far from the write's, so that a write that wrongly completes
        // fails the test instead of hanging it.
        server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let big = vec![1u8; 32 << 20];
        let mut buf = [0u8; 16];
        let start = Instant::now();
        let exchange = server.write_all_then_read(&big, &mut buf);
        assert!(!exchange.is_written(), "{backend:?}: {exchange:?}");
        match exchange {
            Exchange::WriteFailed(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{backend:?}: {e}"),
            other => panic!("{backend:?}: expected the write to time out, got {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(2), "{backend:?}: the read timed out, not the write");
    });
}

#[test]
fn the_write_before_a_wait_times_out_when_the_peer_does_not_read() {
    support::on_each_backend(2, |backend| {
        let (server, _client) = small_buffered_pair();
        server.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let big = vec![1u8; 32 << 20];
        let start = Instant::now();
        let exchange = server.write_all_then_readable(&big);
        assert!(!exchange.is_written(), "{backend:?}: {exchange:?}");
        match exchange {
            Exchange::WriteFailed(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{backend:?}: {e}"),
            other => panic!("{backend:?}: expected the write to time out, got {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(2), "{backend:?}: the wait timed out, not the write");
    });
}

/// A peer that has reset the connection: the write fails and the read is abandoned (the call
/// does not wait for the read time-out), for both forms of the exchange.
#[test]
fn a_write_to_a_reset_connection_fails_as_the_write() {
    support::on_each_backend(2, |backend| {
        for readable in [false, true] {
            let (server, client) = pair();
            server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // Closed with unread bytes and a zero linger: the peer sends a reset.
            socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO)).unwrap();
            drop(client);
            oc_runtime::sleep(Duration::from_millis(50));
            let start = Instant::now();
            let mut buf = [0u8; 16];
            let exchange = if readable {
                server.write_all_then_readable(b"to nobody").map_done()
            } else {
                server.write_all_then_read(b"to nobody", &mut buf)
            };
            assert!(start.elapsed() < Duration::from_secs(3), "{backend:?}: the call waited for the read");
            match exchange {
                Exchange::WriteFailed(e) => assert!(
                    matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
                    "{backend:?}, readable {readable}: {e}"
                ),
                other => panic!("{backend:?}, readable {readable}: expected the write to fail, got {other:?}"),
            }
        }
    });
}

/// The outcome with the value of `write_all_then_readable` replaced by 0, so that both forms
/// of the exchange can be compared by one match.
trait MapDone {
    fn map_done(self) -> Exchange<usize>;
}

impl MapDone for Exchange<()> {
    fn map_done(self) -> Exchange<usize> {
        match self {
            Exchange::Done(()) => Exchange::Done(0),
            Exchange::ReadFailed(e) => Exchange::ReadFailed(e),
            Exchange::WriteFailed(e) => Exchange::WriteFailed(e),
        }
    }
}

/// `into_result` gives the read's value, or either half's error.
#[test]
fn an_exchange_flattens_into_one_result() {
    support::on_each_backend(2, |backend| {
        let (server, mut client) = pair();
        server.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        client.write_all(b"waiting").unwrap();
        let mut buf = [0u8; 16];
        let exchange = server.write_all_then_read(b"one", &mut buf);
        assert!(exchange.is_written(), "{backend:?}");
        assert_eq!(exchange.into_result().unwrap(), 7, "{backend:?}");
        assert_eq!(&buf[..7], b"waiting");
        let err = server.write_all_then_read(b"two", &mut buf).into_result().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{backend:?}");
        let mut got = [0u8; 6];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"onetwo", "{backend:?}");
    });
}

#[test]
fn a_cancelled_exchange_still_delivers_its_response() {
    support::on_each_backend(2, |backend| {
        let (server, mut client) = small_buffered_pair();
        let response: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 253) as u8).collect();
        let expected = response.clone();
        let exchange = oc_runtime::spawn(move || {
            assert_eq!(oc_runtime::io::one_step_exchange(), backend == oc_runtime::IoBackend::Uring);
            let mut buf = [0u8; 16];
            let _ = server.write_all_then_read(&response, &mut buf);
            unreachable!("a cancelled exchange unwinds");
        });
        // Cancelled while the response is still on its way (the peer has not read yet).
        oc_runtime::sleep(Duration::from_millis(50));
        exchange.cancel();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        if backend == oc_runtime::IoBackend::Uring {
            // One step: the send finishes before the coroutine unwinds.
            assert!(got == expected, "{backend:?}: {} of {} bytes arrived", got.len(), expected.len());
        } else {
            // An ordinary write, interrupted: what arrived is a prefix.
            assert!(got.len() < expected.len() && expected.starts_with(&got), "{backend:?}: {} bytes", got.len());
        }
        assert!(exchange.join().unwrap_err().is_cancelled(), "{backend:?}");
    });
}

/// Readiness with nothing left to read (another reader of the same socket took the bytes
/// first): the exchange waits again and returns the bytes that come next, never an empty read
/// (which would look like the end of the stream) or an error.
#[test]
fn an_exchange_woken_for_bytes_another_reader_took_waits_for_the_next() {
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    support::on_each_backend(2, |backend| {
        for round in 0..20 {
            let (server, mut client) = pair();
            // A plain thread spinning on a non-blocking receive of the same socket: it sees
            // the bytes long before the exchange's coroutine is woken for them.
            let thief = server.try_clone().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = stop.clone();
            let stealing = std::thread::spawn(move || {
                let mut b = [0u8; 16];
                while !stopped.load(Ordering::Relaxed) {
                    // SAFETY: a receive into a local buffer on a descriptor `thief` keeps open.
                    let n =
                        unsafe { libc::recv(thief.as_raw_fd(), b.as_mut_ptr().cast(), b.len(), libc::MSG_DONTWAIT) };
                    if n > 0 {
                        return b[..n as usize].to_vec();
                    }
                    std::hint::spin_loop();
                }
                Vec::new()
            });
            let exchange = oc_runtime::spawn(move || {
                let mut buf = [0u8; 64];
                let n = server.write_all_then_read(b"ready", &mut buf).into_result().unwrap();
                buf[..n].to_vec()
            });
            let mut ready = [0u8; 5];
            client.read_exact(&mut ready).unwrap();
            client.write_all(b"first").unwrap();
            oc_runtime::sleep(Duration::from_millis(20));
            stop.store(true, Ordering::Relaxed);
            let stolen = stealing.join().unwrap();
            if !stolen.is_empty() {
                client.write_all(b"second").unwrap();
            }
            let got = exchange.join().unwrap();
            assert!(
                (stolen.is_empty() && got == b"first") || (stolen == b"first" && got == b"second"),
                "{backend:?}, round {round}: the thief took {stolen:?}, the exchange got {got:?}"
            );
        }
    });
}

#[test]
fn write_all_then_readable_waits_for_bytes_that_try_read_then_takes() {
    support::on_each_backend(2, |backend| {
        let (server, mut client) = small_buffered_pair();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        // Nothing has arrived: a read without waiting says so.
        assert_eq!(server.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock, "{backend:?}");
        // A response larger than both sockets' buffers goes out whole while the peer reads
        // it, then the wait ends when the peer's next request arrives.
        let big: Vec<u8> = (0..4u32 << 20).map(|i| i as u8).collect();
        let expected = big.clone();
        let peer = std::thread::spawn(move || {
            let mut got = vec![0u8; expected.len()];
            client.read_exact(&mut got).unwrap();
            assert!(got == expected, "the response arrived altered");
            std::thread::sleep(Duration::from_millis(50));
            client.write_all(b"next").unwrap();
            client
        });
        server.write_all_then_readable(&big).into_result().unwrap();
        // The wait may end early (the read then says `WouldBlock`): wait again, alone.
        let n = loop {
            match server.try_read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => server.readable().unwrap(),
                Err(e) => panic!("{backend:?}: {e}"),
            }
        };
        assert_eq!(&buf[..n], b"next", "{backend:?}");
        let mut client = peer.join().unwrap();
        // The wait is bounded by the read time-out, and the end of the stream reads as 0.
        server.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let start = Instant::now();
        match server.write_all_then_readable(b"bye") {
            Exchange::ReadFailed(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{backend:?}"),
            other => panic!("{backend:?}: expected the wait to time out, got {other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(100), "{backend:?}: {:?}", start.elapsed());
        // (Read before closing: a close with unread bytes resets the connection.)
        let mut bye = [0u8; 3];
        client.read_exact(&mut bye).unwrap();
        assert_eq!(&bye, b"bye");
        drop(client);
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        server.readable().unwrap();
        assert_eq!(server.try_read(&mut buf).unwrap(), 0, "{backend:?}");
    });
}

/// Reads `stream` to its end, failing the test if that takes more than a second (a socket
/// kept open by a wait nobody cancelled would never end).
fn end_within_a_second(mut stream: TcpStream, backend: oc_runtime::IoBackend, what: &str) {
    stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => panic!("{backend:?}: {what}: the peer's end did not come ({e})"),
    }
}

/// Waits that begin while bytes are already waiting end at once, whether the bytes came
/// before the first wait, were left by a read that filled its buffer, or were left by a read
/// that went around the stream (its raw descriptor); and so does a wait after the end of the
/// stream.
#[test]
fn waits_end_at_once_while_bytes_are_waiting() {
    use std::os::fd::AsRawFd;
    support::on_each_backend(2, |backend| {
        let (server, mut client) = pair();
        server.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let message: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&message).unwrap();
        oc_runtime::sleep(Duration::from_millis(50));
        let quick = |what: &str| {
            let start = Instant::now();
            server.readable().unwrap();
            assert!(start.elapsed() < Duration::from_secs(1), "{backend:?}: {what}: waited {:?}", start.elapsed());
        };
        quick("bytes before the first wait");
        // Reads of 10 bytes each leave the rest waiting: every wait ends at once.
        let mut got = Vec::new();
        let mut buf = [0u8; 10];
        while got.len() < 500 {
            let n = server.try_read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            quick("after a read that filled its buffer");
        }
        // The same through `Read`, and in a response's wait.
        let n = (&server).read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        let start = Instant::now();
        server.write_all_then_readable(b"ok").into_result().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{backend:?}: the response's wait took {:?}",
            start.elapsed()
        );
        // A read around the stream.
        // SAFETY: a receive into a local buffer on the open descriptor of `server`.
        let n = unsafe { libc::recv(server.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        assert_eq!(n, 10, "{backend:?}");
        got.extend_from_slice(&buf);
        quick("after a read around the stream");
        let mut rest = vec![0u8; 1000];
        let n = server.try_read(&mut rest).unwrap();
        got.extend_from_slice(&rest[..n]);
        assert!(got == message, "{backend:?}: the bytes arrived altered");
        let mut ok = [0u8; 2];
        client.read_exact(&mut ok).unwrap();
        // The end of the stream: found by a wait, read as 0, and found again by the next wait.
        drop(client);
        quick("at the end of the stream");
        assert_eq!(server.try_read(&mut buf).unwrap(), 0, "{backend:?}");
        quick("after reading the end of the stream");
    });
}

/// A stream that waited is closed when it is dropped, wherever that happens: in the coroutine
/// that waited, on a plain thread, or after it was turned into a std stream (the wait must
/// not keep the socket open).
#[test]
fn a_stream_that_waited_closes_when_dropped() {
    support::on_each_backend(2, |backend| {
        for how in ["in its coroutine", "on a plain thread", "as a std stream"] {
            let (server, mut client) = pair();
            let waited = oc_runtime::spawn(move || {
                server.write_all_then_readable(b"hi").into_result().unwrap();
                let mut buf = [0u8; 8];
                assert_eq!(server.try_read(&mut buf).unwrap(), 2);
                server
            });
            let mut hi = [0u8; 2];
            client.read_exact(&mut hi).unwrap();
            client.write_all(b"yo").unwrap();
            let server = waited.join().unwrap();
            match how {
                "in its coroutine" => drop(server),
                "on a plain thread" => std::thread::spawn(move || drop(server)).join().unwrap(),
                _ => {
                    let std_stream = server.into_std().unwrap();
                    std::thread::spawn(move || drop(std_stream)).join().unwrap();
                }
            }
            end_within_a_second(client, backend, how);
        }
    });
}

/// A wait cancelled while its response cannot leave yet (the socket's send buffer is full)
/// lets the response go whole, then ends: the send's completion must wake the coroutine even
/// though a whole send completes quietly while the wait goes on.
#[test]
fn a_cancelled_wait_still_delivers_its_response_then_ends() {
    use std::os::fd::AsRawFd;
    support::on_each_backend(2, |backend| {
        let (server, mut client) = small_buffered_pair();
        // Fill the peer's receive window and then the send buffer without waiting, to the
        // last byte they take (until a pause lets nothing more in: acknowledgements free
        // send-buffer space for a while).
        let chunk = [7u8; 4096];
        let mut queued = 0usize;
        let mut still = 0;
        while still < 3 {
            let before = queued;
            for len in [4096, 1] {
                loop {
                    // SAFETY: a send from a local buffer on the open descriptor of `server`.
                    let n = unsafe {
                        libc::send(
                            server.as_raw_fd(),
                            chunk.as_ptr().cast(),
                            len,
                            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                        )
                    };
                    if n < 0 {
                        break;
                    }
                    queued += n as usize;
                }
            }
            still = if queued == before { still + 1 } else { 0 };
            oc_runtime::sleep(Duration::from_millis(20));
        }
        let waiting = oc_runtime::spawn(move || {
            let _ = server.write_all_then_readable(b"the response");
            unreachable!("a cancelled wait unwinds");
        });
        oc_runtime::sleep(Duration::from_millis(50));
        waiting.cancel();
        oc_runtime::sleep(Duration::from_millis(50));
        // The stream closes once the coroutine has unwound, which it does once the response
        // has gone: a coroutine left asleep would keep the connection open.
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        if let Err(e) = client.read_to_end(&mut got) {
            panic!("{backend:?}: the connection did not end after the response went ({e})");
        }
        assert!(got[..queued].iter().all(|&b| b == 7), "{backend:?}");
        if backend == oc_runtime::IoBackend::Uring {
            assert_eq!(&got[queued..], b"the response", "{backend:?}");
        } else {
            // An ordinary write, interrupted: what arrived is a prefix.
            assert!(b"the response".starts_with(&got[queued..]), "{backend:?}");
        }
        let mut waiting = waiting;
        let joined = waiting.timeout_join(Duration::from_secs(2));
        assert!(joined.unwrap_err().is_cancelled(), "{backend:?}: the coroutine did not end after its response went");
    });
}

/// `connections` plain threads, each connected to `addr`, sending `rounds` numbered 4-byte
/// requests one at a time and checking that each comes back as it went.
fn echo_clients(addr: std::net::SocketAddr, connections: u32, rounds: u32) -> Vec<std::thread::JoinHandle<()>> {
    (0..connections)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = std::net::TcpStream::connect(addr).unwrap();
                client.set_nodelay(true).unwrap();
                for round in 0..rounds {
                    let request = (round * connections + c).to_le_bytes();
                    client.write_all(&request).unwrap();
                    let mut answer = [0u8; 4];
                    client.read_exact(&mut answer).unwrap();
                    assert_eq!(answer, request);
                }
            })
        })
        .collect()
}

#[test]
fn readiness_waits_stay_right_while_coroutines_move_between_workers() {
    // Two workers, many connections, and coroutines that hold a worker now and then: the
    // other steals, and a stolen coroutine waits on the standing poll its first worker armed
    // (kept there while that worker's thread drives it). Every answer must come, whole and in
    // order, wherever the coroutine runs when its request arrives.
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = 32;
        let rounds = 100u32;
        let server = oc_runtime::spawn(move || {
            let mut served = Vec::new();
            for _ in 0..connections {
                let (stream, _) = listener.accept().unwrap();
                served.push(oc_runtime::spawn(move || {
                    let mut buf = [0u8; 4];
                    stream.readable().unwrap();
                    let mut answered = 0u32;
                    loop {
                        match (&mut &stream).read(&mut buf) {
                            Ok(0) => return answered,
                            Ok(n) => {
                                assert_eq!(n, 4);
                                // Now and then hold the worker a little: its queue is stolen.
                                if u32::from_le_bytes(buf) % 7 == 0 {
                                    let start = Instant::now();
                                    while start.elapsed() < Duration::from_micros(200) {
                                        std::hint::spin_loop();
                                    }
                                }
                                stream.write_all_then_readable(&buf).into_result().unwrap();
                                answered += 1;
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => stream.readable().unwrap(),
                            Err(e) => panic!("read: {e}"),
                        }
                    }
                }));
            }
            served.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
        });
        let clients = echo_clients(addr, connections, rounds);
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(server.join().unwrap(), rounds * connections, "{backend:?}");
    });
}

#[test]
fn standing_polls_even_out_across_workers() {
    // One coroutine answers every connection's first request, so the standing polls are all
    // armed on its worker's ring. Then a coroutine per connection serves the rest, holding its
    // worker a little now and then so that the other steals: a stolen coroutine moves its poll
    // to the thief's ring while the first holds more, and the counts end even. Without that,
    // the first worker would receive every wake-up for as long as the connections live.
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = 32u32;
        let rounds = 100u32;
        let clients = echo_clients(addr, connections, rounds);
        let mut streams: Vec<_> = (0..connections).map(|_| listener.accept().unwrap().0).collect();
        for stream in &mut streams {
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).unwrap();
            // The answer, then the wait for the next request: on this coroutine's ring.
            stream.write_all_then_readable(&buf).into_result().unwrap();
        }
        let polls = || {
            let m = oc_runtime::current_metrics().unwrap();
            m.per_worker.iter().map(|w| w.standing_polls).collect::<Vec<_>>()
        };
        let before = polls();
        let served: Vec<_> = streams
            .into_iter()
            .map(|mut stream| {
                oc_runtime::spawn(move || {
                    let mut buf = [0u8; 4];
                    for _ in 1..rounds {
                        stream.read_exact(&mut buf).unwrap();
                        if u32::from_le_bytes(buf) % 5 == 0 {
                            let start = Instant::now();
                            while start.elapsed() < Duration::from_micros(300) {
                                std::hint::spin_loop();
                            }
                        }
                        stream.write_all_then_readable(&buf).into_result().unwrap();
                    }
                    stream
                })
            })
            .collect();
        let streams: Vec<_> = served.into_iter().map(|h| h.join().unwrap()).collect();
        for c in clients {
            c.join().unwrap();
        }
        let after = polls();
        match backend {
            oc_runtime::IoBackend::Uring => {
                assert_eq!(before.iter().sum::<usize>(), connections as usize, "{before:?}");
                assert_eq!(after.iter().sum::<usize>(), connections as usize, "{after:?}");
                assert!(after[0].abs_diff(after[1]) <= 4, "standing polls per worker {before:?} -> {after:?}");
            }
            _ => assert!(before == [0, 0] && after == [0, 0], "epoll holds no standing polls: {before:?} -> {after:?}"),
        }
        drop(streams);
    });
}
