//! [`AppError`]: the domain outcomes every use case can end in, independent of HTTP.
//! The server maps each variant to a status and a problem body in one place.

use natter_proto::FieldError;
use natter_store::StoreError;

/// What a caller cannot see or find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A conversation (or one the caller is not in).
    Conversation,
    /// A message (or one in a conversation the caller is not in).
    Message,
    /// A user.
    User,
    /// A participant of a conversation.
    Participant,
    /// An invitation (or a token that is not one).
    Invitation,
    /// An attachment (or one the caller may not see).
    Attachment,
}

impl Resource {
    /// Stable problem code, e.g. `conversation_not_found`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Conversation => "conversation_not_found",
            Self::Message => "message_not_found",
            Self::User => "user_not_found",
            Self::Participant => "participant_not_found",
            Self::Invitation => "invitation_not_found",
            Self::Attachment => "attachment_not_found",
        }
    }
}

/// Why a token or key was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials.
    Missing,
    /// Not a parseable JWT.
    Malformed,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// Signature does not verify with the configured key.
    BadSignature,
    /// `alg: none`.
    AlgNone,
    /// Signed with another algorithm than the configured one.
    WrongAlgorithm,
    /// A required claim is missing or invalid (`exp`, `sub`, `role`).
    InvalidClaims,
    /// A server API key that matches no configured key.
    InvalidApiKey,
    /// `X-Natter-User` without a server API key, or with an invalid id.
    InvalidActingUser,
    /// User tokens cannot be verified: no JWT key is configured.
    NotConfigured,
}

impl AuthFailure {
    /// Stable problem code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "token_missing",
            Self::Malformed => "token_malformed",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::BadSignature => "token_bad_signature",
            Self::AlgNone => "token_alg_none",
            Self::WrongAlgorithm => "token_wrong_algorithm",
            Self::InvalidClaims => "token_invalid_claims",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InvalidActingUser => "invalid_acting_user",
            Self::NotConfigured => "token_auth_not_configured",
        }
    }

    /// Human explanation.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "an Authorization: Bearer header is required",
            Self::Malformed => "the bearer token is not a well-formed JWT",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet (nbf)",
            Self::BadSignature => "the token signature does not verify",
            Self::AlgNone => "unsigned tokens (alg: none) are never accepted",
            Self::WrongAlgorithm => "the token is signed with an algorithm this server does not accept",
            Self::InvalidClaims => "the token lacks a valid exp or sub claim, or has an unknown role",
            Self::InvalidApiKey => "the server API key is not valid",
            Self::InvalidActingUser => {
                "X-Natter-User needs a server API key and a valid user id (1-64 of A-Z a-z 0-9 _ . @ : -)"
            }
            Self::NotConfigured => "this server has no JWT key configured; user tokens cannot be verified",
        }
    }
}

/// The outcome of a use case that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Credentials missing or rejected.
    #[error("{}", .0.detail())]
    Unauthorized(AuthFailure),
    /// The thing does not exist or the caller may not know that it does.
    #[error("{} not found", .0.code().trim_end_matches("_not_found"))]
    NotFound(Resource),
    /// The caller may see the thing but not do this to it.
    #[error("{detail}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The thing existed but is no longer usable (an expired or revoked invitation).
    #[error("{detail}")]
    Gone {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The upload is larger than allowed (HTTP 413); the rest of it was not read.
    #[error("{detail}")]
    TooLarge {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The upload is of a type that is not accepted, or not the type it claims (HTTP 415).
    #[error("{detail}")]
    UnsupportedType {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// The request is well-formed but invalid; one entry per invalid field.
    #[error("the request is invalid: {}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// Too many requests of this kind; retry after the given seconds.
    #[error("rate limited: retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next request of this kind is allowed.
        retry_after_secs: u64,
    },
    /// The store cannot be reached; the request can be retried.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// A bug or a broken backend. The detail is logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    /// A 403 with a code.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    /// A 409 with a code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A validation failure of a single field.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }])
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "store unavailable");
                Self::Unavailable
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

/// Collects field errors so that a request reports every problem at once.
#[derive(Debug, Default)]
pub struct Validation(Vec<FieldError>);

impl Validation {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with a field.
    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    /// Records the error of a check, if any.
    pub fn check<T>(
        &mut self,
        field: &str,
        result: Result<T, (&'static str, String)>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err((code, message)) => {
                self.add(field, code, message);
                None
            }
        }
    }

    /// `Err(Invalid)` when any problem was recorded.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(self.0))
        }
    }
}
