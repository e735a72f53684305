//! Bad input always gets a 4xx problem+json, never a 500, and changes nothing.

use natter_client::{MessageFilter, Method, RawBody};
use natter_testkit::TestServer;

use crate::helpers::group;

async fn send_raw(
    client: &natter_client::Client,
    method: Method,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let response = client
        .raw(
            method,
            path,
            Some(RawBody {
                content_type: content_type.into(),
                bytes: body.to_vec(),
            }),
        )
        .await
        .expect("a response");
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "{path}: {}",
        response.text()
    );
    let problem = response.problem().expect("a problem body");
    assert_eq!(problem.status, response.status);
    (response.status, problem.code)
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400_and_store_nothing() {
    let server = TestServer::spawn_with(|config| config.limits.max_body_bytes = 64 * 1024).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let path = format!("/v1/conversations/{}/messages", g.id);
    let json = "application/json";
    let cases: Vec<(&str, &[u8], (u16, &str))> = vec![
        (json, b"{", (400, "malformed_json")),
        (json, b"", (400, "malformed_json")),
        (json, br#""just a string""#, (400, "invalid_body")),
        (json, br#"{"content": 42}"#, (400, "invalid_body")),
        (
            json,
            br#"{"content": "hi", "unknown_field": 1}"#,
            (400, "invalid_body"),
        ),
        (
            json,
            br#"{"content": "hi", "type": "hologram"}"#,
            (400, "invalid_body"),
        ),
        (
            json,
            br#"{"content": "hi", "reply_to_id": "not-a-uuid"}"#,
            (400, "invalid_body"),
        ),
        (
            json,
            br#"{"content": "hi", "mentions": ["bad id!"]}"#,
            (400, "invalid_body"),
        ),
        (json, b"\xff\xfe\x00garbage", (400, "malformed_json")),
        (
            "text/plain",
            br#"{"content": "hi"}"#,
            (415, "unsupported_media_type"),
        ),
    ];
    for (content_type, body, (status, code)) in cases {
        assert_eq!(
            send_raw(&alice.client, Method::POST, &path, content_type, body).await,
            (status, code.to_owned()),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let huge = format!(r#"{{"content": "{}"}}"#, "a".repeat(100 * 1024));
    assert_eq!(
        send_raw(&alice.client, Method::POST, &path, json, huge.as_bytes()).await,
        (413, "payload_too_large".into())
    );
    let page = alice
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("list");
    assert!(page.items.is_empty(), "no bad request stored anything");
}

#[tokio::test]
async fn invalid_ids_and_query_parameters_are_400() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    for path in [
        "/v1/conversations/not-a-uuid".to_owned(),
        "/v1/messages/123".to_owned(),
        "/v1/users/bad%20id".to_owned(),
        format!("/v1/users/{}", "a".repeat(65)),
        format!("/v1/conversations/{}/participants/bad%2Fid", g.id),
    ] {
        let response = alice.raw(Method::GET, &path, None).await.expect("response");
        let method_ok = response.status == 400 || response.status == 405;
        assert!(method_ok, "{path}: {}", response.status);
        if response.status == 400 {
            assert_eq!(
                response.problem().map(|p| p.code),
                Some("invalid_path".into()),
                "{path}"
            );
        }
    }
    for query in [
        "limit=abc",
        "has_unread=maybe",
        "type=weird",
        "bogus=1",
        "limit=-1",
    ] {
        let response = alice
            .raw(Method::GET, &format!("/v1/conversations?{query}"), None)
            .await
            .expect("response");
        assert_eq!(response.status, 400, "{query}");
        assert_eq!(
            response.problem().map(|p| p.code),
            Some("invalid_query".into())
        );
    }
    // The paged lists of users: a query that does not parse is a 400, before any lookup.
    let message = crate::helpers::say(&alice, &g, "hi").await;
    for path in [
        format!("/v1/conversations/{}/participants", g.id),
        format!("/v1/messages/{}/reactions/%F0%9F%91%8D", message.id),
    ] {
        for query in ["limit=abc", "limit=-1", "bogus=1", "cursor=a&cursor=b"] {
            let response = alice
                .raw(Method::GET, &format!("{path}?{query}"), None)
                .await
                .expect("response");
            assert_eq!(response.status, 400, "{path}?{query}");
            assert_eq!(
                response.problem().map(|p| p.code),
                Some("invalid_query".into()),
                "{path}?{query}"
            );
        }
    }
    for query in ["order=sideways", "before=xyz", "limit=1000"] {
        let response = alice
            .raw(
                Method::GET,
                &format!("/v1/conversations/{}/messages?{query}", g.id),
                None,
            )
            .await
            .expect("response");
        assert_eq!(response.status, 422, "{query}");
    }
    let response = alice
        .raw(
            Method::GET,
            &format!("/v1/conversations/{}/events?after_seq=-5", g.id),
            None,
        )
        .await
        .expect("response");
    assert_eq!(response.status, 400);
    let response = alice
        .raw(
            Method::GET,
            &format!(
                "/v1/conversations/{}/events?after_seq=99999999999999999999999",
                g.id
            ),
            None,
        )
        .await
        .expect("response");
    assert_eq!(response.status, 400);
    let huge_seq = alice
        .raw(
            Method::GET,
            &format!(
                "/v1/conversations/{}/messages?before=18446744073709551615",
                g.id
            ),
            None,
        )
        .await
        .expect("response");
    assert_eq!(
        huge_seq.status, 200,
        "a huge but valid seq is just an empty page"
    );
}

#[tokio::test]
async fn unknown_conversations_and_messages_are_404() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let missing = natter_proto::ConversationId::new();
    let response = alice
        .raw(Method::GET, &format!("/v1/conversations/{missing}"), None)
        .await
        .expect("response");
    assert_eq!(response.status, 404);
    assert_eq!(
        response.problem().map(|p| p.code),
        Some("conversation_not_found".into())
    );
    let response = alice
        .raw(
            Method::GET,
            &format!("/v1/messages/{}", natter_proto::MessageId::new()),
            None,
        )
        .await
        .expect("response");
    assert_eq!(
        response.problem().map(|p| p.code),
        Some("message_not_found".into())
    );
    let response = alice
        .raw(
            Method::POST,
            &format!("/v1/conversations/{missing}/messages"),
            Some(RawBody::json_text(r#"{"content":"x"}"#)),
        )
        .await
        .expect("response");
    assert_eq!(response.status, 404);
}
