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
//! Each pattern also offers two [`Window`]s: its literal start (before any wildcard) and its
//! literal end (after the last wildcard), folded and packed into two words each.
//! [`crate::sampling::matcher`] uses them to rule out most rules with a few integer operations
//! before running the full match.

/// The common forms of ASCII patterns, matched without the general algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// `*`.
    Any,
    /// No wildcard: the text must equal it.
    Exact(Box<[u8]>),
    /// `literal*`.
    Prefix(Box<[u8]>),
    /// `*literal`.
    Suffix(Box<[u8]>),
    General,
}

impl Shape {
    fn of(pattern: &str) -> Shape {
        let wild = |b: &u8| *b == b'*' || *b == b'?';
        let bytes = pattern.as_bytes();
        if pattern == "*" {
            return Shape::Any;
        }
        if !pattern.is_ascii() {
            return Shape::General;
        }
        let lower = |b: &[u8]| b.to_ascii_lowercase().into_boxed_slice();
        match bytes.iter().filter(|b| wild(b)).count() {
            0 => Shape::Exact(lower(bytes)),
            1 if bytes.last() == Some(&b'*') => Shape::Prefix(lower(&bytes[..bytes.len() - 1])),
            1 if bytes.first() == Some(&b'*') => Shape::Suffix(lower(&bytes[1..])),
            _ => Shape::General,
        }
    }

    /// Some(answer) when the shape decides for `text`; None when the general algorithm must
    /// (the text has non-ASCII where it matters, which might fold to ASCII).
    #[inline]
    fn decide(&self, text: &str) -> Option<bool> {
        let t = text.as_bytes();
        let same = |a: &[u8], lit: &[u8]| a.eq_ignore_ascii_case(lit);
        match self {
            Shape::Any => Some(true),
            Shape::Exact(lit) => {
                if t.len() == lit.len() && same(t, lit) {
                    Some(true)
                } else {
                    text.is_ascii().then_some(false)
                }
            }
            Shape::Prefix(lit) => {
                let head = &t[..lit.len().min(t.len())];
                if head.len() == lit.len() && same(head, lit) {
                    Some(true)
                } else {
                    head.is_ascii().then_some(false)
                }
            }
            Shape::Suffix(lit) => {
                let tail = &t[t.len().saturating_sub(lit.len())..];
                if tail.len() == lit.len() && same(tail, lit) {
                    Some(true)
                } else {
                    text.is_ascii().then_some(false)
                }
            }
            Shape::General => None,
        }
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: Box<str>,
    shape: Shape,
    /// Folded pattern bytes, when the pattern is ASCII (the fast path).
    ascii: Option<Box<[u8]>>,
    /// Folded pattern characters (every pattern has them; used when text or pattern is not ASCII).
    chars: Box<[char]>,
}

/// The bytes a pattern fixes in a 16-byte window of the text, folded, with the mask of the
/// fixed bytes: the first 16 bytes ([`Pattern::head`], compared with [`head_key`]) or the last
/// 16, right-aligned ([`Pattern::tail`], [`tail_key`]). Text whose window disagrees cannot
/// match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub key: [u64; 2],
    pub mask: [u64; 2],
}

impl Window {
    fn fix(&mut self, position: usize, byte: u8) {
        let shift = (position % 8) * 8;
        self.key[position / 8] |= u64::from(byte.to_ascii_lowercase()) << shift;
        self.mask[position / 8] |= 0xff << shift;
    }

    /// True when text with this window (see [`head_key`], [`tail_key`]) may match.
    #[inline]
    pub fn admits(&self, text: [u64; 2]) -> bool {
        ((text[0] & self.mask[0]) ^ self.key[0]) | ((text[1] & self.mask[1]) ^ self.key[1]) == 0
    }
}

