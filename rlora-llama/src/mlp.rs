//! The SwiGLU feed-forward block.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;

use crate::projection::Projection;

/// `down(silu(gate(x)) ⊙ up(x))`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// `[d, d_ff]`.
    pub gate_proj: Projection<B>,
    /// `[d, d_ff]`.
    pub up_proj: Projection<B>,
    /// `[d_ff, d]`.
    pub down_proj: Projection<B>,
}

impl<B: Backend> Mlp<B> {
    /// `[batch, seq, d]` → `[batch, seq, d]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}
