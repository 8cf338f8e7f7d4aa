//! Checkpoints: [`AtomicRecorder`], burn's named MessagePack records written atomically (a
//! temporary file and a rename, so a crash mid-write leaves the previous checkpoint intact), each
//! file's size and XXH3-128 checksum recorded in the checkpoint's manifest
//! (`checkpoint/manifest-N.json`) once it is in place, a failed write stopping the run with the
//! path and the system's reason; the checkpoints a run folder holds ([`checkpoint_epochs`],
//! [`latest_checkpoint`]); and [`verify_manifest`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::record::{
    FileRecorder, FullPrecisionSettings, NamedMpkBytesRecorder, Recorder, RecorderError,
};
use burn::tensor::backend::Backend;
use burn::train::Interrupter;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use super::model::StopSignal;

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

/// One checkpoint file in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    bytes: u64,
    xxh3: String,
}

/// A checkpoint's manifest: its files by name.
type Manifest = BTreeMap<String, FileEntry>;

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
    /// Records `file` (just written with `bytes`) in its checkpoint's manifest, written
    /// atomically, and removes the manifests of checkpoints burn has deleted since.
    fn add_to_manifest(&self, file: &Path, bytes: &[u8]) -> Result<(), String> {
        let (Some(dir), Some(epoch)) = (file.parent(), epoch_of(file)) else {
            return Ok(());
        };
        let _one_at_a_time = self.manifests.lock().map_err(|e| e.to_string())?;
        let path = manifest_path(dir, epoch);
        let mut manifest: Manifest = read_manifest(&path).unwrap_or_default();
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        manifest.insert(name.unwrap_or_default(), entry(bytes));
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        rlora::io::write_atomically(&path, &json).map_err(|e| e.to_string())?;
        remove_stale_manifests(dir, epoch);
        Ok(())
    }
}

fn entry(bytes: &[u8]) -> FileEntry {
    FileEntry {
        bytes: bytes.len() as u64,
        xxh3: format!("{:032x}", xxh3_128(bytes)),
    }
}

/// `checkpoint/manifest-N.json`.
fn manifest_path(checkpoint_dir: &Path, epoch: usize) -> PathBuf {
    checkpoint_dir.join(format!("manifest-{epoch}.json"))
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The epoch of `model-N.mpk` (or `optim-N`, `scheduler-N`).
fn epoch_of(file: &Path) -> Option<usize> {
    let stem = file.file_stem()?.to_str()?;
    stem.rsplit_once('-')?.1.parse().ok()
}

/// Removes the manifests of checkpoints before `current` that have no model file left (burn
/// deleted them); `current`'s own files are still being written.
fn remove_stale_manifests(checkpoint_dir: &Path, current: usize) {
    let Ok(entries) = std::fs::read_dir(checkpoint_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let epoch = name
            .strip_prefix("manifest-")
            .and_then(|rest| rest.strip_suffix(".json"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(epoch) = epoch
            && epoch < current
            && !checkpoint_dir.join(format!("model-{epoch}.mpk")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Checks checkpoint `epoch`'s files against its manifest: each of `files` (`model-N.mpk`, …)
/// must be listed (else the checkpoint was cut short while it was written) with its size and
/// checksum (else it changed after it was written). A checkpoint without a manifest (written by
/// an earlier version) passes.
pub fn verify_manifest(dir: &Path, epoch: usize, files: &[String]) -> Result<(), String> {
    let checkpoint_dir = dir.join("checkpoint");
    let path = manifest_path(&checkpoint_dir, epoch);
    if !path.exists() {
        return Ok(());
    }
    let manifest =
        read_manifest(&path).ok_or_else(|| format!("{} cannot be read", path.display()))?;
    for name in files {
        let file = checkpoint_dir.join(name);
        let listed = manifest.get(name).ok_or_else(|| {
            format!(
                "{} is not in {}: the checkpoint was cut short while it was written",
                file.display(),
                path.display()
            )
        })?;
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        if entry(&bytes) != *listed {
            return Err(format!(
                "{} does not match its size and checksum in {}: it changed after it was written",
                file.display(),
                path.display()
            ));
        }
    }
    Ok(())
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
