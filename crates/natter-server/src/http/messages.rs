//! Messages and read state: send, list, get, receipts, read markers, direct messages.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::{App, Cursor, ListMessages};
use natter_proto::{
    AddReaction, BulkMarkRead, BulkMarkReadResult, ConversationId, DirectMessage,
    DirectMessageSent, EditMessage, MarkRead, MarkReadResult, Message, MessageHistory, MessageId,
    Page, Problem, Reactions, Reactor, Receipts, SendMessage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path, Query};
use super::message_json::Written;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(send_message, list_messages))
        .routes(routes!(get_message, edit_message, delete_message))
        .routes(routes!(get_history))
        .routes(routes!(get_thread))
        .routes(routes!(follow_thread, unfollow_thread))
        .routes(routes!(add_reaction, list_reactions))
        .routes(routes!(list_reactors, remove_reaction))
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
) -> Result<(StatusCode, Written<Message>), ApiError> {
    let (message, created) = app.messages.send(&actor, conversation_id, request).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Written(message),
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

impl ListQuery {
    /// The page request, with the cursors and the order checked.
    fn into_list(self) -> Result<ListMessages, ApiError> {
        let ascending = match self.order.as_deref() {
            None => None,
            Some("asc") => Some(true),
            Some("desc") => Some(false),
            Some(_) => {
                return Err(
                    natter_app::AppError::invalid("order", "invalid_order", "asc or desc").into(),
                )
            }
        };
        Ok(ListMessages {
            before: cursor("before", self.before)?,
            after: cursor("after", self.after)?,
            limit: self.limit,
            ascending,
        })
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
) -> Result<Written<Page<Message>>, ApiError> {
    let list = query.into_list()?;
    Ok(Written(
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
) -> Result<Written<Message>, ApiError> {
    Ok(Written(app.messages.get(&actor, message_id).await?))
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

/// `PATCH /v1/messages/{message_id}`
#[utoipa::path(patch, path = "/v1/messages/{message_id}", tag = "messages",
    params(("message_id" = String, Path)), request_body = EditMessage,
    responses((status = 200, body = Message), (status = 403, description = "not_sender", body = Problem), (status = 404, body = Problem),
        (status = 409, description = "edit_window_expired, message_deleted, conversation_blocked", body = Problem), (status = 422, body = Problem)))]
async fn edit_message(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
    Json(request): Json<EditMessage>,
) -> Result<Written<Message>, ApiError> {
    Ok(Written(
        app.messages.edit(&actor, message_id, request).await?,
    ))
}

/// Query of the delete endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    /// `everyone` (default: a tombstone for all) or `me` (hidden for the caller only).
    #[serde(rename = "for")]
    #[param(rename = "for")]
    scope: Option<String>,
}

/// `DELETE /v1/messages/{message_id}`
#[utoipa::path(delete, path = "/v1/messages/{message_id}", tag = "messages",
    params(("message_id" = String, Path), DeleteQuery),
    responses((status = 204, description = "Deleted (or already deleted)"), (status = 403, description = "not_sender", body = Problem),
        (status = 404, body = Problem), (status = 409, description = "delete_window_expired", body = Problem)))]
