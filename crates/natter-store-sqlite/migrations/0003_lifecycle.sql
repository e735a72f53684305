-- Message lifecycle: edit history, "deleted for me", reactions; purge support.

-- Every edit keeps the version it replaced; edited_at is when that version was replaced.
CREATE TABLE message_edits (
    message_id BLOB NOT NULL,
    edit_no    INTEGER NOT NULL,
    content    TEXT,
    edited_at  INTEGER NOT NULL,
    PRIMARY KEY (message_id, edit_no)
) WITHOUT ROWID;

-- Messages a user deleted for themselves only.
CREATE TABLE message_hidden (
    user_id         TEXT NOT NULL,
    message_id      BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    hidden_at       INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_hidden_by_conversation ON message_hidden (user_id, conversation_id, seq);

-- One reaction per (message, emoji, user).
CREATE TABLE reactions (
    message_id BLOB NOT NULL,
    emoji      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;

-- The retention purge finds deleted messages by deletion time.
CREATE INDEX messages_deleted ON messages (deleted_at) WHERE deleted_at IS NOT NULL;

-- A preview of a deleted newest message shows a tombstone.
ALTER TABLE conversations ADD COLUMN last_message_deleted INTEGER NOT NULL DEFAULT 0;
