//! Fuzzes `natter_app::pii::mask` with arbitrary text and limits: it must not panic, must
//! report exactly whether it changed the text, and must never return more characters
//! than the limit when the input fits in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_app::pii::{mask, PiiPolicy, PiiRules};

fuzz_target!(|data: &[u8]| {
    let Some((&limit, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let limit = usize::from(limit).max(1) * 16;
    let rules = PiiRules::new(PiiPolicy::Always, ["shop.example.com".to_owned()]);
    let masked = mask(text, &rules, false, limit);
    assert_eq!(masked.masked, masked.text != text);
    if text.chars().count() <= limit {
        assert!(
            masked.text.chars().count() <= limit,
            "{text:?} grew to {:?}",
            masked.text
        );
    }
    let off = mask(text, &PiiRules::new(PiiPolicy::Off, []), false, limit);
    assert_eq!(off.text, text);
    assert!(!off.masked);
});
