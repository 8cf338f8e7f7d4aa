//! `rlora export`: an adapter in PEFT's format, or merged into a full Hugging Face model.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use clap::Args;
use rlora_llama::Llama;

use super::CliError;
use super::export_output::StagedOutput;
use super::generate::load_any_adapter;
use super::values::non_negative;
use crate::base::model_or_tiny_base;

/// Arguments of `rlora export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The base model folder (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The adapter folder.
    #[arg(long)]
    pub adapter: PathBuf,
    /// Where to write: a new or empty folder outside --model and --adapter (written into a
    /// temporary sibling, then renamed into place).
    #[arg(long)]
    pub output: PathBuf,
    /// Replace --output when it is not empty.
    #[arg(long)]
    pub overwrite: bool,
    /// Write a full model with the adapters folded into its weights, instead of a PEFT adapter.
    #[arg(long)]
    pub merge: bool,
    /// With --merge: the fixed routing, one weight per head (default uniform 1/N).
    #[arg(long, value_delimiter = ',', requires = "merge", value_parser = non_negative)]
    pub routing: Option<Vec<f64>>,
}

/// Writes a PEFT LoRA folder (single-head adapters) or, with `--merge`, a merged Hugging Face
/// folder with the base's tokenizer files.
pub fn run_export<B: Backend>(args: &ExportArgs, device: &B::Device) -> Result<(), CliError> {
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    let inputs = [
        ("--model", model_dir.as_path()),
        ("--adapter", &args.adapter),
    ];
    let output = StagedOutput::new(&args.output, &inputs, args.overwrite)?;
    let model = Llama::<B>::from_pretrained(&model_dir, None, device)?;
    let model = load_any_adapter(model, &args.adapter, device)?;
    if !args.merge {
        model.export_peft_adapter(output.dir(), Some(&model_dir.to_string_lossy()))?;
        output.commit()?;
        println!("PEFT adapter: {}", args.output.display());
        return Ok(());
    }
    let merged = model.merge_adapters(args.routing.as_deref())?;
    merged.save_pretrained(output.dir())?;
    for file in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "special_tokens_map.json",
    ] {
        let source = model_dir.join(file);
        if source.exists() {
            let copy = output.dir().join(file);
            std::fs::copy(&source, &copy)
                .map_err(|e| format!("copying {} to {}: {e}", source.display(), copy.display()))?;
        }
    }
    output.commit()?;
    println!("merged model: {}", args.output.display());
    Ok(())
}
