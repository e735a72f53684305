//! The HTTP edge: one file per resource, each with `routes()`. Handlers extract, call one
//! `App` method and convert; they hold no rules and no SQL.

mod admin;
mod attachments;
mod conversations;
pub mod error;
mod events;
pub mod extract;
mod health;
mod invitations;
mod message_json;
mod messages;
mod participants;
mod realtime;
mod search;
mod stats;
mod stream;
mod users;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use natter_app::App;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Natter", description = "Self-hostable messaging backend: REST API. Errors are application/problem+json with a stable `code`."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user JWT, or a server API key (optionally with X-Natter-User)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The router of the whole API, and its OpenAPI document.
pub fn router(app: App, max_body_bytes: usize) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(users::routes())
        .merge(conversations::routes())
        .merge(participants::routes())
        .merge(invitations::routes())
        .merge(messages::routes())
        .merge(events::routes())
        .merge(realtime::routes())
        .merge(search::routes())
        .merge(stream::routes())
        .merge(admin::routes())
        .merge(stats::routes())
        .merge(attachments::routes(app.attachments.settings().largest()))
        .merge(crate::ws::routes())
        .split_for_parts();
    let openapi_json: Arc<str> = api.to_pretty_json().unwrap_or_else(|_| "{}".into()).into();
    router
        .route(
            "/openapi.json",
            get(move || {
                let body = openapi_json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        body.to_string(),
                    )
                }
            }),
        )
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            track_requests,
        ))
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_panic| -> Response {
            tracing::error!("a request handler panicked");
            error::problem_response(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged".into(),
                Vec::new(),
            )
            .into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Records every routed request's method, route template, status and latency.
async fn track_requests(
    axum::extract::State(app): axum::extract::State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    app.metrics.observe_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(axum::extract::State(app): axum::extract::State<App>) -> Response {
    let store_up = app.store_ready().await;
    let bus_up = app.realtime.hub().bus_connected();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics
            .render(store_up, bus_up, &app.store_commit_stats()),
    )
        .into_response()
}
