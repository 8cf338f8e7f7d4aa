//! The SwiGLU feed-forward block.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;

use crate::backend::LlamaBackend;
use crate::probe::GateProbe;
use crate::projection::Projection;
use crate::targets::TargetModule;

/// `down(silu(gate(x)) ⊙ up(x))`.
#[derive(Module, Debug)]
pub struct Mlp<B: LlamaBackend> {
    /// `[d, d_ff]`.
    pub gate_proj: Projection<B>,
    /// `[d, d_ff]`.
    pub up_proj: Projection<B>,
    /// `[d_ff, d]`.
    pub down_proj: Projection<B>,
}

impl<B: LlamaBackend> Mlp<B> {
    /// `[batch, seq, d]` → `[batch, seq, d]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward_probed(x, &mut GateProbe::off())
    }

    /// [`forward`](Self::forward), showing every projection's input to `probe`.
    pub(crate) fn forward_probed(
        &self,
        x: Tensor<B, 3>,
        probe: &mut GateProbe<'_, B>,
    ) -> Tensor<B, 3> {
        probe.observe(TargetModule::GateProj, &self.gate_proj, &x);
        probe.observe(TargetModule::UpProj, &self.up_proj, &x);
        let gate = silu(self.gate_proj.forward(x.clone()));
        let hidden = gate * self.up_proj.forward(x);
        probe.observe(TargetModule::DownProj, &self.down_proj, &hidden);
        self.down_proj.forward(hidden)
    }
}
