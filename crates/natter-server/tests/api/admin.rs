//! Moderation and statistics: who may call the admin endpoints, the admin conversation
//! list, exports, erasure, the audit log and the counts of `/v1/stats` and
//! `/v1/admin/stats`.

use std::collections::BTreeSet;
use std::time::Duration;

use natter_client::{AdminConversationFilter, Client};
use natter_proto::{
    audit_action, event_type, AddParticipants, AppRole, AuditEntry, AuditTargetType,
    ContextConversation, Conversation, ConversationId, ConversationStatus, ConversationType,
    CreateConversation, EventSeq, Page, SendMessage, UpsertUser,
};
use natter_testkit::{uid, TestServer};

use crate::helpers::{direct, group, say, status_code};

/// Every conversation the filter lists, walking all pages of `limit`.
async fn all_pages(
    client: &Client,
    mut filter: AdminConversationFilter,
    limit: u32,
) -> Vec<Conversation> {
    filter.limit = Some(limit);
    let mut all = Vec::new();
    loop {
        let page = client
            .admin_conversations(&filter)
            .await
            .expect("admin list");
        assert!(page.items.len() <= limit as usize);
        all.extend(page.items);
        match page.next {
            Some(next) => filter.cursor = Some(next),
            None => return all,
        }
    }
}

fn ids(conversations: &[Conversation]) -> Vec<ConversationId> {
    conversations.iter().map(|c| c.id).collect()
}

/// The whole audit log, newest first, walking pages of `limit`.
async fn whole_audit(client: &Client, limit: u32) -> Vec<AuditEntry> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page: Page<AuditEntry> = client
            .audit_log(cursor.as_deref(), Some(limit))
            .await
            .expect("audit page");
        assert!(page.items.len() <= limit as usize);
        entries.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return entries,
        }
    }
}

fn group_request(title: &str, members: &[&str]) -> CreateConversation {
    CreateConversation {
        kind: ConversationType::Group,
        participant_ids: members.iter().map(|m| uid(m)).collect(),
        title: Some(title.into()),
        description: None,
        avatar_url: None,
        context: None,
    }
}

#[tokio::test]
async fn admin_endpoints_answer_admins_and_the_server_key_only() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    say(&alice, &g, "hello").await;
    let admin = server.user_with_role("root", AppRole::Admin);
    let agent = server.user_with_role("agent", AppRole::Agent);
    let moderators: [(&str, Client); 2] =
        [("admin", admin.client.clone()), ("server", server.server())];
    for (who, client) in &moderators {
        client
            .admin_conversations(&AdminConversationFilter::default())
            .await
            .unwrap_or_else(|err| panic!("{who} lists: {err}"));
        client
            .export_conversation(g.id)
            .await
            .unwrap_or_else(|err| panic!("{who} exports: {err}"));
        client
            .audit_log(None, None)
            .await
            .unwrap_or_else(|err| panic!("{who} reads the audit log: {err}"));
        client
            .admin_stats()
            .await
            .unwrap_or_else(|err| panic!("{who} reads the stats: {err}"));
        assert_eq!(
            status_code(client.erase_user(&uid("never-seen")).await),
            (404, "user_not_found".into()),
            "{who} may erase, but not who does not exist"
        );
    }
    let acting_user = server.server().acting_as(&alice.id);
    for (who, client) in [
        ("user", alice.client.clone()),
        ("agent", agent.client.clone()),
        ("server acting as a user", acting_user),
    ] {
        let forbidden = (403, "admin_required".to_owned());
        assert_eq!(
            status_code(
                client
                    .admin_conversations(&AdminConversationFilter::default())
                    .await
            ),
            forbidden,
            "{who}"
        );
        assert_eq!(
            status_code(client.export_conversation(g.id).await),
            forbidden,
            "{who}"
        );
        assert_eq!(
            status_code(client.erase_user(&alice.id).await),
            forbidden,
            "{who}"
        );
        assert_eq!(
            status_code(client.audit_log(None, None).await),
            forbidden,
            "{who}"
        );
        assert_eq!(status_code(client.admin_stats().await), forbidden, "{who}");
    }
    let anonymous = server.anonymous();
    assert_eq!(
        status_code(
            anonymous
                .admin_conversations(&AdminConversationFilter::default())
                .await
        )
        .0,
        401
    );
    assert_eq!(
        status_code(anonymous.export_conversation(g.id).await).0,
        401
    );
    assert_eq!(status_code(anonymous.erase_user(&alice.id).await).0, 401);
    assert_eq!(status_code(anonymous.audit_log(None, None).await).0, 401);
    assert_eq!(status_code(anonymous.admin_stats().await).0, 401);
    assert_eq!(status_code(anonymous.stats().await).0, 401);
    alice.stats().await.expect("any user reads their own stats");
    admin.stats().await.expect("an admin is a user too");
    assert_eq!(
        status_code(server.server().stats().await),
        (403, "user_required".into()),
        "the server key has no stats of its own"
    );
    server
        .server()
        .acting_as(&alice.id)
        .stats()
        .await
        .expect("the server key acting as a user");
    assert_eq!(
        status_code(admin.export_conversation(ConversationId::new()).await),
        (404, "conversation_not_found".into())
    );
}

