//! `rlora train --config FILE`: a run's settings kept in a run file ([`crate::run`]'s file
//! format: keys are the flags' names) become the flags' defaults before clap parses the command
//! line, so that clap's order of value sources merges them: a flag on the command line wins over
//! the file's value. A second `--config` is an error.

use std::path::PathBuf;

use clap::Command;
use clap::error::ErrorKind;

use crate::run::with_run_file;

/// `train` (a command of `rlora train`'s flags) with the settings of the `--config` file that
/// `argv` (the command's name first) names as its flags' defaults, and the ids of the flags the
/// file sets; `train` unchanged without one, or when `argv` does not parse far enough to say
/// (the parse proper then reports why).
///
/// # Errors
/// `--config` is given more than once, or the file cannot be read or parsed (the parser's
/// message gives the line), is not a table, or has a key that is not a flag of `rlora train` or
/// a value of the wrong kind; each names the file and the key, in clap's error with `train`'s
/// usage.
pub(crate) fn with_config_file(
    mut train: Command,
    argv: &[String],
) -> Result<(Command, Vec<String>), clap::Error> {
    let Ok(matches) = train.clone().ignore_errors(true).try_get_matches_from(argv) else {
        return Ok((train, Vec::new()));
    };
    let files: Vec<&PathBuf> = matches
        .get_many::<PathBuf>("config")
        .into_iter()
        .flatten()
        .collect();
    let message = match files.as_slice() {
        [] => return Ok((train, Vec::new())),
        [file] => match with_run_file(train.clone(), file) {
            Ok(read) => return Ok(read),
            Err(error) => error.to_string(),
        },
        several => format!(
            "--config is given {} times ({}): give one file; a flag on the command line \
             overrides the file's",
            several.len(),
            several
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(train.error(ErrorKind::ValueValidation, message))
}
