//! REST around the realtime gateway: realtime tokens, typing, presence.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::App;
use natter_proto::{
    ConversationId, Problem, RealtimeToken, SetTyping, TypingState, UserId, UserPresence,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_realtime_token))
        .routes(routes!(set_typing, get_typing))
        .routes(routes!(get_presence))
}

/// `POST /v1/realtime/token`
#[utoipa::path(post, path = "/v1/realtime/token", tag = "realtime",
    responses((status = 200, description = "A 60-second token for GET /v1/realtime?token=", body = RealtimeToken),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_realtime_token(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<RealtimeToken>, ApiError> {
    Ok(Json(app.realtime.token(&app.auth, &actor)?))
}

/// `POST /v1/conversations/{conversation_id}/typing`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/typing", tag = "realtime",
    params(("conversation_id" = String, Path)), request_body = SetTyping,
    responses((status = 204, description = "Announced"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_typing(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    // The body is optional: empty means `{"typing": true}`.
    let request: SetTyping = if body.iter().all(u8::is_ascii_whitespace) {
        SetTyping { typing: true }
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::edge(StatusCode::BAD_REQUEST, "invalid_body", err.to_string())
        })?
    };
    app.realtime
        .set_typing(&actor, conversation_id, request.typing)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/conversations/{conversation_id}/typing`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/typing", tag = "realtime",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = TypingState), (status = 404, body = Problem)))]
async fn get_typing(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<TypingState>, ApiError> {
    Ok(Json(app.realtime.typing(&actor, conversation_id).await?))
}

/// `GET /v1/users/{user_id}/presence`
#[utoipa::path(get, path = "/v1/users/{user_id}/presence", tag = "realtime",
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserPresence), (status = 404, description = "Unknown, or shares no conversation with the caller", body = Problem)))]
async fn get_presence(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(user_id): Path<UserId>,
) -> Result<Json<UserPresence>, ApiError> {
    Ok(Json(app.realtime.presence(&actor, &user_id).await?))
}
