//! Checkpoint manifests: `checkpoint/manifest-N.json` lists each of checkpoint `N`'s files with
//! its size and XXH3-128 checksum once the file is in place, so that a resume can tell a
//! checkpoint cut short while it was written, or changed since, from an intact one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

/// One checkpoint file in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    bytes: u64,
    xxh3: String,
}

/// A checkpoint's manifest: its files by name.
type Manifest = BTreeMap<String, FileEntry>;

/// Records `file` (just written with `bytes`) in its checkpoint's manifest, written atomically,
/// and removes the manifests of checkpoints burn has deleted since. Not for concurrent use on
/// one folder: the caller serializes.
pub fn add_to_manifest(file: &Path, bytes: &[u8]) -> Result<(), String> {
    let (Some(dir), Some(epoch)) = (file.parent(), epoch_of(file)) else {
        return Ok(());
    };
    let path = manifest_path(dir, epoch);
    let mut manifest: Manifest = read_manifest(&path).unwrap_or_default();
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    manifest.insert(name.unwrap_or_default(), entry(bytes));
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    rlora::io::write_atomically(&path, &json).map_err(|e| e.to_string())?;
    remove_stale_manifests(dir, epoch);
    Ok(())
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
