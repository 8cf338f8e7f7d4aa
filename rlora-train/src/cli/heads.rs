//! `rlora heads`: how alike the heads of each adapter are, as numbers and heat maps; with tasks
//! (`--task`, `--builtin`), which heads each task routes to (`routing.json`, `routing_*.png`).

use std::path::PathBuf;

use clap::Args;
use rlora_llama::{Llama, TextTokenizer};

use super::CliError;
use super::output_folder::check_output_folder;
use crate::base::model_or_tiny_base;
use crate::report::head_heat_maps;
use crate::run::{RoutingTasks, analyse, print_routing, write_routing};
use crate::trainer::{HeadSummary, head_summary};
use rlora_llama::LlamaBackend;

/// Arguments of `rlora heads`.
#[derive(Debug, Args)]
pub struct HeadsArgs {
    /// The base model folder (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The adapter folder.
    #[arg(long)]
    pub adapter: PathBuf,
    /// Where the heat maps (`heads_<module>.png`, and with tasks `routing.json` and
    /// `routing_<module>.png`) go.
    #[arg(long)]
    pub output: PathBuf,
    /// The tasks whose routing to analyse (none: the head similarities only).
    #[command(flatten)]
    pub routing: RoutingTasks,
    /// With tasks: a routing heat map per layer too (`routing_layer<L>_<module>.png`).
    #[arg(long)]
    pub per_layer: bool,
}

/// Prints each adapter's mean off-diagonal head similarity and the per-module mean matrices, and
/// draws a heat map per module type; with tasks, the routing analysis too.
pub fn run_heads<B: LlamaBackend>(
    args: &HeadsArgs,
    device: &B::Device,
) -> Result<HeadSummary, CliError> {
    check_output_folder(&args.output)?;
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    let model = Llama::<B>::from_pretrained(&model_dir, None, device)?;
    let model = model.load_any_adapter(&args.adapter, device)?;
    let summary = head_summary(&model);
    println!("| adapter | mean head cosine similarity |\n|---|---:|");
    for (path, mean) in &summary.by_adapter {
        let mean = mean.map_or("(one head)".to_string(), |m| format!("{m:.4}"));
        println!("| {path} | {mean} |");
    }
    for (module, matrix) in &summary.by_module {
        println!("\n{module}, mean over layers:");
        for row in matrix {
            println!(
                "  {}",
                row.iter()
                    .map(|v| format!("{v:+.3}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    std::fs::create_dir_all(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let mut written = head_heat_maps(&summary, &args.output)?;
    if args.routing.any() {
        let tokenizer = TextTokenizer::from_model_dir(&model_dir)?;
        let analysis = analyse(&model, &tokenizer, &args.routing)?;
        println!();
        print_routing(&analysis);
        written.extend(write_routing(&analysis, &args.output, args.per_layer)?);
    }
    for file in written {
        println!("written: {}", file.display());
    }
    Ok(summary)
}
