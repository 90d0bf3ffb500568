//! The server: listeners, a coroutine per connection, limits, graceful shutdown.
//!
//! # Shutdown
//!
//! 1. `ServerHandle::shutdown` sets `stopping` and shuts the listening sockets down
//!    (`shutdown(2)`): an accept under way fails, connections still in the backlog are reset,
//!    and the accept loops end by themselves; no new connection is taken. The loops are not
//!    cancelled in an accept: on io_uring a cancellation that races with the accept's
//!    completion would unwind past the accepted socket, which nobody would then serve or close
//!    (a client's request on it would go unanswered until its own time-out).
//! 2. Idle connections (waiting for their next request) are given `LINGER` (at most a quarter of the
//!    grace period) for it: a client may have written it before it could know of the shutdown,
//!    and a request written and then dropped is a failure the client cannot tell from a lost
//!    one. A request that arrives is answered with `Connection: close`, and the connection
//!    ends. Busy ones finish the requests they have received, answer the same way, and close;
//!    one that answered with keep-alive before the shutdown began waits like an idle one.
//! 3. Then the connections still idle are closed (one whose next request the kernel already
//!    holds is served as busy): a client that sends later sees the close first, as it would
//!    at an idle time-out.
//! 4. Past the grace period, whatever is still open is cancelled.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_net::{TcpListener, TcpStream};
use oc_runtime::JoinHandle;

use crate::conn::{self, BUSY, CLOSING, IDLE};
use crate::{Limits, Router};

/// A live connection: its state (`conn::IDLE`/`BUSY`/`CLOSING`), its coroutine (set once it
/// is spawned) and its socket's descriptor (looked at, never read, by a shutdown).
type Connection = (Arc<AtomicU8>, Option<JoinHandle<()>>, RawFd);

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) limits: Limits,
    /// Bytes of connections' receive buffers beyond the usual size (`Limits::max_body_memory`).
    pub(crate) body_memory: AtomicUsize,
    stopping: AtomicBool,
    /// A shutdown leaves idle connections open for a request on its way (its step 2).
    lingering: AtomicBool,
    slots: Slots,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Connection>>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Whether the connection, between two requests, closes now: the server is stopping and
    /// no longer waits for requests on their way. (A connection that answered its last
    /// request with keep-alive before the shutdown began waits for the next one while the
    /// shutdown lingers, and answers it with `Connection: close`.)
    pub(crate) fn closes_idle(&self) -> bool {
        self.stopping() && !self.lingering.load(Ordering::Acquire)
    }
}

/// The connection cap, shared by every listener of a server.
///
/// # Invariants
///
/// - `active` counts connection slots: a slot is taken (only by `try_take`, never past
///   `max`) before a connection's coroutine is spawned, and given back when the `Live` guard
///   that owns it is dropped: when the coroutine ends, or with its closure if it never runs
///   (no stack, cancelled, the runtime stopping).
/// - An acceptor that finds no slot is in `waiting` (and counted in `waiters`, both changed
///   under the lock) before it looks again and parks; whoever gives a slot back after that
///   sees `waiters` (both sides order their write and read with `SeqCst`) and wakes every
///   waiting acceptor.
struct Slots {
    /// Slots taken.
    active: AtomicUsize,
    max: usize,
    /// Acceptors waiting for a slot.
    waiting: Mutex<Vec<oc_runtime::task::Coroutine>>,
    /// How many are in `waiting` (read without the lock when a slot is given back).
    waiters: AtomicUsize,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots { active: AtomicUsize::new(0), max, waiting: Mutex::new(Vec::new()), waiters: AtomicUsize::new(0) }
    }

    /// Takes a slot if one is free.
    fn try_take(&self) -> bool {
        self.active.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max).then_some(n + 1)).is_ok()
    }

    /// Whether a slot is free now.
    fn free(&self) -> bool {
        self.active.load(Ordering::SeqCst) < self.max
    }

    /// Waits until `ready` (`try_take` or `free`, or the server stopping) holds, parked
    /// between looks; a shutdown wakes every waiter (`wake_all`) to look again.
    fn wait(&self, ready: impl Fn(&Slots) -> bool) {
        while !ready(self) {
            let me = oc_runtime::task::current().expect("in a coroutine");
            {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                waiting.push(me.clone());
                self.waiters.fetch_add(1, Ordering::SeqCst);
            }
            // A slot given back before `waiters` was raised is seen here; one given back after
            // it wakes us.
            if ready(self) {
                self.forget(&me);
                return;
            }
            oc_runtime::task::park();
            self.forget(&me);
        }
    }

    /// Takes `me` out of `waiting` if it is still there.
    fn forget(&self, me: &oc_runtime::task::Coroutine) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = waiting.iter().position(|c| c.id() == me.id()) {
            waiting.swap_remove(at);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Gives a slot back and wakes every waiting acceptor: each looks again, and those that
    /// find the slot taken wait again. (Waking one, as before, could wake an acceptor whose
    /// listener has no client while another listener's clients wait.)
    fn give_back(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_all();
        }
    }

    fn wake_all(&self) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        self.waiters.fetch_sub(waiting.len(), Ordering::SeqCst);
        for c in waiting.drain(..) {
            c.unpark();
        }
    }
}

