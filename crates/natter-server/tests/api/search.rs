//! Message search: one mixed English, German, Chinese and Japanese corpus whose expected
//! results are written out, so the suite (which runs on SQLite and on PostgreSQL) proves
//! both stores return the same set; then filters, pages, ranking, snippets, and who may
//! find what.

use std::collections::BTreeSet;

use natter_client::SearchFilter;
use natter_proto::{Conversation, Message, MessageId, MessageType, SendMessage};
use natter_server::config::RateLimitsConfig;
use natter_testkit::{TestServer, TestUser};

use crate::helpers::{group, say, status_code};

async fn spawn() -> TestServer {
    TestServer::spawn_with(|config| config.rate_limits = RateLimitsConfig::unlimited()).await
}

/// The corpus: (sender, conversation, text); alice and bob share "deals" and "team",
/// carol has a conversation of her own.
const CORPUS: &[(&str, &str, &str)] = &[
    ("alice", "deals", "The contract is ready for signature"), // 0
    (
        "bob",
        "deals",
        "I sent the subcontractor agreement yesterday",
    ), // 1
    ("alice", "deals", "Contracts need two signatures"),       // 2
    (
        "bob",
        "deals",
        "Der Vertrag für die Lieferung ist unterschrieben",
    ), // 3
    ("alice", "deals", "Wir treffen uns in der Straße am Bahnhof"), // 4
    (
        "bob",
        "deals",
        "Die Übergabe ist am Montag, bitte pünktlich",
    ), // 5
    ("alice", "deals", "明天的会议在东京举行"),                // 6
    ("bob", "deals", "会议改到下午三点"),                      // 7
    ("alice", "team", "東京で会議があります"),                 // 8
    ("bob", "team", "カタカナのテストです"),                   // 9
    ("alice", "team", "Product code XJ-2000 is out of stock"), // 10
    ("bob", "team", "Order the xj-2000 and the XJ-3000"),      // 11
    ("alice", "team", "Café crème at the CAFE downtown"),      // 12
    ("bob", "team", "exact phrase matching works"),            // 13
    ("alice", "team", "phrase exact is not the same"),         // 14
    ("bob", "team", "contra dance tonight"),                   // 15
    ("carol", "own", "contract for carol only"),               // 16
    ("alice", "deals", "Sounds ok to me"),                     // 17
    ("bob", "deals", "booking confirmed"),                     // 18
];

/// Queries and the corpus entries alice finds with them.
const QUERIES: &[(&str, &[usize])] = &[
    ("contract", &[0, 1, 2]),
    ("CONTRACT", &[0, 1, 2]),
    ("contr", &[0, 1, 2, 15]),
    ("contr*", &[0, 2, 15]),
    ("contract signature", &[0, 2]),
    ("\"exact phrase\"", &[13]),
    ("exact phrase", &[13, 14]),
    ("\"phrase exact\"", &[14]),
    ("vertrag", &[3]),
    ("VERTRÄG", &[3]),
    ("straße", &[4]),
    ("strasse", &[]),
    ("ubergabe", &[5]),
    ("Übergabe pünktlich", &[5]),
    ("punktlich", &[5]),
    ("会议", &[6, 7]),
    ("会議", &[8]),
    ("东京", &[6]),
    ("東京", &[8]),
    ("東京*", &[8]),
    ("会議*", &[]),
    ("会议在东京", &[6]),
    ("カタカナ", &[9]),
    ("xj-2000", &[10, 11]),
    ("XJ-3000", &[11]),
    ("2000", &[10, 11]),
    ("j-2", &[10, 11]),
    ("cafe", &[12]),
    ("crème", &[12]),
    ("creme downtown", &[12]),
    ("ok", &[17, 18]),
    ("ok*", &[17]),
    ("the", &[0, 1, 11, 12, 14]),
    ("zz", &[]),
    ("carol", &[]),
    ("(contract),", &[0, 1, 2]),
];

/// Sends the corpus; returns the message ids by corpus index.
async fn corpus(server: &TestServer) -> (Vec<MessageId>, Conversation, Conversation) {
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let deals = group(&alice, "deals", &[&bob]).await;
    let team = group(&alice, "team", &[&bob]).await;
    let own = group(&carol, "own", &[]).await;
    let mut ids = Vec::new();
    for (sender, conversation, text) in CORPUS {
        let user = match *sender {
            "alice" => &alice,
            "bob" => &bob,
            _ => &carol,
        };
        let conversation = match *conversation {
            "deals" => &deals,
            "team" => &team,
            _ => &own,
        };
        ids.push(say(user, conversation, text).await.id);
    }
    (ids, deals, team)
}

