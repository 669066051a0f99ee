//! The soak's listener (tests/soak/run.sh): one UDP socket on 127.0.0.1 where the X-Ray daemon
//! would be, shared by the Python, Node and C drivers. Every datagram is checked with the
//! collector's own code — the daemon frame ([`oxray_cli::frame`]), the 64,000-byte bound, and
//! the service's rules plus what stricter receivers refuse ([`oxray_cli::validate`]) — and its
//! entities are counted per driver by their `soak-<tag>` names ([`tally`]). A sample of the
//! documents (the first 1,000, then one in 50) is written to a file for the schema check
//! (bindings/c's validate_documents). Drivers' `SOAK {json}` report lines arrive on standard
//! input; at its end the listener drains the socket, reads the kernel's drop counter and judges
//! each driver ([`verdict`]). Exit status 0 when every check passed.
//!
//! Usage: soak_listener --port-file FILE --sample FILE --tags py,node,c [--bind ADDR]

mod tally;
mod verdict;

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxray_cli::socket::{BatchReader, DropCounter};

/// How long the socket must stay quiet, once every driver has reported, before the count ends.
const DRAIN_QUIET: Duration = Duration::from_secs(2);

struct Options {
    port_file: String,
    sample: String,
    tags: Vec<String>,
    bind: SocketAddr,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Ok(Options {
        port_file: value("--port-file").ok_or("--port-file is required")?,
        sample: value("--sample").ok_or("--sample is required")?,
        tags: value("--tags")
            .ok_or("--tags is required")?
            .split(',')
            .map(str::to_string)
            .collect(),
        bind: value("--bind")
            .unwrap_or_else(|| "127.0.0.1:0".into())
            .parse()
            .map_err(|e| format!("--bind: {e}"))?,
    })
}

/// Binds with the largest receive buffer the kernel grants: SO_RCVBUFFORCE passes
/// `net.core.rmem_max` when running as root; otherwise the collector's SO_RCVBUF stands.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::AsRawFd;
    let socket = oxray_cli::socket::bind(addr)?;
    let size: libc::c_int = 256 << 20;
    // SAFETY: a valid descriptor and a pointer to a c_int of the stated length.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(socket)
}

/// Reads the drivers' report lines from standard input until it closes.
fn read_reports(lines: Arc<Mutex<Vec<String>>>, done: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
        done.store(true, Ordering::SeqCst);
    });
}

fn run() -> Result<bool, String> {
    let opts = options()?;
    let socket = bind(opts.bind).map_err(|e| format!("bind {}: {e}", opts.bind))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let tmp = format!("{}.tmp", opts.port_file);
    std::fs::write(&tmp, local.port().to_string())
        .and_then(|_| std::fs::rename(&tmp, &opts.port_file))
        .map_err(|e| format!("{}: {e}", opts.port_file))?;
    let drops = DropCounter::new(&socket);
    let mut tally = tally::Tally::new(&opts.tags, &opts.sample)?;
    let reports = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    read_reports(Arc::clone(&reports), Arc::clone(&done));

    let mut reader = BatchReader::default();
    let started = Instant::now();
    let mut last_datagram = Instant::now();
    loop {
        let n = reader
            .read(&socket, |datagram, _| tally.datagram(datagram))
            .map_err(|e| format!("receive: {e}"))?;
        if n > 0 {
            last_datagram = Instant::now();
        } else if done.load(Ordering::SeqCst) && last_datagram.elapsed() >= DRAIN_QUIET {
            break;
        }
    }
    let kernel_drops = drops.read();
    let lines = reports.lock().unwrap().clone();
    let received = tally.finish()?;
    let verdict = verdict::judge(&opts.tags, &lines, &received, kernel_drops);
    println!(
        "soak listener: {} datagrams in {:.0} s, kernel drops {}",
        received.datagrams,
        started.elapsed().as_secs_f64(),
        kernel_drops.map_or("unknown".into(), |d| d.to_string())
    );
    print!("{}", verdict.text);
    Ok(verdict.passed)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak listener: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
