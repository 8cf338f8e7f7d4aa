//! Run files: a run's settings in a TOML or JSON file, read into a [`RunSpec`] by
//! [`RunSpec::from_file`] and by `rlora train --config FILE`.
//!
//! Keys are the flags' names (`lr`, `batch-size` or `batch_size`, `task` or `tasks`); values are
//! strings, numbers (negative ones too), booleans (a switch such as `builtin` is set by `true`)
//! or, for a flag that may be repeated (`task`, `targets`), arrays (one value per element). The
//! file's settings become the flags' defaults ([`with_run_file`]), so that clap's order of value
//! sources puts a flag given on the command line over them. Each
//! value is checked by its flag's parser, so an error names the file and the key: a value out of
//! the flag's domain, NaN or infinity, a list where one value belongs. A setting is given once: a
//! key set twice (TOML's parser refuses it, and so does this JSON reader), two spellings of one
//! flag and a `config` key (a file does not name another) are errors too. The `run_config.json`
//! that a run writes next to its outputs is such a file (the [`RunSpec`] serialized), so it
//! repeats the run.

use std::collections::BTreeMap;
use std::path::Path;

use clap::error::ErrorKind;
use clap::{ArgAction, Command};
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::{Failure, RunSpec};

impl RunSpec {
    /// The run that the run file at `path` describes (a TOML or JSON table keyed by flag, such
    /// as a run's `run_config.json`), each setting the file leaves out at its flag's default.
    ///
    /// # Errors
    /// The file cannot be read or parsed, has a key that is not a flag or a value out of its
    /// flag's domain, or lacks `output`; the error names the file and the key.
    pub fn from_file(path: &Path) -> Result<Self, Failure> {
        use clap::FromArgMatches;
        let (mut command, _) = with_run_file(Self::command(), path)?;
        let parsed = command
            .try_get_matches_from_mut(["train"])
            .and_then(|matches| Self::from_arg_matches(&matches));
        parsed.map_err(|error| format!("{}: {}", path.display(), first_paragraph(&error)).into())
    }
}

/// `train` (a command of `rlora train`'s flags) with the settings of the run file at `path` as
/// its flags' defaults, and the ids of the flags the file sets. clap's order of value sources
/// then merges the file and the command line: a flag given on the command line wins over the
/// file's value, the file's over the flag's own default (`--output` is not required of a
/// command line whose file sets it).
pub(crate) fn with_run_file(
    train: Command,
    path: &Path,
) -> Result<(Command, Vec<String>), Failure> {
    let name = path.display();
    let mut defaults: Vec<(String, Vec<String>)> = Vec::new();
    // Each flag's key, so that two spellings of one flag (`batch-size`, `batch_size`) are found.
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in read_table(path)? {
        if key == "config" {
            return Err(format!(
                "{name}: `config` names a configuration file inside one; --config files do not \
                 nest: put all the settings in one file"
            )
            .into());
        }
        let id = key.replace('-', "_");
        let arg = train
            .get_arguments()
            .find(|a| a.get_id() == id.as_str() || a.get_long() == Some(&key.replace('_', "-")))
            .ok_or_else(|| format!("{name}: `{key}` is not a flag of `rlora train`"))?;
        let long = format!("--{}", arg.get_long().unwrap_or_default());
        if let Some(first) = keys.insert(long.clone(), key.clone()) {
            return Err(
                format!("{name}: `{first}` and `{key}` both set {long}: keep one of them").into(),
            );
        }
        let switch = !arg.get_action().takes_values();
        let repeatable = matches!(arg.get_action(), ArgAction::Append);
        let values = match value {
            Value::Array(items) if repeatable => items,
            Value::Array(_) => {
                return Err(format!("{name}: `{key}` takes one value, not a list").into());
            }
            other => vec![other],
        };
        let mut texts = Vec::new();
        for value in values {
            let text = match (value, switch) {
                (Value::Null, _) | (Value::Bool(false), true) => continue,
                (Value::Bool(true), true) => "true".to_string(),
                (_, true) => {
                    return Err(format!("{name}: `{key}` is a switch: true or false").into());
                }
                (Value::String(s), false) => s,
                (Value::Number(n), false) => n.to_string(),
                (Value::Bool(b), false) => b.to_string(),
                (Value::Array(_) | Value::Object(_), false) => {
                    return Err(format!(
                        "{name}: `{key}` must be a string, a number, a boolean or a list of them"
                    )
                    .into());
                }
            };
            // `--lr=-1e-3`, not `--lr -1e-3`: a value may start with `-`.
            if !switch {
                check_value(&train, &format!("{long}={text}"))
                    .map_err(|e| format!("{name}: `{key}`: {e}"))?;
            }
            texts.push(text);
        }
        if !texts.is_empty() {
            defaults.push((arg.get_id().to_string(), texts));
        }
    }
    let ids = defaults.iter().map(|(id, _)| id.clone()).collect();
    let train = defaults.into_iter().fold(train, |command, (id, values)| {
        command.mut_arg(id, |arg| arg.default_values(values).required(false))
    });
    Ok((train, ids))
}

