//! The realtime gateway from the client side.
//!
//! [`Connection`]: one WebSocket, authenticated, past its `hello`.
//! [`ResumingStream`]: what an application wants — every event of every conversation of
//! the user exactly once, in seq order per conversation, across disconnects. It holds the
//! last event seq per conversation; a frame whose seq jumps is preceded by the missing
//! events fetched from `/v1/conversations/{id}/events`; a frame it already holds is
//! dropped; after a disconnect it reconnects with exponential backoff and catches up
//! through `/v1/sync` before applying live frames again.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use natter_proto::{
    ClientFrame, ConversationId, Event, EventSeq, Hello, RealtimeToken, ServerFrame, SetTyping,
    TypingState, UserId, UserPresence,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Client, ClientError, Method, NO_BODY};

fn realtime_error(reason: impl std::fmt::Display) -> ClientError {
    ClientError::Realtime {
        code: None,
        reason: reason.to_string(),
    }
}

impl Client {
    /// `POST /v1/realtime/token`: a 60-second token for the gateway's `?token=`.
    pub async fn realtime_token(&self) -> Result<RealtimeToken, ClientError> {
        self.send(Method::POST, "/v1/realtime/token", NO_BODY).await
    }

    /// `POST /v1/conversations/{id}/typing`.
    pub async fn set_typing(
        &self,
        conversation_id: ConversationId,
        typing: bool,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/conversations/{conversation_id}/typing");
        let body = crate::RawBody {
            content_type: "application/json".into(),
            bytes: serde_json::to_vec(&SetTyping { typing }).unwrap_or_default(),
        };
        let response = self.raw(Method::POST, &path, Some(body)).await?;
        if response.status == 204 {
            Ok(())
        } else {
            response.decode::<serde_json::Value>().map(|_| ())
        }
    }

