//! Authentication: every rejection is a 401 with its own code; server keys; JIT users.

use base64::Engine;
use natter_client::{Client, Method};
use natter_proto::{AppRole, UpsertUser};
use natter_testkit::{uid, unix_now, TestServer, API_KEY, JWT_SECRET};

use crate::helpers::status_code;

fn b64(raw: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("encoding a test token")
}

async fn rejection(server: &TestServer, token: &str) -> (u16, String) {
    status_code(Client::new(server.base_url()).with_token(token).me().await)
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_its_own_code() {
    let server = TestServer::spawn().await;
    let now = unix_now();
    let body = b64(&format!(r#"{{"sub":"alice","exp":{}}}"#, now + 600));
    let cases = [
        (
            hs256(
                &serde_json::json!({"sub": "alice", "exp": now - 3600}),
                JWT_SECRET.as_bytes(),
            ),
            "token_expired",
        ),
        (
            hs256(
                &serde_json::json!({"sub": "alice", "exp": now + 600, "nbf": now + 3600}),
                JWT_SECRET.as_bytes(),
            ),
            "token_not_yet_valid",
        ),
        (
            hs256(
                &serde_json::json!({"sub": "alice", "exp": now + 600}),
                b"some-other-secret-of-enough-length",
            ),
            "token_bad_signature",
        ),
        (
            format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), body),
            "token_alg_none",
        ),
        (
            format!("{}.{}.", b64(r#"{"alg":"None"}"#), body),
            "token_alg_none",
        ),
        (
            format!(
                "{}.{}.c2lnbmF0dXJl",
                b64(r#"{"alg":"RS256","typ":"JWT"}"#),
                body
            ),
            "token_wrong_algorithm",
        ),
        (
            format!(
                "{}.{}.c2lnbmF0dXJl",
                b64(r#"{"alg":"HS512","typ":"JWT"}"#),
                body
            ),
            "token_wrong_algorithm",
        ),
        (
            hs256(&serde_json::json!({"sub": "alice"}), JWT_SECRET.as_bytes()),
            "token_invalid_claims",
        ),
        (
            hs256(
                &serde_json::json!({"exp": now + 600}),
                JWT_SECRET.as_bytes(),
            ),
            "token_invalid_claims",
        ),
        (
            hs256(
                &serde_json::json!({"sub": "not valid!", "exp": now + 600}),
                JWT_SECRET.as_bytes(),
            ),
            "token_invalid_claims",
        ),
        (
            hs256(
                &serde_json::json!({"sub": "alice", "exp": now + 600, "role": "emperor"}),
                JWT_SECRET.as_bytes(),
            ),
            "token_invalid_claims",
        ),
        ("a.b.c".to_owned(), "token_malformed"),
        ("x.y.z.w".to_owned(), "token_malformed"),
        ("wrong_server_key_123".to_owned(), "invalid_api_key"),
    ];
    for (token, expected) in cases {
        assert_eq!(
            rejection(&server, &token).await,
            (401, expected.to_owned()),
            "token {token}"
        );
    }
    assert_eq!(
        status_code(server.anonymous().me().await),
        (401, "token_missing".into())
    );
    let basic = server
        .anonymous()
        .raw(Method::GET, "/v1/users/me", None)
        .await
        .expect("response");
    assert_eq!(basic.status, 401);
    assert_eq!(basic.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn valid_token_provisions_the_user_just_in_time_with_claims() {
    let server = TestServer::spawn().await;
    let token = hs256(
        &serde_json::json!({"sub": "vendor-7", "exp": unix_now() + 600, "name": "Vera's Vases", "role": "service_provider"}),
        JWT_SECRET.as_bytes(),
    );
    let vendor = Client::new(server.base_url()).with_token(&token);
    let me = vendor.me().await.expect("me");
    assert_eq!(me.id, uid("vendor-7"));
    assert_eq!(me.display_name.as_deref(), Some("Vera's Vases"));
    assert_eq!(me.role, AppRole::ServiceProvider);
    let seen_by_other = server
        .user("alice")
        .user(&uid("vendor-7"))
        .await
        .expect("profile");
    assert_eq!(seen_by_other.display_name.as_deref(), Some("Vera's Vases"));
}

#[tokio::test]
async fn server_key_upserts_users_and_acts_as_them() {
    let server = TestServer::spawn().await;
    let created = server
        .server()
        .upsert_user(
            &uid("bob"),
            &UpsertUser {
                display_name: Some("Bob".into()),
                avatar_url: Some("https://img.example/b.png".into()),
                role: None,
            },
        )
        .await
        .expect("upsert");
    assert!(created.created);
    assert_eq!(created.value.role, AppRole::User);
    let updated = server
        .server()
        .upsert_user(
            &uid("bob"),
            &UpsertUser {
                role: Some(AppRole::Agent),
                ..Default::default()
            },
        )
        .await
        .expect("upsert again");
    assert!(!updated.created);
    assert_eq!(
        updated.value.display_name.as_deref(),
        Some("Bob"),
        "absent fields are unchanged"
    );
    assert_eq!(updated.value.role, AppRole::Agent);

    let as_bob = server.server().acting_as(&uid("bob"));
    assert_eq!(as_bob.me().await.expect("me as bob").id, uid("bob"));
    assert_eq!(
        status_code(server.server().me().await),
        (403, "user_required".into())
    );
}

#[tokio::test]
async fn only_the_server_key_may_upsert_users_and_acting_needs_the_key() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let admin = server.user_with_role("root", AppRole::Admin);
    for client in [&alice.client, &admin.client] {
        assert_eq!(
            status_code(
                client
                    .upsert_user(&uid("mallory"), &UpsertUser::default())
                    .await
            ),
            (403, "server_key_required".into())
        );
    }
    let impersonating = alice.client.clone().acting_as(&uid("bob"));
    assert_eq!(
        status_code(impersonating.me().await),
        (401, "invalid_acting_user".into())
    );
    let bad_acting = Client::new(server.base_url())
        .with_api_key(API_KEY)
        .acting_as(&uid("ok"));
    assert!(bad_acting.me().await.is_ok());
    let invalid = server
        .server()
        .upsert_user(
            &uid("x"),
            &UpsertUser {
                avatar_url: Some("javascript:alert(1)".into()),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(status_code(invalid), (422, "validation_failed".into()));
}

#[tokio::test]
async fn unknown_users_are_not_found() {
    let server = TestServer::spawn().await;
    assert_eq!(
        status_code(server.user("alice").user(&uid("nobody")).await),
        (404, "user_not_found".into())
    );
}
