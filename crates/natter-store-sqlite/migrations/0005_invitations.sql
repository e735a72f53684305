-- Invitation links: a signed token names the row; uses and revocation live here.
CREATE TABLE invitations (
    id              BLOB PRIMARY KEY,
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    created_by      TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    max_uses        INTEGER,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_at      INTEGER
);
CREATE INDEX invitations_by_conversation ON invitations (conversation_id, created_at);
