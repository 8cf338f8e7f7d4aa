//! The model's adapters as one folder: `adapter_config.json` (every adapted projection's R-LoRA
//! config, by path) and `adapter_model.safetensors` (keys `{path}.lora_a`, `{path}.lora_b`,
//! `{path}.router`, `{path}.offset_a`, `{path}.offset_b`), applied later to the original base.

use std::collections::BTreeMap;
use std::path::Path;

use rlora::io::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, TensorFile, write_adapter_dir};
use rlora::{RLoraConfig, RLoraLinear};
use serde::{Deserialize, Serialize};

use crate::backend::LlamaBackend;
use crate::error::{LlamaError, read_json};
use crate::model::Llama;
use crate::projection::Projection;

/// The `format` tag of a model adapter's config file.
pub const MODEL_ADAPTER_FORMAT: &str = "rlora-llama";

/// The content of a model adapter's `adapter_config.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelAdapterConfig {
    /// Always [`MODEL_ADAPTER_FORMAT`].
    pub format: String,
    /// Always 1.
    pub format_version: u32,
    /// The R-LoRA config of every adapted projection, by path.
    pub layers: BTreeMap<String, RLoraConfig>,
}

impl<B: LlamaBackend> Llama<B> {
    /// Saves every adapter (not the base) to `dir`, each file written atomically.
    pub fn save_adapter(&self, dir: impl AsRef<Path>) -> Result<(), LlamaError> {
        let dir = dir.as_ref();
        let mut file = TensorFile::new(dir.join(ADAPTER_WEIGHTS_FILE));
        file.set_metadata("format", MODEL_ADAPTER_FORMAT);
        let mut layers = BTreeMap::new();
        for (path, adapter) in self.adapters() {
            adapter.write_adapter_tensors(&format!("{path}."), &mut file);
            layers.insert(path, adapter.config.clone());
        }
        let config = ModelAdapterConfig {
            format: MODEL_ADAPTER_FORMAT.into(),
            format_version: 1,
            layers,
        };
        write_adapter_dir(dir, &config, &file)?;
        Ok(())
    }

    /// Applies the adapter saved in `dir` (by [`save_adapter`](Self::save_adapter)): every listed
    /// projection gets its adapter on its frozen base; the others stay as they are.
    pub fn load_adapter(
        self,
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let config_path = dir.join(ADAPTER_CONFIG_FILE);
        let config: ModelAdapterConfig = read_json(&config_path)?;
        if config.format != MODEL_ADAPTER_FORMAT || config.format_version != 1 {
            return Err(LlamaError::Config {
                path: config_path,
                key: "format".into(),
                message: format!(
                    "is `{}` version {}; expected `{MODEL_ADAPTER_FORMAT}` version 1",
                    config.format, config.format_version
                ),
            });
        }
        let mut file = TensorFile::read(dir.join(ADAPTER_WEIGHTS_FILE))?;
        let mut layers = config.layers;
        let model = self.map_projections(|path, _, projection| match layers.remove(path) {
            None => Ok(projection),
            Some(layer) => projection.with_adapter(|base| {
                Ok(RLoraLinear::read_adapter_tensors(
                    base,
                    &layer,
                    &format!("{path}."),
                    &mut file,
                    device,
                )?)
            }),
        })?;
        if let Some(path) = layers.into_keys().next() {
            return Err(LlamaError::Config {
                path: config_path,
                key: format!("layers.{path}"),
                message: "names no projection of this model".into(),
            });
        }
        file.ensure_consumed()?;
        Ok(model)
    }
}

impl<B: LlamaBackend> Llama<B> {
    /// Folds every adapter into its base (`RLoraLinear::merge_with_routing`): under `routing`
    /// (one weight per head, the same for every adapter) or, when `None`, uniform `1/N`. The
    /// result is a plain model (for `save_pretrained`) that computes what the adapted model
    /// computes whenever every token's gates equal that routing.
    pub fn merge_adapters(self, routing: Option<&[f64]>) -> Result<Self, LlamaError> {
        self.map_projections(|_, _, projection| match dense_if_adapted(projection) {
            Projection::Adapted(layer) => {
                let heads = layer.config.heads;
                let uniform = vec![1.0 / heads as f64; heads];
                let merged = layer.merge_with_routing(routing.unwrap_or(&uniform))?;
                Ok(Projection::Frozen(merged))
            }
            plain => Ok(plain),
        })
    }

    /// Folds every adapter into its base under its own routing, `routing[path]` (one weight
    /// per head, for example that projection's mean gates over a task): a plain model that
    /// computes what the adapted model computes whenever every token's gates at every projection
    /// equal that projection's routing. A single-head adapter needs none; errors naming the first
    /// multi-head adapter without one.
    pub fn merge_adapters_by_path(
        self,
        routing: &BTreeMap<String, Vec<f64>>,
    ) -> Result<Self, LlamaError> {
        self.map_projections(|path, _, projection| match dense_if_adapted(projection) {
            Projection::Adapted(layer) => {
                let weights = match routing.get(path) {
                    Some(weights) => weights.clone(),
                    None if layer.config.heads == 1 => vec![1.0],
                    None => {
                        return Err(LlamaError::InvalidArgument(format!(
                            "no routing given for the adapter at {path}"
                        )));
                    }
                };
                Ok(Projection::Frozen(layer.merge_with_routing(&weights)?))
            }
            plain => Ok(plain),
        })
    }
}

/// `projection` on a float base when it has an adapter (an adapter on a quantized base folds into
/// a float copy of that base), else as it is.
fn dense_if_adapted<B: LlamaBackend>(projection: Projection<B>) -> Projection<B> {
    if projection.adapter().is_some() {
        projection.into_dense()
    } else {
        projection
    }
}
