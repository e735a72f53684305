//! Integration tests of the PostgreSQL store against a real server.
//!
//! They run only when `NATTER_TEST_POSTGRES_URL` points at a server where the user may
//! create databases (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); otherwise each
//! test prints why it skipped and passes. Every test gets a fresh database, dropped when
//! the test ends (also when it panics).

use std::collections::HashSet;
use std::time::Duration;

use natter_proto::{
    event_type, ConversationId, ConversationType, EventSeq, MessageSeq, MessageType,
    ParticipantRole, Timestamp, UserId,
};
use natter_store::{
    from_micros, ConversationQuery, CreateOutcome, MessageQuery, NewConversation, NewMessage,
    NewParticipant, Order, ReadTargets, RemovalReason, Store, StoreError,
};
use natter_store_postgres::{migrate, PostgresOptions, PostgresStore};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

const URL_VAR: &str = "NATTER_TEST_POSTGRES_URL";

/// A database of its own for one test, dropped (with `FORCE`, which ends the pool's
/// connections) when the value goes out of scope.
struct TestDb {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates the database, or `None` (after saying so) when no server is configured.
    async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var(URL_VAR) else {
            println!("skipped: {URL_VAR} not set");
            return None;
        };
        let name = format!("natter_test_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to the admin URL");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        admin.close().await.expect("close admin connection");
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// A store on this database with migrations applied.
    async fn store(&self) -> PostgresStore {
        PostgresStore::connect(PostgresOptions::new(self.url.clone()))
            .await
            .expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
        // with a runtime of its own.
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin.execute(sql.as_str()).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("valid user id")
}

/// A fixed clock: `at(n)` is n milliseconds after a fixed instant.
fn at(millis: i64) -> Timestamp {
    from_micros(1_700_000_000_000_000 + millis * 1_000)
}

fn conversation(
    kind: ConversationType,
    members: &[(&str, ParticipantRole)],
    unique_key: Option<&str>,
    now: Timestamp,
) -> NewConversation {
    NewConversation {
        id: ConversationId::new(),
        kind,
        title: Some("title".into()),
        description: None,
        avatar_url: None,
        context: None,
        created_by: members.first().map(|(id, _)| user(id)),
        trusted: false,
        encrypted: false,
        participants: members
            .iter()
            .map(|(id, role)| NewParticipant {
                user_id: user(id),
                role: *role,
            })
            .collect(),
        unique_key: unique_key.map(str::to_owned),
        now,
    }
}

fn created(outcome: CreateOutcome) -> natter_store::ConversationRecord {
    match outcome {
        CreateOutcome::Created(record) => record,
        CreateOutcome::Existing(record) => panic!("expected a new conversation, got {}", record.id),
    }
}

fn message(
    conversation_id: ConversationId,
    sender: Option<&str>,
    text: &str,
    client_id: Option<&str>,
    now: Timestamp,
) -> NewMessage {
    NewMessage {
        sender_id: sender.map(user),
        kind: if sender.is_some() {
            MessageType::Text
        } else {
            MessageType::System
        },
        client_message_id: client_id.map(str::to_owned),
        // The sender is set above; conformance's builder wants one to start from.
        ..natter_store::conformance::text(conversation_id, "system", text, now)
    }
}

fn list_query(user_id: &str, now: Timestamp) -> ConversationQuery {
    ConversationQuery {
        user_id: user(user_id),
        kind: None,
        status: None,
        has_unread: None,
        pinned: None,
        muted: None,
        archived: None,
        context_kind: None,
        context_id: None,
        after: None,
        limit: 50,
        now,
    }
}

const OWNER: ParticipantRole = ParticipantRole::Owner;
const MEMBER: ParticipantRole = ParticipantRole::Member;

#[tokio::test]
async fn migrate_applies_pending_migrations_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("the migrations directory")
        .count();
    assert_eq!(migrate(&db.url).await.expect("first migrate"), migrations);
    assert_eq!(migrate(&db.url).await.expect("second migrate"), 0);
    let store = db.store().await;
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn unreachable_database_is_unavailable() {
    // Needs no server: nothing listens on port 1.
    let mut options = PostgresOptions::new("postgres://postgres@127.0.0.1:1/natter");
    options.acquire_timeout = Duration::from_secs(1);
    let err = PostgresStore::connect(options)
        .await
        .err()
        .expect("connect must fail");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn create_conversation_with_known_unique_key_returns_existing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let members = [("alice", OWNER), ("bob", MEMBER)];
    let first = created(
        store
            .create_conversation(conversation(
                ConversationType::Direct,
                &members,
                Some("k1"),
                at(0),
            ))
            .await
            .expect("create"),
    );
    assert_eq!(first.last_event_seq, EventSeq(1));
    assert_eq!(first.participant_count, 2);
    assert!(store
        .find_user(&user("bob"))
        .await
        .expect("find user")
        .is_some());

    let again = store
        .create_conversation(conversation(
            ConversationType::Direct,
            &members,
            Some("k1"),
            at(5),
        ))
        .await
        .expect("create again");
    match again {
        CreateOutcome::Existing(existing) => assert_eq!(existing, first),
        CreateOutcome::Created(record) => panic!("created a second conversation {}", record.id),
    }
    let by_key = store
        .find_conversation_by_key("k1")
        .await
        .expect("by key")
        .expect("exists");
    assert_eq!(by_key, first);

    let events = store
        .list_events(first.id, EventSeq(0), 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, event_type::CONVERSATION_CREATED);
    let participants = events[0].data["participants"]
        .as_array()
        .expect("participants");
    assert_eq!(participants.len(), 2);
    assert_eq!(participants[0]["user_id"], "alice");
}

#[tokio::test]
async fn concurrent_creates_with_one_unique_key_make_one_conversation() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let members = [("alice", OWNER), ("bob", MEMBER)];
            store
                .create_conversation(conversation(
                    ConversationType::Direct,
                    &members,
                    Some("k"),
                    at(0),
                ))
                .await
        }));
    }
    let mut ids = HashSet::new();
    let mut created_count = 0;
    for task in tasks {
        match task.await.expect("task").expect("create") {
            CreateOutcome::Created(record) => {
                created_count += 1;
                ids.insert(record.id);
            }
            CreateOutcome::Existing(record) => {
                ids.insert(record.id);
            }
        }
    }
    assert_eq!(created_count, 1);
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn append_message_assigns_seqs_and_events_in_order() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    let mut sent = Vec::new();
    for n in 1..=3 {
        let outcome = store
            .append_message(message(
                conv.id,
                Some("alice"),
                &format!("hello {n}"),
                None,
                at(n),
            ))
            .await
            .expect("append");
        assert!(!outcome.duplicate);
        assert_eq!(outcome.message.seq, MessageSeq(n as u64));
        sent.push(outcome.message);
    }
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(record.last_message_seq, MessageSeq(3));
    assert_eq!(record.message_count, 3);
    assert_eq!(record.last_event_seq, EventSeq(4));
    assert_eq!(record.last_activity_at, at(3));
    let preview = record.last_message.clone().expect("preview");
    assert_eq!(
        (preview.seq, preview.text.as_str()),
        (MessageSeq(3), "hello 3")
    );

    // The sender's read marker follows their own messages.
    let alice = store
        .find_participant(conv.id, &user("alice"))
        .await
        .expect("find")
        .expect("p");
    assert_eq!(alice.last_read_seq, MessageSeq(3));

    // The joined read of `Core::access`: the conversation with the caller's row, with no
    // row for a stranger or when no user acts, and nothing for an unknown conversation.
    let (found, participant) = store
        .find_conversation_access(conv.id, Some(&user("alice")))
        .await
        .expect("access")
        .expect("exists");
    assert_eq!(found, record);
    assert_eq!(participant, Some(alice.clone()));
    for viewer in [Some(user("mallory")), None] {
        let (found, participant) = store
            .find_conversation_access(conv.id, viewer.as_ref())
            .await
            .expect("access")
            .expect("exists");
        assert_eq!((found.id, participant), (conv.id, None));
    }
    assert!(store
        .find_conversation_access(ConversationId::new(), Some(&user("alice")))
        .await
        .expect("access")
        .is_none());

    let page = store
        .message_page(
            conv.id,
            MessageQuery {
                thread: None,
                viewer: None,
                before: None,
                after: None,
                limit: 2,
                order: Order::Descending,
            },
        )
        .await
        .expect("page")
        .0;
    assert_eq!(page.iter().map(|m| m.seq.0).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(
        store.find_message(sent[1].id).await.expect("find"),
        Some(sent[1].clone())
    );

    let events = store
        .list_events(conv.id, EventSeq(0), 100)
        .await
        .expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(events[0].kind, event_type::CONVERSATION_CREATED);
    for (event, message) in events[1..].iter().zip(&sent) {
        assert_eq!(event.kind, event_type::MESSAGE_CREATED);
        assert_eq!(event.data, serde_json::json!({}));
        assert_eq!(event.message.as_ref(), Some(message));
    }
    let tail = store
        .list_events(conv.id, EventSeq(2), 1)
        .await
        .expect("events");
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, EventSeq(3));
    assert_eq!(tail[0].message.as_ref(), Some(&sent[1]));
}

