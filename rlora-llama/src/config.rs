//! [`LlamaConfig`]: a Hugging Face `config.json` of the Llama family (`llama`, `qwen2`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{LlamaError, read_json};

/// The architectures this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// Llama 1-3 (and Mistral-style dense models that call themselves `llama`).
    Llama,
    /// Qwen2 / Qwen2.5: Llama with biases on `q_proj`, `k_proj`, `v_proj`.
    Qwen2,
}

/// RoPE frequency scaling (`rope_scaling` in `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rope_type", rename_all = "lowercase")]
pub enum RopeScaling {
    /// Llama 3.1's: low frequencies divided by `factor`, high kept, a smooth ramp between.
    Llama3 {
        /// The divisor of low frequencies.
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` are scaled.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The context length the model was pretrained with.
        original_max_position_embeddings: usize,
    },
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// The divisor.
        factor: f64,
    },
}

/// The subset of a Hugging Face `config.json` that defines a Llama-family model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// `llama` or `qwen2`.
    pub model_type: ModelType,
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Model width `d`.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads `H`.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA; `H` when absent).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width (`d / H` when absent).
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// RoPE scaling, if any.
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// Longest supported context.
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Whether the LM head shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v/o (Llama's `attention_bias`; Qwen2 always has q/k/v biases).
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// Beginning-of-sequence token.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
}

/// One token id or several (`eos_token_id` may be a list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            Self::One(id) => vec![*id],
            Self::Many(ids) => ids.clone(),
        }
    }
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_max_position_embeddings() -> usize {
    2048
}

/// Brings the RoPE settings to one form: `rope_theta` at the top and `rope_scaling` tagged by
/// `rope_type`, from either the classic keys (`rope_scaling` with `type` or `rope_type`) or
/// transformers 5's `rope_parameters` (`rope_theta`, `rope_type` "default" for none).
fn normalize_rope(config: &mut serde_json::Value) -> Result<(), (&'static str, String)> {
    let object = config
        .as_object_mut()
        .ok_or(("config", "is not a JSON object".to_string()))?;
    let (key, mut scaling) = match object.remove("rope_parameters") {
        Some(parameters) => {
            if let Some(theta) = parameters.get("rope_theta") {
                object.insert("rope_theta".into(), theta.clone());
            }
            ("rope_parameters", parameters)
        }
        None => (
            "rope_scaling",
            object.remove("rope_scaling").unwrap_or_default(),
        ),
    };
    if scaling.is_null() {
        return Ok(());
    }
    let kind = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(|t| t.as_str())
        .ok_or((key, "has no `rope_type`".to_string()))?
        .to_string();
    match kind.as_str() {
        "default" => Ok(()),
        "llama3" | "linear" => {
            scaling["rope_type"] = serde_json::Value::String(kind);
            let parsed: RopeScaling =
                serde_json::from_value(scaling).map_err(|e| (key, e.to_string()))?;
            let parsed = serde_json::to_value(parsed).map_err(|e| (key, e.to_string()))?;
            object.insert("rope_scaling".into(), parsed);
            Ok(())
        }
        other => Err((
            key,
            format!("has type `{other}`; supported: `default`, `llama3`, `linear`"),
        )),
    }
}

impl LlamaConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        let value: serde_json::Value = read_json(path)?;
        let config_error = |key: &str, message: String| LlamaError::Config {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        match value.get("model_type").and_then(|v| v.as_str()) {
            Some("llama" | "qwen2") => {}
            Some(other) => {
                return Err(config_error(
                    "model_type",
                    format!("is `{other}`; supported: `llama`, `qwen2`"),
                ));
            }
            None => return Err(config_error("model_type", "is missing".into())),
        }
        let mut value = value;
        normalize_rope(&mut value).map_err(|(key, message)| config_error(key, message))?;
        let config: Self = serde_json::from_value(value).map_err(|e| LlamaError::json(path, e))?;
        config.validate(path)?;
        Ok(config)
    }

    /// Key/value heads.
    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q/k/v carry biases.
    pub fn qkv_bias(&self) -> bool {
        self.model_type == ModelType::Qwen2 || self.attention_bias
    }

    /// Whether o_proj carries a bias.
    pub fn o_bias(&self) -> bool {
        self.model_type == ModelType::Llama && self.attention_bias
    }

    /// The end-of-sequence ids.
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default()
    }

    fn validate(&self, path: &Path) -> Result<(), LlamaError> {
        let error = |key: &str, message: String| LlamaError::Config {
            path: PathBuf::from(path),
            key: key.to_string(),
            message,
        };
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_kv_heads()),
            ("head_dim", self.head_dim()),
        ] {
            if value == 0 {
                return Err(error(key, "must be positive, got 0".into()));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_kv_heads()) {
            return Err(error(
                "num_key_value_heads",
                format!(
                    "({}) must divide num_attention_heads ({})",
                    self.num_kv_heads(),
                    self.num_attention_heads
                ),
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(error(
                "head_dim",
                format!("must be even for RoPE, got {}", self.head_dim()),
            ));
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps <= 0.0 {
            return Err(error(
                "rms_norm_eps",
                format!("must be positive, got {}", self.rms_norm_eps),
            ));
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err(error(
                "rope_theta",
                format!("must be positive, got {}", self.rope_theta),
            ));
        }
        Ok(())
    }
}
