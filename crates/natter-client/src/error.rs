//! The error of every client call: an answer of the server that is not a success, a
//! transport failure, or a success body that does not decode.

use natter_proto::Problem;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-2xx status and a problem body. A body that is not a
    /// [`Problem`] is wrapped in one with code `unparseable_error` and the body as `detail`.
    #[error("server answered {status} {}: {}", problem.code, problem.detail)]
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// The problem body, boxed to keep `Result<_, ClientError>` small.
        problem: Box<Problem>,
    },
    /// The request could not be sent or the response not read.
    #[error("http request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The realtime connection failed or was closed.
    #[error("realtime connection: {reason} (close code {code:?})")]
    Realtime {
        /// The WebSocket close code, when the server closed the connection.
        code: Option<u16>,
        /// What happened.
        reason: String,
    },
    /// A 2xx body did not decode as the expected type.
    #[error("cannot decode the {status} response body: {error}")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// The body, lossily converted to UTF-8.
        body: String,
        /// The decoding error.
        #[source]
        error: serde_json::Error,
    },
}

impl ClientError {
    /// The problem's stable code (`not_participant`, `validation_failed`, …) for
    /// [`ClientError::Api`]; `None` otherwise.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { problem, .. } => Some(&problem.code),
            Self::Http(_) | Self::Decode { .. } | Self::Realtime { .. } => None,
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            Self::Http(error) => error.status().map(|status| status.as_u16()),
            Self::Realtime { .. } => None,
        }
    }

    /// The problem body for [`ClientError::Api`]; `None` otherwise.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Api { problem, .. } => Some(problem),
            Self::Http(_) | Self::Decode { .. } | Self::Realtime { .. } => None,
        }
    }
}
