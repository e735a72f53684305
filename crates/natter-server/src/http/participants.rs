//! `/v1/conversations/{id}/participants` and `/leave`.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::App;
use natter_proto::{
    AddParticipants, ConversationId, Page, Participant, Problem, UpdateParticipant, UserId,
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
        .routes(routes!(list_participants, add_participants))
        .routes(routes!(update_participant, remove_participant))
        .routes(routes!(leave_conversation))
}

/// Query of `GET /v1/conversations/{conversation_id}/participants`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ParticipantsQuery {
    /// `next` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
}

/// `GET /v1/conversations/{conversation_id}/participants`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/participants", tag = "participants",
    params(("conversation_id" = String, Path), ParticipantsQuery),
    description = "The active participants, longest-standing first (by join time, then user id).",
    responses((status = 200, body = Page<Participant>), (status = 404, body = Problem),
        (status = 422, description = "A bad cursor or limit", body = Problem)))]
async fn list_participants(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Query(query): Query<ParticipantsQuery>,
) -> Result<Json<Page<Participant>>, ApiError> {
    Ok(Json(
        app.conversations
            .participants(
                &actor,
                conversation_id,
                query.cursor.as_deref(),
                query.limit,
            )
            .await?,
    ))
}

/// `POST /v1/conversations/{conversation_id}/participants`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/participants", tag = "participants",
    params(("conversation_id" = String, Path)), request_body = AddParticipants,
    responses((status = 201, description = "The participants that were added", body = Vec<Participant>),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn add_participants(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Json(request): Json<AddParticipants>,
) -> Result<(StatusCode, Json<Vec<Participant>>), ApiError> {
    let added = app
        .conversations
        .add_participants(&actor, conversation_id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// `PATCH /v1/conversations/{conversation_id}/participants/{user_id}`
#[utoipa::path(patch, path = "/v1/conversations/{conversation_id}/participants/{user_id}", tag = "participants",
    params(("conversation_id" = String, Path), ("user_id" = String, Path)), request_body = UpdateParticipant,
    responses((status = 200, body = Participant), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_participant(
    State(app): State<App>,
    Caller(actor): Caller,
    Path((conversation_id, user_id)): Path<(ConversationId, UserId)>,
    Json(request): Json<UpdateParticipant>,
) -> Result<Json<Participant>, ApiError> {
    Ok(Json(
        app.conversations
            .update_participant(&actor, conversation_id, &user_id, request)
            .await?,
    ))
}

/// `DELETE /v1/conversations/{conversation_id}/participants/{user_id}`
#[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/participants/{user_id}", tag = "participants",
    params(("conversation_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_participant(
    State(app): State<App>,
    Caller(actor): Caller,
    Path((conversation_id, user_id)): Path<(ConversationId, UserId)>,
) -> Result<StatusCode, ApiError> {
    app.conversations
        .remove_participant(&actor, conversation_id, &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/conversations/{conversation_id}/leave`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/leave", tag = "participants",
    params(("conversation_id" = String, Path)),
    responses((status = 204, description = "Left"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn leave_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<StatusCode, ApiError> {
    app.conversations.leave(&actor, conversation_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
