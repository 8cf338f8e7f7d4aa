//! One pre-norm decoder layer.

use burn::module::Module;
use burn::nn::RmsNorm;
use burn::tensor::Tensor;

use crate::attention::{Attention, KeyMask};
use crate::backend::LlamaBackend;
use crate::cache::KvCache;
use crate::mlp::Mlp;
use crate::probe::GateProbe;
use crate::rope::Rotary;

/// `h = x + attn(norm₁(x))`, `y = h + mlp(norm₂(h))`.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: LlamaBackend> {
    /// RMSNorm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Self-attention.
    pub self_attn: Attention<B>,
    /// RMSNorm before the MLP.
    pub post_attention_layernorm: RmsNorm<B>,
    /// SwiGLU MLP.
    pub mlp: Mlp<B>,
}

impl<B: LlamaBackend> DecoderLayer<B> {
    /// `[batch, seq, d]` → `[batch, seq, d]`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rotary: &Rotary<B>,
        mask: &KeyMask<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        self.forward_probed(x, rotary, mask, cache, GateProbe::off())
    }

    /// [`forward`](Self::forward), showing every projection's input to `probe`.
    pub(crate) fn forward_probed(
        &self,
        x: Tensor<B, 3>,
        rotary: &Rotary<B>,
        mask: &KeyMask<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
        mut probe: GateProbe<'_, B>,
    ) -> Tensor<B, 3> {
        let attention = self.self_attn.forward_probed(
            self.input_layernorm.forward(x.clone()),
            rotary,
            mask,
            cache,
            &mut probe,
        );
        let h = x + attention;
        h.clone()
            + self
                .mlp
                .forward_probed(self.post_attention_layernorm.forward(h), &mut probe)
    }
}
