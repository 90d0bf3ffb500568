//! One live session with the server: the stream, its buffers, the start-up and
//! authentication exchange, and reading backend messages within a deadline.
//!
//! # State
//!
//! `rbuf` holds bytes read but not yet parsed into messages (reads land in `scratch`
//! and are appended, which is cheaper than zeroing room in `rbuf` for every read); `wbuf` holds messages encoded
//! but not yet written (they leave with the next read, in one step). `prepared` is the set
//! of statement ids parsed on this session. `broken` is set when the byte stream can no
//! longer be trusted (a failed or partial write, a protocol violation, a fatal error): the
//! owner then drops the connection instead of reusing it. `in_flight` is set for the length
//! of an exchange; found set at the start of the next one, it means the previous caller
//! unwound half way, and the session is dropped too.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use oc_net::Exchange;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::config::Config;
use crate::error::{DbError, Error, ErrorKind};
use crate::stream::{self, Stream, Target};

/// The largest message accepted from the server (its biggest legal value is about 1 GiB);
/// a longer length in a header is garbage, refused before any memory is reserved for it.
const MAX_MESSAGE: usize = 1 << 30;

/// How much the read buffer grows by before a read.
const READ_CHUNK: usize = 16 * 1024;

/// A session with the server.
pub(crate) struct Connection {
    stream: Stream,
    rbuf: BytesMut,
    /// Where reads land before being appended to `rbuf` (so `rbuf` never needs zeroing).
    scratch: Box<[u8]>,
    /// Messages waiting to be written.
    pub(crate) wbuf: BytesMut,
    /// The cancel key (process id, secret).
    key: Option<(i32, i32)>,
    target: Target,
    /// Ids of the statements parsed on this session.
    pub(crate) prepared: HashSet<u64>,
    /// The last transaction status (`I` idle, `T` in a transaction, `E` failed one).
    pub(crate) status: u8,
    /// The stream can no longer be used.
    pub(crate) broken: bool,
    /// An exchange is under way (requests sent, replies not all read).
    pub(crate) in_flight: bool,
    /// Whether the stream's time-outs are currently unbounded.
    unbounded: bool,
}

impl Connection {
    /// Connects, negotiates TLS, starts up and authenticates, within the connect time-out.
    pub(crate) fn connect(config: &Config) -> Result<Connection, Error> {
        let deadline = config.connect_timeout.and_then(|t| Instant::now().checked_add(t));
        let (stream, target) = stream::connect(config, deadline)?;
        let mut conn = Connection {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            scratch: vec![0u8; READ_CHUNK].into_boxed_slice(),
            wbuf: BytesMut::with_capacity(4096),
            key: None,
            target,
            prepared: HashSet::new(),
            status: b'I',
            broken: false,
            in_flight: false,
            unbounded: false,
        };
        conn.startup(config, deadline).map_err(|e| match e.kind() {
            ErrorKind::Timeout => {
                Error::new(ErrorKind::Timeout, "the server did not complete log-in within the connect time-out")
            }
            ErrorKind::Closed if e.code().is_none() => {
                Error::with_source(ErrorKind::Connect, "the server closed the connection during log-in", e)
            }
            _ => e,
        })?;
        Ok(conn)
    }

    fn startup(&mut self, config: &Config, deadline: Option<Instant>) -> Result<(), Error> {
        let mut params: Vec<(&str, &str)> = vec![("user", &config.user), ("client_encoding", "UTF8")];
        if let Some(db) = &config.dbname {
            params.push(("database", db));
        }
        if let Some(app) = &config.application_name {
            params.push(("application_name", app));
        }
        if let Some(options) = &config.options {
            params.push(("options", options));
        }
        frontend::startup_message(params.iter().copied(), &mut self.wbuf).map_err(|e| {
            Error::with_source(ErrorKind::Config, "a connection parameter cannot be sent (a NUL byte?)", e)
        })?;
        self.authenticate(config, deadline)?;
        loop {
            match self.recv(deadline)? {
                Message::BackendKeyData(body) => self.key = Some((body.process_id(), body.secret_key())),
                Message::ReadyForQuery(body) => {
                    self.status = body.status();
                    return Ok(());
                }
                Message::ErrorResponse(body) => return Err(self.db_error(body)),
                _ => return Err(self.unexpected("during start-up")),
            }
        }
    }

