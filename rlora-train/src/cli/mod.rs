//! The `rlora` command line: argument parsing (clap) and one module per subcommand.

mod config_file;
mod eval;
mod example;
mod experiment;
mod export;
mod generate;
mod heads;
mod pretrain;
mod train;

use clap::{Parser, Subcommand};

pub use crate::base::tiny_base_dir;
pub use config_file::expand_config_file;
pub use eval::{EvalArgs, run_eval};
pub use example::{example_args, tiny_base_defaults};
pub use experiment::{ExperimentArgs, run_experiment_command};
pub use export::{ExportArgs, run_export};
pub use generate::{GenerateArgs, GenerateOutput, load_any_adapter, run_generate};
pub use heads::{HeadsArgs, run_heads};
pub use pretrain::{PretrainArgs, run_pretrain};
pub use train::{CliError, RouterStart, RunResources, TrainArgs, TrainOutcome, Variant, run_train};

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
    /// The paper's comparison in miniature: LoRA, HydraLoRA, its ablations and R-LoRA over
    /// several seeds on the built-in suite, with a report.
    Experiment(Box<ExperimentArgs>),
}

/// Parses a value in `[0, ∞)`.
pub(crate) fn non_negative(value: &str) -> Result<f64, String> {
    let v: f64 = value
        .parse()
        .map_err(|e| format!("`{value}` is not a number: {e}"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be finite and ≥ 0, got {value}"))
    }
}

/// Parses a probability in `(0, 1]`.
pub(crate) fn probability(value: &str) -> Result<f64, String> {
    let v: f64 = value
        .parse()
        .map_err(|e| format!("`{value}` is not a number: {e}"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be in (0, 1], got {value}"))
    }
}

/// Parses a positive number.
pub(crate) fn positive(value: &str) -> Result<f64, String> {
    let v = non_negative(value)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be positive, got {value}"))
    }
}

/// Parses a fraction in `[0, 1)`.
pub(crate) fn fraction(value: &str) -> Result<f64, String> {
    let v = non_negative(value)?;
    if v < 1.0 {
        Ok(v)
    } else {
        Err(format!("must be in [0, 1), got {value}"))
    }
}

/// Parses a dropout probability in `[0, 1)`.
pub(crate) fn dropout(value: &str) -> Result<f64, String> {
    fraction(value)
}

/// Parses `proportional`, `uniform`, `temperature:T` or `weights:W1,W2,…`.
pub(crate) fn mixing(value: &str) -> Result<crate::data::Mixing, String> {
    use crate::data::Mixing;
    match value.split_once(':') {
        None if value == "proportional" => Ok(Mixing::Proportional),
        None if value == "uniform" => Ok(Mixing::Uniform),
        Some(("temperature", t)) => Ok(Mixing::Temperature(positive(t)?)),
        Some(("weights", w)) => w
            .split(',')
            .map(non_negative)
            .collect::<Result<Vec<_>, _>>()
            .map(Mixing::Weights),
        _ => Err(format!(
            "`{value}`: expected proportional, uniform, temperature:T or weights:W1,W2,…"
        )),
    }
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub(crate) fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> Result<(), CliError> {
    let json = serde_json::to_vec_pretty(value)?;
    rlora::write_atomically(path, &json)?;
    Ok(())
}