#[tokio::test]
async fn the_admin_list_filters_and_pages_every_conversation() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let admin = server.user_with_role("root", AppRole::Admin);
    let g1 = group(&alice, "one", &[&bob]).await;
    let d = direct(&alice, &carol).await.value;
    let g2 = group(&bob, "two", &[&carol]).await;
    let ordered = server
        .server()
        .conversation_by_context(
            "order",
            "A-1",
            &ContextConversation {
                kind: None,
                participant_ids: vec![carol.id.clone()],
                owner_id: None,
                title: Some("Order A-1".into()),
                description: None,
            },
        )
        .await
        .expect("by context")
        .value;
    let support = carol
        .create_conversation(&CreateConversation {
            kind: ConversationType::Support,
            participant_ids: vec![],
            title: Some("help".into()),
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .expect("support")
        .value;
    let g3 = bob
        .create_conversation(&group_request("three", &["alice"]))
        .await
        .expect("group three")
        .value;
    admin.block_conversation(g2.id).await.expect("block");
    alice.archive_conversation(g1.id).await.expect("archive");
    bob.remove_participant(g3.id, &alice.id)
        .await
        .expect("alice removed from three");
    let created = [g1.id, d.id, g2.id, ordered.id, support.id, g3.id];

    // Newest created first, every page of two, nothing twice.
    let everything = all_pages(&admin, AdminConversationFilter::default(), 2).await;
    let mut newest_first = created.to_vec();
    newest_first.reverse();
    assert_eq!(ids(&everything), newest_first);
    assert!(everything
        .windows(2)
        .all(|pair| pair[0].created_at >= pair[1].created_at));
    assert!(everything
        .iter()
        .all(|c| c.me.is_none() && c.unread_count == 0));

    let by = |filter: AdminConversationFilter| {
        let admin = admin.client.clone();
        async move { ids(&all_pages(&admin, filter, 100).await) }
    };
    assert_eq!(
        by(AdminConversationFilter {
            kind: Some(ConversationType::Group),
            ..Default::default()
        })
        .await,
        vec![g3.id, ordered.id, g2.id, g1.id],
        "by-context conversations are groups"
    );
    assert_eq!(
        by(AdminConversationFilter {
            kind: Some(ConversationType::Direct),
            ..Default::default()
        })
        .await,
        vec![d.id]
    );
    assert_eq!(
        by(AdminConversationFilter {
            status: Some(ConversationStatus::Blocked),
            ..Default::default()
        })
        .await,
        vec![g2.id]
    );
    assert_eq!(
        by(AdminConversationFilter {
            status: Some(ConversationStatus::Archived),
            ..Default::default()
        })
        .await,
        vec![g1.id]
    );
    assert_eq!(
        by(AdminConversationFilter {
            context_kind: Some("order".into()),
            context_id: Some("A-1".into()),
            ..Default::default()
        })
        .await,
        vec![ordered.id]
    );
    assert!(by(AdminConversationFilter {
        context_kind: Some("order".into()),
        context_id: Some("A-2".into()),
        ..Default::default()
    })
    .await
    .is_empty());
    assert_eq!(
        by(AdminConversationFilter {
            participant: Some(alice.id.clone()),
            ..Default::default()
        })
        .await,
        vec![g3.id, d.id, g1.id],
        "conversations alice is in or was removed from"
    );
    assert_eq!(
        by(AdminConversationFilter {
            participant: Some(carol.id.clone()),
            kind: Some(ConversationType::Group),
            ..Default::default()
        })
        .await,
        vec![ordered.id, g2.id],
        "filters combine"
    );
    let iso = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .expect("formatting a time")
    };
    assert_eq!(
        by(AdminConversationFilter {
            created_from: Some(iso(g2.created_at)),
            created_to: Some(iso(support.created_at)),
            ..Default::default()
        })
        .await,
        // Half-open: g2 (the start) is in, support (the end) is out. Conversations created
        // in the same microsecond as a bound could blur this, hence created_at checks.
        everything
            .iter()
            .filter(|c| c.created_at >= g2.created_at && c.created_at < support.created_at)
            .map(|c| c.id)
            .collect::<Vec<_>>()
    );
    assert!(by(AdminConversationFilter {
        created_from: Some(iso(g3.created_at + time::Duration::seconds(1))),
        ..Default::default()
    })
    .await
    .is_empty());

    // Bad input is a 422 naming the field.
    for bad in [
        AdminConversationFilter {
            created_from: Some("yesterday".into()),
            ..Default::default()
        },
        AdminConversationFilter {
            cursor: Some("nope".into()),
            ..Default::default()
        },
        AdminConversationFilter {
            limit: Some(0),
            ..Default::default()
        },
    ] {
        assert_eq!(
            status_code(admin.admin_conversations(&bad).await),
            (422, "validation_failed".into()),
            "{bad:?}"
        );
    }

    // Moderators read any conversation through the ordinary endpoints.
    let read = admin.conversation(g2.id).await.expect("admin reads g2");
    assert_eq!(read.participants.map(|p| p.len()), Some(2));
    say(&bob, &g1, "visible to moderators").await;
    let messages = server
        .server()
        .list_messages(g1.id, &Default::default())
        .await
        .expect("server key reads g1");
    assert_eq!(messages.items.len(), 1);
}