#[tokio::test]
async fn append_message_to_missing_conversation_is_not_found() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let err = store
        .append_message(message(
            ConversationId::new(),
            Some("alice"),
            "x",
            Some("c1"),
            at(0),
        ))
        .await
        .expect_err("no conversation");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_appends_get_seqs_one_to_fifty() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    let mut tasks = Vec::new();
    for n in 0..50 {
        let store = store.clone();
        let sender = if n % 2 == 0 { "alice" } else { "bob" };
        let new = message(
            conv.id,
            Some(sender),
            &format!("m{n}"),
            Some(&format!("c{n}")),
            at(1),
        );
        tasks.push(tokio::spawn(async move { store.append_message(new).await }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        let outcome = task.await.expect("task").expect("append");
        assert!(!outcome.duplicate);
        seqs.push(outcome.message.seq.0);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());

    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(record.last_message_seq, MessageSeq(50));
    assert_eq!(record.message_count, 50);
    assert_eq!(record.last_event_seq, EventSeq(51));
    let events = store
        .list_events(conv.id, EventSeq(0), 100)
        .await
        .expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        (1..=51).collect::<Vec<_>>()
    );
    // Event order is commit order is message seq order.
    let message_seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| e.message.as_ref())
        .map(|m| m.seq.0)
        .collect();
    assert_eq!(message_seqs, (1..=50).collect::<Vec<_>>());
}

