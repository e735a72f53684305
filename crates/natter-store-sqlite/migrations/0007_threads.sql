-- Threads: a reply names its root (same conversation, one level deep); the root carries a
-- summary; followers are users who replied or chose to follow.
ALTER TABLE messages ADD COLUMN thread_root_id BLOB;
ALTER TABLE messages ADD COLUMN thread_root_seq INTEGER;
ALTER TABLE messages ADD COLUMN thread_reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN thread_last_reply_at INTEGER;
CREATE INDEX messages_by_thread ON messages (conversation_id, thread_root_seq, seq)
    WHERE thread_root_seq IS NOT NULL;

CREATE TABLE thread_followers (
    conversation_id BLOB NOT NULL,
    root_seq        INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    since           INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, root_seq, user_id)
) WITHOUT ROWID;
