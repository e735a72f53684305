//! Typed async client of the Natter REST API, used by the integration tests and the load
//! generator.
//!
//! Every endpoint is one method on [`Client`] that takes and returns the wire types of
//! `natter-proto`; errors come back as [`ClientError`], with the server's problem body
//! parsed. [`Client::raw`] sends arbitrary bytes for tests of malformed input.
//! The REST part does not retry or cache: it is a thin mapping of routes to methods.
//! [`realtime`] speaks the WebSocket gateway: [`realtime::Connection`] is one raw
//! connection, [`realtime::ResumingStream`] the client that never misses an event (it
//! detects gaps, reconnects with backoff and catches up from the event log). Where to look
//! next: `natter-server/src/http/` for the routes and `docs/protocol.md` for the gateway.

mod admin;
mod attachments;
mod conversations;
mod error;
mod events;
mod invitations;
mod lifecycle;
mod messages;
mod query;
mod raw;
pub mod realtime;
mod search;
mod users;

use natter_proto::Health;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use admin::AdminConversationFilter;
pub use attachments::multipart_file;
pub use conversations::ConversationFilter;
pub use error::ClientError;
pub use messages::{MessageFilter, SortOrder};
pub use raw::{RawBody, RawResponse};
pub use reqwest::Method;
pub use search::SearchFilter;

/// Header a server key uses to act as one user.
const ACTING_AS_HEADER: &str = "X-Natter-User";

/// Stands in for the body of requests that have none.
const NO_BODY: Option<&()> = None;

/// A response that is either a new resource (`201 Created`) or an existing one (`200 OK`).
#[derive(Debug, Clone, PartialEq)]
pub struct Created<T> {
    /// The resource.
    pub value: T,
    /// The server answered `201`: this call created the resource. `false` on `200`, for
    /// example an idempotent retry of `send_message`.
    pub created: bool,
}

/// Typed client of one Natter server. Cloning is cheap: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    authorization: Option<String>,
    acting_as: Option<String>,
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`), without credentials.
    pub fn new(base_url: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            authorization: None,
            acting_as: None,
        }
    }

    /// This client authenticated as a user with a JWT (`Authorization: Bearer <jwt>`).
    pub fn with_token(self, token: &str) -> Client {
        Client {
            authorization: Some(format!("Bearer {token}")),
            ..self
        }
    }

    /// This client authenticated with a server API key (`Authorization: Bearer <key>`).
    ///
    /// Same header as [`Client::with_token`]: the server tells the two apart because server
    /// keys contain no dots.
    pub fn with_api_key(self, key: &str) -> Client {
        self.with_token(key)
    }

    /// This client acting as `user_id` (`X-Natter-User`); meaningful with a server key only.
    pub fn acting_as(self, user_id: &natter_proto::UserId) -> Client {
        Client {
            acting_as: Some(user_id.as_str().to_owned()),
            ..self
        }
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.send(Method::GET, "/healthz", NO_BODY).await
    }

    /// `GET /readyz`: `Ok` for both `200` and `503`; check [`Health::status`].
    pub async fn ready(&self) -> Result<Health, ClientError> {
        let response = self.raw(Method::GET, "/readyz", None).await?;
        if response.status == 503 {
            if let Ok(health) = response.json::<Health>() {
                return Ok(health);
            }
        }
        response.decode().map(|(_, health)| health)
    }

    /// `GET /openapi.json`: the server's OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.send(Method::GET, "/openapi.json", NO_BODY).await
    }

    /// Sends any request with this client's credentials and returns the response as it is,
    /// whatever its status. `path` starts with `/` and may carry a query string.
    ///
    /// Only transport failures are errors here; for tests of malformed input.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<RawBody>,
    ) -> Result<RawResponse, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(authorization) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        if let Some(user_id) = &self.acting_as {
            request = request.header(ACTING_AS_HEADER, user_id);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, body.content_type)
                .body(body.bytes);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends `body` as JSON and decodes a 2xx answer as `T`, returning the status too.
    /// Every endpoint method but [`Client::ready`] goes through here.
    async fn exchange<B, T>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(u16, T), ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let body = body.map(|body| RawBody {
            content_type: "application/json".to_owned(),
            // The bodies are `natter-proto` types: plain structs with string keys, which
            // serde_json always serializes.
            bytes: serde_json::to_vec(body).expect("wire types serialize to JSON"),
        });
        self.raw(method, path, body).await?.decode()
    }

    /// [`Client::exchange`] without the status.
    async fn send<B, T>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let (_, value) = self.exchange(method, path, body).await?;
        Ok(value)
    }

    /// [`Client::exchange`] for endpoints that answer `201` when they create and `200` when
    /// the resource existed already.
    async fn send_created<B, T>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Created<T>, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let (status, value) = self.exchange(method, path, body).await?;
        Ok(Created {
            value,
            created: status == 201,
        })
    }
}
