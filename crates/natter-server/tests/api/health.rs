use natter_client::Method;
use natter_testkit::TestServer;

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let server = TestServer::spawn().await;
    assert_eq!(
        server.anonymous().health().await.expect("healthz").status,
        "ok"
    );
    let ready = server.anonymous().ready().await.expect("readyz");
    assert_eq!(ready.status, "ok");
    assert_eq!(ready.checks[0].name, "store");
    assert_eq!(ready.checks[1].name, "bus");
    assert_eq!(ready.checks[1].status, "ok");
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let server = TestServer::spawn().await;
    let doc = server.anonymous().openapi().await.expect("openapi.json");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/users/me",
        "/v1/users/me/unread",
        "/v1/users/{user_id}",
        "/v1/conversations",
        "/v1/conversations/by-context/{kind}/{id}",
        "/v1/conversations/{conversation_id}",
        "/v1/conversations/{conversation_id}/archive",
        "/v1/conversations/{conversation_id}/me",
        "/v1/conversations/{conversation_id}/participants",
        "/v1/conversations/{conversation_id}/participants/{user_id}",
        "/v1/conversations/{conversation_id}/leave",
        "/v1/conversations/{conversation_id}/messages",
        "/v1/conversations/{conversation_id}/read",
        "/v1/conversations/read",
        "/v1/conversations/{conversation_id}/events",
        "/v1/messages/{message_id}",
        "/v1/messages/{message_id}/receipts",
        "/v1/messages/{message_id}/read",
        "/v1/direct-messages",
        "/v1/sync",
        "/healthz",
        "/readyz",
        "/v1/realtime",
        "/v1/realtime/token",
        "/v1/events",
        "/v1/events/stream",
        "/v1/conversations/{conversation_id}/typing",
        "/v1/users/{user_id}/presence",
        "/v1/messages/{message_id}/history",
        "/v1/messages/{message_id}/reactions",
        "/v1/messages/{message_id}/reactions/{emoji}",
        "/v1/conversations/{conversation_id}/block",
        "/v1/conversations/{conversation_id}/unblock",
        "/v1/messages/{message_id}/thread",
        "/v1/messages/{message_id}/thread/follow",
        "/v1/conversations/{conversation_id}/invitations",
        "/v1/conversations/{conversation_id}/invitations/{invitation_id}",
        "/v1/invitations/{token}/accept",
        "/v1/conversations/{conversation_id}/settings",
        "/v1/conversations/{conversation_id}/settings/history",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let one_emoji = &paths["/v1/messages/{message_id}/reactions/{emoji}"];
    assert!(one_emoji["get"].is_object() && one_emoji["delete"].is_object());
    assert!(doc["components"]["schemas"]["Reactor"].is_object());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let server = TestServer::spawn().await;
    let missing = server
        .anonymous()
        .raw(Method::GET, "/v1/nothing-here", None)
        .await
        .expect("response");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.problem().map(|p| p.code),
        Some("route_not_found".into())
    );
    assert_eq!(
        missing.header("content-type"),
        Some("application/problem+json")
    );
    let wrong = server
        .anonymous()
        .raw(Method::DELETE, "/healthz", None)
        .await
        .expect("response");
    assert_eq!(wrong.status, 405);
    assert_eq!(
        wrong.problem().map(|p| p.code),
        Some("method_not_allowed".into())
    );
}

#[tokio::test]
async fn metrics_count_requests_messages_and_connections() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let conversation = crate::helpers::group(&alice, "g", &[]).await;
    crate::helpers::say(&alice, &conversation, "counted").await;
    let _ws = alice.connect_realtime().await.expect("connect");
    let text = server
        .anonymous()
        .raw(Method::GET, "/metrics", None)
        .await
        .expect("metrics")
        .text();
    assert!(text.contains("natter_messages_sent_total 1"), "{text}");
    assert!(text.contains("natter_realtime_connections 1"), "{text}");
    assert!(
        text.contains(r#"route="/v1/conversations/{conversation_id}/messages",status="201""#),
        "{text}"
    );
    assert!(text.contains("natter_store_up 1"));
    assert!(text.contains("natter_delivery_latency_seconds_count"));
    // The send was one commit of the store (alone, so a batch of one) and one publish.
    let count = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    assert!(count("natter_store_commit_batch_size_count") >= 1, "{text}");
    assert!(
        count("natter_store_commit_duration_seconds_count") >= 1,
        "{text}"
    );
    assert!(
        count("natter_bus_publish_duration_seconds_count") >= 1,
        "{text}"
    );
    // A gauge on both stores; at most the one message (SQLite indexes behind the writer).
    assert!(count("natter_search_index_backlog") <= 1, "{text}");
}