/// Concurrent appends to one conversation are committed in batches (one statement per
/// batch): every returned record is what was stored, markers and the preview follow the
/// highest seqs, and a retry inside a burst is answered with the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_appends_store_what_they_return() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER), ("carol", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    let first = store
        .append_message(message(
            conv.id,
            Some("carol"),
            "first",
            Some("again"),
            at(1),
        ))
        .await
        .expect("append");
    let senders = ["alice", "bob", "carol"];
    let mut returned = Vec::new();
    // A burst that commits in batches, then one with a retry of `first` in the middle,
    // which fails its batch on the unique index and is answered one by one.
    for (burst, size) in [(0, 120), (1, 10)] {
        let mut tasks = Vec::new();
        for n in 0..size {
            let store = store.clone();
            let mut new = if burst == 1 && n == 5 {
                message(conv.id, Some("carol"), "first", Some("again"), at(2))
            } else {
                let text = format!("b{burst} m{n}");
                message(conv.id, Some(senders[n % 3]), &text, None, at(2 + n as i64))
            };
            if n % 7 == 0 && new.client_message_id.is_none() {
                new.mentions = vec![user("bob")];
                new.pii_masked = true;
            }
            tasks.push(tokio::spawn(async move { store.append_message(new).await }));
        }
        for task in tasks {
            let outcome = task.await.expect("task").expect("append");
            if outcome.duplicate {
                assert_eq!(outcome.message, first.message);
                assert_eq!(outcome.event_seq, None);
            } else {
                returned.push(outcome);
            }
        }
    }
    assert_eq!(returned.len(), 129);
    let mut seqs: Vec<u64> = returned.iter().map(|o| o.message.seq.0).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=130).collect::<Vec<u64>>());
    for outcome in &returned {
        let stored = store
            .find_message(outcome.message.id)
            .await
            .expect("find")
            .expect("stored");
        assert_eq!(stored, outcome.message);
    }
    let events = store
        .list_events(conv.id, EventSeq(0), 200)
        .await
        .expect("events");
    assert_eq!(
        events.iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        (1..=131).collect::<Vec<_>>()
    );
    for outcome in &returned {
        let event = outcome.event_seq.expect("event seq");
        let logged = &events[event.0 as usize - 1];
        assert_eq!(
            logged.message.as_ref().map(|m| m.seq),
            Some(outcome.message.seq)
        );
    }
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (record.message_count, record.last_message_seq),
        (130, MessageSeq(130))
    );
    let newest = returned
        .iter()
        .find(|o| o.message.seq == MessageSeq(130))
        .expect("newest");
    let preview = record.last_message.expect("preview");
    assert_eq!(preview.text, newest.message.content.clone().expect("text"));
    for sender in senders {
        let highest = returned
            .iter()
            .chain([&first])
            .filter(|o| o.message.sender_id.as_ref() == Some(&user(sender)))
            .map(|o| o.message.seq)
            .max()
            .expect("sent");
        let marker = store
            .find_participant(conv.id, &user(sender))
            .await
            .expect("find")
            .expect("participant");
        assert_eq!(marker.last_read_seq, highest, "{sender}");
    }
}

