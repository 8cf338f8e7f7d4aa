//! rlora-llama's integration tests, one binary: each test binary instantiates burn's generic
//! backend code for itself, which on wgpu or CUDA takes minutes to compile per binary.
//!
//! - [`transformers`]: the models against transformers.
//! - [`adapters`]: PEFT adapters in and out, this crate's adapter folder, freezing.
//! - [`attention_paths`]: the attention's two paths agree.
//! - [`checkpointing`]: activation checkpointing against the plain backward pass.
//! - [`quantized`]: the quantized frozen base against its dequantized weights.
//! - [`tokenizer`]: BOS handling.

mod adapters;
mod attention_paths;
mod checkpointing;
mod common;
mod quantized;
mod tokenizer;
mod transformers;
