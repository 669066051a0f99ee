//! `cliMain`: the `oxray` command line (`oxray collect | show | map`) for `npx oxray`
//! (`node/bin/oxray.js`). It is the very function the `oxray` binary and `python -m oxray`
//! run (`oxray_cli::main_with_args`). It blocks the calling thread until the command ends and
//! installs the collector's SIGINT/SIGTERM handler, so it is meant for a process of its own.

use napi_derive::napi;

/// Runs the `oxray` command line (`args` without the program name), writing to the process's
/// standard output and error; returns the exit status (0 success, 1 failure, 2 usage error).
#[napi]
pub fn cli_main(args: Vec<String>) -> i32 {
    oxray_cli::main_with_args(&args)
}
