//! Free text sent to another system (an LMS profile field, a Personio document title or
//! comment): one line, no control characters, at most a documented number of characters. The
//! same rule serves both directions, so a course name and a department are cleaned alike.
//!
//! Limits: Personio documents its document `title` as at most 255 characters
//! ([`crate::ports::MAX_DOCUMENT_TITLE_CHARS`]) and the `comment` without a limit. SCIM sets no
//! limit, but LMSs do (Moodle keeps names in 100 characters, most keep other text in 255), so
//! names are cut at [`MAX_NAME_CHARS`] and other LMS text at [`MAX_TEXT_CHARS`].

/// Given, family and display names sent to the LMS.
pub const MAX_NAME_CHARS: usize = 100;
/// Other text sent to the LMS (position, department, team, office, custom attributes), and a
/// course name inside a Personio document comment.
pub const MAX_TEXT_CHARS: usize = 255;

/// Control characters (C0, DEL, C1) and the bidirectional embedding, override and isolate
/// marks, which can make a name display as something else; line breaks and tabs count as
/// spaces.
fn is_dropped(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` on one line: whitespace runs (line breaks included) become one space, control and
/// bidi-override characters are dropped, the ends are trimmed.
pub fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = true;
        } else if !is_dropped(c) {
            if pending_space && !line.is_empty() {
                line.push(' ');
            }
            pending_space = false;
            line.push(c);
        }
    }
    line
}

/// [`one_line`], cut to at most `max_chars` characters: at a word boundary when one keeps most
/// of the text, with "…" marking the cut.
pub fn bounded(text: &str, max_chars: usize) -> String {
    let line = one_line(text);
    if line.chars().count() <= max_chars || max_chars == 0 {
        return if max_chars == 0 { String::new() } else { line };
    }
    // Room for the ellipsis. Cutting by chars never splits a UTF-8 sequence.
    let kept: String = line.chars().take(max_chars - 1).collect();
    let cut = match kept.rfind(' ') {
        Some(space) if kept[..space].chars().count() >= max_chars * 3 / 4 => &kept[..space],
        _ => kept.as_str(),
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-'))
    )
}

/// [`bounded`], or `None` when nothing is left (absent, blank or only control characters).
pub fn bounded_non_empty(text: Option<&str>, max_chars: usize) -> Option<String> {
    text.map(|text| bounded(text, max_chars))
        .filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_breaks_do_not_pass() {
        assert_eq!(one_line("  Fire\nsafety \t 2026 "), "Fire safety 2026");
        assert_eq!(one_line("An\u{0}na\u{7}"), "Anna");
        assert_eq!(one_line("Jo\u{202E}nah\u{2066}"), "Jonah");
        assert_eq!(one_line("\u{85}Zoë\u{9F}"), "Zoë");
        assert_eq!(one_line("a\r\n\r\nb"), "a b");
        assert_eq!(bounded_non_empty(Some("\u{0}\u{1} \n"), 10), None);
        assert_eq!(bounded_non_empty(None, 10), None);
    }

    #[test]
    fn long_text_is_cut_at_a_word_boundary() {
        let long = "Arbeitssicherheit ".repeat(20);
        let cut = bounded(&long, 255);
        assert!(cut.chars().count() <= 255);
        assert!(cut.ends_with("Arbeitssicherheit…"), "{cut}");
        let name = "x".repeat(5000);
        assert_eq!(
            bounded(&name, MAX_NAME_CHARS).chars().count(),
            MAX_NAME_CHARS
        );
    }

    #[test]
    fn text_without_spaces_is_cut_at_a_char_boundary() {
        let long = "ü".repeat(300);
        let cut = bounded(&long, 255);
        assert_eq!(cut.chars().count(), 255);
        assert!(cut.ends_with("ü…"));
        let exactly = "a".repeat(255);
        assert_eq!(bounded(&exactly, 255), exactly);
        assert_eq!(bounded("abc", 0), "");
    }
}
