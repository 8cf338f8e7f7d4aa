//! [`Projection`]: a linear projection of the model, frozen or adapted with R-LoRA, its base held
//! in a float type or quantized.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};
use rlora::{RLoraConfig, RLoraLinear, linear_in_weight_dtype};

use crate::backend::LlamaBackend;
use crate::error::LlamaError;
use crate::quantization::{Quantization, QuantizedMatrix};

/// A pretrained projection: frozen as it was, or the target of an R-LoRA adapter; its base in a
/// float type (`Frozen`, `Adapted`) or quantized (`Quantized`, with or without an adapter).
// One per projection; boxing the larger variant would not pay for the indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Projection<B: LlamaBackend> {
    /// A frozen `Linear` (`[d_in, d_out]`).
    Frozen(Linear<B>),
    /// A frozen `Linear` with a trainable R-LoRA adapter.
    Adapted(RLoraLinear<B>),
    /// A frozen quantized base, with or without an adapter.
    Quantized(QuantizedProjection<B>),
}

/// A projection whose frozen base `W` is quantized: `y = x · dequantize(W)ᵀ + b (+ the adapter's
/// contribution)`, the product multiplied in `dtype` (the type the base was loaded in).
#[derive(Module, Debug)]
pub struct QuantizedProjection<B: LlamaBackend> {
    /// `W [d_out, d_in]`, quantized.
    pub weight: QuantizedMatrix<B>,
    /// `b [d_out]`, in `dtype`.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// The adapter. Its `base` holds the base's shape and bias, not its values: a zero-stride
    /// view of a single zero, never read (the base is `weight` and `bias`).
    pub adapter: Option<RLoraLinear<B>>,
    /// The float type the product is computed in.
    #[module(skip)]
    pub dtype: FloatDType,
}

impl<B: LlamaBackend> Projection<B> {
    /// Freezes `base` (quantized when `quantization` says so, as the tensor `name`), or wraps it
    /// with an adapter built from `template` (whose shape and bias fields are taken from
    /// `base`).
    pub fn new(
        base: Linear<B>,
        template: Option<&RLoraConfig>,
        quantization: Option<(Quantization, &str)>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let projection = match quantization {
            None => Self::Frozen(base.no_grad()),
            Some((quantization, name)) => {
                Self::Quantized(QuantizedProjection::quantize(base, quantization, name)?)
            }
        };
        match template {
            None => Ok(projection),
            Some(template) => projection.with_adapter(|base| {
                let config = shaped(template, &base);
                Ok(RLoraLinear::from_linear(base, &config, device)?)
            }),
        }
    }

    /// `[..., d_in] → [..., d_out]`, as one `[tokens, d_in]` matmul (not one per leading index).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut shape = x.dims();
        let d_in = shape[D - 1];
        let tokens = x.reshape([shape[..D - 1].iter().product(), d_in]);
        let y = match self {
            Self::Frozen(linear) => linear_in_weight_dtype(linear, tokens),
            Self::Adapted(layer) => layer.forward(tokens),
            Self::Quantized(projection) => projection.forward(tokens),
        };
        shape[D - 1] = y.dims()[1];
        y.reshape(shape)
    }

    /// The adapter, if this projection has one.
    pub fn adapter(&self) -> Option<&RLoraLinear<B>> {
        match self {
            Self::Frozen(_) => None,
            Self::Adapted(layer) => Some(layer),
            Self::Quantized(projection) => projection.adapter.as_ref(),
        }
    }

    /// The frozen base as a float `Linear` (a quantized base dequantized into its float type).
    pub fn dense_base(&self) -> Linear<B> {
        match self {
            Self::Frozen(linear) => linear.clone(),
            Self::Adapted(layer) => layer.base.clone(),
            Self::Quantized(projection) => projection.dequantized(),
        }
    }

    /// This projection with a new adapter from `adapt` (any adapter it had dropped), which gets
    /// the base as a `Linear`: the base itself, or for a quantized base a stand-in of its shape
    /// and bias whose values are never read.
    pub fn with_adapter(
        self,
        adapt: impl FnOnce(Linear<B>) -> Result<RLoraLinear<B>, LlamaError>,
    ) -> Result<Self, LlamaError> {
        Ok(match self {
            Self::Frozen(base) | Self::Adapted(RLoraLinear { base, .. }) => {
                Self::Adapted(adapt(base)?)
            }
            Self::Quantized(projection) => {
                let adapter = adapt(projection.stand_in())?;
                Self::Quantized(QuantizedProjection {
                    adapter: Some(adapter),
                    ..projection
                })
            }
        })
    }

    /// This projection with its adapter (if any) passed through `f`.
    pub fn map_adapter(self, f: impl FnOnce(RLoraLinear<B>) -> RLoraLinear<B>) -> Self {
        match self {
            Self::Adapted(layer) => Self::Adapted(f(layer)),
            Self::Quantized(QuantizedProjection {
                weight,
                bias,
                adapter: Some(adapter),
                dtype,
            }) => Self::Quantized(QuantizedProjection {
                weight,
                bias,
                adapter: Some(f(adapter)),
                dtype,
            }),
            plain => plain,
        }
    }

    /// This projection on a float base: a quantized base dequantized into its float type, its
    /// adapter kept (`Adapted`, or `Frozen` without one); the others as they are. Folding an
    /// adapter into a quantized base merges into this float copy of it.
    pub fn into_dense(self) -> Self {
        match self {
            Self::Quantized(projection) => {
                let base = projection.dequantized();
                match projection.adapter {
                    Some(adapter) => Self::Adapted(RLoraLinear { base, ..adapter }),
                    None => Self::Frozen(base),
                }
            }
            plain => plain,
        }
    }
}

