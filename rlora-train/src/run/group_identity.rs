//! What a process of a group trains, as the group's handshake compares it ([`RunIdentity`]):
//! the settings `run_config.json` saves (those that decide what is trained), flag by flag; each
//! task's tokenized training examples, named with its files; the base's fingerprint.

use std::collections::BTreeMap;
use std::path::Path;

use rlora_llama::BaseFingerprint;
use serde_json::Value;

use super::resume_check::{flag, ignored, shown};
use super::{Failure, RunSpec};
use crate::data::parse_task_spec;
use crate::trainer::{RunIdentity, TrainingData, task_digests};

/// The identity of the run of `spec` on `data` (before a rank drops its validation examples)
/// with the base in `model_dir` (read once more, after the weights loaded).
///
/// # Errors
/// The settings cannot be serialized, or the base's files cannot be read.
pub fn run_identity(
    spec: &RunSpec,
    data: &TrainingData,
    model_dir: &Path,
) -> Result<RunIdentity, Failure> {
    Ok(RunIdentity {
        settings: settings(spec)?,
        data: data_digests(spec, data),
        base: BaseFingerprint::of(model_dir)?,
    })
}

/// `run_config.json`'s settings without the keys that do not decide what is trained (the
/// output folder, the evaluation's settings, …), each under its flag, as the command line
/// writes its value.
fn settings(spec: &RunSpec) -> Result<BTreeMap<String, String>, Failure> {
    let Value::Object(map) = serde_json::to_value(spec)? else {
        return Err("the settings are not a JSON object".into());
    };
    let ignored = ignored();
    Ok(map
        .iter()
        .filter(|(key, _)| !ignored.contains(key))
        .map(|(key, value)| (flag(key), shown(value)))
        .collect())
}

/// Each task, named `` task `x` (FILES) `` (`built-in` for the built-in suite's), and the
/// digest of its training examples in hex.
fn data_digests(spec: &RunSpec, data: &TrainingData) -> BTreeMap<String, String> {
    let files: BTreeMap<String, String> = (spec.data.tasks.iter())
        .filter_map(|task| {
            let task = parse_task_spec(task).ok()?;
            let files = [
                Some(&task.train),
                task.validation.as_ref(),
                task.test.as_ref(),
            ];
            let files: Vec<String> = files
                .into_iter()
                .flatten()
                .map(|file| file.display().to_string())
                .collect();
            Some((task.name, files.join(",")))
        })
        .collect();
    data.task_names
        .iter()
        .zip(task_digests(data))
        .map(|(name, digest)| {
            let source = files.get(name).map_or("built-in", String::as_str);
            (
                format!("task `{name}` ({source})"),
                format!("{digest:032x}"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TokenizedExample;

    #[test]
    fn tasks_are_named_with_their_files_and_settings_with_their_flags() {
        let spec = RunSpec::parse_flags(&[
            "--output",
            "o",
            "--task",
            "x=x.jsonl,v.jsonl",
            "--builtin",
            "--lr",
            "2e-4",
        ]);
        let data = TrainingData {
            task_names: vec!["x".into(), "facts".into()],
            train: vec![TokenizedExample {
                task: 0,
                tokens: vec![1, 2],
                prompt_len: 1,
            }],
            validation: Vec::new(),
        };
        let digests = data_digests(&spec, &data);
        let names: Vec<&String> = digests.keys().collect();
        assert_eq!(
            names,
            ["task `facts` (built-in)", "task `x` (x.jsonl,v.jsonl)"]
        );
        let settings = settings(&spec).unwrap();
        assert_eq!(settings.get("--lr").map(String::as_str), Some("0.0002"));
        assert_eq!(
            settings.get("--task").map(String::as_str),
            Some("x=x.jsonl,v.jsonl")
        );
        assert!(!settings.contains_key("--output"));
    }
}
