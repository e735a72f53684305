//! The event log and sync.

use axum::extract::State;
use natter_app::App;
use natter_proto::{ConversationId, EventPage, EventSeq, Problem, SyncResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path, Query};

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(sync))
}

/// Query of the events endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Return events with a seq above this (default 0: from the start).
    after_seq: Option<u64>,
    /// 1–1000, default 100.
    limit: Option<u32>,
}

/// `GET /v1/conversations/{conversation_id}/events`
#[utoipa::path(get, path = "/v1/conversations/{conversation_id}/events", tag = "events",
    params(("conversation_id" = String, Path), EventsQuery),
    responses((status = 200, body = EventPage), (status = 404, body = Problem)))]
async fn list_events(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(conversation_id): Path<ConversationId>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let after = EventSeq(query.after_seq.unwrap_or(0));
    Ok(Json(
        app.events
            .list(&actor, conversation_id, after, query.limit)
            .await?,
    ))
}

/// Query of the sync endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SyncQuery {
    /// `next_token` of the previous sync; absent for a full sync.
    since: Option<String>,
}

/// `GET /v1/sync`
#[utoipa::path(get, path = "/v1/sync", tag = "events", params(SyncQuery),
    responses((status = 200, body = SyncResponse), (status = 422, body = Problem)))]
async fn sync(
    State(app): State<App>,
    Caller(actor): Caller,
    Query(query): Query<SyncQuery>,
) -> Result<Json<SyncResponse>, ApiError> {
    Ok(Json(app.events.sync(&actor, query.since.as_deref()).await?))
}
