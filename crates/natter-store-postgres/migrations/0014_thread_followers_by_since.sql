-- A thread root on a page shows its first followers (issue #8): without an index in that
-- order, every page holding the root read and sorted all of them (5,000 followers: 3.8 ms
-- a page, against ~0.2 ms for the page itself); with it, each root is a walk of the
-- first few entries. Following a thread is rare next to reading a page.
CREATE INDEX thread_followers_by_since ON thread_followers (conversation_id, root_seq, since, user_id);
