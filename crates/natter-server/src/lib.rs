//! The Natter server: configuration, wiring of the chosen store, the HTTP edge, and
//! [`serve`], the testable entry point the `natter` binary and the tests both call.
//!
//! This is the only crate that knows HTTP, and the only one that picks concrete backends
//! (see [`wiring`]). Where to look next: `http/mod.rs` for the routes.

#![forbid(unsafe_code)]

pub mod config;
pub mod http;
pub mod wiring;
pub mod ws;

use std::future::Future;

use anyhow::Context;
use axum::serve::ListenerExt;
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
    let hub = app.realtime.hub().clone();
    let hub_task = hub.start();
    let purge_task = tokio::spawn(purge_deleted_content(app.clone(), config.messages.clone()));
    let cleanup_task = tokio::spawn(clean_attachments(
        app.clone(),
        config.attachments.cleanup_interval_secs,
    ));
    let router = http::router(app.clone(), config.limits.max_body_bytes);
    // Start-up freed most of what it allocated (building the OpenAPI document above all),
    // but glibc keeps freed memory that lies below live allocations: give it back before
    // the server idles (about 1.8 MB, a tenth of an idle server's RSS; see natter-sys).
    let released = natter_sys::release_free_memory();
    tracing::debug!(released, "returned the memory start-up freed");
    tracing::info!(
        address = %listener.local_addr().context("reading the listen address")?,
        node = hub.node(),
        "natter is listening"
    );
    // Upgraded WebSocket connections are outside axum's graceful shutdown, so the hub
    // closes them itself (close code 1012: reconnect elsewhere).
    let closing = hub.clone();
    // TCP_NODELAY: a realtime frame goes out when it is written. With Nagle's algorithm a
    // small frame waited for the ACK of the one before it, which the client delays (up to
    // 40 ms on Linux) when it has nothing to send back.
    let listener = listener.tap_io(|stream| {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.close_all();
        })
        .await
        .context("serving HTTP")?;
    hub_task.abort();
    purge_task.abort();
    cleanup_task.abort();
    tracing::info!("natter stopped");
    Ok(())
}

/// The retention job: purges the content of messages deleted longer ago than
/// `deleted_retention_days`, every `purge_interval_secs`.
async fn purge_deleted_content(app: natter_app::App, config: config::MessagesConfig) {
    let retention = std::time::Duration::from_secs(config.deleted_retention_days * 86_400);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(
        config.purge_interval_secs.max(1),
    ));
    loop {
        every.tick().await;
        match app.messages.purge_deleted(retention).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged the content of deleted messages"),
            Err(err) => {
                tracing::warn!(error = %err, "purging deleted messages failed; retrying next run")
            }
        }
    }
}

/// The attachment job: every `interval_secs`, deletes uploads never attached, removes the
/// files of messages deleted longer than the retention period, and retries pending scans.
async fn clean_attachments(app: natter_app::App, interval_secs: u64) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(interval_secs.max(1)));
    loop {
        every.tick().await;
        match app.attachments.cleanup().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unused and deleted attachments"),
            Err(err) => {
                tracing::warn!(error = ?err, "attachment cleanup failed; retrying next run")
            }
        }
    }
}
