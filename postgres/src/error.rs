//! The error type: a kind a caller can branch on, a message a person can act on, and for
//! errors the server reported, the SQLSTATE code and the server's fields.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use postgres_protocol::message::backend::ErrorFields;

use fallible_iterator::FallibleIterator;

/// What went wrong, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection settings are invalid (a bad URL, an unknown option, a missing value).
    Config,
    /// No connection could be made: the server is down, refused, or unreachable in time.
    Connect,
    /// The server refused the credentials, or asked for a method this client lacks.
    Auth,
    /// The TLS handshake failed, or TLS was required and the server does not offer it.
    Tls,
    /// Reading from or writing to the connection failed; the connection was discarded.
    Io,
    /// The connection was closed (by the server, or lost) and could not be used; the next
    /// call reconnects, unless a transaction was open on the lost connection.
    Closed,
    /// A connect, a statement or a pool checkout ran past its time-out.
    Timeout,
    /// The server reported an error for the statement ([`Error::code`] gives the SQLSTATE);
    /// the connection stays usable.
    Db,
    /// The server sent something the protocol does not allow here; the connection was
    /// discarded.
    Protocol,
    /// A parameter could not be encoded, or a column could not be decoded to the type asked.
    Conversion,
    /// A row index or column name does not exist, or the parameters do not match the
    /// statement.
    Column,
    /// `query_one` got no row, or more than one.
    RowCount,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Connect => "could not connect",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::Tls => "TLS error",
            ErrorKind::Io => "I/O error",
            ErrorKind::Closed => "connection closed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Db => "database error",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Conversion => "type conversion error",
            ErrorKind::Column => "column error",
            ErrorKind::RowCount => "unexpected number of rows",
        })
    }
}

/// A SQLSTATE code, as the server reported it (five characters, such as `23505`).
///
/// The common codes have constants; compare with `==`.
///
/// ```
/// use oc_postgres::SqlState;
/// assert_eq!(SqlState::from_code("42P01"), SqlState::UNDEFINED_TABLE);
/// assert_eq!(SqlState::UNIQUE_VIOLATION.code(), "23505");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SqlState(std::borrow::Cow<'static, str>);

