//! First-match-wins over an ordered list of rules whose fields are [`Pattern`]s.
//!
//! Shared by local rules (host, method, path) and centralized rules (plus service name and
//! type). An absent or empty request attribute matches any pattern. Before running a full
//! match, every rule's literal prefixes are compared with the request's first 16 bytes per
//! field ([`crate::sampling::glob::Prefix`]): with 50 rules this rules out nearly all of them
//! in a tight loop over a flat array, which keeps a decision under 100 ns.

use super::glob::{text_key, Pattern, Prefix};

/// `N` patterns per rule, in rule order.
#[derive(Debug, Clone)]
pub struct RuleMatcher<const N: usize> {
    patterns: Vec<[Pattern; N]>,
    prefixes: Vec<[Prefix; N]>,
}

impl<const N: usize> Default for RuleMatcher<N> {
    fn default() -> Self {
        RuleMatcher {
            patterns: Vec::new(),
            prefixes: Vec::new(),
        }
    }
}

impl<const N: usize> RuleMatcher<N> {
    pub fn push(&mut self, patterns: [Pattern; N]) {
        self.prefixes.push(patterns.each_ref().map(Pattern::prefix));
        self.patterns.push(patterns);
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The index of the first rule all of whose fields match `request` (None or "" matches).
    pub fn first_match(&self, request: [Option<&str>; N]) -> Option<usize> {
        let texts = request.map(|t| t.filter(|t| !t.is_empty()));
        // A field with no key (absent, or not ASCII) is not pre-tested: all-zero text with an
        // all-zero mask admits every rule.
        let mut keys = [[0u64; 2]; N];
        let mut tested = [false; N];
        for i in 0..N {
            if let Some(key) = texts[i].and_then(text_key) {
                keys[i] = key;
                tested[i] = true;
            }
        }
        for (index, prefixes) in self.prefixes.iter().enumerate() {
            let admitted = (0..N).all(|i| !tested[i] || prefixes[i].admits(keys[i]));
            if admitted && self.full_match(index, &texts) {
                return Some(index);
            }
        }
        None
    }

    fn full_match(&self, index: usize, texts: &[Option<&str>; N]) -> bool {
        self.patterns[index]
            .iter()
            .zip(texts)
            .all(|(p, t)| t.is_none_or(|t| p.matches(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[[&str; 2]]) -> RuleMatcher<2> {
        let mut m = RuleMatcher::default();
        for r in list {
            m.push(r.map(Pattern::new));
        }
        m
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
    }
}
