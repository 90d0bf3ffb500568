//! An accept cancelled as a connection arrives: the accepted socket is either handed to the
//! coroutine (which drops it, closing it, when the cancellation unwinds at its next wait) or
//! never taken; it is never lost open. On io_uring the completion of an accept can race with
//! its cancellation.

mod support;

use std::time::{Duration, Instant};

#[test]
fn a_cancelled_accept_never_leaks_the_accepted_socket() {
    support::raise_nofile();
    support::on_each_backend(2, |backend| {
        {
            let listener = oc_net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let listener = std::sync::Arc::new(listener);
            let before = support::open_fds();
            let mut clients = Vec::new();
            for i in 0..1500 {
                let l = listener.clone();
                let acceptor = oc_runtime::spawn(move || {
                    let accepted = l.accept();
                    // Held across a wait, so that a pending cancellation unwinds here.
                    oc_runtime::sleep(Duration::from_secs(10));
                    drop(accepted);
                });
                if i % 2 == 1 {
                    oc_runtime::yield_now();
                }
                let client = std::net::TcpStream::connect(addr).unwrap();
                acceptor.cancel();
                let _ = acceptor.join();
                clients.push(client);
            }
            // Every connection the acceptors took was closed when they unwound; those they
            // did not take wait in the backlog and hold no descriptor of ours.
            let deadline = Instant::now() + Duration::from_secs(5);
            while support::open_fds() > before + clients.len() && Instant::now() < deadline {
                oc_runtime::sleep(Duration::from_millis(10));
            }
            let leaked = support::open_fds().saturating_sub(before + clients.len());
            assert_eq!(leaked, 0, "{backend:?}: accepted sockets left open by cancelled accepts");
        }
    });
}
