//! Llama-family models whose target projections are R-LoRA layers (issue: rlora-llama). Nothing here yet.
