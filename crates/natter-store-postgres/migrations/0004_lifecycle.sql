-- Message lifecycle: edit history, "deleted for me", reactions; purge support.

CREATE TABLE message_edits (
    message_id UUID NOT NULL,
    edit_no    INTEGER NOT NULL,
    content    TEXT,
    edited_at  BIGINT NOT NULL,
    CONSTRAINT message_edits_pkey PRIMARY KEY (message_id, edit_no)
);

CREATE TABLE message_hidden (
    user_id         TEXT COLLATE "C" NOT NULL,
    message_id      UUID NOT NULL,
    conversation_id UUID NOT NULL,
    seq             BIGINT NOT NULL,
    hidden_at       BIGINT NOT NULL,
    CONSTRAINT message_hidden_pkey PRIMARY KEY (user_id, message_id)
);
CREATE INDEX message_hidden_by_conversation ON message_hidden (user_id, conversation_id, seq);

CREATE TABLE reactions (
    message_id UUID NOT NULL,
    emoji      TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT reactions_pkey PRIMARY KEY (message_id, emoji, user_id)
);

CREATE INDEX messages_deleted ON messages (deleted_at) WHERE deleted_at IS NOT NULL;

ALTER TABLE conversations ADD COLUMN last_message_deleted BOOLEAN NOT NULL DEFAULT FALSE;