/// A connection's slot and registry entry, given back when dropped: by the connection's
/// coroutine as it ends, or with the coroutine's closure if it never runs.
struct Live {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
        self.shared.slots.give_back();
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

    /// Listens on an existing listener too, speaking TLS with `tls` (a listener made with
    /// options of its own, such as `reuse_port`).
    pub fn listener_tls(mut self, listener: TcpListener, tls: crate::TlsConfig) -> Server {
        self.listeners.push((listener, Some(tls)));
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
        let max = self.limits.max_connections;
        let shared = Arc::new(Shared {
            router: self.router,
            limits: self.limits,
            body_memory: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            lingering: AtomicBool::new(false),
            slots: Slots::new(max),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        });
        let acceptors = self
            .listeners
            .into_iter()
            .map(|(listener, tls)| {
                let shared = shared.clone();
                let listener = Arc::new(listener);
                let kept = listener.clone();
                (oc_runtime::spawn(move || accept_loop(&listener, tls, shared)), kept)
            })
            .collect();
        ServerHandle { shared, acceptors: Mutex::new(acceptors), addrs }
    }
}

fn accept_loop(listener: &TcpListener, tls: Option<crate::TlsConfig>, shared: Arc<Shared>) {
    loop {
        // At the connection limit, wait for a connection to end (further clients wait in the
        // listen backlog), or for a shutdown.
        shared.slots.wait(|slots| shared.stopping() || slots.free());
        if shared.stopping() {
            return;
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
        // Another listener may have taken the last slot since: this connection waits for one,
        // so that the cap holds across listeners.
        shared.slots.wait(|slots| shared.stopping() || slots.try_take());
        if shared.stopping() {
            return;
        }
        // From here the slot and the registry entry belong to `live`, which the coroutine's
        // closure owns: they are given back when it ends, or when the closure is dropped unrun.
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let live = Live { shared: shared.clone(), id };
        let state = Arc::new(AtomicU8::new(BUSY));
        let fd = stream.as_raw_fd();
        shared.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (state.clone(), None, fd));
        // A TLS connection's handshake is due a header time-out from now.
        let tls = tls.clone().map(|tls| (tls, Instant::now()));
        let spawned = oc_runtime::task::Builder::new().spawn(move || {
            let live = live;
            let shared = &live.shared;
            match tls {
                None => conn::serve(stream, shared, &state),
                Some((tls, accepted)) => serve_tls(stream, tls, accepted, shared, &state),
            }
        });
        match spawned {
            Ok(handle) => {
                // Unless the connection has ended already.
                if let Some(entry) = shared.conns.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
                    entry.1 = Some(handle);
                }
            }
            // The runtime is shutting down (the closure, with `live`, is gone).
            Err(_) => return,
        }
    }
}

