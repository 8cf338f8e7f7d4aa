//! [`Llama`]: the decoder-only model, built from a checkpoint with R-LoRA on its targets.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, DType, FloatDType, Int, Tensor};
use rlora::{RLoraLinear, linear_in_weight_dtype};

use crate::attention::{Attention, AttentionKernel, KeyMask};
use crate::backend::LlamaBackend;
use crate::cache::KvCache;
use crate::checkpoint::Checkpoint;
use crate::config::LlamaConfig;
use crate::decoder::DecoderLayer;
use crate::dtype::BaseDtype;
use crate::error::LlamaError;
use crate::mlp::Mlp;
use crate::probe::GateProbe;
use crate::projection::Projection;
use crate::quantization::Quantization;
use crate::rope::{Positions, Rotary, inverse_frequencies};
use crate::targets::{AdapterSpec, TargetModule};
use crate::weights::{CheckpointWeights, RandomWeights, WeightSource};

/// A Llama-family causal language model: embedding, `L` decoder layers, final RMSNorm, LM head
/// (tied to the embedding or not). Everything pretrained is frozen; only adapters train.
#[derive(Module, Debug)]
pub struct Llama<B: LlamaBackend> {
    /// Token embedding `[V, d]`.
    pub embed_tokens: Embedding<B>,
    /// The decoder layers.
    pub layers: Vec<DecoderLayer<B>>,
    /// The final RMSNorm.
    pub norm: RmsNorm<B>,
    /// The LM head `[d, V]`; `None` when tied to the embedding.
    pub lm_head: Option<Linear<B>>,
    /// The model's configuration.
    #[module(skip)]
    pub config: LlamaConfig,
    /// RoPE's inverse frequencies, `head_dim / 2`.
    #[module(skip)]
    pub inv_freq: Vec<f32>,
    /// How attention is computed without autodiff ([`Llama::with_attention`]).
    #[module(skip)]
    pub attention: AttentionKernel,
}

