//! Rotary position embedding in Hugging Face's rotate-half form, with Llama 3 and linear
//! frequency scaling.
//!
//! For a head of width `d`, `inv_freq_i = θ^(−2i/d)`, `i < d/2`; position `p` rotates the pair
//! `(x_i, x_{i+d/2})` by the angle `p · inv_freq_i`:
//! `rope(x) = x · cos + rotate_half(x) · sin`, `rotate_half([x₁, x₂]) = [−x₂, x₁]`.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::config::{LlamaConfig, RopeScaling};

/// The inverse frequencies `inv_freq_i`, scaled as `config.rope_scaling` says.
pub fn inverse_frequencies(config: &LlamaConfig) -> Vec<f64> {
    let d = config.head_dim();
    let base: Vec<f64> = (0..d / 2)
        .map(|i| 1.0 / config.rope_theta.powf(2.0 * i as f64 / d as f64))
        .collect();
    match &config.rope_scaling {
        None => base,
        Some(RopeScaling::Linear { factor }) => base.iter().map(|f| f / factor).collect(),
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => {
            let original = *original_max_position_embeddings as f64;
            let low_freq_wavelen = original / low_freq_factor;
            let high_freq_wavelen = original / high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_freq_wavelen {
                        f
                    } else if wavelen > low_freq_wavelen {
                        f / factor
                    } else {
                        let smooth = (original / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

/// The rotation for one forward pass: `cos` and `sin` of `position · inv_freq`, shaped
/// `[batch, 1, seq, head_dim]` to broadcast over heads.
#[derive(Debug, Clone)]
pub struct Rotary<B: Backend> {
    cos: Tensor<B, 4>,
    sin: Tensor<B, 4>,
}

impl<B: Backend> Rotary<B> {
    /// The angles for `positions: [batch, seq]` and the model's inverse frequencies.
    pub fn new(positions: Tensor<B, 2, Int>, inv_freq: &[f32]) -> Self {
        let [batch, seq] = positions.dims();
        let device = positions.device();
        let half = inv_freq.len();
        // The same angles for both halves: [θ_0 … θ_{d/2−1}, θ_0 … θ_{d/2−1}].
        let doubled: Vec<f32> = inv_freq.iter().chain(inv_freq).copied().collect();
        let freq = Tensor::<B, 1>::from_data(TensorData::new(doubled, [2 * half]), &device);
        let angles =
            positions.float().reshape([batch, 1, seq, 1]) * freq.reshape([1, 1, 1, 2 * half]);
        Self {
            cos: angles.clone().cos(),
            sin: angles.sin(),
        }
    }

    /// Rotates `x: [batch, heads, seq, head_dim]`.
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        x.clone() * self.cos.clone() + rotate_half(x) * self.sin.clone()
    }
}

/// `[x₁, x₂] → [−x₂, x₁]` on the last dimension.
fn rotate_half<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.narrow(3, d / 2, d / 2);
    Tensor::cat(vec![x2.neg(), x1], 3)
}
