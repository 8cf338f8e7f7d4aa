//! The router's gates of every adapted projection in a real forward pass: [`Llama::routing`].

use burn::tensor::{Bool, Int, Tensor};

use crate::backend::LlamaBackend;
use crate::model::Llama;
use crate::probe::{GateProbe, ProjectionGates};

impl<B: LlamaBackend> Llama<B> {
    /// The gates of every adapted projection for `tokens: [batch, seq]`, in layer order, from
    /// the model's own forward pass (each projection's router applied to the input that
    /// projection really sees). Arguments as for [`Llama::forward`]; without a mask every row
    /// is causal only (right padding is fine for the real tokens' gates).
    pub fn routing(
        &self,
        tokens: Tensor<B, 2, Int>,
        attention_mask: Option<Tensor<B, 2, Bool>>,
    ) -> Vec<ProjectionGates<B>> {
        let mut gates = Vec::new();
        self.hidden_states_probed(
            tokens,
            attention_mask,
            None,
            GateProbe::recording(&mut gates),
        );
        gates
    }
}
