//! [`ApiError`]: the one place where outcomes become HTTP statuses and problem bodies.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use natter_app::AppError;
use natter_proto::{FieldError, Problem};

/// An error response: a domain outcome, or a problem the edge found itself.
#[derive(Debug)]
pub enum ApiError {
    /// From a use case.
    App(AppError),
    /// From request parsing at the edge.
    Edge {
        /// Status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self::App(err)
    }
}

impl ApiError {
    /// An edge problem.
    pub fn edge(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Edge {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// 404 for routes that do not exist.
    pub fn no_route() -> Self {
        Self::edge(StatusCode::NOT_FOUND, "route_not_found", "no such endpoint")
    }

    /// 405 for known routes with another method.
    pub fn method_not_allowed() -> Self {
        Self::edge(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not support the method",
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        let detail = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "send Content-Type: application/json".to_owned(),
            _ => rejection.body_text(),
        };
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        Self::edge(status, code, detail)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::edge(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            rejection.body_text(),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::edge(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

/// Builds a problem+json response.
pub fn problem_response(
    status: StatusCode,
    code: &str,
    detail: String,
    errors: Vec<FieldError>,
) -> Response {
    let body = Problem {
        kind: format!("urn:natter:problem:{code}"),
        title: title(status),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = match self {
            Self::Edge {
                status,
                code,
                detail,
            } => return problem_response(status, code, detail, Vec::new()),
            Self::App(err) => err,
        };
        let detail = err.to_string();
        let (status, code, errors) = match err {
            AppError::Unauthorized(failure) => {
                (StatusCode::UNAUTHORIZED, failure.code(), Vec::new())
            }
            AppError::NotFound(resource) => (StatusCode::NOT_FOUND, resource.code(), Vec::new()),
            AppError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code, Vec::new()),
            AppError::Conflict { code, .. } => (StatusCode::CONFLICT, code, Vec::new()),
            AppError::Gone { code, .. } => (StatusCode::GONE, code, Vec::new()),
            AppError::TooLarge { code, .. } => (StatusCode::PAYLOAD_TOO_LARGE, code, Vec::new()),
            AppError::UnsupportedType { code, .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, code, Vec::new())
            }
            AppError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                errors,
            ),
            AppError::RateLimited { retry_after_secs } => {
                let mut response = problem_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    detail,
                    Vec::new(),
                );
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return response;
            }
            AppError::Unavailable => {
                let mut response = problem_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    detail,
                    Vec::new(),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            AppError::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                return problem_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged".to_owned(),
                    Vec::new(),
                );
            }
        };
        let mut response = problem_response(status, code, detail, errors);
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
