//! [`RunIdentity`]: what a process of a group trains, in named parts (its settings flag by flag,
//! each task's training examples, the base model's fingerprint), so that the handshake can say
//! which setting, task or base file differs between two processes, not only that something does.

use std::collections::BTreeMap;

use rlora_llama::BaseFingerprint;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use super::super::TrainingData;

/// Tensors named at most when two bases differ.
const NAMED_TENSORS: usize = 5;

/// What a process of a group trains, which every process must share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// The settings that decide what is trained: each flag (`--lr`) and its value as the
    /// command line writes it.
    pub settings: BTreeMap<String, String>,
    /// Each task, named with where its examples come from (`` task `x` (x.jsonl) ``), and the
    /// XXH3-128 of its tokenized training examples ([`task_digests`]) in hex.
    pub data: BTreeMap<String, String>,
    /// The base model's fingerprint: its config, tensors and weight files.
    pub base: BaseFingerprint,
}

impl RunIdentity {
    /// XXH3-128 of the settings.
    pub fn settings_digest(&self) -> u128 {
        digest(&self.settings)
    }

    /// XXH3-128 of every task's data.
    pub fn data_digest(&self) -> u128 {
        digest(&self.data)
    }

    /// XXH3-128 of the base's fingerprint.
    pub fn base_digest(&self) -> u128 {
        digest(&self.base)
    }

    /// How `other` (another process's identity) differs from this one, as a clause after "rank
    /// I": the settings that differ with both values (which decide the data and name the base,
    /// so that their other differences follow from them); else the tasks whose training
    /// examples differ and what differs in the base. `None` when they are the same.
    pub fn difference(&self, other: &Self) -> Option<String> {
        if let Some(settings) = self.settings_difference(other) {
            return Some(settings);
        }
        let clauses: Vec<String> = [self.data_difference(other), self.base_difference(other)]
            .into_iter()
            .flatten()
            .collect();
        (!clauses.is_empty()).then(|| clauses.join("; "))
    }

    /// `was started with other settings (--lr: 0.0002 there, 0.0001 here)`.
    fn settings_difference(&self, other: &Self) -> Option<String> {
        let lines: Vec<String> = changed_keys(&self.settings, &other.settings)
            .into_iter()
            .map(|flag| {
                let value = |map: &BTreeMap<String, String>| {
                    map.get(flag).cloned().unwrap_or_else(|| "(not set)".into())
                };
                format!(
                    "{flag}: {} there, {} here",
                    value(&other.settings),
                    value(&self.settings)
                )
            })
            .collect();
        (!lines.is_empty())
            .then(|| format!("was started with other settings ({})", lines.join("; ")))
    }

    /// `` trains on other data (the training examples of task `x` (x.jsonl) differ: …) ``.
    fn data_difference(&self, other: &Self) -> Option<String> {
        let tasks: Vec<&str> = changed_keys(&self.data, &other.data)
            .into_iter()
            .map(String::as_str)
            .collect();
        (!tasks.is_empty()).then(|| {
            format!(
                "trains on other data (the training examples of {} differ: the content of the \
                 task files at the same path, or the tokenizer, is not the same for both \
                 processes)",
                tasks.join(", ")
            )
        })
    }

    /// `has another base model (the content of model.safetensors differs)`.
    fn base_difference(&self, other: &Self) -> Option<String> {
        let lines = self.base.differences(&other.base, NAMED_TENSORS);
        (!lines.is_empty()).then(|| {
            format!(
                "has another base model at the same path ({})",
                lines.join("; ")
            )
        })
    }
}

/// The keys whose values differ between `a` and `b` (or that only one has), in order.
fn changed_keys<'a>(
    a: &'a BTreeMap<String, String>,
    b: &'a BTreeMap<String, String>,
) -> Vec<&'a String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|key| a.get(*key) != b.get(*key));
    keys
}

/// XXH3-128 of `value`'s JSON (maps of strings, which always serialize).
fn digest(value: &impl Serialize) -> u128 {
    xxh3_128(&serde_json::to_vec(value).unwrap_or_default())
}

/// XXH3-128 of each task's tokenized training examples (token ids and prompt lengths, in
/// order), by task index: what the group's processes must all train on.
pub fn task_digests(data: &TrainingData) -> Vec<u128> {
    let mut hashers: Vec<Xxh3> = data.task_names.iter().map(|_| Xxh3::new()).collect();
    for example in &data.train {
        let Some(hasher) = hashers.get_mut(example.task) else {
            continue;
        };
        hasher.update(&(example.tokens.len() as u64).to_le_bytes());
        hasher.update(&(example.prompt_len as u64).to_le_bytes());
        for token in &example.tokens {
            hasher.update(&token.to_le_bytes());
        }
    }
    hashers.iter().map(Xxh3::digest128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TokenizedExample;

    fn identity() -> RunIdentity {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        RunIdentity {
            settings: map(&[("--lr", "0.0001"), ("--seed", "0")]),
            data: map(&[("task `x` (x.jsonl)", "01"), ("task `y` (built-in)", "02")]),
            base: BaseFingerprint {
                config: "c".into(),
                tensors: BTreeMap::new(),
                files: map(&[("model.safetensors", "aa")]),
            },
        }
    }

    #[test]
    fn differences_name_the_settings_tasks_and_base_files() {
        let mine = identity();
        assert_eq!(mine.difference(&mine.clone()), None);
        let mut other = identity();
        other.settings.insert("--lr".into(), "0.0002".into());
        other.settings.insert("--rank".into(), "8".into());
        let text = mine.difference(&other).unwrap();
        assert_eq!(
            text,
            "was started with other settings (--lr: 0.0002 there, 0.0001 here; --rank: 8 \
             there, (not set) here)"
        );
        assert_ne!(mine.settings_digest(), other.settings_digest());
        assert_eq!(mine.data_digest(), other.data_digest());

        let mut other = identity();
        other.data.insert("task `x` (x.jsonl)".into(), "03".into());
        other
            .base
            .files
            .insert("model.safetensors".into(), "bb".into());
        let text = mine.difference(&other).unwrap();
        assert!(
            text.starts_with(
                "trains on other data (the training examples of task `x` (x.jsonl) differ"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "has another base model at the same path (the content of \
                 model.safetensors differs)"
            ),
            "{text}"
        );
        assert_ne!(mine.base_digest(), other.base_digest());
    }

    #[test]
    fn task_digests_follow_each_tasks_examples() {
        let example = |task: usize, tokens: &[u32]| TokenizedExample {
            task,
            tokens: tokens.to_vec(),
            prompt_len: 1,
        };
        let data = |last: u32| TrainingData {
            task_names: vec!["a".into(), "b".into()],
            train: vec![example(0, &[1, 2]), example(1, &[3, last])],
            validation: Vec::new(),
        };
        let (one, two) = (task_digests(&data(4)), task_digests(&data(5)));
        assert_eq!(one.len(), 2);
        assert_eq!(one[0], two[0]);
        assert_ne!(one[1], two[1]);
    }
}
