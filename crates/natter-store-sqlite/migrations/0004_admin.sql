-- Moderation and statistics (issue #5 items 9 and 10): the audit log, and the indexes of
-- the admin conversation list, the user erasure and the message statistics.

-- Every action of an app admin or of the server key. `id` is the rowid: insertion order,
-- the cursor of GET /v1/admin/audit (newest first).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_id    TEXT,                       -- NULL: the server key acting as itself
    server_key  INTEGER NOT NULL DEFAULT 0,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,              -- conversation | message | user
    target_id   TEXT NOT NULL,
    details     TEXT NOT NULL
);

-- GET /v1/admin/conversations: newest created first, optionally by status or type.
-- (context filters use conversations_by_context, the participant filter participants_by_user.)
CREATE INDEX conversations_by_created ON conversations (created_at, id);
CREATE INDEX conversations_by_status ON conversations (status, created_at, id);
CREATE INDEX conversations_by_kind ON conversations (kind, created_at, id);

-- Erasure and "messages sent" find a user's messages; active users and messages per day
-- are ranges of send time (both index-only).
CREATE INDEX messages_by_sender ON messages (sender_id, created_at);
CREATE INDEX messages_by_created ON messages (created_at, sender_id);

-- Erasure removes a user's reactions everywhere.
CREATE INDEX reactions_by_user ON reactions (user_id);