#[tokio::test]
async fn an_export_holds_every_message_with_history_and_reactions() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "export me", &[&bob, &carol]).await;
    let edited = say(&alice, &g, "v1").await;
    alice.edit_message(edited.id, "v2").await.expect("edit");
    alice.edit_message(edited.id, "v3").await.expect("edit");
    let liked = say(&bob, &g, "like this").await;
    bob.add_reaction(liked.id, "👍").await.expect("react");
    alice.add_reaction(liked.id, "👍").await.expect("react");
    carol.add_reaction(liked.id, ":tada:").await.expect("react");
    let deleted = say(&bob, &g, "regret").await;
    bob.edit_message(deleted.id, "regret, edited")
        .await
        .expect("edit");
    bob.delete_message(deleted.id, true).await.expect("delete");
    let system = server
        .server()
        .send_message(
            g.id,
            &SendMessage {
                kind: Some(natter_proto::MessageType::System),
                content: Some("Order shipped".into()),
                ..Default::default()
            },
        )
        .await
        .expect("system message")
        .value;
    alice
        .remove_participant(g.id, &carol.id)
        .await
        .expect("carol removed");

    let export = server
        .server()
        .export_conversation(g.id)
        .await
        .expect("export");
    assert_eq!(export.conversation.id, g.id);
    assert_eq!(export.conversation.title.as_deref(), Some("export me"));
    let active: BTreeSet<_> = export
        .conversation
        .participants
        .as_ref()
        .expect("active participants")
        .iter()
        .map(|p| p.user_id.clone())
        .collect();
    assert_eq!(active, BTreeSet::from([alice.id.clone(), bob.id.clone()]));
    let everyone: Vec<_> = export
        .participants
        .iter()
        .map(|p| (p.user_id.clone(), p.left_at.is_some()))
        .collect();
    assert_eq!(everyone.len(), 3);
    assert!(everyone.contains(&(carol.id.clone(), true)), "{everyone:?}");
    assert!(everyone.contains(&(alice.id.clone(), false)));

    let seqs: Vec<u64> = export.messages.iter().map(|m| m.seq.0).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "every message, in seq order");
    let [first, second, third, fourth] = &export.messages[..] else {
        panic!("four messages");
    };
    assert_eq!(first.id, edited.id);
    assert_eq!(first.content.as_deref(), Some("v3"));
    assert_eq!(first.edit_count, 2);
    let versions: Vec<_> = first.edits.iter().map(|v| v.content.as_deref()).collect();
    assert_eq!(versions, vec![Some("v1"), Some("v2")]);
    assert!(first.reactions.is_empty());

    assert_eq!(second.id, liked.id);
    let reactions: Vec<_> = second
        .reactions
        .iter()
        .map(|r| (r.emoji.as_str(), r.user_id.as_str()))
        .collect();
    assert_eq!(
        reactions,
        vec![("👍", "bob"), ("👍", "alice"), (":tada:", "carol")],
        "every reaction, oldest first, with its user"
    );

    assert_eq!(third.id, deleted.id);
    assert_eq!(third.content, None, "a tombstone");
    assert!(third.deleted_at.is_some());
    assert_eq!(third.deleted_by.as_ref(), Some(&bob.id));
    assert_eq!(third.edit_count, 1);
    assert_eq!(third.edits.len(), 1, "the history stays, as a tombstone");
    assert_eq!(third.edits[0].content, None);

    assert_eq!(fourth.id, system.id);
    assert_eq!(fourth.sender_id, None);
    assert_eq!(fourth.content.as_deref(), Some("Order shipped"));

    // The JSON round-trips, and tombstones carry explicit nulls.
    let raw = server
        .server()
        .raw(
            natter_client::Method::GET,
            &format!("/v1/admin/conversations/{}/export", g.id),
            None,
        )
        .await
        .expect("raw export");
    assert_eq!(raw.status, 200);
    let json: serde_json::Value = raw.json().expect("export JSON");
    assert!(json["messages"][2]["content"].is_null());
    assert_eq!(json["messages"][2]["deleted_by"], "bob");
    assert_eq!(json["messages"][0]["edits"][0]["content"], "v1");
    assert_eq!(json["messages"][1]["reactions"][2]["emoji"], ":tada:");
    let decoded: natter_proto::ConversationExport =
        serde_json::from_value(json.clone()).expect("decodes as ConversationExport");
    assert_eq!(
        serde_json::to_value(&decoded).expect("encodes"),
        json,
        "nothing is lost in a round trip"
    );

    let audit = whole_audit(&server.server(), 50).await;
    let exports: Vec<_> = audit
        .iter()
        .filter(|e| e.action == audit_action::CONVERSATION_EXPORT)
        .collect();
    assert_eq!(exports.len(), 2, "each export is audited");
    assert_eq!(exports[0].target_type, AuditTargetType::Conversation);
    assert_eq!(exports[0].target_id, g.id.to_string());
    assert_eq!(exports[0].actor, "server");
    assert_eq!(exports[0].details["messages"], 4);
}

