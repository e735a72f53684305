-- Invitation links: a signed token names the row; uses and revocation live here.
CREATE TABLE invitations (
    id              UUID PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations (id),
    created_by      TEXT COLLATE "C",
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    max_uses        INTEGER,
    uses            INTEGER NOT NULL DEFAULT 0,
    revoked_at      BIGINT
);
CREATE INDEX invitations_by_conversation ON invitations (conversation_id, created_at);
