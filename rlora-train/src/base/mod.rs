//! The tiny base model the examples fine-tune: a ~0.8M-parameter Llama over bytes
//! ([`tiny_config`]), pretrained from scratch ([`pretrain_base`]: `rlora pretrain`,
//! `cargo xtask pretrain`) on a generated English-like corpus (`corpus::pretraining_corpus`), so that
//! fine-tuning starts from a model that knows words, digits and the `Q: … A: …` form but none
//! of the built-in tasks' answers. The shipped copy is compiled in ([`model_or_tiny_base`]).
//!
//! Imports [`data`](crate::data) and [`trainer`](crate::trainer).

mod assets;
mod corpus;
mod pretrain;
mod tokenizer;

use rlora_llama::{LlamaConfig, LlamaError, ModelType, TokenIds};

pub use assets::{model_or_tiny_base, tiny_base_dir};
pub use pretrain::pretrain_base;

/// Why the tiny base could not be written or pretrained.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// A file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The tokenizer could not be built or saved.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] tokenizers::Error),
    /// A JSON file could not be written.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The model could not be built, loaded or saved.
    #[error(transparent)]
    Model(#[from] LlamaError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] crate::trainer::TrainError),
}

/// The special tokens, ids 0, 1, 2; the 256 bytes follow.
const SPECIALS: [&str; 3] = ["<s>", "</s>", "<pad>"];

/// The architecture of the tiny base: 4 layers, d = 128, GQA 4/2 heads, tied embeddings.
pub fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        model_type: ModelType::Llama,
        vocab_size: SPECIALS.len() + 256,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: None,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        max_position_embeddings: 512,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: Some(0),
        eos_token_id: Some(TokenIds::One(1)),
    }
}
