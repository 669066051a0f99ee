//! `oxray._core.cli_main`: the `oxray` command line (`oxray collect | show | map`) for
//! `python -m oxray`. It is the very function the `oxray` binary and `npx oxray` run
//! (`oxray_cli::main_with_args`), called with the GIL released so other Python threads keep
//! running while `collect` listens. Meant for a process of its own: it installs the
//! collector's SIGINT/SIGTERM handler in place of Python's.

use pyo3::prelude::*;

/// Runs the `oxray` command line (`args` without the program name), writing to the process's
/// standard output and error; returns the exit status (0 success, 1 failure, 2 usage error).
#[pyfunction]
pub fn cli_main(py: Python<'_>, args: Vec<String>) -> i32 {
    py.detach(move || oxray_cli::main_with_args(&args))
}
