//! The `rlora` program's command line: [`Cli`] joins the command line's subcommands with the
//! experiment's. The `rlora` executable picks the backend and runs the one given.
//!
//! The top room: it imports [`cli`](crate::cli) and [`experiment`](crate::experiment).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cli::{
    CoordinatorArgs, EvalArgs, ExportArgs, GenerateArgs, HeadsArgs, LaunchArgs, PretrainArgs,
    TrainArgs, with_config_file,
};
use crate::experiment::ExperimentArgs;
use crate::run::values::numbers_may_be_negative;

/// R-LoRA (Randomized Multi-Head LoRA) fine-tuning for Llama-family models, on burn.
#[derive(Debug, Parser)]
#[command(name = "rlora", version, about, args_override_self = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fine-tune adapters on a multi-task mixture, then evaluate per task.
    Train(Box<TrainArgs>),
    /// Per-task accuracy of a model, with or without an adapter.
    Eval(EvalArgs),
    /// Continue a prompt with a Hugging Face model, optionally with an adapter.
    Generate(GenerateArgs),
    /// Export an adapter to PEFT's format, or merge it into a full model.
    Export(ExportArgs),
    /// Head cosine similarities of an adapter, with heat maps.
    Heads(HeadsArgs),
    /// Pretrain the tiny byte-level base model that the examples fine-tune.
    Pretrain(PretrainArgs),
    /// Train as a group of N processes on this machine: `rlora launch --nprocs N -- <train
    /// flags>` starts the ranks, forwards their output, and stops them all if one fails.
    Launch(LaunchArgs),
    /// Serve a training group's coordinator (rank 0 of `rlora train --nodes N` starts one).
    Coordinator(CoordinatorArgs),
    /// The paper's comparison in miniature: LoRA, HydraLoRA, its ablations and R-LoRA over
    /// several seeds on the built-in suite, with a report.
    Experiment(Box<ExperimentArgs>),
}

impl Cli {
    /// Parses `argv` (the program's name first) as [`Parser::try_parse_from`] does, with
    /// negative numbers accepted as the values of numeric flags (`--lr -1e-3`), for the flags'
    /// parsers to judge.
    /// `rlora train`'s `--config` file is read first: its settings become the train flags'
    /// defaults, which the command line's flags override.
    pub fn try_parse_args(argv: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        let argv: Vec<String> = argv.into_iter().collect();
        let mut command = numbers_may_be_negative(Self::command());
        let train = (argv.get(1).map(String::as_str) == Some("train"))
            .then(|| command.find_subcommand("train").cloned())
            .flatten();
        if let Some(train) = train {
            let (train, _) = with_config_file(train.bin_name("rlora train"), &argv[1..])?;
            command = command.mut_subcommand("train", |_| train);
        }
        let matches = command.try_get_matches_from_mut(argv)?;
        let mut cli = Self::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        if let Command::Train(args) = &mut cli.command {
            args.config_read = true;
        }
        Ok(cli)
    }
}
