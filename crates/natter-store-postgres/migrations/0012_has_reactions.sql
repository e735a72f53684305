-- Pages read reactions only for the messages that may have any (issue #8): a history page
-- of messages nobody reacted to is then one round trip fewer.
--
-- Set when a reaction is added, checked again when one is removed (`add_reaction`,
-- `remove_reaction` in src/queries.rs, under the message's row lock). A bulk removal (a
-- user's erasure) may leave it set, which costs only a read; it is false only for a
-- message without reactions. A constant default: adding the column rewrites no rows.
ALTER TABLE messages ADD COLUMN has_reactions boolean NOT NULL DEFAULT false;
UPDATE messages SET has_reactions = TRUE WHERE id IN (SELECT message_id FROM reactions);
