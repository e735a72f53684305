//! The realtime gateway: `GET /v1/realtime`, one WebSocket per device.
//!
//! A session is one `select!` loop: frames from the hub (written coalesced: every frame
//! already queued is fed, then one flush), frames from the client, heartbeats, and the
//! hub's request to close (the session fell behind: close code 4001, resync; the node is
//! stopping: 1012, reconnect). Buffers are sized so that an idle connection costs a few
//! kilobytes. See `docs/protocol.md` for the conversation with a client.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use natter_app::{Actor, App, AppError, CloseReason, Session};
use natter_proto::realtime::close_code;
use natter_proto::{ClientFrame, Hello};
use serde::Deserialize;
use serde_json::json;

use crate::http::error::ApiError;

/// How often the server pings; a client silent for two intervals is dropped.
pub const HEARTBEAT: Duration = Duration::from_secs(25);
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CLIENT_FRAME: usize = 16 * 1024;

/// The socket's read buffer. tungstenite allocates it up front and zero-fills it before
/// every read attempt, and the connection loop polls the socket each time it wakes (once
/// per event delivered), so at 4 KiB the zeroing alone was 4 % of a 1,000-receiver
/// fan-out's server CPU. Client frames are small; a larger one grows the buffer to its
/// length (up to `MAX_CLIENT_FRAME`).
const READ_BUFFER: usize = 512;
const COALESCE: usize = 64;
/// Client frames allowed per second (burst twice that); excess frames get an error frame.
const CLIENT_FRAMES_PER_SECOND: f64 = 20.0;

/// Routes of the gateway.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<App> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(upgrade))
}

#[derive(Debug, Deserialize)]
struct GatewayQuery {
    token: Option<String>,
}

/// `GET /v1/realtime`: authenticates a `?token=` before upgrading; without one the first
/// frame must be `{"type":"auth","token":…}`.
#[utoipa::path(get, path = "/v1/realtime", tag = "realtime",
    params(("token" = Option<String>, Query, description = "A realtime token from POST /v1/realtime/token; without it, send {\"type\":\"auth\",\"token\":…} first")),
    responses(
        (status = 101, description = "WebSocket: a `hello` frame, then events as ServerFrame JSON. Client frames: ping, typing.start, typing.stop, ack, read. Close codes 4001 resync, 4401 unauthorized, 4408 auth timeout, 1012 restart. See docs/protocol.md.", body = natter_proto::ServerFrame),
        (status = 401, body = natter_proto::Problem)))]
async fn upgrade(
    State(app): State<App>,
    Query(query): Query<GatewayQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let actor = match query.token {
        Some(token) => match app.auth.verify_realtime(&token, app.realtime.now_unix()) {
            Ok(actor) => Some(actor),
            Err(failure) => return ApiError::from(AppError::Unauthorized(failure)).into_response(),
        },
        None => None,
    };
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| run(app, socket, actor))
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

fn error_frame(code: &str, detail: impl std::fmt::Display) -> Message {
    text(json!({ "type": "error", "data": { "code": code, "detail": detail.to_string() } }))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// Waits for the `auth` frame.
async fn authenticate(app: &App, socket: &mut WebSocket) -> Result<Actor, (u16, String)> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .map_err(|_| (close_code::AUTH_TIMEOUT, "auth_timeout".to_owned()))?;
    let Some(Ok(Message::Text(raw))) = first else {
        return Err((close_code::UNAUTHORIZED, "auth_required".to_owned()));
    };
    let Ok(ClientFrame::Auth { token }) = serde_json::from_str::<ClientFrame>(raw.as_str()) else {
        return Err((close_code::UNAUTHORIZED, "auth_required".to_owned()));
    };
    let actor = match app.auth.verify_realtime(&token, app.realtime.now_unix()) {
        Ok(actor) => actor,
        Err(_) => app
            .auth
            .authenticate(Some(&token), None)
            .map_err(|err| match err {
                AppError::Unauthorized(failure) => {
                    (close_code::UNAUTHORIZED, failure.code().to_owned())
                }
                _ => (close_code::UNAUTHORIZED, "unauthorized".to_owned()),
            })?,
    };
    if actor.user_id.is_none() {
        return Err((close_code::UNAUTHORIZED, "user_required".to_owned()));
    }
    Ok(actor)
}

async fn run(app: App, mut socket: WebSocket, actor: Option<Actor>) {
    let actor = match actor {
        Some(actor) => actor,
        None => match authenticate(&app, &mut socket).await {
            Ok(actor) => actor,
            Err((code, reason)) => {
                let _ = socket.send(close(code, &reason)).await;
                return;
            }
        },
    };
    let session = match app.users.ensure(&actor).await {
        Ok(()) => match actor.user_id.as_ref() {
            Some(user_id) => app.realtime.hub().connect(user_id).await,
            None => Err(AppError::Unauthorized(natter_app::AuthFailure::Missing)),
        },
        Err(err) => Err(err),
    };
    let session = match session {
        Ok(session) => session,
        Err(err) => {
            tracing::warn!(error = %err, "realtime session refused");
            let _ = socket
                .send(close(close_code::SERVICE_RESTART, "unavailable"))
                .await;
            return;
        }
    };
    let hello = Hello {
        connection_id: format!("{}-{}", app.realtime.hub().node(), session.id()),
        user_id: session.user_id().clone(),
        heartbeat_interval_ms: HEARTBEAT.as_millis() as u64,
        sync_token: app.realtime.sync_token(),
    };
    if socket
        .send(text(json!({ "type": "hello", "data": hello })))
        .await
        .is_err()
    {
        return;
    }
    serve_session(app, socket, session).await;
}

