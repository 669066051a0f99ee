//! First-match-wins over an ordered list of rules whose fields are [`Pattern`]s.
//!
//! Shared by local rules (host, method, path) and centralized rules (plus service name and
//! type). An absent or empty request attribute matches any pattern.
//!
//! Scanning 50 rules with full wildcard matches on every request would cost far more than the
//! 100 ns budget, so the matcher first narrows the rules down, without ever ruling out a rule
//! that could match:
//! - per field, one byte position is chosen, in the first or the last 16 bytes of the text,
//!   where the rules' literal starts or ends differ most (e.g. the digit in `/service7/*`, or
//!   a letter of `*.shop.example.com`), and for each possible (case-folded) byte there a
//!   bitset records which rules can still match. ANDing one bitset per field gives the
//!   candidates in a few loads;
//! - each candidate's literal starts are compared with the request's first 16 bytes per field
//!   ([`Window`]); only survivors get the full match, in rule order.
//!
//! A field whose text is absent, or has non-ASCII bytes in the compared window, is not
//! narrowed (a non-ASCII character could fold to ASCII).

use super::glob::{head_key, tail_key, Pattern, Window};

/// For one field: the byte position used (in the head or the tail window), and per byte value
/// the bitset of admitted rules.
#[derive(Debug, Clone)]
struct FieldIndex {
    position: usize,
    in_tail: bool,
    /// `buckets[byte * words + w]`: word `w` of the bitset for `byte`.
    buckets: Box<[u64]>,
}

/// The literal windows of one rule's fields.
#[derive(Debug, Clone, Copy)]
struct Windows<const N: usize> {
    head: [Window; N],
    tail: [Window; N],
}

/// `N` patterns per rule, in rule order.
#[derive(Debug, Clone)]
pub struct RuleMatcher<const N: usize> {
    patterns: Vec<[Pattern; N]>,
    /// Each rule's literal starts, compared before a full match.
    heads: Vec<[Window; N]>,
    /// None for a field no rule constrains (every pattern is `*`-bounded on both sides).
    fields: [Option<FieldIndex>; N],
    /// Whether any rule fixes bytes at the start of each field.
    uses_head: [bool; N],
    /// Bitset words per field bucket (64 rules each).
    words: usize,
}

impl<const N: usize> Default for RuleMatcher<N> {
    fn default() -> Self {
        RuleMatcher::new(Vec::new())
    }
}

/// The byte at `position` (< 16) of a window key.
#[inline]
fn key_byte(key: &[u64; 2], position: usize) -> usize {
    ((key[position / 8] >> ((position % 8) * 8)) & 0xff) as usize
}

/// The byte a window fixes at `position`, if it fixes one.
fn fixed_byte(window: &Window, position: usize) -> Option<usize> {
    (key_byte(&window.mask, position) != 0).then(|| key_byte(&window.key, position))
}