async fn delete_message(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let scope = match query.scope.as_deref() {
        None | Some("everyone") => natter_app::DeleteScope::Everyone,
        Some("me") => natter_app::DeleteScope::Me,
        Some(_) => {
            return Err(
                natter_app::AppError::invalid("for", "invalid_scope", "everyone or me").into(),
            )
        }
    };
    app.messages.delete(&actor, message_id, scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/messages/{message_id}/history`
#[utoipa::path(get, path = "/v1/messages/{message_id}/history", tag = "messages",
    params(("message_id" = String, Path)),
    responses((status = 200, body = MessageHistory), (status = 404, body = Problem)))]
async fn get_history(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<Json<MessageHistory>, ApiError> {
    Ok(Json(app.messages.history(&actor, message_id).await?))
}

/// `POST /v1/messages/{message_id}/reactions`: answers with the message's reactions as a
/// page shows them (like `GET`).
#[utoipa::path(post, path = "/v1/messages/{message_id}/reactions", tag = "reactions",
    params(("message_id" = String, Path)), request_body = AddReaction,
    responses((status = 201, description = "Added", body = Reactions), (status = 200, description = "Already there", body = Reactions),
        (status = 404, body = Problem), (status = 409, description = "too_many_reactions, message_deleted", body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn add_reaction(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
    Json(request): Json<AddReaction>,
) -> Result<(StatusCode, Json<Reactions>), ApiError> {
    let (reactions, added) = app
        .messages
        .react(&actor, message_id, &request.emoji)
        .await?;
    Ok((
        if added {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(reactions),
    ))
}

/// `GET /v1/messages/{message_id}/reactions`
#[utoipa::path(get, path = "/v1/messages/{message_id}/reactions", tag = "reactions",
    params(("message_id" = String, Path)),
    description = "Per emoji, in order of first use: how many reacted, whether the caller did, \
        and the first 10 users (as on a page); the rest are paged by `GET …/reactions/{emoji}`.",
    responses((status = 200, body = Reactions), (status = 404, body = Problem)))]
async fn list_reactions(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<Json<Reactions>, ApiError> {
    Ok(Json(app.messages.reactions(&actor, message_id).await?))
}

/// Query of `GET /v1/messages/{message_id}/reactions/{emoji}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReactorsQuery {
    /// `next` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
}

/// `GET /v1/messages/{message_id}/reactions/{emoji}`
#[utoipa::path(get, path = "/v1/messages/{message_id}/reactions/{emoji}", tag = "reactions",
    params(("message_id" = String, Path), ("emoji" = String, Path, description = "Percent-encoded emoji or :shortcode:"), ReactorsQuery),
    description = "Everyone who reacted with this emoji, oldest first (then by user id); \
        an emoji nobody used is an empty page.",
    responses((status = 200, body = Page<Reactor>), (status = 404, body = Problem),
        (status = 422, description = "A bad emoji, cursor or limit", body = Problem)))]
async fn list_reactors(
    State(app): State<App>,
    Caller(actor): Caller,
    Path((message_id, emoji)): Path<(MessageId, String)>,
    Query(query): Query<ReactorsQuery>,
) -> Result<Json<Page<Reactor>>, ApiError> {
    Ok(Json(
        app.messages
            .reactors(
                &actor,
                message_id,
                &emoji,
                query.cursor.as_deref(),
                query.limit,
            )
            .await?,
    ))
}

/// `DELETE /v1/messages/{message_id}/reactions/{emoji}`
#[utoipa::path(delete, path = "/v1/messages/{message_id}/reactions/{emoji}", tag = "reactions",
    params(("message_id" = String, Path), ("emoji" = String, Path, description = "Percent-encoded emoji or :shortcode:")),
    responses((status = 204, description = "Removed (or was not there)"), (status = 404, body = Problem)))]
async fn remove_reaction(
    State(app): State<App>,
    Caller(actor): Caller,
    Path((message_id, emoji)): Path<(MessageId, String)>,
) -> Result<StatusCode, ApiError> {
    app.messages.unreact(&actor, message_id, &emoji).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/messages/{message_id}/thread`
#[utoipa::path(get, path = "/v1/messages/{message_id}/thread", tag = "messages",
    params(("message_id" = String, Path, description = "The thread root"), ListQuery),
    responses((status = 200, description = "Replies, oldest first by default; `next` is a seq cursor", body = Page<Message>),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_thread(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
    Query(query): Query<ListQuery>,
) -> Result<Written<Page<Message>>, ApiError> {
    let list = query.into_list()?;
    Ok(Written(
        app.messages.thread(&actor, message_id, list).await?,
    ))
}

/// `POST /v1/messages/{message_id}/thread/follow`
#[utoipa::path(post, path = "/v1/messages/{message_id}/thread/follow", tag = "messages",
    params(("message_id" = String, Path)),
    responses((status = 204, description = "Following"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn follow_thread(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<StatusCode, ApiError> {
    app.messages.follow_thread(&actor, message_id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/messages/{message_id}/thread/follow`
#[utoipa::path(delete, path = "/v1/messages/{message_id}/thread/follow", tag = "messages",
    params(("message_id" = String, Path)),
    responses((status = 204, description = "Not following"), (status = 404, body = Problem)))]
async fn unfollow_thread(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(message_id): Path<MessageId>,
) -> Result<StatusCode, ApiError> {
    app.messages
        .follow_thread(&actor, message_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
