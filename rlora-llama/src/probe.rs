//! [`GateProbe`]: what a forward pass shows of each adapted projection's routing, and the
//! [`ProjectionGates`] it collects.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::backend::LlamaBackend;
use crate::projection::Projection;
use crate::targets::TargetModule;

/// The gates of one adapted projection in one forward pass.
#[derive(Debug, Clone)]
pub struct ProjectionGates<B: Backend> {
    /// The projection's path, `model.layers.3.mlp.up_proj`.
    pub path: String,
    /// The decoder layer's index.
    pub layer: usize,
    /// Which projection of the layer.
    pub module: TargetModule,
    /// `g = softmax(x R)` at every position, `[batch, seq, heads]` (all ones with one head).
    pub gates: Tensor<B, 3>,
}

/// Collects gates during a forward pass when it records; a no-op otherwise, so the plain
/// forward pays nothing.
pub(crate) struct GateProbe<'a, B: LlamaBackend> {
    record: Option<(usize, &'a mut Vec<ProjectionGates<B>>)>,
}

impl<'a, B: LlamaBackend> GateProbe<'a, B> {
    /// A probe that records nothing.
    pub(crate) fn off() -> Self {
        Self { record: None }
    }

    /// A probe that pushes every adapted projection's gates onto `into`.
    pub(crate) fn recording(into: &'a mut Vec<ProjectionGates<B>>) -> Self {
        Self {
            record: Some((0, into)),
        }
    }

    /// The probe for decoder layer `layer` (the same sink).
    pub(crate) fn at_layer(&mut self, layer: usize) -> GateProbe<'_, B> {
        GateProbe {
            record: self.record.as_mut().map(|(_, into)| (layer, &mut **into)),
        }
    }

    /// `projection`'s gates for its input `x: [batch, seq, d_in]`, if recording and adapted:
    /// one matmul with the router and a softmax ([`rlora::RLoraLinear::gates`]).
    pub(crate) fn observe(
        &mut self,
        module: TargetModule,
        projection: &Projection<B>,
        x: &Tensor<B, 3>,
    ) {
        if let (Some((layer, into)), Some(adapter)) = (self.record.as_mut(), projection.adapter()) {
            into.push(ProjectionGates {
                path: module.path(*layer),
                layer: *layer,
                module,
                gates: adapter.gates(x.clone()),
            });
        }
    }
}
