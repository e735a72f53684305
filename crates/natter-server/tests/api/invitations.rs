//! Invitation links and their abuse cases.

use natter_proto::{ConversationType, CreateConversation, CreateInvitation, ParticipantRole};
use natter_testkit::TestServer;

use crate::helpers::{direct, group, say, status_code};

#[tokio::test]
async fn an_invitation_admits_users_up_to_its_limit() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol, dave) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
        server.user("dave"),
    );
    let g = group(&alice, "g", &[]).await;
    say(&alice, &g, "before the invitation").await;
    let invitation = alice
        .create_invitation(
            g.id,
            &CreateInvitation {
                expires_in_secs: Some(3600),
                max_uses: Some(2),
            },
        )
        .await
        .expect("create");
    assert_eq!(
        (invitation.uses, invitation.max_uses, invitation.revoked),
        (0, Some(2), false)
    );
    let joined = bob
        .accept_invitation(&invitation.token)
        .await
        .expect("bob joins");
    assert_eq!(joined.id, g.id);
    assert_eq!(
        joined.me.as_ref().map(|me| me.role),
        Some(ParticipantRole::Member)
    );
    assert_eq!(
        joined.unread_count, 0,
        "history before joining is not unread"
    );
    bob.accept_invitation(&invitation.token)
        .await
        .expect("accepting again is harmless");
    carol
        .accept_invitation(&invitation.token)
        .await
        .expect("carol joins");
    assert_eq!(
        status_code(dave.accept_invitation(&invitation.token).await),
        (410, "invitation_exhausted".into())
    );
    let listed = alice.list_invitations(g.id).await.expect("list");
    assert_eq!(
        listed.items[0].uses, 2,
        "a repeat accept by a member used nothing"
    );
    assert_eq!(
        alice
            .conversation(g.id)
            .await
            .expect("get")
            .participant_count,
        3
    );
}

#[tokio::test]
async fn tampered_revoked_and_expired_invitations_are_refused() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob]).await;
    let other = group(&carol, "other", &[]).await;
    let invitation = alice
        .create_invitation(g.id, &CreateInvitation::default())
        .await
        .expect("create");
    let mut forged = invitation.token.clone();
    forged.pop();
    forged.push(if invitation.token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    assert_eq!(
        status_code(carol.accept_invitation(&forged).await),
        (404, "invitation_not_found".into())
    );
    assert_eq!(
        status_code(carol.accept_invitation("inv.garbage.garbage").await).0,
        404
    );
    assert_eq!(
        status_code(carol.accept_invitation("not-a-token").await).0,
        404
    );
    // A token for one conversation cannot be re-pointed at another.
    let other_invitation = carol
        .create_invitation(other.id, &CreateInvitation::default())
        .await
        .expect("other");
    let spliced = format!(
        "inv.{}.{}",
        other_invitation.token.split('.').nth(1).unwrap_or_default(),
        invitation.token.split('.').nth(2).unwrap_or_default()
    );
    assert_eq!(status_code(bob.accept_invitation(&spliced).await).0, 404);
    alice
        .revoke_invitation(g.id, &invitation.id)
        .await
        .expect("revoke");
    assert_eq!(
        status_code(carol.accept_invitation(&invitation.token).await),
        (410, "invitation_revoked".into())
    );
    let short = alice
        .create_invitation(
            g.id,
            &CreateInvitation {
                expires_in_secs: Some(60),
                max_uses: None,
            },
        )
        .await
        .expect("short");
    assert!(short.expires_at > short.created_at);
    for bad in [
        CreateInvitation {
            expires_in_secs: Some(10),
            max_uses: None,
        },
        CreateInvitation {
            expires_in_secs: None,
            max_uses: Some(0),
        },
    ] {
        assert_eq!(
            status_code(alice.create_invitation(g.id, &bad).await).0,
            422
        );
    }
    assert_eq!(
        carol
            .conversation(g.id)
            .await
            .map(|_| ())
            .map_err(|e| e.status()),
        Err(Some(404)),
        "carol never got in"
    );
}

#[tokio::test]
async fn only_owners_and_admins_manage_invitations() {
    let server = TestServer::spawn().await;
    let (alice, bob, zed) = (server.user("alice"), server.user("bob"), server.user("zed"));
    let g = group(&alice, "g", &[&bob]).await;
    assert_eq!(
        status_code(
            bob.create_invitation(g.id, &CreateInvitation::default())
                .await
        ),
        (403, "insufficient_role".into())
    );
    assert_eq!(
        status_code(bob.list_invitations(g.id).await),
        (403, "insufficient_role".into())
    );
    assert_eq!(
        status_code(
            zed.create_invitation(g.id, &CreateInvitation::default())
                .await
        ),
        (404, "conversation_not_found".into())
    );
    let invitation = alice
        .create_invitation(g.id, &CreateInvitation::default())
        .await
        .expect("create");
    assert_eq!(
        status_code(bob.revoke_invitation(g.id, &invitation.id).await).0,
        403
    );
    assert_eq!(
        status_code(alice.revoke_invitation(g.id, "not-an-id").await).0,
        404
    );
    let d = direct(&alice, &bob).await.value;
    assert_eq!(
        status_code(
            alice
                .create_invitation(d.id, &CreateInvitation::default())
                .await
        ),
        (403, "direct_conversation_fixed".into())
    );
    let support = alice
        .create_conversation(&CreateConversation {
            kind: ConversationType::Support,
            participant_ids: vec![],
            title: None,
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .expect("support")
        .value;
    assert!(alice
        .create_invitation(support.id, &CreateInvitation::default())
        .await
        .is_ok());
    assert_eq!(
        server
            .anonymous()
            .accept_invitation(&invitation.token)
            .await
            .map_err(|e| e.status())
            .err(),
        Some(Some(401))
    );
}
