-- A page's read markers (issue #8, big groups): whether the viewer is an active participant,
-- the highest read and delivered markers of the others, and the two lowest read markers.
-- Without these indexes each page scanned every participant of the conversation (a
-- 1,000-member group paid for 1,000 rows per page); with them each marker is one index
-- probe from an end. Each send moves its sender's two markers, so it updates these
-- entries as well.
CREATE INDEX participants_by_read ON participants (conversation_id, last_read_seq, user_id)
    WHERE left_at IS NULL;
CREATE INDEX participants_by_delivered ON participants (conversation_id, last_delivered_seq)
    WHERE left_at IS NULL;
