//! `/v1/uploads` and `/v1/attachments`: streamed multipart uploads, attachment metadata
//! with signed URLs, and the signed content and thumbnail downloads (with `Range`).

use std::ops::Range;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use natter_app::attachments::{BodyError, UploadMeta, Variant};
use natter_app::{App, AppError};
use natter_proto::{Attachment, AttachmentId, Problem, UploadForm};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Caller, Json, Path, Query};

/// Room for the multipart framing around the file.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

/// Routes of this resource. `largest` is the biggest upload any kind allows: the body
/// limit of the upload route (the service cuts each kind off at its own limit).
pub fn routes(largest: u64) -> OpenApiRouter<App> {
    let body_limit =
        usize::try_from(largest.saturating_add(MULTIPART_OVERHEAD)).unwrap_or(usize::MAX);
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(body_limit))
        .routes(routes!(get_attachment))
        .routes(routes!(download_content))
        .routes(routes!(download_thumbnail))
}

/// `POST /v1/uploads`
#[utoipa::path(post, path = "/v1/uploads", tag = "attachments",
    request_body(content = UploadForm, content_type = "multipart/form-data",
        description = "One part named `file`, streamed; its type is detected from the bytes. \
            Limits by default: images (JPEG, PNG, GIF, WebP) 5 MB, documents (PDF, DOCX, \
            text, CSV) 10 MB, audio and video (MP3, OGG, M4A, MP4, WebM) 50 MB."),
    responses(
        (status = 201, description = "Stored, not attached yet (deleted after 24 h unless a message takes it)", body = Attachment),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, description = "`attachment_too_large`: cut off at the limit", body = Problem),
        (status = 415, description = "`attachment_type_not_allowed`, `attachment_type_mismatch`", body = Problem),
        (status = 422, description = "`file_required`, `empty_file`, `image_malformed`, `image_too_large`", body = Problem),
        (status = 429, body = Problem)))]
async fn upload(
    State(app): State<App>,
    Caller(actor): Caller,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let mut multipart = multipart.map_err(|rejection| {
        ApiError::edge(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "multipart_required",
            format!("send the file as multipart/form-data in a part named `file`: {rejection}"),
        )
    })?;
    loop {
        let field = multipart.next_field().await.map_err(|err| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                return ApiError::from(AppError::TooLarge {
                    code: "attachment_too_large",
                    detail: format!("the request body is too large: {}", err.body_text()),
                });
            }
            ApiError::from(AppError::invalid(
                "file",
                "malformed_multipart",
                format!("the multipart body is malformed: {err}"),
            ))
        })?;
        let Some(field) = field else {
            return Err(AppError::invalid(
                "file",
                "file_required",
                "the multipart body has no part named `file`",
            )
            .into());
        };
        if field.name() != Some("file") {
            // Other parts (a caption field some clients add) are skipped, not read whole.
            continue;
        }
        let meta = UploadMeta {
            filename: field.file_name().map(str::to_owned),
            content_type: field.content_type().map(str::to_owned),
        };
        // The route's body limit shows as a multipart error with status 413.
        let body = field.map_err(|err| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                BodyError::TooLarge(err.body_text())
            } else {
                BodyError::Broken(err.body_text())
            }
        });
        let attachment = app.attachments.upload(&actor, meta, Box::pin(body)).await?;
        return Ok((StatusCode::CREATED, Json(attachment)));
    }
}

/// `GET /v1/attachments/{attachment_id}`
#[utoipa::path(get, path = "/v1/attachments/{attachment_id}", tag = "attachments",
    params(("attachment_id" = String, Path)),
    responses(
        (status = 200, description = "Metadata and signed URLs (valid 1 h by default; absent while the file may not be served)", body = Attachment),
        (status = 401, body = Problem),
        (status = 404, description = "Unknown, deleted, or not visible to the caller (only its uploader, participants of the conversation holding it, and admins see it)", body = Problem)))]
async fn get_attachment(
    State(app): State<App>,
    Caller(actor): Caller,
    Path(attachment_id): Path<AttachmentId>,
) -> Result<Json<Attachment>, ApiError> {
    Ok(Json(app.attachments.get(&actor, attachment_id).await?))
}

/// The signature of a download URL.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Signed {
    /// Expiry, Unix seconds.
    expires: Option<i64>,
    /// HMAC of the URL's variant, attachment id and expiry.
    signature: Option<String>,
}