    /// `GET /v1/conversations/{id}/typing`.
    pub async fn typing(
        &self,
        conversation_id: ConversationId,
    ) -> Result<TypingState, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/conversations/{conversation_id}/typing"),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/users/{id}/presence`.
    pub async fn presence(&self, user_id: &UserId) -> Result<UserPresence, ClientError> {
        let path = format!(
            "/v1/users/{}/presence",
            crate::query::encode(user_id.as_str())
        );
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// Opens a gateway connection with a fresh realtime token.
    pub async fn connect_realtime(&self) -> Result<Connection, ClientError> {
        let token = self.realtime_token().await?;
        Connection::connect_with_token(self.base_url(), &token.token).await
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One authenticated gateway connection.
pub struct Connection {
    socket: Socket,
    hello: Hello,
}

/// The socket's read buffer. tungstenite zero-fills the whole buffer before every read
/// attempt; at its default of 128 KiB that was a quarter of the CPU of a process receiving
/// 100,000 frames/s over 1,000 connections. Gateway frames are a few hundred bytes; a
/// longer one is read across several reads into a growing frame buffer.
const READ_BUFFER: usize = 4 * 1024;

/// Opens the WebSocket (no Nagle delay: frames are small and latency-sensitive).
async fn connect(url: String) -> Result<Socket, ClientError> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(realtime_error)?;
    Ok(socket)
}

fn ws_url(base_url: &str) -> String {
    if let Some(rest) = base_url.strip_prefix("https://") {
        format!("wss://{rest}/v1/realtime")
    } else if let Some(rest) = base_url.strip_prefix("http://") {
        format!("ws://{rest}/v1/realtime")
    } else {
        format!("{base_url}/v1/realtime")
    }
}

impl Connection {
    /// Connects with a realtime token in the query string.
    pub async fn connect_with_token(base_url: &str, token: &str) -> Result<Self, ClientError> {
        let url = format!("{}?token={}", ws_url(base_url), crate::query::encode(token));
        Self::after_handshake(connect(url).await?).await
    }

    /// Connects and authenticates with a first `auth` frame (user JWT or realtime token).
    pub async fn connect_with_auth_frame(base_url: &str, token: &str) -> Result<Self, ClientError> {
        let mut socket = connect(ws_url(base_url)).await?;
        let auth = serde_json::to_string(&ClientFrame::Auth {
            token: token.to_owned(),
        })
        .map_err(realtime_error)?;
        socket
            .send(Message::Text(auth.into()))
            .await
            .map_err(realtime_error)?;
        Self::after_handshake(socket).await
    }

    async fn after_handshake(socket: Socket) -> Result<Self, ClientError> {
        let mut connection = Self {
            socket,
            hello: Hello {
                connection_id: String::new(),
                user_id: UserId::parse("x").map_err(realtime_error)?,
                heartbeat_interval_ms: 0,
                sync_token: String::new(),
            },
        };
        let first = connection.next_frame().await?;
        if first.kind != "hello" {
            return Err(realtime_error(format!(
                "expected hello, got {}",
                first.kind
            )));
        }
        connection.hello = serde_json::from_value(first.data).map_err(realtime_error)?;
        Ok(connection)
    }

    /// The server's `hello`.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The next frame from the server. Pings are answered automatically; a close frame
    /// becomes [`ClientError::Realtime`] with its code.
    pub async fn next_frame(&mut self) -> Result<ServerFrame, ClientError> {
        self.next_frame_as().await
    }

    /// [`Connection::next_frame`] decoded as `T`: a projection of [`ServerFrame`] with only
    /// the fields the caller reads, the rest skipped unparsed. Cancel-safe, as `next_frame`
    /// is.
    pub async fn next_frame_as<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Result<T, ClientError> {
        self.next_text_with(|text| serde_json::from_str(text).map_err(realtime_error))
            .await?
    }

    /// Hands the next text frame to `read`, unparsed and without a copy: for a load
    /// generator that reads a million frames a second and decodes them borrowing from the
    /// frame. Pings are answered automatically; a close frame becomes
    /// [`ClientError::Realtime`] with its code. Cancel-safe: a frame is either handed over
    /// or left in the stream.
    pub async fn next_text_with<R>(
        &mut self,
        read: impl FnOnce(&str) -> R,
    ) -> Result<R, ClientError> {
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or_else(|| realtime_error("connection ended"))?
                .map_err(realtime_error)?;
            match message {
                Message::Text(text) => return Ok(read(text.as_str())),
                Message::Close(frame) => {
                    return Err(ClientError::Realtime {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame
                            .map(|f| f.reason.to_string())
                            .unwrap_or_else(|| "closed".into()),
                    });
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Binary(_) => {
                    continue
                }
            }
        }
    }

    /// The next frame, or `None` after `wait` without one.
    pub async fn next_frame_within(
        &mut self,
        wait: Duration,
    ) -> Result<Option<ServerFrame>, ClientError> {
        match tokio::time::timeout(wait, self.next_frame()).await {
            Ok(frame) => frame.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Sends a frame to the server.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        let text = serde_json::to_string(frame).map_err(realtime_error)?;
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(realtime_error)
    }

    /// Sends raw text (for tests of invalid frames).
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .map_err(realtime_error)
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}

/// Turns an event frame into an [`Event`]; `None` for ephemeral and control frames.
pub fn event_of(frame: &ServerFrame) -> Option<Event> {
    Some(Event {
        kind: frame.kind.clone(),
        conversation_id: frame.conversation_id?,
        seq: frame.seq?,
        data: frame.data.clone(),
        ts: frame.ts?,
    })
}

/// Every event of the user's conversations, exactly once and in order, across
/// disconnects. Conversations it learns about mid-stream start at the first event it
/// sees of them (an added participant starts at its `participant.added`).
pub struct ResumingStream {
    client: Client,
    connection: Option<Connection>,
    held: HashMap<ConversationId, EventSeq>,
    ready: VecDeque<Event>,
    ephemeral: VecDeque<ServerFrame>,
    sync_token: Option<String>,
    backoff: Duration,
    /// Reconnections so far.
    pub reconnects: u32,
    /// Events fetched over REST to fill gaps or catch up (not received live).
    pub fetched: u64,
}

const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl ResumingStream {
    /// Starts: connects, then records every conversation's current seq as the starting
    /// point (history before now is not replayed).
    pub async fn start(client: Client) -> Result<Self, ClientError> {
        let mut stream = Self {
            client,
            connection: None,
            held: HashMap::new(),
            ready: VecDeque::new(),
            ephemeral: VecDeque::new(),
            sync_token: None,
            backoff: MIN_BACKOFF,
            reconnects: 0,
            fetched: 0,
        };
        stream.connection = Some(stream.client.connect_realtime().await?);
        let sync = stream.client.sync(None).await?;
        for entry in sync.conversations.iter().filter(|e| !e.removed) {
            stream.held.insert(entry.conversation_id, entry.latest_seq);
        }
        stream.sync_token = Some(sync.next_token);
        Ok(stream)
    }

    /// The last event seq held per conversation.
    pub fn held(&self) -> &HashMap<ConversationId, EventSeq> {
        &self.held
    }

    /// Whether a connection is open right now.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Drops the connection abruptly (the next call reconnects), as a network failure would.
    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    /// The next ephemeral frame (typing, presence) received so far, if any.
    pub fn next_ephemeral(&mut self) -> Option<ServerFrame> {
        self.ephemeral.pop_front()
    }

    /// The next event, in seq order per conversation, never twice.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            let Some(connection) = self.connection.as_mut() else {
                self.reconnect().await;
                continue;
            };
            match connection.next_frame().await {
                Ok(frame) => match event_of(&frame) {
                    Some(event) => self.accept(event).await?,
                    None if frame.kind == "error"
                        || frame.kind == "pong"
                        || frame.kind == "hello" => {}
                    None => self.ephemeral.push_back(frame),
                },
                Err(_) => self.connection = None,
            }
        }
    }

