//! User endpoints: the caller's own record and unread summary, and the server API's user
//! upsert.

use natter_proto::{UnreadSummary, UpsertUser, User, UserId};

use crate::query::encode;
use crate::{Client, ClientError, Created, Method, NO_BODY};

impl Client {
    /// `GET /v1/users/me`: the caller.
    pub async fn me(&self) -> Result<User, ClientError> {
        self.send(Method::GET, "/v1/users/me", NO_BODY).await
    }

    /// `GET /v1/users/me/unread`: the caller's unread counts.
    pub async fn unread(&self) -> Result<UnreadSummary, ClientError> {
        self.send(Method::GET, "/v1/users/me/unread", NO_BODY).await
    }

    /// `GET /v1/users/{user_id}`.
    pub async fn user(&self, user_id: &UserId) -> Result<User, ClientError> {
        self.send(Method::GET, &user_path(user_id), NO_BODY).await
    }

    /// `PUT /v1/users/{user_id}` (server API): creates (`201`) or updates (`200`) a user.
    pub async fn upsert_user(
        &self,
        user_id: &UserId,
        body: &UpsertUser,
    ) -> Result<Created<User>, ClientError> {
        self.send_created(Method::PUT, &user_path(user_id), Some(body))
            .await
    }
}

/// `/v1/users/{user_id}`.
fn user_path(user_id: &UserId) -> String {
    format!("/v1/users/{}", encode(user_id.as_str()))
}
