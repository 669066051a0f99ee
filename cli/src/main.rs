//! The `oxray` command: see [`oxray_cli::run`].

fn main() {
    oxray_cli::signal::install();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = oxray_cli::run(
        &args,
        &mut stdout.lock(),
        &mut stderr.lock(),
        &oxray_cli::signal::STOP,
    );
    std::process::exit(code);
}
