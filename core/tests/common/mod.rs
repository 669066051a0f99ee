//! Shared helpers for the core's integration tests: schema validation with the stricter
//! receiver rules, a daemon-compatible UDP listener, and trace reassembly.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root (the workspace), from the core crate's manifest dir.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

/// `../shared/spec` beside the repository.
pub fn spec_dir() -> PathBuf {
    repo_root().join("../shared/spec")
}

pub fn read_vector(name: &str) -> Value {
    let path = repo_root().join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn schema_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = spec_dir().join("xray-segmentdocument-schema-v1.0.0.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::draft4::new(&schema).expect("schema compiles")
    })
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_trace_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 35
        && b[0] == b'1'
        && b[1] == b'-'
        && b[10] == b'-'
        && b[2..10]
            .iter()
            .chain(&b[11..])
            .all(|c| c.is_ascii_hexdigit())
}

fn strict_entity(v: &Value, path: &str, top: bool, problems: &mut Vec<String>) {
    let Some(o) = v.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    for key in ["name", "id", "start_time"] {
        if !o.contains_key(key) {
            problems.push(format!("{path}: missing {key}"));
        }
    }
    match o.get("id").and_then(Value::as_str) {
        Some(id) if is_hex_id(id) => {}
        other => problems.push(format!("{path}: id {other:?} is not 16 lowercase hex")),
    }
    if let Some(p) = o.get("parent_id") {
        if !p.as_str().is_some_and(is_hex_id) {
            problems.push(format!("{path}: parent_id {p} is not 16 lowercase hex"));
        }
    }
    let has_end = o.contains_key("end_time");
    let in_progress = o.get("in_progress") == Some(&Value::Bool(true));
    if has_end == in_progress {
        problems.push(format!(
            "{path}: needs exactly one of end_time or in_progress:true"
        ));
    }
    if let Some(ns) = o.get("namespace") {
        if ns != "aws" && ns != "remote" {
            problems.push(format!("{path}: namespace {ns} is not aws or remote"));
        }
    }
    if top {
        match o.get("trace_id").and_then(Value::as_str) {
            Some(t) if is_trace_id(t) => {}
            other => problems.push(format!("{path}: trace_id {other:?} is not 1-8hex-24hex")),
        }
        if o.get("type").and_then(Value::as_str) == Some("subsegment")
            && !o.contains_key("parent_id")
        {
            problems.push(format!("{path}: standalone subsegment without parent_id"));
        }
    }
    if let Some(url) = o
        .get("sql")
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
    {
        let ok = url
            .split_once("//")
            .and_then(|(_, rest)| rest.split_once('/'))
            .is_some_and(|(_, db)| !db.is_empty() && !db.starts_with('?'));
        if !ok {
            problems.push(format!("{path}: sql.url {url:?} has no database name"));
        }
    }
    if let Some(Value::Object(cause)) = o.get("cause") {
        for e in cause
            .get("exceptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !e.get("id").and_then(Value::as_str).is_some_and(is_hex_id) {
                problems.push(format!(
                    "{path}: exception id {:?} is not 16 hex",
                    e.get("id")
                ));
            }
        }
    }
    for (i, s) in o
        .get("subsegments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        strict_entity(s, &format!("{path}.subsegments[{i}]"), false, problems);
    }
}

/// The documents a memory-mode recorder sent so far, each validated by [`validate_document`].
pub fn validated(recorder: &oxray_core::Recorder) -> Vec<Value> {
    recorder
        .take_documents()
        .iter()
        .map(|d| validate_document(d))
        .collect()
}

/// Validates one document against the published schema and the stricter receiver rules
/// (PROTOCOL.md §6.5); panics with every problem found.
pub fn validate_document(text: &str) -> Value {
    assert!(
        text.len() <= oxray_core::MAX_DOCUMENT_BYTES,
        "document is {} bytes, over the bound",
        text.len()
    );
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let mut problems: Vec<String> = schema_validator()
        .iter_errors(&value)
        .map(|e| format!("schema: {e} at {}", e.instance_path()))
        .collect();
    strict_entity(&value, "$", true, &mut problems);
    assert!(
        problems.is_empty(),
        "invalid document: {problems:#?}\n{text}"
    );
    value
}

