//! Membership rules: adding, removing, roles, escalation, leaving with hand-over.

use natter_client::MessageFilter;
use natter_proto::{
    AddParticipants, AppRole, ConversationType, CreateConversation, ParticipantRole,
    UpdateParticipant,
};
use natter_testkit::TestServer;

use crate::helpers::{direct, group, say, status_code};

fn add(ids: &[&natter_testkit::TestUser], role: Option<ParticipantRole>) -> AddParticipants {
    AddParticipants {
        user_ids: ids.iter().map(|u| u.id.clone()).collect(),
        role,
    }
}

fn role(role: ParticipantRole) -> UpdateParticipant {
    UpdateParticipant { role }
}

#[tokio::test]
async fn owner_adds_members_and_admins_and_new_members_start_read() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol, dave) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
        server.user("dave"),
    );
    let g = group(&alice, "g", &[&bob]).await;
    say(&alice, &g, "before carol joined").await;
    let added = alice
        .add_participants(g.id, &add(&[&carol, &bob], None))
        .await
        .expect("add");
    assert_eq!(added.len(), 1, "bob was already in and is left alone");
    assert_eq!(added[0].role, ParticipantRole::Member);
    let carol_view = carol.conversation(g.id).await.expect("carol is in");
    assert_eq!(
        carol_view.unread_count, 0,
        "history before joining is not unread"
    );
    let admin = alice
        .add_participants(g.id, &add(&[&dave], Some(ParticipantRole::Admin)))
        .await
        .expect("owner grants admin");
    assert_eq!(admin[0].role, ParticipantRole::Admin);
    assert_eq!(
        alice
            .conversation(g.id)
            .await
            .expect("get")
            .participant_count,
        4
    );
}

#[tokio::test]
async fn nobody_grants_a_role_above_their_own() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol, dave, erin) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
        server.user("dave"),
        server.user("erin"),
    );
    let g = group(&alice, "g", &[&bob]).await;
    alice
        .add_participants(g.id, &add(&[&carol], Some(ParticipantRole::Admin)))
        .await
        .expect("carol admin");
    // A member may not add anyone.
    assert_eq!(
        status_code(bob.add_participants(g.id, &add(&[&dave], None)).await),
        (403, "insufficient_role".into())
    );
    // An admin adds members but may not grant admin or owner.
    carol
        .add_participants(g.id, &add(&[&dave], None))
        .await
        .expect("admin adds a member");
    assert_eq!(
        status_code(
            carol
                .add_participants(g.id, &add(&[&erin], Some(ParticipantRole::Admin)))
                .await
        ),
        (403, "role_escalation".into())
    );
    assert_eq!(
        status_code(
            alice
                .add_participants(g.id, &add(&[&erin], Some(ParticipantRole::Owner)))
                .await
        ),
        (403, "role_escalation".into())
    );
    // Only the owner changes roles; an admin cannot promote or demote.
    assert_eq!(
        status_code(
            carol
                .update_participant(g.id, &bob.id, &role(ParticipantRole::Admin))
                .await
        ),
        (403, "role_escalation".into())
    );
    assert_eq!(
        status_code(
            bob.update_participant(g.id, &dave.id, &role(ParticipantRole::Admin))
                .await
        ),
        (403, "insufficient_role".into())
    );
    assert_eq!(
        status_code(
            alice
                .update_participant(g.id, &bob.id, &role(ParticipantRole::Owner))
                .await
        ),
        (403, "role_escalation".into())
    );
    assert_eq!(
        status_code(
            carol
                .update_participant(g.id, &alice.id, &role(ParticipantRole::Member))
                .await
        ),
        (403, "owner_protected".into())
    );
    let promoted = alice
        .update_participant(g.id, &bob.id, &role(ParticipantRole::Admin))
        .await
        .expect("owner promotes");
    assert_eq!(promoted.role, ParticipantRole::Admin);
    let demoted = alice
        .update_participant(g.id, &bob.id, &role(ParticipantRole::Member))
        .await
        .expect("owner demotes");
    assert_eq!(demoted.role, ParticipantRole::Member);
    assert_eq!(
        status_code(
            alice
                .update_participant(g.id, &erin.id, &role(ParticipantRole::Admin))
                .await
        ),
        (404, "participant_not_found".into())
    );
    let roles: Vec<_> = alice
        .participants(g.id)
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|p| (p.user_id.to_string(), p.role))
        .collect();
    assert!(roles.contains(&("alice".into(), ParticipantRole::Owner)));
    assert!(roles.contains(&("bob".into(), ParticipantRole::Member)));
    assert!(roles.contains(&("carol".into(), ParticipantRole::Admin)));
    assert!(!roles.iter().any(|(id, _)| id == "erin"));
}

