//! The `--output` folder of a command that writes it only at its end (`rlora eval`, `rlora
//! heads`), checked at its start: a path that is, or lies below, a file would fail only after
//! all the work.

use std::path::Path;

use super::CliError;

/// Checks that `output` can be a folder: it is one, or the nearest of its ancestors that exists
/// is one (the folders between are made when the command writes).
///
/// # Errors
/// `output`, or an ancestor, is a file; the error names both.
pub fn check_output_folder(output: &Path) -> Result<(), CliError> {
    let existing = output
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .find_map(|p| Some((p, std::fs::metadata(p).ok()?)));
    match existing {
        Some((path, metadata)) if !metadata.is_dir() => {
            let what = if path == output {
                String::new()
            } else {
                format!(": {}", path.display())
            };
            Err(format!(
                "--output {}{what} is a file, not a folder, so nothing can be written there; \
                 choose another --output",
                output.display()
            )
            .into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_at_or_below_a_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("rlora-output-folder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a-file");
        std::fs::write(&file, "x").unwrap();
        assert!(check_output_folder(&dir).is_ok());
        assert!(check_output_folder(&dir.join("new/deeper")).is_ok());
        let at = check_output_folder(&file).unwrap_err().to_string();
        assert!(at.contains("a-file is a file, not a folder"), "{at}");
        let below = check_output_folder(&file.join("eval"))
            .unwrap_err()
            .to_string();
        assert!(
            below.contains("a-file/eval: ") && below.contains("a-file is a file"),
            "{below}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
