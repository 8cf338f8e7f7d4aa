//! The gradients of every float parameter of a module, whatever its rank: their global norm
//! ([`global_norm`]), scaled ([`scale_gradients`]), summed over a batch's shards
//! ([`sum_gradients`]) or over devices ([`gather_gradients`]). Norms and scales stay on the
//! device: nothing here waits for the device's queued work.
//!
//! Each walks the module with a [`ModuleVisitor`], which knows every parameter's rank, so the
//! adapters' matrices and a model trained whole (vectors of norms and biases too) are handled
//! alike. Frozen parameters have no gradient and are passed over; a parameter met twice in the
//! module is counted once.

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, MultiGradientsParams};
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;

/// The global L2 norm of the gradients in `grads` of `module`'s parameters,
/// `sqrt(Σ_p Σ g_p²)`, `[1]` on the gradients' device; none when no parameter has a gradient.
/// The gradients must lie on one device.
pub fn global_norm<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Option<Tensor<B::InnerBackend, 1>> {
    let mut visitor = SquaredSums::<B> {
        grads,
        seen: HashSet::new(),
        sums: Vec::new(),
    };
    module.visit(&mut visitor);
    (!visitor.sums.is_empty()).then(|| Tensor::cat(visitor.sums, 0).sum().sqrt())
}

/// Multiplies the gradient in `grads` of each of `module`'s parameters by `scale` (`[1]`, on
/// the gradients' device).
pub fn scale_gradients<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: &mut GradientsParams,
    scale: &Tensor<B::InnerBackend, 1>,
) {
    module.visit(&mut Scale::<B> {
        grads,
        scale,
        seen: HashSet::new(),
    });
}

/// The sum over `shards` of the gradients of each of `module`'s parameters (every shard's
/// gradients of the same parameters, on one device).
pub fn sum_gradients<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    mut shards: Vec<GradientsParams>,
) -> GradientsParams {
    let total = shards.pop().unwrap_or_default();
    if shards.is_empty() {
        return total;
    }
    let mut visitor = SumShards {
        total,
        shards,
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    visitor.total
}

/// The gradients of `module`'s parameters summed over the devices of `grads`, on `device`.
pub fn gather_gradients<B: AutodiffBackend, M: Module<B>>(
    module: &M,
    grads: MultiGradientsParams,
    device: &B::Device,
) -> GradientsParams {
    let mut visitor = Gather::<B> {
        grads,
        device: device.clone(),
        gathered: GradientsParams::new(),
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    visitor.gathered
}

/// Collects `Σ g²` (a one-element tensor) of each parameter's gradient.
struct SquaredSums<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    seen: HashSet<ParamId>,
    sums: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredSums<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.sums.push(grad.powi_scalar(2).sum());
        }
    }
}

/// Multiplies each parameter's gradient by `scale` (broadcast from `[1]`).
struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    scale: &'a Tensor<B::InnerBackend, 1>,
    seen: HashSet<ParamId>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let scale = self.scale.clone().reshape([1; D]);
            self.grads.register(param.id, grad.mul(scale));
        }
    }
}

/// Adds each parameter's gradient in `shards` to its gradient in `total`.
struct SumShards {
    total: GradientsParams,
    shards: Vec<GradientsParams>,
    seen: HashSet<ParamId>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SumShards {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        let sum = self
            .shards
            .iter_mut()
            .filter_map(|shard| shard.remove::<B::InnerBackend, D>(param.id))
            .fold(
                self.total.remove::<B::InnerBackend, D>(param.id),
                |sum, g| Some(sum.map_or(g.clone(), |s| s + g)),
            );
        if let Some(sum) = sum {
            self.total.register(param.id, sum);
        }
    }
}

/// Moves each parameter's gradient, summed over the devices, into `gathered` on `device`.
struct Gather<B: AutodiffBackend> {
    grads: MultiGradientsParams,
    device: B::Device,
    gathered: GradientsParams,
    seen: HashSet<ParamId>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gather<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        if let Some((grad, _)) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.gathered
                .register(param.id, grad.to_device(&self.device));
        }
    }
}
