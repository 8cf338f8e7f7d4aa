//! [`Preset`]: LoRA, HydraLoRA, R-LoRA and the paper's two ablations by name, and
//! [`RLoraHyperparameters`]: a layer's settings without its shapes, which make the
//! [`RLoraConfig`] of any `d_in → d_out` layer.
//!
//! | preset | heads | `A` / `B_i` start | dropout | scaling |
//! |---|---|---|---|---|
//! | [`Lora`](Preset::Lora) | 1, no router | kaiming-uniform / 0 | 0.05 on `x` | α/r, r = 8, α = 16 |
//! | [`HydraLora`](Preset::HydraLora) | N | kaiming-uniform / 0 | 0.05 on `x`, shared | α/√r, r = 8, α = 32 |
//! | [`RLora`](Preset::RLora) | N | `N(0, 1/d_in)` / `N(0, 1/d_out)`, × `d_out^¼/√64` | 0.1 on `x A`, per head | α/√r, r = 8, α = 32 |
//! | [`RandomInitOnly`](Preset::RandomInitOnly) | N | as R-LoRA | 0.1 on `x`, shared | as R-LoRA |
//! | [`MultiHeadDropoutOnly`](Preset::MultiHeadDropoutOnly) | N | kaiming-uniform / 0 | 0.1 on `x A`, per head | as R-LoRA |
//! | [`RLoraOfficialInit`](Preset::RLoraOfficialInit) | N | as R-LoRA, rescaled as the official code does ([`StableScaling::OfficialCode`]) | as R-LoRA | as R-LoRA |
//!
//! ```
//! use rlora::{Preset, RLoraConfig};
//!
//! let settings = Preset::RLora.hyperparameters(5).with_rank(16);
//! let config = settings.config(512, 256); // one layer's shapes, given last
//! assert_eq!((config.d_input, config.heads, config.rank), (512, 5, 16));
//! assert_eq!(Preset::RLora.hyperparameters(5).config(64, 32), RLoraConfig::r_lora(64, 32, 5));
//! ```

use burn::config::Config;

use crate::config::{DropoutPlacement, RLoraConfig};
use crate::init::{Fan, LoraInit, RouterInit, StableScaling};

/// The adapter variants of the R-LoRA paper's comparison. With the `clap` feature a command line
/// takes one by name: `lora`, `hydra`, `rlora`, `rlora-init-only`, `rlora-dropout-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Preset {
    /// Plain LoRA: one head, zero B.
    #[cfg_attr(feature = "clap", value(name = "lora"))]
    Lora,
    /// HydraLoRA: zero heads, one dropout on the input.
    #[cfg_attr(feature = "clap", value(name = "hydra"))]
    HydraLora,
    /// R-LoRA: random heads and multi-head dropout.
    #[cfg_attr(feature = "clap", value(name = "rlora"))]
    RLora,
    /// Ablation: R-LoRA's random init with HydraLoRA's dropout.
    #[cfg_attr(feature = "clap", value(name = "rlora-init-only"))]
    RandomInitOnly,
    /// Ablation: R-LoRA's multi-head dropout with zero heads.
    #[cfg_attr(feature = "clap", value(name = "rlora-dropout-only"))]
    MultiHeadDropoutOnly,
    /// R-LoRA with the official code's initialization (the stable rescale compounding inside
    /// the loop over heads, with `r` in place of `d_out`), to compare the paper's method with
    /// its code on the same run.
    #[cfg_attr(feature = "clap", value(name = "rlora-official-init"))]
    RLoraOfficialInit,
}

/// The presets as configurations of a layer `d_input → d_output`.
impl RLoraConfig {
    /// Plain LoRA (PEFT's defaults): [`Preset::Lora`] — one head, `A` kaiming-uniform,
    /// `B = 0`, no router, rank 8, alpha 16, dropout 0.05 on the input.
    pub fn lora(d_input: usize, d_output: usize) -> Self {
        Preset::Lora.hyperparameters(1).config(d_input, d_output)
    }

    /// HydraLoRA: [`Preset::HydraLora`] — `heads` zero-initialized heads behind a router and one
    /// dropout on the input, shared by all heads (HydraLoRA's own rate, 0.05). Rank 8, alpha 32,
    /// rank stabilization as in the R-LoRA paper's script.
    pub fn hydra_lora(d_input: usize, d_output: usize, heads: usize) -> Self {
        Preset::HydraLora
            .hyperparameters(heads)
            .config(d_input, d_output)
    }

    /// R-LoRA (the paper's defaults): [`Preset::RLora`] — multi-head random initialization
    /// (`A ~ N(0, 1/d_in)`, `B_i ~ N(0, 1/d_out)`, both rescaled by `d_out^¼/√64`), multi-head
    /// dropout 0.1 on `x A`, rank 8, alpha 32, rank stabilization, zero router.
    pub fn r_lora(d_input: usize, d_output: usize, heads: usize) -> Self {
        Preset::RLora
            .hyperparameters(heads)
            .config(d_input, d_output)
    }

    /// Ablation [`Preset::RandomInitOnly`]: R-LoRA's random initialization only, with
    /// HydraLoRA's single input dropout.
    pub fn random_init_only(d_input: usize, d_output: usize, heads: usize) -> Self {
        Preset::RandomInitOnly
            .hyperparameters(heads)
            .config(d_input, d_output)
    }

