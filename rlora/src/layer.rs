//! [`RLoraLinear`]: a frozen linear layer with an R-LoRA adapter, and its forward pass.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};

use crate::config::{DropoutPlacement, RLoraConfig};
use crate::error::RLoraError;

/// The frozen rank-`r` init offset `s · A⁰ B̄⁰`, with `B̄⁰ = mean_i(B_i⁰)`.
///
/// R-LoRA's heads start non-zero, so the layer computes `x W' + …` with
/// `W' = W − s · A⁰ B̄⁰` (burn's `[d_input, d_output]` layout): at init, and under a uniform
/// router, the adapter's contribution cancels and the layer equals its base. The factors are kept
/// instead of rewriting `W`, so an adapter saved later applies to the original base exactly.
#[derive(Module, Debug)]
pub struct InitOffset<B: Backend> {
    /// `A⁰`, the initial shared down-projection: `[d_input, rank]`. Frozen.
    pub a: Param<Tensor<B, 2>>,
    /// `B̄⁰`, the mean of the initial heads: `[rank, d_output]`. Frozen.
    pub b: Param<Tensor<B, 2>>,
}

/// The adapter's tensors, in burn's layout; what [`RLoraLinear::from_parts`] assembles.
#[derive(Debug, Clone)]
pub struct AdapterWeights<B: Backend> {
    /// Shared down-projection `A`: `[d_input, rank]`.
    pub lora_a: Tensor<B, 2>,
    /// The heads stacked along rows, `[B_1; …; B_N]`: `[heads · rank, d_output]`.
    pub lora_b: Tensor<B, 2>,
    /// Router `R`: `[d_input, heads]`; `None` when `heads = 1`.
    pub router: Option<Tensor<B, 2>>,
    /// Init offset factors `(A⁰ [d_input, rank], B̄⁰ [rank, d_output])`; `None` when the heads
    /// started at zero.
    pub offset: Option<(Tensor<B, 2>, Tensor<B, 2>)>,
}

/// A linear layer `y = x W + b` (frozen) with a multi-head R-LoRA adapter:
///
/// ```text
/// y = x W + b − s · (x A⁰) B̄⁰ + s · Σ_i g_i(x) · drop_i(x A) B_i,     g(x) = softmax(x R)
/// ```
///
/// Shapes (burn's row layout, `x @ M`): `W [d_in, d_out]`, `A [d_in, r]`, each `B_i [r, d_out]`
/// stacked as `lora_b [N·r, d_out]`, `R [d_in, N]`. The sum over heads is one matmul:
/// `[g_1·h_1 … g_N·h_N] @ [B_1; …; B_N]`. Create it with [`RLoraConfig::init`] (a fresh random base)
/// or [`RLoraLinear::from_linear`] (a pretrained base).
#[derive(Module, Debug)]
pub struct RLoraLinear<B: Backend> {
    /// The frozen base layer (`W`, `b`).
    pub base: Linear<B>,
    /// Shared down-projection `A`: `[d_input, rank]`.
    pub lora_a: Param<Tensor<B, 2>>,
    /// Heads `[B_1; …; B_N]`: `[heads · rank, d_output]`.
    pub lora_b: Param<Tensor<B, 2>>,
    /// Router `R`: `[d_input, heads]`, absent when `heads = 1`.
    pub router: Option<Param<Tensor<B, 2>>>,
    /// Frozen init offset, absent when the heads start at zero.
    pub offset: Option<InitOffset<B>>,
    /// The dropout (placement given by the config).
    pub dropout: Dropout,
    /// The configuration the layer was built with.
    #[module(skip)]
    pub config: RLoraConfig,
}

impl RLoraConfig {
    /// A new layer on a freshly initialized base (`burn::nn::Linear`'s default init).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<RLoraLinear<B>, RLoraError> {
        self.validate()?;
        let base = LinearConfig::new(self.d_input, self.d_output)
            .with_bias(self.bias)
            .init(device);
        RLoraLinear::from_linear(base, self, device)
    }
}

impl<B: Backend> RLoraLinear<B> {
    /// Wraps a pretrained linear layer: the base is frozen and the adapter drawn as `config`
    /// says. The base's shape and bias must match `config`.
    pub fn from_linear(
        base: Linear<B>,
        config: &RLoraConfig,
        device: &B::Device,
    ) -> Result<Self, RLoraError> {
        config.validate()?;
        check_base(&base, config, "config")?;
        let weights = AdapterWeights::draw(config, device);
        Ok(Self::from_parts(base, config.clone(), weights))
    }

