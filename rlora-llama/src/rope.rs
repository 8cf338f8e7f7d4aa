//! Rotary position embedding in Hugging Face's rotate-half form, with Llama 3 and linear
//! frequency scaling.
//!
//! For a head of width `d`, `inv_freq_i = θ^(−2i/d)`, `i < d/2`; position `p` rotates the pair
//! `(x_i, x_{i+d/2})` by the angle `p · inv_freq_i`:
//! `rope(x) = x · cos + rotate_half(x) · sin`, `rotate_half([x₁, x₂]) = [−x₂, x₁]`.
//!
//! `rotate_half(x) = x R` with the signed permutation `R = [[0, I], [−I, 0]]` (`[d, d]`), one
//! small matmul over every head at once, and the tables are laid out like the heads they
//! rotate, so every step of the rotation runs on whole contiguous tensors (no slices, no
//! concatenation, no broadcast in the middle of a shape).

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

/// Where the tokens of one forward pass sit: the same positions `past..past + seq` for every
/// row (no padding), or each row's own (counting real tokens only).
#[derive(Debug, Clone)]
pub enum Positions<B: Backend> {
    /// Every row at `start..start + len`.
    Shared {
        /// The first position.
        start: usize,
        /// The number of positions.
        len: usize,
    },
    /// Per row, `[batch, seq]`.
    PerRow(Tensor<B, 2, Int>),
}

/// The rotation of one forward pass, for query and key heads: `cos` and `sin` of
/// `position · inv_freq` laid out as the flattened heads `[rows, seq · heads · d]` (`rows` is 1
/// when every row shares its positions; the query's scaled by `1/√d`), and `R`.
#[derive(Debug, Clone)]
pub struct Rotary<B: Backend> {
    query: Tables<B>,
    key: Tables<B>,
    rotate_half: Tensor<B, 2>,
}

/// `cos` and `sin` for one head count, `[rows, seq · heads · d]`.
#[derive(Debug, Clone)]
struct Tables<B: Backend> {
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
}

impl<B: Backend> Rotary<B> {
    /// The tables for `positions`, `heads` query and `kv_heads` key heads, and the model's
    /// inverse frequencies. The query tables also carry attention's `1/√d`, so that the rotated
    /// queries come out scaled (a rotation and a scale commute) and the scores need no pass of
    /// their own.
    pub fn new(
        positions: Positions<B>,
        inv_freq: &[f32],
        heads: usize,
        kv_heads: usize,
        device: &B::Device,
    ) -> Self {
        let half = inv_freq.len();
        let d = 2 * half;
        // The same angles for both halves: [θ_0 … θ_{d/2−1}, θ_0 … θ_{d/2−1}].
        let doubled: Vec<f32> = inv_freq.iter().chain(inv_freq).copied().collect();
        let freq = Tensor::<B, 1>::from_data(TensorData::new(doubled, [d]), device);
        let angles = match positions {
            Positions::Shared { start, len } => {
                let p: Vec<f32> = (start..start + len).map(|p| p as f32).collect();
                Tensor::<B, 1>::from_data(TensorData::new(p, [len]), device).reshape([1, len, 1, 1])
            }
            Positions::PerRow(positions) => {
                let [rows, len] = positions.dims();
                positions.float().reshape([rows, len, 1, 1])
            }
        } * freq.reshape([1, 1, 1, d]); // [rows, seq, 1, d]
        let (cos, sin) = (angles.clone().cos(), angles.sin());
        let scale = (d as f64).sqrt().recip();
        let query = Tables::new(
            cos.clone().mul_scalar(scale),
            sin.clone().mul_scalar(scale),
            heads,
        );
        let key = Tables::new(cos, sin, kv_heads);
        Self {
            query,
            key,
            rotate_half: rotate_half_matrix(d, device),
        }
    }

    /// Rotates query heads `x: [batch, seq, heads, d]` and scales them by `1/√d`.
    pub fn apply_query(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.query.apply(x, &self.rotate_half)
    }

    /// Rotates key heads `x: [batch, seq, kv_heads, d]`.
    pub fn apply_key(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.key.apply(x, &self.rotate_half)
    }
}

impl<B: Backend> Tables<B> {
    /// `[rows, seq, 1, d]` angles' `cos` and `sin`, repeated over `heads` and flattened.
    fn new(cos: Tensor<B, 4>, sin: Tensor<B, 4>, heads: usize) -> Self {
        let [rows, seq, _, d] = cos.dims();
        let lay_out = |t: Tensor<B, 4>| t.repeat_dim(2, heads).reshape([rows, seq * heads * d]);
        Self {
            cos: lay_out(cos),
            sin: lay_out(sin),
        }
    }

    /// `x · cos + (x R) · sin` for `x: [batch, seq, heads, d]`.
    fn apply(&self, x: Tensor<B, 4>, rotate_half: &Tensor<B, 2>) -> Tensor<B, 4> {
        let shape = x.dims();
        let [batch, seq, heads, d] = shape;
        let rotated = x
            .clone()
            .reshape([batch * seq * heads, d])
            .matmul(rotate_half.clone())
            .reshape([batch, seq * heads * d]);
        let x = x.reshape([batch, seq * heads * d]);
        (x * self.cos.clone() + rotated * self.sin.clone()).reshape(shape)
    }
}

/// `R` (`[d, d]`) with `x R = rotate_half(x) = [−x₂, x₁]`: `R[i + d/2, i] = −1`, `R[i, i + d/2] = 1`.
fn rotate_half_matrix<B: Backend>(d: usize, device: &B::Device) -> Tensor<B, 2> {
    let half = d / 2;
    let mut r = vec![0f32; d * d];
    for i in 0..half {
        r[(i + half) * d + i] = -1.0;
        r[i * d + i + half] = 1.0;
    }
    Tensor::from_data(TensorData::new(r, [d, d]), device)
}
