//! One check for the names (and other short texts) people type into Confidant, shared by every
//! layer that takes one: the booking forms, the lobby and walk-in names of the call, counsellor,
//! team and signer names. It sits below all of them and depends on nothing.
//!
//! Refused everywhere: control characters (except a line break in multi-line text), the
//! Unicode bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069),
//! and the line and paragraph separators (U+2028, U+2029). Bidi controls make a name display
//! differently from what it says ("Trojan Source", CVE-2021-42574): a lobby entry could show
//! another name than the one typed, or reorder the text around it. Lengths are counted in
//! characters (Unicode scalar values), after trimming.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Empty after trimming.
    Empty,
    /// More characters than allowed.
    TooLong,
    /// A control, bidi or separator character.
    Forbidden,
}

impl Problem {
    /// The field-error code the forms use for it.
    pub fn code(self) -> &'static str {
        match self {
            Problem::Empty => "required",
            Problem::TooLong => "too_long",
            Problem::Forbidden => "control_characters",
        }
    }
}

/// Whether `c` may not appear in typed text; `\n` is allowed only where `multiline`.
pub fn is_forbidden(c: char, multiline: bool) -> bool {
    (c.is_control() && !(multiline && c == '\n'))
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// Whether `s` holds a character [`is_forbidden`] refuses.
pub fn has_forbidden(s: &str, multiline: bool) -> bool {
    s.chars().any(|c| is_forbidden(c, multiline))
}

/// Checks a name (one line): trimmed, 1 to `max_chars` characters, nothing forbidden. Returns
/// the trimmed name.
pub fn check_name(raw: &str, max_chars: usize) -> Result<String, Problem> {
    let name = raw.trim();
    if name.is_empty() {
        Err(Problem::Empty)
    } else if name.chars().count() > max_chars {
        Err(Problem::TooLong)
    } else if has_forbidden(name, false) {
        Err(Problem::Forbidden)
    } else {
        Ok(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(check_name("  Dr. Weiß ", 8).as_deref(), Ok("Dr. Weiß"));
        assert_eq!(check_name("   ", 8), Err(Problem::Empty));
        assert_eq!(check_name("ÄÖÜäöüßé", 8).as_deref(), Ok("ÄÖÜäöüßé"));
        assert_eq!(check_name("ÄÖÜäöüßéx", 8), Err(Problem::TooLong));
    }

    #[test]
    fn every_bidi_override_and_isolate_is_refused_in_a_name() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(
                check_name(&format!("Alex{c}nimda"), 80),
                Err(Problem::Forbidden),
                "U+{:04X}",
                c as u32
            );
        }
        assert_eq!(check_name("a\u{2028}b", 80), Err(Problem::Forbidden));
        assert_eq!(check_name("a\u{7}b", 80), Err(Problem::Forbidden));
        assert_eq!(check_name("a\nb", 80), Err(Problem::Forbidden));
        // Right-to-left scripts themselves are fine.
        assert_eq!(check_name("سارا", 80).as_deref(), Ok("سارا"));
        assert_eq!(check_name("שרה כהן", 80).as_deref(), Ok("שרה כהן"));
    }

    #[test]
    fn a_line_break_is_allowed_only_in_multiline_text() {
        assert!(!has_forbidden("a\nb", true));
        assert!(has_forbidden("a\r\nb", true));
        assert!(has_forbidden("a\u{202E}b", true));
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_name_holds_nothing_forbidden(s in "\\PC{0,100}") {
            if let Ok(n) = check_name(&s, 80) {
                proptest::prop_assert!(!n.is_empty() && n.chars().count() <= 80);
                proptest::prop_assert!(!n.chars().any(|c| is_forbidden(c, false)));
            }
        }
    }
}
