//! The baseline server: the part of Natter's wire protocol that `send`, `fanout` and
//! `history` use, answered with no storage, no authentication and no business rules.
//!
//! It is a bound, not a mock for tests: whatever the real server does per request, it does
//! at least this much — parse the JSON body, build and serialise the response, and for a
//! message broadcast one serialised frame to every WebSocket (a tokio `broadcast` channel,
//! written coalesced like the real gateway: every queued frame fed, then one flush, with
//! the same 4 KiB buffers). Because it speaks the same routes and bodies, the scenarios run
//! against it unchanged, so the load shape is the same by construction.
//!
//! It runs as its own process (`natter-bench serve`, hidden), started by the harness
//! exactly like `natter serve` (`NATTER_LISTEN`), so that the server and the load generator
//! share the cores the same way in both runs and `cpu` measures each side.
//!
//! Routes: `GET /readyz`; `POST /v1/conversations` (and `…/participants`); `POST
//! /v1/realtime/token` (the token is the user id); `GET /v1/realtime?token=`; `POST
//! /v1/conversations/{id}/messages` (seqs per conversation, kept in memory); `GET
//! /v1/conversations/{id}/messages?limit&before` (a page synthesised from the seqs, each
//! message serialised the first time a page holds it and kept: later pages are the kept
//! bytes copied into the body, which no server that reads a store can undercut).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use natter_proto::{
    AddParticipants, Conversation, ConversationId, ConversationStatus, CreateConversation,
    EventSeq, Hello, Message, MessageId, MessageSeq, MessageType, RealtimeToken, SendMessage,
    UserId,
};
use serde::Deserialize;
use tokio::sync::broadcast;

/// Frames a connection may fall behind by before it is closed (like the real gateway's
/// bounded session queue, which closes a slow consumer with 4001).
const BROADCAST_CAPACITY: usize = 1024;
/// Frames fed before one flush; the real gateway's `COALESCE`.
const COALESCE: usize = 64;
/// The real gateway's read and write buffer sizes.
const SOCKET_BUFFER: usize = 4 * 1024;
/// The header through which the server key acts as a user.
const ACTING_AS_HEADER: &str = "x-natter-user";

#[derive(Clone)]
struct Baseline {
    /// The newest seq of each conversation. A std `Mutex`: held for one increment, never
    /// across an `.await`.
    seqs: Arc<Mutex<HashMap<ConversationId, u64>>>,
    /// Each conversation's messages as JSON, by seq − 1, serialised when a page first holds
    /// them (empty until then).
    pages: Arc<Mutex<HashMap<ConversationId, Vec<Bytes>>>>,
    frames: broadcast::Sender<Bytes>,
}

/// Serves the baseline on `NATTER_LISTEN` until killed.
pub async fn serve() -> anyhow::Result<()> {
    let listen = std::env::var("NATTER_LISTEN").context("NATTER_LISTEN is not set")?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let (frames, _) = broadcast::channel(BROADCAST_CAPACITY);
    let state = Baseline {
        seqs: Arc::default(),
        pages: Arc::default(),
        frames,
    };
    let router = Router::new()
        .route(
            "/readyz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/v1/conversations", post(create_conversation))
        .route(
            "/v1/conversations/{conversation_id}/participants",
            post(add_participants),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages",
            post(send_message).get(list_messages),
        )
        .route("/v1/realtime/token", post(realtime_token))
        .route("/v1/realtime", get(upgrade))
        .with_state(state);
    // TCP_NODELAY, as natter sets it: without it a small frame waits for the client's
    // delayed ACK of the one before.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, router)
        .await
        .context("serving the baseline")
}