/// Callers that go away while their append waits (aborted requests) neither stall the
/// conversation's queue nor leave a gap: what was stored is gap-free and counted, and
/// the next append goes through at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abandoned_appends_leave_no_gap_and_no_stall() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    let mut tasks = Vec::new();
    for n in 0..100 {
        let store = store.clone();
        let new = message(conv.id, Some("alice"), &format!("m{n}"), None, at(1));
        tasks.push(tokio::spawn(async move { store.append_message(new).await }));
    }
    for task in tasks.iter().skip(1).step_by(2) {
        task.abort();
    }
    let mut kept = 0;
    for task in tasks {
        match task.await {
            Ok(outcome) => {
                outcome.expect("append");
                kept += 1;
            }
            Err(err) => assert!(err.is_cancelled()),
        }
    }
    assert!(kept >= 50, "{kept}");
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        store.append_message(message(conv.id, Some("bob"), "after", None, at(2))),
    )
    .await
    .expect("the queue is not stalled")
    .expect("append");
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    // Aborted appends were either written whole or not at all.
    assert_eq!(record.last_message_seq, next.message.seq);
    assert_eq!(record.message_count, next.message.seq.0);
    let page = store
        .message_page(
            conv.id,
            MessageQuery {
                thread: None,
                viewer: None,
                before: None,
                after: None,
                limit: 100,
                order: Order::Ascending,
            },
        )
        .await
        .expect("page")
        .0;
    assert_eq!(
        page.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
        (1..=next.message.seq.0).collect::<Vec<_>>()
    );
    let events = store
        .list_events(conv.id, EventSeq(0), 200)
        .await
        .expect("events");
    assert_eq!(events.len() as u64, next.message.seq.0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_retries_create_one_message() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let new = message(conv.id, Some("alice"), "once", Some("retry-1"), at(1));
        tasks.push(tokio::spawn(async move { store.append_message(new).await }));
    }
    let mut originals = 0;
    let mut duplicates = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let outcome = task.await.expect("task").expect("append");
        if outcome.duplicate {
            duplicates += 1;
        } else {
            originals += 1;
        }
        assert_eq!(outcome.message.seq, MessageSeq(1));
        ids.insert(outcome.message.id);
    }
    assert_eq!((originals, duplicates), (1, 19));
    assert_eq!(ids.len(), 1);

    // No seq was consumed by a duplicate: the next message is 2, the next event 3.
    let next = store
        .append_message(message(conv.id, Some("bob"), "next", None, at(2)))
        .await
        .expect("append");
    assert_eq!(next.message.seq, MessageSeq(2));
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (record.message_count, record.last_event_seq),
        (2, EventSeq(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_into_different_conversations_create_one_message() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let mut conversations = Vec::new();
    for n in 0..4 {
        conversations.push(created(
            store
                .create_conversation(conversation(
                    ConversationType::Group,
                    &[("alice", OWNER), ("bob", MEMBER)],
                    None,
                    at(n),
                ))
                .await
                .expect("create"),
        ));
    }
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = store.clone();
        let target = conversations[n % conversations.len()].id;
        let new = message(target, Some("alice"), "once", Some("retry-x"), at(10));
        tasks.push(tokio::spawn(async move { store.append_message(new).await }));
    }
    let mut originals = Vec::new();
    for task in tasks {
        let outcome = task.await.expect("task").expect("append");
        if !outcome.duplicate {
            originals.push(outcome.message);
        }
    }
    assert_eq!(originals.len(), 1);
    let winner = originals[0].conversation_id;
    for conv in &conversations {
        let record = store
            .find_conversation(conv.id)
            .await
            .expect("find")
            .expect("exists");
        let expected = if conv.id == winner { (1, 2) } else { (0, 1) };
        assert_eq!(
            (record.last_message_seq.0, record.last_event_seq.0),
            expected,
            "{}",
            conv.id
        );
    }
}