/// `GET /v1/attachments/{attachment_id}/content`
#[utoipa::path(get, path = "/v1/attachments/{attachment_id}/content", tag = "attachments",
    security(()),
    params(("attachment_id" = String, Path), Signed,
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`")),
    responses(
        (status = 200, description = "The file, with its detected type, `Content-Disposition` (inline for images only), `X-Content-Type-Options: nosniff` and `Content-Security-Policy: default-src 'none'`"),
        (status = 206, description = "The requested range"),
        (status = 403, description = "`signature_invalid`, `url_expired`, `attachment_infected`", body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`scan_pending`", body = Problem),
        (status = 416, description = "The range is outside the file", body = Problem)))]
async fn download_content(
    State(app): State<App>,
    Path(attachment_id): Path<AttachmentId>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(app, attachment_id, Variant::Content, signed, &headers).await
}

/// `GET /v1/attachments/{attachment_id}/thumbnail`
#[utoipa::path(get, path = "/v1/attachments/{attachment_id}/thumbnail", tag = "attachments",
    security(()),
    params(("attachment_id" = String, Path), Signed,
        ("Range" = Option<String>, Header, description = "One byte range")),
    responses(
        (status = 200, description = "A JPEG of at most 320 px (images only)"),
        (status = 206, description = "The requested range"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 416, body = Problem)))]
async fn download_thumbnail(
    State(app): State<App>,
    Path(attachment_id): Path<AttachmentId>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    download(app, attachment_id, Variant::Thumbnail, signed, &headers).await
}

async fn download(
    app: App,
    id: AttachmentId,
    variant: Variant,
    signed: Signed,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (Some(expires), Some(signature)) = (signed.expires, signed.signature) else {
        return Err(AppError::forbidden(
            "signature_invalid",
            "download URLs need `expires` and `signature`; GET /v1/attachments/{id} gives one",
        )
        .into());
    };
    let download = app
        .attachments
        .open(id, variant, expires, &signature)
        .await?;
    let size = download.size;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(raw) => match parse_range(raw, size) {
            RangeRequest::Ignored => None,
            RangeRequest::Satisfiable(range) => Some(range),
            RangeRequest::Unsatisfiable => {
                let mut response = ApiError::edge(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the file has {size} bytes"),
                )
                .into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
        },
    };
    let body = app.attachments.read(&download, range.clone()).await?;
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &download.content_type);
    set(header::CONTENT_DISPOSITION, &download.disposition);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox",
    );
    set(header::ACCEPT_RANGES, "bytes");
    set(header::CACHE_CONTROL, "private, max-age=300");
    set(header::REFERRER_POLICY, "no-referrer");
    match &range {
        Some(range) => {
            set(
                header::CONTENT_LENGTH,
                &(range.end - range.start).to_string(),
            );
            set(
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{size}", range.start, range.end - 1),
            );
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => set(header::CONTENT_LENGTH, &size.to_string()),
    }
    Ok(response)
}

/// A `Range` header, read against a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Not a single byte range we serve (several ranges, another unit, malformed): send
    /// the whole file, as RFC 9110 allows.
    Ignored,
    /// The bytes to send.
    Satisfiable(Range<u64>),
    /// Starts past the end.
    Unsatisfiable,
}

fn parse_range(raw: &str, size: u64) -> RangeRequest {
    let Some(spec) = raw.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignored;
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        // The last `end` bytes.
        return match end.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(suffix) => RangeRequest::Satisfiable(size.saturating_sub(suffix)..size),
            Err(_) => RangeRequest::Ignored,
        };
    }
    let Ok(first) = start.parse::<u64>() else {
        return RangeRequest::Ignored;
    };
    let last = if end.is_empty() {
        size.saturating_sub(1)
    } else {
        match end.parse::<u64>() {
            Ok(last) if last >= first => last.min(size.saturating_sub(1)),
            _ => return RangeRequest::Ignored,
        }
    };
    if first >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Satisfiable(first..last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=-500", 100), Satisfiable(0..100));
        assert_eq!(parse_range("bytes=50-5000", 100), Satisfiable(50..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
        assert_eq!(parse_range("bytes=9-3", 100), Ignored);
        assert_eq!(parse_range("bytes=x-3", 100), Ignored);
    }
}
