//! Initialization schemes for the shared down-projection `A`, the heads `B_i` and the router.
//!
//! A matrix that maps `fan_in` features to `fan_out` features is drawn as one of:
//!
//! | scheme | distribution |
//! |---|---|
//! | `Zeros` | 0 |
//! | `Gaussian { std }` | N(0, std²) |
//! | `KaimingUniform` | U(±1/√fan_in): PyTorch's `nn.Linear` default (a = √5), LoRA's `A` |
//! | `KaimingNormal { fan }` | N(0, 2/fan): PyTorch's `kaiming_normal_` (a = 0) |
//! | `XavierNormal` | N(0, 2/(fan_in + fan_out)) |
//! | `Orthogonal` | a (semi-)orthogonal matrix: orthonormal rows or columns, whichever are fewer |
//! | `Unit` | N(0, σ²) with σ = 1/√max(fan_in, fan_out) |
//! | `ScaledNormal { fan }` | N(0, 1/fan): the R-LoRA paper's `N(0, 1/d_in)` for `A`, `N(0, 1/d_out)` for `B_i` |
//!
//! The R-LoRA paper then rescales both `A` and every `B_i` once by `d_out^¼ / √γ` (LoRA-GA's
//! "stable" output scaling), see [`stable_scale`]; the official R-LoRA code rescales differently,
//! see [`StableScaling::OfficialCode`].

use burn::config::Config;
use burn::module::Initializer;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

/// Which fan a variance-scaled scheme divides by.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum Fan {
    /// The number of input features of the matrix.
    In,
    /// The number of output features of the matrix.
    Out,
}

/// How a LoRA matrix (`A` or each head `B_i`) is initialized. See the [module docs](self).
#[derive(Config, Debug, PartialEq)]
pub enum LoraInit {
    /// All zeros (LoRA's and HydraLoRA's `B`).
    Zeros,
    /// N(0, std²).
    Gaussian {
        /// Standard deviation.
        std: f64,
    },
    /// U(±1/√fan_in), PyTorch's `kaiming_uniform_(a = √5)`.
    KaimingUniform,
    /// N(0, 2/fan), PyTorch's `kaiming_normal_(a = 0, mode)`.
    KaimingNormal {
        /// `In` for `mode = "fan_in"`, `Out` for `mode = "fan_out"`.
        fan: Fan,
    },
    /// N(0, 2/(fan_in + fan_out)), PyTorch's `xavier_normal_`.
    XavierNormal,
    /// A semi-orthogonal matrix (PyTorch's `orthogonal_`).
    Orthogonal,
    /// N(0, σ²), σ = 1/√max(fan_in, fan_out).
    Unit,
    /// N(0, 1/fan).
    ScaledNormal {
        /// The fan whose inverse is the variance.
        fan: Fan,
    },
}

impl LoraInit {
    /// Draws a `[rows, cols]` matrix in burn's layout (`x @ M` maps `rows` features to `cols`),
    /// so `fan_in = rows` and `fan_out = cols`.
    pub fn draw<B: Backend>(&self, rows: usize, cols: usize, device: &B::Device) -> Tensor<B, 2> {
        let (fan_in, fan_out) = (rows as f64, cols as f64);
        let fan = |fan: &Fan| match fan {
            Fan::In => fan_in,
            Fan::Out => fan_out,
        };
        let normal =
            |std: f64| Tensor::random([rows, cols], Distribution::Normal(0.0, std), device);
        match self {
            Self::Zeros => Tensor::zeros([rows, cols], device),
            Self::Gaussian { std } => normal(*std),
            Self::KaimingUniform => {
                let bound = 1.0 / fan_in.sqrt();
                Tensor::random([rows, cols], Distribution::Uniform(-bound, bound), device)
            }
            Self::KaimingNormal { fan: f } => normal((2.0 / fan(f)).sqrt()),
            Self::XavierNormal => normal((2.0 / (fan_in + fan_out)).sqrt()),
            Self::Orthogonal => Initializer::Orthogonal { gain: 1.0 }
                .init::<B, 2, _>([rows, cols], device)
                .into_value()
                .set_require_grad(false),
            Self::Unit => normal(1.0 / fan_in.max(fan_out).sqrt()),
            Self::ScaledNormal { fan: f } => normal(1.0 / fan(f).sqrt()),
        }
    }

