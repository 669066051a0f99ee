//! The service graph of a set of traces: nodes with request counts, error/fault/throttle rates
//! and latency percentiles, and the edges between them.
//!
//! Nodes, as X-Ray draws them: every segment is a request to its service (named by the
//! segment); a subsegment with namespace `aws` or `remote` is a call to a downstream node named
//! by the subsegment — unless the downstream service's own segment is in the trace under it, in
//! which case the edge goes to that service. A top-level subsegment whose parent never arrived
//! (a Lambda handler's subsegments: the facade is never sent) is its own node. Edges run from
//! the node an entity belongs to, to each node its descendants call; root segments are called by
//! `client`. Latencies are entity durations (a call edge uses the caller's subsegment).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use oxray_core::model::Namespace;

use crate::assemble::{Node, NodeKind, TraceTree};
use crate::waterfall::format_duration;

/// The name of the node for requests that came from outside the traces.
pub const CLIENT: &str = "client";

/// What kind of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeType {
    /// A service that sent segments.
    Service,
    /// A downstream call through an AWS SDK (`namespace: aws`).
    Aws,
    /// Another downstream call (`namespace: remote`).
    Remote,
    /// A subsegment whose parent never arrived.
    Orphan,
    /// The caller of root segments.
    Client,
}

impl NodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Service => "service",
            NodeType::Aws => "aws",
            NodeType::Remote => "remote",
            NodeType::Orphan => "orphan",
            NodeType::Client => "client",
        }
    }
}

/// The graph node an entity stands for, if it stands for one. `top` says whether the entity
/// is at the top of its tree (a root, or a child of a parent that never arrived).
pub fn node_of(node: &Node, top: bool) -> Option<(String, NodeType)> {
    match node.kind {
        NodeKind::MissingParent => None,
        NodeKind::Segment => Some((node.data.name.clone(), NodeType::Service)),
        NodeKind::Subsegment => match node.data.namespace {
            Some(Namespace::Aws) => Some((node.data.name.clone(), NodeType::Aws)),
            Some(Namespace::Remote) => Some((node.data.name.clone(), NodeType::Remote)),
            None if top => Some((node.data.name.clone(), NodeType::Orphan)),
            None => None,
        },
    }
}

/// Every entity of a tree that stands for a graph node, with that node.
pub fn nodes_of(tree: &TraceTree) -> Vec<(&Node, String, NodeType)> {
    let mut out = Vec::new();
    tree.walk(&mut |n, depth| {
        let top = depth == 0 || (depth == 1 && is_child_of_placeholder(tree, n));
        if let Some((name, kind)) = node_of(n, top) {
            out.push((n, name, kind));
        }
    });
    out
}

fn is_child_of_placeholder(tree: &TraceTree, n: &Node) -> bool {
    tree.roots
        .iter()
        .filter(|r| r.kind == NodeKind::MissingParent)
        .any(|r| r.children.iter().any(|c| std::ptr::eq(c, n)))
}

/// Counts and latencies of requests to a node, or over an edge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub faults: usize,
    pub throttles: usize,
    /// Durations (µs) of the requests that completed.
    pub durations: Vec<u64>,
}

impl Stats {
    fn add(&mut self, n: &Node) {
        self.requests += 1;
        self.errors += usize::from(n.data.error);
        self.faults += usize::from(n.data.fault);
        self.throttles += usize::from(n.data.throttle);
        if let Some(d) = n.duration_micros() {
            self.durations.push(d);
        }
    }

    fn rate(&self, count: usize) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            count as f64 / self.requests as f64
        }
    }

    pub fn error_rate(&self) -> f64 {
        self.rate(self.errors)
    }

    pub fn fault_rate(&self) -> f64 {
        self.rate(self.faults)
    }

    pub fn throttle_rate(&self) -> f64 {
        self.rate(self.throttles)
    }

    /// Nearest-rank percentile of the completed durations (µs); None if none completed.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        percentile(&self.durations, p)
    }
}