    fn authenticate(&mut self, config: &Config, deadline: Option<Instant>) -> Result<(), Error> {
        let password = || {
            config.password.as_deref().ok_or_else(|| {
                Error::new(
                    ErrorKind::Auth,
                    format!("the server asks a password for user `{}` and none is configured", config.user),
                )
            })
        };
        loop {
            match self.recv(deadline)? {
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword => {
                    let pass = password()?;
                    frontend::password_message(pass, &mut self.wbuf).map_err(|e| {
                        Error::with_source(ErrorKind::Config, "the password cannot be sent (a NUL byte?)", e)
                    })?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(config.user.as_bytes(), password()?, body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.wbuf).map_err(Error::io)?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut has_scram = false;
                    let mut mechanisms = body.mechanisms();
                    while let Some(m) = fallible_iterator::FallibleIterator::next(&mut mechanisms).map_err(Error::io)? {
                        has_scram |= m == sasl::SCRAM_SHA_256;
                    }
                    if !has_scram {
                        return Err(Error::new(
                            ErrorKind::Auth,
                            "the server offers no SASL mechanism this client supports (SCRAM-SHA-256)",
                        ));
                    }
                    self.scram(password()?, deadline)?;
                }
                Message::ErrorResponse(body) => {
                    let err = self.db_error(body);
                    return Err(err.rekind(ErrorKind::Auth, format!("log-in as `{}` refused", config.user)));
                }
                Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationGss
                | Message::AuthenticationSspi => {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        "the server asks for an authentication method this client does not support (Kerberos, GSS, SSPI or SCM)",
                    ));
                }
                _ => return Err(self.unexpected("during authentication")),
            }
        }
    }

    fn scram(&mut self, password: &[u8], deadline: Option<Instant>) -> Result<(), Error> {
        let mut scram = sasl::ScramSha256::new(password, sasl::ChannelBinding::unsupported());
        frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut self.wbuf).map_err(Error::io)?;
        let auth_err = |e: io::Error| Error::with_source(ErrorKind::Auth, "SCRAM-SHA-256 exchange failed", e);
        match self.recv(deadline)? {
            Message::AuthenticationSaslContinue(body) => scram.update(body.data()).map_err(auth_err)?,
            Message::ErrorResponse(body) => {
                let err = self.db_error(body);
                return Err(err.rekind(ErrorKind::Auth, "log-in refused"));
            }
            _ => return Err(self.unexpected("in the SCRAM exchange")),
        }
        frontend::sasl_response(scram.message(), &mut self.wbuf).map_err(Error::io)?;
        match self.recv(deadline)? {
            Message::AuthenticationSaslFinal(body) => scram.finish(body.data()).map_err(auth_err),
            Message::ErrorResponse(body) => {
                let err = self.db_error(body);
                Err(err.rekind(ErrorKind::Auth, "log-in refused"))
            }
            _ => Err(self.unexpected("in the SCRAM exchange")),
        }
    }

    /// Whether the session runs over TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The next message that is not asynchronous (notices, parameter changes and
    /// notifications are absorbed), writing `wbuf` first if it holds anything. A failure
    /// other than a time-out while reading marks the connection broken.
    pub(crate) fn recv(&mut self, deadline: Option<Instant>) -> Result<Message, Error> {
        loop {
            if let Some(len) = self.rbuf.get(1..5) {
                let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if len > MAX_MESSAGE {
                    self.broken = true;
                    return Err(Error::protocol(format!("the server announced a message of {len} bytes")));
                }
            }
            match Message::parse(&mut self.rbuf) {
                Ok(Some(
                    Message::NoticeResponse(_) | Message::ParameterStatus(_) | Message::NotificationResponse(_),
                )) => {}
                Ok(Some(msg)) => return Ok(msg),
                Ok(None) => self.fill(deadline)?,
                Err(e) => {
                    self.broken = true;
                    return Err(Error::with_source(ErrorKind::Protocol, "malformed message from the server", e));
                }
            }
        }
    }

    /// Writes what is pending and reads more bytes.
    fn fill(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        let timeouts = if deadline.is_some() {
            self.unbounded = false;
            self.stream.set_timeouts(deadline)
        } else if !self.unbounded {
            self.unbounded = true;
            self.stream.set_timeouts(None)
        } else {
            Ok(())
        };
        if let Err(e) = timeouts {
            if !self.wbuf.is_empty() {
                // The request never left: nothing to cancel, but the caller's state expects it.
                self.broken = true;
            }
            return Err(Error::io(e));
        }
        let exchange = if self.wbuf.is_empty() {
            match self.stream.read(&mut self.scratch) {
                Ok(n) => Exchange::Done(n),
                Err(e) => Exchange::ReadFailed(e),
            }
        } else {
            self.stream.write_then_read(&self.wbuf, &mut self.scratch)
        };
        let read = match exchange {
            Exchange::Done(n) => Ok(n),
            Exchange::ReadFailed(e) => Err(e),
            Exchange::WriteFailed(e) => {
                // A request that did not leave whole cannot be recovered.
                self.broken = true;
                return Err(Error::io(e));
            }
        };
        self.wbuf.clear();
        match read {
            Ok(0) => {
                self.broken = true;
                Err(Error::new(ErrorKind::Closed, "the server closed the connection"))
            }
            Ok(n) => {
                self.rbuf.extend_from_slice(&self.scratch[..n]);
                Ok(())
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::TimedOut {
                    self.broken = true;
                }
                Err(Error::io(e))
            }
        }
    }

    /// Turns an `ErrorResponse` into an error; a fatal one marks the connection broken.
    pub(crate) fn db_error(&mut self, body: postgres_protocol::message::backend::ErrorResponseBody) -> Error {
        match DbError::parse(&mut body.fields()) {
            Ok(db) => {
                let err = Error::db(db);
                if err.kind() == ErrorKind::Closed {
                    self.broken = true;
                }
                err
            }
            Err(e) => {
                self.broken = true;
                Error::with_source(ErrorKind::Protocol, "malformed error message from the server", e)
            }
        }
    }

    /// A protocol violation: the connection is marked broken.
    pub(crate) fn unexpected(&mut self, when: &str) -> Error {
        self.broken = true;
        Error::protocol(format!("unexpected message from the server {when}"))
    }

    /// Reads until `ReadyForQuery`, discarding everything (after an error or a cancel).
    pub(crate) fn drain(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        loop {
            if let Message::ReadyForQuery(body) = self.recv(deadline)? {
                self.status = body.status();
                return Ok(());
            }
        }
    }

    /// Asks the server, on a separate connection, to cancel what this session is running.
    pub(crate) fn cancel(&self, timeout: Duration) -> Result<(), Error> {
        let (pid, secret) = self.key.ok_or_else(|| Error::new(ErrorKind::Closed, "the server gave no cancel key"))?;
        let mut buf = BytesMut::new();
        frontend::cancel_request(pid, secret, &mut buf);
        let mut s = self
            .target
            .connect(timeout)
            .map_err(|e| Error::with_source(ErrorKind::Connect, "could not connect to send a cancel request", e))?;
        s.set_timeouts(Instant::now().checked_add(timeout)).map_err(Error::io)?;
        s.write_all(&buf).map_err(Error::io)?;
        // The server closes the cancel connection once it has acted on it.
        let mut byte = [0u8; 1];
        let _ = s.read(&mut byte);
        Ok(())
    }

    /// Says goodbye (best effort).
    ///
    /// Skipped on a broken stream, mid-exchange, and while unwinding (a panic or a
    /// cancelled coroutine must not start IO from a destructor): closing the socket is
    /// enough for the server to end the session.
    pub(crate) fn terminate(&mut self) {
        if self.broken || self.in_flight || std::thread::panicking() {
            return;
        }
        self.wbuf.clear();
        frontend::terminate(&mut self.wbuf);
        let _ = self.stream.set_timeouts(Instant::now().checked_add(Duration::from_millis(100)));
        let _ = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
    }
}
