//! [`RLoraConfig`]: the shapes and hyper-parameters of one R-LoRA layer. Its constructors per
//! [`Preset`](crate::Preset) (LoRA, HydraLoRA, R-LoRA and its two ablations) sit with the presets.

use burn::config::Config;

use crate::error::RLoraError;
use crate::init::{LoraInit, RouterInit, StableScaling};

/// Where dropout acts on the adapter's path.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum DropoutPlacement {
    /// One mask on the input `x` before `A`, shared by all heads (LoRA, HydraLoRA).
    Input,
    /// An independent mask per head on the shared `x A` (R-LoRA's multi-head dropout): head `i`
    /// sees `drop_i(x A)`.
    PerHead,
}

/// Configuration of an [`RLoraLinear`](crate::RLoraLinear) layer.
///
/// `y = x W' + b + s · Σ_i g_i(x) · drop_i(x A) B_i`, `g = softmax(x R)`, with `s = alpha / rank`
/// (or `alpha / √rank` with `use_rslora`). Build it with one of the presets
/// ([`lora`](Self::lora), [`hydra_lora`](Self::hydra_lora), [`r_lora`](Self::r_lora),
/// [`random_init_only`](Self::random_init_only),
/// [`multi_head_dropout_only`](Self::multi_head_dropout_only)) and adjust with the `with_*` setters.
#[derive(Config, Debug, PartialEq)]
pub struct RLoraConfig {
    /// Input features of the wrapped linear layer.
    pub d_input: usize,
    /// Output features of the wrapped linear layer.
    pub d_output: usize,
    /// Rank `r` of the shared down-projection and of each head.
    #[config(default = 8)]
    pub rank: usize,
    /// Number of heads `N` (≥ 1). With one head there is no router.
    #[config(default = 1)]
    pub heads: usize,
    /// LoRA's `alpha`.
    #[config(default = 16.0)]
    pub alpha: f64,
    /// Dropout probability `p` in `[0, 1)`.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Where the dropout acts.
    #[config(default = "DropoutPlacement::Input")]
    pub dropout_placement: DropoutPlacement,
    /// Rank-stabilized scaling `alpha / √rank` (rsLoRA) instead of `alpha / rank`.
    #[config(default = false)]
    pub use_rslora: bool,
    /// Initialization of `A`.
    #[config(default = "LoraInit::KaimingUniform")]
    pub init_a: LoraInit,
    /// Initialization of each head `B_i`, drawn independently per head.
    #[config(default = "LoraInit::Zeros")]
    pub init_b: LoraInit,
    /// When set, `A` and every `B_i` are rescaled after drawing: once by `d_output^¼ / √gamma`
    /// under [`StableScaling::Paper`], see [`stable_scaling`](Self::stable_scaling).
    #[config(default = "None")]
    pub stable_gamma: Option<f64>,
    /// How the stable rescale is applied: once (the paper) or the official code's way.
    #[config(default = "StableScaling::Paper")]
    pub stable_scaling: StableScaling,
    /// Initialization of the router.
    #[config(default = "RouterInit::Zeros")]
    pub router_init: RouterInit,
    /// Whether the wrapped linear layer has a bias.
    #[config(default = true)]
    pub bias: bool,
}

impl RLoraConfig {
    /// The LoRA scaling `s`: `alpha / rank`, or `alpha / √rank` with `use_rslora`.
    pub fn scaling(&self) -> f64 {
        let rank = self.rank as f64;
        if self.use_rslora {
            self.alpha / rank.sqrt()
        } else {
            self.alpha / rank
        }
    }

    /// The parameters that train: `A` (`d_input · r`), the heads (`N · r · d_output`) and, with
    /// more than one head, the router (`d_input · N`).
    pub fn num_trainable_params(&self) -> usize {
        let (d_in, d_out, r, n) = (self.d_input, self.d_output, self.rank, self.heads);
        d_in * r + n * r * d_out + if n > 1 { d_in * n } else { 0 }
    }

    /// Whether the heads start non-zero, so that the base weight needs the init offset.
    pub fn has_init_offset(&self) -> bool {
        self.init_a != LoraInit::Zeros && self.init_b != LoraInit::Zeros
    }

    /// Checks every value against its domain.
    pub fn validate(&self) -> Result<(), RLoraError> {
        let positive = |field, value: usize| {
            if value == 0 {
                Err(RLoraError::invalid(field, "must be at least 1, got 0"))
            } else {
                Ok(())
            }
        };
        positive("d_input", self.d_input)?;
        positive("d_output", self.d_output)?;
        positive("rank", self.rank)?;
        positive("heads", self.heads)?;
        if !self.alpha.is_finite() {
            return Err(RLoraError::invalid(
                "alpha",
                format!("must be finite, got {}", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(RLoraError::invalid(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        if let Some(gamma) = self.stable_gamma
            && !(gamma.is_finite() && gamma > 0.0)
        {
            return Err(RLoraError::invalid(
                "stable_gamma",
                format!("must be positive and finite, got {gamma}"),
            ));
        }
        for (field, init) in [("init_a", &self.init_a), ("init_b", &self.init_b)] {
            if let Some(std) = init.std_parameter()
                && !(std.is_finite() && std > 0.0)
            {
                return Err(RLoraError::invalid(
                    field,
                    format!("Gaussian std must be positive and finite, got {std}"),
                ));
            }
        }
        Ok(())
    }
}
