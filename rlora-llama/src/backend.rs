//! [`LlamaBackend`]: the burn backends a [`Llama`](crate::Llama) runs on. It adds one operation to
//! burn's: the product with a frozen quantized matrix, whose backward pass keeps the quantized
//! matrix (not a dequantized copy of it) and returns only the input's gradient.
//!
//! Written as burn writes its backend extensions: a trait with the plain implementation as its
//! default (dequantize, multiply), implemented for every backend of burn's that this crate can
//! name, and the autodiff decorator's own implementation, a custom backward step:
//!
//! ```text
//! forward:   y = x · dequantize(W)ᵀ             x [T, d_in], W [d_out, d_in] quantized
//! backward:  ∂ℓ/∂x = ∂ℓ/∂y · dequantize(W)      W dequantized again, one matrix at a time
//! ```
//!
//! The plain product under autodiff would keep every dequantized matrix of the model alive from
//! the forward pass to the backward pass (matmul keeps its right operand), 2-4 bytes per
//! parameter: more than the base itself.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Tensor, TensorPrimitive};

use crate::quantization::QuantizedMatrix;

/// An autodiff backend over a [`LlamaBackend`]: what training a [`Llama`](crate::Llama) takes
/// (its validation model runs on the inner backend).
pub trait LlamaAutodiffBackend: AutodiffBackend<InnerBackend: LlamaBackend> + LlamaBackend {}

impl<B> LlamaAutodiffBackend for B where
    B: AutodiffBackend<InnerBackend: LlamaBackend> + LlamaBackend
{
}

/// A burn backend that can multiply by a frozen [`QuantizedMatrix`].
pub trait LlamaBackend: Backend {
    /// Whether the backend computes on the CPU (Flex, NdArray: element-wise operations on one
    /// thread, no fused attention kernel), which decides how a pass is best run on it; false for
    /// the GPU backends.
    fn computes_on_cpu() -> bool {
        false
    }

    /// `x · dequantize(W)ᵀ` for `x: [T, d_in]` and `W [d_out, d_in]`: `[T, d_out]`, computed in
    /// `x`'s float type.
    fn quantized_product(x: Tensor<Self, 2>, weight: &QuantizedMatrix<Self>) -> Tensor<Self, 2> {
        let dequantized = weight.dequantize(FloatDType::from(x.dtype()));
        x.matmul(dequantized.transpose())
    }
}

impl<B: LlamaBackend, C: CheckpointStrategy> LlamaBackend for Autodiff<B, C> {
    fn computes_on_cpu() -> bool {
        B::computes_on_cpu()
    }

    fn quantized_product(x: Tensor<Self, 2>, weight: &QuantizedMatrix<Self>) -> Tensor<Self, 2> {
        // The same tensors on the inner backend (an autodiff backend's integer tensors are its
        // inner backend's; the scales are constants, never tracked).
        let weight = QuantizedMatrix::<B> {
            words: Tensor::from_primitive(weight.words.clone().into_primitive()),
            scales: Tensor::from_primitive(TensorPrimitive::Float(
                weight.scales.clone().into_primitive().tensor().primitive,
            )),
            inputs: weight.inputs,
            quantization: weight.quantization,
        };
        let x = x.into_primitive().tensor();
        let inner = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(x.primitive.clone()));
        let output = B::quantized_product(inner, &weight)
            .into_primitive()
            .tensor();
        let output = match QuantizedProduct
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(weight, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        Tensor::from_primitive(TensorPrimitive::Float(output))
    }
}

/// The backward step of [`LlamaBackend::quantized_product`]: its state is the quantized matrix.
#[derive(Debug)]
struct QuantizedProduct;

impl<B: Backend> Backward<B, 1> for QuantizedProduct {
    type State = QuantizedMatrix<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let weight = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let grad = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(grad));
            let dequantized = weight.dequantize(FloatDType::from(grad.dtype()));
            grad.matmul(dequantized).into_primitive().tensor()
        });
    }
}

impl LlamaBackend for burn::backend::Flex {
    fn computes_on_cpu() -> bool {
        true
    }
}

impl LlamaBackend for burn::backend::NdArray {
    fn computes_on_cpu() -> bool {
        true
    }
}

#[cfg(feature = "cubecl")]
impl<R, F, I, BT> LlamaBackend for burn_cubecl::CubeBackend<R, F, I, BT>
where
    R: burn_cubecl::CubeRuntime,
    F: burn_cubecl::FloatElement,
    I: burn_cubecl::IntElement,
    BT: burn_cubecl::BoolElement,
{
}

#[cfg(feature = "fusion")]
impl<B: burn_fusion::FusionBackend> LlamaBackend for burn_fusion::Fusion<B> {}
