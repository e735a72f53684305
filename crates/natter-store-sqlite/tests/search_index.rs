//! The indexer thread brings the search database up to date behind the writer and has the
//! indexed queue rows deleted; a search database that is lost is rebuilt at the next start.

use std::path::Path;
use std::time::{Duration, Instant};

use natter_store::conformance::{group, text, user};
use natter_store::{MessageEdit, Store};
use natter_store_sqlite::{SqliteOptions, SqliteStore};
use rusqlite::Connection;

/// The store's database with the search database attached, read beside the store.
fn inspect(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join("natter.db")).expect("open store database");
    conn.execute(
        "ATTACH DATABASE ?1 AS search",
        [dir.join("natter.search.db").to_string_lossy().as_ref()],
    )
    .expect("attach search database");
    conn
}

/// Messages whose trigram row contains `text`.
fn indexed(conn: &Connection, text: &str) -> i64 {
    conn.query_row(
        "SELECT COUNT(*) FROM search.message_trigrams WHERE message_trigrams MATCH ?1",
        [format!("\"{text}\"")],
        |row| row.get(0),
    )
    .expect("count")
}

/// Waits until every queued change is indexed and the indexed rows left the queue.
async fn caught_up(dir: &Path, store: &SqliteStore) {
    let conn = inspect(dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (pending, queued): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM search_queue WHERE id > \
                   (SELECT indexed_up_to FROM search.search_state)), \
                 (SELECT COUNT(*) FROM search_queue)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("queue");
        if pending == 0 && queued <= 1 && store.commit_stats().search_backlog == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "indexer did not catch up: {pending} pending, {queued} queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_indexer_follows_the_writer_and_a_lost_index_is_rebuilt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions::new(dir.path().join("natter.db"));
    let store = SqliteStore::open(options.clone()).expect("open");
    let conversation_id = group(&store, &["alice"]).await;
    let now = time::OffsetDateTime::now_utc();
    // Concurrent appends, so that the writer commits them in groups while the indexer runs.
    let appends: Vec<_> = (0..300)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_message(text(
                        conversation_id,
                        "alice",
                        &format!("message {n} about the contract"),
                        now,
                    ))
                    .await
                    .expect("append")
                    .message
                    .id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for append in appends {
        ids.push(append.await.expect("append task"));
    }
    store
        .edit_message(MessageEdit {
            message_id: ids[0],
            content: "an edited deal".into(),
            pii_masked: false,
            now,
        })
        .await
        .expect("edit");
    store
        .delete_message(ids[1], Some(&user("alice")), now)
        .await
        .expect("delete");
    caught_up(dir.path(), &store).await;
    let conn = inspect(dir.path());
    assert_eq!(indexed(&conn, "contract"), 298);
    assert_eq!(indexed(&conn, "edited deal"), 1);
    conn.execute(
        "INSERT INTO search.message_trigrams (message_trigrams) VALUES ('integrity-check')",
        [],
    )
    .expect("trigram index is consistent");
    drop(conn);
    drop(store);

    // The search database is lost: the next start queues every message and rebuilds it.
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("natter.search.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(&file).expect("remove");
        }
    }
    let store = SqliteStore::open(options).expect("reopen");
    caught_up(dir.path(), &store).await;
    let conn = inspect(dir.path());
    assert_eq!(indexed(&conn, "contract"), 298);
    assert_eq!(indexed(&conn, "edited deal"), 1);
}
