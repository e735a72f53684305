-- Pages read reactions only for the messages that may have any (issue #8): a history page
-- of messages nobody reacted to is then one store read instead of two.
--
-- A trigger sets the flag on every new reaction, so that no writer (an older binary after
-- a rollback included) can add a reaction without it; `remove_reaction` (src/queries.rs)
-- checks it again when one is removed. A bulk removal (a user's erasure) may leave it set,
-- which costs only a read: it is 0 only for a message without reactions.
ALTER TABLE messages ADD COLUMN has_reactions INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET has_reactions = 1 WHERE id IN (SELECT message_id FROM reactions);
CREATE TRIGGER reactions_flag_message AFTER INSERT ON reactions
BEGIN
    UPDATE messages SET has_reactions = 1 WHERE id = new.message_id AND has_reactions = 0;
END;