#[tokio::test]
async fn erasing_a_user_tombstones_all_they_wrote_everywhere() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    server
        .server()
        .upsert_user(
            &bob.id,
            &UpsertUser {
                display_name: Some("Bob Builder".into()),
                avatar_url: Some("https://example.org/bob.png".into()),
                role: None,
            },
        )
        .await
        .expect("bob's profile");
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let d = direct(&alice, &bob).await.value;
    let other = group(&alice, "without bob", &[&carol]).await;
    let from_alice = say(&alice, &g, "from alice").await;
    let mut bobs = vec![
        say(&bob, &g, "bob one").await,
        say(&bob, &g, "bob two").await,
        say(&bob, &d, "bob direct").await,
    ];
    bob.edit_message(bobs[0].id, "bob one, edited")
        .await
        .expect("edit");
    let already_deleted = say(&bob, &g, "bob deleted earlier").await;
    bob.delete_message(already_deleted.id, true)
        .await
        .expect("delete");
    bobs.push(say(&bob, &g, "bob newest in g").await);
    bob.add_reaction(from_alice.id, "👍")
        .await
        .expect("bob reacts");
    carol
        .add_reaction(bobs[1].id, "🎉")
        .await
        .expect("carol reacts");
    say(&carol, &other, "untouched").await;
    assert_eq!(alice.conversation(g.id).await.expect("g").unread_count, 3);
    assert_eq!(alice.conversation(d.id).await.expect("d").unread_count, 1);
    assert_eq!(carol.conversation(g.id).await.expect("g").unread_count, 4);
    let other_events = alice
        .events(other.id, EventSeq(0), None)
        .await
        .expect("events")
        .latest_seq;
    let mut alice_live = alice.connect_realtime().await.expect("realtime");

    let admin = server.user_with_role("root", AppRole::Admin);
    let result = admin.erase_user(&bob.id).await.expect("erase");
    assert_eq!(result.user_id, bob.id);
    assert_eq!(
        result.messages_erased, 4,
        "the earlier deleted one is not counted"
    );
    assert_eq!(
        result.reactions_removed, 1,
        "bob's reaction on alice's message"
    );
    assert_eq!(result.conversations_affected, 2);

    for message in bobs.iter().chain([&already_deleted]) {
        let tombstone = alice.message(message.id).await.expect("tombstone");
        assert_eq!(tombstone.content, None, "{}", message.id);
        assert!(tombstone.deleted_at.is_some());
        assert!(tombstone.reactions.is_empty());
        let history = alice.message_history(message.id).await.expect("history");
        assert!(history.versions.iter().all(|v| v.content.is_none()));
    }
    let from_alice_now = alice.message(from_alice.id).await.expect("alice's message");
    assert_eq!(from_alice_now.content.as_deref(), Some("from alice"));
    assert!(
        from_alice_now.reactions.is_empty(),
        "bob's reaction is gone"
    );

    // Unread counts of everyone else drop by bob's messages.
    assert_eq!(alice.conversation(g.id).await.expect("g").unread_count, 0);
    assert_eq!(alice.conversation(d.id).await.expect("d").unread_count, 0);
    assert_eq!(carol.conversation(g.id).await.expect("g").unread_count, 1);
    assert_eq!(
        alice.unread().await.expect("summary").total,
        1,
        "only carol's message in the other group"
    );
    let preview = alice
        .conversation(g.id)
        .await
        .expect("g")
        .last_message
        .expect("preview");
    assert!(preview.deleted && preview.text.is_empty(), "{preview:?}");

    // The profile is cleared.
    let profile = alice.user(&bob.id).await.expect("bob");
    assert_eq!((profile.display_name, profile.avatar_url), (None, None));

    // The log says so, and the stored content is gone from it too.
    let events = alice.events(g.id, EventSeq(0), None).await.expect("events");
    let deleted: Vec<_> = events
        .events
        .iter()
        .filter(|e| e.kind == event_type::MESSAGE_DELETED)
        .map(|e| e.data["id"].clone())
        .collect();
    assert_eq!(
        deleted,
        vec![
            serde_json::json!(already_deleted.id),
            serde_json::json!(bobs[0].id),
            serde_json::json!(bobs[1].id),
            serde_json::json!(bobs[3].id),
        ],
        "one message.deleted per message, the earlier delete included"
    );
    let removed: Vec<_> = events
        .events
        .iter()
        .filter(|e| e.kind == event_type::REACTION_REMOVED)
        .collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].data["user_id"], "bob");
    assert_eq!(
        removed[0].data["message_id"],
        serde_json::json!(from_alice.id)
    );
    assert!(events
        .events
        .iter()
        .filter(|e| e.data["sender_id"] == "bob")
        .all(|e| e.data["content"].is_null()));
    let direct_events = alice.events(d.id, EventSeq(0), None).await.expect("events");
    assert_eq!(
        direct_events
            .events
            .iter()
            .filter(|e| e.kind == event_type::MESSAGE_DELETED)
            .count(),
        1
    );
    assert_eq!(
        alice
            .events(other.id, EventSeq(0), None)
            .await
            .expect("events")
            .latest_seq,
        other_events,
        "a conversation without bob is untouched"
    );

    // And it is published.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut live_deleted = BTreeSet::new();
    while live_deleted.len() < 4 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = alice_live
            .next_frame_within(left)
            .await
            .expect("the connection stays open")
            .expect("message.deleted frames within 5 s");
        if frame.kind == event_type::MESSAGE_DELETED {
            assert!(frame.data["content"].is_null());
            live_deleted.insert(frame.data["id"].to_string());
        }
    }

    // Audited with its counts; erasing again is harmless.
    let audit = whole_audit(&admin, 50).await;
    let erase = audit
        .iter()
        .find(|e| e.action == audit_action::USER_ERASE)
        .expect("erasure audited");
    assert_eq!((erase.actor.as_str(), erase.server_key), ("root", false));
    assert_eq!(erase.target_type, AuditTargetType::User);
    assert_eq!(erase.target_id, "bob");
    assert_eq!(erase.details["messages_erased"], 4);
    assert_eq!(erase.details["reactions_removed"], 1);
    let again = server.server().erase_user(&bob.id).await.expect("again");
    assert_eq!(
        (
            again.messages_erased,
            again.reactions_removed,
            again.conversations_affected
        ),
        (0, 0, 0)
    );
    assert_eq!(
        status_code(admin.erase_user(&uid("never-seen")).await),
        (404, "user_not_found".into())
    );

    // The export shows tombstones only.
    let export = admin.export_conversation(g.id).await.expect("export");
    assert!(export
        .messages
        .iter()
        .filter(|m| m.sender_id.as_ref() == Some(&bob.id))
        .all(|m| m.content.is_none()
            && m.deleted_at.is_some()
            && m.edits.iter().all(|v| v.content.is_none())));
    assert_eq!(
        export
            .messages
            .iter()
            .filter(|m| m.content.is_some())
            .count(),
        1,
        "only alice's message keeps its content"
    );

    // Bob may keep using Natter: what he writes from now on is his again.
    let later = say(&bob, &g, "bob after erasure").await;
    assert_eq!(later.content.as_deref(), Some("bob after erasure"));
}

