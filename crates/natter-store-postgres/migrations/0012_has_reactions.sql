-- Pages read reactions only for the messages that may have any (issue #8): a history page
-- of messages nobody reacted to is then one round trip fewer.
--
-- A trigger sets the flag on every new reaction, so that no writer (a node still running
-- an older binary during a rolling upgrade included) can add a reaction without it; the
-- message row is the one `add_reaction` already holds (`lock_message`: conversation row
-- first, then the message), so the lock order is unchanged. `remove_reaction`
-- (src/queries.rs) checks the flag again when one is removed. A bulk removal (a user's
-- erasure) may leave it set, which costs only a read: it is false only for a message
-- without reactions. A constant default: adding the column rewrites no rows.
ALTER TABLE messages ADD COLUMN has_reactions boolean NOT NULL DEFAULT false;
UPDATE messages SET has_reactions = TRUE WHERE id IN (SELECT message_id FROM reactions);

CREATE FUNCTION natter_flag_reacted_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messages SET has_reactions = TRUE WHERE id = NEW.message_id AND NOT has_reactions;
    RETURN NULL;
END
$$;

CREATE TRIGGER reactions_flag_message AFTER INSERT ON reactions
    FOR EACH ROW EXECUTE FUNCTION natter_flag_reacted_message();