impl<B: LlamaBackend> Llama<B> {
    /// Loads `dir` (`config.json` and `model.safetensors` or its shards) with adapters on the
    /// targets of `adapter`, every weight in f32. Every checkpoint tensor must be used, and every
    /// needed one present.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        adapter: Option<&AdapterSpec>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        Self::from_pretrained_with_base(dir, adapter, BaseDtype::F32, device)
    }

    /// [`Llama::from_pretrained`] with the frozen base's matrices in `base` (see [`BaseDtype`]),
    /// converted one tensor at a time as they load.
    pub fn from_pretrained_with_base(
        dir: impl AsRef<Path>,
        adapter: Option<&AdapterSpec>,
        base: BaseDtype,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let config = LlamaConfig::from_file(dir.join("config.json"))?;
        let mut checkpoint = Checkpoint::open(dir)?;
        let dtype = base.resolve::<B>(checkpoint.dtype("model.embed_tokens.weight"), device)?;
        let mut source = CheckpointWeights {
            checkpoint: &mut checkpoint,
            device: device.clone(),
            dtype,
            quantization: base.quantization(),
        };
        let model = Self::build(config, &mut source, adapter, device)?;
        let tied = model.lm_head.is_none();
        // Tied checkpoints may still carry a copy of the head; RoPE tables are recomputed.
        checkpoint.finish(|name| {
            (tied && name == "lm_head.weight") || name.ends_with("rotary_emb.inv_freq")
        })?;
        Ok(model)
    }

    /// A model with random pretrained weights (burn's default inits) in f32, for benchmarks and
    /// for pretraining a base from scratch.
    pub fn random(
        config: LlamaConfig,
        adapter: Option<&AdapterSpec>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        Self::random_with_base(config, adapter, DType::F32, device)
    }

    /// [`Llama::random`] with the frozen base's matrices in `dtype`.
    pub fn random_with_base(
        config: LlamaConfig,
        adapter: Option<&AdapterSpec>,
        dtype: DType,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        Self::random_quantized(config, adapter, dtype, None, device)
    }

    /// [`Llama::random_with_base`] with the projections quantized as `quantization` says (drawn
    /// in `dtype`, then quantized one at a time).
    pub fn random_quantized(
        config: LlamaConfig,
        adapter: Option<&AdapterSpec>,
        dtype: DType,
        quantization: Option<Quantization>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let mut source = RandomWeights {
            device: device.clone(),
            dtype,
            quantization,
        };
        Self::build(config, &mut source, adapter, device)
    }

    /// The float type the frozen base is held in.
    pub fn base_dtype(&self) -> DType {
        self.embed_tokens.weight.val().dtype()
    }

    /// Assembles the model from `source`, freezing every pretrained weight.
    pub fn build(
        config: LlamaConfig,
        source: &mut impl WeightSource<B>,
        adapter: Option<&AdapterSpec>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        if let Some(adapter) = adapter {
            adapter.check(&config)?;
        }
        let (d, d_ff, d_head) = (
            config.hidden_size,
            config.intermediate_size,
            config.head_dim(),
        );
        let (heads, kv_heads) = (config.num_attention_heads, config.num_kv_heads());
        let eps = config.rms_norm_eps;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let mut projection =
                |module: TargetModule, d_in, d_out, bias| -> Result<Projection<B>, LlamaError> {
                    let path = module.path(i);
                    let base = source.linear(&path, d_in, d_out, bias)?;
                    let template = adapter
                        .filter(|a| a.targets.contains(module))
                        .map(|a| &a.template);
                    let quantization = source.quantization().map(|q| (q, path.as_str()));
                    Projection::new(base, template, quantization, device)
                };
            let self_attn = Attention {
                q_proj: projection(TargetModule::QProj, d, heads * d_head, config.qkv_bias())?,
                k_proj: projection(TargetModule::KProj, d, kv_heads * d_head, config.qkv_bias())?,
                v_proj: projection(TargetModule::VProj, d, kv_heads * d_head, config.qkv_bias())?,
                o_proj: projection(TargetModule::OProj, heads * d_head, d, config.o_bias())?,
                heads,
                kv_heads,
                head_dim: d_head,
            };
            let mlp = Mlp {
                gate_proj: projection(TargetModule::GateProj, d, d_ff, config.mlp_bias)?,
                up_proj: projection(TargetModule::UpProj, d, d_ff, config.mlp_bias)?,
                down_proj: projection(TargetModule::DownProj, d_ff, d, config.mlp_bias)?,
            };
            layers.push(DecoderLayer {
                input_layernorm: source
                    .rms_norm(&format!("model.layers.{i}.input_layernorm"), d, eps)?
                    .no_grad(),
                self_attn,
                post_attention_layernorm: source
                    .rms_norm(
                        &format!("model.layers.{i}.post_attention_layernorm"),
                        d,
                        eps,
                    )?
                    .no_grad(),
                mlp,
            });
        }
        let embed_tokens = source
            .embedding("model.embed_tokens", config.vocab_size, d)?
            .no_grad();
        let norm = source.rms_norm("model.norm", d, eps)?.no_grad();
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(
                source
                    .linear("lm_head", d, config.vocab_size, false)?
                    .no_grad(),
            )
        };
        let inv_freq = inverse_frequencies(&config)
            .into_iter()
            .map(|f| f as f32)
            .collect();
        Ok(Self {
            embed_tokens,
            layers,
            norm,
            lm_head,
            config,
            inv_freq,
            attention: AttentionKernel::default(),
        })
    }

    /// This model computing attention with `kernel` in forward passes without autodiff
    /// (generation, evaluation): [`AttentionKernel::Fused`] on GPU backends.
    pub fn with_attention(self, kernel: AttentionKernel) -> Self {
        Self {
            attention: kernel,
            ..self
        }
    }

    /// Next-token logits `[batch, seq, V]` for `tokens: [batch, seq]`.
    ///
    /// `attention_mask: [batch, seq]` is true at real tokens and false at padding (left or
    /// right); positions count real tokens only, so a padded sequence gets the same logits as
    /// alone. With `cache`, earlier tokens are read from it and these are appended.
    pub fn forward(
        &self,
        tokens: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        self.logits(self.hidden_states(tokens, attention_mask, cache))
    }

    /// The final hidden states `[batch, seq, d]` (after the last RMSNorm), before the LM head:
    /// what [`Llama::forward`] projects to logits and [`Llama::token_nll`] scores.
    ///
    /// Without `attention_mask` (and without padding in `cache`), every row sits at the same
    /// positions and attention is causal only: the fast path. Right-padded batches need no mask
    /// either, for the outputs of their real tokens: causal attention never lets a real token
    /// see the padding after it (the padding's own outputs are then meaningless).
    pub fn hidden_states(
        &self,
        tokens: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 3> {
        self.hidden_states_probed(tokens, attention_mask, cache, GateProbe::off())
    }

    /// [`hidden_states`](Self::hidden_states), showing every projection's input to `probe`.
    pub(crate) fn hidden_states_probed(
        &self,
        tokens: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        mut cache: Option<&mut KvCache<B>>,
        mut probe: GateProbe<'_, B>,
    ) -> Tensor<B, 3> {
        let [batch, seq] = tokens.dims();
        let device = tokens.device();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let seen = past + seq;
        let past_mask = cache.as_ref().and_then(|c| c.mask.clone());
        let fused = self.attention == AttentionKernel::Fused && !B::ad_enabled(&device);
        let (positions, mask, padding) = match (attention_mask, past_mask) {
            (None, None) => (
                Positions::Shared {
                    start: past,
                    len: seq,
                },
                if fused {
                    KeyMask::fused_causal(seq, past, &device)
                } else {
                    KeyMask::causal(seq, past, &device)
                },
                None,
            ),
            (new, old) => {
                let ones = |n| Tensor::<B, 2, Int>::ones([batch, n], &device).bool();
                let old = old.unwrap_or_else(|| ones(past));
                let padding = Tensor::cat(vec![old, new.unwrap_or_else(|| ones(seq))], 1);
                (
                    Positions::PerRow(real_token_positions(padding.clone(), past, seq)),
                    per_row_key_mask(padding.clone(), past, seq, fused),
                    Some(padding),
                )
            }
        };
        let rotary = Rotary::new(
            positions,
            &self.inv_freq,
            self.config.num_attention_heads,
            self.config.num_kv_heads(),
            &device,
        );

        let mut h = self.embed_tokens.forward(tokens).cast(FloatDType::F32);
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| (c, i));
            h = layer.forward_probed(h, &rotary, &mask, layer_cache, probe.at_layer(i));
        }
        if let Some(cache) = cache {
            cache.seen = seen;
            cache.mask = padding;
        }
        self.norm.forward(h)
    }

    /// Next-token logits of the last position only, `[batch, V]`: what generation needs, without
    /// the LM head's work for the earlier positions. Arguments as for [`Llama::forward`].
    pub fn last_logits(
        &self,
        tokens: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
        cache: Option<&mut KvCache<B>>,
    ) -> Tensor<B, 2> {
        let hidden = self.hidden_states(tokens, attention_mask, cache);
        let [batch, seq, _] = hidden.dims();
        let logits = self.logits(hidden.narrow(1, seq - 1, 1));
        logits.reshape([batch, self.config.vocab_size])
    }

    /// `[batch, seq, d]` → `[batch, seq, V]` through the LM head or the tied embedding.
    pub(crate) fn logits(&self, h: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(head) => linear_in_weight_dtype(head, h),
            None => {
                let [batch, seq, d] = h.dims();
                let table = self.embed_tokens.weight.val(); // [V, d]
                let dtype = table.dtype();
                h.reshape([batch * seq, d])
                    .cast(FloatDType::from(dtype))
                    .matmul(table.transpose())
                    .cast(FloatDType::F32)
                    .reshape([batch, seq, self.config.vocab_size])
            }
        }
    }

    /// An empty KV cache for this model.
    pub fn new_cache(&self) -> KvCache<B> {
        KvCache::new(self.layers.len())
    }

    /// Every R-LoRA layer with its path (`model.layers.3.mlp.up_proj`), in layer order.
    pub fn adapters(&self) -> Vec<(String, &RLoraLinear<B>)> {
        let mut found = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for module in TargetModule::ALL {
                if let Some(adapter) = layer.projection(module).adapter() {
                    found.push((module.path(i), adapter));
                }
            }
        }
        found
    }
}

