//! The realtime gateway over real WebSockets: delivery, membership boundaries, client
//! frames, typing, presence, slow consumers and resume.

use std::collections::HashMap;
use std::time::Duration;

use natter_client::realtime::{Connection, ResumingStream};
use natter_client::ClientError;
use natter_proto::realtime::close_code;
use natter_proto::{
    event_type, AddParticipants, ClientFrame, DeliveryState, EventSeq, MessageSeq, ServerFrame,
};
use natter_testkit::{TestServer, TestUser};

use crate::helpers::{group, say, status_code};

const WAIT: Duration = Duration::from_secs(5);

/// The next frame of a given type (skipping others), failing after 5 s.
async fn next_of(connection: &mut Connection, kind: &str) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match connection
            .next_frame_within(left)
            .await
            .expect("the connection stays open")
        {
            Some(frame) if frame.kind == kind => return frame,
            Some(_) => continue,
            None => panic!("no {kind} frame within 5 s"),
        }
    }
}

async fn connect(user: &TestUser) -> Connection {
    user.connect_realtime()
        .await
        .expect("connecting to the gateway")
}

#[tokio::test]
async fn hello_then_every_device_of_every_participant_receives_the_message() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let mut bob_phone = connect(&bob).await;
    assert_eq!(bob_phone.hello().user_id, bob.id);
    assert_eq!(bob_phone.hello().heartbeat_interval_ms, 25_000);
    assert!(!bob_phone.hello().sync_token.is_empty());
    let mut bob_laptop = connect(&bob).await;
    let mut alice_tablet = connect(&alice).await;
    let sent = say(&alice, &g, "hello devices").await;
    for connection in [&mut bob_phone, &mut bob_laptop, &mut alice_tablet] {
        let frame = next_of(connection, event_type::MESSAGE_CREATED).await;
        assert_eq!(frame.conversation_id, Some(g.id));
        assert_eq!(
            frame.seq,
            Some(EventSeq(2)),
            "event seq: conversation.created was 1"
        );
        assert_eq!(frame.data["id"], serde_json::json!(sent.id));
        assert_eq!(frame.data["content"], "hello devices");
        assert_eq!(frame.data["seq"], 1, "the message seq is inside data");
    }
}

/// The client reads into a 4 KiB buffer: a frame four times that arrives whole.
#[tokio::test]
async fn frames_longer_than_the_clients_read_buffer_arrive_whole() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let mut bob_ws = connect(&bob).await;
    let longest = "😀".repeat(4000);
    for content in [longest.as_str(), "after it"] {
        say(&alice, &g, content).await;
        let frame = next_of(&mut bob_ws, event_type::MESSAGE_CREATED).await;
        assert_eq!(frame.data["content"], content);
    }
}

#[tokio::test]
async fn authentication_by_first_frame_and_rejections() {
    let server = TestServer::spawn().await;
    let bob = server.user("bob");
    let jwt = server.token("bob", natter_proto::AppRole::User);
    let connection = Connection::connect_with_auth_frame(server.base_url(), &jwt)
        .await
        .expect("JWT in the first frame");
    assert_eq!(connection.hello().user_id, bob.id);
    match Connection::connect_with_auth_frame(server.base_url(), "not.a.token").await {
        Err(ClientError::Realtime { code, .. }) => assert_eq!(code, Some(close_code::UNAUTHORIZED)),
        other => panic!(
            "expected a 4401 close, got {:?}",
            other.map(|c| c.hello().clone())
        ),
    }
    let forged = Connection::connect_with_token(server.base_url(), "rt.e30.c2lnbmF0dXJl").await;
    assert!(
        matches!(forged, Err(ClientError::Realtime { .. })),
        "a forged realtime token is refused before the upgrade"
    );
    assert_eq!(
        status_code(server.server().realtime_token().await),
        (403, "user_required".into())
    );
    assert_eq!(
        status_code(server.anonymous().realtime_token().await).0,
        401
    );
}

