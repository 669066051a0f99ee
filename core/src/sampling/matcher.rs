//! First-match-wins over an ordered list of rules whose fields are [`Pattern`]s.
//!
//! Shared by local rules (host, method, path) and centralized rules (plus service name and
//! type). An absent or empty request attribute matches any pattern.
//!
//! Scanning 50 rules with full wildcard matches on every request would cost far more than the
//! 100 ns budget, so the matcher first narrows the rules down, without ever ruling out a rule
//! that could match:
//! - per field, one byte position is chosen where the rules' literal prefixes differ most
//!   (e.g. the digit in `/service7/*`), and for each possible (case-folded) byte at that
//!   position a bitset records which rules can still match. ANDing one bitset per field gives
//!   the candidates in a few loads;
//! - each candidate's literal prefixes are compared with the request's first 16 bytes per
//!   field ([`crate::sampling::glob::Prefix`]); only survivors get the full match, in rule
//!   order.
//!
//! A field whose text is absent or has non-ASCII bytes in its first 16 bytes is not narrowed
//! (a non-ASCII character could fold to ASCII).

use super::glob::{text_key, Pattern, Prefix};

/// For one field: the byte position used, and per byte value the bitset of admitted rules.
#[derive(Debug, Clone)]
struct FieldIndex {
    position: usize,
    /// `buckets[byte * words + w]`: word `w` of the bitset for `byte`.
    buckets: Box<[u64]>,
}

/// `N` patterns per rule, in rule order.
#[derive(Debug, Clone)]
pub struct RuleMatcher<const N: usize> {
    patterns: Vec<[Pattern; N]>,
    prefixes: Vec<[Prefix; N]>,
    /// None for a field no rule constrains (every pattern starts with a wildcard).
    fields: [Option<FieldIndex>; N],
    /// Bitset words per field bucket (64 rules each).
    words: usize,
}

impl<const N: usize> Default for RuleMatcher<N> {
    fn default() -> Self {
        RuleMatcher::new(Vec::new())
    }
}

/// The byte at `position` (< 16) of a text key.
#[inline]
fn key_byte(key: &[u64; 2], position: usize) -> usize {
    ((key[position / 8] >> ((position % 8) * 8)) & 0xff) as usize
}

/// The byte a prefix fixes at `position`, if it fixes one.
fn prefix_byte(prefix: &Prefix, position: usize) -> Option<usize> {
    (key_byte(&prefix.mask, position) != 0).then(|| key_byte(&prefix.key, position))
}

impl<const N: usize> RuleMatcher<N> {
    /// Indexes `rules` (in matching order).
    pub fn new(rules: Vec<[Pattern; N]>) -> RuleMatcher<N> {
        let prefixes: Vec<[Prefix; N]> = rules
            .iter()
            .map(|r| r.each_ref().map(Pattern::prefix))
            .collect();
        let words = rules.len().div_ceil(64).max(1);
        let fields = std::array::from_fn(|field| index_field(&prefixes, field, words));
        RuleMatcher {
            patterns: rules,
            prefixes,
            fields,
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
        let mut keys: [Option<[u64; 2]>; N] = [None; N];
        for i in 0..N {
            if self.fields[i].is_some() {
                keys[i] = texts[i].and_then(text_key);
            }
        }
        for w in 0..self.words {
            let mut candidates = u64::MAX;
            for (field, key) in self.fields.iter().zip(&keys) {
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
                if self.admits(rule, &keys) && self.full_match(rule, &texts) {
                    return Some(rule);
                }
            }
        }
        None
    }

    fn admits(&self, rule: usize, keys: &[Option<[u64; 2]>; N]) -> bool {
        let prefixes = &self.prefixes[rule];
        (0..N).all(|i| keys[i].is_none_or(|k| prefixes[i].admits(k)))
    }

    fn full_match(&self, rule: usize, texts: &[Option<&str>; N]) -> bool {
        self.patterns[rule]
            .iter()
            .zip(texts)
            .all(|(p, t)| t.is_none_or(|t| p.matches(t)))
    }
}

/// Picks the position where the most distinct literal bytes occur among the rules (ties: the
/// earliest) and builds its buckets. None when no rule has a literal byte in this field.
fn index_field<const N: usize>(
    prefixes: &[[Prefix; N]],
    field: usize,
    words: usize,
) -> Option<FieldIndex> {
    let mut best: Option<(usize, usize)> = None;
    for position in 0..16 {
        let mut seen = [false; 256];
        let mut distinct = 0;
        for p in prefixes {
            if let Some(b) = prefix_byte(&p[field], position) {
                if !seen[b] {
                    seen[b] = true;
                    distinct += 1;
                }
            }
        }
        if distinct > 0 && best.is_none_or(|(_, d)| distinct > d) {
            best = Some((position, distinct));
        }
    }
    let (position, _) = best?;
    let mut buckets = vec![0u64; 256 * words].into_boxed_slice();
    for (rule, p) in prefixes.iter().enumerate() {
        let (w, bit) = (rule / 64, 1u64 << (rule % 64));
        match prefix_byte(&p[field], position) {
            // A fixed byte: only text with that byte (text shorter than the position reads
            // as 0 there, which no literal byte equals) can match.
            Some(b) => buckets[b * words + w] |= bit,
            None => (0..256).for_each(|b| buckets[b * words + w] |= bit),
        }
    }
    Some(FieldIndex { position, buckets })
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
            let path = match i % 5 {
                0 => format!("/svc{i}/*"),
                1 => format!("/SVC{}/item?", i % 7),
                2 => "*".to_string(),
                3 => format!("*/{i}"),
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
}
