//! `rlora export`: an adapter in PEFT's format, or merged into a full Hugging Face model.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use clap::Args;
use rlora_llama::{Llama, TextTokenizer};

use super::CliError;
use super::export_output::StagedOutput;
use super::generate::load_any_adapter;
use super::routing::{RoutingTasks, analyse};
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
    /// With --merge: the routing to fold the heads under. `task:NAME` folds each projection's
    /// heads under that projection's own mean routing over task NAME's examples (give the task
    /// with --task or --builtin); a comma-separated list (`0.2,0.8`) is one fixed weight per
    /// head for every projection. Default: uniform 1/N.
    #[arg(long, requires = "merge", value_parser = parse_routing)]
    pub routing: Option<Routing>,
    /// With --routing task:NAME: the tasks (NAME among them).
    #[command(flatten)]
    pub tasks: RoutingTasks,
}

/// The routing of `rlora export --merge --routing`.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    /// One weight per head, the same for every projection.
    Fixed(Vec<f64>),
    /// Each projection's mean routing over this task's examples.
    Task(String),
}

/// Parses `task:NAME` or a comma-separated list of weights `≥ 0`.
fn parse_routing(value: &str) -> Result<Routing, String> {
    if let Some(name) = value.strip_prefix("task:") {
        if name.is_empty() {
            return Err("`task:` needs a task name, as in `task:arithmetic`".into());
        }
        return Ok(Routing::Task(name.to_string()));
    }
    value
        .split(',')
        .map(non_negative)
        .collect::<Result<_, _>>()
        .map(Routing::Fixed)
        .map_err(|e| format!("{e} (give `task:NAME` or weights like `0.2,0.8`)"))
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
    let merged = match &args.routing {
        None => model.merge_adapters(None)?,
        Some(Routing::Fixed(weights)) => model.merge_adapters(Some(weights))?,
        Some(Routing::Task(name)) => {
            if !args.tasks.any() {
                return Err(format!(
                    "--routing task:{name} needs the task's examples: give --task {name}=FILE or --builtin"
                )
                .into());
            }
            let tokenizer = TextTokenizer::from_model_dir(&model_dir)?;
            let analysis = analyse(&model, &tokenizer, &args.tasks)?;
            let Some(task) = analysis.tasks.iter().position(|t| t == name) else {
                return Err(format!(
                    "--routing task:{name}: no such task among --task/--builtin (have: {})",
                    analysis.tasks.join(", ")
                )
                .into());
            };
            println!(
                "merging under task `{name}`'s mean routing per projection ({} examples)",
                analysis.examples[task]
            );
            model.merge_adapters_by_path(&analysis.task_routing(task))?
        }
    };
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