/// Every hit of a search, following `next` to the end.
async fn search_all(user: &TestUser, filter: SearchFilter) -> Vec<Message> {
    let mut hits = Vec::new();
    let mut filter = filter.limit(50);
    loop {
        let page = user.search_messages(&filter).await.expect("search");
        hits.extend(page.items.into_iter().map(|hit| hit.message));
        match page.next {
            Some(next) => filter = filter.cursor(&next),
            None => return hits,
        }
    }
}

async fn found(user: &TestUser, q: &str) -> BTreeSet<MessageId> {
    search_all(user, SearchFilter::new(q))
        .await
        .into_iter()
        .map(|m| m.id)
        .collect()
}

#[tokio::test]
async fn the_mixed_language_corpus_answers_every_query_with_the_expected_set() {
    let server = spawn().await;
    let (ids, _, _) = corpus(&server).await;
    let alice = server.user("alice");
    let mut wrong = Vec::new();
    for (q, expected) in QUERIES {
        let expected: BTreeSet<MessageId> = expected.iter().map(|&i| ids[i]).collect();
        let got = found(&alice, q).await;
        if got != expected {
            let index = |set: &BTreeSet<MessageId>| -> Vec<usize> {
                set.iter()
                    .filter_map(|id| ids.iter().position(|i| i == id))
                    .collect()
            };
            wrong.push(format!(
                "{q:?}: got {:?}, want {:?}",
                index(&got),
                index(&expected)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "on {:?}:\n{}",
        server.backend(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn hits_carry_the_message_a_snippet_and_a_total() {
    let server = spawn().await;
    let (ids, deals, _) = corpus(&server).await;
    let alice = server.user("alice");
    let page = alice
        .search_messages(&SearchFilter::new("vertrag"))
        .await
        .expect("search");
    assert_eq!(page.total, 1);
    assert!(page.next.is_none());
    let hit = &page.items[0];
    assert_eq!(hit.message.id, ids[3]);
    assert_eq!(hit.message.conversation_id, deals.id);
    assert_eq!(
        hit.snippet,
        "Der [[Vertrag]] für die Lieferung ist unterschrieben"
    );
    let page = alice
        .search_messages(&SearchFilter::new("会议"))
        .await
        .expect("search");
    let snippets: BTreeSet<&str> = page.items.iter().map(|h| h.snippet.as_str()).collect();
    assert_eq!(
        snippets,
        BTreeSet::from(["明天的[[会议]]在东京举行", "[[会议]]改到下午三点"])
    );
    let own = alice
        .search_messages(&SearchFilter::new("contract signature"))
        .await
        .expect("search");
    let sent_by_alice = own
        .items
        .iter()
        .find(|h| h.message.id == ids[0])
        .expect("message 0");
    assert!(
        sent_by_alice.message.delivery.is_some(),
        "the sender sees the delivery state, as in GET /v1/messages/{{id}}"
    );
}

#[tokio::test]
async fn whole_words_rank_before_parts_of_words_and_newer_before_older() {
    let server = spawn().await;
    let (ids, _, _) = corpus(&server).await;
    let alice = server.user("alice");
    let page = alice
        .search_messages(&SearchFilter::new("contract"))
        .await
        .expect("search");
    assert_eq!(
        page.items[0].message.id, ids[0],
        "the whole word ranks first"
    );
    assert!(page.items.windows(2).all(|w| w[0].rank >= w[1].rank));

    let g = group(&alice, "twins", &[]).await;
    let older = say(&alice, &g, "identical twin note").await;
    let newer = say(&alice, &g, "identical twin note").await;
    let page = alice
        .search_messages(&SearchFilter::new("twin note"))
        .await
        .expect("search");
    let order: Vec<MessageId> = page.items.iter().map(|h| h.message.id).collect();
    assert_eq!(order, vec![newer.id, older.id]);
}

#[tokio::test]
async fn filters_narrow_the_results() {
    let server = spawn().await;
    let (ids, deals, team) = corpus(&server).await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let set = |messages: Vec<Message>| -> BTreeSet<MessageId> {
        messages.into_iter().map(|m| m.id).collect()
    };
    let expect =
        |indexes: &[usize]| -> BTreeSet<MessageId> { indexes.iter().map(|&i| ids[i]).collect() };
    let in_deals = search_all(&alice, SearchFilter::new("the").in_conversation(deals.id)).await;
    assert_eq!(set(in_deals), expect(&[0, 1]));
    let in_team = search_all(&alice, SearchFilter::new("the").in_conversation(team.id)).await;
    assert_eq!(set(in_team), expect(&[11, 12, 14]));
    let by_bob = search_all(&alice, SearchFilter::new("contr").sender(&bob.id)).await;
    assert_eq!(set(by_bob), expect(&[1, 15]));

    let system = SendMessage {
        kind: Some(MessageType::System),
        content: Some("Contract archived by the shop".into()),
        ..Default::default()
    };
    let notice = server
        .server()
        .send_message(deals.id, &system)
        .await
        .expect("system message")
        .value;
    let systems = search_all(
        &alice,
        SearchFilter::new("contract").kind(MessageType::System),
    )
    .await;
    assert_eq!(set(systems), BTreeSet::from([notice.id]));
    let texts = search_all(
        &alice,
        SearchFilter::new("contract").kind(MessageType::Text),
    )
    .await;
    assert_eq!(set(texts), expect(&[0, 1, 2]));

    let with = search_all(&alice, SearchFilter::new("contract").has_attachment(true)).await;
    assert!(with.is_empty(), "no message has attachments yet");
    let without = search_all(&alice, SearchFilter::new("contract").has_attachment(false)).await;
    assert_eq!(without.len(), 4);

    let today = time::OffsetDateTime::now_utc().date();
    let (yesterday, tomorrow) = (
        today.previous_day().expect("a date").to_string(),
        today.next_day().expect("a date").to_string(),
    );
    let now = search_all(
        &alice,
        SearchFilter::new("contract").from(&yesterday).to(&tomorrow),
    )
    .await;
    assert_eq!(now.len(), 4);
    assert!(
        search_all(&alice, SearchFilter::new("contract").from(&tomorrow))
            .await
            .is_empty()
    );
    assert!(
        search_all(&alice, SearchFilter::new("contract").to(&yesterday))
            .await
            .is_empty()
    );
    let sent_at = alice.message(ids[0]).await.expect("message").created_at;
    let after_first = (sent_at + time::Duration::microseconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    let later = search_all(&alice, SearchFilter::new("contract").from(&after_first)).await;
    assert!(
        !set(later).contains(&ids[0]),
        "from is inclusive of exactly that time only"
    );
}

#[tokio::test]
async fn pages_cover_every_match_once() {
    let server = spawn().await;
    let alice = server.user("alice");
    let g = group(&alice, "pages", &[]).await;
    let mut sent = BTreeSet::new();
    for i in 0..23 {
        sent.insert(
            say(&alice, &g, &format!("paging entry number {i}"))
                .await
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut filter = SearchFilter::new("paging").limit(10);
    let mut pages = 0;
    loop {
        let page = alice.search_messages(&filter).await.expect("page");
        assert_eq!(page.total, 23);
        pages += 1;
        seen.extend(page.items.iter().map(|h| h.message.id));
        match page.next {
            Some(next) => filter = filter.cursor(&next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 23);
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), sent);
}

#[tokio::test]
async fn edits_deletions_and_hidden_messages_are_followed() {
    let server = spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let message = say(&alice, &g, "ephemeral banana").await;
    assert_eq!(found(&alice, "banana").await.len(), 1);
    alice
        .edit_message(message.id, "ephemeral apple")
        .await
        .expect("edit");
    assert!(
        found(&alice, "banana").await.is_empty(),
        "the old text is gone"
    );
    assert_eq!(found(&bob, "apple").await.len(), 1, "the new text is found");
    alice
        .delete_message(message.id, true)
        .await
        .expect("delete for everyone");
    assert!(found(&alice, "apple").await.is_empty());
    assert!(found(&bob, "ephemeral").await.is_empty());

    let kiwi = say(&bob, &g, "hidden kiwi").await;
    alice
        .delete_message(kiwi.id, false)
        .await
        .expect("delete for me");
    assert!(found(&alice, "kiwi").await.is_empty(), "hidden for alice");
    assert_eq!(found(&bob, "kiwi").await, BTreeSet::from([kiwi.id]));
}

#[tokio::test]
async fn only_active_participants_find_a_conversations_messages() {
    let server = spawn().await;
    let (ids, deals, team) = corpus(&server).await;
    let (alice, carol) = (server.user("alice"), server.user("carol"));
    assert_eq!(found(&carol, "contract").await, BTreeSet::from([ids[16]]));
    let filtered = search_all(
        &carol,
        SearchFilter::new("contract").in_conversation(deals.id),
    )
    .await;
    assert!(
        filtered.is_empty(),
        "a conversation filter does not widen the scope"
    );

    let dave = server.user("dave");
    let add = natter_proto::AddParticipants {
        user_ids: vec![dave.id.clone()],
        role: None,
    };
    alice
        .add_participants(team.id, &add)
        .await
        .expect("add dave");
    assert_eq!(found(&dave, "xj").await, BTreeSet::from([ids[10], ids[11]]));
    alice
        .remove_participant(team.id, &dave.id)
        .await
        .expect("remove dave");
    assert!(
        found(&dave, "xj").await.is_empty(),
        "a removed member finds nothing, not even what was said while they were in"
    );

    let admin = server.user_with_role("root", natter_proto::AppRole::Admin);
    assert!(
        found(&admin, "contract").await.is_empty(),
        "admins search their own conversations only"
    );
    let acting = server.server().acting_as(&alice.id);
    let as_alice = acting
        .search_messages(&SearchFilter::new("contract"))
        .await
        .expect("server key acting as alice");
    assert_eq!(as_alice.total, 3);
}

#[tokio::test]
async fn anonymous_and_userless_callers_and_bad_queries_are_rejected() {
    let server = spawn().await;
    let alice = server.user("alice");
    let anonymous = server
        .anonymous()
        .search_messages(&SearchFilter::new("hello"))
        .await;
    assert_eq!(status_code(anonymous).0, 401);
    let userless = server
        .server()
        .search_messages(&SearchFilter::new("hello"))
        .await;
    assert_eq!(status_code(userless), (403, "user_required".into()));
    for q in ["", "a", "   b  ", "\"\""] {
        let err = alice
            .search_messages(&SearchFilter::new(q))
            .await
            .expect_err("rejected");
        assert_eq!(err.status(), Some(422), "{q:?}");
        let problem = err.problem().expect("problem");
        assert_eq!(problem.errors[0].field, "q", "{q:?}");
    }
    let missing = alice
        .raw(natter_client::Method::GET, "/v1/search/messages", None)
        .await
        .expect("response");
    assert_eq!(missing.status, 422);
    for (filter, field) in [
        (SearchFilter::new("ok").limit(0), "limit"),
        (SearchFilter::new("ok").limit(51), "limit"),
        (SearchFilter::new("ok").cursor("garbage"), "cursor"),
        (SearchFilter::new("ok").from("yesterday"), "from"),
        (
            SearchFilter::new("ok").from("2024-05-03").to("2024-05-01"),
            "to",
        ),
    ] {
        let err = alice.search_messages(&filter).await.expect_err("rejected");
        assert_eq!(err.status(), Some(422), "{filter:?}");
        assert_eq!(err.problem().expect("problem").errors[0].field, field);
    }
    for path in [
        "/v1/search/messages?q=ok&conversation_id=nope",
        "/v1/search/messages?q=ok&type=video-call",
        "/v1/search/messages?q=ok&unknown=1",
    ] {
        let response = alice
            .raw(natter_client::Method::GET, path, None)
            .await
            .expect("response");
        assert_eq!(response.status, 400, "{path}");
    }
}

#[tokio::test]
async fn searching_is_rate_limited() {
    let server = TestServer::spawn_with(|config| {
        config.rate_limits.search = natter_server::config::RateConfig {
            count: 2,
            per_seconds: 60,
        };
    })
    .await;
    let alice = server.user("alice");
    for _ in 0..2 {
        alice
            .search_messages(&SearchFilter::new("anything"))
            .await
            .expect("within the limit");
    }
    let limited = alice.search_messages(&SearchFilter::new("anything")).await;
    assert_eq!(status_code(limited), (429, "rate_limited".into()));
}
