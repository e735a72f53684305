//! Conversation settings: versioned, validated, with history.

use natter_proto::{event_type, EventSeq, UpdateSettings};
use natter_testkit::TestServer;

use crate::helpers::{group, status_code};

fn update(settings: serde_json::Value, version: Option<u64>) -> UpdateSettings {
    UpdateSettings { settings, version }
}

#[tokio::test]
async fn settings_change_by_version_and_keep_a_history() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let initial = bob.conversation_settings(g.id).await.expect("get");
    assert_eq!(
        (initial.version, initial.settings.clone()),
        (0, serde_json::json!({}))
    );
    let first = alice
        .update_conversation_settings(
            g.id,
            &update(
                serde_json::json!({"color": "#12ab34", "theme": {"dark": true}}),
                Some(0),
            ),
        )
        .await
        .expect("first change");
    assert_eq!(first.version, 1);
    assert_eq!(first.updated_by, Some(alice.id.clone()));
    let stale = alice
        .update_conversation_settings(
            g.id,
            &update(serde_json::json!({"color": "#000000"}), Some(0)),
        )
        .await;
    assert_eq!(status_code(stale), (409, "version_conflict".into()));
    let second = alice
        .update_conversation_settings(g.id, &update(serde_json::json!({"color": "#ffffff", "theme": null, "notification_level": "mentions"}), Some(1)))
        .await
        .expect("second change");
    assert_eq!(second.version, 2);
    assert_eq!(
        second.settings,
        serde_json::json!({"color": "#ffffff", "notification_level": "mentions"})
    );
    let history = bob.settings_history(g.id).await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1].changes["color"],
        serde_json::json!({"from": "#12ab34", "to": "#ffffff"})
    );
    assert_eq!(
        history[1].changes["theme"],
        serde_json::json!({"from": {"dark": true}, "to": null})
    );
    let events = bob.events(g.id, EventSeq(0), None).await.expect("events");
    let updated = events
        .events
        .iter()
        .rev()
        .find(|e| e.kind == event_type::CONVERSATION_UPDATED)
        .expect("logged");
    assert_eq!(updated.data["settings_version"], 2);
    assert_eq!(updated.data["settings"]["color"], "#ffffff");
}

#[tokio::test]
async fn settings_are_validated_and_only_managers_change_them() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    assert_eq!(
        status_code(
            bob.update_conversation_settings(
                g.id,
                &update(serde_json::json!({"color": "#ffffff"}), None)
            )
            .await
        ),
        (403, "insufficient_role".into())
    );
    for bad in [
        serde_json::json!({"color": "red"}),
        serde_json::json!({"notification_level": "loud"}),
        serde_json::json!({"blob": "x".repeat(5000)}),
        serde_json::json!(["not", "an", "object"]),
    ] {
        assert_eq!(
            status_code(
                alice
                    .update_conversation_settings(g.id, &update(bad.clone(), None))
                    .await
            ),
            (422, "validation_failed".into()),
            "{bad}"
        );
    }
    assert_eq!(
        alice
            .conversation_settings(g.id)
            .await
            .expect("get")
            .version,
        0,
        "nothing was stored"
    );
    let response = alice
        .raw(
            natter_client::Method::PATCH,
            &format!("/v1/conversations/{}/settings", g.id),
            Some(natter_client::RawBody::json_text(
                r##"{"settings":{"color":"#010203"}}"##,
            )),
        )
        .await
        .expect("response");
    assert_eq!(
        response.status, 200,
        "without a version the change applies to the current one"
    );
    assert_eq!(
        status_code(server.user("zed").conversation_settings(g.id).await).0,
        404
    );
}