fn acting_user(headers: &HeaderMap) -> Option<UserId> {
    let raw = headers.get(ACTING_AS_HEADER)?.to_str().ok()?;
    UserId::parse(raw).ok()
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// `POST /v1/conversations`: a group with a new id; nothing is kept but its seq counter.
async fn create_conversation(
    State(state): State<Baseline>,
    headers: HeaderMap,
    Json(body): Json<CreateConversation>,
) -> Response {
    let id = ConversationId::new();
    state
        .seqs
        .lock()
        .expect("the seq map is never left poisoned: no panics under the lock")
        .insert(id, 0);
    let at = now();
    let conversation = Conversation {
        id,
        kind: body.kind,
        status: ConversationStatus::Active,
        title: body.title,
        description: body.description,
        avatar_url: body.avatar_url,
        context: None,
        created_by: acting_user(&headers),
        created_at: at,
        updated_at: at,
        last_activity_at: at,
        trusted: false,
        encrypted: false,
        message_count: 0,
        last_message_seq: MessageSeq(0),
        latest_event_seq: EventSeq(1),
        last_message: None,
        participant_count: body.participant_ids.len() as u64 + 1,
        peer_id: None,
        unread_count: 0,
        me: None,
        participants: None,
    };
    (StatusCode::CREATED, Json(conversation)).into_response()
}

/// `POST /v1/conversations/{id}/participants`: parsed, accepted and forgotten (an empty
/// list of added participants).
async fn add_participants(
    Path(_conversation_id): Path<ConversationId>,
    Json(_body): Json<AddParticipants>,
) -> Response {
    Json(Vec::<serde_json::Value>::new()).into_response()
}

/// `POST /v1/realtime/token`: the token is the acting user's id.
async fn realtime_token(headers: HeaderMap) -> Response {
    match acting_user(&headers) {
        Some(user_id) => Json(RealtimeToken {
            token: user_id.as_str().to_owned(),
            expires_in: 60,
        })
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// `POST /v1/conversations/{id}/messages`: the next seq, the message as the response, and
/// one `message.created` frame to every connection when anybody listens.
async fn send_message(
    State(state): State<Baseline>,
    Path(conversation_id): Path<ConversationId>,
    headers: HeaderMap,
    Json(body): Json<SendMessage>,
) -> Response {
    let seq = {
        let mut seqs = state
            .seqs
            .lock()
            .expect("the seq map is never left poisoned: no panics under the lock");
        let seq = seqs.entry(conversation_id).or_insert(0);
        *seq += 1;
        *seq
    };
    let message = message(
        conversation_id,
        seq,
        acting_user(&headers),
        body.content.unwrap_or_default(),
    );
    if state.frames.receiver_count() > 0 {
        let frame = serde_json::json!({
            "type": "message.created",
            "conversation_id": conversation_id,
            "seq": seq,
            "data": &message,
            "ts": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        });
        // Serialised once; every connection writes the same bytes. No receiver is not an
        // error here.
        let _ = state.frames.send(Bytes::from(frame.to_string()));
    }
    (StatusCode::CREATED, Json(message)).into_response()
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    limit: Option<u64>,
    before: Option<u64>,
}

/// `GET /v1/conversations/{id}/messages?limit&before`: newest first, synthesised from the
/// seq counter with content of the `history` fill's length; each message is serialised
/// once, the first time a page holds it, and its bytes are reused by every later page.
async fn list_messages(
    State(state): State<Baseline>,
    Path(conversation_id): Path<ConversationId>,
    Query(query): Query<PageQuery>,
) -> Response {
    let newest = state
        .seqs
        .lock()
        .expect("the seq map is never left poisoned: no panics under the lock")
        .get(&conversation_id)
        .copied()
        .unwrap_or(0);
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let first = query
        .before
        .map_or(newest, |before| before.saturating_sub(1))
        .min(newest);
    let last = first.saturating_sub(limit - 1).max(1);
    let items: Vec<Bytes> = {
        let mut pages = state
            .pages
            .lock()
            .expect("the page map is never left poisoned: no panics under the lock");
        let kept = pages.entry(conversation_id).or_default();
        if kept.len() < first as usize {
            kept.resize(first as usize, Bytes::new());
        }
        (last..=first)
            .rev()
            .map(|seq| {
                let slot = &mut kept[seq as usize - 1];
                if slot.is_empty() {
                    let content = format!(
                        "history message {seq:06}: the quick brown fox jumps over the lazy \
                         dog, twice, and then rests"
                    );
                    let message = message(conversation_id, seq, None, content);
                    *slot = Bytes::from(
                        serde_json::to_vec(&message)
                            .expect("a message of a current time and plain fields serialises"),
                    );
                }
                slot.clone()
            })
            .collect()
    };
    let next = (first > 0 && last > 1).then(|| last.to_string());
    let mut body = Vec::with_capacity(items.iter().map(Bytes::len).sum::<usize>() + 64);
    body.extend_from_slice(b"{\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    if let Some(next) = next {
        body.extend_from_slice(b",\"next\":\"");
        body.extend_from_slice(next.as_bytes());
        body.push(b'"');
    }
    body.push(b'}');
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn message(
    conversation_id: ConversationId,
    seq: u64,
    sender_id: Option<UserId>,
    content: String,
) -> Message {
    Message {
        id: MessageId::new(),
        conversation_id,
        seq: MessageSeq(seq),
        sender_id,
        kind: MessageType::Text,
        content: Some(content),
        client_message_id: None,
        reply_to_id: None,
        mentions: Vec::new(),
        created_at: now(),
        edited_at: None,
        edit_count: 0,
        deleted_at: None,
        pii_masked: false,
        delivery: None,
        read_by_all: false,
        reactions: Vec::new(),
        thread_root_id: None,
        thread: None,
        attachments: Vec::new(),
    }
}

#[derive(Debug, Deserialize)]
struct GatewayQuery {
    token: String,
}

/// `GET /v1/realtime?token=<user id>`.
async fn upgrade(
    State(state): State<Baseline>,
    Query(query): Query<GatewayQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Ok(user_id) = UserId::parse(&query.token) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // Subscribed before the upgrade completes, so no frame after the `hello` is missed.
    let frames = state.frames.subscribe();
    upgrade
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .on_upgrade(move |socket| session(socket, user_id, frames))
}

/// One connection: the `hello`, then broadcast frames written coalesced, until either side
/// ends it or it falls [`BROADCAST_CAPACITY`] frames behind.
async fn session(socket: WebSocket, user_id: UserId, mut frames: broadcast::Receiver<Bytes>) {
    let (mut sink, mut stream) = socket.split();
    let hello = Hello {
        connection_id: format!("baseline-{user_id}"),
        user_id,
        heartbeat_interval_ms: 25_000,
        sync_token: String::new(),
    };
    let hello = serde_json::json!({ "type": "hello", "data": hello }).to_string();
    if sink
        .send(WsMessage::Text(Utf8Bytes::from(hello)))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Ok(frame) = frame else { break };
                let mut batch = vec![frame];
                while batch.len() < COALESCE {
                    match frames.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                if write(&mut sink, batch).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => {
                match incoming {
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

async fn write(
    sink: &mut futures_util::stream::SplitSink<WebSocket, WsMessage>,
    batch: Vec<Bytes>,
) -> Result<(), axum::Error> {
    for frame in batch {
        if let Ok(text) = Utf8Bytes::try_from(frame) {
            sink.feed(WsMessage::Text(text)).await?;
        }
    }
    sink.flush().await
}
