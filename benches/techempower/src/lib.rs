//! The TechEmpower FrameworkBenchmarks entry on oc: the seven test types in the plain
//! blocking style oc offers, the database set-up, a verifier of the benchmark's rules, and
//! (in `run.sh` and `scripts/`) the load runner and the build of the anchor it is compared
//! with.
//!
//! Handlers are ordinary functions on an [`oc_http::Router`]; the database calls block their
//! connection's coroutine only. Queries of one request go out in one pipeline; updates write
//! all their rows with one statement; fortunes are rendered by a small template that escapes
//! straight into the response body; cached-queries read an in-process copy of World.
//!
//! ```
//! use oc_techempower::{app, fortunes, params};
//! // The count parameter of queries, updates and cached-queries.
//! assert_eq!(params::clamp_count(Some("501")), 500);
//! // The json and plaintext handlers need no database.
//! let resp = app::json(&oc_http::Request::new("GET", "/json"));
//! assert_eq!(resp.header_value("Content-Type"), Some("application/json"));
//! // The fortunes template.
//! let mut page = Vec::new();
//! fortunes::render_page(vec![fortunes::Fortune { id: 1, message: "<&>".into() }], &mut page);
//! assert!(String::from_utf8(page).unwrap().contains("&lt;&amp;&gt;"));
//! ```

pub mod app;
pub mod cli;
pub mod db;
pub mod fortunes;
pub mod lane;
pub mod params;
pub mod setup;
pub mod verify;
pub mod world;
