//! Case-insensitive wildcard patterns, as the X-Ray SDKs match sampling rules.
//!
//! `*` matches any run of characters (also none), `?` exactly one character, everything else
//! itself, ignoring case. Matching is on characters (Unicode scalar values), the documented
//! semantics; Go's SDK matches bytes, so `?` against `é` differs there. A character is folded
//! with its lowercase mapping when that is a single character (so `É` = `é`, Kelvin sign = `k`)
//! and kept as is otherwise. The pattern `*` matches everything; the empty pattern only the
//! empty text. Matching is greedy with backtracking to the last `*`: linear for the usual
//! patterns, never worse than text × pattern.
//!
//! Each pattern also offers a [`Prefix`]: its literal start (before any wildcard), folded,
//! packed into two words. [`crate::sampling::matcher`] uses it to rule out most rules with a
//! few integer operations before running the full match.

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: Box<str>,
    /// Folded pattern bytes, when the pattern is ASCII (the fast path).
    ascii: Option<Box<[u8]>>,
    /// Folded pattern characters (every pattern has them; used when text or pattern is not ASCII).
    chars: Box<[char]>,
    any: bool,
    prefix: Prefix,
}

/// The first up to 16 bytes of a pattern's literal start, folded, with the mask of the bytes
/// that are fixed. Text whose folded first 16 bytes do not agree cannot match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefix {
    pub key: [u64; 2],
    pub mask: [u64; 2],
}

impl Prefix {
    /// True when text with these leading bytes (see [`text_key`]) may match.
    #[inline]
    pub fn admits(&self, text: [u64; 2]) -> bool {
        ((text[0] & self.mask[0]) ^ self.key[0]) | ((text[1] & self.mask[1]) ^ self.key[1]) == 0
    }
}

fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let chars: Box<[char]> = pattern.chars().map(fold).collect();
        let ascii = pattern
            .is_ascii()
            .then(|| pattern.bytes().map(|b| b.to_ascii_lowercase()).collect());
        let mut prefix = Prefix::default();
        // The literal start, up to the first wildcard or non-ASCII character (a non-ASCII text
        // character may fold to ASCII, so only ASCII is safe to require byte for byte).
        for (i, b) in pattern.bytes().take(16).enumerate() {
            if b == b'*' || b == b'?' || !b.is_ascii() {
                break;
            }
            let shift = (i % 8) * 8;
            prefix.key[i / 8] |= u64::from(b.to_ascii_lowercase()) << shift;
            prefix.mask[i / 8] |= 0xff << shift;
        }
        Pattern {
            source: pattern.into(),
            ascii,
            chars,
            any: pattern == "*",
            prefix,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True for the pattern `*`.
    pub fn matches_anything(&self) -> bool {
        self.any
    }

    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    /// Whether `text` matches, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        if self.any {
            return true;
        }
        if let (Some(p), true) = (&self.ascii, text.is_ascii()) {
            return wildcard(p, text.as_bytes(), b'*', b'?', |p, t| {
                p == t.to_ascii_lowercase()
            });
        }
        let text: Vec<char> = text.chars().collect();
        wildcard(&self.chars, &text, '*', '?', |p, t| p == fold(t))
    }
}

/// The first 16 bytes of `text`, ASCII-folded and zero-padded, for [`Prefix::admits`]. None
/// when one of them is not ASCII (then no prefix test is safe).
#[inline]
pub fn text_key(text: &str) -> Option<[u64; 2]> {
    let bytes = text.as_bytes();
    let mut buf = [0u8; 16];
    let n = bytes.len().min(16);
    buf[..n].copy_from_slice(&bytes[..n]);
    let words = [
        u64::from_le_bytes(buf[..8].try_into().unwrap_or_default()),
        u64::from_le_bytes(buf[8..].try_into().unwrap_or_default()),
    ];
    // Non-ASCII in the first 16 bytes: a character there might fold to ASCII.
    if (words[0] | words[1]) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    Some([ascii_lower(words[0]), ascii_lower(words[1])])
}

/// Lowercases the ASCII letters of eight ASCII bytes at once.
#[inline]
fn ascii_lower(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // For bytes < 0x80: bit 7 of (b + 0x3f) is set for b >= 'A', of (b + 0x25) for b > 'Z'.
    let ge_a = x.wrapping_add(ONES * 0x3f);
    let gt_z = x.wrapping_add(ONES * 0x25);
    let upper = (ge_a ^ gt_z) & (ONES * 0x80);
    x | (upper >> 2)
}

/// Greedy wildcard matching with backtracking to the last star.
fn wildcard<T: Copy + PartialEq>(
    pattern: &[T],
    text: &[T],
    star: T,
    one: T,
    same: impl Fn(T, T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(&c) if c == star => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == one || same(c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                // Let the last star swallow one more character and retry after it.
                Some((sp, st)) => {
                    last_star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Pattern::new(p).matches(t)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("/api/*", "/api/"));
        assert!(m("/api/*", "/API/Move/1"));
        assert!(!m("/api/*", "/ap"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*.example.com", "www.Example.COM"));
        assert!(!m("*.example.com", "example.com"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("*a*a*a*", "aaa"));
        assert!(!m("*a*a*a*", "aa"));
        assert!(m("??", "éé"));
        assert!(!m("?", "éé"));
        assert!(m("ÉCOLE*", "école/1"));
        assert!(m("k*", "\u{212A}elvin"));
        assert!(m("GET", "get"));
        assert!(!m("GET", "GETS"));
        assert!(m("a\\*", "a\\xyz"));
    }

    #[test]
    fn prefixes_never_rule_out_a_match() {
        let cases = [
            ("/api/users/*", "/API/users/7", true),
            ("/api/users/*", "/api/orders/7", false),
            (
                "host-with-a-long-name.example.com",
                "HOST-WITH-A-LONG-NAME.example.com",
                true,
            ),
            ("get", "GET", true),
            ("get", "GE", false),
            ("*", "x", true),
            ("", "", true),
            ("a?c", "abc", true),
        ];
        for (p, t, expect) in cases {
            let pat = Pattern::new(p);
            let admitted = text_key(t).is_none_or(|k| pat.prefix().admits(k));
            assert_eq!(admitted && pat.matches(t), expect, "{p} {t}");
            if pat.matches(t) {
                assert!(admitted, "{p} {t}");
            }
        }
        assert_eq!(text_key("é"), None);
        assert_eq!(
            ascii_lower(u64::from_le_bytes(*b"AZaz@[`{")),
            u64::from_le_bytes(*b"azaz@[`{")
        );
    }
}
