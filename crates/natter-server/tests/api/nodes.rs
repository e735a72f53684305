//! Several nodes on one database, and the database going away and coming back.

use std::collections::BTreeSet;

use natter_client::{MessageFilter, Method, RawBody, SortOrder};
use natter_proto::EventSeq;
use natter_testkit::{Backend, TcpProxy, TestServer};

use crate::helpers::{group, say};

#[tokio::test]
async fn two_nodes_on_one_database_keep_seqs_gap_free() {
    let node_a = TestServer::spawn().await;
    let node_b = node_a.spawn_sibling().await;
    let users_a: Vec<_> = (0..5).map(|i| node_a.user(&format!("a{i}"))).collect();
    let users_b: Vec<_> = (0..5).map(|i| node_b.user(&format!("b{i}"))).collect();
    let members: Vec<_> = users_a[1..].iter().chain(users_b.iter()).collect();
    let g = group(&users_a[0], "two nodes", &members).await;
    let sends = (0..50).map(|i| {
        let user = if i % 2 == 0 {
            users_a[i / 2 % 5].clone()
        } else {
            users_b[i / 2 % 5].clone()
        };
        async move {
            user.send_text(g.id, &format!("m{i}"))
                .await
                .expect("acknowledged send")
        }
    });
    let acknowledged = futures::future::join_all(sends).await;
    let seqs: BTreeSet<u64> = acknowledged.iter().map(|m| m.seq.0).collect();
    assert_eq!(seqs, (1..=50).collect(), "no gap, no duplicate");
    let page = users_b[0]
        .list_messages(
            g.id,
            &MessageFilter::default().order(SortOrder::Asc).limit(100),
        )
        .await
        .expect("list on node b");
    assert_eq!(page.items.len(), 50);
    for message in &acknowledged {
        assert!(
            page.items
                .iter()
                .any(|m| m.id == message.id && m.seq == message.seq),
            "every acknowledged message is present"
        );
    }
    let events = users_a[0]
        .events(g.id, EventSeq(0), Some(1000))
        .await
        .expect("events");
    let event_seqs: Vec<u64> = events.events.iter().map(|e| e.seq.0).collect();
    assert_eq!(
        event_seqs,
        (1..=51).collect::<Vec<_>>(),
        "the event log is gap-free across nodes"
    );
}

fn via_proxy(url: &str, proxy: std::net::SocketAddr) -> String {
    // postgres://user@host:port/db → postgres://user@<proxy>/db
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database path");
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{proxy}/{path}")
}

#[tokio::test]
async fn a_lost_database_answers_503_and_the_server_recovers_by_itself() {
    if Backend::from_env() != Backend::Postgres {
        eprintln!("skipped on SQLite: an embedded database cannot be disconnected");
        return;
    }
    let upstream = "127.0.0.1:5432".parse().expect("an address");
    let proxy = TcpProxy::start(upstream).await;
    let proxy_address = proxy.address();
    let server = TestServer::spawn_with(move |config| {
        let url = config.database_url.clone().expect("a database URL");
        config.database_url = Some(via_proxy(&url, proxy_address));
        config.postgres.acquire_timeout_secs = 1;
    })
    .await;
    let alice = server.user("alice");
    let g = group(&alice, "outage", &[]).await;
    say(&alice, &g, "before").await;

    proxy.cut();
    let path = format!("/v1/conversations/{}/messages", g.id);
    let during = alice
        .raw(
            Method::POST,
            &path,
            Some(RawBody::json_text(r#"{"content":"during"}"#)),
        )
        .await
        .expect("a response");
    assert_eq!(during.status, 503, "{}", during.text());
    assert_eq!(
        during.problem().map(|p| p.code),
        Some("store_unavailable".into())
    );
    assert_eq!(during.header("retry-after"), Some("1"));
    let ready = server.anonymous().ready().await.expect("readyz answers");
    assert_eq!(ready.status, "unavailable");

    proxy.restore();
    let mut recovered = None;
    for _ in 0..50 {
        match alice.send_text(g.id, "after").await {
            Ok(message) => {
                recovered = Some(message);
                break;
            }
            Err(err) => assert_eq!(err.status(), Some(503), "only 503 while recovering: {err}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let after = recovered.expect("the server recovers once the database is back");
    assert_eq!(after.seq.0, 2, "the failed send stored nothing");
    assert_eq!(
        server.anonymous().ready().await.expect("readyz").status,
        "ok"
    );
}
