//! `rlora pretrain`: build the tiny byte-level base model the examples fine-tune.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::base::pretrain_base;
use rlora_llama::LlamaAutodiffBackend;

/// Arguments of `rlora pretrain`.
#[derive(Debug, Args)]
pub struct PretrainArgs {
    /// The Hugging Face folder to write (config.json, model.safetensors, tokenizer files).
    #[arg(long)]
    pub output: PathBuf,
    /// Where the run's logs and checkpoint go.
    #[arg(long, default_value = "target/pretrain-run")]
    pub work: PathBuf,
    /// Training steps (batches of 32 lines).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Seeds the weights, the corpus and the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Pretrains the tiny base on backend `B`.
pub fn run_pretrain<B: LlamaAutodiffBackend>(
    args: &PretrainArgs,
    device: &B::Device,
) -> Result<(), CliError> {
    let _ = std::fs::remove_dir_all(&args.work);
    let output = pretrain_base::<B>(
        &args.output,
        &args.work,
        args.steps as usize,
        args.seed,
        device,
    )?;
    println!("base model: {}", output.display());
    Ok(())
}
