//! The `oxray` command: see [`oxray_cli::main_with_args`].

fn main() {
    // `args_os` with a lossy conversion: `std::env::args` panics on an argument that is not
    // UTF-8; here such an argument reaches the command, which reports it like any bad input.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(oxray_cli::main_with_args(&args));
}
