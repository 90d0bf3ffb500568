//! No descriptor leaks across many connect/close cycles.

mod support;

use std::io::{Read, Write};

use oc_net::{TcpListener, TcpStream};

#[test]
fn ten_thousand_connect_close_cycles_leak_no_descriptor() {
    const CYCLES: usize = 10_000;
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = oc_runtime::spawn(move || {
            for _ in 0..CYCLES {
                let (mut s, _) = listener.accept().unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                s.write_all(&b).unwrap();
            }
        });
        // Warm up (the reactor's own descriptors, lazily created ones), then count.
        let before = support::open_fds();
        for i in 0..CYCLES {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(&[i as u8]).unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
            assert_eq!(b[0], i as u8);
        }
        server.join().unwrap();
        let after = support::open_fds();
        // The listener was closed when the server coroutine finished.
        assert!(after < before, "{backend:?}: {before} descriptors before, {after} after");
        assert_eq!(after, before - 1, "{backend:?}: descriptors leaked");
    });
}
