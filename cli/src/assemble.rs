//! Reassembling the documents of one trace into a tree.
//!
//! Every entity of every document (embedded subsegments included) is one *version* of that
//! entity id. Per id the complete version wins over an in-progress one whatever the arrival
//! order (PROTOCOL.md §1.9: the complete document overwrites the fragment); between two
//! versions of the same kind the later arrival wins, as at the service. An entity's parent is
//! the entity that embeds it, or its `parent_id` for a document sent on its own — which also
//! puts a downstream service's segment under the caller's subsegment when both are in the
//! trace. Entities whose parent never arrived (a Lambda facade is never sent by SDKs) hang
//! under a placeholder for the missing id. Children are ordered by start time, then id, so
//! the tree does not depend on arrival order.

use std::collections::{HashMap, HashSet};

use oxray_core::document::ParsedEntity;
use oxray_core::id::{EntityId, TraceId};
use oxray_core::model::EntityData;

use crate::validate::Warning;

/// One accepted document of a trace.
#[derive(Debug, Clone)]
pub struct Received {
    /// Arrival order (monotonic across the collector).
    pub seq: u64,
    pub entity: ParsedEntity,
    pub warnings: Vec<Warning>,
    /// Size of the document in bytes.
    pub size: usize,
}

/// The documents received so far for one trace id.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: TraceId,
    docs: Vec<Received>,
    seen: HashSet<(EntityId, u64, Option<u64>)>,
    /// Documents received twice (same entity id and times), ignored the second time.
    pub duplicates: usize,
    /// Bytes of the documents kept.
    pub bytes: usize,
    /// Things the collector noticed about this trace (eviction, late documents, …).
    pub notes: Vec<String>,
}

/// What kind of line a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Segment,
    Subsegment,
    /// An id that entities name as their parent but that was never received.
    MissingParent,
}

/// One entity of the reassembled tree.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: EntityId,
    pub kind: NodeKind,
    /// Empty for [`NodeKind::MissingParent`].
    pub data: EntityData,
    /// `namespace` as written when it is not `aws`/`remote` (e.g. `local`).
    pub other_namespace: Option<String>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn in_progress(&self) -> bool {
        self.kind != NodeKind::MissingParent && self.data.end_micros.is_none()
    }

    /// Start time; for a placeholder, its earliest child's.
    pub fn start_micros(&self) -> u64 {
        match self.kind {
            NodeKind::MissingParent => self
                .children
                .iter()
                .map(Node::start_micros)
                .min()
                .unwrap_or(0),
            _ => self.data.start_micros,
        }
    }

    /// End time when complete; for a placeholder, its latest child's.
    pub fn end_micros(&self) -> Option<u64> {
        match self.kind {
            NodeKind::MissingParent => self.children.iter().filter_map(Node::end_micros).max(),
            _ => self.data.end_micros,
        }
    }

    /// Duration of a complete entity.
    pub fn duration_micros(&self) -> Option<u64> {
        if self.kind == NodeKind::MissingParent {
            return None;
        }
        self.data
            .end_micros
            .map(|e| e.saturating_sub(self.data.start_micros))
    }

    /// Visits this node and its descendants depth-first, with their depth below this one.
    pub fn walk<'a>(&'a self, depth: usize, f: &mut dyn FnMut(&'a Node, usize)) {
        f(self, depth);
        for c in &self.children {
            c.walk(depth + 1, f);
        }
    }
}

/// A reassembled trace.
#[derive(Debug, Clone)]
pub struct TraceTree {
    pub trace_id: TraceId,
    pub roots: Vec<Node>,
    pub start_micros: u64,
    /// Latest end (or latest start when nothing has ended).
    pub end_micros: u64,
    pub documents: usize,
    pub duplicates: usize,
    /// In-progress versions replaced by a complete one.
    pub replaced_in_progress: usize,
    /// Warnings per document: the document's top entity `name (id)` and the warning.
    pub warnings: Vec<(String, Warning)>,
    pub notes: Vec<String>,
}

impl TraceTree {
    /// Visits every node depth-first with its depth (roots at 0).
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Node, usize)) {
        for r in &self.roots {
            r.walk(0, f);
        }
    }

    pub fn duration_micros(&self) -> u64 {
        self.end_micros.saturating_sub(self.start_micros)
    }

    /// Number of entities (placeholders excluded).
    pub fn entity_count(&self) -> usize {
        let mut n = 0;
        self.walk(&mut |node, _| {
            if node.kind != NodeKind::MissingParent {
                n += 1
            }
        });
        n
    }
}

