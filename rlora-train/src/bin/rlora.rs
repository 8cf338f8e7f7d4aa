//! The `rlora` command: `rlora --help`.

use std::process::ExitCode;

use clap::Parser;
use rlora_train::backend::{Backend, TrainBackend};
use rlora_train::cli::{
    Cli, CliError, Command, run_eval, run_export, run_generate, run_heads, run_pretrain, run_train,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let device = Default::default();
    let result: Result<(), CliError> = match &cli.command {
        Command::Train(args) => run_train::<TrainBackend>(args, &device).map(|_| ()),
        Command::Heads(args) => run_heads::<Backend>(args, &device).map(|_| ()),
        Command::Eval(args) => run_eval::<Backend>(args, &device).map(|_| ()),
        Command::Export(args) => run_export::<Backend>(args, &device),
        Command::Pretrain(args) => run_pretrain::<TrainBackend>(args, &device),
        Command::Generate(args) => run_generate::<Backend>(args, &device)
            .map(|output| {
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string(&output).expect("plain data serializes")
                    );
                } else {
                    println!("{}", output.text);
                }
            })
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
