//! Conversation settings: a small JSON document with a version (optimistic concurrency)
//! and a history of every change (who, when, which keys from what to what).

use natter_proto::{
    ConversationId, ConversationSettings, NotificationLevel, SettingsChange, UpdateSettings,
};
use natter_store::{SettingsOutcome, SettingsRecord};

use crate::{Actor, AppError, Conversations, Validation};

/// Largest settings document, serialised.
const MAX_SETTINGS_BYTES: usize = 4096;

fn wire(record: SettingsRecord) -> ConversationSettings {
    ConversationSettings {
        settings: record.settings,
        version: record.version,
        updated_at: record.updated_at,
        updated_by: record.updated_by,
    }
}

/// Checks the known keys and the size of the merged document.
fn validate(settings: &serde_json::Map<String, serde_json::Value>) -> Result<(), AppError> {
    let mut validation = Validation::new();
    if let Some(color) = settings.get("color") {
        let ok = color.as_str().is_some_and(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            validation.add("settings.color", "invalid_color", "a color is #rrggbb");
        }
    }
    if let Some(level) = settings.get("notification_level") {
        if level.as_str().and_then(NotificationLevel::parse).is_none() {
            validation.add(
                "settings.notification_level",
                "invalid_level",
                "all, mentions or none",
            );
        }
    }
    if serde_json::to_vec(settings).map_or(usize::MAX, |bytes| bytes.len()) > MAX_SETTINGS_BYTES {
        validation.add(
            "settings",
            "too_large",
            "settings are at most 4 KiB of JSON",
        );
    }
    validation.finish()
}

impl Conversations {
    /// `GET /v1/conversations/{id}/settings`: anyone who can read the conversation.
    pub async fn settings(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<ConversationSettings, AppError> {
        self.core.access(actor, conversation_id).await?;
        Ok(wire(
            self.core
                .store
                .find_conversation_settings(conversation_id)
                .await?,
        ))
    }

    /// `PATCH /v1/conversations/{id}/settings` (owner, admin or moderator). The version
    /// comes from the body or `If-Match`; without either the change applies to whatever
    /// is current.
    pub async fn update_settings(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: UpdateSettings,
        if_match: Option<u64>,
    ) -> Result<ConversationSettings, AppError> {
        let (_, access) = self.core.access(actor, conversation_id).await?;
        if !access.can_manage() {
            return Err(AppError::forbidden(
                "insufficient_role",
                "only the owner or an admin changes settings",
            ));
        }
        let serde_json::Value::Object(patch) = request.settings else {
            return Err(AppError::invalid(
                "settings",
                "not_an_object",
                "settings is a JSON object",
            ));
        };
        let current = self
            .core
            .store
            .find_conversation_settings(conversation_id)
            .await?;
        let expected = request.version.or(if_match).unwrap_or(current.version);
        if expected != current.version {
            return Err(AppError::conflict(
                "version_conflict",
                format!("the settings are at version {}", current.version),
            ));
        }
        let mut merged = current.settings.as_object().cloned().unwrap_or_default();
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        validate(&merged)?;
        let outcome = self
            .core
            .store
            .update_conversation_settings(
                conversation_id,
                serde_json::Value::Object(merged),
                expected,
                actor.user_id.as_ref(),
                self.core.now(),
            )
            .await?;
        match outcome {
            SettingsOutcome::Updated(record, event_seq) => {
                self.core.committed(conversation_id, event_seq).await;
                Ok(wire(record))
            }
            SettingsOutcome::VersionConflict(current) => Err(AppError::conflict(
                "version_conflict",
                format!("the settings are at version {}", current.version),
            )),
        }
    }

    /// `GET /v1/conversations/{id}/settings/history`.
    pub async fn settings_history(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<Vec<SettingsChange>, AppError> {
        self.core.access(actor, conversation_id).await?;
        let history = self
            .core
            .store
            .list_settings_history(conversation_id)
            .await?;
        Ok(history
            .into_iter()
            .map(|change| SettingsChange {
                version: change.version,
                changed_at: change.changed_at,
                changed_by: change.changed_by,
                changes: change.changes,
            })
            .collect())
    }
}
