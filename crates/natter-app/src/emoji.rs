//! Reaction validation: one emoji grapheme cluster, or a `:shortcode:`.

use unicode_segmentation::UnicodeSegmentation;

/// Whether `c` can be the base of an emoji.
fn is_emoji_base(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF       // pictographs, emoticons, transport, symbols, flags' letters
        | 0x2600..=0x27BF       // miscellaneous symbols, dingbats
        | 0x2300..=0x23FF       // technical (⌚ ⏰ …)
        | 0x2B00..=0x2BFF       // arrows and stars (⭐ ⬆ …)
        | 0x2190..=0x21FF       // arrows
        | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x24C2 | 0x25AA..=0x25FE)
}

/// Whether `c` may follow the base inside one emoji: joiners, variation selectors, skin
/// tones, keycap, tags, or another pictograph joined by ZWJ.
fn is_emoji_continuation(c: char) -> bool {
    matches!(
        c as u32,
        0x200D | 0xFE0F | 0xFE0E | 0x20E3 | 0xE0020..=0xE007F
    ) || is_emoji_base(c)
}

/// Accepts one emoji grapheme cluster (ZWJ sequences, skin tones, flags, keycaps) or a
/// `:shortcode:` of `[a-z0-9_+-]{1,32}`; returns a reason otherwise.
pub fn validate(raw: &str) -> Result<(), (&'static str, String)> {
    if let Some(code) = raw
        .strip_prefix(':')
        .and_then(|rest| rest.strip_suffix(':'))
    {
        let ok = (1..=32).contains(&code.len())
            && code.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-')
            });
        return if ok {
            Ok(())
        } else {
            Err((
                "invalid_shortcode",
                "shortcodes are :[a-z0-9_+-]{1,32}:".into(),
            ))
        };
    }
    let mut graphemes = raw.graphemes(true);
    let (Some(cluster), None) = (graphemes.next(), graphemes.next()) else {
        return Err((
            "not_one_emoji",
            "a reaction is exactly one emoji or a :shortcode:".into(),
        ));
    };
    let mut chars = cluster.chars();
    let Some(first) = chars.next() else {
        return Err(("not_one_emoji", "empty reaction".into()));
    };
    let keycap =
        (first.is_ascii_digit() || first == '#' || first == '*') && cluster.ends_with('\u{20E3}');
    let regional = |c: char| (0x1F1E6..=0x1F1FF).contains(&(c as u32));
    if regional(first) && !(cluster.chars().count() == 2 && cluster.chars().all(regional)) {
        return Err((
            "not_one_emoji",
            "a flag is two regional indicator letters".into(),
        ));
    }
    if !(is_emoji_base(first) || keycap) || !chars.all(is_emoji_continuation) || cluster.len() > 64
    {
        return Err((
            "not_one_emoji",
            "a reaction is exactly one emoji or a :shortcode:".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn single_emojis_of_every_shape_are_accepted() {
        for ok in [
            "👍",
            "❤️",
            "😂",
            "🎉",
            "👍🏽",
            "👩‍👩‍👧‍👦",
            "🧑🏿‍🚀",
            "🏳️‍🌈",
            "🇩🇪",
            "🇯🇵",
            "1️⃣",
            "#️⃣",
            "⭐",
            "✅",
            "☕",
            ":thumbsup:",
            ":+1:",
            ":party_parrot:",
            ":x-2:",
        ] {
            assert!(validate(ok).is_ok(), "{ok:?} should be accepted");
        }
    }

    #[test]
    fn text_and_several_emojis_are_rejected() {
        for bad in [
            "",
            "a",
            "ok",
            "👍👍",
            "👍 ",
            " 👍",
            "1",
            "🇩",
            "::",
            ":UPPER:",
            ":has space:",
            ":a",
            "a:",
            &format!(":{}:", "x".repeat(33)),
            "<script>",
            "\u{200D}",
            "\u{FE0F}",
            "é",
            "👍a",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