#[tokio::test]
async fn membership_changes_take_effect_at_the_event() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob]).await;
    let side = group(&alice, "side", &[&bob, &carol]).await;
    let mut carol_ws = connect(&carol).await;
    let mut bob_ws = connect(&bob).await;
    say(&alice, &g, "before carol").await;
    alice
        .add_participants(
            g.id,
            &AddParticipants {
                user_ids: vec![carol.id.clone()],
                role: None,
            },
        )
        .await
        .expect("add");
    say(&alice, &g, "carol is here").await;
    let added = next_of(&mut carol_ws, event_type::PARTICIPANT_ADDED).await;
    assert_eq!(added.data["user_id"], "carol");
    let first_message = next_of(&mut carol_ws, event_type::MESSAGE_CREATED).await;
    assert_eq!(
        first_message.data["content"], "carol is here",
        "nothing from before the add"
    );

    alice
        .remove_participant(g.id, &bob.id)
        .await
        .expect("remove bob");
    say(&alice, &g, "bob is gone").await;
    say(&alice, &side, "sentinel").await;
    let mut seen = Vec::new();
    loop {
        let frame = bob_ws
            .next_frame_within(WAIT)
            .await
            .expect("open")
            .expect("a frame");
        if frame.kind == event_type::MESSAGE_CREATED && frame.data["content"] == "sentinel" {
            break;
        }
        seen.push((frame.kind.clone(), frame.data.get("content").cloned()));
    }
    assert!(
        seen.iter()
            .any(|(kind, _)| kind == event_type::PARTICIPANT_REMOVED),
        "bob hears of his own removal: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|(_, content)| content.as_ref().is_some_and(|c| c == "bob is gone")),
        "nothing after the removal: {seen:?}"
    );
}

#[tokio::test]
async fn ack_and_read_frames_move_markers_and_reach_the_sender() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let mut alice_ws = connect(&alice).await;
    let mut bob_ws = connect(&bob).await;
    let message = say(&alice, &g, "did it arrive?").await;
    next_of(&mut bob_ws, event_type::MESSAGE_CREATED).await;
    bob_ws
        .send(&ClientFrame::Ack {
            conversation_id: g.id,
            seq: MessageSeq(1),
        })
        .await
        .expect("ack");
    let receipt = next_of(&mut alice_ws, event_type::RECEIPT_UPDATED).await;
    assert_eq!(receipt.data["user_id"], "bob");
    assert_eq!(receipt.data["last_delivered_seq"], 1);
    assert_eq!(receipt.data["last_read_seq"], 0);
    assert_eq!(
        alice.message(message.id).await.expect("get").delivery,
        Some(DeliveryState::Delivered)
    );
    bob_ws
        .send(&ClientFrame::Read {
            conversation_id: g.id,
            seq: MessageSeq(1),
        })
        .await
        .expect("read");
    let read = next_of(&mut alice_ws, event_type::RECEIPT_UPDATED).await;
    assert_eq!(read.data["last_read_seq"], 1);
    assert_eq!(
        alice.message(message.id).await.expect("get").delivery,
        Some(DeliveryState::Read)
    );
    assert_eq!(bob.conversation(g.id).await.expect("get").unread_count, 0);
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let private = group(&alice, "private", &[]).await;
    let mut bob_ws = connect(&bob).await;
    for bad in [
        "not json",
        r#"{"type":"teleport"}"#,
        r#"{"type":"ack","conversation_id":"x","seq":1}"#,
    ] {
        bob_ws.send_text(bad).await.expect("send");
        let error = next_of(&mut bob_ws, "error").await;
        assert_eq!(error.data["code"], "invalid_frame", "{bad}");
    }
    bob_ws
        .send(&ClientFrame::TypingStart {
            conversation_id: private.id,
        })
        .await
        .expect("send");
    let error = next_of(&mut bob_ws, "error").await;
    assert_eq!(error.data["code"], "conversation_not_found");
    bob_ws.send(&ClientFrame::Ping).await.expect("ping");
    next_of(&mut bob_ws, "pong").await;
    say(&alice, &g, "still connected").await;
    next_of(&mut bob_ws, event_type::MESSAGE_CREATED).await;
}

