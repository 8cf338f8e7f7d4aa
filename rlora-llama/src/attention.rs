//! Grouped-query self-attention with rotary positions and a KV cache.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, FloatDType, Tensor, TensorData};

use crate::backend::LlamaBackend;
use crate::cache::KvCache;
use crate::probe::GateProbe;
use crate::projection::Projection;
use crate::rope::Rotary;
use crate::targets::TargetModule;

/// `softmax(q kᵀ / √d_head + bias) v` (the scale rides on the rotated queries) over `H` query heads sharing `H_kv` key/value heads.
///
/// The `G = H / H_kv` query heads of a group attend to their key/value head through a broadcast
/// matmul (`[B, H_kv, G, S, d] @ [B, H_kv, 1, d, seen]`): keys and values are never repeated.
#[derive(Module, Debug)]
pub struct Attention<B: LlamaBackend> {
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

/// How a forward pass without autodiff computes attention (a training step always takes
/// [`AttentionKernel::Blocked`]: burn 0.21's fused kernels have no backward pass).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AttentionKernel {
    /// Causal query blocks over the shared key/value heads ([`KeyMask::causal`]): the fastest
    /// path on the CPU backends.
    #[default]
    Blocked,
    /// burn's fused `attention` (on CubeCL backends with autotune, flash-attention kernels where
    /// they are faster), the key/value heads repeated for their query heads: for GPU backends.
    Fused,
}

impl AttentionKernel {
    /// The faster kernel on backend `B`: [`AttentionKernel::Fused`] on a GPU, the blocked path
    /// on the CPU.
    pub fn for_backend<B: LlamaBackend>() -> Self {
        if B::computes_on_cpu() {
            Self::Blocked
        } else {
            Self::Fused
        }
    }
}

/// Which keys each query of one forward pass may see, shared by every layer.
///
/// Blocked ([`KeyMask::causal`], [`KeyMask::per_row`]): the queries in blocks, each with the
/// keys it may see and an additive bias on them (0 where seen, `f32::MIN` where not). Causal
/// attention without padding splits the queries into blocks of at least 64 (at most 8 blocks):
/// block `i` scores only the keys up to its last query, so the scores above the diagonal of
/// every block but the last few columns are never computed (at 256 tokens, 62.5% of the full
/// score matrix is), and blocks below the diagonal need no bias at all.
///
/// Fused ([`KeyMask::fused_causal`], [`KeyMask::fused_per_row`]): burn's `attention` with its
/// causal option or a boolean mask of the keys each query may not see.
#[derive(Debug, Clone)]
pub struct KeyMask<B: Backend> {
    kind: MaskKind<B>,
}

#[derive(Debug, Clone)]
enum MaskKind<B: Backend> {
    Blocks(Vec<QueryBlock<B>>),
    Fused {
        /// burn's causal option (queries and keys aligned at their ends).
        causal: bool,
        /// `[batch, seq, seen]`, true where a query may not see a key.
        hidden: Option<Tensor<B, 3, Bool>>,
    },
}

/// Queries `start..start + len` of the new tokens, which see keys `0..keys`.
#[derive(Debug, Clone)]
struct QueryBlock<B: Backend> {
    start: usize,
    len: usize,
    keys: usize,
    /// `[1, len · keys]` (every row alike) or `[batch, len · keys]`; none when every key counts.
    bias: Option<Tensor<B, 2>>,
}

impl<B: Backend> KeyMask<B> {
    /// Causal attention for `seq` new tokens after `past` earlier ones, the same in every row.
    pub fn causal(seq: usize, past: usize, device: &B::Device) -> Self {
        let size = (seq / 8).max(64);
        let blocks = (0..seq)
            .step_by(size)
            .map(|start| {
                let len = size.min(seq - start);
                let keys = past + start + len;
                // Query `start + i` sees keys `..=past + start + i`; the block's last `len` keys
                // hold the diagonal.
                let masked = |i: usize, j: usize| j > past + start + i;
                let bias = (len > 1).then(|| {
                    let values: Vec<f32> = (0..len)
                        .flat_map(|i| {
                            (0..keys).map(move |j| if masked(i, j) { f32::MIN } else { 0.0 })
                        })
                        .collect();
                    Tensor::from_data(TensorData::new(values, [1, len * keys]), device)
                });
                QueryBlock {
                    start,
                    len,
                    keys,
                    bias,
                }
            })
            .collect();
        Self {
            kind: MaskKind::Blocks(blocks),
        }
    }

