//! `/v1/search/messages`: full-text search over the caller's conversations.

use axum::extract::State;
use natter_app::{App, SearchMessages};
use natter_proto::{ConversationId, MessageType, Problem, SearchResults, UserId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Query};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(search_messages))
}

/// Query of `GET /v1/search/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    /// What to find (2–256 characters): terms that must all occur, case- and
    /// accent-insensitively, also inside words; `"exact phrase"`; `word*` for words
    /// starting with `word`. Missing or too short: 422.
    #[serde(default)]
    q: String,
    /// Only in this conversation.
    #[param(value_type = Option<String>)]
    conversation_id: Option<ConversationId>,
    /// Only from this sender.
    #[param(value_type = Option<String>)]
    sender_id: Option<UserId>,
    /// Only of this message type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    kind: Option<MessageType>,
    /// Only messages with (true) or without (false) attachments.
    has_attachment: Option<bool>,
    /// Sent at or after: RFC 3339, or a date (from its start, UTC).
    from: Option<String>,
    /// Sent before: RFC 3339, or a date (to its end, UTC).
    to: Option<String>,
    /// 1–50, default 20.
    limit: Option<u32>,
    /// `next` of the previous page.
    cursor: Option<String>,
}

/// `GET /v1/search/messages`
#[utoipa::path(get, path = "/v1/search/messages", tag = "search", params(SearchQuery),
    responses(
        (status = 200, description = "Most relevant first, then newest; `total` counts all matches", body = SearchResults),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, description = "q shorter than 2 characters, or an invalid filter", body = Problem),
        (status = 429, body = Problem)))]
async fn search_messages(
    State(app): State<App>,
    Caller(actor): Caller,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let search = SearchMessages {
        q: query.q,
        conversation_id: query.conversation_id,
        sender_id: query.sender_id,
        kind: query.kind,
        has_attachment: query.has_attachment,
        from: query.from,
        to: query.to,
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(app.search.messages(&actor, search).await?))
}
