//! What `rlora train` checks before the model loads or anything is written: the model's config
//! and its tokenizer agree, the targets exist and the adapters fit them (a rank or a head count
//! larger than a target projection's dimensions is refused), the training settings hang together,
//! and, once the tasks are read, the mixing has a weight per task and a step's batches fit in the
//! mixture.

use std::path::Path;

use rlora_llama::{AdapterSpec, LlamaConfig, LlamaError, Targets, TextTokenizer};

use super::{Failure, RunSpec};
use crate::trainer::TrainingData;

/// The model's parts that the checks read: its tokenizer, and the adapters to put on it.
pub struct CheckedModel {
    /// The tokenizer of the model folder, its ids checked against the model's vocabulary.
    pub tokenizer: TextTokenizer,
    /// The adapters' targets and settings, checked against the target projections.
    pub adapters: AdapterSpec,
}

/// Checks the flags that need only the model's `config.json` and tokenizer (not its weights).
///
/// # Errors
/// An unknown target, adapter settings that the R-LoRA layer refuses or that do not fit a target
/// projection, inconsistent training settings, or a tokenizer that does not belong to the model;
/// each names the flag or the file.
pub fn check_model(spec: &RunSpec, model_dir: &Path) -> Result<CheckedModel, Failure> {
    let targets = Targets::parse(&spec.adapter.targets).map_err(|e| format!("--targets: {e}"))?;
    let config_file = model_dir.join("config.json");
    let config = LlamaConfig::from_file(&config_file)?;
    let adapters = AdapterSpec::new(targets, &spec.adapter.hyperparameters());
    adapters.check(&config).map_err(|error| match error {
        // `rank 9 is larger than …`: the flag's name, and the model's config.
        LlamaError::AdapterTooLarge { .. } => format!("--{error} (in {})", config_file.display()),
        other => other.to_string(),
    })?;
    let tokenizer = TextTokenizer::from_dir(model_dir)?;
    tokenizer.check_fits(config.vocab_size)?;
    Ok(CheckedModel {
        tokenizer,
        adapters,
    })
}

/// Checks the flags that need the tasks' data: `--mixing` against the tasks, and that an
/// update (`--batch-size` examples × `--grad-accumulation` micro-batches on each of `devices`
/// devices) fits in the training mixture.
pub fn check_data(spec: &RunSpec, data: &TrainingData, devices: usize) -> Result<(), Failure> {
    let mut sizes = vec![0usize; data.task_names.len()];
    for example in &data.train {
        sizes[example.task] += 1;
    }
    spec.data.mixing.shares(&sizes).map_err(|e| {
        format!(
            "--mixing {}: {e} (the tasks: {})",
            spec.data.mixing,
            data.task_names.join(", ")
        )
    })?;
    let step = u128::from(spec.batches.batch_size)
        * u128::from(spec.batches.grad_accumulation)
        * devices as u128;
    if step > data.train.len() as u128 {
        let tasks: Vec<String> = (data.task_names.iter().zip(&sizes))
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        let (flags, lower) = if spec.batches.grad_accumulation > 1 {
            (
                format!(
                    "--batch-size {} × --grad-accumulation {}",
                    spec.batches.batch_size, spec.batches.grad_accumulation
                ),
                "lower --grad-accumulation or --batch-size",
            )
        } else {
            (
                format!("--batch-size {}", spec.batches.batch_size),
                "lower --batch-size",
            )
        };
        return Err(format!(
            "{flags} on {devices} device{} takes {step} examples a step, more than the whole \
             training mixture holds ({}: {}): {lower}",
            if devices == 1 { "" } else { "s" },
            data.train.len(),
            tasks.join(", ")
        )
        .into());
    }
    Ok(())
}
