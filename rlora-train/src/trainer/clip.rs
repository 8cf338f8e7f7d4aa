//! [`GlobalNormClip`]: gradient clipping by the global L2 norm over all trainable parameters, as
//! `torch.nn.utils.clip_grad_norm_` does, around an optimizer.
//!
//! With `g_p` the gradient of parameter `p` and `‖g‖ = sqrt(Σ_p Σ g_p²)` over every trainable
//! parameter, each gradient becomes `g_p · min(1, max_norm / (‖g‖ + 1e-6))`, the coefficient
//! computed on the device: the direction of the update is kept, only its length is capped.
//! burn's own clipping (`GradientClippingConfig::Norm`) caps each tensor's norm on its own.

use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate, MultiGradientsParams, Optimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

use super::gradients::{gather_gradients, global_norm, scale_gradients};
use super::model::CausalLm;
use super::update_batch::UpdateChannels;
use rlora_llama::LlamaAutodiffBackend;

/// Added to the norm in the denominator of the scale, as PyTorch does.
const EPSILON: f64 = 1e-6;

/// Clips the gradients in `grads` of `module`'s parameters to the global L2 norm `max_norm`:
/// multiplies every one by `min(1, max_norm / (‖g‖ + 1e-6))`, computed on the device (as
/// `torch.nn.utils.clip_grad_norm_` does); returns the norm before clipping ([`global_norm`],
/// `[1]`), none when no parameter has a gradient. A norm that is not finite makes the
/// gradients not finite.
pub fn clip_global_norm<B: LlamaAutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<Tensor<B::InnerBackend, 1>> {
    let norm = global_norm(module, grads)?;
    let scale = norm
        .clone()
        .add_scalar(EPSILON)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    scale_gradients(module, grads, &scale);
    Some(norm)
}

/// An optimizer `O` over a [`CausalLm`] whose gradients are clipped to the global norm
/// `max_norm` (none: not clipped) before each step, on the training backend `B`. The record is
/// `O`'s own.
///
/// In a process group (the channels' exchange), the gradients are first summed over the group,
/// so that every process clips and steps the same gradients; an exchange that fails, or a loss
/// that is not finite anywhere in the group, stops the run with the weights as they are.
///
/// Nothing is read back from the device: the global norm goes to the update's items
/// ([`UpdateChecks`](super::UpdateChecks)), which are read with the metrics, where a norm that
/// is not finite stops the run, and no checkpoint is written after it. Every replica of burn's
/// DDP strategy holds the same summed gradients, so every device's items report the same norm.
#[derive(Clone)]
pub struct GlobalNormClip<O, B: AutodiffBackend> {
    inner: O,
    max_norm: Option<f64>,
    channels: Option<UpdateChannels<B::InnerBackend>>,
}

impl<O, B: AutodiffBackend> GlobalNormClip<O, B> {
    /// Wraps `inner`, clipping to `max_norm`, outside a run (nothing checks its updates).
    pub fn new(inner: O, max_norm: Option<f64>) -> Self {
        Self {
            inner,
            max_norm,
            channels: None,
        }
    }

    /// The optimizer of a run: its gradient norms go to the run's checks, its gradients
    /// through the group's exchange.
    pub fn with_channels(self, channels: UpdateChannels<B::InnerBackend>) -> Self {
        Self {
            channels: Some(channels),
            ..self
        }
    }
}

impl<O, B> GlobalNormClip<O, B>
where
    B: LlamaAutodiffBackend,
    O: Optimizer<CausalLm<B>, B>,
{
    /// Clips `grads` and hands their norm to the items of the update, those of `module`'s
    /// device or, with `every_device`, all of them; then steps.
    fn clip_and_step(
        &mut self,
        lr: LearningRate,
        module: CausalLm<B>,
        mut grads: GradientsParams,
        every_device: bool,
    ) -> CausalLm<B> {
        let device = module.llama.embed_tokens.weight.device();
        let checks = self.channels.as_ref().map(|channels| &channels.checks);
        let exchange = self.channels.as_ref().and_then(|c| c.exchange.as_ref());
        if let Some(exchange) = exchange {
            match exchange.exchange(grads, &module.trainable_shapes(), &device) {
                Ok(summed) => grads = summed,
                Err(message) => {
                    if let Some(checks) = checks {
                        checks.stop(&message);
                    }
                    return module;
                }
            }
        }
        let norm = match self.max_norm {
            Some(max_norm) => clip_global_norm(&module, &mut grads, max_norm),
            None => global_norm(&module, &grads),
        };
        if let (Some(checks), Some(norm)) = (checks, norm) {
            let norm = Tensor::<B, 1>::from_inner(norm);
            checks.fill(&norm, (!every_device).then_some(&device));
        }
        self.inner.step(lr, module, grads)
    }
}

impl<B, O> Optimizer<CausalLm<B>, B> for GlobalNormClip<O, B>
where
    B: LlamaAutodiffBackend,
    O: Optimizer<CausalLm<B>, B>,
{
    type Record = O::Record;

    fn step(
        &mut self,
        lr: LearningRate,
        module: CausalLm<B>,
        grads: GradientsParams,
    ) -> CausalLm<B> {
        self.clip_and_step(lr, module, grads, false)
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
        self.clip_and_step(lr, module, summed, true)
    }

    fn to_record(&self) -> Self::Record {
        self.inner.to_record()
    }

    fn load_record(self, record: Self::Record) -> Self {
        Self {
            inner: self.inner.load_record(record),
            ..self
        }
    }
}