#[tokio::test]
async fn mark_read_reports_marked_and_unread_counts() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    for n in 1..=3 {
        store
            .append_message(message(conv.id, Some("bob"), &format!("b{n}"), None, at(n)))
            .await
            .expect("append");
    }
    // A system message (no sender) is unread for everyone, its author included.
    store
        .append_message(message(conv.id, None, "joined", Some("sys-1"), at(4)))
        .await
        .expect("system");
    let alice = user("alice");
    let bob = user("bob");
    assert_eq!(store.count_unread(conv.id, &alice).await.expect("count"), 4);
    assert_eq!(store.count_unread(conv.id, &bob).await.expect("count"), 1);
    assert_eq!(
        store
            .count_unread(conv.id, &user("carol"))
            .await
            .expect("count"),
        0
    );

    let outcome = store
        .mark_read(conv.id, &alice, MessageSeq(2), at(10))
        .await
        .expect("mark");
    assert_eq!(
        (
            outcome.marked_count,
            outcome.last_read_seq,
            outcome.unread_count
        ),
        (2, MessageSeq(2), 2)
    );
    let backwards = store
        .mark_read(conv.id, &alice, MessageSeq(1), at(11))
        .await
        .expect("mark");
    assert_eq!(
        (
            backwards.marked_count,
            backwards.last_read_seq,
            backwards.unread_count
        ),
        (0, MessageSeq(2), 2)
    );
    let rest = store
        .mark_read(conv.id, &alice, MessageSeq(100), at(12))
        .await
        .expect("mark");
    assert_eq!(
        (rest.marked_count, rest.last_read_seq, rest.unread_count),
        (2, MessageSeq(4), 0)
    );

    let err = store
        .mark_read(conv.id, &user("carol"), MessageSeq(1), at(13))
        .await
        .expect_err("carol");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let many = store
        .mark_read_many(&bob, ReadTargets::All, at(14))
        .await
        .expect("many");
    assert_eq!(many.len(), 1);
    assert_eq!(
        (
            many[0].marked_count,
            many[0].last_read_seq,
            many[0].unread_count
        ),
        (1, MessageSeq(4), 0)
    );
    let skipped = store
        .mark_read_many(
            &bob,
            ReadTargets::Some(vec![ConversationId::new(), conv.id]),
            at(15),
        )
        .await
        .expect("many");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].marked_count, 0);

    // Events: created, 4 messages, then one receipt per marker move (the backward call
    // and the no-op bulk call wrote none).
    let events = store
        .list_events(conv.id, EventSeq(0), 100)
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.len(), 8);
    assert_eq!(&kinds[5..], [event_type::RECEIPT_UPDATED; 3]);
    assert_eq!(events[5].data["user_id"], "alice");
    assert_eq!(events[5].data["last_read_seq"], 2);
    assert_eq!(events[7].data["user_id"], "bob");
    assert!(events[5].message.is_none());
}

#[tokio::test]
async fn list_conversations_filters_unread_and_pages_by_cursor() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let conv = created(
            store
                .create_conversation(conversation(
                    ConversationType::Direct,
                    &[("alice", OWNER), ("bob", MEMBER)],
                    Some(&format!("pair-{n}")),
                    at(n),
                ))
                .await
                .expect("create"),
        );
        ids.push(conv.id);
    }
    // Activity order, newest first: ids[1] (a message at 100), ids[2] (created at 2), ids[0].
    store
        .append_message(message(ids[1], Some("bob"), "hi", None, at(100)))
        .await
        .expect("append");

    let all = store
        .list_conversations(&list_query("alice", at(200)))
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|i| i.conversation.id).collect::<Vec<_>>(),
        [ids[1], ids[2], ids[0]]
    );
    assert_eq!(all[0].unread_count, 1);
    assert_eq!(all[0].peer_id, Some(user("bob")));
    assert_eq!(all[0].me.user_id, user("alice"));

    let mut unread = list_query("alice", at(200));
    unread.has_unread = Some(true);
    let unread = store.list_conversations(&unread).await.expect("list");
    assert_eq!(
        unread.iter().map(|i| i.conversation.id).collect::<Vec<_>>(),
        [ids[1]]
    );

    let mut read = list_query("alice", at(200));
    read.has_unread = Some(false);
    read.limit = 1;
    let first_page = store.list_conversations(&read).await.expect("list");
    assert_eq!(
        first_page
            .iter()
            .map(|i| i.conversation.id)
            .collect::<Vec<_>>(),
        [ids[2]]
    );
    let last = &first_page[0].conversation;
    read.after = Some((last.last_activity_at, last.id));
    let second_page = store.list_conversations(&read).await.expect("list");
    assert_eq!(
        second_page
            .iter()
            .map(|i| i.conversation.id)
            .collect::<Vec<_>>(),
        [ids[0]]
    );
    read.after = Some((second_page[0].conversation.last_activity_at, ids[0]));
    assert!(store
        .list_conversations(&read)
        .await
        .expect("list")
        .is_empty());

    // Bob sent the only message: nothing is unread for him.
    let bob_unread = store
        .list_unread_counts(&user("bob"))
        .await
        .expect("counts");
    assert!(bob_unread.is_empty());
    let alice_unread = store
        .list_unread_counts(&user("alice"))
        .await
        .expect("counts");
    assert_eq!(alice_unread, [(ids[1], 1)]);
}

