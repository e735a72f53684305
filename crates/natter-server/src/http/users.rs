//! `/v1/users`: the caller, profiles, and the server API's upsert.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::App;
use natter_proto::{Problem, UnreadSummary, UpsertUser, User, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(get_my_unread))
        .routes(routes!(get_user, put_user))
}

/// `GET /v1/users/me`
#[utoipa::path(get, path = "/v1/users/me", tag = "users",
    responses((status = 200, body = User), (status = 401, body = Problem)))]
async fn get_me(State(app): State<App>, Caller(actor): Caller) -> Result<Json<User>, ApiError> {
    Ok(Json(app.users.me(&actor).await?))
}

/// `GET /v1/users/me/unread`
#[utoipa::path(get, path = "/v1/users/me/unread", tag = "users",
    responses((status = 200, body = UnreadSummary), (status = 401, body = Problem)))]
async fn get_my_unread(
    State(app): State<App>,
    Caller(actor): Caller,
) -> Result<Json<UnreadSummary>, ApiError> {
    Ok(Json(app.users.unread(&actor).await?))
}

/// `GET /v1/users/{user_id}`
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "Host-app user id")),
    responses((status = 200, body = User), (status = 404, body = Problem)))]
async fn get_user(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(user_id): Path<UserId>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(app.users.get(&actor, &user_id).await?))
}

/// `PUT /v1/users/{user_id}` (server API key)
#[utoipa::path(put, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "Host-app user id")),
    request_body = UpsertUser,
    responses((status = 201, body = User), (status = 200, body = User), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn put_user(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(user_id): Path<UserId>,
    Json(request): Json<UpsertUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let (user, created) = app.users.upsert(&actor, user_id, request).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(user),
    ))
}
