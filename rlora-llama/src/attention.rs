//! Grouped-query self-attention with rotary positions and a KV cache.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, DType, FloatDType, Tensor};

use crate::cache::KvCache;
use crate::projection::Projection;
use crate::rope::Rotary;

/// `softmax(q kᵀ / √d_head + mask) v` over `H` query heads sharing `H_kv` key/value heads.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// `[d, H·d_head]`.
    pub q_proj: Projection<B>,
    /// `[d, H_kv·d_head]`.
    pub k_proj: Projection<B>,
    /// `[d, H_kv·d_head]`.
    pub v_proj: Projection<B>,
    /// `[H·d_head, d]`.
    pub o_proj: Projection<B>,
    /// `H`.
    pub heads: usize,
    /// `H_kv`.
    pub kv_heads: usize,
    /// `d_head`.
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// `x: [batch, seq, d]` → `[batch, seq, d]`. `mask: [batch, 1, seq, seen]` is true where a
    /// query may not attend; `cache` (with this layer's index) holds the earlier keys and values.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rotary: &Rotary<B>,
        mask: &Tensor<B, 4, Bool>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let split_heads = |t: Tensor<B, 3>, heads: usize| {
            t.reshape([batch, seq, heads, self.head_dim])
                .swap_dims(1, 2) // [batch, heads, seq, d_head]
        };
        let q = rotary.apply(split_heads(self.q_proj.forward(x.clone()), self.heads));
        let k = rotary.apply(split_heads(self.k_proj.forward(x.clone()), self.kv_heads));
        let v = split_heads(self.v_proj.forward(x), self.kv_heads);
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        };
        let groups = self.heads / self.kv_heads;
        let (k, v) = (repeat_kv(k, groups), repeat_kv(v, groups)); // [batch, H, seen, d_head]

        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((self.head_dim as f64).sqrt());
        let probs = masked_softmax(scores, mask); // [batch, H, seq, seen]
        let out = probs
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, self.heads * self.head_dim]);
        self.o_proj.forward(out)
    }
}

/// `[batch, H_kv, seen, d_head]` → `[batch, H_kv·groups, seen, d_head]`, each kv head repeated
/// for the `groups` query heads that share it.
fn repeat_kv<B: Backend>(x: Tensor<B, 4>, groups: usize) -> Tensor<B, 4> {
    if groups == 1 {
        return x;
    }
    let [batch, kv_heads, seen, d_head] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([batch, kv_heads, groups, seen, d_head])
        .reshape([batch, kv_heads * groups, seen, d_head])
}

/// Softmax over the last dimension in f32, with masked scores at `f32::MIN` (a row with every key
/// masked, a padding query's, becomes uniform instead of NaN).
fn masked_softmax<B: Backend>(scores: Tensor<B, 4>, mask: &Tensor<B, 4, Bool>) -> Tensor<B, 4> {
    let [batch, heads, seq, seen] = scores.dims();
    let dtype = scores.dtype();
    let scores = if dtype == DType::F32 {
        scores
    } else {
        scores.cast(FloatDType::F32)
    };
    let scores = scores.mask_fill(mask.clone().expand([batch, heads, seq, seen]), f32::MIN);
    let probs = softmax(scores, 3);
    if dtype == DType::F32 {
        probs
    } else {
        probs.cast(FloatDType::from(dtype))
    }
}