/// One version of an entity, flattened out of its document.
struct Version<'a> {
    parent: Option<EntityId>,
    kind: NodeKind,
    entity: &'a ParsedEntity,
    complete: bool,
}

impl Trace {
    pub fn new(trace_id: TraceId) -> Trace {
        Trace {
            trace_id,
            docs: Vec::new(),
            seen: HashSet::new(),
            duplicates: 0,
            bytes: 0,
            notes: Vec::new(),
        }
    }

    /// Adds a document; false (and counted) when the same document was already received.
    pub fn add(&mut self, doc: Received) -> bool {
        let e = &doc.entity;
        let key = (e.id, e.data.start_micros, e.data.end_micros);
        if !self.seen.insert(key) {
            self.duplicates += 1;
            return false;
        }
        self.bytes += doc.size;
        self.docs.push(doc);
        true
    }

    /// Documents kept (duplicates excluded).
    pub fn document_count(&self) -> usize {
        self.docs.len()
    }

    /// The tree as it stands now.
    pub fn tree(&self) -> TraceTree {
        let mut docs: Vec<&Received> = self.docs.iter().collect();
        docs.sort_by_key(|d| d.seq);
        let mut chosen: HashMap<EntityId, Version<'_>> = HashMap::new();
        let mut replaced = 0;
        for d in &docs {
            let top = &d.entity;
            let kind = if top.standalone_subsegment {
                NodeKind::Subsegment
            } else {
                NodeKind::Segment
            };
            flatten(top, top.parent_id, kind, &mut chosen, &mut replaced);
        }
        let warnings = docs
            .iter()
            .flat_map(|d| {
                let label = format!("{} ({})", d.entity.data.name, d.entity.id);
                d.warnings.iter().map(move |w| (label.clone(), w.clone()))
            })
            .collect();
        let mut notes = self.notes.clone();
        let roots = build(&chosen, &mut notes);
        let mut start = u64::MAX;
        let mut end = 0;
        for v in chosen.values() {
            start = start.min(v.entity.data.start_micros);
            end = end.max(
                v.entity
                    .data
                    .end_micros
                    .unwrap_or(v.entity.data.start_micros),
            );
        }
        TraceTree {
            trace_id: self.trace_id,
            roots,
            start_micros: if start == u64::MAX { 0 } else { start },
            end_micros: end,
            documents: self.docs.len(),
            duplicates: self.duplicates,
            replaced_in_progress: replaced,
            warnings,
            notes,
        }
    }
}

fn flatten<'a>(
    entity: &'a ParsedEntity,
    parent: Option<EntityId>,
    kind: NodeKind,
    chosen: &mut HashMap<EntityId, Version<'a>>,
    replaced: &mut usize,
) {
    let version = Version {
        parent,
        kind,
        entity,
        complete: entity.data.end_micros.is_some(),
    };
    match chosen.get_mut(&entity.id) {
        None => {
            chosen.insert(entity.id, version);
        }
        Some(current) => {
            if !current.complete && version.complete {
                *replaced += 1;
                *current = version;
            } else if current.complete == version.complete {
                *current = version;
            }
        }
    }
    for child in &entity.subsegments {
        flatten(
            child,
            Some(entity.id),
            NodeKind::Subsegment,
            chosen,
            replaced,
        );
    }
}

/// Links the chosen versions into trees.
fn build(chosen: &HashMap<EntityId, Version<'_>>, notes: &mut Vec<String>) -> Vec<Node> {
    let mut children: HashMap<EntityId, Vec<EntityId>> = HashMap::new();
    let mut roots: Vec<EntityId> = Vec::new();
    let mut missing: HashMap<EntityId, Vec<EntityId>> = HashMap::new();
    for (id, v) in chosen {
        match v.parent {
            None => roots.push(*id),
            Some(p) if chosen.contains_key(&p) => children.entry(p).or_default().push(*id),
            Some(p) => missing.entry(p).or_default().push(*id),
        }
    }
    // Entities caught in a parent_id cycle are reachable from no root: break each cycle at
    // its earliest entity.
    let mut reached: HashSet<EntityId> = HashSet::new();
    let mut stack: Vec<EntityId> = roots
        .iter()
        .chain(missing.values().flatten())
        .copied()
        .collect();
    loop {
        while let Some(id) = stack.pop() {
            if reached.insert(id) {
                stack.extend(children.get(&id).into_iter().flatten().copied());
            }
        }
        let mut stranded: Vec<(u64, EntityId)> = chosen
            .iter()
            .filter(|(id, _)| !reached.contains(id))
            .map(|(id, v)| (v.entity.data.start_micros, *id))
            .collect();
        let Some(&(_, first)) = stranded.iter().min() else {
            break;
        };
        stranded.clear();
        if let Some(p) = chosen[&first].parent {
            if let Some(list) = children.get_mut(&p) {
                list.retain(|c| *c != first);
            }
        }
        notes.push(format!(
            "entity {first} is part of a parent_id cycle; shown as a root"
        ));
        roots.push(first);
        stack.push(first);
    }
    let mut out: Vec<Node> = roots
        .iter()
        .map(|id| node(*id, chosen, &children))
        .collect();
    for (parent, kids) in missing {
        let mut placeholder = Node {
            id: parent,
            kind: NodeKind::MissingParent,
            data: EntityData::default(),
            other_namespace: None,
            children: kids.iter().map(|id| node(*id, chosen, &children)).collect(),
        };
        sort(&mut placeholder.children);
        out.push(placeholder);
    }
    sort(&mut out);
    out
}