#[tokio::test]
async fn every_admin_action_is_audited_with_its_actor_and_target() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let admin = server.user_with_role("root", AppRole::Admin);
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let d = direct(&alice, &bob).await.value;
    let message = say(&bob, &g, "rude").await;
    let own = say(&alice, &g, "mine").await;

    // Ordinary users' actions are not admin actions.
    alice
        .block_conversation(d.id)
        .await
        .expect("either side blocks");
    alice
        .unblock_conversation(d.id)
        .await
        .expect("and unblocks");
    alice
        .delete_message(own.id, true)
        .await
        .expect("own delete");
    alice
        .add_participants(
            g.id,
            &AddParticipants {
                user_ids: vec![uid("dave")],
                role: None,
            },
        )
        .await
        .expect("add dave");
    alice
        .remove_participant(g.id, &uid("dave"))
        .await
        .expect("owner removes dave");
    assert!(
        whole_audit(&admin, 10).await.is_empty(),
        "nothing audited yet"
    );

    admin.block_conversation(g.id).await.expect("block");
    admin
        .block_conversation(g.id)
        .await
        .expect("blocking again changes nothing");
    admin.unblock_conversation(g.id).await.expect("unblock");
    admin
        .delete_message(message.id, true)
        .await
        .expect("moderator delete");
    admin
        .remove_participant(g.id, &carol.id)
        .await
        .expect("moderator removal");
    server
        .server()
        .block_conversation(d.id)
        .await
        .expect("server blocks");
    admin.export_conversation(g.id).await.expect("export");
    server.server().erase_user(&carol.id).await.expect("erase");

    let audit = whole_audit(&server.server(), 3).await;
    let summary: Vec<_> = audit
        .iter()
        .rev()
        .map(|e| {
            (
                e.action.as_str(),
                e.actor.as_str(),
                e.server_key,
                e.target_type,
                e.target_id.clone(),
            )
        })
        .collect();
    let (g_id, d_id) = (g.id.to_string(), d.id.to_string());
    use AuditTargetType::{Conversation as C, Message as M, User as U};
    assert_eq!(
        summary,
        vec![
            (
                audit_action::CONVERSATION_BLOCK,
                "root",
                false,
                C,
                g_id.clone()
            ),
            (
                audit_action::CONVERSATION_UNBLOCK,
                "root",
                false,
                C,
                g_id.clone()
            ),
            (
                audit_action::MESSAGE_DELETE,
                "root",
                false,
                M,
                message.id.to_string()
            ),
            (
                audit_action::PARTICIPANT_REMOVE,
                "root",
                false,
                C,
                g_id.clone()
            ),
            (audit_action::CONVERSATION_BLOCK, "server", true, C, d_id),
            (audit_action::CONVERSATION_EXPORT, "root", false, C, g_id),
            (
                audit_action::USER_ERASE,
                "server",
                true,
                U,
                "carol".to_owned()
            ),
        ],
        "oldest first after reversing; one entry per action"
    );
    let ids: Vec<u64> = audit.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first: {ids:?}"
    );
    let delete = audit
        .iter()
        .find(|e| e.action == audit_action::MESSAGE_DELETE)
        .expect("delete entry");
    assert_eq!(delete.details["conversation_id"], serde_json::json!(g.id));
    assert_eq!(delete.details["sender_id"], "bob");
    let removal = audit
        .iter()
        .find(|e| e.action == audit_action::PARTICIPANT_REMOVE)
        .expect("removal entry");
    assert_eq!(removal.details["user_id"], "carol");
    assert!(audit.windows(2).all(|pair| pair[0].at >= pair[1].at));
    let first_page = server
        .server()
        .audit_log(None, Some(3))
        .await
        .expect("page");
    assert_eq!(first_page.items.len(), 3);
    assert!(first_page.next.is_some());
    assert_eq!(
        status_code(server.server().audit_log(Some("x"), None).await),
        (422, "validation_failed".into())
    );
}

