//! `connections`: N idle WebSockets, one user each; the server's memory per connection and
//! the time to connect.
//!
//! Phases: the server's RSS right after it answered ready (`rss_fresh_kb`; a spawned server
//! only), one realtime token per user (which also creates the users), the RSS again
//! (`rss_before_kb`), then the connections, `--concurrency` at a time, each a TCP connect,
//! the upgrade and the `hello` (timed). After `--idle` seconds the RSS is read a third time
//! (`rss_after_kb`); `kb_per_connection` is the growth over the connections that opened.
//!
//! Client sockets are bound round robin to `127.0.0.2`, `127.0.0.3`, … (`--source-addresses`),
//! so N is not capped by one address's ephemeral ports (about 28,000 on Linux); the open
//! file limit of both processes (`ulimit -n`, reported) usually caps it first. Each
//! connection keeps a task that reads, so pings are answered (the server drops a client
//! silent for 50 s). Ported from `scripts/idle-connections.py`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{self, Latencies, LatencySummary, Target};

/// Realtime tokens requested at the same time during setup.
const TOKEN_CONCURRENCY: usize = 32;
/// The client's WebSocket buffers: small, so that the generator holds many connections.
const CLIENT_BUFFER: usize = 4 * 1024;

/// Flags of `natter-bench connections`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionsArgs {
    /// Idle WebSockets to open, one user each.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Client source addresses 127.0.0.2, 127.0.0.3, … used round robin (1–250).
    #[arg(long, default_value_t = 4)]
    source_addresses: u8,
    /// Seconds to hold the connections idle before reading the server's memory.
    #[arg(long, default_value_t = 2.0)]
    idle: f64,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct ConnectionsReport {
    scenario: &'static str,
    /// Connections asked for.
    requested: usize,
    /// Connections that opened and got their `hello`.
    connected: usize,
    /// Connections that failed to open.
    failed: usize,
    first_error: Option<String>,
    /// Connections that ended while idle.
    dropped_while_idle: usize,
    /// Seconds from the first connect to the last `hello`.
    connect_s: f64,
    /// Connections opened per second.
    connections_per_s: f64,
    /// TCP connect, upgrade and `hello`, per connection.
    connect_latency: LatencySummary,
    /// Server RSS right after it was ready (spawned server only).
    rss_fresh_kb: Option<u64>,
    /// Of which private memory (`RssAnon`), the rest being code pages of the binary.
    rss_anon_fresh_kb: Option<u64>,
    /// Server RSS after the users and tokens were created, before connecting.
    rss_before_kb: Option<u64>,
    /// Server RSS with every connection open and idle.
    rss_after_kb: Option<u64>,
    /// `(rss_after_kb − rss_before_kb) / connected`.
    kb_per_connection: Option<f64>,
    /// The open file limit (soft) of this process and of the server.
    open_files_limit: OpenFilesLimit,
    source_addresses: u8,
}

/// Soft limits on open files (`ulimit -n`), from `/proc/<pid>/limits`.
#[derive(Debug, Serialize)]
struct OpenFilesLimit {
    bench: Option<u64>,
    server: Option<u64>,
}

