//! Invitation links: create, list, revoke, accept.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::App;
use natter_proto::{Conversation, ConversationId, CreateInvitation, Invitation, Page, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
}

/// `POST /v1/conversations/{conversation_id}/invitations`
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/invitations", tag = "invitations",
    params(("conversation_id" = String, Path)), request_body = CreateInvitation,
    responses((status = 201, body = Invitation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_invitation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Json(request): Json<CreateInvitation>,
) -> Result<(StatusCode, Json<Invitation>), ApiError> {
    let invitation = app
        .conversations
        .create_invitation(&app.auth, &actor, conversation_id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// `GET /v1/conversations/{conversation_id}/invitations`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/invitations", tag = "invitations",
    params(("conversation_id" = String, Path)),
    responses((status = 200, body = Page<Invitation>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_invitations(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<Page<Invitation>>, ApiError> {
    Ok(Json(
        app.conversations
            .list_invitations(&app.auth, &actor, conversation_id)
            .await?,
    ))
}

/// `DELETE /v1/conversations/{conversation_id}/invitations/{invitation_id}`
#[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/invitations/{invitation_id}", tag = "invitations",
    params(("conversation_id" = String, Path), ("invitation_id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn revoke_invitation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path((conversation_id, invitation_id)): Path<(ConversationId, String)>,
) -> Result<StatusCode, ApiError> {
    app.conversations
        .revoke_invitation(&actor, conversation_id, &invitation_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/invitations/{token}/accept`
#[utoipa::path(post, path = "/v1/invitations/{token}/accept", tag = "invitations",
    params(("token" = String, Path)),
    responses((status = 200, description = "Joined (or already a member)", body = Conversation),
        (status = 404, description = "invitation_not_found: unknown or tampered", body = Problem),
        (status = 410, description = "invitation_expired, invitation_exhausted, invitation_revoked", body = Problem)))]
async fn accept_invitation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(token): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    Ok(Json(
        app.conversations
            .accept_invitation(&app.auth, &actor, &token)
            .await?,
    ))
}
