//! Checkpoints: [`AtomicRecorder`], a file recorder that never leaves a half-written checkpoint
//! (it writes next to the target and renames into place), and [`latest_checkpoint`].

use std::path::{Path, PathBuf};

use burn::record::{FileRecorder, Recorder, RecorderError};
use burn::tensor::backend::Backend;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Wraps a file recorder `R`: `save_item` writes `NAME-partial.EXT`, then renames it to
/// `NAME.EXT`, so a crash mid-write leaves the previous checkpoint intact.
#[derive(Debug, Default, Clone)]
pub struct AtomicRecorder<R> {
    inner: R,
}

impl<R> AtomicRecorder<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner }
    }
}

impl<B: Backend, R: FileRecorder<B>> Recorder<B> for AtomicRecorder<R> {
    type Settings = R::Settings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, path: PathBuf) -> Result<(), RecorderError> {
        let extension = <R as FileRecorder<B>>::file_extension();
        let target = path.with_extension(extension);
        let mut partial = path.clone().into_os_string();
        partial.push("-partial");
        let partial = PathBuf::from(partial);
        self.inner.save_item(item, partial.clone())?;
        std::fs::rename(partial.with_extension(extension), &target)
            .map_err(|e| RecorderError::Unknown(format!("{}: {e}", target.display())))
    }

    fn load_item<I: DeserializeOwned>(&self, path: &mut PathBuf) -> Result<I, RecorderError> {
        self.inner.load_item(path)
    }
}

impl<B: Backend, R: FileRecorder<B>> FileRecorder<B> for AtomicRecorder<R> {
    fn file_extension() -> &'static str {
        R::file_extension()
    }
}

/// The latest checkpoint epoch in `dir/checkpoint`, if any.
pub fn latest_checkpoint(dir: &Path) -> Option<usize> {
    std::fs::read_dir(dir.join("checkpoint"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".mpk")?
                .parse()
                .ok()
        })
        .max()
}
