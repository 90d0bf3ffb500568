//! The extended-protocol exchange: encoding `Parse`/`Bind`/`Execute` and reading their
//! results in order, for one statement or a pipeline of many.

use std::time::Instant;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use postgres_types::ToSql;

use crate::connection::Connection;
use crate::error::{Error, ErrorKind};
use crate::row::Row;
use crate::statement::{Column, Statement, type_of};

/// What one executed statement produced.
pub(crate) struct Outcome {
    pub(crate) rows: Vec<Row>,
    pub(crate) affected: u64,
}

/// One statement of an exchange, as sent.
pub(crate) struct Sent<'a> {
    pub(crate) stmt: &'a Statement,
    /// Whether a `Parse` for it went first.
    pub(crate) parse: bool,
}

/// Encodes `Bind` (all values binary) and `Execute` for `stmt` into `buf`. On a conversion
/// failure nothing is left in `buf`.
pub(crate) fn encode_bind(buf: &mut BytesMut, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
    let types = stmt.params();
    if params.len() != types.len() {
        return Err(Error::new(
            ErrorKind::Column,
            format!("the statement takes {} parameters but {} were given", types.len(), params.len()),
        ));
    }
    let mark = buf.len();
    let mut failed = None;
    let res = frontend::bind(
        "",
        stmt.name(),
        std::iter::once(1i16),
        params.iter().zip(types).enumerate(),
        |(i, (param, ty)), buf| match param.to_sql_checked(ty, buf) {
            Ok(postgres_types::IsNull::No) => Ok(postgres_protocol::IsNull::No),
            Ok(postgres_types::IsNull::Yes) => Ok(postgres_protocol::IsNull::Yes),
            Err(e) => {
                failed = Some(i);
                Err(e)
            }
        },
        std::iter::once(1i16),
        buf,
    );
    match res {
        Ok(()) => {}
        Err(e) => {
            buf.truncate(mark);
            let (source, what): (Box<dyn std::error::Error + Send + Sync>, _) = match e {
                frontend::BindError::Conversion(e) => (e, "cannot encode"),
                frontend::BindError::Serialization(e) => (Box::new(e), "cannot serialise"),
            };
            let idx = failed.map_or_else(|| "a parameter".to_owned(), |i| format!("parameter ${}", i + 1));
            let ty = failed.map_or_else(String::new, |i| format!(" as {}", types[i]));
            return Err(Error::with_source(ErrorKind::Conversion, format!("{what} {idx}{ty}"), source));
        }
    }
    frontend::execute("", 0, buf).map_err(Error::encode)?;
    Ok(())
}

/// Encodes a `Parse` of `stmt` with its known parameter types.
pub(crate) fn encode_parse(buf: &mut BytesMut, stmt: &Statement) -> Result<(), Error> {
    frontend::parse(stmt.name(), stmt.sql(), stmt.params().iter().map(|t| t.oid()), buf).map_err(Error::encode)
}

/// Reads the results of `sent` (after one `Sync`) in order, through `ReadyForQuery`.
///
/// After a statement fails the server skips the rest up to the `Sync`: those get an error
/// saying so. The outer error is for the connection itself (lost, timed out, garbled).
pub(crate) fn read_results(
    conn: &mut Connection,
    sent: &[Sent<'_>],
    deadline: Option<Instant>,
) -> Result<Vec<Result<Outcome, Error>>, Error> {
    let mut out = Vec::with_capacity(sent.len());
    let mut failed = false;
    for item in sent {
        if failed {
            out.push(Err(Error::new(
                ErrorKind::Db,
                "not executed: an earlier statement of the pipeline failed (the server skips the rest)",
            )));
            continue;
        }
        match read_one(conn, item, deadline)? {
            Ok(outcome) => out.push(Ok(outcome)),
            Err(e) => {
                failed = true;
                out.push(Err(e));
            }
        }
    }
    conn.drain(deadline)?;
    Ok(out)
}

/// Reads the answers to the `Parse`s of `parsing` (sent as a group with its own `Sync`).
/// On a failure, returns the ids of the statements left unparsed and the error.
#[allow(clippy::type_complexity)]
pub(crate) fn read_parses(
    conn: &mut Connection,
    parsing: &[&Statement],
    deadline: Option<Instant>,
) -> Result<Option<(Vec<u64>, Error)>, Error> {
    if parsing.is_empty() {
        return Ok(None);
    }
    let mut failure = None;
    for (i, stmt) in parsing.iter().enumerate() {
        match conn.recv(deadline)? {
            Message::ParseComplete => {
                conn.prepared.insert(stmt.id());
            }
            Message::ErrorResponse(body) => {
                let err = conn.db_error(body);
                if conn.broken {
                    return Err(err);
                }
                let unparsed = parsing[i..].iter().map(|s| s.id()).collect();
                failure =
                    Some((unparsed, err.rekind(ErrorKind::Db, "the statement could not be parsed on this connection")));
                break;
            }
            _ => return Err(conn.unexpected("instead of ParseComplete")),
        }
    }
    conn.drain(deadline)?;
    Ok(failure)
}

fn read_one(
    conn: &mut Connection,
    item: &Sent<'_>,
    deadline: Option<Instant>,
) -> Result<Result<Outcome, Error>, Error> {
    if item.parse {
        match conn.recv(deadline)? {
            Message::ParseComplete => {
                conn.prepared.insert(item.stmt.id());
            }
            Message::ErrorResponse(body) => return db_error(conn, body),
            _ => return Err(conn.unexpected("instead of ParseComplete")),
        }
    }
    match conn.recv(deadline)? {
        Message::BindComplete => {}
        Message::ErrorResponse(body) => return db_error(conn, body),
        _ => return Err(conn.unexpected("instead of BindComplete")),
    }
    let mut rows = Vec::new();
    loop {
        match conn.recv(deadline)? {
            Message::DataRow(body) => match Row::new(item.stmt.columns_arc().clone(), body) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    conn.broken = true;
                    return Err(e);
                }
            },
            Message::CommandComplete(body) => {
                let tag = body.tag().map_err(|e| Error::with_source(ErrorKind::Protocol, "bad command tag", e))?;
                return Ok(Ok(Outcome { rows, affected: affected_rows(tag) }));
            }
            Message::EmptyQueryResponse | Message::PortalSuspended => return Ok(Ok(Outcome { rows, affected: 0 })),
            Message::ErrorResponse(body) => return db_error(conn, body),
            Message::CopyInResponse(_) | Message::CopyOutResponse(_) => {
                conn.broken = true;
                return Err(Error::new(ErrorKind::Protocol, "COPY is not supported by this client"));
            }
            _ => return Err(conn.unexpected("in a statement's result")),
        }
    }
}

