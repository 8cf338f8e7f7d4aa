//! The `rlora` command: `rlora --help`. Its backend is the one the package's cargo features pick
//! ([`backend`]); the library it runs is generic over the backend.

mod backend;

use std::path::PathBuf;
use std::process::ExitCode;

use rlora_train::cli::{
    CliError, run_coordinator, run_eval, run_export, run_generate, run_heads, run_launch,
    run_pretrain,
};
use rlora_train::experiment::run_experiment_command;
use rlora_train::program::{Cli, Command};
use rlora_train::run::{RunError, train};
use rlora_train::trainer::ENGINE_THREADS_VARIABLE;

use backend::{Backend, TrainBackend, data_parallel, devices, probe_device, tune_cpu_allocator};

fn main() -> ExitCode {
    tune_cpu_allocator();
    let cli = Cli::try_parse_args(std::env::args()).unwrap_or_else(|e| e.exit());
    if let Command::Train(args) = &cli.command
        && args.run.placement.nodes > 1
        && std::env::var_os(ENGINE_THREADS_VARIABLE).is_none()
    {
        // SAFETY: no other thread exists yet: nothing before this line starts one.
        unsafe { std::env::set_var(ENGINE_THREADS_VARIABLE, "1") };
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let run_error = error.downcast_ref::<RunError>();
            ExitCode::from(run_error.map_or(1, RunError::exit_status))
        }
    }
}

/// Runs `cli`'s subcommand on this build's backend, printing what it prints (`rlora generate
/// --json`: one JSON object).
fn run(cli: &Cli) -> Result<(), CliError> {
    let device = Default::default();
    probe_device(&device)?;
    match &cli.command {
        Command::Train(args) => {
            args.check_config_read()?;
            let devices = devices(args.run.placement.devices as usize);
            train::<TrainBackend>(&args.run, &devices, data_parallel(&devices))?;
            Ok(())
        }
        Command::Launch(args) => run_launch(args, &current_program()?),
        Command::Coordinator(args) => run_coordinator(args),
        Command::Heads(args) => run_heads::<Backend>(args, &device).map(|_| ()),
        Command::Eval(args) => run_eval::<Backend>(args, &device).map(|_| ()),
        Command::Export(args) => run_export::<Backend>(args, &device),
        Command::Pretrain(args) => run_pretrain::<TrainBackend>(args, &device),
        Command::Experiment(args) => {
            run_experiment_command::<Backend>(args, &current_program()?, &device).map(|_| ())
        }
        Command::Generate(args) => {
            let output = run_generate::<Backend>(args, &device)?;
            if args.json {
                println!("{}", serde_json::to_string(&output)?);
            } else {
                println!("{}", output.text);
            }
            Ok(())
        }
    }
}

/// The running `rlora` executable, which the launcher and the experiment start again.
fn current_program() -> Result<PathBuf, CliError> {
    std::env::current_exe().map_err(|e| format!("cannot find the rlora executable: {e}").into())
}