fn node(
    id: EntityId,
    chosen: &HashMap<EntityId, Version<'_>>,
    children: &HashMap<EntityId, Vec<EntityId>>,
) -> Node {
    let v = &chosen[&id];
    let mut kids: Vec<Node> = children
        .get(&id)
        .into_iter()
        .flatten()
        .map(|c| node(*c, chosen, children))
        .collect();
    sort(&mut kids);
    Node {
        id,
        kind: v.kind,
        data: v.entity.data.clone(),
        other_namespace: v.entity.other_namespace.clone(),
        children: kids,
    }
}

fn sort(nodes: &mut [Node]) {
    nodes.sort_by_key(|n| (n.start_micros(), n.id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::accept_bytes;

    const T: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn received(seq: u64, text: &str) -> Received {
        let a = accept_bytes(text.as_bytes()).unwrap_or_else(|e| panic!("{}", e.reason));
        Received {
            seq,
            entity: a.entity,
            warnings: a.warnings,
            size: text.len(),
        }
    }

    /// A compact, order-independent picture of a tree: one line per node.
    fn picture(tree: &TraceTree) -> String {
        let mut out = String::new();
        tree.walk(&mut |n, depth| {
            let state = match n.kind {
                NodeKind::MissingParent => "missing".to_string(),
                _ if n.in_progress() => "in progress".to_string(),
                _ => format!("{} us", n.duration_micros().unwrap_or(0)),
            };
            out.push_str(&format!(
                "{}{} {} [{state}]\n",
                "  ".repeat(depth),
                n.data.name,
                n.id
            ));
        });
        out
    }

    fn seg(id: &str, parent: Option<&str>, start: f64, end: Option<f64>, subs: &str) -> String {
        let parent = parent.map_or(String::new(), |p| format!(",\"parent_id\":\"{p}\""));
        let timing = match end {
            Some(e) => format!("\"end_time\":{e}"),
            None => "\"in_progress\":true".to_string(),
        };
        format!("{{\"name\":\"svc-{id}\",\"id\":\"{id}\",\"trace_id\":\"{T}\",\"start_time\":{start},{timing}{parent}{subs}}}")
    }

    fn sub(id: &str, parent: &str, start: f64, end: Option<f64>) -> String {
        let timing = match end {
            Some(e) => format!("\"end_time\":{e}"),
            None => "\"in_progress\":true".to_string(),
        };
        format!("{{\"name\":\"sub-{id}\",\"id\":\"{id}\",\"trace_id\":\"{T}\",\"type\":\"subsegment\",\"parent_id\":\"{parent}\",\"start_time\":{start},{timing}}}")
    }

    const S: &str = "000000000000000a";
    const A: &str = "000000000000000b";
    const B: &str = "000000000000000c";
    const C: &str = "000000000000000d";
    const D: &str = "000000000000000e";
    const DOWN: &str = "000000000000000f";

    /// A small two-service trace: a segment S in progress then complete (embedding C), a
    /// standalone subsegment A of S, its child B sent on its own, a downstream service's
    /// segment DOWN whose parent is B, and a duplicate of A.
    fn documents() -> Vec<String> {
        let embedded = format!(
            ",\"subsegments\":[{{\"name\":\"sub-{C}\",\"id\":\"{C}\",\"start_time\":100.5,\"end_time\":100.6}}]"
        );
        vec![
            seg(S, None, 100.0, None, ""),
            seg(S, None, 100.0, Some(101.0), &embedded),
            sub(A, S, 100.1, Some(100.9)),
            sub(B, A, 100.2, Some(100.4)),
            seg(DOWN, Some(B), 100.25, Some(100.35), ""),
            sub(A, S, 100.1, Some(100.9)),
        ]
    }

    const EXPECTED: &str = "svc-000000000000000a 000000000000000a [1000000 us]
  sub-000000000000000b 000000000000000b [800000 us]
    sub-000000000000000c 000000000000000c [200000 us]
      svc-000000000000000f 000000000000000f [100000 us]
  sub-000000000000000d 000000000000000d [100000 us]
";

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for i in 0..=p.len() {
                let mut q = p.clone();
                q.insert(i, n - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn every_arrival_order_gives_the_same_tree() {
        let docs = documents();
        let orders = permutations(docs.len());
        assert_eq!(orders.len(), 720);
        for order in orders {
            let mut trace = Trace::new(TraceId::parse(T).unwrap());
            for (seq, i) in order.iter().enumerate() {
                trace.add(received(seq as u64, &docs[*i]));
            }
            let tree = trace.tree();
            assert_eq!(picture(&tree), EXPECTED, "order {order:?}");
            assert_eq!(tree.duplicates, 1, "order {order:?}");
            assert_eq!(tree.documents, 5);
            assert_eq!(tree.entity_count(), 5);
            assert_eq!(tree.start_micros, 100_000_000);
            assert_eq!(tree.end_micros, 101_000_000);
            let pos = |i: usize| order.iter().position(|x| *x == i).unwrap();
            // The fragment counts as replaced only when it arrived before the complete one.
            assert_eq!(tree.replaced_in_progress, usize::from(pos(0) < pos(1)));
        }
    }

    #[test]
    fn in_progress_shows_until_the_complete_document_arrives() {
        let mut trace = Trace::new(TraceId::parse(T).unwrap());
        trace.add(received(0, &seg(S, None, 100.0, None, "")));
        trace.add(received(1, &sub(A, S, 100.1, None)));
        assert_eq!(
            picture(&trace.tree()),
            "svc-000000000000000a 000000000000000a [in progress]\n  sub-000000000000000b 000000000000000b [in progress]\n"
        );
        trace.add(received(2, &sub(A, S, 100.1, Some(100.3))));
        trace.add(received(3, &seg(S, None, 100.0, Some(100.5), "")));
        let tree = trace.tree();
        assert_eq!(
            picture(&tree),
            "svc-000000000000000a 000000000000000a [500000 us]\n  sub-000000000000000b 000000000000000b [200000 us]\n"
        );
        assert_eq!(tree.replaced_in_progress, 2);
    }

    #[test]
    fn orphans_hang_under_their_missing_parent() {
        let facade = "53995c3f42cd8ad8";
        let mut trace = Trace::new(TraceId::parse(T).unwrap());
        trace.add(received(0, &sub(B, facade, 100.3, Some(100.4))));
        trace.add(received(1, &sub(A, facade, 100.1, Some(100.2))));
        trace.add(received(2, &sub(C, D, 100.15, Some(100.16))));
        let tree = trace.tree();
        assert_eq!(
            picture(&tree),
            " 53995c3f42cd8ad8 [missing]
  sub-000000000000000b 000000000000000b [100000 us]
  sub-000000000000000c 000000000000000c [100000 us]
 000000000000000e [missing]
  sub-000000000000000d 000000000000000d [10000 us]
"
        );
        assert_eq!(tree.roots[0].start_micros(), 100_100_000);
        assert_eq!(tree.roots[0].end_micros(), Some(100_400_000));
    }

    #[test]
    fn a_parent_cycle_is_broken_not_lost() {
        let mut trace = Trace::new(TraceId::parse(T).unwrap());
        trace.add(received(0, &sub(A, B, 100.1, Some(100.2))));
        trace.add(received(1, &sub(B, A, 100.0, Some(100.3))));
        trace.add(received(2, &sub(C, C, 100.5, Some(100.6))));
        let tree = trace.tree();
        assert_eq!(tree.entity_count(), 3);
        assert_eq!(tree.roots.len(), 2);
        assert_eq!(tree.roots[0].id.to_string(), B);
        assert_eq!(tree.roots[0].children[0].id.to_string(), A);
        assert_eq!(tree.notes.len(), 2, "{:?}", tree.notes);
    }

    #[test]
    fn a_later_complete_version_overwrites_an_earlier_one() {
        let mut trace = Trace::new(TraceId::parse(T).unwrap());
        trace.add(received(0, &sub(A, S, 100.1, Some(100.2))));
        trace.add(received(1, &sub(A, S, 100.1, Some(100.4))));
        trace.add(received(2, &sub(A, S, 100.1, None)));
        let tree = trace.tree();
        assert_eq!(tree.roots[0].children[0].duration_micros(), Some(300_000));
        assert_eq!(tree.documents, 3);
    }
}
