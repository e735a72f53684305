-- `GET /v1/conversations/{id}/participants` pages the active members, longest-standing
-- first (by join time, then user id), from a cursor (issue #8: no answer grows with the
-- group). Only joining and leaving write this index; sends do not touch its columns.
CREATE INDEX participants_by_joined ON participants (conversation_id, joined_at, user_id)
    WHERE left_at IS NULL;
