//! Checkpoints: [`AtomicRecorder`], burn's named MessagePack records written atomically (a
//! temporary file and a rename, so a crash mid-write leaves the previous checkpoint intact) and
//! recorded in the checkpoint's manifest, a failed write stopping the run with the path and the
//! system's reason; and the checkpoints a run folder holds ([`checkpoint_epochs`],
//! [`latest_checkpoint`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::record::{
    FileRecorder, FullPrecisionSettings, NamedMpkBytesRecorder, Recorder, RecorderError,
};
use burn::tensor::backend::Backend;
use burn::train::Interrupter;
use serde::Serialize;
use serde::de::DeserializeOwned;
use xxhash_rust::xxh3::Xxh3;

use super::manifest::add_to_manifest;

/// The file extension of burn's named MessagePack records.
const EXTENSION: &str = "mpk";

/// Writes and reads checkpoints as burn's `NamedMpkFileRecorder` does (full precision), each file
/// written through a temporary file and a rename. With [`AtomicRecorder::stopping`], a write
/// that fails (a full disk, a folder that cannot be written) leaves no partial file, keeps the
/// earlier checkpoints, and stops the run with the path and the reason, instead of burn's
/// checkpointer thread panicking.
#[derive(Debug, Default, Clone)]
pub struct AtomicRecorder {
    inner: NamedMpkBytesRecorder<FullPrecisionSettings>,
    stop: Option<(StopSignal, WriteFailure)>,
    /// Serializes the manifest updates of burn's three checkpointer threads (model, optimizer,
    /// schedule), which share clones of one recorder.
    manifests: Arc<Mutex<()>>,
}

/// The Learner's interrupter, as a field of a recorder that must be `Debug`.
#[derive(Clone)]
struct StopSignal(Interrupter);

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopSignal")
    }
}

/// The first checkpoint write that failed in a run, if one did.
#[derive(Debug, Default, Clone)]
pub struct WriteFailure(Arc<Mutex<Option<String>>>);

impl WriteFailure {
    /// The failed write's message.
    pub fn message(&self) -> Option<String> {
        self.0.lock().ok()?.clone()
    }

    fn record(&self, message: &str) {
        if let Ok(mut first) = self.0.lock() {
            first.get_or_insert_with(|| message.to_string());
        }
    }
}

impl AtomicRecorder {
    /// A recorder whose failed writes are errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder whose failed writes stop the run through `interrupter` and land in `failure`.
    pub fn stopping(interrupter: Interrupter, failure: WriteFailure) -> Self {
        Self {
            stop: Some((StopSignal(interrupter), failure)),
            ..Self::default()
        }
    }
}

impl<B: Backend> Recorder<B> for AtomicRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, path: PathBuf) -> Result<(), RecorderError> {
        let target = path.with_extension(EXTENSION);
        let written = Recorder::<B>::save_item(&self.inner, item, ())
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                rlora::io::write_atomically(&target, &bytes).map_err(|e| match e {
                    rlora::RLoraError::Io { source, .. } => source.to_string(),
                    other => other.to_string(),
                })?;
                self.add_to_manifest(&target, &bytes)
            });
        let Err(error) = written else {
            return Ok(());
        };
        let message = format!(
            "cannot write the checkpoint {}: {error}; the earlier checkpoints are intact",
            target.display()
        );
        match &self.stop {
            None => Err(RecorderError::Unknown(message)),
            Some((StopSignal(interrupter), failure)) => {
                failure.record(&message);
                interrupter.stop(Some(&message));
                Ok(())
            }
        }
    }

    fn load_item<I: DeserializeOwned>(&self, path: &mut PathBuf) -> Result<I, RecorderError> {
        let file = path.with_extension(EXTENSION);
        let mut bytes = std::fs::read(&file)
            .map_err(|e| RecorderError::FileNotFound(format!("{}: {e}", file.display())))?;
        Recorder::<B>::load_item(&self.inner, &mut bytes)
            .map_err(|e| RecorderError::Unknown(format!("{}: {e}", file.display())))
    }
}

impl AtomicRecorder {
    /// Records `file` (just written with `bytes`) in its checkpoint's manifest, one thread at a
    /// time.
    fn add_to_manifest(&self, file: &Path, bytes: &[u8]) -> Result<(), String> {
        let _one_at_a_time = self.manifests.lock().map_err(|e| e.to_string())?;
        add_to_manifest(file, bytes)
    }
}

impl<B: Backend> FileRecorder<B> for AtomicRecorder {
    fn file_extension() -> &'static str {
        EXTENSION
    }
}

/// The checkpoint epochs in `dir/checkpoint` (those with a model file), newest first.
pub fn checkpoint_epochs(dir: &Path) -> Vec<usize> {
    let Ok(entries) = std::fs::read_dir(dir.join("checkpoint")) else {
        return Vec::new();
    };
    let mut epochs: Vec<usize> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".mpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    epochs
}

/// The latest checkpoint epoch in `dir/checkpoint`, if any.
pub fn latest_checkpoint(dir: &Path) -> Option<usize> {
    checkpoint_epochs(dir).first().copied()
}

/// A file of checkpoint `epoch` in `dir/checkpoint` that burn's checkpointer cannot delete (it
/// removes files only): the first of its model, optimizer and schedule paths that is a folder.
pub fn undeletable_checkpoint_file(dir: &Path, epoch: usize) -> Option<PathBuf> {
    ["model", "optim", "scheduler"]
        .into_iter()
        .map(|kind| {
            dir.join("checkpoint")
                .join(format!("{kind}-{epoch}.{EXTENSION}"))
        })
        .find(|file| std::fs::symlink_metadata(file).is_ok_and(|m| m.is_dir()))
}

/// XXH3-128 of checkpoint `epoch`'s model, optimizer and schedule files in `dir/checkpoint`.
pub fn checkpoint_digest(dir: &Path, epoch: usize) -> Result<u128, String> {
    let mut hasher = Xxh3::new();
    for kind in ["model", "optim", "scheduler"] {
        let file = dir
            .join("checkpoint")
            .join(format!("{kind}-{epoch}.{EXTENSION}"));
        hasher.update(&std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    Ok(hasher.digest128())
}
