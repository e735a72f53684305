//! Untyped requests and responses: what [`crate::Client::raw`] sends and returns, and the
//! one place where a response turns into a typed value or a [`ClientError`].

use natter_proto::Problem;
use serde::de::DeserializeOwned;

use crate::ClientError;

/// A request body sent as-is, e.g. deliberately malformed JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBody {
    /// Value of the `Content-Type` header.
    pub content_type: String,
    /// The bytes to send.
    pub bytes: Vec<u8>,
}

impl RawBody {
    /// A body of `application/json` with the given text, valid JSON or not.
    pub fn json_text(text: &str) -> RawBody {
        RawBody {
            content_type: "application/json".to_owned(),
            bytes: text.as_bytes().to_vec(),
        }
    }
}

/// A response as the server sent it, whatever its status.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body bytes (empty for `204`).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Decodes the body as JSON of type `T`, regardless of the status.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as a problem, when it is one.
    pub fn problem(&self) -> Option<Problem> {
        self.json().ok()
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, when present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// Turns a 2xx response into its decoded body and status, anything else into
    /// [`ClientError::Api`].
    ///
    /// An empty body (`204`) decodes as JSON `null`, so that `T = ()` works.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<(u16, T), ClientError> {
        if !(200..300).contains(&self.status) {
            let problem = self.problem().unwrap_or_else(|| self.unparseable_problem());
            return Err(ClientError::Api {
                status: self.status,
                problem: Box::new(problem),
            });
        }
        let bytes: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        match serde_json::from_slice(bytes) {
            Ok(value) => Ok((self.status, value)),
            Err(error) => Err(ClientError::Decode {
                status: self.status,
                body: self.text(),
                error,
            }),
        }
    }

    /// A stand-in problem for an error body that is not one (e.g. a proxy's HTML page).
    fn unparseable_problem(&self) -> Problem {
        let title = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Unknown status");
        Problem {
            kind: "about:blank".to_owned(),
            title: title.to_owned(),
            status: self.status,
            detail: self.text(),
            code: "unparseable_error".to_owned(),
            errors: Vec::new(),
        }
    }
}
