//! The `rlora` command: `rlora --help`.

use std::process::ExitCode;

use clap::Parser;
use rlora_train::backend::Backend;
use rlora_train::cli::{Cli, Command, run_generate};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let device = Default::default();
    let result = match &cli.command {
        Command::Generate(args) => run_generate::<Backend>(args, &device).map(|output| {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&output).expect("plain data serializes")
                );
            } else {
                println!("{}", output.text);
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
