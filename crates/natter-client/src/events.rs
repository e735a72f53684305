//! Catch-up endpoints: a conversation's event log and the sync of changed conversations.
//! The realtime gateway is not part of this client.

use natter_proto::{ConversationId, EventPage, EventSeq, SyncResponse};

use crate::query::QueryString;
use crate::{Client, ClientError, Method, NO_BODY};

impl Client {
    /// `GET /v1/conversations/{conversation_id}/events?after_seq=N&limit=L`: events with
    /// `seq > after`.
    pub async fn events(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: Option<u32>,
    ) -> Result<EventPage, ClientError> {
        let query = QueryString::default()
            .push("after_seq", after.0)
            .push_opt("limit", limit)
            .finish();
        let path = format!("/v1/conversations/{conversation_id}/events{query}");
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `GET /v1/sync?since=TOKEN`: conversations changed since the token (all of the
    /// caller's conversations without one).
    pub async fn sync(&self, since: Option<&str>) -> Result<SyncResponse, ClientError> {
        let query = QueryString::default().push_opt("since", since).finish();
        self.send(Method::GET, &format!("/v1/sync{query}"), NO_BODY)
            .await
    }
}