#[tokio::test]
async fn removal_follows_rank_and_the_owner_is_untouchable() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol, dave) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
        server.user("dave"),
    );
    let g = group(&alice, "g", &[&bob, &dave]).await;
    alice
        .add_participants(g.id, &add(&[&carol], Some(ParticipantRole::Admin)))
        .await
        .expect("carol admin");
    assert_eq!(
        status_code(bob.remove_participant(g.id, &dave.id).await),
        (403, "insufficient_role".into())
    );
    assert_eq!(
        status_code(carol.remove_participant(g.id, &alice.id).await),
        (403, "owner_protected".into())
    );
    let other_admin = server.user("olga");
    alice
        .add_participants(g.id, &add(&[&other_admin], Some(ParticipantRole::Admin)))
        .await
        .expect("olga admin");
    assert_eq!(
        status_code(carol.remove_participant(g.id, &other_admin.id).await),
        (403, "insufficient_role".into())
    );
    carol
        .remove_participant(g.id, &dave.id)
        .await
        .expect("admin removes a member");
    assert_eq!(
        status_code(dave.conversation(g.id).await),
        (404, "conversation_not_found".into())
    );
    assert_eq!(
        status_code(dave.send_text(g.id, "still here?").await),
        (404, "conversation_not_found".into())
    );
    assert_eq!(
        status_code(carol.remove_participant(g.id, &dave.id).await),
        (404, "participant_not_found".into())
    );
    let moderator = server.user_with_role("mod", AppRole::Admin);
    moderator
        .remove_participant(g.id, &carol.id)
        .await
        .expect("app admin removes an admin");
    assert_eq!(
        status_code(moderator.remove_participant(g.id, &alice.id).await),
        (403, "owner_protected".into())
    );
    // A removed member can be added back.
    alice
        .add_participants(g.id, &add(&[&dave], None))
        .await
        .expect("re-add");
    assert!(dave.conversation(g.id).await.is_ok());
}

#[tokio::test]
async fn an_owner_leaving_hands_over_to_the_longest_standing_admin_else_member() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol, dave) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
        server.user("dave"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    alice
        .add_participants(g.id, &add(&[&dave], Some(ParticipantRole::Admin)))
        .await
        .expect("dave admin");
    alice.leave(g.id).await.expect("owner leaves");
    let participants = bob.participants(g.id).await.expect("list").items;
    let owner = participants
        .iter()
        .find(|p| p.role == ParticipantRole::Owner)
        .expect("an owner");
    assert_eq!(owner.user_id, dave.id, "the admin takes over");
    assert!(!participants.iter().any(|p| p.user_id == alice.id));
    dave.leave(g.id).await.expect("new owner leaves");
    let participants = bob.participants(g.id).await.expect("list").items;
    let owner = participants
        .iter()
        .find(|p| p.role == ParticipantRole::Owner)
        .expect("an owner");
    assert_eq!(owner.user_id, bob.id, "then the longest-standing member");
    carol.leave(g.id).await.expect("member leaves");
    assert_eq!(
        status_code(carol.leave(g.id).await),
        (404, "conversation_not_found".into())
    );
    assert_eq!(
        bob.conversation(g.id).await.expect("get").participant_count,
        1
    );
}

#[tokio::test]
async fn direct_conversations_have_fixed_members() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let d = direct(&alice, &bob).await.value;
    assert_eq!(
        status_code(alice.add_participants(d.id, &add(&[&carol], None)).await),
        (403, "direct_conversation_fixed".into())
    );
    assert_eq!(
        status_code(alice.remove_participant(d.id, &bob.id).await),
        (403, "direct_conversation_fixed".into())
    );
    assert_eq!(
        status_code(alice.leave(d.id).await),
        (403, "direct_conversation_fixed".into())
    );
}

