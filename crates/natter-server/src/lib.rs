//! The Natter server: configuration, wiring of the chosen store, the HTTP edge, and
//! [`serve`], the testable entry point the `natter` binary and the tests both call.
//!
//! This is the only crate that knows HTTP, and the only one that picks concrete backends
//! (see [`wiring`]). Where to look next: `http/mod.rs` for the routes.

#![forbid(unsafe_code)]

pub mod config;
pub mod http;
pub mod wiring;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

pub use config::Config;

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight
/// requests and returns.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = wiring::build_app(&config)
        .await
        .context("building the app")?;
    let router = http::router(app, config.limits.max_body_bytes);
    tracing::info!(address = %listener.local_addr().context("reading the listen address")?, "natter is listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    tracing::info!("natter stopped");
    Ok(())
}
