//! The `rlora` command: `rlora --help`.

use std::process::ExitCode;

use clap::Parser;
use rlora_train::cli::expand_config_file;
use rlora_train::program::{Cli, run};

fn main() -> ExitCode {
    rlora_train::backend::tune_cpu_allocator();
    let result =
        expand_config_file(std::env::args().collect()).and_then(|argv| run(&Cli::parse_from(argv)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
