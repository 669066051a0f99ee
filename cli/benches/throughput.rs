//! How many datagrams per second `oxray collect` sustains, over real UDP on 127.0.0.1.
//!
//! Datagrams are Lambda-style documents made by the core's recorder (a handler subsegment
//! with annotations, metadata and two embedded calls, about 800 bytes), three per trace.
//! 1. capacity: a sender keeps at most WINDOW datagrams in flight (sent, not yet received by
//!    the collector), so the kernel buffer never overflows and the rate measured is the
//!    collector's processing rate; run quiet, then again rendering every waterfall (to a sink);
//! 2. paced: 50,000 datagrams/s for 3 s without flow control; every datagram must arrive.
//!
//! Each phase also prints the CPU time per datagram of the collector's two threads (which does
//! not depend on what else the machine is running) and the rate that implies.
//!
//! `cargo bench -p oxray-cli --bench throughput` (OXRAY_BENCH_DATAGRAMS sets phase 1's count).
//! On a busy machine, `chrt -f 10 <bench binary> --bench` measures without other processes' load.

use std::net::UdpSocket;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxray_cli::collect::{CollectOptions, Collector};
use oxray_cli::stats::{Stats, StatsSnapshot};
use oxray_core::model::{HttpRequest, JsonText, Namespace};
use oxray_core::{AnnotationValue, Recorder};

const WINDOW: u64 = 1_000;

fn datagrams(traces: usize) -> Vec<Vec<u8>> {
    let recorder = Recorder::in_memory();
    for i in 0..traces {
        let header = format!(
            "Root=1-6b013922-{:024x};Parent={:016x};Sampled=1",
            i + 1,
            i + 1
        );
        let facade = recorder.lambda_facade(Some(&header));
        for call in 0..3 {
            let handler = facade.begin_subsegment("## payment.handler");
            let _ = handler.put_annotation("ColdStart", AnnotationValue::Bool(i == 0));
            let _ = handler.put_annotation("Service", AnnotationValue::Str("payment".into()));
            let _ = handler.put_annotation("amount", AnnotationValue::Int(120 + call));
            let _ = handler.put_metadata(
                Some("payment"),
                "request",
                JsonText::parse("{\"order\":\"o-1\",\"items\":[1,2,3]}").unwrap(),
            );
            let validate = handler.begin_subsegment("### validate_order");
            let _ = validate.end();
            let bank = handler.begin_subsegment("bank.local");
            let _ = bank.set_namespace(Some(Namespace::Remote));
            let _ = bank.set_http_request(HttpRequest {
                method: Some("POST".into()),
                url: Some("http://bank.local/charge".into()),
                traced: true,
                ..Default::default()
            });
            let _ = bank.set_http_response(Some(200), Some(8));
            let _ = bank.end();
            let _ = handler.end();
        }
    }
    recorder
        .take_documents()
        .into_iter()
        .map(|d| [oxray_core::DAEMON_HEADER, d.as_bytes()].concat())
        .collect()
}

struct Run {
    collector: std::thread::JoinHandle<StatsSnapshot>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    dir: std::path::PathBuf,
}

fn start(name: &str, quiet: bool) -> Run {
    let dir = std::env::temp_dir().join(format!("oxray-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut options = CollectOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        out: dir.join("traces.jsonl"),
        quiet,
        ..CollectOptions::default()
    };
    options.limits.idle = Duration::from_millis(200);
    let collector = Collector::bind(options).unwrap();
    let addr = collector.local_addr();
    let stats = collector.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        collector.run(&stop2, &mut std::io::sink(), &mut std::io::sink())
    });
    Run {
        collector: handle,
        stats,
        stop,
        addr,
        dir,
    }
}

impl Run {
    fn finish(self) -> StatsSnapshot {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let s = self.collector.join().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        s
    }
}

fn capacity(name: &str, quiet: bool, data: &[Vec<u8>], count: u64) -> (f64, StatsSnapshot) {
    let run = start(name, quiet);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let received = || {
        run.stats
            .datagrams
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    for i in 0..count {
        while i - received() >= WINDOW {
            std::thread::yield_now();
        }
        socket
            .send_to(&data[i as usize % data.len()], run.addr)
            .unwrap();
    }
    while received() < count {
        std::thread::yield_now();
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    (rate, run.finish())
}

fn paced(data: &[Vec<u8>], per_second: u64, seconds: u64) -> StatsSnapshot {
    let run = start("paced", true);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let total = per_second * seconds;
    // 250 datagrams every 5 ms, sleeping in between (the sender must not eat a core).
    let chunk = per_second / 200;
    let started = Instant::now();
    for i in 0..total {
        if i % chunk == 0 {
            let due = Duration::from_secs_f64(i as f64 / per_second as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        socket
            .send_to(&data[i as usize % data.len()], run.addr)
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while run.stats.snapshot().datagrams < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(1100)); // one kernel-drop reading
    run.finish()
}

/// CPU time per datagram of each collector thread, and the rate that implies.
fn cpu(s: &StatsSnapshot) -> String {
    let per = |micros: u64| micros as f64 / s.datagrams.max(1) as f64;
    let (r, w) = (per(s.receive_cpu_micros), per(s.record_cpu_micros));
    format!(
        "CPU per datagram: receiving thread {r:.1} us, recording thread {w:.1} us (=> {:.0} datagrams/s with a core each)",
        1e6 / r.max(w)
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not: stay quick there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput bench: run it with cargo bench -p oxray-cli --bench throughput");
        return;
    }
    let count: u64 = std::env::var("OXRAY_BENCH_DATAGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let data = datagrams(20_000);
    let mean = data.iter().map(Vec::len).sum::<usize>() / data.len();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "oxray collect throughput: {} distinct datagrams of {mean} bytes on average, 3 per trace; {} CPU(s), load average {}",
        data.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let (rate, s) = capacity("quiet", true, &data, count);
    println!(
        "capacity, quiet:               {rate:>7.0} datagrams/s ({:.1} MB/s); {} accepted, {} invalid, kernel drops {}\n    {}",
        rate * mean as f64 / 1e6,
        s.accepted,
        s.invalid(),
        s.kernel_drops,
        cpu(&s)
    );
    let (rate, s) = capacity("printing", false, &data, count);
    println!(
        "capacity, printing waterfalls: {rate:>7.0} datagrams/s; {} traces printed, kernel drops {}\n    {}",
        s.traces_completed,
        s.kernel_drops,
        cpu(&s)
    );
    let s = paced(&data, 50_000, 3);
    println!(
        "paced 50,000 datagrams/s for 3 s: {} of 150000 received, {} accepted, kernel drops {}\n    {}",
        s.datagrams,
        s.accepted,
        s.kernel_drops,
        cpu(&s)
    );
}