    /// Assembles a layer from a base and adapter tensors whose shapes are already checked.
    pub(crate) fn from_parts(
        base: Linear<B>,
        config: RLoraConfig,
        weights: AdapterWeights<B>,
    ) -> Self {
        let frozen = |tensor: Tensor<B, 2>| Param::from_tensor(tensor).set_require_grad(false);
        Self {
            base: base.no_grad(),
            lora_a: Param::from_tensor(weights.lora_a),
            lora_b: Param::from_tensor(weights.lora_b),
            router: weights.router.map(Param::from_tensor),
            offset: weights.offset.map(|(a, b)| InitOffset {
                a: frozen(a),
                b: frozen(b),
            }),
            dropout: DropoutConfig::new(config.dropout).init(),
            config,
        }
    }

    /// Applies the layer to `x: [..., d_input]`, giving `[..., d_output]`.
    ///
    /// Dropout acts only on an autodiff backend (training); inference is deterministic. The
    /// frozen base may be stored in a narrower float type than `x` and the adapter (a 16-bit base
    /// under an f32 adapter): it multiplies in its own type, see [`linear_in_weight_dtype`].
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut out_shape = x.dims();
        out_shape[D - 1] = self.config.d_output;
        let tokens = flatten_tokens(x.clone(), self.config.d_input);
        linear_in_weight_dtype(&self.base, x) + self.delta(tokens).reshape(out_shape)
    }

    /// The adapter's contribution for `x: [T, d_input]`, `[T, d_output]`: with `h = x A`,
    /// `s · [g_1·drop_1(h) … g_N·drop_N(h) | −x A⁰] @ [B_1; …; B_N; B̄⁰]`, one matmul. It reads
    /// no base weight: a caller that holds the base in another form (quantized) adds its own
    /// `x W + b`.
    pub fn delta(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let (h, logits, h0) = self.project_down(x);
        let mixed = self.mix_heads(h, logits); // [T, N·r]
        let (mixed, up) = match (h0, &self.offset) {
            (Some(h0), Some(offset)) => (
                Tensor::cat(vec![mixed, h0.neg()], 1), // [T, N·r + r]
                Tensor::cat(vec![self.lora_b.val(), offset.b.val()], 0), // [N·r + r, d_out]
            ),
            _ => (mixed, self.lora_b.val()),
        };
        mixed.mul_scalar(self.config.scaling()).matmul(up) // s scales the thin side
    }

    /// `h = x A` `[T, r]` (after the input dropout, if placed there), the router logits `x R`
    /// `[T, N]` and the offset's `x A⁰` `[T, r]`. The projections of the undropped `x` share one
    /// pass over it: `x [A | R | A⁰]`.
    fn project_down(
        &self,
        x: Tensor<B, 2>,
    ) -> (Tensor<B, 2>, Option<Tensor<B, 2>>, Option<Tensor<B, 2>>) {
        let input_dropout = self.config.dropout_placement == DropoutPlacement::Input;
        let mut weights = Vec::with_capacity(3);
        if !input_dropout {
            weights.push(self.lora_a.val());
        }
        weights.extend(self.router.as_ref().map(Param::val));
        weights.extend(self.offset.as_ref().map(|offset| offset.a.val()));
        let mut projections = project(x.clone(), weights).into_iter();
        let mut next = || projections.next().expect("one projection per weight");
        let h = if input_dropout {
            self.dropout.forward(x).matmul(self.lora_a.val())
        } else {
            next()
        };
        let logits = self.router.as_ref().map(|_| next());
        let h0 = self.offset.as_ref().map(|_| next());
        (h, logits, h0)
    }

    /// `[g_1·drop_1(h) … g_N·drop_N(h)]`, `[T, N·r]`, with an independent dropout mask per head
    /// under multi-head dropout; `drop(h)` or `h` with one head.
    fn mix_heads(&self, h: Tensor<B, 2>, logits: Option<Tensor<B, 2>>) -> Tensor<B, 2> {
        let Some(logits) = logits else {
            return self.head_dropout(h);
        };
        let [tokens, rank] = h.dims();
        let heads = self.config.heads;
        let h = self.head_dropout(h.unsqueeze_dim::<3>(1).expand([tokens, heads, rank])); // [T, N, r]
        let gates = softmax_f32(logits).unsqueeze_dim::<3>(2); // [T, N, 1]
        (h * gates).reshape([tokens, heads * rank])
    }

    /// The dropout on `h`, element-wise (so per head on `[T, N, r]`) under multi-head dropout;
    /// the identity when the dropout sits on the input.
    fn head_dropout<const D: usize>(&self, h: Tensor<B, D>) -> Tensor<B, D> {
        match self.config.dropout_placement {
            DropoutPlacement::PerHead => self.dropout.forward(h),
            DropoutPlacement::Input => h,
        }
    }

    /// The routing weights `g(x) = softmax(x R)` per token, computed in f32: `[..., d_input]` →
    /// `[..., heads]`. All ones when `heads = 1`.
    pub fn gates<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut shape = x.dims();
        shape[D - 1] = self.config.heads;
        let Some(router) = &self.router else {
            return Tensor::ones(shape, &x.device());
        };
        let logits = flatten_tokens(x, self.config.d_input).matmul(router.val()); // [T, N]
        softmax_f32(logits).reshape(shape)
    }

    /// The heads as `[heads, rank, d_output]`.
    pub fn heads(&self) -> Tensor<B, 3> {
        self.lora_b
            .val()
            .reshape([self.config.heads, self.config.rank, self.config.d_output])
    }

    /// The number of parameters that train: `A`, the heads and the router.
    pub fn num_trainable_params(&self) -> usize {
        self.config.num_trainable_params()
    }
}

