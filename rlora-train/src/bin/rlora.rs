//! The `rlora` command: `rlora --help`.

use std::process::ExitCode;

use rlora_train::program::{Cli, run};

fn main() -> ExitCode {
    rlora_train::backend::tune_cpu_allocator();
    let cli = Cli::try_parse_args(std::env::args()).unwrap_or_else(|e| e.exit());
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
