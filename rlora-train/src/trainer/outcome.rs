//! What a finished run produced ([`TrainOutcome`], the `eval.json` of `rlora train`) and what it
//! cost the machine.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::eval::EvalReport;

/// What a finished run produced (written as `eval.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// The base model's scores (`None` with `--skip-base-eval`).
    pub base: Option<EvalReport>,
    /// The adapted model's scores.
    pub adapted: EvalReport,
    /// Where the adapter was saved.
    pub adapter_dir: PathBuf,
    /// What the run cost.
    pub resources: RunResources,
}

/// The cost of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResources {
    /// Parameters that trained.
    pub trainable_params: usize,
    /// Training steps of the run (a resumed run did only those after its checkpoint).
    pub steps: usize,
    /// Wall time of the training loop, validation and checkpoints included, in seconds.
    pub train_seconds: f64,
    /// The process's peak resident memory in bytes (Linux; `None` elsewhere).
    pub peak_memory_bytes: Option<u64>,
}

/// The peak resident set size of this process in bytes: `VmHWM` of `/proc/self/status` on
/// Linux, `None` where that file does not exist or does not say.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
