//! `/v1/stats` (the caller's own counts) and `/v1/admin/stats` (installation-wide, for
//! app admins and the server key).

use axum::extract::State;
use natter_app::App;
use natter_proto::{AdminStats, Problem, UserStats};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_my_stats))
        .routes(routes!(get_admin_stats))
}

/// `GET /v1/stats`
#[utoipa::path(get, path = "/v1/stats", tag = "stats",
    description = "The caller's active conversations by type and status, unread totals and messages sent.",
    responses((status = 200, body = UserStats), (status = 403, description = "`user_required`: the server key must act as a user", body = Problem)))]
async fn get_my_stats(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<UserStats>, ApiError> {
    Ok(Json(app.admin.user_stats(&actor).await?))
}

/// `GET /v1/admin/stats`
#[utoipa::path(get, path = "/v1/admin/stats", tag = "stats",
    description = "Totals of users, conversations (by type and status) and messages; users active in the last 24 hours and 7 days (who sent a message); messages per UTC day for the last 30 days.",
    responses((status = 200, body = AdminStats), (status = 403, description = "`admin_required`", body = Problem)))]
async fn get_admin_stats(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<AdminStats>, ApiError> {
    Ok(Json(app.admin.stats(&actor).await?))
}
