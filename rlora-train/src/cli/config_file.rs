//! `rlora train --config FILE`: a run's flags kept in a TOML or JSON file.
//!
//! Keys are the flags' names (`lr`, `batch-size` or `batch_size`, `task` or `tasks`); values are
//! strings, numbers, booleans (a switch such as `builtin` is set by `true`) or arrays (one flag
//! per element). A flag given on the command line wins over the file's. The `run_config.json`
//! that `rlora train` writes next to its outputs is such a file, so
//! `rlora train --config OUT/run_config.json` repeats a run.

use std::path::Path;

use serde_json::Value;

use super::{CliError, TrainArgs};

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
    let mut file = None;
    let mut rest = argv[2..].iter();
    while let Some(arg) = rest.next() {
        if arg == CONFIG_FLAG {
            file = Some(
                rest.next()
                    .ok_or("--config needs a file: --config run.toml")?
                    .clone(),
            );
        } else if let Some(path) = arg.strip_prefix("--config=") {
            file = Some(path.to_string());
        } else {
            user.push(arg.clone());
        }
    }
    let Some(file) = file else {
        return Ok(argv);
    };
    let mut expanded = argv[..2].to_vec();
    expanded.extend(file_flags(Path::new(&file), &user)?);
    expanded.extend(user);
    Ok(expanded)
}

/// The flags that the file at `path` sets, leaving out those that `user` gives itself.
fn file_flags(path: &Path, user: &[String]) -> Result<Vec<String>, CliError> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let table: Value = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let parsed: toml::Table = toml::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
            serde_json::to_value(parsed).map_err(|e| format!("{name}: {e}"))?
        }
        Some("json") => serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?,
        _ => return Err(format!("{name}: a run configuration is a .toml or a .json file").into()),
    };
    let Value::Object(table) = table else {
        return Err(format!("{name}: expected a table of flags at the top level").into());
    };
    let train = TrainArgs::command();
    let mut flags = Vec::new();
    for (key, value) in table {
        let id = key.replace('-', "_");
        let arg = train
            .get_arguments()
            .find(|a| a.get_id() == id.as_str() || a.get_long() == Some(&key.replace('_', "-")))
            .filter(|a| a.get_long().is_some_and(|l| l != "config"))
            .ok_or_else(|| format!("{name}: `{key}` is not a flag of `rlora train`"))?;
        let long = format!("--{}", arg.get_long().unwrap_or_default());
        if user
            .iter()
            .any(|u| *u == long || u.starts_with(&format!("{long}=")))
        {
            continue;
        }
        let switch = !arg.get_action().takes_values();
        let values = match value {
            Value::Array(items) => items,
            other => vec![other],
        };
        for value in values {
            match (value, switch) {
                (Value::Null, _) | (Value::Bool(false), true) => {}
                (Value::Bool(true), true) => flags.push(long.clone()),
                (_, true) => {
                    return Err(format!("{name}: `{key}` is a switch: true or false").into());
                }
                (Value::String(s), false) => flags.extend([long.clone(), s]),
                (Value::Number(n), false) => flags.extend([long.clone(), n.to_string()]),
                (Value::Bool(b), false) => flags.extend([long.clone(), b.to_string()]),
                (Value::Array(_) | Value::Object(_), false) => {
                    return Err(format!(
                        "{name}: `{key}` must be a string, a number, a boolean or a list of them"
                    )
                    .into());
                }
            }
        }
    }
    Ok(flags)
}
