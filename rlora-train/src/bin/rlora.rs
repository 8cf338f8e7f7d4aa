//! The `rlora` command: `rlora --help`.

use std::process::ExitCode;

use rlora_train::cli::expand_config_file;
use rlora_train::program::{Cli, run};

fn main() -> ExitCode {
    rlora_train::backend::tune_cpu_allocator();
    let result = expand_config_file(std::env::args().collect())
        .and_then(|argv| run(&Cli::try_parse_args(argv).unwrap_or_else(|e| e.exit())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
