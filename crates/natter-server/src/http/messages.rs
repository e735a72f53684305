//! Messages and read state: send, list, get, receipts, read markers, direct messages.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::{App, Cursor, ListMessages};
use natter_proto::{
    BulkMarkRead, BulkMarkReadResult, ConversationId, DirectMessage, DirectMessageSent, MarkRead,
    MarkReadResult, Message, MessageId, Page, Problem, Receipts, SendMessage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path, Query};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(send_message, list_messages))
        .routes(routes!(get_message))
        .routes(routes!(get_receipts))
        .routes(routes!(mark_message_read))
        .routes(routes!(mark_conversation_read))
        .routes(routes!(mark_conversations_read))
        .routes(routes!(send_direct_message))
}

/// `POST /v1/conversations/{conversation_id}/messages`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/messages", tag = "messages",
    params(("conversation_id" = String, Path)), request_body = SendMessage,
    responses(
        (status = 201, body = Message),
        (status = 200, description = "A retry with the same client_message_id: the original", body = Message),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn send_message(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Json(request): Json<SendMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let (message, created) = app.messages.send(&actor, conversation_id, request).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(message),
    ))
}

/// Query of `GET /v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Messages before this seq or message id.
    before: Option<String>,
    /// Messages after this seq or message id.
    after: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
    /// `asc` or `desc`; default `desc`, or `asc` when only `after` is given.
    order: Option<String>,
}

fn cursor(field: &'static str, raw: Option<String>) -> Result<Option<Cursor>, ApiError> {
    match raw {
        None => Ok(None),
        Some(raw) => Cursor::parse(&raw).map(Some).ok_or_else(|| {
            natter_app::AppError::invalid(field, "invalid_cursor", "a message seq or a message id")
                .into()
        }),
    }
}

/// `GET /v1/conversations/{conversation_id}/messages`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/messages", tag = "messages",
    params(("conversation_id" = String, Path), ListQuery),
    responses((status = 200, description = "`next` is the seq to pass as `before` (desc) or `after` (asc)", body = Page<Message>),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_messages(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page<Message>>, ApiError> {
    let ascending = match query.order.as_deref() {
        None => None,
        Some("asc") => Some(true),
        Some("desc") => Some(false),
        Some(_) => {
            return Err(
                natter_app::AppError::invalid("order", "invalid_order", "asc or desc").into(),
            )
        }
    };
    let list = ListMessages {
        before: cursor("before", query.before)?,
        after: cursor("after", query.after)?,
        limit: query.limit,
        ascending,
    };
    Ok(Json(
        app.messages.list(&actor, conversation_id, list).await?,
    ))
}

/// `GET /v1/messages/{message_id}`
#[utoipa::path(get, path = "/v1/messages/{message_id}", tag = "messages",
    params(("message_id" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = Problem)))]
async fn get_message(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<Json<Message>, ApiError> {
    Ok(Json(app.messages.get(&actor, message_id).await?))
}

/// `GET /v1/messages/{message_id}/receipts`
#[utoipa::path(get, path = "/v1/messages/{message_id}/receipts", tag = "messages",
    params(("message_id" = String, Path)),
    responses((status = 200, body = Receipts), (status = 404, body = Problem)))]
async fn get_receipts(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<Json<Receipts>, ApiError> {
    Ok(Json(app.messages.receipts(&actor, message_id).await?))
}

/// `PATCH /v1/messages/{message_id}/read`
#[utoipa::path(patch, path = "/v1/messages/{message_id}/read", tag = "read state",
    params(("message_id" = String, Path)),
    responses((status = 200, body = MarkReadResult), (status = 404, body = Problem)))]
async fn mark_message_read(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<Json<MarkReadResult>, ApiError> {
    Ok(Json(
        app.messages.mark_message_read(&actor, message_id).await?,
    ))
}

/// `POST /v1/conversations/{conversation_id}/read`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/read", tag = "read state",
    params(("conversation_id" = String, Path)), request_body = MarkRead,
    responses((status = 200, body = MarkReadResult), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn mark_conversation_read(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    body: axum::body::Bytes,
) -> Result<Json<MarkReadResult>, ApiError> {
    // The body is optional: an empty one means "up to the latest message".
    let request: MarkRead = if body.iter().all(u8::is_ascii_whitespace) {
        MarkRead::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::edge(StatusCode::BAD_REQUEST, "malformed_json", err.to_string())
        })?
    };
    Ok(Json(
        app.messages
            .mark_read(&actor, conversation_id, request)
            .await?,
    ))
}

/// `POST /v1/conversations/read`
#[utoipa::path(post, path = "/v1/conversations/read", tag = "read state", request_body = BulkMarkRead,
    responses((status = 200, body = BulkMarkReadResult), (status = 422, body = Problem)))]
async fn mark_conversations_read(
    State(app): State<App>,
    Caller(actor): Caller,
    Json(request): Json<BulkMarkRead>,
) -> Result<Json<BulkMarkReadResult>, ApiError> {
    Ok(Json(app.messages.mark_read_bulk(&actor, request).await?))
}

/// `POST /v1/direct-messages`
#[utoipa::path(post, path = "/v1/direct-messages", tag = "messages", request_body = DirectMessage,
    responses((status = 201, body = DirectMessageSent), (status = 422, body = Problem)))]
async fn send_direct_message(
    State(app): State<App>,
    Caller(actor): Caller,
    Json(request): Json<DirectMessage>,
) -> Result<(StatusCode, Json<DirectMessageSent>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.messages.send_direct(&actor, request).await?),
    ))
}
