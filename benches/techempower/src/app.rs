//! The HTTP side: the seven test routes on an oc-http router, each a plain blocking handler.

use std::sync::Arc;

use oc_http::{Request, Response, Router};

use crate::db::{Database, DbError};
use crate::fortunes;
use crate::params::clamp_count;

/// The json test's message, built afresh for every request and serialised by serde_json.
#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

/// The router of the seven tests, backed by `db`.
///
/// ```no_run
/// use std::sync::Arc;
/// use oc_techempower::{app, db::Database};
/// oc_runtime::block_on(|| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     let db = Arc::new(Database::new("postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1/hello_world", 4)?);
///     let server = oc_http::Server::new(app::router(db)).bind("0.0.0.0:8080")?.start();
///     server.join();
///     Ok(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn router(db: Arc<Database>) -> Router {
    let (d1, d2, d3, d4, d5) = (db.clone(), db.clone(), db.clone(), db.clone(), db);
    Router::new()
        .get("/json", json)
        .get("/plaintext", plaintext)
        .get("/db", move |_: &Request| answer(d1.world()))
        .get("/queries", move |req: &Request| answer(d2.worlds(count(req, "queries"))))
        .get("/updates", move |req: &Request| answer(d3.update_worlds(count(req, "queries"))))
        .get("/cached-queries", move |req: &Request| answer(d4.cached_worlds(count(req, "count"))))
        .get("/fortunes", move |_: &Request| fortunes_page(&d5))
}

/// `GET /json`.
pub fn json(_: &Request) -> Response {
    Response::json(&Message { message: "Hello, World!" })
}

/// `GET /plaintext`: the head is composed by the server for each response.
pub fn plaintext(_: &Request) -> Response {
    Response::new(200).header("Content-Type", "text/plain").static_body(b"Hello, World!")
}

/// The clamped row count of query parameter `name`.
fn count(req: &Request, name: &str) -> usize {
    clamp_count(req.query_param(name).as_deref())
}

/// The JSON of `value`, or `503` when the database failed.
fn answer<T: serde::Serialize>(value: Result<T, DbError>) -> Response {
    match value {
        Ok(value) => Response::json(&value),
        Err(e) => unavailable(&e),
    }
}

fn fortunes_page(db: &Database) -> Response {
    let mut body = Vec::with_capacity(1536);
    match db.with_fortunes(|rows| fortunes::render_page(rows, &mut body)) {
        Ok(()) => Response::new(200).header("Content-Type", "text/html; charset=utf-8").body(body),
        Err(e) => unavailable(&e),
    }
}

/// `503 Service Unavailable` saying why, with `Retry-After`.
fn unavailable(e: &DbError) -> Response {
    Response::new(503)
        .header("Content-Type", "text/plain")
        .header("Retry-After", "1")
        .body(format!("503 Service Unavailable: {e}\n").into_bytes())
}
