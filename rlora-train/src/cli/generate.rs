//! `rlora generate`: continue a prompt.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use clap::Args;
use rlora_llama::{GenerationConfig, Llama, LlamaError, TextTokenizer};
use serde::Serialize;

use super::values::{non_negative, probability};
use crate::base::model_or_tiny_base;

/// Arguments of `rlora generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A Hugging Face model folder (config.json, model.safetensors or shards, tokenizer.json) (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// An adapter folder: this project's, or a PEFT LoRA adapter.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The prompt text.
    #[arg(long)]
    pub prompt: String,
    /// The most tokens to generate.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_new_tokens: u32,
    /// Sampling temperature; 0 (the default) is greedy decoding.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long, value_parser = probability)]
    pub top_p: Option<f64>,
    /// Sample among the k most likely tokens.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub top_k: Option<u32>,
    /// The sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the continuation contains this text (repeatable); the text is cut before it.
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// Print one JSON object instead of the text.
    #[arg(long)]
    pub json: bool,
}

/// What `rlora generate --json` prints.
#[derive(Debug, Serialize, PartialEq)]
pub struct GenerateOutput {
    /// The prompt's token ids (with BOS when the tokenizer adds it).
    pub prompt_ids: Vec<u32>,
    /// The new token ids.
    pub generated_ids: Vec<u32>,
    /// The decoded continuation, cut before a stop string.
    pub text: String,
}

/// Loads the model (and adapter) on `device` and continues the prompt.
pub fn run_generate<B: Backend>(
    args: &GenerateArgs,
    device: &B::Device,
) -> Result<GenerateOutput, LlamaError> {
    let model_dir =
        model_or_tiny_base(args.model.as_deref()).map_err(LlamaError::InvalidArgument)?;
    let tokenizer = TextTokenizer::from_model_dir(&model_dir)?;
    let mut model = Llama::<B>::from_pretrained(&model_dir, None, device)?;
    if let Some(adapter) = &args.adapter {
        model = load_any_adapter(model, adapter, device)?;
    }
    let model = model.with_attention(crate::backend::ATTENTION);
    let prompt_ids = tokenizer.encode(&args.prompt)?;
    let config = GenerationConfig {
        max_new_tokens: args.max_new_tokens as usize,
        temperature: args.temperature,
        top_k: args.top_k.map(|k| k as usize),
        top_p: args.top_p,
        seed: args.seed,
        stop_tokens: tokenizer.eos_ids().to_vec(),
        use_kv_cache: true,
    };
    let stop_at = |text: &str| args.stop.iter().filter_map(|s| text.find(s.as_str())).min();
    let generated_ids = model.generate(&prompt_ids, &config, |ids| {
        tokenizer
            .decode(ids)
            .is_ok_and(|text| stop_at(&text).is_some())
    })?;
    let mut text = tokenizer.decode(&generated_ids)?;
    if let Some(cut) = stop_at(&text) {
        text.truncate(cut);
    }
    Ok(GenerateOutput {
        prompt_ids,
        generated_ids,
        text,
    })
}

/// Applies `dir` as this project's adapter, or as a PEFT one when its config has `peft_type`.
pub fn load_any_adapter<B: Backend>(
    model: Llama<B>,
    dir: &Path,
    device: &B::Device,
) -> Result<Llama<B>, LlamaError> {
    let config_path = dir.join(rlora::io::ADAPTER_CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|source| LlamaError::Io {
        path: config_path.clone(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| LlamaError::Json {
        path: config_path,
        message: e.to_string(),
    })?;
    if value.get("peft_type").is_some() {
        model.load_peft_adapter(dir, device)
    } else {
        model.load_adapter(dir, device)
    }
}
