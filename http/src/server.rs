//! The server: listeners, a coroutine per connection, limits, graceful shutdown.
//!
//! # Shutdown
//!
//! 1. `ServerHandle::shutdown` sets `stopping` and cancels the accept loops: no new
//!    connection is taken (the listeners close as the loops unwind).
//! 2. Idle connections (waiting for their next request) are closed at once; busy ones finish
//!    the requests they have received, answer with `Connection: close`, and close.
//! 3. Past the grace period, whatever is still open is cancelled.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_net::TcpListener;
use oc_runtime::JoinHandle;

use crate::conn::{self, BUSY, CLOSING, IDLE};
use crate::{Limits, Router};

/// A live connection: its state (`conn::IDLE`/`BUSY`/`CLOSING`) and its coroutine.
type Connection = (Arc<AtomicU8>, JoinHandle<()>);

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) limits: Limits,
    /// Bytes of connections' receive buffers beyond the usual size (`Limits::max_body_memory`).
    pub(crate) body_memory: AtomicUsize,
    stopping: AtomicBool,
    active: AtomicUsize,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Connection>>,
    waiting_acceptors: Mutex<Vec<oc_runtime::task::Coroutine>>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// An HTTP/1.1 server.
///
/// ```no_run
/// use oc_http::{Request, Response, Router, Server};
/// oc_runtime::block_on(|| -> std::io::Result<()> {
///     let router = Router::new().get("/plaintext", |_: &Request| Response::text("Hello, World!"));
///     let server = Server::new(router).bind("127.0.0.1:8080")?.start();
///     server.join();
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    router: Router,
    limits: Limits,
    listeners: Vec<(TcpListener, Option<crate::TlsConfig>)>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("listeners", &self.listeners.len()).field("limits", &self.limits).finish()
    }
}

impl Server {
    /// A server for `router` with the default limits and no listener yet.
    pub fn new(router: Router) -> Server {
        Server { router, limits: Limits::default(), listeners: Vec::new() }
    }

    /// Sets the limits and timeouts.
    pub fn limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// Listens on `addr` too (`SO_REUSEADDR`, large backlog).
    pub fn bind<A: ToSocketAddrs>(mut self, addr: A) -> io::Result<Server> {
        self.listeners.push((TcpListener::bind(addr)?, None));
        Ok(self)
    }

    /// Listens on `addr` too, speaking TLS with `tls`.
    pub fn bind_tls<A: ToSocketAddrs>(mut self, addr: A, tls: crate::TlsConfig) -> io::Result<Server> {
        self.listeners.push((TcpListener::bind(addr)?, Some(tls)));
        Ok(self)
    }

    /// Listens on an existing listener too (plain TCP).
    pub fn listener(mut self, listener: TcpListener) -> Server {
        self.listeners.push((listener, None));
        self
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).collect()
    }

    /// Starts accepting on the runtime the caller runs on (the global runtime from a plain
    /// thread), one coroutine per listener and one per connection.
    pub fn start(self) -> ServerHandle {
        let addrs = self.local_addrs();
        let shared = Arc::new(Shared {
            router: self.router,
            limits: self.limits,
            body_memory: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            waiting_acceptors: Mutex::new(Vec::new()),
        });
        let acceptors = self
            .listeners
            .into_iter()
            .map(|(listener, tls)| {
                let shared = shared.clone();
                oc_runtime::spawn(move || accept_loop(listener, tls, shared))
            })
            .collect();
        ServerHandle { shared, acceptors: Mutex::new(acceptors), addrs }
    }
}

fn accept_loop(listener: TcpListener, tls: Option<crate::TlsConfig>, shared: Arc<Shared>) {
    loop {
        // At the connection limit, wait for a connection to end.
        while shared.active.load(Ordering::Acquire) >= shared.limits.max_connections {
            shared
                .waiting_acceptors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(oc_runtime::task::current().expect("in a coroutine"));
            if shared.active.load(Ordering::Acquire) >= shared.limits.max_connections {
                oc_runtime::task::park();
            }
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of descriptors and the like: back off briefly rather than spin.
                if shared.stopping() {
                    return;
                }
                static FAILED: crate::log::Limited = crate::log::Limited::new();
                crate::log::warn_limited!(FAILED, error = %e, "oc-http: accept failed");
                oc_runtime::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping() {
            return;
        }
        shared.active.fetch_add(1, Ordering::AcqRel);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(AtomicU8::new(BUSY));
        let (s2, st2) = (shared.clone(), state.clone());
        // The registry lock is held across the spawn so that the connection's own removal
        // (at its end) always finds its entry.
        let mut conns = shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        let tls = tls.clone();
        let handle = oc_runtime::spawn(move || {
            struct Done(Arc<Shared>, u64);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
                    let before = self.0.active.fetch_sub(1, Ordering::AcqRel);
                    if before >= self.0.limits.max_connections {
                        if let Some(c) = self.0.waiting_acceptors.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                            c.unpark();
                        }
                    }
                }
            }
            let _done = Done(s2.clone(), id);
            match tls {
                None => conn::serve(stream, &s2, &st2),
                Some(tls) => match rustls::ServerConnection::new(tls.config()) {
                    Ok(session) => conn::serve(rustls::StreamOwned::new(session, stream), &s2, &st2),
                    Err(e) => eprintln!("oc-http: cannot start a TLS session: {e}"),
                },
            }
        });
        conns.insert(id, (state, handle));
    }
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    acceptors: Mutex<Vec<JoinHandle<()>>>,
    addrs: Vec<SocketAddr>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("addrs", &self.addrs).finish()
    }
}

impl ServerHandle {
    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
    }

    /// Waits until the server has stopped accepting (after `shutdown`).
    pub fn join(&self) {
        let acceptors = std::mem::take(&mut *self.acceptors.lock().unwrap_or_else(|e| e.into_inner()));
        for a in acceptors {
            let _ = a.join();
        }
    }

    /// Graceful shutdown: stop accepting, close idle connections, let busy ones finish
    /// their requests, and after `grace` cancel whatever is left. Returns whether every
    /// connection ended within `grace`.
    pub fn shutdown(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        self.shared.stopping.store(true, Ordering::Release);
        let acceptors = std::mem::take(&mut *self.acceptors.lock().unwrap_or_else(|e| e.into_inner()));
        for a in &acceptors {
            a.cancel();
        }
        for c in self.shared.waiting_acceptors.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            c.unpark();
        }
        for a in acceptors {
            let _ = a.join();
        }
        // Idle connections close now; busy ones see `stopping` after their requests.
        for (state, handle) in self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()).values() {
            if state.compare_exchange(IDLE, CLOSING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                handle.cancel();
            }
        }
        while self.connections() > 0 && Instant::now() < deadline {
            oc_runtime::sleep(Duration::from_millis(5));
        }
        let clean = self.connections() == 0;
        if !clean {
            for (_, handle) in self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()).values() {
                handle.cancel();
            }
        }
        clean
    }
}
