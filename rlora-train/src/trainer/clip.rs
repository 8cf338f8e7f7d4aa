//! [`GlobalNormClip`]: gradient clipping by the global L2 norm over all trainable parameters, as
//! `torch.nn.utils.clip_grad_norm_` does, around an optimizer.
//!
//! With `g_p` the gradient of parameter `p` and `‖g‖ = sqrt(Σ_p Σ g_p²)` over every trainable
//! parameter, each gradient becomes `g_p · max_norm / (‖g‖ + 1e-6)` when `‖g‖ > max_norm`, and
//! stays as it is otherwise: the direction of the update is kept, only its length is capped.
//! burn's own clipping (`GradientClippingConfig::Norm`) caps each tensor's norm on its own.

use burn::module::ParamId;
use burn::optim::{GradientsParams, LearningRate, MultiGradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

use super::model::{CausalLm, StopSignal};

/// Added to the norm in the denominator of the scale, as PyTorch does.
const EPSILON: f64 = 1e-6;

/// The global L2 norm of the gradients of `ids` (all matrices, `[rows, cols]`) in `grads`,
/// `sqrt(Σ_p Σ g_p²)`; ids without a gradient are left out (0 when none has one). The gradients
/// must lie on one device.
pub fn global_norm<B: Backend>(grads: &GradientsParams, ids: &[ParamId]) -> f64 {
    let squares: Vec<Tensor<B, 1>> = ids
        .iter()
        .filter_map(|&id| grads.get::<B, 2>(id))
        .map(|g| g.powi_scalar(2).sum())
        .collect();
    if squares.is_empty() {
        return 0.0;
    }
    let total: f64 = Tensor::cat(squares, 0).sum().into_scalar().elem();
    total.sqrt()
}

/// Clips the gradients of `ids` in `grads` to the global L2 norm `max_norm`; returns the norm
/// before clipping ([`global_norm`]). A norm that is not finite leaves the gradients as they are.
pub fn clip_global_norm<B: Backend>(
    grads: &mut GradientsParams,
    ids: &[ParamId],
    max_norm: f64,
) -> f64 {
    let norm = global_norm::<B>(grads, ids);
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / (norm + EPSILON);
        for &id in ids {
            if let Some(g) = grads.remove::<B, 2>(id) {
                grads.register(id, g.mul_scalar(scale));
            }
        }
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
        let ids = module.trainable_ids();
        let norm = match self.max_norm {
            Some(max_norm) => clip_global_norm::<B::InnerBackend>(&mut grads, &ids, max_norm),
            None => global_norm::<B::InnerBackend>(&grads, &ids),
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
        mut grads: MultiGradientsParams,
    ) -> CausalLm<B> {
        let device = module.llama.embed_tokens.weight.device();
        let mut summed = GradientsParams::new();
        for id in module.trainable_ids() {
            if let Some((g, _)) = grads.remove::<B::InnerBackend, 2>(id) {
                summed.register(id, g.to_device(&device));
            }
        }
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