#[tokio::test]
async fn my_stats_count_my_conversations_unread_and_messages() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let fresh = server
        .user("fresh")
        .stats()
        .await
        .expect("stats of a new user");
    assert_eq!(fresh.conversations.total, 0);
    assert_eq!((fresh.unread_total, fresh.messages_sent), (0, 0));

    let g1 = group(&alice, "one", &[&bob]).await;
    let g2 = group(&bob, "two", &[&alice]).await;
    let left = group(&bob, "left", &[&alice]).await;
    let d = direct(&alice, &bob).await.value;
    alice.leave(left.id).await.expect("alice leaves");
    bob.archive_conversation(g2.id).await.expect("archive");
    bob.block_conversation(d.id).await.expect("block");
    for text in ["a", "b", "c"] {
        say(&alice, &g1, text).await;
    }
    let gone = say(&alice, &g2, "deleted later").await;
    alice.delete_message(gone.id, true).await.expect("delete");
    for text in ["x", "y"] {
        say(&bob, &g1, text).await;
    }
    say(&bob, &g2, "z").await;
    say(&bob, &left, "not alice's any more").await;

    let stats = alice.stats().await.expect("stats");
    assert_eq!(
        stats.conversations.total, 3,
        "the one she left does not count"
    );
    assert_eq!(
        (
            stats.conversations.by_type.group,
            stats.conversations.by_type.direct,
            stats.conversations.by_type.support,
            stats.conversations.by_type.channel
        ),
        (2, 1, 0, 0)
    );
    assert_eq!(
        (
            stats.conversations.by_status.active,
            stats.conversations.by_status.archived,
            stats.conversations.by_status.blocked
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.unread_total, 3, "x, y in one and z in two");
    assert_eq!(stats.conversations_with_unread, 2);
    assert_eq!(stats.messages_sent, 4, "deleted messages were still sent");
    assert_eq!(
        stats.unread_total,
        alice.unread().await.expect("unread").total,
        "the same number as the unread summary"
    );
    let bob_stats = bob.stats().await.expect("bob");
    assert_eq!(bob_stats.conversations.total, 4);
    assert_eq!(bob_stats.messages_sent, 4);
    assert_eq!(
        bob_stats.unread_total, 0,
        "bob read a, b, c by answering; the deleted one is not unread"
    );
}

