//! Folding the adapter into a plain `Linear` for zero-overhead inference.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};

use crate::error::RLoraError;
use crate::layer::RLoraLinear;

impl<B: Backend> RLoraLinear<B> {
    /// Folds a single-head adapter into a plain `Linear`:
    /// `W_merged = W + s · (A B_1 − A⁰ B̄⁰)`, bias unchanged.
    ///
    /// Errors with more than one head, whose routing depends on the input; see
    /// [`merge_with_routing`](Self::merge_with_routing).
    pub fn merge(&self) -> Result<Linear<B>, RLoraError> {
        if self.config.heads != 1 {
            return Err(RLoraError::MultipleHeads {
                operation: "merge",
                heads: self.config.heads,
            });
        }
        self.merge_with_routing(&[1.0])
    }

    /// Folds the heads under a fixed routing vector `w` (one weight per head) into a plain
    /// `Linear`: `W_merged = W + s · (A · Σ_i w_i B_i − A⁰ B̄⁰)`, bias unchanged.
    ///
    /// Its output equals the layer's in inference when every token's gates equal `w`
    /// (for example a task's mean routing, from [`routing_stats`](Self::routing_stats)).
    pub fn merge_with_routing(&self, weights: &[f64]) -> Result<Linear<B>, RLoraError> {
        let mut delta = self.lora_a.val().matmul(self.mixed_head(weights)?);
        if let Some(offset) = &self.offset {
            delta = delta - offset.a.val().matmul(offset.b.val());
        }
        // In f32 (or the adapter's type), back to the base's own type.
        let base = self.base.weight.val();
        let base_dtype = base.dtype();
        let weight = (base.cast(FloatDType::from(delta.dtype()))
            + delta.mul_scalar(self.config.scaling()))
        .cast(FloatDType::from(base_dtype));
        Ok(Linear {
            weight: Param::from_tensor(weight.detach()),
            bias: self
                .base
                .bias
                .as_ref()
                .map(|b| Param::from_tensor(b.val().detach())),
        })
    }

    /// The heads mixed under a fixed routing vector `w` (one weight per head): `Σ_i w_i B_i`,
    /// `[r, d_out]`, the single head that the adapter's heads act as when every token's gates
    /// equal `w`.
    pub fn mixed_head(&self, weights: &[f64]) -> Result<Tensor<B, 2>, RLoraError> {
        let heads = self.config.heads;
        if weights.len() != heads {
            return Err(RLoraError::InvalidRouting(format!(
                "expected {heads} weights (one per head), got {}",
                weights.len()
            )));
        }
        if let Some(bad) = weights.iter().find(|w| !w.is_finite()) {
            return Err(RLoraError::InvalidRouting(format!(
                "weight {bad} is not finite"
            )));
        }
        let device = self.lora_b.device();
        let w: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
        let w = Tensor::<B, 1>::from_floats(w.as_slice(), &device).reshape([heads, 1, 1]);
        Ok((self.heads() * w).sum_dim(0).squeeze_dim::<2>(0))
    }
}