impl<B: LlamaBackend> DecoderLayer<B> {
    /// The projection `module` of this layer.
    pub fn projection(&self, module: TargetModule) -> &Projection<B> {
        match module {
            TargetModule::QProj => &self.self_attn.q_proj,
            TargetModule::KProj => &self.self_attn.k_proj,
            TargetModule::VProj => &self.self_attn.v_proj,
            TargetModule::OProj => &self.self_attn.o_proj,
            TargetModule::GateProj => &self.mlp.gate_proj,
            TargetModule::UpProj => &self.mlp.up_proj,
            TargetModule::DownProj => &self.mlp.down_proj,
        }
    }

    /// This layer with every projection passed through `f` (in [`TargetModule::ALL`] order).
    pub fn map_projections<E>(
        self,
        mut f: impl FnMut(TargetModule, Projection<B>) -> Result<Projection<B>, E>,
    ) -> Result<Self, E> {
        let Self {
            input_layernorm,
            self_attn,
            post_attention_layernorm,
            mlp,
        } = self;
        let Attention {
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            heads,
            kv_heads,
            head_dim,
        } = self_attn;
        let Mlp {
            gate_proj,
            up_proj,
            down_proj,
        } = mlp;
        let [
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            gate_proj,
            up_proj,
            down_proj,
        ] = {
            let projections = [
                q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj,
            ];
            let mut mapped = Vec::with_capacity(7);
            for (module, projection) in TargetModule::ALL.into_iter().zip(projections) {
                mapped.push(f(module, projection)?);
            }
            match <[Projection<B>; 7]>::try_from(mapped) {
                Ok(array) => array,
                Err(_) => unreachable!("seven projections in, seven out"),
            }
        };
        Ok(Self {
            input_layernorm,
            self_attn: Attention {
                q_proj,
                k_proj,
                v_proj,
                o_proj,
                heads,
                kv_heads,
                head_dim,
            },
            post_attention_layernorm,
            mlp: Mlp {
                gate_proj,
                up_proj,
                down_proj,
            },
        })
    }
}

