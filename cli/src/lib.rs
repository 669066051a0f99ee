//! oxray-cli: the local collector and trace viewer behind the `oxray` command.
//!
//! `oxray collect` listens where the X-Ray daemon listens, checks each datagram as the daemon
//! and the service would ([`frame`], [`validate`]), appends everything to a JSONL file as it
//! arrives ([`store`]), reassembles traces ([`assemble`], [`open_traces`]) and prints each one
//! as a waterfall ([`waterfall`]) once it has been idle for a while ([`collect`]). `oxray show`
//! prints the same waterfalls from the file, optionally narrowed by an X-Ray filter expression
//! ([`filter`]); `oxray map` prints the service graph ([`map`]).
//!
//! Embedding: [`main_with_args`] is the whole program as a function (what `python -m oxray` or
//! `npx oxray` can call, or they can run the `oxray` binary); [`run`] is the same with
//! caller-given output streams and stop flag; [`collect::Collector`] is the collector as a
//! library, with live counters ([`stats`]).

pub mod args;
pub mod assemble;
pub mod collect;
pub mod filter;
pub mod forward;
pub mod frame;
pub mod map;
pub mod open_traces;
pub mod receive;
pub mod show;
pub mod signal;
pub mod socket;
pub mod stats;
pub mod store;
pub mod validate;
pub mod waterfall;

use std::io::Write;
use std::sync::atomic::AtomicBool;

use args::Command;

/// Exit status for a usage error (bad option, bad filter expression).
pub const EXIT_USAGE: i32 = 2;

/// True when colours suit standard output: a terminal, and `NO_COLOR` unset.
pub fn stdout_wants_color() -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    #[cfg(unix)]
    // SAFETY: isatty only inspects the descriptor.
    unsafe {
        libc::isatty(1) == 1
    }
    #[cfg(not(unix))]
    false
}

/// The `oxray` command as a process runs it: installs the Ctrl-C/SIGTERM handler, runs `args`
/// (without the program name) with standard output and error, and returns the exit status.
/// The one entry point behind the `oxray` binary, `python -m oxray` and `npx oxray`.
pub fn main_with_args(args: &[String]) -> i32 {
    signal::install();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = run(args, &mut stdout.lock(), &mut stderr.lock(), &signal::STOP);
    let _ = std::io::stdout().flush();
    code
}

/// Runs one command line (`args` without the program name). Waterfalls, tables and help go to
/// `out`; reports, summaries and errors to `diag`. `collect` runs until `stop` is set (or a
/// signal, if [`signal::install`] was called). Returns the exit status: 0 success, 1 failure
/// (a file or socket problem, records that could not be written, a trace not found), 2 usage
/// error.
pub fn run(args: &[String], out: &mut dyn Write, diag: &mut dyn Write, stop: &AtomicBool) -> i32 {
    let daemon_env = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok();
    let command = match args::parse(args, stdout_wants_color(), daemon_env.as_deref()) {
        Ok(c) => c,
        Err(message) => {
            let _ = writeln!(diag, "{message}");
            return EXIT_USAGE;
        }
    };
    match command {
        Command::Help(text) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
        Command::Version => {
            let _ = writeln!(out, "oxray {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Collect(options) => match collect::Collector::bind(options) {
            // Records that could not be written are a failure, even if everything else worked.
            Ok(collector) => i32::from(collector.run(stop, out, diag).store_errors > 0),
            Err(message) => {
                let _ = writeln!(diag, "oxray collect: {message}");
                1
            }
        },
        Command::Show { file, options } => match show::load(&file) {
            Ok(loaded) => show::show(&loaded, &file.display().to_string(), &options, out, diag),
            Err(e) => {
                let _ = writeln!(diag, "oxray show: cannot read {}: {e}", file.display());
                1
            }
        },
        Command::Map { file, filter, json } => match show::load(&file) {
            Ok(loaded) => show::map(&loaded, filter.as_ref(), json, out),
            Err(e) => {
                let _ = writeln!(diag, "oxray map: cannot read {}: {e}", file.display());
                1
            }
        },
    }
}
