//! The cached set of centralized rules: ordered by priority then name, `Default` last, and
//! stamped with when it was fetched (it expires after the cache TTL).
//!
//! A refreshed manifest keeps the live state (quota, counts) of rules whose names it still
//! has, as the SDKs do; the new definition's rate replaces the old one until the next target.

use std::sync::Arc;

use super::rule::RuleState;
use super::wire::RuleDefinition;
use crate::sampling::glob::Pattern;
use crate::sampling::matcher::RuleMatcher;
use crate::sampling::SamplingRequest;

/// The reserved name of the catch-all rule.
pub const DEFAULT_RULE_NAME: &str = "Default";

/// A rule with its state.
#[derive(Debug)]
pub struct CentralizedRule {
    pub name: Arc<str>,
    pub definition: RuleDefinition,
    pub state: Arc<RuleState>,
}

#[derive(Debug)]
pub struct Manifest {
    /// Matching order, without `Default`.
    rules: Vec<CentralizedRule>,
    matcher: RuleMatcher<5>,
    default: Option<CentralizedRule>,
    /// When the rules were fetched (epoch µs, by the sampler's clock).
    pub fetched_micros: u64,
}

impl Manifest {
    pub fn build(
        mut definitions: Vec<RuleDefinition>,
        previous: Option<&Manifest>,
        fetched_micros: u64,
    ) -> Manifest {
        definitions.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        // A repeated name keeps its first (highest priority) definition.
        definitions.dedup_by(|later, earlier| later.name == earlier.name);
        let mut rules = Vec::new();
        let mut default = None;
        let mut patterns = Vec::new();
        for definition in definitions {
            let state = match previous.and_then(|p| p.find(&definition.name)) {
                Some(old) => {
                    old.state.set_fixed_rate(definition.fixed_rate);
                    Arc::clone(&old.state)
                }
                None => Arc::new(RuleState::new(definition.fixed_rate)),
            };
            let rule = CentralizedRule {
                name: definition.name.as_str().into(),
                definition,
                state,
            };
            if &*rule.name == DEFAULT_RULE_NAME {
                default = Some(rule);
                continue;
            }
            let d = &rule.definition;
            patterns.push([
                Pattern::new(&d.service_name),
                Pattern::new(&d.service_type),
                Pattern::new(&d.host),
                Pattern::new(&d.http_method),
                Pattern::new(&d.url_path),
            ]);
            rules.push(rule);
        }
        Manifest {
            rules,
            matcher: RuleMatcher::new(patterns),
            default,
            fetched_micros,
        }
    }

    /// The first rule matching the request, else `Default` (None if there is no `Default`).
    #[inline]
    pub fn matching(&self, request: &SamplingRequest<'_>) -> Option<&CentralizedRule> {
        self.matcher
            .first_match([
                request.service_name,
                request.service_type,
                request.host,
                request.method,
                request.url_path,
            ])
            .map(|i| &self.rules[i])
            .or(self.default.as_ref())
    }

    pub fn find(&self, name: &str) -> Option<&CentralizedRule> {
        self.all().find(|r| &*r.name == name)
    }

    /// Every rule, `Default` last.
    pub fn all(&self) -> impl Iterator<Item = &CentralizedRule> {
        self.rules.iter().chain(self.default.as_ref())
    }

    pub fn len(&self) -> usize {
        self.rules.len() + usize::from(self.default.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the rules are younger than `ttl_micros` at `now_micros`.
    pub fn is_fresh(&self, now_micros: u64, ttl_micros: u64) -> bool {
        now_micros.saturating_sub(self.fetched_micros) < ttl_micros
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, priority: i64, path: &str) -> RuleDefinition {
        RuleDefinition {
            name: name.into(),
            priority,
            fixed_rate: 0.1,
            reservoir_size: 1,
            service_name: "*".into(),
            service_type: "*".into(),
            host: "*".into(),
            http_method: "*".into(),
            url_path: path.into(),
        }
    }

    #[test]
    fn priority_then_name_default_last_and_state_survives() {
        let m = Manifest::build(
            vec![
                def("Default", 10000, "*"),
                def("b", 5, "/x/*"),
                def("a", 5, "/x/*"),
                def("c", 1, "/x/y"),
            ],
            None,
            0,
        );
        let names: Vec<&str> = m.all().map(|r| &*r.name).collect();
        assert_eq!(names, ["c", "a", "b", "Default"]);
        let req = |p| SamplingRequest {
            url_path: Some(p),
            ..SamplingRequest::default()
        };
        assert_eq!(&*m.matching(&req("/x/y")).unwrap().name, "c");
        assert_eq!(&*m.matching(&req("/x/z")).unwrap().name, "a");
        assert_eq!(&*m.matching(&req("/q")).unwrap().name, "Default");
        let a_state = Arc::clone(&m.find("a").unwrap().state);
        let next = Manifest::build(vec![def("a", 5, "/x/*")], Some(&m), 1);
        assert!(Arc::ptr_eq(&a_state, &next.find("a").unwrap().state));
        assert!(next.matching(&req("/q")).is_none(), "no Default: no rule");
        assert!(next.is_fresh(1 + 99, 100) && !next.is_fresh(1 + 100, 100));
    }
}
