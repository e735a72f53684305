-- The search index leaves the commit path (issue #8): writing both FTS5 indexes inside
-- each send's transaction cost the single writer ~55 µs of every ~95 µs per message.
--
-- Now a write only appends the affected message's docid to `search_queue` (a small
-- B-tree insert); the FTS5 tables live in a database file of their own
-- (`<name>.search.db`, see `src/search_index.rs`) that an indexer thread keeps up to date
-- from the queue, in batches, on the other core. The indexer records in that file, in the
-- same transaction as the index changes, the queue id it has indexed up to; the writer
-- later deletes the queue rows below it. A search reads the index AND the queue rows past
-- that mark, so it never misses a message that is committed but not yet indexed.
--
-- Opening the store with no search database (new install, this upgrade, or the file was
-- removed) queues every indexable message and builds the index in the background.

DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_update;
DROP TRIGGER messages_search_delete;
DROP TABLE message_words;
DROP TABLE message_trigrams;

-- `fresh` = the docid's first appearance (an insert): the indexer need not delete an
-- older index row first. Ids only grow: the cleanup never deletes the newest row.
CREATE TABLE search_queue (
    id    INTEGER PRIMARY KEY,
    docid INTEGER NOT NULL,
    fresh INTEGER NOT NULL
);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
WHEN new.content IS NOT NULL AND new.deleted_at IS NULL
BEGIN
    INSERT OR IGNORE INTO search_conversations (conversation_id) VALUES (new.conversation_id);
    INSERT INTO search_queue (docid, fresh)
        SELECT docbase * 4294967296 + new.seq, 1
        FROM search_conversations WHERE conversation_id = new.conversation_id;
END;

CREATE TRIGGER messages_search_update AFTER UPDATE OF content, deleted_at ON messages
BEGIN
    INSERT INTO search_queue (docid, fresh)
        SELECT docbase * 4294967296 + new.seq, 0
        FROM search_conversations WHERE conversation_id = new.conversation_id;
END;

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
    INSERT INTO search_queue (docid, fresh)
        SELECT docbase * 4294967296 + old.seq, 0
        FROM search_conversations WHERE conversation_id = old.conversation_id;
END;
