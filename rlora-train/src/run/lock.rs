//! [`RunLock`]: one `rlora train` at a time in a run's folder.
//!
//! The lock is the operating system's advisory lock on `<output>/.rlora-train.lock`
//! ([`File::try_lock`]), which holds the locking process's id. The system releases the lock when
//! its process ends, however it ends, so a lock left by a killed run is taken over by the next
//! one; a clean end also empties the file, so a process id still in it when the lock is free
//! names a run that did not end cleanly.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::Failure;

/// The lock file's name in a run's folder.
pub const LOCK_FILE: &str = ".rlora-train.lock";

/// The lock on a run's folder, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Locks `dir` (which must exist) for this process.
    ///
    /// # Errors
    /// Another process holds the lock (the error names its id), or the lock file cannot be
    /// opened or written (the error names it and the system's reason).
    pub fn acquire(dir: &Path) -> Result<Self, Failure> {
        let path = dir.join(LOCK_FILE);
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&mut file).unwrap_or_else(|| "unknown".into());
                return Err(format!(
                    "{} is in use by another `rlora train` (process {holder}), which holds {}; \
                     wait for it to end, or choose another --output",
                    dir.display(),
                    path.display()
                )
                .into());
            }
            Err(TryLockError::Error(e)) => return Err(io(e).into()),
        }
        if let Some(previous) = holder(&mut file) {
            println!(
                "{}: taking over the lock of process {previous}, which ended without releasing it",
                path.display()
            );
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_data())
            .map_err(io)?;
        Ok(Self { file })
    }
}

impl Drop for RunLock {
    /// Empties the file (a clean end) and releases the lock.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The process id written in the lock file, if any.
fn holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}