    /// The next event, or `None` after `wait`.
    pub async fn next_event_within(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Event>, ClientError> {
        match tokio::time::timeout(wait, self.next_event()).await {
            Ok(event) => event.map(Some),
            Err(_) => Ok(None),
        }
    }

    async fn accept(&mut self, event: Event) -> Result<(), ClientError> {
        let conversation_id = event.conversation_id;
        let held = match self.held.get(&conversation_id) {
            Some(held) => *held,
            None => EventSeq(event.seq.0.saturating_sub(1)),
        };
        if event.seq <= held {
            return Ok(()); // already delivered
        }
        if event.seq.0 > held.0 + 1 {
            self.fill(conversation_id, held, event.seq).await?;
        }
        if event.seq > self.held.get(&conversation_id).copied().unwrap_or(held) {
            self.held.insert(conversation_id, event.seq);
            self.ready.push_back(event);
        }
        Ok(())
    }

    /// Fetches events `(after, until)` of a conversation into `ready`.
    async fn fill(
        &mut self,
        conversation_id: ConversationId,
        after: EventSeq,
        until: EventSeq,
    ) -> Result<(), ClientError> {
        let mut cursor = after;
        while cursor.0 + 1 < until.0 {
            let page = match self
                .client
                .events(conversation_id, cursor, Some(1000))
                .await
            {
                Ok(page) => page,
                // Removed meanwhile: nothing more to fetch.
                Err(err) if err.status() == Some(404) => return Ok(()),
                Err(err) => return Err(err),
            };
            if page.events.is_empty() {
                break;
            }
            for event in page.events {
                if event.seq >= until {
                    break;
                }
                cursor = event.seq;
                self.fetched += 1;
                self.held.insert(conversation_id, event.seq);
                self.ready.push_back(event);
            }
        }
        Ok(())
    }

    /// Reconnects with backoff, then catches up every conversation that moved.
    async fn reconnect(&mut self) {
        loop {
            tokio::time::sleep(self.backoff).await;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            let Ok(connection) = self.client.connect_realtime().await else {
                continue;
            };
            self.connection = Some(connection);
            self.reconnects += 1;
            match self.catch_up().await {
                Ok(()) => {
                    self.backoff = MIN_BACKOFF;
                    return;
                }
                Err(_) => self.connection = None,
            }
        }
    }

    async fn catch_up(&mut self) -> Result<(), ClientError> {
        let sync = self.client.sync(self.sync_token.as_deref()).await?;
        for entry in &sync.conversations {
            if entry.removed {
                continue;
            }
            match self.held.get(&entry.conversation_id).copied() {
                Some(held) if entry.latest_seq > held => {
                    self.fill(
                        entry.conversation_id,
                        held,
                        EventSeq(entry.latest_seq.0 + 1),
                    )
                    .await?;
                }
                Some(_) => {}
                None => {
                    self.held.insert(entry.conversation_id, entry.latest_seq);
                }
            }
        }
        self.sync_token = Some(sync.next_token);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_follow_the_scheme() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/v1/realtime"
        );
        assert_eq!(
            ws_url("https://chat.example"),
            "wss://chat.example/v1/realtime"
        );
    }
}
