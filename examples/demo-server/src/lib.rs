//! The demo JWT server's API as a library: the `demo-server` binary serves it alone, and the
//! server-rendered example (`examples/ssr`) mounts the same routes in its own axum app.

// Handlers return `Result<Response, Response>`: the error *is* the HTTP answer, so boxing it
// would only add noise.
#![allow(clippy::result_large_err)]

pub mod routes;
pub mod tokens;

/// The HS256 secret the demo signs with unless `--secret` says otherwise. A demo value: a real
/// server keeps its key out of the source.
pub const DEMO_SECRET: &str = "demo-secret-change-me";