/// An `ErrorResponse`: a statement error (`Ok(Err)`), or a connection error if fatal.
fn db_error(
    conn: &mut Connection,
    body: postgres_protocol::message::backend::ErrorResponseBody,
) -> Result<Result<Outcome, Error>, Error> {
    let err = conn.db_error(body);
    if conn.broken { Err(err) } else { Ok(Err(err)) }
}

/// The row count of a command tag (`INSERT 0 5`, `UPDATE 3`, `SELECT 2`), 0 for others.
pub(crate) fn affected_rows(tag: &str) -> u64 {
    tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Parses and describes `sql` under a fresh name; the exchange of [`Client::prepare`].
///
/// [`Client::prepare`]: crate::Client::prepare
///
/// The statements in `close` (evicted from the client's cache) are closed on the server
/// in the same round trip, if this session has them.
pub(crate) fn prepare(
    conn: &mut Connection,
    sql: &str,
    close: &[Statement],
    deadline: Option<Instant>,
) -> Result<Result<Statement, Error>, Error> {
    let (id, name) = Statement::reserve_name();
    conn.wbuf.clear();
    let mut closing = 0;
    for stmt in close.iter().filter(|s| conn.prepared.contains(&s.id())) {
        frontend::close(b'S', stmt.name(), &mut conn.wbuf).map_err(Error::encode)?;
        closing += 1;
    }
    frontend::parse(&name, sql, std::iter::empty(), &mut conn.wbuf).map_err(Error::encode)?;
    frontend::describe(b'S', &name, &mut conn.wbuf).map_err(Error::encode)?;
    frontend::sync(&mut conn.wbuf);
    for _ in 0..closing {
        match conn.recv(deadline)? {
            Message::CloseComplete => {}
            Message::ErrorResponse(body) => {
                let err = conn.db_error(body);
                if conn.broken {
                    return Err(err);
                }
                conn.drain(deadline)?;
                return Ok(Err(err));
            }
            _ => return Err(conn.unexpected("instead of CloseComplete")),
        }
    }
    for stmt in close {
        conn.prepared.remove(&stmt.id());
    }
    match conn.recv(deadline)? {
        Message::ParseComplete => {}
        Message::ErrorResponse(body) => {
            let err = conn.db_error(body);
            if conn.broken {
                return Err(err);
            }
            conn.drain(deadline)?;
            return Ok(Err(err));
        }
        _ => return Err(conn.unexpected("instead of ParseComplete")),
    }
    let params: Vec<_> = match conn.recv(deadline)? {
        Message::ParameterDescription(body) => body
            .parameters()
            .map(|oid| Ok(type_of(oid)))
            .collect()
            .map_err(|e| Error::with_source(ErrorKind::Protocol, "malformed parameter description", e))?,
        _ => return Err(conn.unexpected("instead of ParameterDescription")),
    };
    let columns: Vec<Column> = match conn.recv(deadline)? {
        Message::RowDescription(body) => body
            .fields()
            .map(|f| Ok(Column::new(f.name().to_owned(), type_of(f.type_oid()))))
            .collect()
            .map_err(|e| Error::with_source(ErrorKind::Protocol, "malformed row description", e))?,
        Message::NoData => Vec::new(),
        _ => return Err(conn.unexpected("instead of RowDescription")),
    };
    conn.drain(deadline)?;
    conn.prepared.insert(id);
    Ok(Ok(Statement::with_id(id, name, sql, params, columns)))
}

#[cfg(test)]
mod tests {
    use super::affected_rows;

    #[test]
    fn command_tags() {
        assert_eq!(affected_rows("INSERT 0 5"), 5);
        assert_eq!(affected_rows("UPDATE 3"), 3);
        assert_eq!(affected_rows("SELECT 12"), 12);
        assert_eq!(affected_rows("CREATE TABLE"), 0);
        assert_eq!(affected_rows(""), 0);
    }
}
