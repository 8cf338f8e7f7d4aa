//! `rlora train --resume`: the new settings against the run's saved `run_config.json`.
//!
//! A resumed run must train the same adapters on the same stream of batches as the run it
//! continues, so every setting that decides them (the model, the tasks and their files, the
//! variant and its heads, rank, α, dropout and targets, the seeds, the batch, the mixing, the
//! checkpoint interval, …) must be unchanged. What the checkpoint does not fix may change and is
//! applied from the resumed step on: the learning rate and its schedule (warmup, weight decay,
//! clipping) and the steps (`--max-steps`, `--epochs`). Settings of the evaluation and of reading
//! files do not matter. A setting this list does not know counts as one that must not change.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::RunSpec;

/// The `run_config.json` keys of the settings a resume may change: the schedule's
/// ([`ScheduleSettings`](super::ScheduleSettings)), which the checkpoint does not fix.
fn applied() -> Vec<String> {
    keys_of(&RunSpec::new("").schedule)
}

/// The keys of the settings that do not change what is trained: the evaluation's and the
/// output folder's, the longest line of a task file, and `resume` and `overwrite` (actions,
/// which earlier versions wrote too).
pub(super) fn ignored() -> Vec<String> {
    let spec = RunSpec::new("");
    let mut keys = keys_of(&spec.evaluation);
    keys.extend(keys_of(&spec.output));
    keys.extend(["max_line_bytes", "resume", "overwrite"].map(String::from));
    keys
}

/// The keys a part of a [`RunSpec`] writes into `run_config.json`.
fn keys_of(part: &impl Serialize) -> Vec<String> {
    match serde_json::to_value(part) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// What an applied setting is, for the announcement: `learning rate`, `steps`, ….
fn what(key: &str) -> &'static str {
    match key {
        "lr" => "learning rate",
        "max_steps" => "steps",
        "epochs" => "epochs",
        "warmup_ratio" => "warmup",
        "weight_decay" => "weight decay",
        "max_grad_norm" => "gradient clipping",
        _ => "setting",
    }
}

/// One setting that differs: its key, the saved value and the new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The key in `run_config.json`.
    pub key: String,
    /// The saved value.
    pub saved: Value,
    /// The new value.
    pub new: Value,
}

impl Change {
    /// `--batch-size: 8 (saved) → 16 (now)`.
    fn line(&self) -> String {
        format!(
            "{}: {} (saved) → {} (now)",
            flag(&self.key),
            shown(&self.saved),
            shown(&self.new)
        )
    }
}

/// The settings of `new` that differ from `saved` (both as `run_config.json` writes them), split
/// into those a resume applies and those it refuses (in key order).
pub fn compare(saved: &Value, new: &Value) -> (Vec<Change>, Vec<Change>) {
    let empty = serde_json::Map::new();
    let (saved_map, new_map) = (
        saved.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = saved_map.keys().chain(new_map.keys()).collect();
    keys.sort();
    keys.dedup();
    let (ignored, resumable) = (ignored(), applied());
    let (mut applied, mut refused) = (Vec::new(), Vec::new());
    for key in keys {
        let (before, after) = (
            saved_map.get(key).unwrap_or(&Value::Null),
            new_map.get(key).unwrap_or(&Value::Null),
        );
        if ignored.contains(key) || same(key, before, after) {
            continue;
        }
        let change = Change {
            key: key.clone(),
            saved: before.clone(),
            new: after.clone(),
        };
        if resumable.contains(key) {
            applied.push(change);
        } else {
            refused.push(change);
        }
    }
    (applied, refused)
}

/// The error of a resume whose settings in `refused` differ from those saved in `file`.
pub fn refusal(file: &Path, refused: &[Change]) -> String {
    let lines: Vec<String> = refused.iter().map(|c| format!("  {}", c.line())).collect();
    format!(
        "--resume: these settings differ from the run's, saved in {}:\n{}\n\
         they decide what is trained, so the checkpoint cannot continue with them: resume with \
         the saved values (`--config {}` gives them all), or start a new run (another --output, \
         or --overwrite to replace this one)",
        file.display(),
        lines.join("\n"),
        file.display()
    )
}

/// The line announcing the changes in `applied`, if any.
pub fn announcement(applied: &[Change]) -> Option<String> {
    let parts: Vec<String> = applied
        .iter()
        .map(|c| format!("{} {}", what(&c.key), c.line()))
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "--resume: applying the new {} from the checkpoint's step on",
            parts.join("; ")
        )
    })
}

