//! `rlora export --output DIR`: a folder that is all there or not there, and never one of the
//! export's own inputs.
//!
//! [`StagedOutput::new`] refuses an `--output` that is, holds or lies inside an input folder
//! (the base model, the adapter), and a non-empty one unless `--overwrite`. The export is written
//! into a temporary sibling folder, `.<name>.rlora-export-<pid>`, which [`StagedOutput::commit`]
//! renames into place once everything is written; a failed export deletes it and leaves
//! `--output` as it was.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::CliError;

/// An export's output folder while it is being written.
#[derive(Debug)]
pub struct StagedOutput {
    /// Where the export ends.
    target: PathBuf,
    /// Where it is written meanwhile.
    staging: PathBuf,
    committed: bool,
}

impl StagedOutput {
    /// Checks `output` against `inputs` (each a flag and its folder) and `overwrite`, then
    /// creates the temporary folder to write into.
    ///
    /// # Errors
    /// `output` is one of the inputs, holds one or lies inside one; is a file; is a non-empty
    /// folder and `overwrite` is off; or a folder cannot be read or created. Each error names the
    /// flags and the folders, and what to do.
    pub fn new(output: &Path, inputs: &[(&str, &Path)], overwrite: bool) -> Result<Self, CliError> {
        let target = resolved(output).map_err(|e| format!("--output {}: {e}", output.display()))?;
        for &(flag, input) in inputs {
            let input_path =
                resolved(input).map_err(|e| format!("{flag} {}: {e}", input.display()))?;
            let relation = if target == input_path {
                "is"
            } else if target.starts_with(&input_path) {
                "lies inside"
            } else if input_path.starts_with(&target) {
                "holds"
            } else {
                continue;
            };
            return Err(format!(
                "--output {} {relation} the {flag} folder {}: the export would overwrite its own \
                 input; choose an --output outside it",
                output.display(),
                input.display()
            )
            .into());
        }
        if target.exists() {
            check_replaceable(output, &target, overwrite)?;
        }
        let name = target
            .file_name()
            .ok_or_else(|| format!("--output {} names no folder", output.display()))?;
        let staging = target.with_file_name(format!(
            ".{}.rlora-export-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
        Ok(Self {
            target,
            staging,
            committed: false,
        })
    }

    /// The folder to write the export into.
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// Puts the written export in place of `--output` (the folder there, with `--overwrite`, is
    /// deleted once the new one is in place).
    pub fn commit(mut self) -> Result<(), CliError> {
        let io = |path: &Path, e: io::Error| format!("{}: {e}", path.display());
        let previous = self.target.with_file_name(format!(
            ".{}.rlora-replaced-{}",
            self.target
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            std::process::id()
        ));
        let replacing = self.target.exists();
        if replacing {
            std::fs::rename(&self.target, &previous).map_err(|e| io(&self.target, e))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if replacing {
                let _ = std::fs::rename(&previous, &self.target);
            }
            return Err(io(&self.target, e).into());
        }
        self.committed = true;
        if replacing {
            std::fs::remove_dir_all(&previous).map_err(|e| io(&previous, e))?;
        }
        Ok(())
    }
}

impl Drop for StagedOutput {
    /// Deletes the temporary folder of an export that did not finish.
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Checks that the existing `target` (`output` as given) may be replaced: an empty folder, or a
/// non-empty one with `overwrite`.
fn check_replaceable(output: &Path, target: &Path, overwrite: bool) -> Result<(), CliError> {
    if !target.is_dir() {
        return Err(format!("--output {} is a file, not a folder", output.display()).into());
    }
    let mut names: Vec<String> = std::fs::read_dir(target)
        .map_err(|e| format!("{}: {e}", output.display()))?
        .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().to_string()))
        .collect();
    if names.is_empty() || overwrite {
        return Ok(());
    }
    names.sort();
    let shown = if names.len() > 3 {
        format!("{}, …", names[..3].join(", "))
    } else {
        names.join(", ")
    };
    Err(format!(
        "--output {} is not empty ({shown}): add --overwrite to replace it, or choose another \
         folder",
        output.display()
    )
    .into())
}

/// `path` made absolute, `.` and `..` folded, and the links of the part that exists resolved:
/// two spellings of one folder resolve to the same path.
fn resolved(path: &Path) -> io::Result<PathBuf> {
    let mut result = PathBuf::new();
    for component in std::path::absolute(path)?.components() {
        match component {
            Component::ParentDir => {
                result.pop();
            }
            Component::CurDir => {}
            other => {
                result.push(other);
                if let Ok(real) = result.canonicalize() {
                    result = real;
                }
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_folder_resolve_alike() {
        let dir = std::env::temp_dir().join(format!("rlora-resolved-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("model")).unwrap();
        let model = resolved(&dir.join("model")).unwrap();
        assert_eq!(resolved(&dir.join("model/../model/.")).unwrap(), model);
        assert_eq!(
            resolved(&dir.join("new/../model/sub")).unwrap(),
            model.join("sub")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