#[tokio::test]
async fn participants_join_leave_and_hand_over_ownership() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    store
        .append_message(message(conv.id, Some("alice"), "one", None, at(1)))
        .await
        .expect("append");
    let added = store
        .add_participants(
            conv.id,
            vec![
                NewParticipant {
                    user_id: user("carol"),
                    role: MEMBER,
                },
                NewParticipant {
                    user_id: user("bob"),
                    role: MEMBER,
                },
            ],
            at(2),
        )
        .await
        .expect("add");
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].last_read_seq, MessageSeq(1));

    // An inactive successor fails the whole removal.
    let err = store
        .remove_participant(
            conv.id,
            &user("alice"),
            RemovalReason::Left,
            Some(&user("dave")),
            at(3),
        )
        .await
        .expect_err("dave is not a participant");
    assert!(
        matches!(err, StoreError::Conflict(ref name) if name == "successor"),
        "{err:?}"
    );
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (record.participant_count, record.last_event_seq),
        (3, EventSeq(3))
    );

    store
        .remove_participant(
            conv.id,
            &user("alice"),
            RemovalReason::Left,
            Some(&user("carol")),
            at(4),
        )
        .await
        .expect("remove");
    let active = store.list_participants(conv.id).await.expect("list");
    assert_eq!(
        active
            .iter()
            .map(|p| p.user_id.as_str())
            .collect::<Vec<_>>(),
        ["bob", "carol"]
    );
    assert_eq!(active[1].role, ParticipantRole::Owner);
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (record.participant_count, record.last_event_seq),
        (2, EventSeq(5))
    );

    let sync = store
        .list_changed_conversations(&user("alice"), at(4))
        .await
        .expect("sync");
    assert_eq!(sync.len(), 1);
    assert!(sync[0].removed);
    assert_eq!(sync[0].last_event_seq, EventSeq(5));

    let err = store
        .remove_participant(conv.id, &user("alice"), RemovalReason::Left, None, at(5))
        .await
        .expect_err("already left");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

#[tokio::test]
async fn purge_clears_content_of_messages_deleted_before_the_cutoff() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    let mut ids = Vec::new();
    for text in ["keep", "old secret", "recent secret"] {
        let outcome = store
            .append_message(message(conv.id, Some("alice"), text, None, at(1)))
            .await
            .expect("append");
        ids.push(outcome.message.id);
    }
    store
        .edit_message(natter_store::MessageEdit {
            message_id: ids[1],
            content: "old v2".into(),
            pii_masked: false,
            now: at(2),
        })
        .await
        .expect("edit");
    store
        .delete_message(ids[1], Some(&user("alice")), at(10))
        .await
        .expect("delete old");
    store
        .delete_message(ids[2], Some(&user("alice")), at(1_000))
        .await
        .expect("delete recent");
    assert_eq!(store.purge_deleted(at(500), 100).await.expect("purge"), 1);
    let old = store
        .find_message(ids[1])
        .await
        .expect("find")
        .expect("tombstone");
    assert_eq!(old.content, None);
    assert!(store
        .list_message_edits(ids[1])
        .await
        .expect("edits")
        .iter()
        .all(|e| e.content.is_none()));
    let recent = store
        .find_message(ids[2])
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(recent.content.as_deref(), Some("recent secret"));
    assert_eq!(
        store
            .find_message(ids[0])
            .await
            .expect("find")
            .expect("exists")
            .content
            .as_deref(),
        Some("keep")
    );
    assert_eq!(store.purge_deleted(at(500), 100).await.expect("again"), 0);
}

