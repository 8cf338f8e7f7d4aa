//! The base model of a run: a fresh run records its [`BaseFingerprint`] next to its settings; a
//! resumed run, whose checkpoints hold only the adapters and which reads the frozen base again
//! from `--model`, refuses a base that is not the one it trained on (another config, tensor
//! names or shapes, or content).

use std::path::Path;

use rlora_llama::BaseFingerprint;

use super::folder::BASE_FINGERPRINT_FILE;
use super::{Failure, RunSpec};
use crate::report::write_json;

/// Tensors named at most in a refusal.
const NAMED_TENSORS: usize = 5;

/// With `--resume`, refuses a `model_dir` whose fingerprint differs from the one the run saved,
/// or a run whose fingerprint is missing (every run with an adapter-only checkpoint wrote one
/// before its first step, so a missing one was deleted, and nothing else could tell another
/// base of the same shapes). Runs before anything is written.
pub fn check_same_base(spec: &RunSpec, model_dir: &Path) -> Result<(), Failure> {
    let file = spec.output.output.join(BASE_FINGERPRINT_FILE);
    if !spec.output.resume {
        return Ok(());
    }
    if !file.exists() {
        return Err(format!(
            "--resume: {} is missing: the run's checkpoints hold only its adapters, and without \
             the fingerprint of the base they were trained on nothing can check that --model {} \
             is that base; put the file back (from a copy of the run), or start again with \
             --overwrite",
            file.display(),
            model_dir.display()
        )
        .into());
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let saved: BaseFingerprint = serde_json::from_str(&text)
        .map_err(|e| format!("{}: {e}; start again with --overwrite", file.display()))?;
    let differences = saved.differences(&BaseFingerprint::of(model_dir)?, NAMED_TENSORS);
    if differences.is_empty() {
        return Ok(());
    }
    Err(format!(
        "--model {}: not the base this run trained on (its fingerprint is in {}): {}; resume \
         with the run's own base model, or start again with --overwrite",
        model_dir.display(),
        file.display(),
        differences.join("; ")
    )
    .into())
}

/// Saves the fingerprint of `model_dir` in the run's folder (a fresh run, or a resumed one that
/// has none yet). Runs after the weights have loaded, so that a broken checkpoint is reported
/// by the loader.
pub fn record_base(spec: &RunSpec, model_dir: &Path) -> Result<(), Failure> {
    let file = spec.output.output.join(BASE_FINGERPRINT_FILE);
    if spec.output.resume && file.exists() {
        return Ok(());
    }
    Ok(write_json(&file, &BaseFingerprint::of(model_dir)?)?)
}
