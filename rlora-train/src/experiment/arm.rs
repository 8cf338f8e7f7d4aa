//! [`Arm`]: one adapter variant of the comparison.

use clap::ValueEnum;
use rlora::Preset;
use serde::{Deserialize, Serialize};

/// One arm of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// LoRA with the multi-head arms' rank r.
    Lora,
    /// LoRA with the rank that matches the multi-head arms' trainable parameters.
    LoraMatched,
    /// HydraLoRA: zero heads, one dropout on the input.
    Hydra,
    /// HydraLoRA + multi-head dropout.
    HydraMhd,
    /// HydraLoRA + multi-head random initialization.
    HydraInit,
    /// R-LoRA: both.
    Rlora,
    /// R-LoRA with the official code's initialization (the stable rescale compounded inside
    /// the head loop, with r in place of d_out).
    RloraOfficial,
}

impl Arm {
    /// Every arm, in the order of the report.
    pub const ALL: [Self; 7] = [
        Self::Lora,
        Self::LoraMatched,
        Self::Hydra,
        Self::HydraMhd,
        Self::HydraInit,
        Self::Rlora,
        Self::RloraOfficial,
    ];

    /// The name of the arm's run folder and JSON key.
    pub fn id(self) -> &'static str {
        match self {
            Self::Lora => "lora",
            Self::LoraMatched => "lora-matched",
            Self::Hydra => "hydra",
            Self::HydraMhd => "hydra-mhd",
            Self::HydraInit => "hydra-init",
            Self::Rlora => "rlora",
            Self::RloraOfficial => "rlora-official",
        }
    }

    /// The preset (`rlora train --variant`) that makes this arm.
    pub fn preset(self) -> Preset {
        match self {
            Self::Lora | Self::LoraMatched => Preset::Lora,
            Self::Hydra => Preset::HydraLora,
            Self::HydraMhd => Preset::MultiHeadDropoutOnly,
            Self::HydraInit => Preset::RandomInitOnly,
            Self::Rlora => Preset::RLora,
            Self::RloraOfficial => Preset::RLoraOfficialInit,
        }
    }

    /// Whether the arm has several heads.
    pub fn multi_head(self) -> bool {
        self.preset().multi_head()
    }
}
