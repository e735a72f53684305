-- Core schema: users, conversations, participants, messages, the event log.
-- Timestamps are INTEGER microseconds since the Unix epoch; ids are 16-byte BLOB UUIDs.

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    display_name TEXT,
    avatar_url   TEXT,
    role         TEXT NOT NULL DEFAULT 'user',
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER
) WITHOUT ROWID;

CREATE TABLE conversations (
    id                  BLOB PRIMARY KEY,
    kind                TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'active',
    title               TEXT,
    description         TEXT,
    avatar_url          TEXT,
    context_kind        TEXT,
    context_id          TEXT,
    unique_key          TEXT UNIQUE,
    created_by          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_activity_at    INTEGER NOT NULL,
    last_event_at       INTEGER NOT NULL,
    trusted             INTEGER NOT NULL DEFAULT 0,
    encrypted           INTEGER NOT NULL DEFAULT 0,
    message_count       INTEGER NOT NULL DEFAULT 0,
    last_message_seq    INTEGER NOT NULL DEFAULT 0,
    last_event_seq      INTEGER NOT NULL DEFAULT 0,
    last_message_sender TEXT,
    last_message_kind   TEXT,
    last_message_text   TEXT,
    last_message_at     INTEGER,
    participant_count   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_by_context ON conversations (context_kind, context_id);

CREATE TABLE participants (
    conversation_id    BLOB NOT NULL REFERENCES conversations (id),
    user_id            TEXT NOT NULL REFERENCES users (id),
    role               TEXT NOT NULL,
    joined_at          INTEGER NOT NULL,
    left_at            INTEGER,
    last_read_seq      INTEGER NOT NULL DEFAULT 0,
    last_read_at       INTEGER,
    last_delivered_seq INTEGER NOT NULL DEFAULT 0,
    muted              INTEGER NOT NULL DEFAULT 0,
    muted_until        INTEGER,
    pinned             INTEGER NOT NULL DEFAULT 0,
    archived           INTEGER NOT NULL DEFAULT 0,
    notification_level TEXT NOT NULL DEFAULT 'all',
    sound              INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX participants_by_user ON participants (user_id, conversation_id);

-- Clustered by conversation: a history page is one contiguous range of the primary key.
CREATE TABLE messages (
    conversation_id   BLOB NOT NULL,
    seq               INTEGER NOT NULL,
    id                BLOB NOT NULL,
    sender_id         TEXT,
    kind              TEXT NOT NULL,
    content           TEXT,
    client_message_id TEXT,
    reply_to_id       BLOB,
    mentions          TEXT,
    created_at        INTEGER NOT NULL,
    edited_at         INTEGER,
    edit_count        INTEGER NOT NULL DEFAULT 0,
    deleted_at        INTEGER,
    deleted_by        TEXT,
    pii_masked        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_by_id ON messages (id);
CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_message_id)
    WHERE client_message_id IS NOT NULL AND sender_id IS NOT NULL;
CREATE UNIQUE INDEX messages_by_system_client_id ON messages (conversation_id, client_message_id)
    WHERE client_message_id IS NOT NULL AND sender_id IS NULL;

CREATE TABLE events (
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    message_seq     INTEGER,
    data            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