impl<B: Backend> AdapterWeights<B> {
    /// Draws a fresh adapter as `config` says: `A`, then each head independently, then the
    /// router; the stable rescale as `config.stable_scaling` says; the init offset from the
    /// rescaled values.
    pub fn draw(config: &RLoraConfig, device: &B::Device) -> Self {
        let (d_in, d_out, rank) = (config.d_input, config.d_output, config.rank);
        let mut lora_a = config.init_a.draw::<B>(d_in, rank, device);
        let mut heads: Vec<Tensor<B, 2>> = (0..config.heads)
            .map(|_| config.init_b.draw::<B>(rank, d_out, device))
            .collect();
        if let Some(gamma) = config.stable_gamma {
            (lora_a, heads) = config
                .stable_scaling
                .apply(lora_a, heads, (rank, d_out), gamma);
        }
        let lora_b = Tensor::cat(heads, 0);
        let router =
            (config.heads > 1).then(|| config.router_init.draw::<B>(d_in, config.heads, device));
        let offset = config.has_init_offset().then(|| {
            let mean_head = lora_b
                .clone()
                .reshape([config.heads, rank, d_out])
                .mean_dim(0);
            (lora_a.clone(), mean_head.reshape([rank, d_out]))
        });
        Self {
            lora_a,
            lora_b,
            router,
            offset,
        }
    }
}

/// `x [M_1 | … | M_k]` in one matmul, split back into `x M_1, …, x M_k`.
fn project<B: Backend>(x: Tensor<B, 2>, weights: Vec<Tensor<B, 2>>) -> Vec<Tensor<B, 2>> {
    match weights.len() {
        0 => Vec::new(),
        1 => weights.into_iter().map(|w| x.clone().matmul(w)).collect(),
        _ => {
            let widths = weights.iter().map(|w| w.dims()[1]).collect();
            x.matmul(Tensor::cat(weights, 1))
                .split_with_sizes(widths, 1)
        }
    }
}

/// `x W + b` computed in the float type of `W` (cast in, cast back): a frozen layer stored in 16
/// bits multiplies in 16 bits whatever the type of the activations around it.
pub fn linear_in_weight_dtype<B: Backend, const D: usize>(
    linear: &Linear<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let (dtype, weight_dtype) = (x.dtype(), linear.weight.val().dtype());
    if dtype == weight_dtype {
        return linear.forward(x);
    }
    linear
        .forward(x.cast(FloatDType::from(weight_dtype)))
        .cast(FloatDType::from(dtype))
}

/// Softmax over the last dimension of `[T, N]` logits, computed in f32 whatever the float type.
fn softmax_f32<B: Backend>(logits: Tensor<B, 2>) -> Tensor<B, 2> {
    let dtype = logits.dtype();
    if dtype == DType::F32 {
        return softmax(logits, 1);
    }
    softmax(logits.cast(FloatDType::F32), 1).cast(FloatDType::from(dtype))
}

/// `[..., d]` → `[T, d]`, with `T` the product of the leading dimensions.
fn flatten_tokens<B: Backend, const D: usize>(x: Tensor<B, D>, d: usize) -> Tensor<B, 2> {
    let tokens = x.shape().num_elements() / d;
    x.reshape([tokens, d])
}

/// Checks that `base` has the shape and bias that `config` (from `source`) describes.
pub(crate) fn check_base<B: Backend>(
    base: &Linear<B>,
    config: &RLoraConfig,
    source: &str,
) -> Result<(), RLoraError> {
    let [d_input, d_output] = base.weight.lazy_shape().dims();
    let checks = [
        ("d_input", config.d_input.to_string(), d_input.to_string()),
        (
            "d_output",
            config.d_output.to_string(),
            d_output.to_string(),
        ),
        (
            "bias",
            config.bias.to_string(),
            base.bias.is_some().to_string(),
        ),
    ];
    for (field, expected, found) in checks {
        if expected != found {
            return Err(RLoraError::ConfigMismatch {
                field,
                expected,
                expected_from: source.to_string(),
                found,
                found_from: "the base linear layer".to_string(),
            });
        }
    }
    Ok(())
}
