//! Two nodes connected by the real NATS: delivery, typing and presence cross nodes, and
//! a NATS outage loses nothing for a resuming client. Runs when `NATTER_TEST_NATS_URL`
//! is set (`scripts/test.sh` and CI set it).

use std::time::Duration;

use natter_client::realtime::{Connection, ResumingStream};
use natter_proto::{event_type, ClientFrame, ServerFrame};
use natter_testkit::{nats_url, TcpProxy, TestServer};

use crate::helpers::{group, say};

async fn next_of(connection: &mut Connection, kind: &str) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match connection
            .next_frame_within(left)
            .await
            .expect("the connection stays open")
        {
            Some(frame) if frame.kind == kind => return frame,
            Some(_) => continue,
            None => panic!("no {kind} frame within 10 s"),
        }
    }
}

/// Two nodes on one database, each connected to NATS through its own cuttable proxy, on
/// a subject of their own: tests running at the same time (both of them have a "bob")
/// must not see each other's presence.
async fn two_nodes() -> Option<(TestServer, TestServer, TcpProxy, TcpProxy)> {
    let Some(url) = nats_url() else {
        eprintln!("skipped: NATTER_TEST_NATS_URL not set");
        return None;
    };
    let upstream = url
        .trim_start_matches("nats://")
        .parse()
        .expect("NATTER_TEST_NATS_URL is nats://ip:port");
    let (proxy_a, proxy_b) = (
        TcpProxy::start(upstream).await,
        TcpProxy::start(upstream).await,
    );
    let (bus_a, bus_b) = (
        format!("nats://{}", proxy_a.address()),
        format!("nats://{}", proxy_b.address()),
    );
    let subject = format!("natter.test.{:016x}", rand::random::<u64>());
    let subject_b = subject.clone();
    let node_a = TestServer::spawn_with(move |config| {
        config.bus = Some(bus_a);
        config.bus_subject = subject;
    })
    .await;
    let node_b = node_a
        .spawn_sibling_with(move |config| {
            config.bus = Some(bus_b);
            config.bus_subject = subject_b;
        })
        .await;
    Some((node_a, node_b, proxy_a, proxy_b))
}

#[tokio::test]
async fn a_message_sent_on_one_node_reaches_a_client_on_the_other() {
    let Some((node_a, node_b, _pa, _pb)) = two_nodes().await else {
        return;
    };
    let alice = node_a.user("alice");
    let bob_on_b = node_b.user("bob");
    let g = group(&alice, "across", &[&bob_on_b]).await;
    let mut bob_ws = bob_on_b
        .connect_realtime()
        .await
        .expect("connect to node b");
    let sent = say(&alice, &g, "from node a").await;
    let frame = next_of(&mut bob_ws, event_type::MESSAGE_CREATED).await;
    assert_eq!(frame.data["id"], serde_json::json!(sent.id));
}

#[tokio::test]
async fn typing_and_presence_cross_nodes() {
    let Some((node_a, node_b, _pa, _pb)) = two_nodes().await else {
        return;
    };
    let alice = node_a.user("alice");
    let bob_on_b = node_b.user("bob");
    let g = group(&alice, "across", &[&bob_on_b]).await;
    let mut alice_ws = alice.connect_realtime().await.expect("connect to node a");
    let mut bob_ws = bob_on_b
        .connect_realtime()
        .await
        .expect("connect to node b");
    let online = next_of(&mut alice_ws, "presence.updated").await;
    assert_eq!(online.data["user_id"], "bob");
    assert_eq!(online.data["online"], true);
    assert!(
        alice
            .presence(&bob_on_b.id)
            .await
            .expect("presence on node a")
            .online
    );
    bob_ws
        .send(&ClientFrame::TypingStart {
            conversation_id: g.id,
        })
        .await
        .expect("typing");
    let typing = next_of(&mut alice_ws, "typing.start").await;
    assert_eq!(typing.data["user_id"], "bob");
    assert_eq!(
        alice.typing(g.id).await.expect("typing on node a").user_ids,
        vec![bob_on_b.id.clone()]
    );
    bob_ws.close().await;
    let offline = next_of(&mut alice_ws, "presence.updated").await;
    assert_eq!(offline.data["online"], false);
}

/// Waits until `/readyz` reports the bus in `state` (bounded: 15 s).
async fn wait_for_bus(node: &TestServer, state: &str) {
    for _ in 0..300 {
        let ready = node.anonymous().ready().await.expect("readyz");
        if ready
            .checks
            .iter()
            .any(|c| c.name == "bus" && c.status == state)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bus did not become {state}");
}

#[tokio::test]
async fn a_nats_outage_loses_nothing_for_a_resuming_client() {
    let Some((node_a, node_b, proxy_a, proxy_b)) = two_nodes().await else {
        return;
    };
    let alice = node_a.user("alice");
    let bob_on_b = node_b.user("bob");
    let g = group(&alice, "outage", &[&bob_on_b]).await;
    let mut stream = ResumingStream::start(bob_on_b.client.clone())
        .await
        .expect("stream on node b");
    let start = stream.held().get(&g.id).copied().expect("held").0;
    let mut sent = 0u64;
    for phase in 0..3 {
        if phase == 1 {
            proxy_a.cut();
            proxy_b.cut();
            wait_for_bus(&node_a, "unavailable").await;
            wait_for_bus(&node_b, "unavailable").await;
        }
        if phase == 2 {
            proxy_a.restore();
            proxy_b.restore();
            wait_for_bus(&node_a, "ok").await;
            wait_for_bus(&node_b, "ok").await;
        }
        for i in 0..30 {
            say(&alice, &g, &format!("phase {phase} message {i}")).await;
            sent += 1;
        }
    }
    // Delivered live, through the hub after NATS returned, or caught up from the log:
    // the client ends with every event exactly once, in order.
    let mut seqs = Vec::new();
    while seqs.len() < sent as usize {
        let event = stream
            .next_event_within(Duration::from_secs(20))
            .await
            .expect("stream")
            .expect("every event arrives");
        assert_eq!(event.conversation_id, g.id);
        seqs.push(event.seq.0);
    }
    assert_eq!(seqs, (start + 1..=start + sent).collect::<Vec<_>>());
}
