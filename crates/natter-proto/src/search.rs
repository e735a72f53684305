//! Message search: `GET /v1/search/messages`.

use serde::{Deserialize, Serialize};

use crate::Message;

/// One message found by a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// The message, as `GET /v1/messages/{id}` returns it to the caller.
    pub message: Message,
    /// An excerpt of the content around the first match (about 160 characters, `…` where
    /// cut, line breaks as spaces) with every match between `[[` and `]]`. Brackets of
    /// the content that would touch each other or a marker are separated by a space, so
    /// `[[` and `]]` in a snippet are always markers.
    pub snippet: String,
    /// Relevance, higher is better. Only comparable within one search on one server.
    pub rank: f64,
}

/// Response of `GET /v1/search/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The hits of this page, most relevant first, then newest first.
    pub items: Vec<SearchHit>,
    /// Messages matching the query, counting at most the server's `search.max_matches`
    /// (10 000 by default; beyond that only the newest are ranked).
    pub total: u64,
    /// Opaque cursor to pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
