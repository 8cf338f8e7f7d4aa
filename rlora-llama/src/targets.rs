//! Which projections get R-LoRA adapters, named as PEFT names them (`target_modules`).

use std::collections::BTreeSet;
use std::fmt;

use rlora::{RLoraConfig, RLoraHyperparameters};

use crate::config::LlamaConfig;
use crate::error::LlamaError;

/// A linear projection of a Llama decoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetModule {
    /// Attention query projection.
    QProj,
    /// Attention key projection.
    KProj,
    /// Attention value projection.
    VProj,
    /// Attention output projection.
    OProj,
    /// MLP gate projection.
    GateProj,
    /// MLP up projection.
    UpProj,
    /// MLP down projection.
    DownProj,
}

impl TargetModule {
    /// All seven, in the order they appear in a layer.
    pub const ALL: [Self; 7] = [
        Self::QProj,
        Self::KProj,
        Self::VProj,
        Self::OProj,
        Self::GateProj,
        Self::UpProj,
        Self::DownProj,
    ];

    /// The name in Hugging Face checkpoints and PEFT configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::QProj => "q_proj",
            Self::KProj => "k_proj",
            Self::VProj => "v_proj",
            Self::OProj => "o_proj",
            Self::GateProj => "gate_proj",
            Self::UpProj => "up_proj",
            Self::DownProj => "down_proj",
        }
    }

    /// The path of this projection inside decoder layer `layer` (`model.layers.{layer}.mlp.up_proj`).
    pub fn path(self, layer: usize) -> String {
        let block = match self {
            Self::QProj | Self::KProj | Self::VProj | Self::OProj => "self_attn",
            _ => "mlp",
        };
        format!("model.layers.{layer}.{block}.{}", self.name())
    }
}

impl TargetModule {
    /// `(d_input, d_output)` of this projection in a model of `config`: q `[h, H·d]`, k and v
    /// `[h, H_kv·d]`, o `[H·d, h]`, gate and up `[h, i]`, down `[i, h]`.
    pub fn dims(self, config: &LlamaConfig) -> (usize, usize) {
        let hidden = config.hidden_size;
        let q = config.num_attention_heads * config.head_dim();
        let kv = config.num_kv_heads() * config.head_dim();
        let inner = config.intermediate_size;
        match self {
            Self::QProj => (hidden, q),
            Self::KProj | Self::VProj => (hidden, kv),
            Self::OProj => (q, hidden),
            Self::GateProj | Self::UpProj => (hidden, inner),
            Self::DownProj => (inner, hidden),
        }
    }
}

impl fmt::Display for TargetModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of target projections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Targets(BTreeSet<TargetModule>);

impl Targets {
    /// The MLP projections (the R-LoRA paper's targets: gate, up, down).
    pub fn mlp() -> Self {
        Self(
            [
                TargetModule::GateProj,
                TargetModule::UpProj,
                TargetModule::DownProj,
            ]
            .into(),
        )
    }

    /// Every linear projection (PEFT's `all-linear`, which leaves the LM head out).
    pub fn all_linear() -> Self {
        Self(TargetModule::ALL.into())
    }

    /// Parses PEFT-style names: `q_proj`, …, `down_proj`, or `all-linear`.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, LlamaError> {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.as_ref().trim();
            if name == "all-linear" {
                set.extend(TargetModule::ALL);
                continue;
            }
            let module = TargetModule::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .ok_or_else(|| {
                    LlamaError::InvalidArgument(format!(
                        "unknown target module `{name}`; expected one of q_proj, k_proj, v_proj, \
                         o_proj, gate_proj, up_proj, down_proj, all-linear"
                    ))
                })?;
            set.insert(module);
        }
        Ok(Self(set))
    }

    /// Whether `module` is a target.
    pub fn contains(&self, module: TargetModule) -> bool {
        self.0.contains(&module)
    }

    /// The targets, in layer order.
    pub fn iter(&self) -> impl Iterator<Item = TargetModule> + '_ {
        self.0.iter().copied()
    }

    /// Their names.
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(TargetModule::name).collect()
    }

    /// The trainable parameters of adapters of the given settings on these targets in every
    /// layer of a model of `config`, without building it.
    pub fn num_trainable_params(
        &self,
        config: &LlamaConfig,
        hyperparameters: &RLoraHyperparameters,
    ) -> usize {
        let per_layer: usize = self
            .iter()
            .map(|module| {
                let (d_input, d_output) = module.dims(config);
                hyperparameters
                    .config(d_input, d_output)
                    .num_trainable_params()
            })
            .sum();
        per_layer * config.num_hidden_layers
    }
}

/// Which projections get R-LoRA adapters, and their settings. The template's `d_input`,
/// `d_output` and `bias` are taken from each target projection.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSpec {
    /// The target projections.
    pub targets: Targets,
    /// The R-LoRA settings for every target.
    pub template: RLoraConfig,
}

impl AdapterSpec {
    /// Adapters of the given settings on `targets`: each target projection's adapter takes the
    /// projection's shapes and bias (so the template's own are placeholders).
    pub fn new(targets: Targets, hyperparameters: &RLoraHyperparameters) -> Self {
        Self {
            targets,
            template: hyperparameters.config(0, 0),
        }
    }

    /// Checks the adapters against the target projections of a model of `config`: each
    /// adapter's settings are in their domains, and its rank and head count are at most the
    /// smaller of the projection's dimensions.
    ///
    /// # Errors
    /// [`LlamaError::AdapterTooLarge`] naming the setting and the projection, or the R-LoRA
    /// layer's refusal naming the field.
    pub fn check(&self, config: &LlamaConfig) -> Result<(), LlamaError> {
        for module in self.targets.iter() {
            let (d_input, d_output) = module.dims(config);
            for (setting, value) in [("rank", self.template.rank), ("heads", self.template.heads)] {
                if value > d_input.min(d_output) {
                    return Err(LlamaError::AdapterTooLarge {
                        setting,
                        value,
                        module: module.name(),
                        d_input,
                        d_output,
                    });
                }
            }
            RLoraConfig {
                d_input,
                d_output,
                ..self.template.clone()
            }
            .validate()?;
        }
        Ok(())
    }
}
