//! Conversations: creation rules, uniqueness, by-context, listing, updates, my settings.

use natter_client::ConversationFilter;
use natter_proto::{
    ContextConversation, ContextRef, ConversationStatus, ConversationType, CreateConversation,
    NotificationLevel, ParticipantRole, UpdateConversation, UpdateMySettings,
};
use natter_testkit::TestServer;

use crate::helpers::{direct, group, id, say, status_code};

fn create(kind: ConversationType, ids: &[&str], title: Option<&str>) -> CreateConversation {
    CreateConversation {
        kind,
        participant_ids: ids.iter().map(|raw| id(raw)).collect(),
        title: title.map(str::to_owned),
        description: None,
        avatar_url: None,
        context: None,
    }
}

#[tokio::test]
async fn creating_a_group_makes_the_creator_owner() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let created = alice
        .create_conversation(&create(
            ConversationType::Group,
            &["bob", "carol", "bob"],
            Some(" Trip "),
        ))
        .await
        .expect("create");
    assert!(created.created);
    let conversation = created.value;
    assert_eq!(conversation.title.as_deref(), Some("Trip"));
    assert_eq!(conversation.status, ConversationStatus::Active);
    assert_eq!(conversation.participant_count, 3);
    assert_eq!(
        conversation.me.as_ref().map(|me| me.role),
        Some(ParticipantRole::Owner)
    );
    let participants = conversation.participants.expect("participants");
    assert_eq!(participants.len(), 3);
    assert_eq!(
        participants
            .iter()
            .filter(|p| p.role == ParticipantRole::Owner)
            .count(),
        1
    );
    assert_eq!(
        conversation.latest_event_seq.0, 1,
        "conversation.created is event 1"
    );
    let fetched = server
        .user("bob")
        .conversation(conversation.id)
        .await
        .expect("bob sees it");
    assert_eq!(fetched.me.map(|me| me.role), Some(ParticipantRole::Member));
}

#[tokio::test]
async fn creation_is_validated() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let cases = [
        create(ConversationType::Group, &["bob"], None),
        create(ConversationType::Group, &["bob"], Some("a\u{0}b")),
        create(ConversationType::Group, &["bob"], Some(&"x".repeat(201))),
        create(ConversationType::Direct, &[], None),
        create(ConversationType::Direct, &["alice"], None),
        create(ConversationType::Direct, &["bob", "carol"], None),
        create(ConversationType::Channel, &["bob"], Some("general")),
        CreateConversation {
            avatar_url: Some("ftp://x".into()),
            ..create(ConversationType::Group, &[], Some("t"))
        },
        CreateConversation {
            context: Some(ContextRef {
                kind: "Order".into(),
                id: "1".into(),
            }),
            ..create(ConversationType::Group, &[], Some("t"))
        },
    ];
    for case in cases {
        assert_eq!(
            status_code(alice.create_conversation(&case).await),
            (422, "validation_failed".into()),
            "{case:?}"
        );
    }
    let listed = alice
        .list_conversations(&ConversationFilter::default())
        .await
        .expect("list");
    assert!(
        listed.items.is_empty(),
        "nothing was created by invalid requests"
    );
}

#[tokio::test]
async fn direct_conversations_are_unique_per_pair_and_context() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let first = direct(&alice, &bob).await;
    assert!(first.created);
    let again = direct(&bob, &alice).await;
    assert!(
        !again.created,
        "the second create returns the existing one with 200"
    );
    assert_eq!(again.value.id, first.value.id);
    assert_eq!(again.value.peer_id, Some(alice.id.clone()));
    let order = ContextRef {
        kind: "order".into(),
        id: "123".into(),
    };
    let with_context = alice
        .create_conversation(&CreateConversation {
            context: Some(order.clone()),
            ..create(ConversationType::Direct, &["bob"], None)
        })
        .await
        .expect("create with context");
    assert!(with_context.created);
    assert_ne!(with_context.value.id, first.value.id);
    assert_eq!(with_context.value.context, Some(order));
}

#[tokio::test]
async fn concurrent_direct_creates_yield_one_conversation() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let attempts = (0..10).map(|i| {
        let (a, b) = if i % 2 == 0 {
            (alice.clone(), bob.clone())
        } else {
            (bob.clone(), alice.clone())
        };
        async move { direct(&a, &b).await }
    });
    let results = futures::future::join_all(attempts).await;
    let first = results[0].value.id;
    assert!(results.iter().all(|r| r.value.id == first));
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
}

