//! The `rlora` command: `rlora --help`.

use std::process::ExitCode;

use clap::Parser;
use rlora_train::backend::{Backend, TrainBackend, devices, probe_device};
use rlora_train::cli::{
    Cli, CliError, Command, expand_config_file, run_eval, run_experiment_command, run_export,
    run_generate, run_heads, run_pretrain, run_train,
};

fn main() -> ExitCode {
    let argv = match expand_config_file(std::env::args().collect()) {
        Ok(argv) => argv,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse_from(argv);
    let device = Default::default();
    if let Err(message) = probe_device(&device) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let result: Result<(), CliError> = match &cli.command {
        Command::Train(args) => {
            run_train::<TrainBackend>(args, &devices(args.devices as usize)).map(|_| ())
        }
        Command::Heads(args) => run_heads::<Backend>(args, &device).map(|_| ()),
        Command::Eval(args) => run_eval::<Backend>(args, &device).map(|_| ()),
        Command::Export(args) => run_export::<Backend>(args, &device),
        Command::Pretrain(args) => run_pretrain::<TrainBackend>(args, &device),
        Command::Experiment(args) => std::env::current_exe()
            .map_err(|e| format!("cannot find the rlora executable: {e}").into())
            .and_then(|program| run_experiment_command(args, &program))
            .map(|_| ()),
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