/// Whether `a` and `b` are the same value of `key`: equal, or, for the model, paths to the same
/// folder.
fn same(key: &str, a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (key, a, b) {
        // A flag that runs made before it existed did not write: off.
        (_, Value::Null, Value::Bool(false)) | (_, Value::Bool(false), Value::Null) => true,
        ("model", Value::String(a), Value::String(b)) => {
            match (Path::new(a).canonicalize(), Path::new(b).canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// The command-line flag of a `run_config.json` key: `batch_size` → `--batch-size`, `tasks` →
/// `--task`.
pub(super) fn flag(key: &str) -> String {
    match key {
        "tasks" => "--task".to_string(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

/// A value as the command line writes it: lists joined by commas, strings unquoted, null as
/// `(not set)`.
pub(super) fn shown(value: &Value) -> String {
    match value {
        Value::Null => "(not set)".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_split_into_applied_and_refused() {
        let saved = json!({"lr": 1e-3, "heads": 3, "rank": 4, "output": "a", "tasks": ["x=x.jsonl"],
            "max_steps": 10, "seed": 0, "resume": false});
        let new = json!({"lr": 2e-3, "heads": 5, "rank": 4, "output": "b", "tasks": ["x=y.jsonl"],
            "max_steps": 20, "seed": 0, "routing": "task"});
        let (applied, refused) = compare(&saved, &new);
        let keys = |changes: &[Change]| changes.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&applied), ["lr", "max_steps"]);
        // A key the saved file lacks (a newer setting) is refused, not ignored; `resume`, which
        // earlier versions saved, is ignored.
        assert_eq!(keys(&refused), ["heads", "routing", "tasks"]);
        let message = refusal(Path::new("run/run_config.json"), &refused);
        assert!(
            message.contains("--heads: 3 (saved) → 5 (now)"),
            "{message}"
        );
        assert!(
            message.contains("--task: x=x.jsonl (saved) → x=y.jsonl (now)"),
            "{message}"
        );
        assert!(
            message.contains("--routing: (not set) (saved) → task (now)"),
            "{message}"
        );
        let line = announcement(&applied).unwrap();
        assert!(
            line.contains("learning rate --lr: 0.001 (saved) → 0.002 (now)"),
            "{line}"
        );
        assert!(
            line.contains("steps --max-steps: 10 (saved) → 20 (now)"),
            "{line}"
        );
        assert_eq!(announcement(&[]), None);
    }

    #[test]
    fn the_schedule_may_change_and_each_of_its_settings_is_named() {
        let mut keys = applied();
        keys.sort();
        assert_eq!(
            keys,
            [
                "epochs",
                "lr",
                "max_grad_norm",
                "max_steps",
                "warmup_ratio",
                "weight_decay"
            ]
        );
        assert!(keys.iter().all(|key| what(key) != "setting"));
        let ignored = ignored();
        for key in ["output", "eval_examples", "eval_merged", "max_line_bytes"] {
            assert!(ignored.contains(&key.to_string()), "{key}");
        }
        assert!(!ignored.contains(&"batch_size".to_string()));
    }

    #[test]
    fn a_flag_that_older_runs_did_not_save_matches_only_when_off() {
        let saved = json!({"rank": 4});
        let off = json!({"rank": 4, "activation_checkpointing": false});
        let on = json!({"rank": 4, "activation_checkpointing": true});
        assert_eq!(compare(&saved, &off), (vec![], vec![]));
        let (_, refused) = compare(&saved, &on);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].key, "activation_checkpointing");
    }
}
