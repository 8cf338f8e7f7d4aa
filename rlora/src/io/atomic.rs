//! [`write_atomically`]: a file that is either all there or not there.

use std::path::{Path, PathBuf};

use crate::error::RLoraError;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a crash
/// never leaves a half-written file under `path`. A failed write (a full disk, a read-only
/// folder) removes the temporary file and names `path` with the system's reason.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RLoraError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| RLoraError::io(dir, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            RLoraError::io(path, e)
        })
}
