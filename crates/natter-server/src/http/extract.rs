//! Extractors whose rejections are problem+json: [`Caller`] (authentication), and
//! `Json`/`Path`/`Query` wrappers.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use natter_app::{Actor, App};

use super::error::{problem_response, ApiError};

/// The authenticated caller. Extracting it verifies the credentials and provisions the
/// user record just in time.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, rest) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            });
        let acting = parts
            .headers
            .get("x-natter-user")
            .map(|value| value.to_str().unwrap_or("\u{0}"));
        let actor = app.auth.authenticate(bearer, acting)?;
        app.users.ensure(&actor).await?;
        Ok(Self(actor))
    }
}

/// JSON body with problem+json rejections.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    /// Serialises into a `Vec` that starts at 1 KiB, not through `axum::Json`, whose
    /// 128-byte `BytesMut` grows by `put_slice` call by call: for a 30 KB history page
    /// that was 3 % of the server's CPU, and a `Vec` gave history pages +5 % (BENCHMARKS.md).
    fn into_response(self) -> axum::response::Response {
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(err) => problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the response could not be serialised: {err}"),
                Vec::new(),
            ),
        }
    }
}

/// Path parameters with problem+json rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query parameters with problem+json rejections.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);