#[tokio::test]
async fn agents_may_join_support_conversations_others_may_not_see_them() {
    let server = TestServer::spawn().await;
    let customer = server.user("customer");
    let agent = server.user_with_role("agent-1", AppRole::Agent);
    let stranger = server.user("stranger");
    let support = customer
        .create_conversation(&CreateConversation {
            kind: ConversationType::Support,
            participant_ids: vec![],
            title: Some("Refund".into()),
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .expect("support")
        .value;
    say(&customer, &support, "I need help").await;
    assert_eq!(
        status_code(stranger.conversation(support.id).await),
        (404, "conversation_not_found".into())
    );
    assert!(
        agent.conversation(support.id).await.is_ok(),
        "agents can look at support conversations"
    );
    let page = agent
        .list_messages(support.id, &MessageFilter::default())
        .await
        .expect("agents read support conversations before joining");
    let texts: Vec<_> = page.items.iter().map(|m| m.content.as_deref()).collect();
    assert_eq!(texts, [Some("I need help")]);
    assert_eq!(
        status_code(
            stranger
                .list_messages(support.id, &MessageFilter::default())
                .await
        ),
        (404, "conversation_not_found".into())
    );
    assert_eq!(
        status_code(agent.send_text(support.id, "hi").await),
        (403, "not_participant".into())
    );
    let joined = agent
        .add_participants(support.id, &add(&[&agent], None))
        .await
        .expect("agent joins");
    assert_eq!(joined[0].user_id, agent.id);
    agent
        .send_text(support.id, "How can I help?")
        .await
        .expect("agent posts after joining");
    assert_eq!(
        status_code(
            agent
                .add_participants(support.id, &add(&[&stranger], None))
                .await
        ),
        (403, "insufficient_role".into())
    );
}

/// The member list is paged, longest-standing first (join time, then user id): every
/// member once across the pages, also when someone leaves between two pages; a bad cursor
/// or limit is a 422 naming the field.
#[tokio::test]
async fn participants_come_in_pages_longest_standing_first() {
    let server = TestServer::spawn().await;
    let owner = server.user("owner");
    // Names in reverse of joining order, so that join time and name order differ.
    let first: Vec<_> = (0..60).map(|n| server.user(&format!("z{n:02}"))).collect();
    let second: Vec<_> = (0..60).map(|n| server.user(&format!("a{n:02}"))).collect();
    let g = group(&owner, "big", &[]).await;
    for batch in [&first, &second] {
        let users: Vec<_> = batch.iter().collect();
        owner
            .add_participants(g.id, &add(&users, None))
            .await
            .expect("add");
    }
    // A single conversation's answer embeds the first 100 and counts them all.
    let one = second[0].conversation(g.id).await.expect("get");
    let embedded: Vec<String> = one
        .participants
        .expect("embedded")
        .iter()
        .map(|p| p.user_id.to_string())
        .collect();
    assert_eq!(embedded.len(), natter_app::EMBEDDED_PARTICIPANTS as usize);
    assert_eq!(one.participant_count, 121);
    assert_eq!(embedded[0], "owner");
    assert_eq!(
        embedded[1..61],
        first.iter().map(|u| u.id.to_string()).collect::<Vec<_>>()[..]
    );
    assert_eq!(embedded[99], second[38].id.to_string());
    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = second[7]
            .participants_page(g.id, cursor.as_deref(), Some(50))
            .await
            .expect("page");
        sizes.push(page.items.len());
        listed.extend(page.items);
        if sizes.len() == 1 {
            // Someone already listed and someone not yet listed leave between pages.
            first[3].leave(g.id).await.expect("leave");
            second[55].leave(g.id).await.expect("leave");
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    let ids: Vec<String> = listed.iter().map(|p| p.user_id.to_string()).collect();
    let mut expected = vec!["owner".to_owned()];
    expected.extend(first.iter().map(|u| u.id.to_string()));
    expected.extend(
        second
            .iter()
            .filter(|u| u.id != second[55].id)
            .map(|u| u.id.to_string()),
    );
    assert_eq!(
        ids, expected,
        "by join time (each batch at once), then user id"
    );
    let default = owner.participants(g.id).await.expect("first page");
    assert_eq!(default.items.len(), 50, "50 by default");
    assert!(default.next.is_some());
    for (cursor, limit, field) in [
        (Some("bm90IGEgY3Vyc29y"), None, "cursor"),
        (None, Some(0), "limit"),
        (None, Some(101), "limit"),
    ] {
        let refused = owner
            .participants_page(g.id, cursor, limit)
            .await
            .expect_err("refused");
        assert_eq!(refused.status(), Some(422), "{field}");
        let fields: Vec<_> = refused
            .problem()
            .map(|p| p.errors.iter().map(|e| e.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(fields, [field]);
    }
}

/// A group created with 100 others whose ids sort before its creator's (all join at the
/// same time, ties by user id): the answer embeds the first 100, which leave the creator
/// out, and still carries the creator's own settings.
#[tokio::test]
async fn the_creator_of_a_large_group_gets_their_own_state_back() {
    let server = TestServer::spawn().await;
    let creator = server.user("zz-creator");
    let others: Vec<_> = (0..100).map(|n| server.user(&format!("a{n:03}"))).collect();
    let created = creator
        .create_conversation(&CreateConversation {
            kind: ConversationType::Group,
            participant_ids: others.iter().map(|u| u.id.clone()).collect(),
            title: Some("large".into()),
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .expect("create")
        .value;
    assert_eq!(created.participant_count, 101);
    let embedded = created.participants.expect("embedded");
    assert_eq!(embedded.len(), 100);
    assert!(!embedded.iter().any(|p| p.user_id == creator.id));
    assert!(created.me.is_some(), "the creator's own state");
}
