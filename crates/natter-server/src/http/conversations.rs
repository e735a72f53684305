//! `/v1/conversations`: create, list, get, update, archive, by-context, my settings.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::{App, ListConversations};
use natter_proto::{
    ContextConversation, Conversation, ConversationId, ConversationStatus, ConversationType,
    CreateConversation, MySettings, Page, Problem, UpdateConversation, UpdateMySettings,
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
        .routes(routes!(create_conversation, list_conversations))
        .routes(routes!(put_conversation_by_context))
        .routes(routes!(get_conversation, update_conversation))
        .routes(routes!(archive_conversation))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(get_settings_history))
        .routes(routes!(block_conversation))
        .routes(routes!(unblock_conversation))
        .routes(routes!(update_my_settings))
}

fn status(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// `POST /v1/conversations`
#[utoipa::path(post, path = "/v1/conversations", tag = "conversations",
    request_body = CreateConversation,
    responses(
        (status = 201, description = "Created", body = Conversation),
        (status = 200, description = "The direct conversation of this pair and context existed", body = Conversation),
        (status = 422, body = Problem)))]
async fn create_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Json(request): Json<CreateConversation>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    let (conversation, created) = app.conversations.create(&actor, request).await?;
    Ok((status(created), Json(conversation)))
}

/// Query of `GET /v1/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    kind: Option<ConversationType>,
    /// Only this status.
    #[param(value_type = Option<String>)]
    status: Option<ConversationStatus>,
    /// Only with (true) or without (false) unread messages.
    has_unread: Option<bool>,
    /// Only pinned / unpinned.
    pinned: Option<bool>,
    /// Only muted / unmuted.
    muted: Option<bool>,
    /// Only archived / unarchived in the caller's list (both when absent).
    archived: Option<bool>,
    /// Only this context kind.
    context_kind: Option<String>,
    /// Only this context id.
    context_id: Option<String>,
    /// `next` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
}

/// `GET /v1/conversations`
#[utoipa::path(get, path = "/v1/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, description = "Newest activity first", body = Page<Conversation>), (status = 422, body = Problem)))]
async fn list_conversations(
    State(app): State<App>,
    Caller(actor): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page<Conversation>>, ApiError> {
    let filter = ListConversations {
        kind: query.kind,
        status: query.status,
        has_unread: query.has_unread,
        pinned: query.pinned,
        muted: query.muted,
        archived: query.archived,
        context_kind: query.context_kind,
        context_id: query.context_id,
        cursor: query.cursor,
        limit: query.limit,
    };
    Ok(Json(app.conversations.list(&actor, filter).await?))
}

/// `PUT /v1/conversations/by-context/{kind}/{id}` (server API key)
#[utoipa::path(put, path = "/v1/conversations/by-context/{kind}/{id}", tag = "conversations",
    params(("kind" = String, Path, description = "Context kind, e.g. order"), ("id" = String, Path, description = "Host-app object id")),
    request_body = ContextConversation,
    responses((status = 201, body = Conversation), (status = 200, body = Conversation), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_conversation_by_context(
    State(app): State<App>,
    Caller(actor): Caller,
    Path((kind, id)): Path<(String, String)>,
    Json(request): Json<ContextConversation>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    let (conversation, created) = app
        .conversations
        .upsert_by_context(&actor, &kind, &id, request)
        .await?;
    Ok((status(created), Json(conversation)))
}

/// `GET /v1/conversations/{conversation_id}`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}", tag = "conversations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
async fn get_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(app.conversations.get(&actor, conversation_id).await?))
}

/// `PATCH /v1/conversations/{conversation_id}`
#[utoipa::path(patch, path = "/v1/conversations/{conversation_id}", tag = "conversations",
    params(("conversation_id" = String, Path)), request_body = UpdateConversation,
    responses((status = 200, body = Conversation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Json(request): Json<UpdateConversation>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(
        app.conversations
            .update(&actor, conversation_id, request)
            .await?,
    ))
}

/// `POST /v1/conversations/{conversation_id}/archive`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/archive", tag = "conversations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn archive_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(
        app.conversations.archive(&actor, conversation_id).await?,
    ))
}

/// `PATCH /v1/conversations/{conversation_id}/me`
#[utoipa::path(patch, path = "/v1/conversations/{conversation_id}/me", tag = "conversations",
    params(("conversation_id" = String, Path)), request_body = UpdateMySettings,
    responses((status = 200, body = MySettings), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_my_settings(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Json(request): Json<UpdateMySettings>,
) -> Result<Json<MySettings>, ApiError> {
    Ok(Json(
        app.conversations
            .update_my_settings(&actor, conversation_id, request)
            .await?,
    ))
}

/// `POST /v1/conversations/{conversation_id}/block`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/block", tag = "conversations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn block_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(
        app.conversations
            .set_blocked(&actor, conversation_id, true)
            .await?,
    ))
}

/// `POST /v1/conversations/{conversation_id}/unblock`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/unblock", tag = "conversations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unblock_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(
        app.conversations
            .set_blocked(&actor, conversation_id, false)
            .await?,
    ))
}

/// `GET /v1/conversations/{conversation_id}/settings`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/settings", tag = "conversations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = natter_proto::ConversationSettings), (status = 404, body = Problem)))]
async fn get_settings(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<natter_proto::ConversationSettings>, ApiError> {
    Ok(Json(
        app.conversations.settings(&actor, conversation_id).await?,
    ))
}

/// `PATCH /v1/conversations/{conversation_id}/settings`
#[utoipa::path(patch, path = "/v1/conversations/{conversation_id}/settings", tag = "conversations",
    params(("conversation_id" = String, Path), ("If-Match" = Option<String>, Header, description = "The version the change is based on (or use `version` in the body)")),
    request_body = natter_proto::UpdateSettings,
    responses((status = 200, body = natter_proto::ConversationSettings), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "version_conflict", body = Problem), (status = 422, body = Problem)))]
async fn update_settings(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    headers: axum::http::HeaderMap,
    Json(request): Json<natter_proto::UpdateSettings>,
) -> Result<Json<natter_proto::ConversationSettings>, ApiError> {
    let if_match = match headers.get(axum::http::header::IF_MATCH) {
        None => None,
        Some(value) => {
            let raw = value
                .to_str()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("W/")
                .trim_matches('"');
            Some(raw.parse::<u64>().map_err(|_| {
                ApiError::edge(
                    StatusCode::BAD_REQUEST,
                    "invalid_if_match",
                    "If-Match carries a settings version number",
                )
            })?)
        }
    };
    Ok(Json(
        app.conversations
            .update_settings(&actor, conversation_id, request, if_match)
            .await?,
    ))
}

/// `GET /v1/conversations/{conversation_id}/settings/history`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/settings/history", tag = "conversations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = Vec<natter_proto::SettingsChange>), (status = 404, body = Problem)))]
async fn get_settings_history(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<Vec<natter_proto::SettingsChange>>, ApiError> {
    Ok(Json(
        app.conversations
            .settings_history(&actor, conversation_id)
            .await?,
    ))
}