    /// One block of `seq` queries over `seen` keys with a per-row bias `[batch, seq · seen]`
    /// (causal and padding).
    pub fn per_row(seq: usize, seen: usize, bias: Tensor<B, 2>) -> Self {
        Self {
            kind: MaskKind::Blocks(vec![QueryBlock {
                start: 0,
                len: seq,
                keys: seen,
                bias: Some(bias),
            }]),
        }
    }

    /// Fused causal attention for `seq` new tokens after `past` earlier ones, the same in every
    /// row: burn's causal option for a whole sequence, nothing for one new token (it sees every
    /// key), an explicit mask for several new tokens after a cache.
    pub fn fused_causal(seq: usize, past: usize, device: &B::Device) -> Self {
        let hidden = (past > 0 && seq > 1).then(|| {
            Tensor::<B, 2, Bool>::tril_mask([seq, past + seq], past as i64, device).unsqueeze()
        });
        Self {
            kind: MaskKind::Fused {
                causal: past == 0 && seq > 1,
                hidden,
            },
        }
    }

    /// Fused attention with `hidden: [batch, seq, seen]`, true where a query may not see a key
    /// (causal and padding). Every query must see at least one key.
    pub fn fused_per_row(hidden: Tensor<B, 3, Bool>) -> Self {
        Self {
            kind: MaskKind::Fused {
                causal: false,
                hidden: Some(hidden),
            },
        }
    }
}