/// Nearest-rank percentile: the smallest value with at least `p`% of the values at or below it.
pub fn percentile(values: &[u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A node key: name and type.
pub type NodeKey = (String, NodeType);

/// The graph of a set of traces.
#[derive(Debug, Default)]
pub struct ServiceGraph {
    pub traces: usize,
    pub nodes: BTreeMap<NodeKey, Stats>,
    pub edges: BTreeMap<(NodeKey, NodeKey), Stats>,
}

impl ServiceGraph {
    /// Adds one trace.
    pub fn add(&mut self, tree: &TraceTree) {
        self.traces += 1;
        let client: NodeKey = (CLIENT.to_string(), NodeType::Client);
        for root in &tree.roots {
            let tops: Vec<&Node> = match root.kind {
                NodeKind::MissingParent => root.children.iter().collect(),
                _ => vec![root],
            };
            for top in tops {
                let Some(key) = node_of(top, true) else {
                    continue;
                };
                if top.kind == NodeKind::Segment {
                    self.edges
                        .entry((client.clone(), key.clone()))
                        .or_default()
                        .add(top);
                }
                self.visit(top, key);
            }
        }
    }

    /// Counts `n` as a request to `key`, then follows its descendants.
    fn visit(&mut self, n: &Node, key: NodeKey) {
        self.nodes.entry(key.clone()).or_default().add(n);
        self.calls(n, &key);
    }

    /// Finds the nodes that the descendants of `n` call, on behalf of `caller`.
    fn calls(&mut self, n: &Node, caller: &NodeKey) {
        for child in &n.children {
            match node_of(child, false) {
                None => self.calls(child, caller),
                Some(key) if child.kind == NodeKind::Segment => {
                    // A downstream segment directly under a local subsegment.
                    self.edges
                        .entry((caller.clone(), key.clone()))
                        .or_default()
                        .add(child);
                    self.visit(child, key);
                }
                Some(key) => {
                    let downstream: Vec<&Node> = child
                        .children
                        .iter()
                        .filter(|c| c.kind == NodeKind::Segment)
                        .collect();
                    if downstream.is_empty() {
                        self.edges
                            .entry((caller.clone(), key.clone()))
                            .or_default()
                            .add(child);
                        self.visit(child, key);
                    } else {
                        // The traced service answered: the call reaches its segment(s).
                        for seg in downstream {
                            let target = (seg.data.name.clone(), NodeType::Service);
                            self.edges
                                .entry((caller.clone(), target.clone()))
                                .or_default()
                                .add(child);
                            self.visit(seg, target);
                        }
                        for other in child
                            .children
                            .iter()
                            .filter(|c| c.kind != NodeKind::Segment)
                        {
                            self.calls(other, caller);
                        }
                    }
                }
            }
        }
    }

    /// The graph as text tables.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "service graph of {} trace(s): {} node(s), {} edge(s)\n",
            self.traces,
            self.nodes.len(),
            self.edges.len()
        );
        let header = format!(
            "{:<36} {:<8} {:>8} {:>7} {:>7} {:>8} {:>11} {:>11} {:>11}",
            "NODE", "TYPE", "REQUESTS", "ERROR", "FAULT", "THROTTLE", "p50", "p90", "p99"
        );
        let _ = writeln!(out, "{header}");
        for ((name, kind), s) in &self.nodes {
            let _ = writeln!(
                out,
                "{}",
                row(&format!("{name:<36} {:<8}", kind.as_str()), s)
            );
        }
        let _ = writeln!(out, "\n{:<45} {}", "EDGE", &header[46..]);
        for ((from, to), s) in &self.edges {
            let label = format!("{} -> {}", from.0, to.0);
            let _ = writeln!(out, "{}", row(&format!("{label:<45}"), s));
        }
        out
    }

    /// The graph as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let stats = |s: &Stats| {
            json!({
                "requests": s.requests,
                "errors": s.errors,
                "faults": s.faults,
                "throttles": s.throttles,
                "error_rate": s.error_rate(),
                "fault_rate": s.fault_rate(),
                "throttle_rate": s.throttle_rate(),
                "p50_ms": s.percentile(50.0).map(|v| v as f64 / 1000.0),
                "p90_ms": s.percentile(90.0).map(|v| v as f64 / 1000.0),
                "p99_ms": s.percentile(99.0).map(|v| v as f64 / 1000.0),
            })
        };
        let nodes: Vec<_> = self
            .nodes
            .iter()
            .map(|((name, kind), s)| {
                let mut v = stats(s);
                v["name"] = json!(name);
                v["type"] = json!(kind.as_str());
                v
            })
            .collect();
        let edges: Vec<_> = self
            .edges
            .iter()
            .map(|((from, to), s)| {
                let mut v = stats(s);
                v["from"] = json!(from.0);
                v["from_type"] = json!(from.1.as_str());
                v["to"] = json!(to.0);
                v["to_type"] = json!(to.1.as_str());
                v
            })
            .collect();
        json!({ "traces": self.traces, "nodes": nodes, "edges": edges })
    }
}

