//! Shared helpers for the collector's integration tests: a collector running on 127.0.0.1 in
//! a thread, a core recorder sending to it over UDP, and the schema + stricter-receiver check
//! every document emitted through the core must pass.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oxray_cli::collect::{CollectOptions, Collector};
use oxray_cli::stats::{Stats, StatsSnapshot};
use oxray_core::config::{Config, DaemonAddress, EmitMode};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{Entity, Recorder, TraceHeader};
use serde_json::Value;

pub const FRAME: &[u8] = b"{\"format\":\"json\",\"version\":1}\n";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// A fresh directory under the system temp dir, for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxray-cli-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = repo_root().join("../shared/spec/xray-segmentdocument-schema-v1.0.0.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        jsonschema::draft4::new(&serde_json::from_str(&text).expect("schema is JSON"))
            .expect("schema compiles")
    })
}

/// Problems the published schema finds.
pub fn schema_problems(doc: &Value) -> Vec<String> {
    schema()
        .iter_errors(doc)
        .map(|e| format!("schema: {e} at {}", e.instance_path()))
        .collect()
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn trace_id_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 35
        && s.starts_with("1-")
        && b[10] == b'-'
        && lower_hex(&s[2..10], 8)
        && lower_hex(&s[11..], 24)
}

fn strict(v: &Value, path: &str, top: bool, out: &mut Vec<String>) {
    let Some(o) = v.as_object() else {
        out.push(format!("{path}: not an object"));
        return;
    };
    for key in ["name", "id", "start_time"] {
        if !o.contains_key(key) {
            out.push(format!("{path}: missing {key}"));
        }
    }
    for key in ["id", "parent_id"] {
        if let Some(id) = o.get(key) {
            if !id.as_str().is_some_and(|s| lower_hex(s, 16)) {
                out.push(format!("{path}.{key}: {id} is not 16 lowercase hex"));
            }
        }
    }
    if o.contains_key("end_time") == (o.get("in_progress") == Some(&Value::Bool(true))) {
        out.push(format!(
            "{path}: needs exactly one of end_time or in_progress:true"
        ));
    }
    if let Some(ns) = o.get("namespace") {
        if ns != "aws" && ns != "remote" {
            out.push(format!("{path}: namespace {ns}"));
        }
    }
    if top {
        if !o
            .get("trace_id")
            .and_then(Value::as_str)
            .is_some_and(trace_id_ok)
        {
            out.push(format!("{path}: trace_id {:?}", o.get("trace_id")));
        }
        if o.get("type").and_then(Value::as_str) == Some("subsegment")
            && !o.contains_key("parent_id")
        {
            out.push(format!("{path}: standalone subsegment without parent_id"));
        }
    }
    if let Some(url) = o
        .get("sql")
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
    {
        if !oxray_cli::validate::sql_url_has_database(url) {
            out.push(format!("{path}: sql.url {url:?} has no database name"));
        }
    }
    if let Some(Value::Object(cause)) = o.get("cause") {
        for e in cause
            .get("exceptions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !e
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| lower_hex(s, 16))
            {
                out.push(format!("{path}: exception id {:?}", e.get("id")));
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
        strict(s, &format!("{path}.subsegments[{i}]"), false, out);
    }
}

/// Panics unless `text` passes the schema and the stricter rules (PROTOCOL.md §6.5).
pub fn assert_valid_document(text: &str) {
    assert!(
        text.len() <= oxray_core::MAX_DOCUMENT_BYTES,
        "{} bytes",
        text.len()
    );
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let mut problems = schema_problems(&v);
    strict(&v, "$", true, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}\n{text}");
}

/// A byte sink shared with the collector thread.
#[derive(Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A collector running on 127.0.0.1 (ephemeral port) in a thread.
pub struct Running {
    pub addr: SocketAddr,
    pub path: PathBuf,
    pub dir: PathBuf,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<StatsSnapshot>,
    pub out: SharedBuf,
    pub diag: SharedBuf,
}

/// What a stopped collector left.
pub struct Finished {
    pub stats: StatsSnapshot,
    pub out: String,
    pub diag: String,
    /// Every line of the JSONL file, parsed.
    pub records: Vec<Value>,
    pub path: PathBuf,
    dir: PathBuf,
}

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Running {
    /// Starts a collector; `configure` adjusts the options (listen and out are preset).
    pub fn start(name: &str, configure: impl FnOnce(&mut CollectOptions)) -> Running {
        let dir = temp_dir(name);
        let path = dir.join("traces.jsonl");
        let mut options = CollectOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            out: path.clone(),
            ..CollectOptions::default()
        };
        // Long enough that a slow test machine never splits a trace sent in one go.
        options.limits.idle = Duration::from_secs(1);
        configure(&mut options);
        let collector = Collector::bind(options).expect("bind");
        let addr = collector.local_addr();
        let stats = collector.stats();
        let stop = Arc::new(AtomicBool::new(false));
        let (out, diag) = (SharedBuf::default(), SharedBuf::default());
        let handle = {
            let (stop, mut o, mut d) = (Arc::clone(&stop), out.clone(), diag.clone());
            std::thread::spawn(move || collector.run(&stop, &mut o, &mut d))
        };
        Running {
            addr,
            path,
            dir,
            stats,
            stop,
            handle,
            out,
            diag,
        }
    }

    /// Waits (up to a minute, to catch hangs) until `done` holds for the counters.
    pub fn wait(&self, what: &str, done: impl Fn(&StatsSnapshot) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.stats.snapshot();
            if done(&s) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}: {s:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `n` datagrams were received.
    pub fn wait_datagrams(&self, n: u64) {
        self.wait(&format!("{n} datagrams"), |s| s.datagrams >= n);
    }

    /// Sends raw datagrams from a fresh socket.
    pub fn send_raw(&self, datagrams: &[&[u8]]) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        for d in datagrams {
            socket.send_to(d, self.addr).unwrap();
        }
    }

    /// Sends documents, each framed with the daemon header.
    pub fn send_documents(&self, docs: &[&str]) {
        let framed: Vec<Vec<u8>> = docs
            .iter()
            .map(|d| [FRAME, d.as_bytes()].concat())
            .collect();
        let refs: Vec<&[u8]> = framed.iter().map(Vec::as_slice).collect();
        self.send_raw(&refs);
    }

    /// A recorder sending synchronously over UDP to this collector.
    pub fn recorder(&self, lambda: bool) -> Recorder {
        Recorder::new(Config {
            daemon: DaemonAddress {
                udp: self.addr,
                tcp: self.addr,
            },
            emit_mode: EmitMode::Udp,
            lambda,
            ..Config::default()
        })
    }

    /// Stops the collector and reads what it left.
    pub fn stop(self) -> Finished {
        self.stop.store(true, Ordering::Relaxed);
        let stats = self.handle.join().expect("collector thread");
        let text = std::fs::read_to_string(&self.path).expect("jsonl");
        let records = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l}")))
            .collect();
        Finished {
            stats,
            out: self.out.text(),
            diag: self.diag.text(),
            records,
            path: self.path,
            dir: self.dir,
        }
    }
}

