//! Server-Sent Events and long-poll carry the same frames as the WebSocket gateway.

use std::time::Duration;

use natter_client::Method;
use natter_proto::{event_type, MarkRead};
use natter_testkit::TestServer;

use crate::helpers::{group, say};

/// Reads SSE events (name, data, id) from a streaming response until `want` events of
/// `kind` arrived.
async fn read_sse(
    response: &mut reqwest::Response,
    kind: &str,
    want: usize,
) -> Vec<(String, serde_json::Value, Option<String>)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events
        .iter()
        .filter(|(name, _, _): &&(String, serde_json::Value, Option<String>)| name == kind)
        .count()
        < want
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .expect("SSE within 10 s")
            .expect("stream")
            .expect("open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut data, mut id) = (String::new(), String::new(), None);
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                } else if let Some(value) = line.strip_prefix("id:") {
                    id = Some(value.trim().to_owned());
                }
            }
            if !name.is_empty() {
                events.push((
                    name,
                    serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    id,
                ));
            }
        }
    }
    events
}

fn conversation_events(frames: &[serde_json::Value]) -> Vec<(String, u64)> {
    frames
        .iter()
        .filter(|f| f.get("seq").and_then(|s| s.as_u64()).is_some())
        .map(|f| {
            (
                f["type"].as_str().unwrap_or_default().to_owned(),
                f["seq"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sse_and_long_poll_deliver_the_same_sequence_as_the_websocket() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let token = server.token("bob", natter_proto::AppRole::User);
    let http = reqwest::Client::new();
    let mut sse = http
        .get(format!("{}/v1/events/stream", server.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("SSE request");
    assert_eq!(sse.status(), 200);
    assert_eq!(
        sse.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let hello = read_sse(&mut sse, "hello", 1).await;
    assert_eq!(hello[0].1["data"]["user_id"], "bob");
    let mut ws = bob.connect_realtime().await.expect("websocket");
    let started = bob
        .raw(Method::GET, "/v1/events", None)
        .await
        .expect("start a poll")
        .json::<serde_json::Value>()
        .expect("json");
    let cursor = started["cursor"].as_str().expect("a cursor").to_owned();
    assert!(started["sync_token"].is_string());

    for i in 0..5 {
        say(&alice, &g, &format!("m{i}")).await;
    }
    bob.mark_read(g.id, &MarkRead::default())
        .await
        .expect("read");

    let mut ws_frames = Vec::new();
    while conversation_events(&ws_frames).len() < 6 {
        let frame = ws
            .next_frame_within(Duration::from_secs(10))
            .await
            .expect("open")
            .expect("a frame");
        ws_frames.push(serde_json::to_value(&frame).expect("json"));
    }
    let sse_events = read_sse(&mut sse, event_type::RECEIPT_UPDATED, 1).await;
    let sse_frames: Vec<serde_json::Value> =
        sse_events.iter().map(|(_, data, _)| data.clone()).collect();
    assert!(
        sse_events
            .iter()
            .filter(|(_, data, _)| data.get("seq").is_some())
            .all(|(_, _, id)| id.is_some()),
        "conversation events carry an id"
    );
    let mut poll_frames: Vec<serde_json::Value> = Vec::new();
    while conversation_events(&poll_frames).len() < 6 {
        let answer = bob
            .raw(
                Method::GET,
                &format!("/v1/events?since={cursor}&timeout=5"),
                None,
            )
            .await
            .expect("poll")
            .json::<serde_json::Value>()
            .expect("json");
        poll_frames.extend(answer["events"].as_array().cloned().unwrap_or_default());
    }
    let expected = conversation_events(&ws_frames);
    assert_eq!(expected.len(), 6);
    assert_eq!(expected[0].0, event_type::MESSAGE_CREATED);
    assert_eq!(
        conversation_events(&sse_frames),
        expected,
        "SSE carries the same events"
    );
    assert_eq!(
        conversation_events(&poll_frames),
        expected,
        "long-poll carries the same events"
    );
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_and_long_poll_cursors_are_personal() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let realtime = bob.realtime_token().await.expect("realtime token");
    let http = reqwest::Client::new();
    let mut sse = http
        .get(format!(
            "{}/v1/events/stream?token={}",
            server.base_url(),
            realtime.token
        ))
        .send()
        .await
        .expect("SSE with a realtime token");
    assert_eq!(sse.status(), 200);
    read_sse(&mut sse, "hello", 1).await;
    say(&alice, &g, "first").await;
    let first = read_sse(&mut sse, event_type::MESSAGE_CREATED, 1).await;
    let last_id = first
        .iter()
        .rev()
        .find_map(|(_, _, id)| id.clone())
        .expect("an event id");
    drop(sse);
    say(&alice, &g, "while away").await;
    let mut resumed = http
        .get(format!("{}/v1/events/stream", server.base_url()))
        .bearer_auth(server.token("bob", natter_proto::AppRole::User))
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .expect("resume");
    let replayed = read_sse(&mut resumed, event_type::MESSAGE_CREATED, 2).await;
    let contents: Vec<_> = replayed
        .iter()
        .filter(|(n, _, _)| n == event_type::MESSAGE_CREATED)
        .map(|(_, d, _)| d["data"]["content"].clone())
        .collect();
    assert!(
        contents.contains(&serde_json::json!("while away")),
        "the message sent while away is replayed: {contents:?}"
    );

    let started = bob
        .raw(Method::GET, "/v1/events", None)
        .await
        .expect("start")
        .json::<serde_json::Value>()
        .expect("json");
    let cursor = started["cursor"].as_str().expect("cursor").to_owned();
    let stolen = alice
        .raw(
            Method::GET,
            &format!("/v1/events?since={cursor}&timeout=1"),
            None,
        )
        .await
        .expect("poll");
    assert_eq!(stolen.status, 409, "another user's cursor is refused");
    assert_eq!(
        stolen.problem().map(|p| p.code),
        Some("resync_required".into())
    );
    let unknown = bob
        .raw(Method::GET, "/v1/events?since=lp-nope&timeout=1", None)
        .await
        .expect("poll");
    assert_eq!(unknown.status, 409);
    let poll = || async {
        let answer = bob
            .raw(
                Method::GET,
                &format!("/v1/events?since={cursor}&timeout=1"),
                None,
            )
            .await
            .expect("poll");
        assert_eq!(answer.status, 200);
        answer.json::<serde_json::Value>().expect("json")["events"].clone()
    };
    // A cursor receives what the hub delivers after it started, and the hub may still be
    // delivering "while away" (committed just before): then the first poll carries that
    // event (clients drop it by seq), and only that.
    let mut events = poll().await;
    if events != serde_json::json!([]) {
        let contents: Vec<_> = events
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["data"]["content"].clone())
            .collect();
        assert_eq!(contents, [serde_json::json!("while away")], "{events}");
        events = poll().await;
    }
    assert_eq!(
        events,
        serde_json::json!([]),
        "a timeout answers with no events"
    );
    assert_eq!(
        bob.raw(Method::GET, "/v1/events?timeout=0", None)
            .await
            .expect("poll")
            .status,
        422
    );
    assert_eq!(
        server
            .anonymous()
            .raw(Method::GET, "/v1/events/stream", None)
            .await
            .expect("anon")
            .status,
        401
    );
}
