//! A stub of the X-Ray daemon's sampling proxy on 127.0.0.1, for the centralized sampling
//! tests: it records every request (method, path, headers, JSON body) and answers each path
//! as told (JSON, a status, garbage, or hanging until released).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How the stub answers one path.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with this JSON body.
    Json(Value),
    /// This status and raw body.
    Status(u16, String),
    /// 200 with this raw (not necessarily JSON) body.
    Raw(String),
    /// Reads the request, then sends nothing until [`Stub::release`] (or the test ends).
    Hang,
    /// 200 with the JSON for the request body's `NextToken` ("" when there is none).
    ByToken(HashMap<String, Value>),
}

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    answers: HashMap<String, Answer>,
    received: Vec<Received>,
    hanging: usize,
    released: bool,
}

pub struct Stub {
    pub addr: SocketAddr,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Stub {
    pub fn start() -> Stub {
        Stub::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// A stub on a given listener (e.g. re-bound to a port that was down).
    pub fn on(listener: TcpListener) -> Stub {
        let addr = listener.local_addr().unwrap();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Stub { addr, state }
    }

    pub fn answer(&self, path: &str, answer: Answer) {
        self.state
            .0
            .lock()
            .unwrap()
            .answers
            .insert(path.into(), answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.0.lock().unwrap().received.clone()
    }

    pub fn received_on(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits (bounded, generously: this is a guard, not a timing assertion) until `check`
    /// holds for the received requests.
    pub fn wait_until(&self, what: &str, check: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap();
        while !check(&st.received) {
            assert!(Instant::now() < deadline, "the stub never saw: {what}");
            st = cv.wait_timeout(st, Duration::from_millis(50)).unwrap().0;
        }
        st.received.clone()
    }

    /// Number of connections currently held open by [`Answer::Hang`].
    pub fn hanging(&self) -> usize {
        self.state.0.lock().unwrap().hanging
    }

    /// Waits (bounded guard) until a connection hangs.
    pub fn wait_hanging(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap();
        while st.hanging == 0 {
            assert!(Instant::now() < deadline, "no connection hung");
            st = cv.wait_timeout(st, Duration::from_millis(50)).unwrap().0;
        }
    }

    /// Lets hanging connections close.
    pub fn release(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap().released = true;
        cv.notify_all();
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.release();
    }
}

fn serve(mut stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let path = request_line.get(1).copied().unwrap_or("").to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = body["NextToken"].as_str().unwrap_or("").to_string();
    let (lock, cv) = shared;
    let answer = {
        let mut st = lock.lock().unwrap();
        st.received.push(Received {
            method: request_line.first().copied().unwrap_or("").to_string(),
            path: path.clone(),
            headers,
            body,
        });
        cv.notify_all();
        st.answers
            .get(&path)
            .cloned()
            .unwrap_or(Answer::Status(404, "no answer set".into()))
    };
    let (status, text) = match answer {
        Answer::Json(v) => (200, v.to_string()),
        Answer::Status(code, text) => (code, text),
        Answer::Raw(text) => (200, text),
        Answer::ByToken(pages) => match pages.get(&token) {
            Some(v) => (200, v.to_string()),
            None => (400, format!("unknown NextToken {token:?}")),
        },
        Answer::Hang => {
            let mut st = lock.lock().unwrap();
            st.hanging += 1;
            cv.notify_all();
            while !st.released {
                st = cv.wait(st).unwrap();
            }
            st.hanging -= 1;
            return;
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    );
}

/// One `SamplingRuleRecords` entry.
pub fn rule(name: &str, priority: i64, fixed_rate: f64, reservoir: u64, url_path: &str) -> Value {
    json!({ "SamplingRule": {
        "RuleName": name, "RuleARN": format!("arn:aws:xray:us-east-1:123456789012:sampling-rule/{name}"),
        "ResourceARN": "*", "Priority": priority, "FixedRate": fixed_rate, "ReservoirSize": reservoir,
        "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": url_path,
        "Version": 1, "Attributes": {} },
        "CreatedAt": 1_700_000_000.0, "ModifiedAt": 1_700_000_000.0 })
}

/// A `GetSamplingRules` answer.
pub fn rules(records: Vec<Value>) -> Value {
    json!({ "SamplingRuleRecords": records })
}

/// One target: `(RuleName, FixedRate, ReservoirQuota, ReservoirQuotaTTL (epoch s), Interval)`.
pub type Target<'a> = (&'a str, f64, Option<u64>, Option<f64>, Option<u64>);

/// A `SamplingTargets` answer with these targets.
pub fn targets(docs: &[Target<'_>], last_modification: f64) -> Value {
    let docs: Vec<Value> = docs
        .iter()
        .map(|(name, rate, quota, ttl, interval)| {
            let mut d = json!({ "RuleName": name, "FixedRate": rate });
            if let Some(q) = quota {
                d["ReservoirQuota"] = json!(q);
            }
            if let Some(t) = ttl {
                d["ReservoirQuotaTTL"] = json!(t);
            }
            if let Some(i) = interval {
                d["Interval"] = json!(i);
            }
            d
        })
        .collect();
    json!({ "SamplingTargetDocuments": docs, "LastRuleModification": last_modification,
            "UnprocessedStatistics": [] })
}