impl Finished {
    /// Records that hold a document (accepted ones).
    pub fn documents(&self) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| matches!(r["status"].as_str(), Some("ok" | "warning")))
            .collect()
    }

    pub fn invalid(&self) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| r["status"] == "invalid")
            .collect()
    }

    pub fn notes(&self, note: &str) -> Vec<&Value> {
        self.records.iter().filter(|r| r["note"] == note).collect()
    }

    /// Checks every accepted document against the schema and the stricter rules.
    pub fn assert_documents_valid(&self) {
        for r in self.documents() {
            assert_valid_document(&r["document"].to_string());
            assert_eq!(r["status"], "ok", "{r}");
        }
    }

    /// The same, for the documents named `name` only (the rest were made by hand).
    pub fn assert_core_documents_valid(&self, name: &str) {
        let mine: Vec<&Value> = self
            .documents()
            .into_iter()
            .filter(|r| r["document"]["name"] == name)
            .collect();
        assert!(!mine.is_empty(), "no document named {name}");
        for r in mine {
            assert_valid_document(&r["document"].to_string());
            assert_eq!(r["status"], "ok", "{r}");
        }
    }
}

/// An incoming trace header with `Sampled=1` (always honoured).
pub fn sampled_header(trace: &str, parent: &str) -> TraceHeader {
    TraceHeader::parse(&format!("Root={trace};Parent={parent};Sampled=1")).expect("header")
}

/// Begins a sampled segment continuing `trace`.
pub fn segment(recorder: &Recorder, name: &str, trace: &str, parent: &str) -> Entity {
    recorder.begin_segment(
        Some(name),
        Some(&sampled_header(trace, parent)),
        &SamplingRequest::default(),
    )
}
