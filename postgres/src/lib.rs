//! A blocking-style PostgreSQL client on oc coroutines.
//!
//! Calls look like the `postgres` crate's: they block, but inside a coroutine only the
//! calling coroutine waits, while its worker runs others. The wire format and the type
//! conversions come from `postgres-protocol` and `postgres-types` (the crates under
//! tokio-postgres); the sockets are oc-net's.
//!
//! - [`Client`]: connect from a URL (trust, cleartext, MD5 and SCRAM-SHA-256 passwords;
//!   TCP, TLS with rustls, or a Unix socket), simple and extended queries, prepared
//!   statements cached per connection, typed [`Row`]s, [`Transaction`]s, [`Pipeline`]s.
//! - Failures: errors carry a [`ErrorKind`] and, from the server, the SQLSTATE
//!   ([`Error::code`]). A lost connection is reconnected on next use; a down server fails
//!   a call within the connect time-out; a statement time-out cancels the statement on
//!   the server and keeps the connection usable.
//! - [`Pool`]: connections for many coroutines, shared or per worker, with health checks.
//!
//! ```no_run
//! use oc_postgres::{Client, Pool};
//!
//! let rt = oc_runtime::Runtime::builder().workers(2).build()?;
//! rt.block_on(|| -> Result<(), oc_postgres::Error> {
//!     let mut client = Client::connect("postgres://postgres@127.0.0.1:5432/postgres")?;
//!     client.batch_execute("CREATE TEMP TABLE t (id int PRIMARY KEY, name text)")?;
//!     let insert = client.prepare("INSERT INTO t VALUES ($1, $2)")?;
//!     assert_eq!(client.execute(&insert, &[&1i32, &"one"])?, 1);
//!
//!     let select = client.prepare("SELECT name FROM t WHERE id = $1")?;
//!     let row = client.query_one(&select, &[&1i32])?;
//!     assert_eq!(row.get::<_, &str>(0), "one");
//!
//!     // A duplicate key: the error carries SQLSTATE 23505.
//!     let err = client.execute(&insert, &[&1i32, &"again"]).unwrap_err();
//!     assert_eq!(err.code(), Some(&oc_postgres::SqlState::UNIQUE_VIOLATION));
//!
//!     // Many coroutines, a few connections.
//!     let pool = Pool::new("postgres://postgres@127.0.0.1/postgres", 4)?;
//!     let handles: Vec<_> = (0..16)
//!         .map(|i| {
//!             let pool = pool.clone();
//!             oc_runtime::spawn(move || -> Result<i32, oc_postgres::Error> {
//!                 let mut client = pool.get()?;
//!                 let stmt = client.prepare("SELECT $1::int4 * 2")?;
//!                 Ok(client.query_one(&stmt, &[&i])?.get(0))
//!             })
//!         })
//!         .collect();
//!     for (i, h) in handles.into_iter().enumerate() {
//!         assert_eq!(h.join().expect("coroutine")?, 2 * i as i32);
//!     }
//!     Ok(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/postgres.md` for the design, the failure behaviour and the limits.

mod client;
mod config;
mod connection;
mod error;
mod pipeline;
mod pool;
mod query;
mod row;
mod statement;
mod stream;
mod tls;
mod transaction;

pub use client::{Client, DEFAULT_STATEMENT_CACHE};
pub use config::{Config, DEFAULT_CONNECT_TIMEOUT, Host, SslMode};
pub use error::{DbError, Error, ErrorKind, SqlState};
pub use pipeline::Pipeline;
pub use pool::{Pool, PoolConfig, PoolMode, PooledClient};
pub use postgres_types::{FromSql, IsNull, Kind, ToSql, Type};
pub use row::{Row, RowIndex, SimpleRow};
pub use statement::{Column, Statement, ToStatement};
pub use transaction::Transaction;

/// The `postgres-types` crate, for its conversion traits' helpers and features.
pub use postgres_types as types;