/// The gateway reads into a 512-byte buffer: longer client frames arrive whole (up to the
/// 16 KiB limit); a longer one ends the connection.
#[tokio::test]
async fn client_frames_longer_than_the_read_buffer_are_read_whole() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let mut alice_ws = connect(&alice).await;
    let mut bob_ws = connect(&bob).await;
    for padding in [600, 5_000, 16_000] {
        let ping = format!(r#"{{"type":"ping"{}}}"#, " ".repeat(padding));
        bob_ws.send_text(&ping).await.expect("send");
        next_of(&mut bob_ws, "pong").await;
    }
    let typing = format!(
        r#"{{"type":"typing.start",{}"conversation_id":"{}"}}"#,
        " ".repeat(3_000),
        g.id
    );
    bob_ws.send_text(&typing).await.expect("send");
    let start = next_of(&mut alice_ws, "typing.start").await;
    assert_eq!(start.data["user_id"], bob.id.as_str());

    let too_long = format!(r#"{{"type":"ping"{}}}"#, " ".repeat(17_000));
    bob_ws.send_text(&too_long).await.expect("send");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match bob_ws.next_frame_within(left).await {
            Err(_) => break,
            Ok(Some(frame)) if frame.kind != "pong" => continue,
            other => panic!("a frame over 16 KiB must end the connection, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn typing_reaches_the_others_and_is_listed() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let mut alice_ws = connect(&alice).await;
    let mut bob_ws = connect(&bob).await;
    bob_ws
        .send(&ClientFrame::TypingStart {
            conversation_id: g.id,
        })
        .await
        .expect("typing");
    let start = next_of(&mut alice_ws, "typing.start").await;
    assert_eq!(start.conversation_id, Some(g.id));
    assert_eq!(start.data["user_id"], "bob");
    assert_eq!(
        alice.typing(g.id).await.expect("list").user_ids,
        vec![bob.id.clone()]
    );
    bob_ws
        .send(&ClientFrame::TypingStop {
            conversation_id: g.id,
        })
        .await
        .expect("stop");
    next_of(&mut alice_ws, "typing.stop").await;
    assert!(alice.typing(g.id).await.expect("list").user_ids.is_empty());
    alice.set_typing(g.id, true).await.expect("REST typing");
    let rest = next_of(&mut bob_ws, "typing.start").await;
    assert_eq!(rest.data["user_id"], "alice");
    let outsider = server.user("zed");
    assert_eq!(status_code(outsider.set_typing(g.id, true).await).0, 404);
    assert_eq!(status_code(outsider.typing(g.id).await).0, 404);
}

#[tokio::test]
async fn presence_follows_connections_and_is_visible_to_contacts_only() {
    let server = TestServer::spawn().await;
    let (alice, bob, zed) = (server.user("alice"), server.user("bob"), server.user("zed"));
    group(&alice, "g", &[&bob]).await;
    let mut alice_ws = connect(&alice).await;
    assert!(!alice.presence(&bob.id).await.expect("presence").online);
    let bob_ws = connect(&bob).await;
    let online = next_of(&mut alice_ws, "presence.updated").await;
    assert_eq!(online.data["user_id"], "bob");
    assert_eq!(online.data["online"], true);
    assert!(alice.presence(&bob.id).await.expect("presence").online);
    bob_ws.close().await;
    let offline = next_of(&mut alice_ws, "presence.updated").await;
    assert_eq!(offline.data["online"], false);
    assert!(offline.data["last_seen_at"].is_string());
    let seen = alice.presence(&bob.id).await.expect("presence");
    assert!(!seen.online);
    assert!(seen.last_seen_at.is_some());
    assert_eq!(
        status_code(zed.presence(&bob.id).await),
        (404, "user_not_found".into())
    );
}

#[tokio::test]
async fn a_consumer_that_never_reads_is_cut_off_without_slowing_the_others() {
    let server = TestServer::spawn_with(|config| {
        config.limits.max_message_chars = 10_000;
        config.limits.realtime_queue = 256;
    })
    .await;
    let senders: Vec<_> = (0..4).map(|i| server.user(&format!("s{i}"))).collect();
    let (fast, slow) = (server.user("fast"), server.user("slow"));
    let mut members: Vec<&TestUser> = senders.iter().skip(1).collect();
    members.push(&fast);
    members.push(&slow);
    let g = group(&senders[0], "flood", &members).await;
    let mut fast_ws = connect(&fast).await;
    let mut slow_ws = connect(&slow).await;
    let big = "x".repeat(10_000);
    let total = 1_200usize;
    let flood = {
        let senders = senders.clone();
        let big = big.clone();
        tokio::spawn(async move {
            let per_sender = total / senders.len();
            let tasks = senders.into_iter().map(|sender| {
                let big = big.clone();
                async move {
                    for _ in 0..per_sender {
                        sender.send_text(g.id, &big).await.expect("send");
                    }
                }
            });
            futures::future::join_all(tasks).await;
            tokio::time::Instant::now()
        })
    };
    let mut received = 0usize;
    let mut last_seq = 0u64;
    while received < total {
        let frame = next_of(&mut fast_ws, event_type::MESSAGE_CREATED).await;
        let seq = frame.seq.expect("an event seq").0;
        assert!(seq > last_seq, "in order, never twice");
        last_seq = seq;
        received += 1;
    }
    let finished_sending = flood.await.expect("the flood task");
    assert!(
        finished_sending.elapsed() < Duration::from_secs(3),
        "the fast client kept up with the senders"
    );
    // The slow client now reads what it was sent: the connection ends before the flood does.
    let mut slow_received = 0usize;
    let ended_with = loop {
        match slow_ws.next_frame_within(Duration::from_secs(20)).await {
            Ok(Some(frame)) if frame.kind == event_type::MESSAGE_CREATED => slow_received += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the slow connection was neither fed nor closed"),
            Err(ClientError::Realtime { code, .. }) => break code,
            Err(other) => panic!("unexpected error {other}"),
        }
    };
    assert!(
        slow_received < total,
        "the slow consumer was cut off ({slow_received} of {total})"
    );
    assert!(
        ended_with.is_none() || ended_with == Some(close_code::RESYNC),
        "closed with the resync code or dropped: {ended_with:?}"
    );
}

#[tokio::test]
async fn a_client_cut_off_fifty_times_still_gets_every_event_once_in_order() {
    let server = TestServer::spawn().await;
    let senders: Vec<_> = (0..4).map(|i| server.user(&format!("sender{i}"))).collect();
    let reader = server.user("reader");
    let mut members: Vec<&TestUser> = senders.iter().skip(1).collect();
    members.push(&reader);
    let first = group(&senders[0], "one", &members).await;
    let second = group(&senders[1], "two", &[&senders[0], &senders[2], &reader]).await;
    let mut stream = ResumingStream::start(reader.client.clone())
        .await
        .expect("stream");
    let start: HashMap<_, _> = stream.held().clone();
    let total = 2_000usize;
    let producers = {
        let senders = senders.clone();
        tokio::spawn(async move {
            let tasks = senders
                .into_iter()
                .enumerate()
                .map(|(index, sender)| async move {
                    for i in 0..total / 4 {
                        let target = if (i + index) % 3 == 0 {
                            second.id
                        } else {
                            first.id
                        };
                        let conversation = if target == second.id && index == 3 {
                            first.id
                        } else {
                            target
                        };
                        sender
                            .send_text(conversation, &format!("{index}-{i}"))
                            .await
                            .expect("send");
                        // Paced (about 500 messages/s in all) so that the cuts land in a live
                        // stream rather than in one backlog.
                        tokio::time::sleep(Duration::from_millis(6)).await;
                    }
                });
            futures::future::join_all(tasks).await;
        })
    };
    let mut delivered: HashMap<natter_proto::ConversationId, Vec<u64>> = HashMap::new();
    let mut messages = 0usize;
    let mut cuts = 0;
    let mut next_cut = 20usize;
    while messages < total {
        let event = stream
            .next_event_within(Duration::from_secs(20))
            .await
            .expect("stream")
            .expect("an event within 20 s");
        delivered
            .entry(event.conversation_id)
            .or_default()
            .push(event.seq.0);
        if event.kind == event_type::MESSAGE_CREATED {
            messages += 1;
        }
        if messages >= next_cut && cuts < 50 && stream.is_connected() {
            stream.disconnect();
            cuts += 1;
            next_cut = messages + total / 80;
        }
    }
    producers.await.expect("producers");
    assert_eq!(cuts, 50);
    for (conversation_id, seqs) in &delivered {
        let from = start.get(conversation_id).copied().unwrap_or(EventSeq(0)).0;
        let expected: Vec<u64> = (from + 1..=from + seqs.len() as u64).collect();
        assert_eq!(
            seqs, &expected,
            "conversation {conversation_id}: every event once, in order, no gap"
        );
    }
    assert!(
        stream.reconnects >= 49,
        "it reconnected after every cut (the last may not be needed)"
    );
    assert!(
        stream.fetched > 0,
        "some events came from the log, not live"
    );
}