/// A token bucket for client frames.
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * CLIENT_FRAMES_PER_SECOND;
        self.tokens = (self.tokens + refill).min(2.0 * CLIENT_FRAMES_PER_SECOND);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts an open connection for `/metrics` while it lives.
struct OpenConnection(std::sync::Arc<natter_app::metrics::Metrics>);

impl OpenConnection {
    fn new(metrics: std::sync::Arc<natter_app::metrics::Metrics>) -> Self {
        metrics
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn serve_session(app: App, socket: WebSocket, mut session: Session) {
    let _open = OpenConnection::new(app.metrics.clone());
    let (mut sink, mut stream) = socket.split();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut last_heard = Instant::now();
    let mut bucket = Bucket {
        tokens: 2.0 * CLIENT_FRAMES_PER_SECOND,
        last: Instant::now(),
    };
    let close_signal = session.close_signal();
    loop {
        tokio::select! {
            reason = close_signal.closed() => {
                let (code, why) = match reason {
                    CloseReason::Resync => {
                        app.metrics.slow_consumers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        (close_code::RESYNC, "resync")
                    }
                    CloseReason::Shutdown => (close_code::SERVICE_RESTART, "server restarting: reconnect"),
                };
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close(code, why))).await;
                break;
            }
            frame = session.next_frame() => {
                let Some(frame) = frame else { break };
                let written = tokio::time::timeout(WRITE_TIMEOUT, async {
                    feed(&mut sink, frame).await?;
                    let mut fed = 1;
                    while fed < COALESCE {
                        let Some(more) = session.try_next_frame() else { break };
                        feed(&mut sink, more).await?;
                        fed += 1;
                    }
                    sink.flush().await
                })
                .await;
                if !matches!(written, Ok(Ok(()))) {
                    break;
                }
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break };
                last_heard = Instant::now();
                let reply = match message {
                    Message::Text(raw) => {
                        if bucket.allow() {
                            handle_client_frame(&app, &session, raw.as_str()).await
                        } else {
                            Some(error_frame("rate_limited", "too many frames; slow down"))
                        }
                    }
                    Message::Binary(_) => Some(error_frame("invalid_frame", "frames are JSON text")),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply {
                    if !matches!(tokio::time::timeout(WRITE_TIMEOUT, sink.send(reply)).await, Ok(Ok(()))) {
                        break;
                    }
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > 2 * HEARTBEAT {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close(close_code::POLICY, "heartbeat missed"))).await;
                    break;
                }
                if !matches!(tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Ping(bytes::Bytes::new()))).await, Ok(Ok(()))) {
                    break;
                }
            }
        }
    }
    drop(session);
}

async fn feed(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    frame: bytes::Bytes,
) -> Result<(), axum::Error> {
    match Utf8Bytes::try_from(frame) {
        Ok(text) => sink.feed(Message::Text(text)).await,
        // The hub only produces JSON; a non-UTF-8 frame would be a bug: skip it.
        Err(_) => Ok(()),
    }
}

async fn handle_client_frame(app: &App, session: &Session, raw: &str) -> Option<Message> {
    let frame = match serde_json::from_str::<ClientFrame>(raw) {
        Ok(frame) => frame,
        Err(err) => return Some(error_frame("invalid_frame", err)),
    };
    let result = match frame {
        ClientFrame::Ping => {
            return Some(text(
                json!({ "type": "pong", "ts": app.realtime.sync_token_time() }),
            ));
        }
        ClientFrame::Auth { .. } => {
            return Some(error_frame(
                "already_authenticated",
                "this connection is authenticated",
            ))
        }
        ClientFrame::TypingStart { conversation_id } => session.typing(conversation_id, true).await,
        ClientFrame::TypingStop { conversation_id } => session.typing(conversation_id, false).await,
        ClientFrame::Ack {
            conversation_id,
            seq,
        } => session.ack(conversation_id, seq).await,
        ClientFrame::Read {
            conversation_id,
            seq,
        } => session.read(conversation_id, seq).await,
    };
    match result {
        Ok(()) => None,
        Err(AppError::NotFound(resource)) => {
            Some(error_frame(resource.code(), "not a conversation of yours"))
        }
        Err(AppError::Unavailable) => Some(error_frame("store_unavailable", "try again")),
        Err(err) => {
            tracing::warn!(error = %err, "realtime frame failed");
            Some(error_frame("internal", "the frame could not be processed"))
        }
    }
}