impl<B: LlamaBackend> Attention<B> {
    /// `x: [batch, seq, d]` → `[batch, seq, d]`. `cache` (with this layer's index) holds the
    /// earlier keys and values.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rotary: &Rotary<B>,
        mask: &KeyMask<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        self.forward_probed(x, rotary, mask, cache, &mut GateProbe::off())
    }

    /// [`forward`](Self::forward), showing every projection's input to `probe`.
    pub(crate) fn forward_probed(
        &self,
        x: Tensor<B, 3>,
        rotary: &Rotary<B>,
        mask: &KeyMask<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
        probe: &mut GateProbe<'_, B>,
    ) -> Tensor<B, 3> {
        for (module, projection) in [
            (TargetModule::QProj, &self.q_proj),
            (TargetModule::KProj, &self.k_proj),
            (TargetModule::VProj, &self.v_proj),
        ] {
            probe.observe(module, projection, &x);
        }
        let [batch, seq, _] = x.dims();
        let (heads, kv_heads, d_head) = (self.heads, self.kv_heads, self.head_dim);
        let split = |t: Tensor<B, 3>, heads: usize| t.reshape([batch, seq, heads, d_head]);
        let q = rotary.apply_query(split(self.q_proj.forward(x.clone()), heads));
        let k = rotary.apply_key(split(self.k_proj.forward(x.clone()), kv_heads));
        let v = split(self.v_proj.forward(x), kv_heads); // [batch, seq, H_kv, d_head]
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, k, v),
            None => (k, v),
        }; // [batch, seen, H_kv, d_head]
        let out = match &mask.kind {
            MaskKind::Blocks(blocks) => self.blocked(q, k, v, blocks),
            MaskKind::Fused { causal, hidden } => self.fused(q, k, v, *causal, hidden.clone()),
        };
        probe.observe(TargetModule::OProj, &self.o_proj, &out);
        self.o_proj.forward(out)
    }

    /// The query blocks' attention: `q: [B, S, H, d]` (scaled), `k`, `v: [B, seen, H_kv, d]` →
    /// `[B, S, H·d]`.
    fn blocked(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        blocks: &[QueryBlock<B>],
    ) -> Tensor<B, 3> {
        let [batch, seq, heads, d_head] = q.dims();
        let [_, seen, kv_heads, _] = k.dims();
        let groups = heads / kv_heads;
        let q = q
            .reshape([batch, seq, kv_heads, groups, d_head])
            .permute([0, 2, 3, 1, 4]); // [B, H_kv, G, S, d]
        let k = k
            .reshape([batch, seen, kv_heads, 1, d_head])
            .permute([0, 2, 3, 4, 1]); // [B, H_kv, 1, d, seen]
        let v = v
            .reshape([batch, seen, kv_heads, 1, d_head])
            .permute([0, 2, 3, 1, 4]); // [B, H_kv, 1, seen, d]
        let blocks = blocks
            .iter()
            .map(|block| {
                let q = q.clone().narrow(3, block.start, block.len); // [B, H_kv, G, len, d]
                let k = k.clone().narrow(4, 0, block.keys); // [B, H_kv, 1, d, keys]
                let v = v.clone().narrow(3, 0, block.keys); // [B, H_kv, 1, keys, d]
                let probs = masked_softmax(q.matmul(k), block.bias.as_ref());
                probs.matmul(v).permute([0, 3, 1, 2, 4]) // [B, len, H_kv, G, d]
            })
            .collect();
        Tensor::cat(blocks, 1).reshape([batch, seq, heads * d_head])
    }

    /// burn's fused attention: shapes as [`Attention::blocked`]; each key/value head repeated for
    /// its `G` query heads (query head `j·G + g` reads key/value head `j`), the scale already on
    /// the queries.
    fn fused(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        causal: bool,
        hidden: Option<Tensor<B, 3, Bool>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, heads, d_head] = q.dims();
        let [_, seen, kv_heads, _] = k.dims();
        let groups = heads / kv_heads;
        let per_query_head = |t: Tensor<B, 4>| {
            t.reshape([batch, seen, kv_heads, 1, d_head])
                .expand([batch, seen, kv_heads, groups, d_head])
                .reshape([batch, seen, heads, d_head])
                .permute([0, 2, 1, 3]) // [B, H, seen, d]
        };
        let hidden = hidden.map(|mask| {
            let rows = mask.dims()[0];
            mask.reshape([rows, 1, seq, seen])
                .expand([batch, heads, seq, seen])
        });
        let options = AttentionModuleOptions {
            scale: Some(1.0),
            softcap: None,
            is_causal: causal,
        };
        let q = q.permute([0, 2, 1, 3]); // [B, H, S, d]
        attention(
            q,
            per_query_head(k),
            per_query_head(v),
            hidden,
            None,
            options,
        )
        .permute([0, 2, 1, 3])
        .reshape([batch, seq, heads * d_head])
    }
}

/// `softmax(scores + bias)` over the keys (the last dimension) of `[B, H_kv, G, len, keys]`
/// scores, in f32 whatever their dtype. The bias is `[1, len · keys]` or `[B, len · keys]`.
/// Masked scores sit at `f32::MIN`, so a row with every key masked (a padding query's) becomes
/// uniform instead of NaN.
fn masked_softmax<B: Backend>(scores: Tensor<B, 5>, bias: Option<&Tensor<B, 2>>) -> Tensor<B, 5> {
    let shape = scores.dims();
    let [batch, kv_heads, groups, len, keys] = shape;
    let dtype = scores.dtype();
    let scores = if dtype == DType::F32 {
        scores
    } else {
        scores.cast(FloatDType::F32)
    };
    let scores = match bias {
        None => scores,
        Some(bias) if bias.dims()[0] == 1 => {
            // One row shared by every (batch, head): the backend's broadcast fast path.
            (scores.reshape([batch * kv_heads * groups, len * keys]) + bias.clone()).reshape(shape)
        }
        Some(bias) => (scores.reshape([batch, kv_heads * groups, len * keys])
            + bias.clone().unsqueeze_dim::<3>(1))
        .reshape(shape),
    };
    let probs = softmax(scores, 4);
    if dtype == DType::F32 {
        probs
    } else {
        probs.cast(FloatDType::from(dtype))
    }
}