#[tokio::test]
async fn admin_stats_count_users_conversations_messages_and_activity() {
    let server = TestServer::spawn().await;
    let empty = server.server().admin_stats().await.expect("empty stats");
    assert_eq!(
        (empty.users, empty.conversations.total, empty.messages),
        (0, 0, 0)
    );
    assert_eq!(empty.messages_per_day.len(), 30);
    assert!(empty.messages_per_day.iter().all(|day| day.messages == 0));

    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let d = direct(&alice, &bob).await.value;
    let quiet = carol
        .create_conversation(&group_request("quiet", &["dave"]))
        .await
        .expect("quiet group")
        .value;
    carol.archive_conversation(quiet.id).await.expect("archive");
    server
        .server()
        .block_conversation(d.id)
        .await
        .expect("block");
    for text in ["1", "2", "3"] {
        say(&alice, &g, text).await;
    }
    let gone = say(&bob, &g, "4").await;
    bob.delete_message(gone.id, true).await.expect("delete");
    server
        .server()
        .send_message(
            g.id,
            &SendMessage {
                kind: Some(natter_proto::MessageType::System),
                content: Some("system".into()),
                ..Default::default()
            },
        )
        .await
        .expect("a system message");

    let stats = server.server().admin_stats().await.expect("stats");
    assert_eq!(
        stats.users, 4,
        "alice, bob, carol and dave (added, never seen)"
    );
    assert_eq!(stats.conversations.total, 3);
    assert_eq!(
        (
            stats.conversations.by_type.group,
            stats.conversations.by_type.direct
        ),
        (2, 1)
    );
    assert_eq!(
        (
            stats.conversations.by_status.active,
            stats.conversations.by_status.archived,
            stats.conversations.by_status.blocked
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.messages, 5, "deleted and system messages included");
    assert_eq!(
        (stats.active_users.last_24h, stats.active_users.last_7d),
        (2, 2),
        "alice and bob sent messages; the server is nobody"
    );
    assert_eq!(stats.messages_per_day.len(), 30);
    let today = stats.generated_at.date().to_string();
    assert_eq!(
        stats.messages_per_day.last().map(|day| day.date.clone()),
        Some(today)
    );
    assert_eq!(
        stats
            .messages_per_day
            .iter()
            .map(|day| day.messages)
            .sum::<u64>(),
        5,
        "every message fell in the last 30 days"
    );
    let dates: Vec<_> = stats
        .messages_per_day
        .iter()
        .map(|day| day.date.clone())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(dates, sorted, "30 distinct days, oldest first");

    let admin = server.user_with_role("root", AppRole::Admin);
    assert_eq!(
        admin.admin_stats().await.expect("admin").users,
        5,
        "the admin is a user too"
    );
}
