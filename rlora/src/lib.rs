#![warn(missing_docs)]
//! # rlora: R-LoRA (Randomized Multi-Head LoRA) for burn
//!
//! A frozen linear layer `y = x W + b` gets a shared down-projection `A` (`d_in → r`), `N` heads
//! `B_i` (`r → d_out`) and a router `R` (`d_in → N`, no bias):
//!
//! ```text
//! y = x W' + b + s · Σ_i g_i(x) · drop_i(x A) B_i,    g(x) = softmax(x R),    s = α/r (or α/√r)
//! ```
//!
//! with an independent dropout mask per head (multi-head dropout), `A` and every `B_i` drawn at
//! random (multi-head random initialization), and `W' = W − s · A⁰ mean_i(B_i⁰)` so the layer starts
//! at its base. LoRA, HydraLoRA, R-LoRA and the paper's ablations are [`Preset`]s: their
//! [`RLoraHyperparameters`] (no shapes) make the [`RLoraConfig`] of any layer. [`RLoraLinear`] is
//! the module, generic over any burn `Backend`; [`io`] reads and writes its adapter files.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::Tensor;
//! use rlora::RLoraConfig;
//!
//! let device = Default::default();
//! let layer = RLoraConfig::r_lora(64, 32, 5).init::<NdArray>(&device).unwrap();
//! let y = layer.forward(Tensor::<NdArray, 3>::ones([2, 7, 64], &device));
//! assert_eq!(y.dims(), [2, 7, 32]);
//! ```

mod adapter;
mod config;
mod diagnostics;
mod error;
mod init;
pub mod io;
mod layer;
mod merge;
mod preset;

pub use config::{DropoutPlacement, RLoraConfig};
pub use diagnostics::{HeadSimilarity, RoutingStats};
pub use error::RLoraError;
pub use init::{Fan, LoraInit, RouterInit, StableScaling, stable_scale};
pub use layer::{AdapterWeights, InitOffset, RLoraLinear, linear_in_weight_dtype};
pub use preset::{Preset, RLoraHyperparameters};