impl<B: LlamaBackend> QuantizedProjection<B> {
    /// Quantizes the frozen `base` (the tensor `name`); the product is computed in the base's
    /// float type.
    pub fn quantize(
        base: Linear<B>,
        quantization: Quantization,
        name: &str,
    ) -> Result<Self, LlamaError> {
        let weight = base.weight.val();
        let dtype = FloatDType::from(weight.dtype());
        Ok(Self {
            weight: QuantizedMatrix::quantize(weight, quantization, name)?,
            // A fresh frozen parameter from the bias's value (a lazily initialized one would
            // draw again in each copy of the projection; a derived one, a cast, is no leaf).
            bias: base
                .bias
                .map(|b| Param::from_tensor(b.val().detach()).set_require_grad(false)),
            adapter: None,
            dtype,
        })
    }

    /// `x [T, d_in] → [T, d_out]`: the quantized product (in `dtype`), the bias, the adapter.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let input_dtype = FloatDType::from(x.dtype());
        let mut y = B::quantized_product(x.clone().cast(self.dtype), &self.weight);
        if let Some(bias) = &self.bias {
            y = y + bias.val().unsqueeze::<2>();
        }
        let y = y.cast(input_dtype);
        match &self.adapter {
            None => y,
            Some(adapter) => y + adapter.delta(x),
        }
    }

    /// The base as a float `Linear` in `dtype`, `[d_in, d_out]`.
    pub fn dequantized(&self) -> Linear<B> {
        Linear {
            weight: Param::from_tensor(self.weight.dequantize(self.dtype).transpose())
                .set_require_grad(false),
            bias: self.bias.clone(),
        }
    }

    /// A `Linear` of the base's shape and bias whose weight holds no values: a zero-stride view of
    /// one zero, for an adapter's `base` field (which only its shape checks and its merge read;
    /// see [`Projection::into_dense`]).
    fn stand_in(&self) -> Linear<B> {
        let [d_out, d_in] = self.weight.dims();
        let device = self.weight.scales.device();
        let zero = |dims: [usize; 2]| {
            Tensor::<B, 2>::zeros([1, 1], &device)
                .cast(self.dtype)
                .expand(dims)
        };
        Linear {
            weight: Param::from_tensor(zero([d_in, d_out])).set_require_grad(false),
            bias: self.bias.as_ref().map(|_| {
                Param::from_tensor(zero([1, d_out]).reshape([d_out])).set_require_grad(false)
            }),
        }
    }
}

/// `template` with the shape and bias of `base`.
pub fn shaped<B: Backend>(template: &RLoraConfig, base: &Linear<B>) -> RLoraConfig {
    let [d_input, d_output] = base.weight.lazy_shape().dims();
    RLoraConfig {
        d_input,
        d_output,
        bias: base.bias.is_some(),
        ..template.clone()
    }
}
