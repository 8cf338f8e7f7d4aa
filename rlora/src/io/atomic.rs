//! [`write_atomically`]: a file that is either all there or not there.

use std::path::{Path, PathBuf};

use crate::error::RLoraError;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a crash
/// never leaves a half-written file under `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RLoraError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| RLoraError::io(dir, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| RLoraError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RLoraError::io(path, e))
}
