//! Prepared statements and their column descriptions.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres_types::{Kind, Oid, Type};

/// A column of a statement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_: Type,
}

impl Column {
    pub(crate) fn new(name: String, type_: Type) -> Column {
        Column { name, type_ }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's type.
    pub fn type_(&self) -> &Type {
        &self.type_
    }
}

/// The type for `oid`: a built-in one, or a placeholder named `oid<N>` for types the
/// client does not know (user-defined types are not looked up).
pub(crate) fn type_of(oid: Oid) -> Type {
    Type::from_oid(oid).unwrap_or_else(|| Type::new(format!("oid{oid}"), oid, Kind::Simple, "unknown".to_owned()))
}

/// A prepared statement: its SQL, parameter types and result columns.
///
/// Cheap to clone. A statement is tied to no connection: a client that has not parsed it
/// yet (after a reconnect, or another client of a pool) parses it transparently, in the
/// same round trip as its first execution.
#[derive(Clone)]
pub struct Statement(Arc<Inner>);

struct Inner {
    id: u64,
    name: String,
    sql: String,
    params: Vec<Type>,
    columns: Arc<[Column]>,
}

impl Statement {
    /// The name a statement is parsed under before its description is known.
    pub(crate) fn reserve_name() -> (u64, String) {
        let id = next_id();
        (id, format!("oc_s{id}"))
    }

    pub(crate) fn with_id(id: u64, name: String, sql: &str, params: Vec<Type>, columns: Vec<Column>) -> Statement {
        Statement(Arc::new(Inner { id, name, sql: sql.to_owned(), params, columns: columns.into() }))
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    pub(crate) fn columns_arc(&self) -> &Arc<[Column]> {
        &self.0.columns
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.0.sql
    }

    /// The parameter types, as the server inferred them.
    pub fn params(&self) -> &[Type] {
        &self.0.params
    }

    /// The result columns (empty for statements that return no rows).
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("name", &self.0.name)
            .field("sql", &self.0.sql)
            .field("params", &self.0.params)
            .field("columns", &self.0.columns)
            .finish()
    }
}

/// What [`Client::query`](crate::Client::query) and its kin (`query_one`, `query_opt`,
/// `execute`) run: a prepared [`Statement`], or SQL text (`&str`, `&String`), which is
/// prepared on first use and taken from the client's statement cache after that.
///
/// ```no_run
/// # fn main() -> Result<(), oc_postgres::Error> {
/// let mut client = oc_postgres::Client::connect("postgres://app@127.0.0.1/app")?;
/// let n: i64 = client.query_one("SELECT count(*) FROM pg_class WHERE relpages > $1", &[&0i32])?.get(0);
/// let stmt = client.prepare("SELECT relname FROM pg_class WHERE oid = $1")?;
/// let rows = client.query(&stmt, &[&1259u32])?;
/// # let _ = (n, rows);
/// # Ok(())
/// # }
/// ```
pub trait ToStatement {
    /// The statement to run on `client`: this one, or this text prepared there.
    fn to_statement(&self, client: &mut crate::Client) -> Result<Cow<'_, Statement>, crate::Error>;
}

impl ToStatement for Statement {
    fn to_statement(&self, _: &mut crate::Client) -> Result<Cow<'_, Statement>, crate::Error> {
        Ok(Cow::Borrowed(self))
    }
}

impl ToStatement for str {
    fn to_statement(&self, client: &mut crate::Client) -> Result<Cow<'_, Statement>, crate::Error> {
        client.prepare(self).map(Cow::Owned)
    }
}

impl ToStatement for String {
    fn to_statement(&self, client: &mut crate::Client) -> Result<Cow<'_, Statement>, crate::Error> {
        self.as_str().to_statement(client)
    }
}
