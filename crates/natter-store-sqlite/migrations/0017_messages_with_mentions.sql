-- A user's unread mentions (`GET /v1/me/unread`) were counted over every unread message
-- of each conversation (issue #8). Only messages that mention someone have an entry
-- here, so the count walks those after the reader's marker; a message without mentions
-- writes nothing to it.
CREATE INDEX messages_with_mentions ON messages (conversation_id, seq)
    WHERE mentions IS NOT NULL;
