//! [`BaseFingerprint`]: what identifies a Hugging Face checkpoint folder as the same base model —
//! its config, every tensor's name, dtype and shape, and a content checksum of each weight file —
//! so that a run resumed with adapter-only checkpoints can check that `--model` still holds the
//! base it trained on.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::checkpoint::Checkpoint;
use crate::error::LlamaError;

/// The config file of a checkpoint folder.
const CONFIG_FILE: &str = "config.json";

/// A checkpoint folder's identity. Checksums are XXH3-128 in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseFingerprint {
    /// The checksum of `config.json`'s bytes.
    pub config: String,
    /// Every tensor: name → `"dtype [d0, d1, …]"`.
    pub tensors: BTreeMap<String, String>,
    /// Each weight file (by file name): the checksum of its bytes.
    pub files: BTreeMap<String, String>,
}

impl BaseFingerprint {
    /// The fingerprint of the checkpoint folder `dir` (reads every weight file once).
    pub fn of(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let config_path = dir.join(CONFIG_FILE);
        let config = std::fs::read(&config_path).map_err(|e| LlamaError::io(&config_path, e))?;
        let checkpoint = Checkpoint::open(dir)?;
        let mut tensors = BTreeMap::new();
        let mut files = BTreeMap::new();
        for (path, bytes) in checkpoint.files() {
            let parsed = SafeTensors::deserialize(bytes).map_err(|e| LlamaError::Safetensors {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            for (name, view) in parsed.tensors() {
                tensors.insert(name, format!("{:?} {:?}", view.dtype(), view.shape()));
            }
            let file = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            files.insert(file, checksum(bytes));
        }
        Ok(Self {
            config: checksum(&config),
            tensors,
            files,
        })
    }

    /// How `other` (the folder now) differs from this fingerprint (the one saved): one line per
    /// difference, at most `limit` tensors named.
    pub fn differences(&self, other: &Self, limit: usize) -> Vec<String> {
        let mut lines = Vec::new();
        if self.config != other.config {
            lines.push(format!("{CONFIG_FILE} differs"));
        }
        let mut tensors = Vec::new();
        for (name, saved) in &self.tensors {
            match other.tensors.get(name) {
                None => tensors.push(format!("tensor {name} is missing")),
                Some(now) if now != saved => {
                    tensors.push(format!("tensor {name} is {now}, was {saved}"))
                }
                Some(_) => {}
            }
        }
        for name in other.tensors.keys() {
            if !self.tensors.contains_key(name) {
                tensors.push(format!("tensor {name} is new"));
            }
        }
        let more = tensors.len().saturating_sub(limit);
        lines.extend(tensors.into_iter().take(limit));
        if more > 0 {
            lines.push(format!("and {more} more tensors"));
        }
        if self.files != other.files {
            let names: std::collections::BTreeSet<&String> =
                self.files.keys().chain(other.files.keys()).collect();
            let changed: Vec<&str> = names
                .into_iter()
                .filter(|f| self.files.get(*f) != other.files.get(*f))
                .map(String::as_str)
                .collect();
            lines.push(format!("the content of {} differs", changed.join(", ")));
        }
        lines
    }
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:032x}", xxh3_128(bytes))
}