/// Both plans of a search (reading the scope whole, or the trigram index for scopes of
/// more than 20 000 messages) find the same messages, and never those of an encrypted
/// conversation (no API creates one yet, so the API suite cannot test this).
#[tokio::test]
async fn search_finds_the_same_by_either_plan_and_never_encrypted_messages() {
    use natter_store::search::{MessageSearch, SearchTerm, TermKind};
    use natter_store::SearchStore;

    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let mut conversations = Vec::new();
    for encrypted in [false, true] {
        let mut new = conversation(
            ConversationType::Group,
            &[("alice", OWNER), ("bob", MEMBER)],
            None,
            at(0),
        );
        new.encrypted = encrypted;
        conversations.push(created(store.create_conversation(new).await.expect("create")).id);
    }
    let (open, secret) = (conversations[0], conversations[1]);
    for (n, (conversation_id, text)) in [
        (open, "the open contract"),
        (open, "a contrast"),
        (secret, "the secret contract"),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .append_message(message(
                conversation_id,
                Some("bob"),
                text,
                None,
                at(n as i64 + 1),
            ))
            .await
            .expect("append");
    }
    let search = MessageSearch {
        user_id: user("alice"),
        terms: vec![SearchTerm {
            text: "contract".into(),
            kind: TermKind::Substring,
        }],
        conversation_id: None,
        sender_id: None,
        kind: None,
        has_attachment: None,
        from: None,
        to: None,
        max_matches: 100,
    };
    let found = || async {
        store
            .search_messages(&search)
            .await
            .expect("search")
            .into_iter()
            .filter_map(|hit| hit.message.content)
            .collect::<Vec<_>>()
    };
    assert_eq!(found().await, vec!["the open contract".to_owned()]);
    // Counters claiming 100 000 messages make the scope too large to read whole.
    let mut conn = PgConnection::connect(&db.url).await.expect("connect");
    conn.execute("UPDATE conversations SET last_message_seq = 50000")
        .await
        .expect("counters");
    assert_eq!(found().await, vec!["the open contract".to_owned()]);
}

/// `has_reactions` follows reactions (`natter_store::conformance`), and a reaction
/// written by another writer sets it too.
#[tokio::test]
async fn has_reactions_is_set_by_a_reaction_and_cleared_with_the_last() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store().await;
    let other = natter_store::conformance::has_reactions_follows_reactions(&store).await;
    // A reaction written by another writer (a node still on an older binary) sets the flag
    // too: the trigger does it, not the store's code.
    let mut conn = PgConnection::connect(&db.url)
        .await
        .expect("connect directly");
    sqlx::query(
        "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES ($1, '😀', 'bob', 0)",
    )
    .bind(other.id.0)
    .execute(&mut conn)
    .await
    .expect("insert a reaction directly");
    let flagged = store
        .find_message(other.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(flagged.has_reactions);
    // And its trigger counts it for the page's groups, and uncounts it when deleted.
    let groups = || natter_store::conformance::emoji_counts(&store, other.id);
    assert_eq!(groups().await, [("😀".to_owned(), 1, 1)]);
    sqlx::query("DELETE FROM reactions WHERE message_id = $1")
        .bind(other.id.0)
        .execute(&mut conn)
        .await
        .expect("delete directly");
    conn.close().await.expect("close");
    assert!(groups().await.is_empty());
}

/// A page's read markers are those of its participants (`natter_store::conformance`).
#[tokio::test]
async fn a_pages_read_markers_are_those_of_its_participants() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::read_markers_match_participants(&db.store().await).await;
}

/// The member list pages in list order from any cursor (`natter_store::conformance`).
#[tokio::test]
async fn participant_pages_follow_the_list() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::participant_pages_follow_the_list(&db.store().await).await;
}

/// A thread root's summary lists its first followers, at most as many as asked
/// (`natter_store::conformance`).
#[tokio::test]
async fn a_roots_first_followers_come_by_the_time_they_followed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::thread_followers_first_come(&db.store().await).await;
}

/// A page's reaction groups add up to the reactions (`natter_store::conformance`).
#[tokio::test]
async fn reaction_groups_add_up_to_the_reactions() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::reaction_groups_add_up(&db.store().await).await;
}

/// One emoji's reactions page by time then user, from any cursor
/// (`natter_store::conformance`).
#[tokio::test]
async fn reactors_page_in_order() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::reactors_page_in_order(&db.store().await).await;
}

