-- Threads: a reply names its root (same conversation, one level deep); the root carries a
-- summary; followers are users who replied or chose to follow.
ALTER TABLE messages ADD COLUMN thread_root_id UUID;
ALTER TABLE messages ADD COLUMN thread_root_seq BIGINT;
ALTER TABLE messages ADD COLUMN thread_reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN thread_last_reply_at BIGINT;
CREATE INDEX messages_by_thread ON messages (conversation_id, thread_root_seq, seq)
    WHERE thread_root_seq IS NOT NULL;

CREATE TABLE thread_followers (
    conversation_id UUID NOT NULL,
    root_seq        BIGINT NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    since           BIGINT NOT NULL,
    CONSTRAINT thread_followers_pkey PRIMARY KEY (conversation_id, root_seq, user_id)
);
