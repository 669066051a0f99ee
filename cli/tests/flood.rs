//! The collector under a flood: 100,000 datagrams to a real `oxray collect` process on
//! 127.0.0.1, one in ten of them garbage of six kinds. Every valid document must be stored
//! exactly once, every bad datagram counted under its reason, nothing dropped by the kernel,
//! and the collector's memory must stay bounded (its peak RSS, read from /proc).
//!
//! Sending is paced by the collector's receive queue as the kernel reports it
//! (`/proc/net/udp`, `rx_queue`), so the assertions can be exact: the kernel's drop counter
//! for the socket is read too and must be 0.

#![cfg(target_os = "linux")]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::FRAME;
use serde_json::Value;

const TOTAL: u64 = 100_000;
/// Every tenth datagram is garbage.
const GARBAGE_EVERY: u64 = 10;
/// Documents per trace among the valid ones.
const DOCS_PER_TRACE: u64 = 10;
/// The open-trace memory cap given to the collector (`--max-open-mb`).
const MAX_OPEN_MB: u64 = 8;
/// The peak RSS allowed. The cap counts document bytes; held parsed, they take about 2-3 times
/// that (measured: ~2.3 MB of RSS per MB of cap), so 4x the cap; plus the process's fixed
/// costs (a debug build's code, the receive buffers of 32 x 64 KiB, the file buffer: ~37 MB
/// measured) and the batches in flight between its two threads (up to 256 x 32 judged
/// datagrams when the recording thread falls behind: ~25 MB with this mix).
const MAX_PEAK_RSS_KB: u64 = (4 * MAX_OPEN_MB + 64) * 1024;
/// Growth allowed between the first half and the end of the flood, once the cap is reached:
/// a leak of 400 bytes per datagram would exceed it.
const MAX_LATE_GROWTH_KB: u64 = 20 * 1024;
/// Sending pauses while the collector's socket holds more than this (kernel accounting).
const QUEUE_HIGH_WATER: u64 = 64 * 1024;
/// How often (in datagrams) the receive queue is looked at.
const PACE_EVERY: u64 = 8;

/// The garbage kinds, in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Garbage {
    NotJson,
    WrongHeader,
    Truncated,
    Oversize,
    NotUtf8,
    SchemaInvalid,
}

const KINDS: [Garbage; 6] = [
    Garbage::NotJson,
    Garbage::WrongHeader,
    Garbage::Truncated,
    Garbage::Oversize,
    Garbage::NotUtf8,
    Garbage::SchemaInvalid,
];

fn trace_of(i: u64) -> String {
    format!("1-5759e988-{:024x}", i / DOCS_PER_TRACE)
}

fn document(i: u64, extra: &str) -> String {
    format!(
        "{{\"name\":\"flood\",\"id\":\"{:016x}\",\"trace_id\":\"{}\",\"start_time\":1700000000.5,\"end_time\":1700000000.75,\"annotations\":{{\"n\":{i}}}{extra}}}",
        i + 1,
        trace_of(i)
    )
}

fn framed(doc: &[u8]) -> Vec<u8> {
    [FRAME, doc].concat()
}

/// Datagram `i`: valid unless `i` is a multiple of [`GARBAGE_EVERY`].
fn datagram(i: u64) -> (Option<Garbage>, Vec<u8>) {
    if i % GARBAGE_EVERY != 0 {
        return (None, framed(document(i, "").as_bytes()));
    }
    let kind = KINDS[(i / GARBAGE_EVERY) as usize % KINDS.len()];
    let bytes = match kind {
        Garbage::NotJson => framed(format!("garbage {i} {{ not json").as_bytes()),
        Garbage::WrongHeader => [
            b"{\"format\":\"json\",\"version\":2}\n",
            document(i, "").as_bytes(),
        ]
        .concat(),
        Garbage::Truncated => {
            let whole = framed(document(i, "").as_bytes());
            whole[..whole.len() - 17].to_vec()
        }
        // Over the service's 64,000-byte document limit; still fits one UDP datagram.
        Garbage::Oversize => {
            let pad = format!(
                ",\"metadata\":{{\"default\":{{\"pad\":\"{}\"}}}}",
                "p".repeat(64_500)
            );
            framed(document(i, &pad).as_bytes())
        }
        Garbage::NotUtf8 => {
            let mut doc = document(i, "").into_bytes();
            let at = doc.windows(5).position(|w| w == b"flood").unwrap();
            doc[at..at + 2].copy_from_slice(b"\xff\xfe");
            framed(&doc)
        }
        Garbage::SchemaInvalid => framed(document(i, "").replace("\"id\"", "\"ident\"").as_bytes()),
    };
    (Some(kind), bytes)
}