impl<const N: usize> RuleMatcher<N> {
    /// Indexes `rules` (in matching order).
    pub fn new(rules: Vec<[Pattern; N]>) -> RuleMatcher<N> {
        let windows: Vec<Windows<N>> = rules
            .iter()
            .map(|r| Windows {
                head: r.each_ref().map(Pattern::head),
                tail: r.each_ref().map(Pattern::tail),
            })
            .collect();
        let words = rules.len().div_ceil(64).max(1);
        RuleMatcher {
            fields: std::array::from_fn(|field| index_field(&windows, field, words)),
            uses_head: std::array::from_fn(|f| windows.iter().any(|w| w.head[f].mask != [0, 0])),
            heads: windows.iter().map(|w| w.head).collect(),
            patterns: rules,
            words,
        }
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The index of the first rule all of whose fields match `request` (None or "" matches).
    pub fn first_match(&self, request: [Option<&str>; N]) -> Option<usize> {
        if self.patterns.is_empty() {
            return None;
        }
        let texts = request.map(|t| t.filter(|t| !t.is_empty()));
        // Heads where a rule fixes a start, and the window each field's index reads. None: the
        // field is absent, or its window is not ASCII (then it rules nothing out).
        let mut heads = [None; N];
        let mut index_keys = [None; N];
        for (i, text) in texts.iter().enumerate() {
            let Some(text) = text else { continue };
            if self.uses_head[i] {
                heads[i] = head_key(text);
            }
            if let Some(field) = &self.fields[i] {
                index_keys[i] = if field.in_tail {
                    tail_key(text)
                } else {
                    heads[i]
                };
            }
        }
        for w in 0..self.words {
            let mut candidates = u64::MAX;
            for (field, key) in self.fields.iter().zip(&index_keys) {
                if let (Some(field), Some(key)) = (field, key) {
                    let byte = key_byte(key, field.position);
                    candidates &= field.buckets[byte * self.words + w];
                }
            }
            while candidates != 0 {
                let rule = w * 64 + candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if rule >= self.patterns.len() {
                    break;
                }
                if self.admits(rule, &heads) && self.full_match(rule, &texts) {
                    return Some(rule);
                }
            }
        }
        None
    }

    /// Compares the rule's literal starts with the request's first 16 bytes per field.
    fn admits(&self, rule: usize, heads: &[Option<[u64; 2]>; N]) -> bool {
        let windows = &self.heads[rule];
        (0..N).all(|i| heads[i].is_none_or(|k| windows[i].admits(k)))
    }

    fn full_match(&self, rule: usize, texts: &[Option<&str>; N]) -> bool {
        self.patterns[rule]
            .iter()
            .zip(texts)
            .all(|(p, t)| t.is_none_or(|t| p.matches(t)))
    }
}

/// Picks the position (head or tail window) where the most distinct literal bytes occur among
/// the rules (ties: the head, then the earliest) and builds its buckets. None when no rule
/// fixes a byte in this field.
fn index_field<const N: usize>(
    windows: &[Windows<N>],
    field: usize,
    words: usize,
) -> Option<FieldIndex> {
    let window = |w: &Windows<N>, in_tail: bool| {
        if in_tail {
            w.tail[field]
        } else {
            w.head[field]
        }
    };
    let mut best: Option<(usize, bool, usize)> = None;
    for in_tail in [false, true] {
        for position in 0..16 {
            let mut seen = [false; 256];
            let mut distinct = 0;
            for w in windows {
                if let Some(b) = fixed_byte(&window(w, in_tail), position) {
                    if !seen[b] {
                        seen[b] = true;
                        distinct += 1;
                    }
                }
            }
            if distinct > 0 && best.is_none_or(|(_, _, d)| distinct > d) {
                best = Some((position, in_tail, distinct));
            }
        }
    }
    let (position, in_tail, _) = best?;
    let mut buckets = vec![0u64; 256 * words].into_boxed_slice();
    for (rule, w) in windows.iter().enumerate() {
        let (word, bit) = (rule / 64, 1u64 << (rule % 64));
        match fixed_byte(&window(w, in_tail), position) {
            // A fixed byte: only text with that byte there (text too short to reach the
            // position reads as 0, which no literal byte equals) can match.
            Some(b) => buckets[b * words + word] |= bit,
            None => (0..256).for_each(|b| buckets[b * words + word] |= bit),
        }
    }
    Some(FieldIndex {
        position,
        in_tail,
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[[&str; 2]]) -> RuleMatcher<2> {
        RuleMatcher::new(list.iter().map(|r| r.map(Pattern::new)).collect())
    }

    #[test]
    fn first_match_wins_and_absent_matches() {
        let m = rules(&[["GET", "/a/*"], ["*", "/a/b"], ["POST", "*"]]);
        assert_eq!(m.first_match([Some("get"), Some("/A/b")]), Some(0));
        assert_eq!(m.first_match([Some("PUT"), Some("/a/b")]), Some(1));
        assert_eq!(m.first_match([Some("POST"), Some("/c")]), Some(2));
        assert_eq!(m.first_match([Some("PUT"), Some("/c")]), None);
        assert_eq!(m.first_match([None, Some("/c")]), Some(2));
        assert_eq!(m.first_match([Some(""), None]), Some(0));
        assert_eq!(m.first_match([Some("GÉT"), Some("/a/x")]), None);
        assert_eq!(RuleMatcher::<2>::default().first_match([None, None]), None);
    }

    /// The index never changes the answer: compare with a plain scan over many rules and
    /// texts, including more than 64 rules, short texts, case and non-ASCII.
    #[test]
    fn narrowing_agrees_with_a_plain_scan() {
        let mut list = Vec::new();
        for i in 0..150 {
            let path = match i % 7 {
                0 => format!("/svc{i}/*"),
                1 => format!("/SVC{}/item?", i % 7),
                2 => "*".to_string(),
                3 => format!("*/{i}"),
                4 => format!("*.svc{}.example.com", i % 9),
                5 => format!("/exact/{i}"),
                _ => format!("/é{i}/*"),
            };
            let method = ["GET", "post", "*", "G?T", ""][i % 5].to_string();
            list.push([method, path]);
        }
        let m = RuleMatcher::new(
            list.iter()
                .map(|[a, b]| [Pattern::new(a), Pattern::new(b)])
                .collect(),
        );
        let methods = [
            None,
            Some("GET"),
            Some("Post"),
            Some("GOT"),
            Some("PUT"),
            Some("g"),
        ];
        let mut paths: Vec<String> = vec!["".into(), "/".into(), "/x".into(), "/É3/a".into()];
        for i in 0..160 {
            paths.push(format!("a.svc{}.EXAMPLE.com", i % 11));
            paths.push(format!("{i}.svc{}.example.com.", i % 9));
            paths.push(format!("/exact/{i}"));
            paths.push(format!("/svc{i}/a"));
            paths.push(format!("/svc{}/item{}", i % 7, i % 10));
            paths.push(format!("/q/{i}"));
            paths.push(format!("/é{i}/z"));
        }
        for method in methods {
            for path in &paths {
                let path = Some(path.as_str());
                let plain = list.iter().position(|[a, b]| {
                    method.is_none_or(|t| t.is_empty() || Pattern::new(a).matches(t))
                        && path.is_none_or(|t| t.is_empty() || Pattern::new(b).matches(t))
                });
                assert_eq!(m.first_match([method, path]), plain, "{method:?} {path:?}");
            }
        }
    }

    /// Patterns with only a literal end are narrowed by the tail window.
    #[test]
    fn literal_ends_are_indexed_from_the_end() {
        let hosts: Vec<String> = (0..80).map(|i| format!("*.s{i}.example.COM")).collect();
        let m = RuleMatcher::new(hosts.iter().map(|h| [Pattern::new(h)]).collect());
        let field = m.fields[0].as_ref().unwrap();
        assert!(field.in_tail);
        for i in 0..90 {
            for text in [
                format!("www.s{i}.example.com"),
                format!("s{i}.example.com"),
                format!("x.S{i}.EXAMPLE.com"),
                format!("x.s{i}.example.org"),
                "com".to_string(),
                format!("é.s{i}.example.com"),
            ] {
                let plain = hosts.iter().position(|h| Pattern::new(h).matches(&text));
                assert_eq!(m.first_match([Some(&text)]), plain, "{text}");
            }
        }
    }
}
