//! Adapter persistence: only the adapter (`A`, heads, router, init offset) and its config, as
//! `adapter_config.json` + `adapter_model.safetensors` in a folder, like PEFT.
//!
//! Keys, relative to a layer's prefix: `lora_a [d_in, r]`, `lora_b [N·r, d_out]`,
//! `router [d_in, N]` (N > 1), `offset_a [d_in, r]` and `offset_b [r, d_out]` (non-zero init).
//! All in burn's row layout, f32.

use std::path::Path;

use burn::nn::Linear;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::config::RLoraConfig;
use crate::error::RLoraError;
use crate::io::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LAYER_ADAPTER_FORMAT, TensorFile, write_adapter_dir,
};
use crate::layer::{AdapterWeights, RLoraLinear, check_base};

/// The content of a single layer's `adapter_config.json`.
#[derive(Debug, Serialize, Deserialize)]
struct LayerAdapterConfig {
    format: String,
    format_version: u32,
    layer: RLoraConfig,
}

impl<B: Backend> RLoraLinear<B> {
    /// Adds the adapter's tensors to `file`, each key prefixed by `prefix` (for example
    /// `"model.layers.0.mlp.gate_proj."`, or `""` for a lone layer).
    pub fn write_adapter_tensors(&self, prefix: &str, file: &mut TensorFile) {
        file.insert(format!("{prefix}lora_a"), self.lora_a.val());
        file.insert(format!("{prefix}lora_b"), self.lora_b.val());
        if let Some(router) = &self.router {
            file.insert(format!("{prefix}router"), router.val());
        }
        if let Some(offset) = &self.offset {
            file.insert(format!("{prefix}offset_a"), offset.a.val());
            file.insert(format!("{prefix}offset_b"), offset.b.val());
        }
    }

    /// Builds a layer on `base` with the adapter under `prefix` in `file`, which must hold exactly
    /// the tensors that `config` implies, with the right shapes. The taken tensors leave `file`.
    pub fn read_adapter_tensors(
        base: Linear<B>,
        config: &RLoraConfig,
        prefix: &str,
        file: &mut TensorFile,
        device: &B::Device,
    ) -> Result<Self, RLoraError> {
        config.validate()?;
        check_base(&base, config, &file.path().display().to_string())?;
        let (d_in, d_out, r, n) = (config.d_input, config.d_output, config.rank, config.heads);
        let lora_a = file.take(&format!("{prefix}lora_a"), [d_in, r], device)?;
        let lora_b = file.take(&format!("{prefix}lora_b"), [n * r, d_out], device)?;
        let router = if n > 1 {
            Some(file.take(&format!("{prefix}router"), [d_in, n], device)?)
        } else {
            None
        };
        let offset = if config.has_init_offset() {
            let a = file.take(&format!("{prefix}offset_a"), [d_in, r], device)?;
            let b = file.take(&format!("{prefix}offset_b"), [r, d_out], device)?;
            Some((a, b))
        } else {
            None
        };
        let weights = AdapterWeights {
            lora_a,
            lora_b,
            router,
            offset,
        };
        Ok(Self::from_parts(base, config.clone(), weights))
    }

    /// Saves this layer's adapter (not the base) to `dir`: `adapter_config.json` and
    /// `adapter_model.safetensors`, each written atomically.
    pub fn save_adapter(&self, dir: impl AsRef<Path>) -> Result<(), RLoraError> {
        let dir = dir.as_ref();
        let config = LayerAdapterConfig {
            format: LAYER_ADAPTER_FORMAT.to_string(),
            format_version: 1,
            layer: self.config.clone(),
        };
        let mut file = TensorFile::new(dir.join(ADAPTER_WEIGHTS_FILE));
        file.set_metadata("format", LAYER_ADAPTER_FORMAT);
        self.write_adapter_tensors("", &mut file);
        write_adapter_dir(dir, &config, &file)
    }

    /// Applies the adapter saved in `dir` to `base` (the original pretrained layer): the result
    /// computes exactly what the saved layer computed.
    pub fn load_adapter(
        base: Linear<B>,
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<Self, RLoraError> {
        let dir = dir.as_ref();
        let config = read_layer_config(&dir.join(ADAPTER_CONFIG_FILE))?;
        check_base(
            &base,
            &config,
            &dir.join(ADAPTER_CONFIG_FILE).display().to_string(),
        )?;
        let mut file = TensorFile::read(dir.join(ADAPTER_WEIGHTS_FILE))?;
        let layer = Self::read_adapter_tensors(base, &config, "", &mut file, device)?;
        file.ensure_consumed()?;
        Ok(layer)
    }
}

/// Reads and checks a single layer's `adapter_config.json`.
fn read_layer_config(path: &Path) -> Result<RLoraConfig, RLoraError> {
    let text = std::fs::read_to_string(path).map_err(|e| RLoraError::io(path, e))?;
    let config: LayerAdapterConfig = serde_json::from_str(&text).map_err(|e| RLoraError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if config.format != LAYER_ADAPTER_FORMAT || config.format_version != 1 {
        return Err(RLoraError::Json {
            path: path.to_path_buf(),
            message: format!(
                "format `{}` version {} is not `{LAYER_ADAPTER_FORMAT}` version 1",
                config.format, config.format_version
            ),
        });
    }
    config.layer.validate()?;
    Ok(config.layer)
}