#[tokio::test]
async fn by_context_upsert_is_idempotent_and_adds_missing_participants() {
    let server = TestServer::spawn().await;
    let request = ContextConversation {
        kind: None,
        participant_ids: vec![id("customer-1"), id("vendor-9")],
        owner_id: None,
        title: None,
        description: Some("Order chat".into()),
    };
    let first = server
        .server()
        .conversation_by_context("order", "A-1001", &request)
        .await
        .expect("create");
    assert!(first.created);
    assert_eq!(first.value.kind, ConversationType::Group);
    assert_eq!(first.value.title.as_deref(), Some("order A-1001"));
    assert_eq!(
        first.value.context,
        Some(ContextRef {
            kind: "order".into(),
            id: "A-1001".into()
        })
    );
    let second = server
        .server()
        .conversation_by_context("order", "A-1001", &request)
        .await
        .expect("again");
    assert!(!second.created);
    assert_eq!(second.value.id, first.value.id);
    assert_eq!(
        second.value.latest_event_seq, first.value.latest_event_seq,
        "an idempotent retry changes nothing"
    );
    let mut with_agent = request.clone();
    with_agent.participant_ids.push(id("agent-3"));
    let third = server
        .server()
        .conversation_by_context("order", "A-1001", &with_agent)
        .await
        .expect("add agent");
    assert_eq!(third.value.participant_count, 3);
    let customer = server.user("customer-1");
    let conversation = customer
        .conversation(first.value.id)
        .await
        .expect("customer sees it");
    assert_eq!(
        conversation.me.map(|me| me.role),
        Some(ParticipantRole::Owner)
    );
    let by_filter = customer
        .list_conversations(&ConversationFilter {
            context_kind: Some("order".into()),
            context_id: Some("A-1001".into()),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert_eq!(by_filter.items.len(), 1);
    assert_eq!(
        status_code(
            customer
                .conversation_by_context("order", "A-1001", &request)
                .await
        ),
        (403, "server_key_required".into())
    );
    assert_eq!(
        status_code(
            server
                .server()
                .conversation_by_context("Bad Kind", "1", &request)
                .await
        )
        .0,
        422
    );
}

#[tokio::test]
async fn list_is_ordered_by_activity_paginated_and_carries_unread_and_preview() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let mut conversations = Vec::new();
    for index in 0..5 {
        conversations.push(group(&bob, &format!("g{index}"), &[&alice]).await);
    }
    say(&bob, &conversations[1], "hello from g1").await;
    say(&bob, &conversations[1], "second").await;
    let first_page = alice
        .list_conversations(&ConversationFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .expect("page 1");
    assert_eq!(first_page.items.len(), 2);
    assert_eq!(
        first_page.items[0].id, conversations[1].id,
        "most recent activity first"
    );
    assert_eq!(first_page.items[0].unread_count, 2);
    let preview = first_page.items[0].last_message.as_ref().expect("preview");
    assert_eq!(preview.text, "second");
    assert_eq!(preview.sender_id, Some(bob.id.clone()));
    let mut seen: Vec<_> = first_page.items.iter().map(|c| c.id).collect();
    let mut cursor = first_page.next.clone();
    while let Some(next) = cursor {
        let page = alice
            .list_conversations(&ConversationFilter {
                limit: Some(2),
                cursor: Some(next),
                ..Default::default()
            })
            .await
            .expect("page");
        seen.extend(page.items.iter().map(|c| c.id));
        cursor = page.next;
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        5,
        "no conversation appears twice across pages"
    );
    let unread = alice
        .list_conversations(&ConversationFilter {
            has_unread: Some(true),
            ..Default::default()
        })
        .await
        .expect("unread");
    assert_eq!(
        unread.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![conversations[1].id]
    );
    let read = alice
        .list_conversations(&ConversationFilter {
            has_unread: Some(false),
            ..Default::default()
        })
        .await
        .expect("read");
    assert_eq!(read.items.len(), 4);
    assert_eq!(
        status_code(
            alice
                .list_conversations(&ConversationFilter {
                    limit: Some(0),
                    ..Default::default()
                })
                .await
        )
        .0,
        422
    );
    assert_eq!(
        status_code(
            alice
                .list_conversations(&ConversationFilter {
                    limit: Some(101),
                    ..Default::default()
                })
                .await
        )
        .0,
        422
    );
    assert_eq!(
        status_code(
            alice
                .list_conversations(&ConversationFilter {
                    cursor: Some("garbage".into()),
                    ..Default::default()
                })
                .await
        )
        .0,
        422
    );
}

#[tokio::test]
async fn list_filters_by_type_and_my_settings() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let d = direct(&alice, &bob).await.value;
    let muted = alice
        .update_my_settings(
            g.id,
            &UpdateMySettings {
                muted: Some(true),
                pinned: Some(true),
                notification_level: Some(NotificationLevel::Mentions),
                ..Default::default()
            },
        )
        .await
        .expect("settings");
    assert!(muted.muted && muted.pinned);
    assert_eq!(muted.notification_level, NotificationLevel::Mentions);
    alice
        .update_my_settings(
            d.id,
            &UpdateMySettings {
                archived: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("archive for me");
    let ids = |page: natter_proto::Page<natter_proto::Conversation>| {
        page.items.into_iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let f = |filter: ConversationFilter| filter;
    assert_eq!(
        ids(alice
            .list_conversations(&f(ConversationFilter {
                kind: Some(ConversationType::Direct),
                ..Default::default()
            }))
            .await
            .expect("l")),
        vec![d.id]
    );
    assert_eq!(
        ids(alice
            .list_conversations(&f(ConversationFilter {
                pinned: Some(true),
                ..Default::default()
            }))
            .await
            .expect("l")),
        vec![g.id]
    );
    assert_eq!(
        ids(alice
            .list_conversations(&f(ConversationFilter {
                muted: Some(true),
                ..Default::default()
            }))
            .await
            .expect("l")),
        vec![g.id]
    );
    assert_eq!(
        ids(alice
            .list_conversations(&f(ConversationFilter {
                muted: Some(false),
                ..Default::default()
            }))
            .await
            .expect("l")),
        vec![d.id]
    );
    assert_eq!(
        ids(alice
            .list_conversations(&f(ConversationFilter {
                archived: Some(true),
                ..Default::default()
            }))
            .await
            .expect("l")),
        vec![d.id]
    );
    assert_eq!(
        ids(alice
            .list_conversations(&f(ConversationFilter {
                archived: Some(false),
                ..Default::default()
            }))
            .await
            .expect("l")),
        vec![g.id]
    );
    // Bob's settings are his own.
    assert!(ids(bob
        .list_conversations(&f(ConversationFilter {
            pinned: Some(true),
            ..Default::default()
        }))
        .await
        .expect("l"))
    .is_empty());
    let unmuted = alice
        .update_my_settings(
            g.id,
            &UpdateMySettings {
                muted: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("unmute");
    assert!(!unmuted.muted && unmuted.muted_until.is_none());
}

#[tokio::test]
async fn timed_mutes_must_end_in_the_future() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let muted = alice
        .update_my_settings(
            g.id,
            &UpdateMySettings {
                muted_until: Some(until),
                ..Default::default()
            },
        )
        .await
        .expect("timed mute");
    assert!(muted.muted);
    assert!(muted.muted_until.is_some());
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    assert_eq!(
        status_code(
            alice
                .update_my_settings(
                    g.id,
                    &UpdateMySettings {
                        muted_until: Some(past),
                        ..Default::default()
                    }
                )
                .await
        )
        .0,
        422
    );
    assert_eq!(
        status_code(
            alice
                .update_my_settings(
                    g.id,
                    &UpdateMySettings {
                        muted: Some(false),
                        muted_until: Some(until),
                        ..Default::default()
                    }
                )
                .await
        )
        .0,
        422
    );
}

#[tokio::test]
async fn owners_and_admins_update_conversations_members_do_not() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "before", &[&bob]).await;
    let update = UpdateConversation {
        title: Some("after".into()),
        description: Some("about".into()),
        ..Default::default()
    };
    assert_eq!(
        status_code(bob.update_conversation(g.id, &update).await),
        (403, "insufficient_role".into())
    );
    let updated = alice
        .update_conversation(g.id, &update)
        .await
        .expect("owner updates");
    assert_eq!(updated.title.as_deref(), Some("after"));
    assert_eq!(updated.description.as_deref(), Some("about"));
    assert!(
        updated.latest_event_seq > g.latest_event_seq,
        "conversation.updated was logged"
    );
    let cleared = alice
        .update_conversation(
            g.id,
            &UpdateConversation {
                description: Some(String::new()),
                ..Default::default()
            },
        )
        .await
        .expect("clear");
    assert_eq!(cleared.description, None);
    assert_eq!(
        status_code(
            alice
                .update_conversation(
                    g.id,
                    &UpdateConversation {
                        trusted: Some(true),
                        ..Default::default()
                    }
                )
                .await
        ),
        (403, "server_key_required".into())
    );
    let trusted = server
        .server()
        .update_conversation(
            g.id,
            &UpdateConversation {
                trusted: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("server trusts");
    assert!(trusted.trusted);
    assert_eq!(
        status_code(
            alice
                .update_conversation(
                    g.id,
                    &UpdateConversation {
                        status: Some(ConversationStatus::Blocked),
                        ..Default::default()
                    }
                )
                .await
        )
        .0,
        422
    );
    let archived = alice.archive_conversation(g.id).await.expect("archive");
    assert_eq!(archived.status, ConversationStatus::Archived);
    assert_eq!(
        status_code(bob.archive_conversation(g.id).await),
        (403, "insufficient_role".into())
    );
    let by_status = bob
        .list_conversations(&ConversationFilter {
            status: Some(ConversationStatus::Archived),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(by_status.items.len(), 1);
}
