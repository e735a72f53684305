-- Core schema: users, conversations, participants, messages, the event log.
-- Mirrors natter-store-sqlite's 0001_core.sql column for column so that both stores
-- return identical records:
--   * timestamps are BIGINT microseconds since the Unix epoch (not timestamptz), the
--     precision and representation the SQLite store uses;
--   * ids are uuid, which PostgreSQL orders bytewise like SQLite orders its 16-byte BLOBs;
--   * user ids and other text keys use the "C" collation so that they sort bytewise (like
--     SQLite's BINARY collation) whatever the database's default locale is;
--   * event payloads are `json` (not `jsonb`), which keeps the exact text written, so the
--     event log is byte-identical to SQLite's.

CREATE TABLE users (
    id           TEXT COLLATE "C" PRIMARY KEY,
    display_name TEXT,
    avatar_url   TEXT,
    role         TEXT NOT NULL DEFAULT 'user',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT
);

CREATE TABLE conversations (
    id                  UUID PRIMARY KEY,
    kind                TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'active',
    title               TEXT,
    description         TEXT,
    avatar_url          TEXT,
    context_kind        TEXT COLLATE "C",
    context_id          TEXT COLLATE "C",
    unique_key          TEXT COLLATE "C" CONSTRAINT conversations_unique_key UNIQUE,
    created_by          TEXT COLLATE "C",
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    last_activity_at    BIGINT NOT NULL,
    last_event_at       BIGINT NOT NULL,
    trusted             BOOLEAN NOT NULL DEFAULT FALSE,
    encrypted           BOOLEAN NOT NULL DEFAULT FALSE,
    message_count       BIGINT NOT NULL DEFAULT 0,
    last_message_seq    BIGINT NOT NULL DEFAULT 0,
    last_event_seq      BIGINT NOT NULL DEFAULT 0,
    last_message_sender TEXT COLLATE "C",
    last_message_kind   TEXT,
    last_message_text   TEXT,
    last_message_at     BIGINT,
    participant_count   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX conversations_by_context ON conversations (context_kind, context_id);

CREATE TABLE participants (
    conversation_id    UUID NOT NULL REFERENCES conversations (id),
    user_id            TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    role               TEXT NOT NULL,
    joined_at          BIGINT NOT NULL,
    left_at            BIGINT,
    last_read_seq      BIGINT NOT NULL DEFAULT 0,
    last_read_at       BIGINT,
    last_delivered_seq BIGINT NOT NULL DEFAULT 0,
    muted              BOOLEAN NOT NULL DEFAULT FALSE,
    muted_until        BIGINT,
    pinned             BOOLEAN NOT NULL DEFAULT FALSE,
    archived           BOOLEAN NOT NULL DEFAULT FALSE,
    notification_level TEXT NOT NULL DEFAULT 'all',
    sound              BOOLEAN NOT NULL DEFAULT TRUE,
    CONSTRAINT participants_pkey PRIMARY KEY (conversation_id, user_id)
);
-- A user's conversation list, unread counts and sync all start from this index.
CREATE INDEX participants_by_user ON participants (user_id, conversation_id);

-- A history page and the unread count are one range of the primary key.
CREATE TABLE messages (
    conversation_id   UUID NOT NULL,
    seq               BIGINT NOT NULL,
    id                UUID NOT NULL,
    sender_id         TEXT COLLATE "C",
    kind              TEXT NOT NULL,
    content           TEXT,
    client_message_id TEXT COLLATE "C",
    reply_to_id       UUID,
    mentions          JSONB,
    created_at        BIGINT NOT NULL,
    edited_at         BIGINT,
    edit_count        INTEGER NOT NULL DEFAULT 0,
    deleted_at        BIGINT,
    deleted_by        TEXT COLLATE "C",
    pii_masked        BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT messages_pkey PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_by_id ON messages (id);
CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_message_id)
    WHERE client_message_id IS NOT NULL AND sender_id IS NOT NULL;
CREATE UNIQUE INDEX messages_by_system_client_id ON messages (conversation_id, client_message_id)
    WHERE client_message_id IS NOT NULL AND sender_id IS NULL;

CREATE TABLE events (
    conversation_id UUID NOT NULL,
    seq             BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    message_seq     BIGINT,
    data            JSON NOT NULL,
    created_at      BIGINT NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (conversation_id, seq)
);
