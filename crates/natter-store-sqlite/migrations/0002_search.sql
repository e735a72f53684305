-- Full-text search (issue #7): two FTS5 indexes over message content, kept in sync by
-- triggers on `messages`, so no write path of the store has to know about them.
--
--   message_words     unicode61 words, for bm25 ranking of whole-word matches;
--   message_trigrams  trigrams, for substring matching: parts of words, CJK text without
--                     spaces, product codes. Its folding (case_sensitive 0,
--                     remove_diacritics 1) is the definition of matching that
--                     natter_store::search ports to Rust and PostgreSQL.
--
-- `messages` is WITHOUT ROWID, so the FTS tables cannot use it as external content.
-- Instead both are contentless (the text is in `messages`; snippets are built in Rust)
-- with contentless_delete=1, and a message's FTS rowid ("docid") is
-- `docbase * 2^32 + seq`: each conversation owns one contiguous rowid range, so a search
-- over a user's conversations is one rowid-range lookup per conversation. `docbase` is an
-- INTEGER PRIMARY KEY, which VACUUM never renumbers (conversations' implicit rowids it may).
--
-- Indexed: messages with content, not deleted, in conversations that are not encrypted.
-- Edits, deletes and purges (content set to NULL) go through the update trigger.

CREATE TABLE search_conversations (
    docbase         INTEGER PRIMARY KEY,
    conversation_id BLOB NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE message_words USING fts5 (
    content,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE VIRTUAL TABLE message_trigrams USING fts5 (
    content,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram case_sensitive 0 remove_diacritics 1'
);

CREATE TRIGGER conversations_search_docbase AFTER INSERT ON conversations
BEGIN
    INSERT OR IGNORE INTO search_conversations (conversation_id) VALUES (new.id);
END;

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN new.content IS NOT NULL AND new.deleted_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM conversations WHERE id = new.conversation_id AND encrypted)
BEGIN
    INSERT OR IGNORE INTO search_conversations (conversation_id) VALUES (new.conversation_id);
    INSERT INTO message_words (rowid, content)
        SELECT docbase * 4294967296 + new.seq, new.content
        FROM search_conversations WHERE conversation_id = new.conversation_id;
    INSERT INTO message_trigrams (rowid, content)
        SELECT docbase * 4294967296 + new.seq, new.content
        FROM search_conversations WHERE conversation_id = new.conversation_id;
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, deleted_at ON messages
BEGIN
    DELETE FROM message_words WHERE rowid =
        (SELECT docbase * 4294967296 + old.seq FROM search_conversations
         WHERE conversation_id = old.conversation_id);
    DELETE FROM message_trigrams WHERE rowid =
        (SELECT docbase * 4294967296 + old.seq FROM search_conversations
         WHERE conversation_id = old.conversation_id);
    INSERT INTO message_words (rowid, content)
        SELECT s.docbase * 4294967296 + new.seq, new.content
        FROM search_conversations s JOIN conversations c ON c.id = s.conversation_id
        WHERE s.conversation_id = new.conversation_id AND NOT c.encrypted
          AND new.content IS NOT NULL AND new.deleted_at IS NULL;
    INSERT INTO message_trigrams (rowid, content)
        SELECT s.docbase * 4294967296 + new.seq, new.content
        FROM search_conversations s JOIN conversations c ON c.id = s.conversation_id
        WHERE s.conversation_id = new.conversation_id AND NOT c.encrypted
          AND new.content IS NOT NULL AND new.deleted_at IS NULL;
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM message_words WHERE rowid =
        (SELECT docbase * 4294967296 + old.seq FROM search_conversations
         WHERE conversation_id = old.conversation_id);
    DELETE FROM message_trigrams WHERE rowid =
        (SELECT docbase * 4294967296 + old.seq FROM search_conversations
         WHERE conversation_id = old.conversation_id);
END;

-- Existing data: a docbase per conversation, then every indexable message.
INSERT INTO search_conversations (conversation_id) SELECT id FROM conversations ORDER BY created_at, id;
INSERT INTO message_words (rowid, content)
    SELECT s.docbase * 4294967296 + m.seq, m.content
    FROM messages m
    JOIN search_conversations s ON s.conversation_id = m.conversation_id
    JOIN conversations c ON c.id = m.conversation_id
    WHERE m.content IS NOT NULL AND m.deleted_at IS NULL AND NOT c.encrypted;
INSERT INTO message_trigrams (rowid, content)
    SELECT s.docbase * 4294967296 + m.seq, m.content
    FROM messages m
    JOIN search_conversations s ON s.conversation_id = m.conversation_id
    JOIN conversations c ON c.id = m.conversation_id
    WHERE m.content IS NOT NULL AND m.deleted_at IS NULL AND NOT c.encrypted;
