//! `/v1/admin/*`: the moderator's endpoints (app role `admin`, or the server key acting
//! as itself; anyone else gets 403 `admin_required`). Statistics are in `stats.rs`.
//!
//! Moderators read any conversation, its messages and participants, block and unblock it,
//! delete any message and remove participants through the ordinary endpoints
//! (`GET /v1/conversations/{id}`, `…/messages`, `…/participants`, `POST …/block`,
//! `DELETE /v1/messages/{id}`, `DELETE …/participants/{user_id}`); those actions are
//! audited when a moderator takes them. This file adds what only moderators do.

use axum::extract::State;
use natter_app::{AdminConversationFilter, App};
use natter_proto::{
    AuditEntry, Conversation, ConversationExport, ConversationId, ConversationStatus,
    ConversationType, ErasureResult, Page, Problem, UserId,
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
        .routes(routes!(list_all_conversations))
        .routes(routes!(export_conversation))
        .routes(routes!(erase_user))
        .routes(routes!(list_audit))
}

/// Query of `GET /v1/admin/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConversationsQuery {
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<String>)]
    kind: Option<ConversationType>,
    /// Only this status.
    #[param(value_type = Option<String>)]
    status: Option<ConversationStatus>,
    /// Only this context kind.
    context_kind: Option<String>,
    /// Only this context id.
    context_id: Option<String>,
    /// Only conversations this user is or was (left, removed) a participant of.
    #[param(value_type = Option<String>)]
    participant: Option<UserId>,
    /// Only created at or after this RFC 3339 time.
    created_from: Option<String>,
    /// Only created strictly before this RFC 3339 time.
    created_to: Option<String>,
    /// `next` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
}

/// `GET /v1/admin/conversations`
#[utoipa::path(get, path = "/v1/admin/conversations", tag = "admin", params(ConversationsQuery),
    description = "Every conversation, newest created first. Read one with the ordinary `GET /v1/conversations/{id}` and `…/messages` endpoints, which moderators may call for any conversation.",
    responses((status = 200, body = Page<Conversation>), (status = 403, description = "`admin_required`", body = Problem), (status = 422, body = Problem)))]
async fn list_all_conversations(
    State(app): State<App>,
    Caller(actor): Caller,
    Query(query): Query<ConversationsQuery>,
) -> Result<Json<Page<Conversation>>, ApiError> {
    let filter = AdminConversationFilter {
        kind: query.kind,
        status: query.status,
        context_kind: query.context_kind,
        context_id: query.context_id,
        participant: query.participant,
        created_from: query.created_from,
        created_to: query.created_to,
        cursor: query.cursor,
        limit: query.limit,
    };
    Ok(Json(app.admin.conversations(&actor, filter).await?))
}

/// `GET /v1/admin/conversations/{conversation_id}/export`
#[utoipa::path(get, path = "/v1/admin/conversations/{conversation_id}/export", tag = "admin",
    params(("conversation_id" = String, Path)),
    description = "The conversation, everyone who ever participated, and every message with its edit history and reactions; deleted messages as tombstones. Audited as `conversation.export`.",
    responses((status = 200, body = ConversationExport), (status = 403, description = "`admin_required`", body = Problem), (status = 404, body = Problem)))]
async fn export_conversation(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
) -> Result<Json<ConversationExport>, ApiError> {
    Ok(Json(app.admin.export(&actor, conversation_id).await?))
}

/// `POST /v1/admin/users/{user_id}/erase`
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/erase", tag = "admin",
    params(("user_id" = String, Path)),
    description = "Right to be forgotten: every message the user sent becomes a tombstone with its content and edit history cleared now, their reactions are removed, their display name and avatar cleared. Idempotent. Audited as `user.erase`.",
    responses((status = 200, body = ErasureResult), (status = 403, description = "`admin_required`", body = Problem), (status = 404, body = Problem)))]
async fn erase_user(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(user_id): Path<UserId>,
) -> Result<Json<ErasureResult>, ApiError> {
    Ok(Json(app.admin.erase_user(&actor, user_id).await?))
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// `next` of the previous page.
    cursor: Option<String>,
    /// 1–100, default 50.
    limit: Option<u32>,
}

/// `GET /v1/admin/audit`
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery),
    description = "Every action of an app admin or the server key, newest first.",
    responses((status = 200, body = Page<AuditEntry>), (status = 403, description = "`admin_required`", body = Problem), (status = 422, body = Problem)))]
async fn list_audit(
    State(app): State<App>,
    Caller(actor): Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    Ok(Json(
        app.admin
            .audit_log(&actor, query.cursor.as_deref(), query.limit)
            .await?,
    ))
}