/// Runs the TLS handshake of `stream` within the header time-out from `accepted`, then serves
/// it. The connection counts as idle meanwhile: a shutdown cancels it.
fn serve_tls(mut stream: TcpStream, tls: crate::TlsConfig, accepted: Instant, shared: &Shared, state: &Arc<AtomicU8>) {
    let mut session = match rustls::ServerConnection::new(tls.config()) {
        Ok(session) => session,
        Err(e) => {
            static NO_SESSION: crate::log::Limited = crate::log::Limited::new();
            crate::log::warn_limited!(NO_SESSION, error = %e, "oc-http: cannot start a TLS session");
            return;
        }
    };
    if state.compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let deadline = accepted + shared.limits.header_timeout;
    if crate::tls::handshake(&mut session, &mut stream, deadline, shared.limits.write_timeout).is_err() {
        return;
    }
    if state.compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    conn::serve(crate::tls::TlsStream::new(session, stream, shared.limits.header_timeout), shared, state);
}

/// How long a shutdown leaves idle connections open for a request already on its way (step 2
/// of the shutdown): long enough for a client that was sending as the shutdown began.
const LINGER: Duration = Duration::from_secs(1);

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    /// The accept loops, each with its listener (kept here so that a shutdown can shut it
    /// down while the loop may still be using it).
    acceptors: Mutex<Vec<(JoinHandle<()>, Arc<TcpListener>)>>,
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
        self.shared.slots.active.load(Ordering::Acquire)
    }

    /// Waits until the server has stopped accepting (after `shutdown`).
    pub fn join(&self) {
        let acceptors = std::mem::take(&mut *self.acceptors.lock().unwrap_or_else(|e| e.into_inner()));
        for (a, _) in acceptors {
            let _ = a.join();
        }
    }

    /// Graceful shutdown: stop accepting, close idle connections, let busy ones finish
    /// their requests, and after `grace` cancel whatever is left. Returns whether every
    /// connection ended within `grace`.
    pub fn shutdown(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        self.shared.lingering.store(true, Ordering::Release);
        self.shared.stopping.store(true, Ordering::Release);
        let acceptors = std::mem::take(&mut *self.acceptors.lock().unwrap_or_else(|e| e.into_inner()));
        // An acceptor waiting for a slot sees `stopping` now; one in an accept sees it fail.
        self.shared.slots.wake_all();
        for (a, listener) in &acceptors {
            if crate::sys::shut_down(listener.as_raw_fd()).is_err() {
                // Not expected of a listening socket; cancelling is what is left.
                a.cancel();
            }
        }
        // The listeners close once both their loop and the handle here have let them go.
        for (a, _) in acceptors {
            let _ = a.join();
        }
        // Idle connections are given a moment for a request already on its way (step 2); busy
        // ones see `stopping` after their requests.
        // Busy ones that answered with keep-alive before the shutdown began go idle, and wait
        // too.
        let linger_end = Instant::now() + LINGER.min(grace / 4);
        while Instant::now() < linger_end && self.connections() > 0 {
            oc_runtime::sleep(Duration::from_millis(5));
        }
        self.shared.lingering.store(false, Ordering::Release);
        // Then the idle ones close. A connection whose next request the kernel has received
        // is not idle, though its coroutine has not read it yet: it answers it (with
        // `Connection: close`) and ends.
        for (state, handle, fd) in self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()).values() {
            if state.load(Ordering::Acquire) == IDLE && crate::sys::has_pending_bytes(*fd) {
                continue;
            }
            if state.compare_exchange(IDLE, CLOSING, Ordering::AcqRel, Ordering::Acquire).is_ok()
                && let Some(handle) = handle
            {
                handle.cancel();
            }
        }
        while self.connections() > 0 && Instant::now() < deadline {
            oc_runtime::sleep(Duration::from_millis(5));
        }
        let clean = self.connections() == 0;
        if !clean {
            for (_, handle, _) in self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()).values() {
                if let Some(handle) = handle {
                    handle.cancel();
                }
            }
        }
        clean
    }
}
