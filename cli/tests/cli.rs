//! The `oxray` binary itself: collect (stopped by SIGINT, or by itself when idle), show and
//! map on a file, help, and the exit codes and messages of mistakes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::FRAME;
use serde_json::Value;

const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";

fn oxray() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oxray"));
    c.env_remove("AWS_XRAY_DAEMON_ADDRESS")
        .env_remove("NO_COLOR");
    c
}

fn run(args: &[&str]) -> Output {
    oxray().args(args).output().expect("run oxray")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `oxray collect`, its output gathered by threads.
struct Collecting {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn gather(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let mut all = into.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
}

fn wait_for(what: &str, buffer: &Arc<Mutex<String>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = buffer.lock().unwrap().clone();
        if now.contains(needle) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}:\n{now}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start_collect(extra: &[&str], env: Option<(&str, &str)>) -> Collecting {
    let mut command = oxray();
    command
        .arg("collect")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((k, v)) = env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn oxray collect");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    gather(child.stdout.take().unwrap(), Arc::clone(&stdout));
    gather(child.stderr.take().unwrap(), Arc::clone(&stderr));
    let banner = wait_for("the listening line", &stderr, ". Stop with Ctrl-C.");
    let addr = banner
        .split("listening on udp ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    Collecting {
        child,
        addr,
        stdout,
        stderr,
    }
}

fn doc(id: u64, name: &str, extra: &str) -> String {
    format!("{{\"name\":\"{name}\",\"id\":\"{id:016x}\",\"trace_id\":\"{TRACE}\",\"start_time\":1700000000.25,\"end_time\":1700000000.5{extra}}}")
}

#[test]
fn collect_prints_traces_and_stops_cleanly_on_sigint() {
    let dir = common::temp_dir("bin-collect");
    let out = dir.join("t.jsonl");
    let mut c = start_collect(
        &[
            "--listen",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
            "--idle",
            "0.2",
            "--color",
            "never",
        ],
        None,
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let front = doc(
        1,
        "front",
        ",\"http\":{\"response\":{\"status\":503}},\"fault\":true",
    );
    socket
        .send_to(&[FRAME, front.as_bytes()].concat(), c.addr)
        .unwrap();
    socket
        .send_to(b"{\"format\":\"json\",\"version\":1}\n{\"id\":1}", c.addr)
        .unwrap();
    let printed = wait_for("the waterfall", &c.stdout, "front");
    assert!(
        printed.starts_with(&format!(
            "trace {TRACE}  250.00 ms  1 entity in 1 document  FAULT\n"
        )),
        "{printed}"
    );
    assert!(printed.contains("→ 503"), "{printed}");
    wait_for("the report", &c.stderr, "invalid datagram from 127.0.0.1:");
    // SAFETY: signalling our own child process.
    assert_eq!(
        unsafe { libc::kill(c.child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let status = c.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let diag = wait_for("the summary", &c.stderr, "oxray show ");
    assert!(diag.contains("trace_id: missing [refused]"), "{diag}");
    assert!(
        diag.contains("2 datagram(s): 1 accepted (0 with warnings), 1 invalid"),
        "{diag}"
    );
    let records: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<String> = records
        .iter()
        .map(|r| {
            r["note"]
                .as_str()
                .or(r["status"].as_str())
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["started", "ok", "invalid", "stopped"]);
    common::assert_valid_document(&records[1]["document"].to_string());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collect_listens_where_aws_xray_daemon_address_points_and_can_exit_when_idle() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = common::temp_dir("bin-env");
    let out = dir.join("t.jsonl");
    let env = format!("tcp:127.0.0.1:{port} udp:127.0.0.1:{port}");
    let mut c = start_collect(
        &[
            "--out",
            out.to_str().unwrap(),
            "--exit-when-idle",
            "0.3",
            "--quiet",
        ],
        Some(("AWS_XRAY_DAEMON_ADDRESS", &env)),
    );
    assert_eq!(c.addr.port(), port);
    let status = c.child.wait().unwrap();
    assert!(status.success());
    assert!(c.stdout.lock().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_cannot_be_written_is_reported_and_fails_the_run() {
    if !std::path::Path::new("/dev/full").exists() {
        return; // not Linux
    }
    let mut c = start_collect(
        &[
            "--listen",
            "127.0.0.1:0",
            "--out",
            "/dev/full",
            "--exit-when-idle",
            "3",
            "--quiet",
        ],
        None,
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(&[FRAME, doc(1, "lost", "").as_bytes()].concat(), c.addr)
        .unwrap();
    let status = c.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let diag = wait_for("the summary", &c.stderr, "oxray show ");
    assert_eq!(diag.matches("cannot write /dev/full").count(), 1, "{diag}");
    assert!(diag.contains("1 datagram(s): 1 accepted"), "{diag}");
    assert!(diag.contains("failed write(s) to the file"), "{diag}");
}

fn sample_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("sample.jsonl");
    let other = "1-5759e988-00000000000000000000000b";
    let mut f = std::fs::File::create(&path).unwrap();
    let lines = [
        "{\"received\":1.0,\"note\":\"started\",\"listen\":\"127.0.0.1:2000\"}".to_string(),
        format!("{{\"received\":1.1,\"from\":\"127.0.0.1:9\",\"status\":\"ok\",\"trace_id\":\"{TRACE}\",\"id\":\"0000000000000001\",\"bytes\":10,\"document\":{}}}",
            doc(1, "checkout", ",\"annotations\":{\"order_id\":\"o-1\"},\"subsegments\":[{\"name\":\"payments\",\"id\":\"0000000000000002\",\"namespace\":\"remote\",\"start_time\":1700000000.3,\"end_time\":1700000000.4,\"fault\":true,\"http\":{\"request\":{\"url\":\"https://pay/charge\"},\"response\":{\"status\":500}}}]")),
        "{\"received\":1.2,\"from\":\"127.0.0.1:9\",\"status\":\"invalid\",\"kind\":\"frame\",\"reason\":\"invalid header: version is 2, expected the number 1\",\"bytes\":3,\"raw\":\"x\"}".to_string(),
        // A bare document line, as other tools write them.
        doc(3, "catalog", "").replace(TRACE, other),
        "not json at all".to_string(),
        String::new(),
    ];
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path
}

#[test]
fn show_prints_waterfalls_from_a_file_with_filters() {
    let dir = common::temp_dir("bin-show");
    let file = sample_file(&dir);
    let file = file.to_str().unwrap();
    let all = run(&["show", file]);
    assert!(all.status.success());
    let out = text(&all.stdout);
    assert_eq!(
        out.matches("\ntrace ").count() + usize::from(out.starts_with("trace ")),
        2,
        "{out}"
    );
    assert!(out.contains("payments"), "{out}");
    let err = text(&all.stderr);
    assert!(err.contains("2 of 2 trace(s) shown (2 document(s)); 1 invalid record(s); 1 unreadable line(s) — list them with --invalid"), "{err}");

    let filtered = run(&[
        "show",
        file,
        "--filter",
        "fault AND annotation.order_id = \"o-1\" AND http.url CONTAINS \"/charge\"",
    ]);
    let out = text(&filtered.stdout);
    assert!(out.contains(TRACE) && !out.contains("catalog"), "{out}");

    let one = run(&[
        "show",
        file,
        "--trace",
        "1-5759e988-00000000000000000000000b",
        "--invalid",
    ]);
    let out = text(&one.stdout);
    assert!(
        out.contains("catalog") && !out.contains("checkout"),
        "{out}"
    );
    assert!(
        out.contains("line 3: from 127.0.0.1:9 [frame] invalid header: version is 2"),
        "{out}"
    );
    assert!(out.contains("line 5: not JSON"), "{out}");

    let missing = run(&[
        "show",
        file,
        "--trace",
        "1-5759e988-00000000000000000000000c",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("is not in the file"));

    let bad = run(&["show", file, "--filter", "fault AND duration >"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        text(&bad.stderr),
        "invalid filter at column 21: duration compares with a number, found the end of the expression\n  fault AND duration >\n                      ^\n"
    );

    let mut stdin = oxray()
        .args(["show", "-", "--ascii"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    stdin
        .stdin
        .take()
        .unwrap()
        .write_all(std::fs::read(file).unwrap().as_slice())
        .unwrap();
    let piped = stdin.wait_with_output().unwrap();
    assert!(
        text(&piped.stdout).contains("|#"),
        "{}",
        text(&piped.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn map_prints_the_service_graph() {
    let dir = common::temp_dir("bin-map");
    let file = sample_file(&dir);
    let file = file.to_str().unwrap();
    let table = run(&["map", file]);
    assert!(table.status.success());
    let out = text(&table.stdout);
    assert!(
        out.starts_with("service graph of 2 trace(s): 3 node(s), 3 edge(s)"),
        "{out}"
    );
    assert!(out.contains("checkout -> payments"), "{out}");
    let json = run(&["map", file, "--json", "--filter", "fault"]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["traces"], 1);
    let payments = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "payments")
        .unwrap();
    assert_eq!(
        (payments["type"].as_str(), payments["fault_rate"].as_f64()),
        (Some("remote"), Some(1.0))
    );
    assert_eq!(payments["p50_ms"], 100.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_version_and_mistakes() {
    let help = run(&["help", "show"]);
    assert!(help.status.success());
    assert!(text(&help.stdout).contains("--filter EXPR"));
    assert!(text(&run(&[]).stdout).contains("usage:"));
    assert!(text(&run(&["--version"]).stdout).starts_with("oxray 0."));
    for (args, code, message) in [
        (vec!["frobnicate"], 2, "unknown command"),
        (vec!["collect", "--idle", "x"], 2, "--idle wants seconds"),
        (vec!["show"], 2, "which file?"),
        (
            vec!["show", "/nonexistent/oxray.jsonl"],
            1,
            "cannot read /nonexistent/oxray.jsonl",
        ),
        (vec!["map", "/nonexistent/oxray.jsonl"], 1, "cannot read"),
        (
            vec!["collect", "--out", "/nonexistent/dir/t.jsonl"],
            1,
            "cannot open /nonexistent/dir/t.jsonl",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}");
        assert!(
            text(&o.stderr).contains(message),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    // The port is taken: a clear error, not a panic.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = common::temp_dir("bin-taken");
    let out = dir.join("t.jsonl");
    let o = run(&["collect", "--listen", &addr, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains(&format!("cannot listen on udp {addr}")),
        "{}",
        text(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
