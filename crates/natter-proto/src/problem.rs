//! The error body of every failed request: RFC 9457 problem details with a stable code.

use serde::{Deserialize, Serialize};

/// `application/problem+json` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// URI reference naming the problem type (`https://natter.dev/problems/<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Stable machine code, e.g. `not_participant`, `validation_failed`.
    pub code: String,
    /// Per-field errors for `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's name (dotted path for nested fields).
    pub field: String,
    /// Stable code, e.g. `too_long`, `required`, `control_character`.
    pub code: String,
    /// Human explanation.
    pub message: String,
}