impl<B: LlamaBackend> Llama<B> {
    /// The model with every projection passed through `f(path, module, projection)`.
    pub fn map_projections<E>(
        mut self,
        mut f: impl FnMut(&str, TargetModule, Projection<B>) -> Result<Projection<B>, E>,
    ) -> Result<Self, E> {
        let layers = std::mem::take(&mut self.layers);
        self.layers = layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| layer.map_projections(|module, p| f(&module.path(i), module, p)))
            .collect::<Result<_, E>>()?;
        Ok(self)
    }
}

/// The causal and padding mask per row for `padding: [batch, seen]` (true at real tokens) of
/// which the last `seq` are new: an additive bias `[batch, seq · seen]`, or for the `fused`
/// kernel the keys each query may not see, every query seeing at least its own key (a padding
/// query sees nothing else, and its output is never read).
fn per_row_key_mask<B: Backend>(
    padding: Tensor<B, 2, Bool>,
    past: usize,
    seq: usize,
    fused: bool,
) -> KeyMask<B> {
    let [batch, seen] = padding.dims();
    let device = padding.device();
    let later = Tensor::<B, 2, Bool>::tril_mask([seq, seen], past as i64, &device)
        .unsqueeze::<3>()
        .expand([batch, seq, seen]);
    let blocked = later.bool_or(
        padding
            .bool_not()
            .reshape([batch, 1, seen])
            .expand([batch, seq, seen]),
    );
    if fused {
        let others = Tensor::<B, 2, Bool>::diag_mask([seq, seen], past as i64, &device)
            .unsqueeze::<3>()
            .expand([batch, seq, seen]);
        return KeyMask::fused_per_row(blocked.bool_and(others));
    }
    let bias = Tensor::<B, 3>::zeros([batch, seq, seen], &device).mask_fill(blocked, f32::MIN);
    KeyMask::per_row(seq, seen, bias.reshape([batch, seq * seen]))
}

/// The position of each of the last `seq` tokens: the number of real tokens before it.
fn real_token_positions<B: Backend>(
    padding: Tensor<B, 2, Bool>,
    past: usize,
    seq: usize,
) -> Tensor<B, 2, Int> {
    padding
        .int()
        .cumsum(1)
        .sub_scalar(1)
        .clamp_min(0)
        .narrow(1, past, seq)
}
