//! PII masking: the masker's decisions as a table (true and false positives), its
//! properties (never panics, never grows content past the limit, stable when applied
//! twice), and masking on send through the API under each policy.

use natter_app::pii::{mask, PiiPolicy, PiiRules};
use natter_proto::{MessageType, SendMessage, UpdateConversation};
use natter_server::config::PiiPolicyConfig;
use natter_testkit::TestServer;
use proptest::prelude::*;

use crate::helpers::{direct, group, say};

/// The allowlist every table case runs with.
const ALLOWED: &str = "shop.example.com";

fn rules() -> PiiRules {
    PiiRules::new(PiiPolicy::Untrusted, [ALLOWED.to_owned()])
}

/// What the masker does with each input in an untrusted conversation.
const CASES: &[(&str, &str)] = &[
    // Emails.
    ("mail me at john@example.com", "mail me at j***@e***.com"),
    ("JOHN.DOE@Example.CO.UK please", "J***@E***.uk please"),
    ("john+tag@mail.example.org.", "j***@m***.org."),
    ("(jane_d@example.io)", "(j***@e***.io)"),
    ("a@b.co", "a***@b***.co"),
    ("jürgen@beispiel.de", "j***@b***.de"),
    // Obfuscated emails.
    ("john at example dot com", "j***@e***.com"),
    ("john [at] example [dot] com", "j***@e***.com"),
    ("john(at)example(dot)com", "j***@e***.com"),
    ("john @ example . com", "j***@e***.com"),
    ("john{at}example{dot}de", "j***@e***.de"),
    ("JOHN AT EXAMPLE DOT COM", "J***@E***.com"),
    ("write to john at example.com", "write to j***@e***.com"),
    ("john@example[dot]com", "j***@e***.com"),
    ("anna [at] beispiel punkt de", "a***@b***.de"),
    // Phone numbers.
    ("Call +44 20 7946 0958 today", "Call ***-**** today"),
    ("(555) 123-4567", "***-****"),
    ("+1 (555) 123-4567", "***-****"),
    ("555-123-4567", "***-****"),
    ("555.123.4567", "***-****"),
    ("555 123 4567", "***-****"),
    ("0171 1234567", "***-****"),
    ("030/1234567", "***-****"),
    ("+49 30 1234567", "***-****"),
    ("+49 (0)30 1234567", "***-****"),
    ("06 12 34 56 78", "***-****"),
    ("612 345 678", "***-****"),
    ("07946095819", "***-****"),
    ("call 5551234567", "call ***-****"),
    ("Tel.: 0049 30 1234567", "Tel.: ***-****"),
    ("my number is 555-1234", "my number is ***-****"),
    ("phone no. 555 123 4567", "phone no. ***-****"),
    // Links.
    ("https://example.com/path?x=1", "[link removed]"),
    ("see http://evil.example.org.", "see [link removed]."),
    ("www.example.com", "[link removed]"),
    ("WWW.EXAMPLE.COM", "[link removed]"),
    ("visit example.com/offer now", "visit [link removed] now"),
    ("bit.ly/3xYz", "[link removed]"),
    ("shop.de", "[link removed]"),
    ("my site is example.io", "my site is [link removed]"),
    ("192.168.0.1", "[link removed]"),
    ("http://10.0.0.1:8080/admin", "[link removed]"),
    ("10.0.0.1:8080", "[link removed]"),
    ("(https://example.com/a_(b))", "([link removed])"),
    ("https://evilshop.example.com", "[link removed]"),
    (
        "Mixed: a@b.co and 555-123-4567 and www.x.io",
        "Mixed: a***@b***.co and ***-**** and [link removed]",
    ),
    // The allowlist keeps its domains and subdomains.
    (
        "https://shop.example.com/item/5551234567",
        "https://shop.example.com/item/5551234567",
    ),
    ("help@shop.example.com", "help@shop.example.com"),
    ("www.shop.example.com/faq", "www.shop.example.com/faq"),
    // Dates, times, prices, references and other numbers stay.
    ("Meeting on 2024-01-15", "Meeting on 2024-01-15"),
    (
        "Meeting on 15.01.2024 at 10:30",
        "Meeting on 15.01.2024 at 10:30",
    ),
    ("due 01/15/2024", "due 01/15/2024"),
    ("2024-01-15 10:30", "2024-01-15 10:30"),
    ("15.01.2024 10.30", "15.01.2024 10.30"),
    ("open 10:30-11:45", "open 10:30-11:45"),
    ("open 10.30-11.45", "open 10.30-11.45"),
    ("order #123-456", "order #123-456"),
    ("Order #123-4567-89", "Order #123-4567-89"),
    ("Bestellnummer 0301234567", "Bestellnummer 0301234567"),
    ("invoice 555-123-4567", "invoice 555-123-4567"),
    ("Kundennummer 12345678", "Kundennummer 12345678"),
    ("ISBN 978-3-16-148410-0", "ISBN 978-3-16-148410-0"),
    ("price $1,299.99", "price $1,299.99"),
    ("€ 1.299,00", "€ 1.299,00"),
    ("1 299 000 €", "1 299 000 €"),
    ("costs 1.299.000 EUR", "costs 1.299.000 EUR"),
    ("USD 1 500 000", "USD 1 500 000"),
    ("$1 234 567", "$1 234 567"),
    ("from 1990-2005", "from 1990-2005"),
    ("pi is 3.14159265", "pi is 3.14159265"),
    ("sizes 10 12 14 16", "sizes 10 12 14 16"),
    ("12345 Berlin", "12345 Berlin"),
    ("4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("Room 101, floor 3", "Room 101, floor 3"),
    ("1920x1080", "1920x1080"),
    ("score 3-2", "score 3-2"),
    ("call me at 5 pm", "call me at 5 pm"),
    // Words with dots and at signs that are not hosts or emails.
    ("version 1.2.3", "version 1.2.3"),
    ("e.g. this, i.e. that", "e.g. this, i.e. that"),
    ("z.B. morgen, d.h. bald", "z.B. morgen, d.h. bald"),
    ("see main.rs and setup.py", "see main.rs and setup.py"),
    ("Node.js and ASP.NET", "Node.js and ASP.NET"),
    ("ok.so what", "ok.so what"),
    ("end.Next sentence", "end.Next sentence"),
    ("meet me at home. We go", "meet me at home. We go"),
    ("look at this", "look at this"),
    ("@alice hello", "@alice hello"),
    ("user@localhost", "user@localhost"),
    // What was masked stays as it is.
    ("[link removed] and ***-****", "[link removed] and ***-****"),
    ("j***@e***.com", "j***@e***.com"),
];

#[test]
fn the_masker_decides_every_case_of_the_table() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let rules = rules();
    let wrong: Vec<String> = CASES
        .iter()
        .filter_map(|(input, expected)| {
            let masked = mask(input, &rules, false, 4000);
            let should_mask = input != expected;
            (masked.text != *expected || masked.masked != should_mask).then(|| {
                format!(
                    "{input:?}: got {:?} (masked: {}), want {expected:?}",
                    masked.text, masked.masked
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        CASES.len(),
        wrong.join("\n")
    );
}

/// Content as users write it: words, numbers, and the characters PII is made of.
fn content() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,8}",
        "[0-9]{1,5}",
        Just(" ".to_owned()),
        Just("@".to_owned()),
        Just(".".to_owned()),
        Just("-".to_owned()),
        Just("+".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("/".to_owned()),
        Just(" at ".to_owned()),
        Just(" dot ".to_owned()),
        Just("[at]".to_owned()),
        Just("www.".to_owned()),
        Just("https://".to_owned()),
        Just(".com".to_owned()),
        Just(".de".to_owned()),
        Just("ä".to_owned()),
        Just("会".to_owned()),
        "\\PC{1,3}",
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Sentences of words, numbers and PII separated by spaces: what a second masking (an
/// edit that keeps the masked parts) sees. Glued adversarial text is the other
/// properties' job.
fn sentence() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-zA-Zäöü]{1,8}",
        "[0-9]{1,6}",
        Just("john@example.com".to_owned()),
        Just("a@b.co".to_owned()),
        Just("+44".to_owned()),
        Just("(555)".to_owned()),
        Just("123-4567".to_owned()),
        Just("0171".to_owned()),
        Just("www.example.com".to_owned()),
        Just("https://evil.example.org/x".to_owned()),
        Just("shop.example.com/faq".to_owned()),
        Just("example.de".to_owned()),
        Just("192.168.0.1".to_owned()),
        Just("at".to_owned()),
        Just("dot".to_owned()),
        Just("[at]".to_owned()),
        Just("(dot)".to_owned()),
        Just("@".to_owned()),
        Just(".".to_owned()),
        Just("order".to_owned()),
        Just("#123-456".to_owned()),
        Just("2024-01-15".to_owned()),
        Just("10:30-11:45".to_owned()),
        Just("€".to_owned()),
        Just("1.299,00".to_owned()),
        Just("会议".to_owned()),
    ];
    proptest::collection::vec(word, 0..30).prop_map(|words| words.join(" "))
}

/// Inputs the properties below once failed on, kept as plain cases (the properties do
/// not write regression files).
#[test]
fn masking_twice_changes_nothing_more_for_past_failures() {
    for text in [
        "at [at] 0171 dot at dot https://evil.example.org/x",
        "ä.com/https://-",
        "A.com.https://[at]",
        "https://[at]ä.com+@ ",
        "123-4567 192.168.0.1",
        "order example.de 123-4567",
        "a@b.co john@example.com 123-4567 order 123-4567",
        "000000 123-4567 @ example.de",
        "order example.de äAüä example.de (555) 2024-01-15 0171",
        "john@example.com @ ü . at",
    ] {
        let once = mask(text, &rules(), false, 100_000).text;
        let twice = mask(&once, &rules(), false, 100_000).text;
        assert_eq!(twice, once, "from {text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn masking_never_grows_content_past_the_limit(text in content(), limit in 1usize..120) {
        let text: String = text.chars().take(limit).collect();
        for policy in [PiiPolicy::Untrusted, PiiPolicy::Always] {
            let rules = PiiRules::new(policy, [ALLOWED.to_owned()]);
            let masked = mask(&text, &rules, false, limit);
            prop_assert!(masked.text.chars().count() <= limit, "{:?} -> {:?}", text, masked.text);
            prop_assert_eq!(masked.masked, masked.text != text);
        }
    }

    #[test]
    fn masking_twice_changes_nothing_more(text in sentence()) {
        let once = mask(&text, &rules(), false, 100_000).text;
        let twice = mask(&once, &rules(), false, 100_000).text;
        prop_assert_eq!(&twice, &once, "from {:?}", text);
    }

    #[test]
    fn masking_never_panics_on_any_text(text in "\\PC{0,200}|[ -~]{0,200}") {
        let masked = mask(&text, &rules(), false, 4000);
        prop_assert!(masked.text.chars().count() <= text.chars().count().max(4000));
    }
}

async fn spawn(policy: PiiPolicyConfig, allowed: &[&str]) -> TestServer {
    let allowed: Vec<String> = allowed.iter().map(|d| (*d).to_owned()).collect();
    TestServer::spawn_with(move |config| {
        config.pii.policy = policy;
        config.pii.allowed_domains = allowed;
    })
    .await
}

const LEAKY: &str = "mail john@example.com or call +44 20 7946 0958, see www.example.com";
const MASKED: &str = "mail j***@e***.com or call ***-****, see [link removed]";

#[tokio::test]
async fn messages_in_untrusted_conversations_are_stored_masked() {
    let server = spawn(PiiPolicyConfig::Untrusted, &[]).await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let sent = say(&alice, &g, LEAKY).await;
    assert_eq!(sent.content.as_deref(), Some(MASKED));
    assert!(sent.pii_masked);
    let stored = bob.message(sent.id).await.expect("get");
    assert_eq!(stored.content.as_deref(), Some(MASKED));
    assert!(stored.pii_masked);
    let clean = say(&alice, &g, "see you at 10:30 on 2024-01-15").await;
    assert!(!clean.pii_masked);
}

#[tokio::test]
async fn trusted_conversations_are_exempt_under_the_untrusted_policy() {
    let server = spawn(PiiPolicyConfig::Untrusted, &[]).await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let trusted = UpdateConversation {
        trusted: Some(true),
        ..Default::default()
    };
    server
        .server()
        .update_conversation(g.id, &trusted)
        .await
        .expect("the server API marks the conversation trusted");
    let sent = say(&alice, &g, LEAKY).await;
    assert_eq!(sent.content.as_deref(), Some(LEAKY));
    assert!(!sent.pii_masked);
}

#[tokio::test]
async fn the_always_policy_masks_trusted_conversations_too() {
    let server = spawn(PiiPolicyConfig::Always, &[]).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let trusted = UpdateConversation {
        trusted: Some(true),
        ..Default::default()
    };
    server
        .server()
        .update_conversation(g.id, &trusted)
        .await
        .expect("trusted");
    let sent = say(&alice, &g, LEAKY).await;
    assert_eq!(sent.content.as_deref(), Some(MASKED));
    assert!(sent.pii_masked);
}

#[tokio::test]
async fn the_off_policy_stores_content_as_sent() {
    let server = spawn(PiiPolicyConfig::Off, &[]).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let sent = say(&alice, &g, LEAKY).await;
    assert_eq!(sent.content.as_deref(), Some(LEAKY));
    assert!(!sent.pii_masked);
}

#[tokio::test]
async fn allowed_domains_are_kept() {
    let server = spawn(PiiPolicyConfig::Untrusted, &["example.com"]).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let sent = say(
        &alice,
        &g,
        "help: https://help.example.com/faq or support@example.com, not evil.io/x",
    )
    .await;
    assert_eq!(
        sent.content.as_deref(),
        Some("help: https://help.example.com/faq or support@example.com, not [link removed]")
    );
    assert!(sent.pii_masked);
}

#[tokio::test]
async fn system_messages_from_the_host_app_are_not_masked() {
    let server = spawn(PiiPolicyConfig::Always, &[]).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let request = SendMessage {
        kind: Some(MessageType::System),
        content: Some(
            "Order A-1 shipped; questions: support@shop.example or +1 555 123 4567".into(),
        ),
        ..Default::default()
    };
    let sent = server
        .server()
        .send_message(g.id, &request)
        .await
        .expect("system message")
        .value;
    assert!(!sent.pii_masked);
    assert!(sent
        .content
        .is_some_and(|c| c.contains("support@shop.example")));
}

#[tokio::test]
async fn masking_applies_to_direct_messages_and_leaves_them_within_the_limit() {
    let server = TestServer::spawn_with(|config| config.limits.max_message_chars = 20).await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let direct = direct(&alice, &bob).await.value;
    // Three short hosts: "[link removed]" three times would be 46 characters.
    let sent = say(&alice, &direct, "a.io b.io c.io d.io").await;
    assert!(sent.pii_masked);
    let content = sent.content.expect("content");
    assert!(content.chars().count() <= 20, "{content:?}");
    assert_eq!(content, "*** *** *** ***");
}

#[tokio::test]
async fn edits_are_masked_like_sends() {
    let server = spawn(PiiPolicyConfig::Untrusted, &[]).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let sent = say(&alice, &g, "see you tomorrow").await;
    assert!(!sent.pii_masked);
    let edited = alice
        .edit_message(sent.id, "see you tomorrow, john@example.com")
        .await
        .expect("edit");
    assert_eq!(
        edited.content.as_deref(),
        Some("see you tomorrow, j***@e***.com")
    );
    assert!(edited.pii_masked);
}
