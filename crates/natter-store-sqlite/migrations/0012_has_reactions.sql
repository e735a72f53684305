-- Pages read reactions only for the messages that may have any (issue #8): a history page
-- of messages nobody reacted to is then one store read instead of two.
--
-- Set when a reaction is added, checked again when one is removed (`add_reaction`,
-- `remove_reaction` in src/queries.rs). A bulk removal (a user's erasure) may leave it set,
-- which costs only a read; it is 0 only for a message without reactions.
ALTER TABLE messages ADD COLUMN has_reactions INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET has_reactions = 1 WHERE id IN (SELECT message_id FROM reactions);
