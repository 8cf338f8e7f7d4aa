//! [`Projection`]: a linear projection of the model, frozen or adapted with R-LoRA.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rlora::{RLoraConfig, RLoraLinear, linear_in_weight_dtype};

use crate::error::LlamaError;

/// A pretrained projection: frozen as it was, or the target of an R-LoRA adapter.
// One per projection; boxing the larger variant would not pay for the indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Projection<B: Backend> {
    /// A frozen `Linear` (`[d_in, d_out]`).
    Frozen(Linear<B>),
    /// A frozen `Linear` with a trainable R-LoRA adapter.
    Adapted(RLoraLinear<B>),
}

impl<B: Backend> Projection<B> {
    /// Freezes `base`, or wraps it with an adapter built from `template` (whose shape and bias
    /// fields are taken from `base`).
    pub fn new(
        base: Linear<B>,
        template: Option<&RLoraConfig>,
        device: &B::Device,
    ) -> Result<Self, LlamaError> {
        let Some(template) = template else {
            return Ok(Self::Frozen(base.no_grad()));
        };
        let config = shaped(template, &base);
        Ok(Self::Adapted(RLoraLinear::from_linear(
            base, &config, device,
        )?))
    }

    /// `[..., d_in] → [..., d_out]`, as one `[tokens, d_in]` matmul (not one per leading index).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mut shape = x.dims();
        let d_in = shape[D - 1];
        let tokens = x.reshape([shape[..D - 1].iter().product(), d_in]);
        let y = match self {
            Self::Frozen(linear) => linear_in_weight_dtype(linear, tokens),
            Self::Adapted(layer) => layer.forward(tokens),
        };
        shape[D - 1] = y.dims()[1];
        y.reshape(shape)
    }

    /// The adapter, if this projection has one.
    pub fn adapter(&self) -> Option<&RLoraLinear<B>> {
        match self {
            Self::Frozen(_) => None,
            Self::Adapted(layer) => Some(layer),
        }
    }

    /// The frozen base layer.
    pub fn base(&self) -> &Linear<B> {
        match self {
            Self::Frozen(linear) => linear,
            Self::Adapted(layer) => &layer.base,
        }
    }

    /// The frozen base layer, by value (dropping any adapter).
    pub fn into_base(self) -> Linear<B> {
        match self {
            Self::Frozen(linear) => linear,
            Self::Adapted(layer) => layer.base,
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
