//! An adapter folder, as PEFT lays one out: `adapter_config.json` beside
//! `adapter_model.safetensors`.

use std::path::Path;

use serde::Serialize;

use super::{TensorFile, write_atomically};
use crate::error::RLoraError;

/// The adapter's config file in a saved adapter folder.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The adapter's tensors in a saved adapter folder.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// The `format` tag of a single-layer adapter's config file.
pub const LAYER_ADAPTER_FORMAT: &str = "rlora-linear";

/// Writes an adapter folder: `tensors` (to its own path, normally `dir/adapter_model.safetensors`),
/// then `dir/adapter_config.json` with `config` as JSON; each file atomically, the config last so
/// that a folder with a config always has its tensors.
pub fn write_adapter_dir(
    dir: &Path,
    config: &impl Serialize,
    tensors: &TensorFile,
) -> Result<(), RLoraError> {
    let config_path = dir.join(ADAPTER_CONFIG_FILE);
    let json = serde_json::to_vec_pretty(config).map_err(|e| RLoraError::Json {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    tensors.write()?;
    write_atomically(&config_path, &json)
}