impl ConnectionsReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let show = |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let mut summary = format!(
            "connections: {} of {} open ({} failed, {} dropped while idle) in {} s \
             ({} connections/s)\n  connect latency: {}\n  server RSS: fresh {} KB ({} KB private), \
             before {} KB, after {} KB: {} KB per connection\n  open files limit: bench {}, server {}",
            self.connected,
            self.requested,
            self.failed,
            self.dropped_while_idle,
            self.connect_s,
            self.connections_per_s,
            self.connect_latency,
            show(self.rss_fresh_kb),
            show(self.rss_anon_fresh_kb),
            show(self.rss_before_kb),
            show(self.rss_after_kb),
            self.kb_per_connection
                .map_or_else(|| "?".to_owned(), |v| v.to_string()),
            show(self.open_files_limit.bench),
            show(self.open_files_limit.server),
        );
        if let Some(error) = &self.first_error {
            summary.push_str(&format!("\n  first error: {error}"));
        }
        summary
    }
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, args: &ConnectionsArgs) -> anyhow::Result<ConnectionsReport> {
    if args.connections == 0 || args.concurrency == 0 || !(1..=250).contains(&args.source_addresses)
    {
        bail!("--connections and --concurrency must be positive, --source-addresses 1–250");
    }
    let rss_fresh_kb = target.server_rss_kb();
    let rss_anon_fresh_kb = target.server_anon_rss_kb();
    let server = server_address(target.base_url()).await?;
    let users = target.users("idle", args.connections)?;
    let tokens: Vec<String> = futures_util::stream::iter(users)
        .map(|user| async move {
            user.client
                .realtime_token()
                .await
                .map(|token| token.token)
                .with_context(|| format!("getting a realtime token for {}", user.id))
        })
        .buffer_unordered(TOKEN_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    // Let the allocator settle after the burst of token requests.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kb = target.server_rss_kb();

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut holders = JoinSet::new();
    let mut latencies = Latencies::default();
    let (mut failed, mut first_error) = (0, None);
    let started = Instant::now();
    let mut opening = futures_util::stream::iter(tokens.into_iter().enumerate())
        .map(|(index, token)| {
            let source = Ipv4Addr::new(
                127,
                0,
                0,
                2 + (index % usize::from(args.source_addresses)) as u8,
            );
            let url = format!("ws://{server}/v1/realtime?token={token}");
            async move {
                let connect_started = Instant::now();
                let socket = connect(source, server, &url).await?;
                Ok::<_, anyhow::Error>((socket, connect_started.elapsed()))
            }
        })
        .buffer_unordered(args.concurrency);
    while let Some(opened) = opening.next().await {
        match opened {
            Ok((socket, latency)) => {
                latencies.record(latency);
                holders.spawn(hold(socket, stop_rx.clone()));
            }
            Err(err) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }
    let connect_time = started.elapsed();
    let connected = latencies.len();

    tokio::time::sleep(Duration::from_secs_f64(args.idle.max(0.0))).await;
    let rss_after_kb = target.server_rss_kb();
    let _ = stop_tx.send(true);
    let mut dropped_while_idle = 0;
    while let Some(joined) = holders.join_next().await {
        if !joined.context("a connection task panicked")? {
            dropped_while_idle += 1;
        }
    }
    let kb_per_connection = match (rss_before_kb, rss_after_kb) {
        (Some(before), Some(after)) if connected > 0 => {
            Some(((after as f64 - before as f64) / connected as f64 * 100.0).round() / 100.0)
        }
        _ => None,
    };
    Ok(ConnectionsReport {
        scenario: "connections",
        requested: args.connections,
        connected,
        failed,
        first_error,
        dropped_while_idle,
        connect_s: (connect_time.as_secs_f64() * 100.0).round() / 100.0,
        connections_per_s: harness::per_second(connected as u64, connect_time),
        connect_latency: latencies.summary(),
        rss_fresh_kb,
        rss_anon_fresh_kb,
        rss_before_kb,
        rss_after_kb,
        kb_per_connection,
        open_files_limit: OpenFilesLimit {
            bench: harness::open_files_limit("self"),
            server: target
                .server_pid()
                .and_then(|pid| harness::open_files_limit(&pid.to_string())),
        },
        source_addresses: args.source_addresses,
    })
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The server's socket address, from a base URL like `http://127.0.0.1:8080`.
async fn server_address(base_url: &str) -> anyhow::Result<SocketAddr> {
    let host_port = base_url
        .strip_prefix("http://")
        .context("connections needs an http:// server URL")?;
    tokio::net::lookup_host(host_port)
        .await
        .with_context(|| format!("resolving {host_port}"))?
        .find(SocketAddr::is_ipv4)
        .with_context(|| format!("{host_port} has no IPv4 address"))
}

/// Opens one connection from `source` and waits for its `hello`.
async fn connect(source: Ipv4Addr, server: SocketAddr, url: &str) -> anyhow::Result<Socket> {
    let socket = TcpSocket::new_v4().context("creating a socket")?;
    socket
        .bind(SocketAddr::from((source, 0)))
        .with_context(|| format!("binding to {source}"))?;
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connecting from {source}"))?;
    let config = WebSocketConfig::default()
        .read_buffer_size(CLIENT_BUFFER)
        .write_buffer_size(CLIENT_BUFFER);
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .context("upgrading to a WebSocket")?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.as_str().contains("\"hello\"") => Ok(socket),
        Some(Ok(other)) => bail!("expected hello, got {other:?}"),
        Some(Err(err)) => Err(err).context("reading the hello"),
        None => bail!("the connection ended before its hello"),
    }
}

/// Reads (and so answers pings) until told to stop; `false` when the connection ended first.
async fn hold(mut socket: Socket, mut stop: watch::Receiver<bool>) -> bool {
    loop {
        tokio::select! {
            // The guard `wait_for` returns is not `Send`: drop it before closing.
            _ = stop.wait_for(|stop| *stop) => break,
            message = socket.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return false,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.close(None).await;
    true
}