fn row(label: &str, s: &Stats) -> String {
    let pct = |r: f64| format!("{:.1}%", r * 100.0);
    let p = |q: f64| {
        s.percentile(q)
            .map(format_duration)
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "{label} {:>8} {:>7} {:>7} {:>8} {:>11} {:>11} {:>11}",
        s.requests,
        pct(s.error_rate()),
        pct(s.fault_rate()),
        pct(s.throttle_rate()),
        p(50.0),
        p(90.0),
        p(99.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::{Received, Trace};
    use crate::validate::accept_bytes;
    use oxray_core::id::TraceId;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 90.0), Some(90));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[10, 20, 30, 40], 50.0), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40], 90.0), Some(40));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn trace(n: u32, docs: &[String]) -> TraceTree {
        let id = TraceId {
            epoch: 0x5759e988,
            random: n as u128,
        };
        let mut t = Trace::new(id);
        for (seq, text) in docs.iter().enumerate() {
            let text = text.replace("TRACE", &id.to_string());
            let a =
                accept_bytes(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {text}", e.reason));
            t.add(Received {
                seq: seq as u64,
                entity: a.entity,
                warnings: a.warnings,
                size: 1,
            });
        }
        t.tree()
    }

    /// `front` (segment) calls `api` over traced HTTP (its segment is in the trace) and
    /// DynamoDB; `api` fails on odd traces. Durations: front 100+n ms, api 40 ms, dynamo 5 ms.
    fn two_services(n: u32) -> TraceTree {
        let fault = if n % 2 == 1 { ",\"fault\":true" } else { "" };
        let front = format!(
            "{{\"name\":\"front\",\"id\":\"{:016x}\",\"trace_id\":\"TRACE\",\"start_time\":100,\"end_time\":{},\"subsegments\":[\
{{\"name\":\"api.local\",\"id\":\"{:016x}\",\"namespace\":\"remote\",\"start_time\":100.01,\"end_time\":100.05{fault}}},\
{{\"name\":\"handler\",\"id\":\"{:016x}\",\"start_time\":100.06,\"end_time\":100.08,\"subsegments\":[\
{{\"name\":\"DynamoDB\",\"id\":\"{:016x}\",\"namespace\":\"aws\",\"start_time\":100.06,\"end_time\":100.065,\"throttle\":true,\"error\":true}}]}}]}}",
            n * 10 + 1,
            100.0 + (100.0 + n as f64) / 1000.0,
            n * 10 + 2,
            n * 10 + 3,
            n * 10 + 4
        );
        let api = format!(
            "{{\"name\":\"api\",\"id\":\"{:016x}\",\"trace_id\":\"TRACE\",\"parent_id\":\"{:016x}\",\"start_time\":100.015,\"end_time\":100.045{fault}}}",
            n * 10 + 5,
            n * 10 + 2
        );
        trace(n, &[front, api])
    }

    #[test]
    fn nodes_edges_and_their_statistics() {
        let mut graph = ServiceGraph::default();
        for n in 0..10 {
            graph.add(&two_services(n));
        }
        let keys: Vec<String> = graph
            .nodes
            .keys()
            .map(|(n, t)| format!("{n}/{}", t.as_str()))
            .collect();
        assert_eq!(keys, ["DynamoDB/aws", "api/service", "front/service"]);
        let front = &graph.nodes[&("front".to_string(), NodeType::Service)];
        assert_eq!(front.requests, 10);
        assert_eq!(front.percentile(50.0), Some(104_000));
        assert_eq!(front.percentile(90.0), Some(108_000));
        assert_eq!(front.percentile(99.0), Some(109_000));
        let api = &graph.nodes[&("api".to_string(), NodeType::Service)];
        assert_eq!((api.requests, api.faults), (10, 5));
        assert_eq!(api.fault_rate(), 0.5);
        assert_eq!(api.percentile(50.0), Some(30_000));
        let dynamo = &graph.nodes[&("DynamoDB".to_string(), NodeType::Aws)];
        assert_eq!((dynamo.throttle_rate(), dynamo.error_rate()), (1.0, 1.0));
        let edges: Vec<String> = graph
            .edges
            .iter()
            .map(|((a, b), s)| format!("{}->{}:{}", a.0, b.0, s.requests))
            .collect();
        assert_eq!(
            edges,
            ["client->front:10", "front->DynamoDB:10", "front->api:10"]
        );
        // The call edge carries the caller's view: the subsegment's 40 ms and its fault flag.
        let call = &graph.edges[&(
            ("front".to_string(), NodeType::Service),
            ("api".to_string(), NodeType::Service),
        )];
        assert_eq!((call.percentile(50.0), call.faults), (Some(40_000), 5));
        let text = graph.render();
        assert!(
            text.contains("service graph of 10 trace(s): 3 node(s), 3 edge(s)"),
            "{text}"
        );
        assert!(text.contains("front -> api"), "{text}");
        let json = graph.to_json();
        assert_eq!(json["nodes"][1]["fault_rate"], 0.5);
        assert_eq!(json["edges"][2]["p50_ms"], 40.0);
    }

    #[test]
    fn lambda_subsegments_without_their_facade_are_orphan_nodes() {
        let handler = "{\"name\":\"## handler\",\"id\":\"0000000000000001\",\"trace_id\":\"TRACE\",\"type\":\"subsegment\",\"parent_id\":\"53995c3f42cd8ad8\",\"start_time\":1,\"end_time\":1.5,\"subsegments\":[{\"name\":\"bank\",\"id\":\"0000000000000002\",\"namespace\":\"remote\",\"start_time\":1.1,\"end_time\":1.2}]}".to_string();
        let mut graph = ServiceGraph::default();
        graph.add(&trace(1, std::slice::from_ref(&handler)));
        let keys: Vec<&NodeKey> = graph.nodes.keys().collect();
        assert_eq!(
            keys,
            [
                &("## handler".to_string(), NodeType::Orphan),
                &("bank".to_string(), NodeType::Remote)
            ]
        );
        assert_eq!(graph.edges.len(), 1);
        let tree = trace(1, &[handler]);
        let nodes: Vec<String> = nodes_of(&tree)
            .iter()
            .map(|(_, name, kind)| format!("{name}/{}", kind.as_str()))
            .collect();
        assert_eq!(nodes, ["## handler/orphan", "bank/remote"]);
    }
}