    /// Ablation [`Preset::MultiHeadDropoutOnly`]: R-LoRA's multi-head dropout only, with
    /// HydraLoRA's kaiming `A` and zero heads.
    pub fn multi_head_dropout_only(d_input: usize, d_output: usize, heads: usize) -> Self {
        Preset::MultiHeadDropoutOnly
            .hyperparameters(heads)
            .config(d_input, d_output)
    }
}

impl Preset {
    /// The preset's settings for adapters of `heads` heads (plain LoRA always has one).
    pub fn hyperparameters(self, heads: usize) -> RLoraHyperparameters {
        let lora = RLoraHyperparameters::new().with_dropout(0.05);
        if self == Self::Lora {
            return lora;
        }
        let hydra = lora
            .with_heads(heads)
            .with_alpha(32.0)
            .with_use_rslora(true);
        if self == Self::HydraLora {
            return hydra;
        }
        let r_lora = hydra
            .with_dropout(0.1)
            .with_dropout_placement(DropoutPlacement::PerHead)
            .with_init_a(LoraInit::ScaledNormal { fan: Fan::In })
            .with_init_b(LoraInit::ScaledNormal { fan: Fan::Out })
            .with_stable_gamma(Some(64.0));
        match self {
            Self::RandomInitOnly => r_lora.with_dropout_placement(DropoutPlacement::Input),
            Self::MultiHeadDropoutOnly => r_lora
                .with_init_a(LoraInit::KaimingUniform)
                .with_init_b(LoraInit::Zeros)
                .with_stable_gamma(None),
            Self::RLoraOfficialInit => r_lora.with_stable_scaling(StableScaling::OfficialCode),
            _ => r_lora,
        }
    }

    /// Whether the preset's adapters have several heads behind a router.
    pub fn multi_head(self) -> bool {
        self != Self::Lora
    }
}

/// The settings of an R-LoRA layer without its shapes: [`RLoraConfig`] less `d_input`,
/// `d_output` and `bias`. Start from [`Preset::hyperparameters`] and adjust with the `with_*`
/// setters; [`config`](Self::config) makes a layer's config. The defaults are
/// [`RLoraConfig`]'s.
#[derive(Config, Debug, PartialEq)]
pub struct RLoraHyperparameters {
    /// [`RLoraConfig::heads`]: the number of heads `N` (default 1, no router).
    #[config(default = 1)]
    pub heads: usize,
    /// [`RLoraConfig::rank`]: rank `r` of `A` and of each head (default 8).
    #[config(default = 8)]
    pub rank: usize,
    /// [`RLoraConfig::alpha`] (default 16).
    #[config(default = 16.0)]
    pub alpha: f64,
    /// [`RLoraConfig::use_rslora`]: `alpha / √rank` instead of `alpha / rank` (default off).
    #[config(default = false)]
    pub use_rslora: bool,
    /// [`RLoraConfig::dropout`]: the probability, in `[0, 1)` (default 0).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// [`RLoraConfig::dropout_placement`] (default on the input).
    #[config(default = "DropoutPlacement::Input")]
    pub dropout_placement: DropoutPlacement,
    /// [`RLoraConfig::stable_gamma`]: `γ` of the one-time `d_out^¼ / √γ` rescaling of `A` and
    /// the heads (default none).
    #[config(default = "None")]
    pub stable_gamma: Option<f64>,
    /// [`RLoraConfig::stable_scaling`] (default the paper's, once).
    #[config(default = "StableScaling::Paper")]
    pub stable_scaling: StableScaling,
    /// [`RLoraConfig::init_a`] (default kaiming-uniform).
    #[config(default = "LoraInit::KaimingUniform")]
    pub init_a: LoraInit,
    /// [`RLoraConfig::init_b`], drawn per head (default zeros).
    #[config(default = "LoraInit::Zeros")]
    pub init_b: LoraInit,
    /// [`RLoraConfig::router_init`] (default zeros).
    #[config(default = "RouterInit::Zeros")]
    pub router_init: RouterInit,
}

impl RLoraHyperparameters {
    /// The config of a `d_input → d_output` layer with these settings (and a bias; a layer built
    /// on a base takes the base's).
    pub fn config(&self, d_input: usize, d_output: usize) -> RLoraConfig {
        RLoraConfig {
            d_input,
            d_output,
            rank: self.rank,
            heads: self.heads,
            alpha: self.alpha,
            dropout: self.dropout,
            dropout_placement: self.dropout_placement,
            use_rslora: self.use_rslora,
            init_a: self.init_a.clone(),
            init_b: self.init_b.clone(),
            stable_gamma: self.stable_gamma,
            stable_scaling: self.stable_scaling,
            router_init: self.router_init,
            bias: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_preset_keeps_its_heads_and_lora_has_one() {
        for (preset, heads) in [
            (Preset::Lora, 1),
            (Preset::HydraLora, 4),
            (Preset::RLora, 4),
            (Preset::RandomInitOnly, 4),
            (Preset::MultiHeadDropoutOnly, 4),
            (Preset::RLoraOfficialInit, 4),
        ] {
            let config = preset.hyperparameters(4).config(6, 3);
            assert_eq!(config.heads, heads, "{preset:?}");
            assert_eq!(preset.multi_head(), heads > 1);
            assert!(config.validate().is_ok());
        }
    }
}