macro_rules! sqlstates {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        impl SqlState {
            $($(#[$doc])* pub const $name: SqlState = SqlState(std::borrow::Cow::Borrowed($code));)*
        }
    };
}

sqlstates! {
    /// `00000`
    SUCCESSFUL_COMPLETION = "00000";
    /// `08000`
    CONNECTION_EXCEPTION = "08000";
    /// `08006`
    CONNECTION_FAILURE = "08006";
    /// `22001`
    STRING_DATA_RIGHT_TRUNCATION = "22001";
    /// `22003`
    NUMERIC_VALUE_OUT_OF_RANGE = "22003";
    /// `22012`
    DIVISION_BY_ZERO = "22012";
    /// `22P02`
    INVALID_TEXT_REPRESENTATION = "22P02";
    /// `23502`
    NOT_NULL_VIOLATION = "23502";
    /// `23503`
    FOREIGN_KEY_VIOLATION = "23503";
    /// `23505`
    UNIQUE_VIOLATION = "23505";
    /// `23514`
    CHECK_VIOLATION = "23514";
    /// `25P02`
    IN_FAILED_SQL_TRANSACTION = "25P02";
    /// `28000`
    INVALID_AUTHORIZATION_SPECIFICATION = "28000";
    /// `28P01`
    INVALID_PASSWORD = "28P01";
    /// `3D000`
    INVALID_CATALOG_NAME = "3D000";
    /// `40001`
    T_R_SERIALIZATION_FAILURE = "40001";
    /// `40P01`
    T_R_DEADLOCK_DETECTED = "40P01";
    /// `42601`
    SYNTAX_ERROR = "42601";
    /// `42703`
    UNDEFINED_COLUMN = "42703";
    /// `42883`
    UNDEFINED_FUNCTION = "42883";
    /// `42P01`
    UNDEFINED_TABLE = "42P01";
    /// `42P07`
    DUPLICATE_TABLE = "42P07";
    /// `42710`
    DUPLICATE_OBJECT = "42710";
    /// `53300`
    TOO_MANY_CONNECTIONS = "53300";
    /// `57014`
    QUERY_CANCELED = "57014";
    /// `57P01`
    ADMIN_SHUTDOWN = "57P01";
    /// `57P02`
    CRASH_SHUTDOWN = "57P02";
    /// `57P03`
    CANNOT_CONNECT_NOW = "57P03";
}

impl SqlState {
    /// The state for a five-character code.
    pub fn from_code(code: &str) -> SqlState {
        SqlState(std::borrow::Cow::Owned(code.to_owned()))
    }

    /// The five-character code.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An error the server reported (an `ErrorResponse`): its severity, SQLSTATE, message and
/// the optional detail fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    severity: String,
    code: SqlState,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    position: Option<u32>,
    schema: Option<String>,
    table: Option<String>,
    column: Option<String>,
    constraint: Option<String>,
}

impl DbError {
    pub(crate) fn parse(fields: &mut ErrorFields<'_>) -> io::Result<DbError> {
        let mut severity = None;
        let mut localized = None;
        let mut code = None;
        let mut message = None;
        let mut err = DbError {
            severity: String::new(),
            code: SqlState::CONNECTION_EXCEPTION,
            message: String::new(),
            detail: None,
            hint: None,
            position: None,
            schema: None,
            table: None,
            column: None,
            constraint: None,
        };
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'V' => severity = Some(value),
                b'S' => localized = Some(value),
                b'C' => code = Some(SqlState::from_code(&value)),
                b'M' => message = Some(value),
                b'D' => err.detail = Some(value),
                b'H' => err.hint = Some(value),
                b'P' => err.position = value.parse().ok(),
                b's' => err.schema = Some(value),
                b't' => err.table = Some(value),
                b'c' => err.column = Some(value),
                b'n' => err.constraint = Some(value),
                _ => {}
            }
        }
        err.severity = severity.or(localized).unwrap_or_else(|| "ERROR".to_owned());
        err.code = code.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "error without SQLSTATE"))?;
        err.message = message.unwrap_or_default();
        Ok(err)
    }

    /// `ERROR`, `FATAL` or `PANIC` (the non-localized severity when the server sends it).
    pub fn severity(&self) -> &str {
        &self.severity
    }

    /// The SQLSTATE code.
    pub fn code(&self) -> &SqlState {
        &self.code
    }

    /// The primary message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The optional detail message.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The optional hint.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The 1-based character position in the statement the error points at.
    pub fn position(&self) -> Option<u32> {
        self.position
    }

    /// The schema of the object the error is about.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table the error is about.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    /// The column the error is about.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// The constraint the error is about.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    /// Whether the server closes the connection after this error (`FATAL` or `PANIC`).
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(self.severity.as_str(), "FATAL" | "PANIC")
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " (detail: {detail})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl StdError for DbError {}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error from this crate.
///
/// ```
/// let err = oc_postgres::Client::connect("mysql://x").unwrap_err();
/// assert_eq!(err.kind(), oc_postgres::ErrorKind::Config);
/// assert!(err.to_string().contains("postgres://"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    db: Option<DbError>,
    source: Option<Source>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { inner: Box::new(Inner { kind, message: message.into(), db: None, source: None }) }
    }

    pub(crate) fn with_source(kind: ErrorKind, message: impl Into<String>, source: impl Into<Source>) -> Error {
        let mut e = Error::new(kind, message);
        e.inner.source = Some(source.into());
        e
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// A request that cannot be put on the wire (a NUL byte in SQL text or a name, a
    /// message over the protocol's size limits).
    pub(crate) fn encode(err: io::Error) -> Error {
        Error::with_source(ErrorKind::Conversion, "cannot encode the request", err)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    /// An error the server reported; `FATAL` ones mean the connection is gone.
    pub(crate) fn db(db: DbError) -> Error {
        let kind = if db.is_fatal() { ErrorKind::Closed } else { ErrorKind::Db };
        let message = if db.is_fatal() { "the server closed the connection" } else { "" };
        let mut e = Error::new(kind, message);
        e.inner.db = Some(db);
        e
    }

    /// The same error under another kind and message, keeping the server's fields.
    pub(crate) fn rekind(mut self, kind: ErrorKind, message: impl Into<String>) -> Error {
        self.inner.kind = kind;
        self.inner.message = message.into();
        self
    }

    /// A copy for another result (the source, if any, is kept as text).
    pub(crate) fn duplicate(&self) -> Error {
        let mut message = self.inner.message.clone();
        if let Some(source) = &self.inner.source {
            message = if message.is_empty() { source.to_string() } else { format!("{message}: {source}") };
        }
        let mut e = Error::new(self.inner.kind, message);
        e.inner.db = self.inner.db.clone();
        e
    }

    /// An error from the connection's socket (or TLS session), sorted into `Closed`,
    /// `Timeout` and `Io`.
    pub(crate) fn io(err: io::Error) -> Error {
        use io::ErrorKind as K;
        match err.kind() {
            K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::NotConnected => {
                Error::with_source(ErrorKind::Closed, "the connection was lost", err)
            }
            K::TimedOut | K::WouldBlock => Error::with_source(ErrorKind::Timeout, "the statement timed out", err),
            _ => Error::with_source(ErrorKind::Io, "reading or writing the connection failed", err),
        }
    }

    /// What went wrong, broadly.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The SQLSTATE, for errors the server reported (also a `FATAL` one that closed the
    /// connection, such as `57P01` after `pg_terminate_backend`).
    pub fn code(&self) -> Option<&SqlState> {
        self.inner.db.as_ref().map(DbError::code)
    }

    /// The server's error, with all its fields.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.inner.db.as_ref()
    }

    /// Whether the connection was closed or lost (the next call reconnects).
    pub fn is_closed(&self) -> bool {
        self.inner.kind == ErrorKind::Closed
    }

    /// Whether a time-out expired.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// Whether the database could not be reached or the connection failed: the errors a
    /// service answers with "503 Service Unavailable" (connect failures, lost connections,
    /// I/O errors and time-outs), as opposed to errors in the statement itself.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Connect | ErrorKind::Closed | ErrorKind::Io | ErrorKind::Timeout)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if !self.inner.message.is_empty() {
            d.field("message", &self.inner.message);
        }
        if let Some(db) = &self.inner.db {
            d.field("db", db);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.kind)?;
        if !self.inner.message.is_empty() {
            write!(f, ": {}", self.inner.message)?;
        }
        if let Some(db) = &self.inner.db {
            write!(f, ": {db}")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.source {
            Some(s) => Some(&**s),
            None => self.inner.db.as_ref().map(|d| d as &(dyn StdError + 'static)),
        }
    }
}
