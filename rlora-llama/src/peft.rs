//! PEFT LoRA adapters: import a PEFT folder as single-head layers, and export adapters (a
//! multi-head one with its heads folded under a fixed routing) so that PEFT and transformers
//! load what this crate trains.
//!
//! PEFT stores `base_model.model.{path}.lora_A.weight` `[r, d_in]` and `lora_B.weight`
//! `[d_out, r]` (PyTorch layout) with `Δy = s · x Aᵀ Bᵀ`, `s = lora_alpha / r` (or `/√r`).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Tensor;
use rlora::io::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, TensorFile, write_adapter_dir};
use rlora::{LoraInit, RLoraConfig, RLoraLinear};
use serde::{Deserialize, Serialize};

use crate::backend::LlamaBackend;
use crate::error::{LlamaError, read_json};
use crate::model::Llama;
use crate::projection::shaped;
use crate::targets::Targets;

/// The fields of PEFT's `LoraConfig` this crate reads and writes.
#[derive(Debug, Serialize, Deserialize)]
pub struct PeftLoraConfig {
    /// `"LORA"`.
    pub peft_type: String,
    /// The rank.
    pub r: usize,
    /// `alpha`.
    pub lora_alpha: f64,
    /// Rank-stabilized scaling.
    #[serde(default)]
    pub use_rslora: bool,
    /// The targets (names; a regex string is not supported).
    pub target_modules: serde_json::Value,
    /// Dropout (kept for training continuity).
    #[serde(default)]
    pub lora_dropout: f64,
    /// `"none"` only.
    #[serde(default = "none")]
    pub bias: String,
    /// DoRA is not supported.
    #[serde(default)]
    pub use_dora: bool,
    /// Per-layer ranks are not supported.
    #[serde(default)]
    pub rank_pattern: serde_json::Map<String, serde_json::Value>,
    /// Per-layer alphas are not supported.
    #[serde(default)]
    pub alpha_pattern: serde_json::Map<String, serde_json::Value>,
    /// Conv1D-style layout is not used by Llama.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Always `"CAUSAL_LM"` on export.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Where the base model was.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
}

fn none() -> String {
    "none".into()
}

impl PeftLoraConfig {
    fn check(&self, path: &Path) -> Result<Targets, LlamaError> {
        let unsupported = |key: &str, message: &str| {
            Err(LlamaError::Config {
                path: path.to_path_buf(),
                key: key.into(),
                message: message.into(),
            })
        };
        if self.peft_type != "LORA" {
            return unsupported("peft_type", "must be LORA");
        }
        if self.use_dora {
            return unsupported("use_dora", "is true; DoRA adapters are not supported");
        }
        if self.bias != "none" {
            return unsupported("bias", "must be \"none\"");
        }
        if self.fan_in_fan_out {
            return unsupported("fan_in_fan_out", "must be false for Llama");
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return unsupported(
                "rank_pattern",
                "per-layer ranks and alphas are not supported",
            );
        }
        let names: Vec<String> = match &self.target_modules {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            serde_json::Value::String(s) if s == "all-linear" => vec![s.clone()],
            _ => {
                return unsupported(
                    "target_modules",
                    "must be a list of names or \"all-linear\"",
                );
            }
        };
        Targets::parse(&names).map_err(|e| LlamaError::Config {
            path: path.to_path_buf(),
            key: "target_modules".into(),
            message: e.to_string(),
        })
    }
}

/// The heads of the adapter at `path` folded under `weights` ([`RLoraLinear::mixed_head`]),
/// or an error naming the projection.
fn folded_head<B: LlamaBackend>(
    path: &str,
    adapter: &RLoraLinear<B>,
    weights: &[f64],
) -> Result<Tensor<B, 2>, LlamaError> {
    adapter.mixed_head(weights).map_err(|_| {
        let heads = adapter.config.heads;
        LlamaError::InvalidArgument(format!(
            "{path}: the routing to fold its {heads} heads under needs {heads} finite weights, \
             got {weights:?}"
        ))
    })
}

/// The PEFT key prefix of a projection.
fn peft_prefix(path: &str) -> String {
    format!("base_model.model.{path}.lora_")
}

impl<B: LlamaBackend> Llama<B> {
    /// Applies an adapter folder of either format, told apart by its `adapter_config.json`: PEFT's
    /// LoRA ([`load_peft_adapter`](Self::load_peft_adapter)) has a `peft_type`, this project's
    /// ([`load_adapter`](Self::load_adapter)) has none.
    pub fn load_any_adapter(
        self,
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let config: serde_json::Value = read_json(&dir.join(ADAPTER_CONFIG_FILE))?;
        if config.get("peft_type").is_some() {
            self.load_peft_adapter(dir, device)
        } else {
            self.load_adapter(dir, device)
        }
    }