fn is_literal(b: &u8) -> bool {
    *b != b'*' && *b != b'?' && b.is_ascii()
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
        Pattern {
            source: pattern.into(),
            shape: Shape::of(pattern),
            ascii,
            chars,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True for the pattern `*`.
    pub fn matches_anything(&self) -> bool {
        self.shape == Shape::Any
    }

    /// The bytes this pattern fixes at the start of the text: its literal start, up to a
    /// wildcard or a non-ASCII character (a non-ASCII text character may fold to ASCII, so
    /// only ASCII is safe to require byte for byte).
    pub fn head(&self) -> Window {
        let mut head = Window::default();
        let bytes = self.source.bytes().take(16).take_while(is_literal);
        bytes.enumerate().for_each(|(i, b)| head.fix(i, b));
        head
    }

    /// The bytes this pattern fixes at the end of the text (right-aligned in the window).
    pub fn tail(&self) -> Window {
        let mut tail = Window::default();
        let bytes = self.source.bytes().rev().take(16).take_while(is_literal);
        bytes.enumerate().for_each(|(i, b)| tail.fix(15 - i, b));
        tail
    }

    /// Whether `text` matches, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        if let Some(answer) = self.shape.decide(text) {
            return answer;
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

/// The first 16 bytes of `text`, ASCII-folded and zero-padded at the end, for
/// [`Window::admits`] against [`Pattern::head`]. None when one of them is not ASCII (then no
/// byte-wise test is safe).
#[inline]
pub fn head_key(text: &str) -> Option<[u64; 2]> {
    folded(first_16_bytes(text.as_bytes()))
}

/// The last 16 bytes of `text`, ASCII-folded and zero-padded at the start, for
/// [`Window::admits`] against [`Pattern::tail`]. None when one of them is not ASCII.
#[inline]
pub fn tail_key(text: &str) -> Option<[u64; 2]> {
    let b = text.as_bytes();
    let n = b.len();
    let words = if n >= 16 {
        let r64 = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        [r64(n - 16), r64(n - 8)]
    } else if n == 0 {
        [0, 0]
    } else {
        // Shift the short text to the end of the window.
        let [lo, hi] = first_16_bytes(b);
        let v = (u128::from(hi) << 64 | u128::from(lo)) << ((16 - n) * 8);
        [v as u64, (v >> 64) as u64]
    };
    folded(words)
}

#[inline]
fn folded(words: [u64; 2]) -> Option<[u64; 2]> {
    // A non-ASCII byte in the window: a character there might fold to ASCII.
    if (words[0] | words[1]) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    Some([ascii_lower(words[0]), ascii_lower(words[1])])
}

/// The first 16 bytes of `b` as two little-endian words, zero-padded, without a byte loop or
/// a `memcpy` call: short inputs are read as two overlapping loads.
#[inline]
fn first_16_bytes(b: &[u8]) -> [u64; 2] {
    let n = b.len();
    let r64 = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let r32 = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[i..i + 4]);
        u64::from(u32::from_le_bytes(w))
    };
    match n {
        16.. => [r64(0), r64(8)],
        9..=15 => [r64(0), r64(n - 8) >> ((16 - n) * 8)],
        8 => [r64(0), 0],
        4..=7 => [r32(0) | (r32(n - 4) << ((n - 4) * 8)), 0],
        1..=3 => {
            let mut w = u64::from(b[0]);
            w |= u64::from(b[n / 2]) << ((n / 2) * 8);
            w |= u64::from(b[n - 1]) << ((n - 1) * 8);
            [w, 0]
        }
        0 => [0, 0],
    }
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
        assert!(m("*.com", "x.COM") && !m("*.com", ".co") && m("*.com", "é.com"));
        assert!(m("K", "\u{212A}") && m("k*", "\u{212A}x") && m("*k", "x\u{212A}"));
        assert!(!m("ab*", "a") && !m("abc", "ab") && !m("*abc", "bc"));
    }

    /// The shortcut shapes agree with the general algorithm.
    #[test]
    fn shapes_agree_with_the_general_algorithm() {
        let patterns = [
            "GET",
            "/api/*",
            "*.example.com",
            "*",
            "a?c",
            "",
            "*x*",
            "É*",
        ];
        let texts = [
            "get",
            "GET",
            "/API/x",
            "/api",
            "www.example.com",
            "example.com",
            "",
            "abc",
            "éx",
            "x",
        ];
        for p in patterns {
            let pat = Pattern::new(p);
            for t in texts {
                let chars: Vec<char> = t.chars().collect();
                let general = wildcard(&pat.chars, &chars, '*', '?', |p, t| p == fold(t));
                assert_eq!(pat.matches(t), general, "{p:?} {t:?}");
            }
        }
    }

    #[test]
    fn windows_never_rule_out_a_match() {
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
            let admitted = head_key(t).is_none_or(|k| pat.head().admits(k))
                && tail_key(t).is_none_or(|k| pat.tail().admits(k));
            assert_eq!(admitted && pat.matches(t), expect, "{p} {t}");
            if pat.matches(t) {
                assert!(admitted, "{p} {t}");
            }
        }
        assert_eq!(head_key("é"), None);
        assert_eq!(tail_key("xé"), None);
        for n in 0..40 {
            let text: String = (0..n).map(|i| (b'A' + i as u8 % 26) as char).collect();
            let mut expect = [0u8; 16];
            for (slot, b) in expect.iter_mut().zip(text.to_ascii_lowercase().bytes()) {
                *slot = b;
            }
            let key = head_key(&text).unwrap();
            let mut got = [0u8; 16];
            got[..8].copy_from_slice(&key[0].to_le_bytes());
            got[8..].copy_from_slice(&key[1].to_le_bytes());
            assert_eq!(got, expect, "{n}");
            let lower = text.to_ascii_lowercase();
            let mut expect = [0u8; 16];
            let last = &lower.as_bytes()[lower.len().saturating_sub(16)..];
            expect[16 - last.len()..].copy_from_slice(last);
            let key = tail_key(&text).unwrap();
            got[..8].copy_from_slice(&key[0].to_le_bytes());
            got[8..].copy_from_slice(&key[1].to_le_bytes());
            assert_eq!(got, expect, "tail {n}");
        }
        assert_eq!(
            ascii_lower(u64::from_le_bytes(*b"AZaz@[`{")),
            u64::from_le_bytes(*b"azaz@[`{")
        );
    }
}
