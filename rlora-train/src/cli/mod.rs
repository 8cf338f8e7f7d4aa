//! The `rlora` command line: argument parsing (clap) and one module per subcommand.

mod generate;

use clap::{Parser, Subcommand};

pub use generate::{GenerateArgs, GenerateOutput, run_generate};

/// R-LoRA (Randomized Multi-Head LoRA) fine-tuning for Llama-family models, on burn.
#[derive(Debug, Parser)]
#[command(name = "rlora", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Continue a prompt with a Hugging Face model, optionally with an adapter.
    Generate(GenerateArgs),
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
