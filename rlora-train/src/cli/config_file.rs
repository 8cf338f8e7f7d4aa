//! `rlora train --config FILE`: a run's flags kept in a run file ([`crate::run`]'s file format:
//! keys are the flags' names), put in the file's place on the command line before clap parses it,
//! so that a flag given on the command line wins over the file's. A second `--config` is an
//! error.

use std::path::Path;

use super::CliError;
use crate::run::file_flags;

/// The flag that names the file.
const CONFIG_FLAG: &str = "--config";

/// When `argv` (program name first) is `rlora train … --config FILE …`, returns it with the
/// file's flags in place of `--config FILE`, before the command line's own flags; otherwise
/// returns `argv` unchanged.
///
/// # Errors
/// The file cannot be read or parsed (the parser's message gives the line), is not a table, or
/// has a key that is not a flag of `rlora train` or a value of the wrong kind; each names the
/// file and the key.
pub fn expand_config_file(argv: Vec<String>) -> Result<Vec<String>, CliError> {
    if argv.get(1).map(String::as_str) != Some("train") {
        return Ok(argv);
    }
    let mut user = Vec::new();
    let mut files = Vec::new();
    let mut rest = argv[2..].iter();
    while let Some(arg) = rest.next() {
        if arg == CONFIG_FLAG {
            files.push(
                rest.next()
                    .ok_or("--config needs a file: --config run.toml")?
                    .clone(),
            );
        } else if let Some(path) = arg.strip_prefix("--config=") {
            files.push(path.to_string());
        } else {
            user.push(arg.clone());
        }
    }
    let file = match files.as_slice() {
        [] => return Ok(argv),
        [file] => file.clone(),
        several => {
            return Err(format!(
                "--config is given {} times ({}): give one file; a flag on the command line \
                 overrides the file's",
                several.len(),
                several.join(", ")
            )
            .into());
        }
    };
    let mut expanded = argv[..2].to_vec();
    expanded.extend(file_flags(Path::new(&file), &user)?);
    expanded.extend(user);
    Ok(expanded)
}