/// The top-level table of the TOML or JSON file at `path`.
fn read_table(path: &Path) -> Result<Map<String, Value>, Failure> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let table: Value = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let parsed: toml::Table = toml::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
            if let Some((key, value)) = parsed
                .iter()
                .find_map(|(k, v)| non_finite(v).map(|f| (k, f)))
            {
                return Err(format!(
                    "{name}: `{key}` is {value}: a setting must be a finite number"
                )
                .into());
            }
            serde_json::to_value(parsed).map_err(|e| format!("{name}: {e}"))?
        }
        Some("json") => {
            let Table(table) = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
            Value::Object(table)
        }
        _ => return Err(format!("{name}: a run configuration is a .toml or a .json file").into()),
    };
    match table {
        Value::Object(table) => Ok(table),
        _ => Err(format!("{name}: expected a table of flags at the top level").into()),
    }
}

/// A JSON file's top-level table, read refusing a key given twice (serde_json keeps the last
/// one silently, where TOML refuses it): the error names the key, its line and its column.
struct Table(Map<String, Value>);

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TableVisitor)
    }
}

/// Reads a [`Table`].
struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = Table;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a table of flags at the top level")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Table, A::Error> {
        let mut table = Map::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            if table.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "`{key}` is set twice: keep one of them"
                )));
            }
            table.insert(key, value);
        }
        Ok(Table(table))
    }
}

/// The first non-finite float in `value` (itself or, in an array or table, an element), if any:
/// TOML has `nan` and `inf`, which JSON, and so the flags, cannot carry.
fn non_finite(value: &toml::Value) -> Option<f64> {
    match value {
        toml::Value::Float(f) if !f.is_finite() => Some(*f),
        toml::Value::Array(items) => items.iter().find_map(non_finite),
        toml::Value::Table(table) => table.values().find_map(non_finite),
        _ => None,
    }
}

/// Parses `flag` (`--lr=1e-3`) alone with `command`'s parser for it, so that a bad value is
/// reported while the file and key are known; the flags that are missing are not its concern.
fn check_value(command: &Command, flag: &str) -> Result<(), String> {
    let argv = [command.get_name(), flag];
    match command.clone().try_get_matches_from(argv) {
        Err(error) if error.kind() != ErrorKind::MissingRequiredArgument => {
            Err(first_paragraph(&error))
        }
        _ => Ok(()),
    }
}

/// The first paragraph of clap's `error` on one line, without its `error: ` (the message and,
/// for missing flags, their names; not the usage and the hint after them).
pub(crate) fn first_paragraph(error: &clap::Error) -> String {
    let message = error.render().to_string();
    let lines = message.lines().take_while(|line| !line.trim().is_empty());
    let text = lines.map(str::trim).collect::<Vec<_>>().join(" ");
    text.trim_start_matches("error: ").to_string()
}