/// The `rx_queue` and `drops` columns of the UDP socket bound to 127.0.0.1:`port`.
fn socket_queue(port: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(1)? != &local {
            return None;
        }
        let rx = u64::from_str_radix(cols.get(4)?.split(':').nth(1)?, 16).ok()?;
        Some((rx, cols.get(12)?.parse().ok()?))
    })
}

/// A `VmHWM`/`VmRSS`-style field of /proc/<pid>/status, in KiB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Datagram records (not notes) in the JSONL file so far.
fn records_in(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"{") && l.windows(10).any(|w| w == b"\"status\":\""))
        .count() as u64
}

/// Starts `oxray collect` on an ephemeral port and reads the port from its first line.
fn start_collector(out: &Path) -> (Child, SocketAddr, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxray"))
        .args([
            "collect",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--reports",
            "0",
        ])
        .args([
            "--max-open-mb",
            &MAX_OPEN_MB.to_string(),
            "--idle",
            "3600",
            "--out",
        ])
        .arg(out)
        .env_remove("AWS_XRAY_DAEMON_ADDRESS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oxray collect");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .split("listening on udp ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    (child, addr, stderr)
}

#[test]
fn a_flood_with_one_in_ten_garbage_is_stored_and_counted_exactly_in_bounded_memory() {
    let dir = common::temp_dir("flood100k");
    let out = dir.join("flood.jsonl");
    let (mut child, addr, mut stderr) = start_collector(&out);
    let pid = child.id();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();

    let mut sent_kinds: Vec<Garbage> = Vec::new();
    let mut valid_ids: HashSet<String> = HashSet::new();
    let mut pauses = 0u64;
    let mut rss_by_quarter = Vec::new();
    let started = Instant::now();
    for i in 0..TOTAL {
        if i % PACE_EVERY == 0 {
            loop {
                // A row can be missed when the table changes while it is read: look again,
                // unless the collector has exited.
                let Some((queued, _)) = socket_queue(addr.port()) else {
                    if let Ok(Some(status)) = child.try_wait() {
                        let said: Vec<String> =
                            (&mut stderr).lines().map_while(Result::ok).collect();
                        panic!("the collector exited ({status}) at datagram {i}: {said:#?}");
                    }
                    continue;
                };
                if queued <= QUEUE_HIGH_WATER {
                    break;
                }
                pauses += 1;
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        let (kind, bytes) = datagram(i);
        match kind {
            Some(k) => sent_kinds.push(k),
            None => {
                valid_ids.insert(format!("{:016x}", i + 1));
            }
        }
        socket.send_to(&bytes, addr).expect("send");
        if (i + 1) % (TOTAL / 4) == 0 {
            rss_by_quarter.push(status_kb(pid, "VmRSS:"));
        }
    }
    let send_secs = started.elapsed().as_secs_f64();

    // Wait until every datagram is in the file, with a stall detector (no progress for five
    // minutes means a hung collector), not a bound on how fast it must be.
    let (mut seen, mut last_progress) = (0, Instant::now());
    while seen < TOTAL {
        std::thread::sleep(Duration::from_millis(100));
        let now = records_in(&out);
        if now > seen {
            (seen, last_progress) = (now, Instant::now());
        }
        assert!(
            last_progress.elapsed() < Duration::from_secs(300),
            "the collector stalled at {seen} of {TOTAL} records"
        );
    }
    let peak_rss_kb = status_kb(pid, "VmHWM:");
    let final_rss_kb = status_kb(pid, "VmRSS:");
    let (_, kernel_drops) = socket_queue(addr.port()).unwrap();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let mut summary = String::new();
    for line in stderr.lines() {
        summary.push_str(&line.unwrap());
        summary.push('\n');
    }
    assert!(child.wait().unwrap().success(), "{summary}");

    // The file: one record per datagram, then the final counters.
    let text = std::fs::read_to_string(&out).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let stats = records
        .iter()
        .rev()
        .find(|r| r["note"] == "stopped")
        .expect("the final counters");
    let count = |name: &str| {
        stats[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {stats}"))
    };
    let garbage = |k: Garbage| sent_kinds.iter().filter(|s| **s == k).count() as u64;
    let valid = valid_ids.len() as u64;
    assert_eq!(valid + sent_kinds.len() as u64, TOTAL);
    assert_eq!(
        kernel_drops, 0,
        "the kernel dropped datagrams despite pacing"
    );
    assert_eq!(count("kernel_drops"), 0);
    assert_eq!(count("datagrams"), TOTAL, "{summary}");
    assert_eq!(count("invalid_frame"), garbage(Garbage::WrongHeader));
    assert_eq!(
        count("invalid_json"),
        garbage(Garbage::NotJson) + garbage(Garbage::Truncated) + garbage(Garbage::NotUtf8)
    );
    assert_eq!(count("invalid_refused"), garbage(Garbage::SchemaInvalid));
    assert_eq!(count("invalid_unreadable"), 0);
    // Oversize documents are taken (as the service's own limit is enforced upstream) with a
    // warning each; every other accepted document is a valid one.
    assert_eq!(count("accepted"), valid + garbage(Garbage::Oversize));
    assert_eq!(count("accepted_with_warnings"), garbage(Garbage::Oversize));
    assert_eq!(count("duplicates"), 0);
    assert_eq!(count("store_errors"), 0);

    let mut stored = HashSet::new();
    let (mut invalid_records, mut oversize_records) = (0u64, 0u64);
    for r in records.iter().filter(|r| r.get("status").is_some()) {
        match r["status"].as_str().unwrap() {
            "ok" => {
                let id = r["id"].as_str().unwrap().to_string();
                assert_eq!(r["document"]["id"], id.as_str());
                assert!(stored.insert(id), "stored twice: {r}");
            }
            "warning" => {
                assert!(r["bytes"].as_u64().unwrap() > 64_000, "{r}");
                assert!(
                    r["warnings"]
                        .to_string()
                        .contains("over the service's 64000-byte limit"),
                    "{}",
                    r["warnings"]
                );
                oversize_records += 1;
            }
            "invalid" => {
                assert!(!r["reason"].as_str().unwrap().is_empty());
                invalid_records += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!(
        stored, valid_ids,
        "every valid document stored exactly once"
    );
    assert_eq!(oversize_records, garbage(Garbage::Oversize));
    assert_eq!(
        invalid_records + oversize_records,
        sent_kinds.len() as u64,
        "every garbage datagram recorded with its reason"
    );
    eprintln!(
        "flood: {TOTAL} datagrams ({} garbage) sent in {send_secs:.1} s with {pauses} pacing pauses; \
         collector RSS after each quarter {rss_by_quarter:?} KiB, {final_rss_kb} KiB at the end, peak {peak_rss_kb} KiB \
         (bound {MAX_PEAK_RSS_KB} KiB); {} trace(s) evicted by the {MAX_OPEN_MB} MB cap",
        sent_kinds.len(),
        count("traces_evicted"),
    );
    assert!(
        rss_by_quarter[3] < rss_by_quarter[1] + MAX_LATE_GROWTH_KB,
        "memory kept growing: {rss_by_quarter:?} KiB"
    );
    assert!(
        peak_rss_kb < MAX_PEAK_RSS_KB,
        "peak RSS {peak_rss_kb} KiB over the {MAX_PEAK_RSS_KB} KiB bound"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
