#![warn(missing_docs)]
//! # rlora-llama: Llama-family models with R-LoRA adapters
//!
//! Llama (1-3, with GQA and Llama 3 RoPE scaling) and Qwen2 (q/k/v biases, tied embeddings)
//! written in burn, loaded from Hugging Face checkpoint folders, with R-LoRA layers
//! ([`rlora::RLoraLinear`]) on the projections you target by PEFT's names. Everything else is
//! frozen, in f32, a 16-bit type or, for the projections, block-wise quantized to 8 or 4 bits
//! ([`BaseDtype`], [`Quantization`]). A model runs on any [`LlamaBackend`]: burn's backends, with
//! the product by a frozen quantized matrix that the quantized base adds.

mod adapter;
mod attention;
mod backend;
mod cache;
mod checkpoint;
mod checkpointing;
mod config;
mod decoder;
mod dtype;
mod error;
mod fingerprint;
mod generate;
mod loss;
mod mlp;
mod model;
mod peft;
mod probe;
mod projection;
mod quantization;
mod rope;
mod routing;
mod save;
mod targets;
mod tokenizer;
mod weights;

pub use attention::AttentionKernel;
pub use backend::{LlamaAutodiffBackend, LlamaBackend};
pub use config::{LlamaConfig, ModelType, RopeScaling, TokenIds};
pub use dtype::{BaseDtype, computes_in};
pub use error::LlamaError;
pub use fingerprint::BaseFingerprint;
pub use generate::GenerationConfig;
pub use loss::{LOGITS_BUDGET, LossTargets};
pub use model::Llama;
pub use probe::ProjectionGates;
pub use quantization::{BLOCK, Quantization, QuantizedMatrix};
pub use targets::{AdapterSpec, TargetModule, Targets};
pub use tokenizer::TextTokenizer;

/// The building blocks of a [`Llama`]: its decoder layers, attention (with rotary position
/// embeddings and a KV cache), MLP, and the projections that are frozen or adapted.
pub mod layers {
    pub use crate::attention::{Attention, AttentionKernel, KeyMask};
    pub use crate::cache::KvCache;
    pub use crate::decoder::DecoderLayer;
    pub use crate::mlp::Mlp;
    pub use crate::projection::{Projection, QuantizedProjection};
    pub use crate::rope::{Positions, Rotary, inverse_frequencies};
}

/// Where a [`Llama`]'s pretrained weights come from: a Hugging Face checkpoint folder
/// (`model.safetensors` or its shards, f32/f16/bf16, memory-mapped) or random values, behind the
/// [`WeightSource`](loading::WeightSource) that [`Llama::build`] reads.
pub mod loading {
    pub use crate::checkpoint::{Checkpoint, WEIGHTS_FILE, WEIGHTS_INDEX_FILE};
    pub use crate::weights::{CheckpointWeights, RandomWeights, WeightSource};
}

/// The config files of adapter folders: this project's (every adapted projection of a model)
/// and PEFT's LoRA.
pub mod adapter_files {
    pub use crate::adapter::{MODEL_ADAPTER_FORMAT, ModelAdapterConfig};
    pub use crate::peft::PeftLoraConfig;
}
