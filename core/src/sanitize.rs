//! Names and annotation keys made acceptable to X-Ray (PROTOCOL.md §1.7, §1.12).
//!
//! Each function returns the cleaned text and whether anything changed, so callers can log a
//! warning instead of silently altering user input.

use std::borrow::Cow;

/// Longest entity name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Name used when nothing usable is left of the given one.
pub const FALLBACK_NAME: &str = "unnamed";
/// Longest annotation key (schema).
pub const MAX_ANNOTATION_KEY_CHARS: usize = 500;
/// Longest annotation string value (schema).
pub const MAX_ANNOTATION_VALUE_CHARS: usize = 1000;
/// Longest `http.request.*` string and `user` (schema).
pub const MAX_SHORT_FIELD_CHARS: usize = 250;

const ASCII_NAME_CHARS: [bool; 128] = {
    let mut table = [false; 128];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        table[i] = c.is_ascii_alphanumeric();
        i += 1;
    }
    let symbols = b" _.:/%&#=+-@";
    let mut j = 0;
    while j < symbols.len() {
        table[symbols[j] as usize] = true;
        j += 1;
    }
    table
};

/// [`ASCII_NAME_CHARS`] indexed by any byte: false for every non-ASCII byte, so the fast path
/// needs no separate ASCII check.
const NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 128 {
        table[i] = ASCII_NAME_CHARS[i];
        i += 1;
    }
    table
};

/// Bytes of an annotation key X-Ray indexes: `[A-Za-z0-9_]`.
const KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 128 {
        table[i] = (i as u8).is_ascii_alphanumeric() || i as u8 == b'_';
        i += 1;
    }
    table
};

/// True for characters the documented name charset allows: Unicode letters and digits,
/// the space separator, and `_ . : / % & # = + - @`, as the published schema's pattern spells
/// them out (see [`crate::name_charset`]). (The docs also list `\`, but the schema rejects
/// it, so it is removed.)
fn name_char_allowed(c: char) -> bool {
    if c.is_ascii() {
        ASCII_NAME_CHARS[c as usize]
    } else {
        crate::name_charset::allowed(c)
    }
}

/// Strips characters outside the name charset, truncates to 200 characters and falls back to
/// [`FALLBACK_NAME`] when nothing is left.
pub fn entity_name(raw: &str) -> (Cow<'_, str>, bool) {
    // Fast path: short ASCII names made only of allowed characters (the common case).
    let bytes = raw.as_bytes();
    if bytes.len() <= MAX_NAME_CHARS
        && bytes
            .iter()
            .fold(true, |ok, b| ok & NAME_BYTES[*b as usize])
        && bytes.iter().any(|b| *b != b' ')
    {
        return (Cow::Borrowed(raw), false);
    }
    let fits = raw.chars().take(MAX_NAME_CHARS + 1).count() <= MAX_NAME_CHARS;
    if fits && !raw.trim().is_empty() && raw.chars().all(name_char_allowed) {
        return (Cow::Borrowed(raw), false);
    }
    let cleaned: String = raw
        .chars()
        .filter(|c| name_char_allowed(*c))
        .take(MAX_NAME_CHARS)
        .collect();
    if cleaned.trim().is_empty() {
        return (Cow::Owned(FALLBACK_NAME.to_string()), true);
    }
    (Cow::Owned(cleaned), true)
}

/// Replaces every character outside `[A-Za-z0-9_]` with `_` and truncates to 500 characters.
/// Returns None for an empty key (nothing to sanitize into).
pub fn annotation_key(raw: &str) -> Option<(Cow<'_, str>, bool)> {
    if raw.is_empty() {
        return None;
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if raw.len() <= MAX_ANNOTATION_KEY_CHARS
        && raw.bytes().fold(true, |ok, b| ok & KEY_BYTES[b as usize])
    {
        return Some((Cow::Borrowed(raw), false));
    }
    let cleaned: String = raw
        .chars()
        .take(MAX_ANNOTATION_KEY_CHARS)
        .map(|c| if ok(c) { c } else { '_' })
        .collect();
    Some((Cow::Owned(cleaned), true))
}

/// Where `s` must be cut to keep at most `max_chars` characters (None: it is short enough).
pub fn char_cut(s: &str, max_chars: usize) -> Option<usize> {
    if s.len() <= max_chars {
        // Never more characters than bytes.
        return None;
    }
    s.char_indices().nth(max_chars).map(|(cut, _)| cut)
}

/// Truncates `s` to at most `max_chars` characters.
pub fn truncate_chars(s: &str, max_chars: usize) -> (Cow<'_, str>, bool) {
    match char_cut(s, max_chars) {
        None => (Cow::Borrowed(s), false),
        Some(cut) => (Cow::Owned(s[..cut].to_string()), true),
    }
}

/// Cuts `s` in place to at most `max_chars` characters (no copy).
pub fn cut_chars_in_place(s: &mut String, max_chars: usize) {
    if let Some(cut) = char_cut(s, max_chars) {
        s.truncate(cut);
    }
}

/// Cuts `s` to at most `max_bytes` bytes on a character boundary.
pub fn truncate_bytes(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut cut = max_bytes;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(entity_name("## app.handler").0, "## app.handler");
        assert_eq!(entity_name("a?b*c(d)!").0, "abcd");
        assert_eq!(entity_name("").0, FALLBACK_NAME);
        assert_eq!(entity_name("???").0, FALLBACK_NAME);
        assert_eq!(entity_name(&"x".repeat(300)).0.chars().count(), 200);
        assert_eq!(entity_name("café").0, "café");
        assert_eq!(entity_name("tab\there").0, "tabhere");
    }

    #[test]
    fn keys() {
        assert_eq!(annotation_key("ok_key1").unwrap().0, "ok_key1");
        let (k, changed) = annotation_key("a-b.c d").unwrap();
        assert_eq!(k, "a_b_c_d");
        assert!(changed);
        assert!(annotation_key("").is_none());
    }
}
