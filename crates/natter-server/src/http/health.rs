//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use natter_app::App;
use natter_proto::{Health, HealthCheck};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;

/// Routes of this resource.
pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: Vec::new(),
    })
}

/// `GET /readyz`: the store answers and the bus reaches the other nodes.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(app): State<App>) -> (StatusCode, Json<Health>) {
    let store_ok = app.store_ready().await;
    let bus_ok = app.realtime.hub().bus_connected();
    let state = |ok: bool| if ok { "ok" } else { "unavailable" }.to_owned();
    let health = Health {
        status: state(store_ok && bus_ok),
        checks: vec![
            HealthCheck {
                name: "store".into(),
                status: state(store_ok),
            },
            HealthCheck {
                name: "bus".into(),
                status: state(bus_ok),
            },
        ],
    };
    let status = if store_ok && bus_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}
