-- Conversation settings: one JSON document per conversation with a version for optimistic
-- concurrency, and the history of every change.
CREATE TABLE conversation_settings (
    conversation_id BLOB PRIMARY KEY REFERENCES conversations (id),
    settings        TEXT NOT NULL,
    version         INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT
) WITHOUT ROWID;

CREATE TABLE conversation_settings_history (
    conversation_id BLOB NOT NULL,
    version         INTEGER NOT NULL,
    changed_at      INTEGER NOT NULL,
    changed_by      TEXT,
    changes         TEXT NOT NULL,
    PRIMARY KEY (conversation_id, version)
) WITHOUT ROWID;
