//! `rlora export`: an adapter in PEFT's format, or merged into a full Hugging Face model.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use rlora_llama::{Llama, LlamaError, TextTokenizer};

use super::CliError;
use super::export_output::StagedOutput;
use crate::base::model_or_tiny_base;
use crate::run::values::non_negative;
use crate::run::{RoutingTasks, analyse};
use rlora_llama::LlamaBackend;

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
    /// The routing to fold the heads under, into the PEFT adapter (which holds one head per
    /// projection and no router) or, with --merge, into the model. `task:NAME` folds each
    /// projection's heads under that projection's own mean routing over task NAME's examples
    /// (give the task with --task or --builtin); a comma-separated list (`0.2,0.8`) is one fixed
    /// weight per head for every projection. Needed for a PEFT adapter of several heads; with
    /// --merge, the default is uniform 1/N.
    #[arg(long, value_parser = parse_routing)]
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

/// Parses `task:NAME` or a comma-separated list of weights, finite, `≥ 0` and not all zero (a
/// routing mixes the heads: weights that do not sum to 1 are normalized by [`normalized`]).
fn parse_routing(value: &str) -> Result<Routing, String> {
    if let Some(name) = value.strip_prefix("task:") {
        if name.is_empty() {
            return Err("`task:` needs a task name, as in `task:arithmetic`".into());
        }
        return Ok(Routing::Task(name.to_string()));
    }
    let weights: Vec<f64> = value
        .split(',')
        .map(non_negative)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e} (give `task:NAME` or weights like `0.2,0.8`)"))?;
    if weights.iter().all(|&w| w == 0.0) {
        return Err(format!(
            "`{value}`: the weights are all zero, which mixes no head; give weights that sum to \
             1, like `0.2,0.8`"
        ));
    }
    Ok(Routing::Fixed(weights))
}

/// The tolerance within which fixed routing weights count as summing to 1.
const SUM_TOLERANCE: f64 = 1e-6;

/// `weights` (finite, `≥ 0`, not all zero) divided by their sum, so that they mix the heads as
/// gates do; and, when their sum was not 1, the line that says so.
fn normalized(weights: &[f64]) -> (Vec<f64>, Option<String>) {
    // Scaled by the largest first, so that a sum of huge weights stays finite.
    let largest = weights.iter().copied().fold(0.0, f64::max);
    let scaled: Vec<f64> = weights.iter().map(|w| w / largest).collect();
    let sum: f64 = scaled.iter().sum();
    let result: Vec<f64> = scaled.iter().map(|w| w / sum).collect();
    let given_sum = sum * largest;
    let note = ((given_sum - 1.0).abs() > SUM_TOLERANCE).then(|| {
        let shown: Vec<String> = result.iter().map(|w| format!("{w:.6}")).collect();
        format!(
            "--routing: the weights sum to {given_sum}, not 1; folding under them normalized: {}",
            shown.join(",")
        )
    });
    (result, note)
}

/// Writes a PEFT LoRA folder (the heads of a multi-head adapter folded under `--routing`) or,
/// with `--merge`, a merged Hugging Face folder with the base's tokenizer files.
pub fn run_export<B: LlamaBackend>(args: &ExportArgs, device: &B::Device) -> Result<(), CliError> {
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    let inputs = [
        ("--model", model_dir.as_path()),
        ("--adapter", &args.adapter),
    ];
    let output = StagedOutput::new(&args.output, &inputs, args.overwrite)?;
    let model = Llama::<B>::from_pretrained(&model_dir, None, device)?;
    let model = model.load_any_adapter(&args.adapter, device)?;
    let routing = match &args.routing {
        Some(routing) => Some(routing_by_path(&model, &model_dir, routing, &args.tasks)?),
        None => None,
    };
    if !args.merge {
        let base = model_dir.to_string_lossy();
        model
            .export_peft_adapter_with_routing(
                output.dir(),
                Some(&base),
                &routing.unwrap_or_default(),
            )
            .map_err(|error| match error {
                LlamaError::HeadsToFold { .. } => format!(
                    "{error} (--routing: weights like 0.2,0.8, or task:NAME; or --merge for a \
                     full model)"
                )
                .into(),
                error => CliError::from(error),
            })?;
        output.commit()?;
        println!("PEFT adapter: {}", args.output.display());
        return Ok(());
    }
    let merged = match routing {
        None => model.merge_adapters(None)?,
        Some(routing) => model.merge_adapters_by_path(&routing)?,
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

/// Each adapter's weights under `routing`: the fixed weights (normalized) for every adapter, or
/// each projection's mean routing over the task's examples.
fn routing_by_path<B: LlamaBackend>(
    model: &Llama<B>,
    model_dir: &std::path::Path,
    routing: &Routing,
    tasks: &RoutingTasks,
) -> Result<BTreeMap<String, Vec<f64>>, CliError> {
    match routing {
        Routing::Fixed(weights) => {
            let (weights, note) = normalized(weights);
            if let Some(note) = note {
                println!("{note}");
            }
            let paths = model.adapters().into_iter().map(|(path, _)| path);
            Ok(paths.map(|path| (path, weights.clone())).collect())
        }
        Routing::Task(name) => {
            if !tasks.any() {
                return Err(format!(
                    "--routing task:{name} needs the task's examples: give --task {name}=FILE or --builtin"
                )
                .into());
            }
            let tokenizer = TextTokenizer::from_model_dir(model_dir)?;
            let analysis = analyse(model, &tokenizer, tasks)?;
            let Some(task) = analysis.tasks.iter().position(|t| t == name) else {
                return Err(format!(
                    "--routing task:{name}: no such task among --task/--builtin (have: {})",
                    analysis.tasks.join(", ")
                )
                .into());
            };
            println!(
                "folding under task `{name}`'s mean routing per projection ({} examples)",
                analysis.examples[task]
            );
            Ok(analysis.task_routing(task))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_weights_are_finite_non_negative_and_normalized() {
        for bad in ["0,0,0", "1,-1", "nan,1", "inf,1", "1e400,1"] {
            assert!(parse_routing(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_routing("0.2,0.8"), Ok(Routing::Fixed(vec![0.2, 0.8])));
        assert_eq!(normalized(&[0.2, 0.8]), (vec![0.2, 0.8], None));
        let (weights, note) = normalized(&[1e30, 1e30, 1e300]);
        assert!(weights.iter().all(|w| w.is_finite()));
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let (weights, note_2) = normalized(&[2.0, 1.0, 1.0]);
        assert_eq!(weights, vec![0.5, 0.25, 0.25]);
        for note in [note, note_2] {
            assert!(note.is_some_and(|n| n.contains("normalized")));
        }
    }
}