    /// Applies a PEFT LoRA adapter folder: each target projection becomes a single-head layer.
    pub fn load_peft_adapter(
        self,
        dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let config_path = dir.join(ADAPTER_CONFIG_FILE);
        let peft: PeftLoraConfig = read_json(&config_path)?;
        let targets = peft.check(&config_path)?;
        let mut file = TensorFile::read(dir.join(ADAPTER_WEIGHTS_FILE))?;
        let template = RLoraConfig::new(1, 1)
            .with_rank(peft.r)
            .with_alpha(peft.lora_alpha)
            .with_use_rslora(peft.use_rslora)
            .with_dropout(peft.lora_dropout)
            .with_init_b(LoraInit::Zeros);
        let model = self.map_projections(|path, module, projection| {
            if !targets.contains(module) {
                return Ok(projection);
            }
            projection.with_adapter(|base| {
                let config = shaped(&template, &base);
                let (d_in, d_out, r) = (config.d_input, config.d_output, config.rank);
                let prefix = peft_prefix(path);
                let a: Tensor<B, 2> = file.take(&format!("{prefix}A.weight"), [r, d_in], device)?;
                let b: Tensor<B, 2> =
                    file.take(&format!("{prefix}B.weight"), [d_out, r], device)?;
                let mut ours = TensorFile::new(file.path());
                ours.insert("lora_a", a.transpose());
                ours.insert("lora_b", b.transpose());
                Ok(RLoraLinear::read_adapter_tensors(
                    base, &config, "", &mut ours, device,
                )?)
            })
        })?;
        file.ensure_consumed()?;
        Ok(model)
    }

    /// Exports the adapters in PEFT's LoRA format. Every adapter must have one head (see
    /// [`export_peft_adapter_with_routing`](Self::export_peft_adapter_with_routing) for more)
    /// and all the same rank and scaling. An init offset `s·A⁰B̄⁰` is folded in as PEFT folds
    /// PiSSA: a rank-2r LoRA `[A | A⁰] · [B; −B̄⁰]` with the same scaling.
    pub fn export_peft_adapter(
        &self,
        dir: impl AsRef<Path>,
        base_model: Option<&str>,
    ) -> Result<(), LlamaError> {
        self.export_peft_adapter_with_routing(dir, base_model, &BTreeMap::new())
    }

    /// Exports the adapters in PEFT's LoRA format, each multi-head adapter's heads folded under
    /// its routing `routing[path]` (one weight per head): `B = Σ_i w_i B_i` `[r, d_out]`, the
    /// router dropped. The PEFT adapter computes what the adapted model computes whenever every
    /// token's gates at every projection equal that projection's routing, as
    /// [`merge_adapters_by_path`](Self::merge_adapters_by_path) folds them into the base. A
    /// single-head adapter needs no routing; every adapter's rank and scaling must be the same,
    /// and an init offset is folded in as [`export_peft_adapter`](Self::export_peft_adapter)
    /// folds it.
    pub fn export_peft_adapter_with_routing(
        &self,
        dir: impl AsRef<Path>,
        base_model: Option<&str>,
        routing: &BTreeMap<String, Vec<f64>>,
    ) -> Result<(), LlamaError> {
        let dir = dir.as_ref();
        let adapters = self.adapters();
        let Some((_, first)) = adapters.first() else {
            return Err(LlamaError::InvalidArgument(
                "the model has no adapters to export".into(),
            ));
        };
        let mut file = TensorFile::new(dir.join(ADAPTER_WEIGHTS_FILE));
        let (mut targets, mut rank) = (Vec::new(), 0);
        let scaling = first.config.scaling();
        for (path, adapter) in &adapters {
            let config = &adapter.config;
            let head = match routing.get(path) {
                Some(weights) => folded_head(path, adapter, weights)?,
                None if config.heads == 1 => adapter.lora_b.val(),
                None => {
                    return Err(LlamaError::HeadsToFold {
                        path: path.clone(),
                        heads: config.heads,
                    });
                }
            };
            let (a, b) = match &adapter.offset {
                None => (adapter.lora_a.val(), head),
                Some(offset) => (
                    Tensor::cat(vec![adapter.lora_a.val(), offset.a.val()], 1),
                    Tensor::cat(vec![head, offset.b.val().neg()], 0),
                ),
            };
            let this_rank = a.dims()[1];
            if (rank != 0 && this_rank != rank) || config.scaling() != scaling {
                return Err(LlamaError::InvalidArgument(format!(
                    "{path}: PEFT needs one rank and scaling for every layer (rank {this_rank} vs {rank}, \
                     scaling {} vs {scaling})",
                    config.scaling()
                )));
            }
            rank = this_rank;
            let prefix = peft_prefix(path);
            file.insert(format!("{prefix}A.weight"), a.transpose());
            file.insert(format!("{prefix}B.weight"), b.transpose());
            let name = path.rsplit('.').next().unwrap_or(path).to_string();
            if !targets.contains(&name) {
                targets.push(name);
            }
        }
        let config = PeftLoraConfig {
            peft_type: "LORA".into(),
            r: rank,
            lora_alpha: scaling * rank as f64,
            use_rslora: false,
            target_modules: serde_json::json!(targets),
            lora_dropout: first.config.dropout,
            bias: none(),
            use_dora: false,
            rank_pattern: Default::default(),
            alpha_pattern: Default::default(),
            fan_in_fan_out: false,
            task_type: Some("CAUSAL_LM".into()),
            base_model_name_or_path: base_model.map(String::from),
        };
        write_adapter_dir(dir, &config, &file)?;
        Ok(())
    }
}
