//! [`GlobalNormClip`]: gradient clipping by the global L2 norm over all trainable parameters, as
//! `torch.nn.utils.clip_grad_norm_` does, around an optimizer.
//!
//! With `g_p` the gradient of parameter `p` and `‖g‖ = sqrt(Σ_p Σ g_p²)` over every trainable
//! parameter, each gradient becomes `g_p · max_norm / (‖g‖ + 1e-6)` when `‖g‖ > max_norm`, and
//! stays as it is otherwise: the direction of the update is kept, only its length is capped.
//! burn's own clipping (`GradientClippingConfig::Norm`) caps each tensor's norm on its own.

use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate, MultiGradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;

use super::gradients::{gather_gradients, global_norm, scale_gradients};
use super::model::{CausalLm, StopSignal};

/// Added to the norm in the denominator of the scale, as PyTorch does.
const EPSILON: f64 = 1e-6;

/// Clips the gradients in `grads` of `module`'s parameters to the global L2 norm `max_norm`;
/// returns the norm before clipping ([`global_norm`]). A norm that is not finite leaves the
/// gradients as they are.
pub fn clip_global_norm<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let norm = global_norm(module, grads);
    if norm.is_finite() && norm > max_norm {
        scale_gradients(module, grads, max_norm / (norm + EPSILON));
    }
    norm
}

/// An optimizer `O` over a [`CausalLm`] whose gradients are clipped to the global norm
/// `max_norm` (none: not clipped) before each step. The record is `O`'s own.
///
/// In a process group, the gradients are first summed over the group
/// ([`UpdateExchange`](super::group::UpdateExchange)), so that every process clips and steps
/// the same gradients; an exchange that fails, or a loss that is not finite anywhere in the
/// group, stops the run with the weights as they are.
///
/// Gradients whose global norm is not finite are never stepped: the run stops with the weights
/// as they are. The decision rests on the gradients the optimizer steps, which every replica of
/// burn's DDP strategy holds alike (summed during the backward pass), so every device stops at
/// the same update: none starts a backward pass whose all-reduce another device never joins.
#[derive(Clone)]
pub struct GlobalNormClip<O> {
    inner: O,
    max_norm: Option<f64>,
}

impl<O> GlobalNormClip<O> {
    /// Wraps `inner`, clipping to `max_norm`.
    pub fn new(inner: O, max_norm: Option<f64>) -> Self {
        Self { inner, max_norm }
    }
}

impl<B, O> Optimizer<CausalLm<B>, B> for GlobalNormClip<O>
where
    B: AutodiffBackend,
    O: Optimizer<CausalLm<B>, B>,
{
    type Record = O::Record;

    fn step(
        &mut self,
        lr: LearningRate,
        module: CausalLm<B>,
        grads: GradientsParams,
    ) -> CausalLm<B> {
        let mut grads = grads;
        if let Some(exchange) = module.exchange() {
            let device = module.llama.embed_tokens.weight.device();
            match exchange.exchange(grads, &module.trainable_shapes(), &device) {
                Ok(summed) => grads = summed,
                Err(message) => {
                    if let Some(StopSignal(interrupter)) = &module.stop {
                        interrupter.stop(Some(&message));
                    }
                    return module;
                }
            }
        }
        let norm = match self.max_norm {
            Some(max_norm) => clip_global_norm(&module, &mut grads, max_norm),
            None => global_norm(&module, &grads),
        };
        if !norm.is_finite() {
            if let Some(StopSignal(interrupter)) = &module.stop
                && !interrupter.should_stop()
            {
                interrupter.stop(Some(&format!(
                    "training stopped: the gradients' global norm is {norm}"
                )));
            }
            return module;
        }
        self.inner.step(lr, module, grads)
    }

    /// Sums each parameter's gradients over the devices first (the norm is that of the sum).
    fn step_multi(
        &mut self,
        lr: LearningRate,
        module: CausalLm<B>,
        grads: MultiGradientsParams,
    ) -> CausalLm<B> {
        let device = module.llama.embed_tokens.weight.device();
        let summed = gather_gradients(&module, grads, &device);
        self.step(lr, module, summed)
    }

    fn to_record(&self) -> Self::Record {
        self.inner.to_record()
    }

    fn load_record(self, record: Self::Record) -> Self {
        Self {
            inner: self.inner.load_record(record),
            max_norm: self.max_norm,
        }
    }
}
