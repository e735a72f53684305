//! Invitation endpoints.

use natter_proto::{Conversation, ConversationId, CreateInvitation, Invitation, Page};

use crate::{Client, ClientError, Method, NO_BODY};

impl Client {
    /// `POST /v1/conversations/{id}/invitations`.
    pub async fn create_invitation(
        &self,
        conversation_id: ConversationId,
        request: &CreateInvitation,
    ) -> Result<Invitation, ClientError> {
        self.send(
            Method::POST,
            &format!("/v1/conversations/{conversation_id}/invitations"),
            Some(request),
        )
        .await
    }

    /// `GET /v1/conversations/{id}/invitations`.
    pub async fn list_invitations(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Page<Invitation>, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/conversations/{conversation_id}/invitations"),
            NO_BODY,
        )
        .await
    }

    /// `DELETE /v1/conversations/{id}/invitations/{invitation_id}`.
    pub async fn revoke_invitation(
        &self,
        conversation_id: ConversationId,
        invitation_id: &str,
    ) -> Result<(), ClientError> {
        let path = format!(
            "/v1/conversations/{conversation_id}/invitations/{}",
            crate::query::encode(invitation_id)
        );
        let response = self.raw(Method::DELETE, &path, None).await?;
        if response.status == 204 {
            Ok(())
        } else {
            response.decode::<serde_json::Value>().map(|_| ())
        }
    }

    /// `POST /v1/invitations/{token}/accept`.
    pub async fn accept_invitation(&self, token: &str) -> Result<Conversation, ClientError> {
        self.send(
            Method::POST,
            &format!("/v1/invitations/{}/accept", crate::query::encode(token)),
            NO_BODY,
        )
        .await
    }
}

impl Client {
    /// `GET /v1/conversations/{id}/settings`.
    pub async fn conversation_settings(
        &self,
        conversation_id: ConversationId,
    ) -> Result<natter_proto::ConversationSettings, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/conversations/{conversation_id}/settings"),
            NO_BODY,
        )
        .await
    }

    /// `PATCH /v1/conversations/{id}/settings`.
    pub async fn update_conversation_settings(
        &self,
        conversation_id: ConversationId,
        request: &natter_proto::UpdateSettings,
    ) -> Result<natter_proto::ConversationSettings, ClientError> {
        self.send(
            Method::PATCH,
            &format!("/v1/conversations/{conversation_id}/settings"),
            Some(request),
        )
        .await
    }

    /// `GET /v1/conversations/{id}/settings/history`.
    pub async fn settings_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<natter_proto::SettingsChange>, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/conversations/{conversation_id}/settings/history"),
            NO_BODY,
        )
        .await
    }
}
