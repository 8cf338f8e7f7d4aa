//! Which checkpoint a resumed run continues from: the newest whose files match their manifest
//! and whose model (adapter), optimizer and schedule records all read back and fit the model, so
//! that a truncated, changed, zeroed or foreign latest checkpoint falls back to the intact one
//! before it instead of panicking inside burn's Learner.

use std::path::Path;

use burn::optim::Optimizer;
use burn::optim::lr_scheduler::LrScheduler;
use burn::record::Recorder;

use super::adapter_record::AdapterCheckpoint;
use super::checkpoint::{AtomicRecorder, checkpoint_epochs};
use super::config::TrainError;
use super::manifest::verify_manifest;
use super::model::CausalLm;
use super::schedule::WarmupCosine;
use rlora_llama::LlamaAutodiffBackend;

/// The newest checkpoint epoch in `dir/checkpoint` whose three records load with `O`'s optimizer
/// record and fit `model`, and the newer epochs skipped, each with why. Errors when there are
/// checkpoints and none of them loads.
pub fn intact_checkpoint<B, O>(
    dir: &Path,
    model: &CausalLm<B>,
) -> Result<(Option<usize>, Vec<String>), TrainError>
where
    B: LlamaAutodiffBackend,
    O: Optimizer<CausalLm<B>, B>,
{
    let epochs = checkpoint_epochs(dir);
    let mut skipped = Vec::new();
    for &epoch in &epochs {
        match readable::<B, O>(dir, epoch, model) {
            Ok(()) => return Ok((Some(epoch), skipped)),
            Err(why) => skipped.push(format!("checkpoint {epoch}: {why}")),
        }
    }
    if epochs.is_empty() {
        return Ok((None, skipped));
    }
    Err(TrainError::NoIntactCheckpoint {
        dir: dir.join("checkpoint"),
        reasons: skipped,
    })
}

/// Whether checkpoint `epoch`'s model, optimizer and schedule records read back, and the model
/// record fits `model`'s adapters.
fn readable<B, O>(dir: &Path, epoch: usize, model: &CausalLm<B>) -> Result<(), String>
where
    B: LlamaAutodiffBackend,
    O: Optimizer<CausalLm<B>, B>,
{
    let files = ["model", "optim", "scheduler"].map(|kind| format!("{kind}-{epoch}.mpk"));
    verify_manifest(dir, epoch, &files)?;
    let recorder = AtomicRecorder::new();
    let device = model.llama.embed_tokens.weight.device();
    let file = |kind: &str| dir.join("checkpoint").join(format!("{kind}-{epoch}"));
    let adapters: AdapterCheckpoint<B> =
        Recorder::<B>::load(&recorder, file("model"), &device).map_err(|e| e.to_string())?;
    if let Some(mismatch) = adapters.mismatch(&model.llama) {
        return Err(format!(
            "{}.mpk does not fit the model: {mismatch}",
            file("model").display()
        ));
    }
    Recorder::<B>::load::<O::Record>(&recorder, file("optim"), &device)
        .map_err(|e| e.to_string())?;
    Recorder::<B>::load::<<WarmupCosine as LrScheduler>::Record<B>>(
        &recorder,
        file("scheduler"),
        &device,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}
