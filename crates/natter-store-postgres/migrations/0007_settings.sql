-- Conversation settings: one JSON document per conversation with a version for optimistic
-- concurrency, and the history of every change.
CREATE TABLE conversation_settings (
    conversation_id UUID PRIMARY KEY REFERENCES conversations (id),
    settings        TEXT NOT NULL,
    version         BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT COLLATE "C"
);

CREATE TABLE conversation_settings_history (
    conversation_id UUID NOT NULL,
    version         BIGINT NOT NULL,
    changed_at      BIGINT NOT NULL,
    changed_by      TEXT COLLATE "C",
    changes         TEXT NOT NULL,
    CONSTRAINT conversation_settings_history_pkey PRIMARY KEY (conversation_id, version)
);
