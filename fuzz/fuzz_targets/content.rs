//! Fuzzes the send pipeline's text steps: `natter_app::content::message_content` (NFC,
//! control characters, length), then masking. Validation must not panic; valid content
//! must stay valid (and unchanged) when validated again, and masked content must still
//! pass validation: masking never produces content the server would reject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_app::content::message_content;
use natter_app::pii::{mask, PiiRules};

const LIMIT: usize = 4000;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(content) = message_content(raw, LIMIT) else {
        return;
    };
    assert!(content.chars().count() <= LIMIT);
    assert_eq!(message_content(&content, LIMIT).as_ref(), Ok(&content));
    let masked = mask(&content, &PiiRules::default(), false, LIMIT);
    assert!(
        message_content(&masked.text, LIMIT).is_ok(),
        "masking {content:?} gave invalid content {:?}",
        masked.text
    );
});