/// A daemon-compatible UDP listener on 127.0.0.1 that checks the frame header and keeps
/// document bodies.
pub struct Listener {
    pub addr: SocketAddr,
    docs: Arc<Mutex<Vec<String>>>,
    bad_frames: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Listener {
    pub fn start() -> Listener {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        enlarge_receive_buffer(&socket);
        let addr = socket.local_addr().expect("addr");
        let docs = Arc::new(Mutex::new(Vec::new()));
        let bad_frames = Arc::new(Mutex::new(Vec::new()));
        let (d, b) = (Arc::clone(&docs), Arc::clone(&bad_frames));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok(n) = socket.recv(&mut buf) else { return };
                let datagram = &buf[..n];
                match split_frame(datagram) {
                    Some(body) => d
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(body).into_owned()),
                    None => b.lock().unwrap().push(datagram.to_vec()),
                }
            }
        });
        Listener {
            addr,
            docs,
            bad_frames,
        }
    }

    /// Waits until at least `n` documents arrived (or 30 s), then returns all so far.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let len = self.docs.lock().unwrap().len();
            if len >= n || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.docs.lock().unwrap().clone()
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.docs.lock().unwrap())
    }

    pub fn bad_frames(&self) -> usize {
        self.bad_frames.lock().unwrap().len()
    }
}

/// The daemon's check: header JSON before the first newline with format json, version 1.
fn split_frame(datagram: &[u8]) -> Option<&[u8]> {
    let nl = datagram.iter().position(|b| *b == b'\n')?;
    let header: Value = serde_json::from_slice(&datagram[..nl]).ok()?;
    let ok = header
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.eq_ignore_ascii_case("json"))
        && header.get("version").and_then(Value::as_i64) == Some(1);
    let body = &datagram[nl + 1..];
    (ok && !body.is_empty()).then_some(body)
}

fn enlarge_receive_buffer(socket: &UdpSocket) {
    // Large enough for every datagram of the 80,000-subsegment test to queue (kernel accounting
    // counts ~1 KiB per small datagram) even when this thread is starved of CPU.
    let size: libc::c_int = 512 * 1024 * 1024;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid fd and a pointer to a c_int of the right length.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

/// A reassembled entity: its document fields (without `subsegments`) and its children.
#[derive(Debug, Clone)]
pub struct Node {
    pub doc: Value,
    pub children: Vec<Node>,
}

impl Node {
    pub fn name(&self) -> &str {
        self.doc["name"].as_str().unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.doc["id"].as_str().unwrap_or("")
    }

    /// Every entity in this subtree, depth first.
    pub fn walk(&self) -> Vec<&Node> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }

    pub fn find(&self, name: &str) -> Option<&Node> {
        self.walk().into_iter().find(|n| n.name() == name)
    }
}

/// Reassembles documents into trees: embedded subsegments stay where they are, standalone
/// ones attach to the entity whose id is their `parent_id`. Roots are entities whose parent is
/// not among the documents (e.g. the Lambda facade). Returns roots keyed by parent id
/// ("" for none); a complete document replaces an in-progress one with the same id.
pub fn reassemble(docs: &[String]) -> HashMap<String, Vec<Node>> {
    let mut flat: Vec<(Option<String>, Value)> = Vec::new();
    fn flatten(v: &Value, parent: Option<String>, out: &mut Vec<(Option<String>, Value)>) {
        let mut own = v.clone();
        let subs = own.as_object_mut().and_then(|o| o.remove("subsegments"));
        let id = own["id"].as_str().unwrap_or("").to_string();
        out.push((
            parent.or_else(|| {
                own.get("parent_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
            own,
        ));
        for s in subs
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            flatten(s, Some(id.clone()), out);
        }
    }
    for d in docs {
        let v: Value = serde_json::from_str(d).expect("json");
        flatten(&v, None, &mut flat);
    }
    // Complete documents replace in-progress ones.
    let mut by_id: HashMap<String, (Option<String>, Value)> = HashMap::new();
    let mut order = Vec::new();
    for (parent, v) in flat {
        let id = v["id"].as_str().unwrap_or("").to_string();
        let complete = v.get("end_time").is_some();
        match by_id.get(&id) {
            Some((_, old)) if old.get("end_time").is_some() && !complete => continue,
            Some(_) => {}
            None => order.push(id.clone()),
        }
        by_id.insert(id, (parent, v));
    }
    fn build(
        id: &str,
        by_id: &HashMap<String, (Option<String>, Value)>,
        kids: &HashMap<String, Vec<String>>,
    ) -> Node {
        Node {
            doc: by_id[id].1.clone(),
            children: kids
                .get(id)
                .into_iter()
                .flatten()
                .map(|c| build(c, by_id, kids))
                .collect(),
        }
    }
    let mut kids: HashMap<String, Vec<String>> = HashMap::new();
    for id in &order {
        if let Some(p) = &by_id[id].0 {
            kids.entry(p.clone()).or_default().push(id.clone());
        }
    }
    let mut roots: HashMap<String, Vec<Node>> = HashMap::new();
    for id in &order {
        let parent = by_id[id].0.clone();
        let is_root = parent.as_ref().is_none_or(|p| !by_id.contains_key(p));
        if is_root {
            roots
                .entry(parent.unwrap_or_default())
                .or_default()
                .push(build(id, &by_id, &kids));
        }
    }
    roots
}