    /// The parameter of this scheme that must be positive and finite, if any.
    pub(crate) fn std_parameter(&self) -> Option<f64> {
        match self {
            Self::Gaussian { std } => Some(*std),
            _ => None,
        }
    }
}

/// How the router `R` (`d_input → heads`, no bias) starts. With the `clap` feature a command line
/// takes it by name: `zeros`, `kaiming-uniform`.
#[derive(Config, Debug, PartialEq, Copy)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RouterInit {
    /// All zeros: the gates start uniform (`softmax(0) = 1/N`), so with the init offset the
    /// layer starts exactly at the base layer's function. The router still learns, because the
    /// heads differ.
    Zeros,
    /// U(±1/√d_input), PyTorch's `nn.Linear` default (the official R-LoRA code's router).
    KaimingUniform,
}

impl RouterInit {
    /// Draws the router, `[d_input, heads]`.
    pub fn draw<B: Backend>(
        &self,
        d_input: usize,
        heads: usize,
        device: &B::Device,
    ) -> Tensor<B, 2> {
        match self {
            Self::Zeros => LoraInit::Zeros.draw(d_input, heads, device),
            Self::KaimingUniform => LoraInit::KaimingUniform.draw(d_input, heads, device),
        }
    }
}

/// How the "stable" rescale (with `γ = stable_gamma`) is applied to the drawn `A` and heads.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum StableScaling {
    /// The paper's formula: `A` and every `B_i` multiplied once by `c = d_out^¼ / √γ`.
    Paper,
    /// The official R-LoRA code's behaviour (github.com/jinda-liu/R-LoRA): the rescale sits
    /// inside the loop over heads and uses the rank `r` in place of `d_out`. With
    /// `c = r^¼ / √γ`, iteration `i` (heads `0..N`) multiplies `A` and every head drawn so far
    /// (`B_0 … B_i`) by `c`, so after the loop `A` carries `c^N` and head `j` carries `c^(N−j)`.
    /// With `r = 8`, `γ = 64`, `N = 3`: `c ≈ 0.210`, `A` × 0.0093, heads × 0.0093, 0.044, 0.21.
    OfficialCode,
}

impl StableScaling {
    /// `(A, heads)` rescaled with `c` from `stable_scale(d_output or rank, gamma)`; `heads` are
    /// the `N` heads in order.
    pub fn apply<B: Backend>(
        self,
        a: Tensor<B, 2>,
        heads: Vec<Tensor<B, 2>>,
        (rank, d_output): (usize, usize),
        gamma: f64,
    ) -> (Tensor<B, 2>, Vec<Tensor<B, 2>>) {
        match self {
            Self::Paper => {
                let c = stable_scale(d_output, gamma);
                let heads = heads.into_iter().map(|b| b.mul_scalar(c)).collect();
                (a.mul_scalar(c), heads)
            }
            Self::OfficialCode => {
                let c = stable_scale(rank, gamma);
                let (mut a, mut heads) = (a, heads);
                for i in 0..heads.len() {
                    a = a.mul_scalar(c);
                    for head in &mut heads[..=i] {
                        *head = head.clone().mul_scalar(c);
                    }
                }
                (a, heads)
            }
        }
    }
}

/// LoRA-GA's "stable" rescale factor `d_out^¼ / √γ`, applied once to `A` and once to every `B_i`.
///
/// (The official R-LoRA code applies it once per head inside its head loop, and with `r` in place
/// of `d_out`: [`StableScaling::OfficialCode`]; this is the paper's formula.)
pub fn stable_scale(d_output: usize, gamma: f64) -> f64 {
    (d_output as f64).powf(0.25) / gamma.sqrt()
}
