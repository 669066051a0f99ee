//! The `oxray` command: see [`oxray_cli::main_with_args`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(oxray_cli::main_with_args(&args));
}
