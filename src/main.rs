//! The `loket` binary: parse the command line and hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = loket::cli::Cli::parse();
    loket::telemetry::init_with(cli.log_format, cli.verbosity());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(loket::cli::execute(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", loket::cli::inert(&loket::cli::exit::message(&error)));
            std::process::ExitCode::from(loket::cli::exit::code(&error))
        }
    }
}
