//! Realtime for clients without WebSockets: Server-Sent Events and long-poll. Both carry
//! the same frames as the gateway (`src/ws.rs`), from the same hub sessions.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use natter_app::{Actor, App, AppError, Poll};
use natter_proto::Problem;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Query};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(stream_events))
        .routes(routes!(poll_events))
}

/// The caller of a stream: an `Authorization` header, or (for browsers' `EventSource`,
/// which cannot set headers) a realtime token in `?token=`.
struct StreamCaller(Actor);

impl FromRequestParts<App> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let Caller(actor) = Caller::from_request_parts(parts, app).await?;
            return Ok(Self(actor));
        }
        let token = parts.uri.query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .map(str::to_owned)
        });
        let Some(token) = token else {
            return Err(AppError::Unauthorized(natter_app::AuthFailure::Missing).into());
        };
        let actor = app
            .auth
            .verify_realtime(&token, app.realtime.now_unix())
            .map_err(AppError::Unauthorized)?;
        app.users.ensure(&actor).await?;
        Ok(Self(actor))
    }
}

/// Query of the SSE endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// A realtime token (`POST /v1/realtime/token`), for clients that cannot send headers.
    #[allow(dead_code)]
    token: Option<String>,
}

fn sse_frame(frame: &[u8], id: Option<&str>) -> SseEvent {
    let text = String::from_utf8_lossy(frame);
    let kind = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| {
            value
                .get("type")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "message".into());
    let event = SseEvent::default().event(kind).data(text);
    match id {
        Some(id) => event.id(id),
        None => event,
    }
}

/// `GET /v1/events/stream`
#[utoipa::path(get, path = "/v1/events/stream", tag = "realtime", params(StreamQuery),
    responses(
        (status = 200, description = "text/event-stream: a `hello` event, then the gateway's frames (event name = frame type, data = frame JSON). \
Conversation events carry an `id` (a sync token); reconnecting with `Last-Event-ID` replays the events since then (possibly some already seen: drop them by seq)."),
        (status = 401, body = Problem)))]
async fn stream_events(
    State(app): State<App>,
    StreamCaller(actor): StreamCaller,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let user_id = actor.require_user()?.clone();
    let session = app.realtime.hub().connect(&user_id).await?;
    let replay = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(last) => app.events.since_token(&actor, last).await?,
        None => Vec::new(),
    };
    let hello = serde_json::json!({
        "type": "hello",
        "data": { "connection_id": format!("{}-{}", app.realtime.hub().node(), session.id()), "user_id": user_id, "sync_token": app.realtime.sync_token() },
    });
    let mut first: Vec<SseEvent> = vec![SseEvent::default().event("hello").data(hello.to_string())];
    for event in replay {
        let token = app.realtime.sync_token();
        let bytes = serde_json::to_vec(&event).unwrap_or_default();
        first.push(sse_frame(&bytes, Some(&token)));
    }
    let signal = session.close_signal();
    let live = stream::unfold(
        (session, signal, app),
        |(mut session, signal, app)| async move {
            let frame = tokio::select! {
                frame = session.next_frame() => frame?,
                _ = signal.closed() => return None,
            };
            let is_event = frame.windows(6).any(|w| w == b"\"seq\":");
            let id = is_event.then(|| app.realtime.sync_token());
            Some((sse_frame(&frame, id.as_deref()), (session, signal, app)))
        },
    );
    let stream = stream::iter(first).chain(live).map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Query of the long-poll endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PollQuery {
    /// The cursor of the previous answer; absent to start.
    since: Option<String>,
    /// Seconds to wait for frames (1–60, default 30).
    timeout: Option<u64>,
    /// Not used here (see the SSE endpoint); accepted for symmetry.
    #[allow(dead_code)]
    token: Option<String>,
}

/// `GET /v1/events`
#[utoipa::path(get, path = "/v1/events", tag = "realtime", params(PollQuery),
    responses(
        (status = 200, description = "`{\"cursor\", \"sync_token\"?, \"events\": [frames]}`: without `since`, a new cursor (catch up from `sync_token` via /v1/sync first); with it, the frames since the previous poll (empty after the timeout)."),
        (status = 409, description = "`resync_required`: the cursor expired (60 s without a poll) or fell behind", body = Problem),
        (status = 401, body = Problem)))]
async fn poll_events(
    State(app): State<App>,
    StreamCaller(actor): StreamCaller,
    Query(query): Query<PollQuery>,
) -> Result<Response, ApiError> {
    let timeout = match query.timeout {
        None => 30,
        Some(seconds @ 1..=60) => seconds,
        Some(_) => {
            return Err(
                AppError::invalid("timeout", "out_of_range", "between 1 and 60 seconds").into(),
            )
        }
    };
    let poll = app
        .realtime
        .poll(&actor, query.since.as_deref(), Duration::from_secs(timeout))
        .await?;
    let body = match poll {
        Poll::Started { cursor, sync_token } => {
            serde_json::json!({ "cursor": cursor, "sync_token": sync_token, "events": [] })
                .to_string()
        }
        Poll::Frames { cursor, frames } => {
            // The frames are JSON already: splice them in rather than re-serialise.
            let mut body = format!(
                "{{\"cursor\":{},\"events\":[",
                serde_json::Value::String(cursor)
            );
            for (index, frame) in frames.iter().enumerate() {
                if index > 0 {
                    body.push(',');
                }
                body.push_str(&String::from_utf8_lossy(frame));
            }
            body.push_str("]}");
            body
        }
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}