/// Only an active participant of a conversation that is not blocked may post, also when
/// the appends are batched (`natter_store::conformance`).
#[tokio::test]
async fn a_checked_append_admits_only_active_participants() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::check_sender_admits_only_participants(&db.store().await).await;
}

/// A fan-out batch carries the members as of its events, from one statement
/// (`natter_store::conformance`).
#[tokio::test]
async fn a_fanout_batch_carries_the_members() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    natter_store::conformance::fanout_batch_carries_the_members(&db.store().await).await;
}

/// The hottest statements keep their connections on a shelf beside the pool instead of
/// handing them back (sqlx pings every connection it takes back). Cancelled and failed
/// statements must still leave every connection usable and none lost, and the pool's
/// other callers (transactions) must still get connections when it is exhausted: with a
/// pool of 4 (a shelf of 1) and a short acquire timeout, 200 pages cancelled at random
/// points, 20 retries that fail on the unique index and 200 concurrent pages, appends and
/// read markers (a transaction) must leave correct answers, and the store never holds
/// more than its 4 connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_and_failed_statements_lose_no_connection() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut options = PostgresOptions::new(db.url.clone());
    options.max_connections = 4;
    options.acquire_timeout = Duration::from_secs(3);
    let store = PostgresStore::connect(options).await.expect("connect");
    let conv = created(
        store
            .create_conversation(conversation(
                ConversationType::Group,
                &[("alice", OWNER), ("bob", MEMBER)],
                None,
                at(0),
            ))
            .await
            .expect("create"),
    );
    for n in 0..30 {
        store
            .append_message(message(
                conv.id,
                Some("alice"),
                &format!("m{n}"),
                Some(&format!("c{n}")),
                at(n + 1),
            ))
            .await
            .expect("append");
    }
    let page = |before: Option<u64>| MessageQuery {
        thread: None,
        viewer: Some(user("bob")),
        before: before.map(MessageSeq),
        after: None,
        limit: 10,
        order: Order::Descending,
    };

    // Pages dropped after 0–199 µs: mid-send, mid-result or already done.
    for n in 0..200u64 {
        let _ = tokio::time::timeout(
            Duration::from_micros(n),
            store.message_page(conv.id, page(None)),
        )
        .await;
    }
    // Retries of stored messages: the batched or single append fails on the unique index
    // and its connection goes back through the pool.
    for n in 0..20 {
        let outcome = store
            .append_message(message(
                conv.id,
                Some("alice"),
                &format!("m{n}"),
                Some(&format!("c{n}")),
                at(100),
            ))
            .await
            .expect("retry");
        assert!(outcome.duplicate, "retry {n} answered as a duplicate");
        assert_eq!(outcome.message.seq, MessageSeq(n as u64 + 1));
    }

    let mut tasks = Vec::new();
    for n in 0..200u64 {
        let store = store.clone();
        let query = page(Some(31 - n % 20));
        let new = message(
            conv.id,
            Some("bob"),
            &format!("b{n}"),
            Some(&format!("b{n}")),
            at(200),
        );
        tasks.push(tokio::spawn(async move {
            let (messages, _) = store.message_page(conv.id, query).await?;
            store.append_message(new).await?;
            store
                .mark_read(conv.id, &user("alice"), MessageSeq(n), at(300))
                .await?;
            Ok::<_, StoreError>(messages)
        }));
    }
    for (n, task) in (0..200u64).zip(tasks) {
        let messages = task.await.expect("task").expect("page and append");
        // The store reads one past the limit, to tell whether there is more.
        let top = 30 - n % 20;
        let expected: Vec<u64> = (top - 10..=top).rev().collect();
        assert_eq!(
            messages.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
            expected,
            "page before {}",
            top + 1
        );
    }
    let record = store
        .find_conversation(conv.id)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(record.last_message_seq, MessageSeq(230));
    let alice = store
        .find_participant(conv.id, &user("alice"))
        .await
        .expect("find alice")
        .expect("alice is a participant");
    // Her own 30 messages put her marker at 30; each read marker moved it forward, never
    // past the newest message of its moment.
    assert!(
        (MessageSeq(30)..=MessageSeq(230)).contains(&alice.last_read_seq),
        "alice read up to {}",
        alice.last_read_seq.0
    );

    let mut admin = PgConnection::connect(&db.url).await.expect("admin");
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .expect("count connections");
    assert!(held <= 4, "the store holds {held} connections, its pool 4");
    admin.close().await.expect("close");
}
