-- Attachments: one row per upload. The bytes live in the object store under generated
-- keys; a message keeps a fixed JSON summary of its attachments in messages.attachments.
CREATE TABLE attachments (
    id              BLOB PRIMARY KEY,
    uploader_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    filename        TEXT NOT NULL,
    size            INTEGER NOT NULL,
    width           INTEGER,
    height          INTEGER,
    storage_key     TEXT NOT NULL,
    thumbnail_key   TEXT,
    scan_status     TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    conversation_id BLOB,
    message_id      BLOB,
    deleted_at      INTEGER
);
-- The cleanup job's two questions: old unattached uploads, and attachments of messages
-- deleted long enough ago.
CREATE INDEX attachments_unattached ON attachments (created_at) WHERE message_id IS NULL;
CREATE INDEX attachments_deleted ON attachments (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX attachments_by_message ON attachments (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_pending ON attachments (created_at) WHERE scan_status = 'pending';
CREATE INDEX attachments_by_uploader ON attachments (uploader_id);

ALTER TABLE messages ADD COLUMN attachments TEXT;
