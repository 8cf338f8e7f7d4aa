#![warn(missing_docs)]
//! # rlora-llama: Llama-family models with R-LoRA adapters
//!
//! Llama (1-3, with GQA and Llama 3 RoPE scaling) and Qwen2 (q/k/v biases, tied embeddings)
//! written in burn, loaded from Hugging Face checkpoint folders, with R-LoRA layers
//! ([`rlora::RLoraLinear`]) on the projections you target by PEFT's names. Everything else is
//! frozen.

mod adapter;
mod attention;
mod cache;
mod checkpoint;
mod config;
mod decoder;
mod error;
mod generate;
mod loss;
mod mlp;
mod model;
mod peft;
mod projection;
mod rope;
mod save;
mod targets;
mod tokenizer;
mod weights;

pub use adapter::{MODEL_ADAPTER_FORMAT, ModelAdapterConfig};
pub use attention::{Attention, KeyMask};
pub use cache::KvCache;
pub use checkpoint::{Checkpoint, WEIGHTS_FILE, WEIGHTS_INDEX_FILE};
pub use config::{LlamaConfig, ModelType, RopeScaling, TokenIds};
pub use decoder::DecoderLayer;
pub use error::LlamaError;
pub use generate::{GenerationConfig, pick_token};
pub use loss::{LOGITS_BUDGET, LossTargets};
pub use mlp::Mlp;
pub use model::{AdapterSpec, Llama};
pub use peft::PeftLoraConfig;
pub use projection::{Projection, shaped};
pub use rope::{Positions, Rotary, inverse_frequencies};
pub use save::Unfreeze;
pub use targets::{TargetModule, Targets};
pub use tokenizer::TextTokenizer;
pub use weights::{CheckpointWeights, RandomWeights, WeightSource};
