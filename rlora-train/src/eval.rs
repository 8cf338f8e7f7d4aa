//! Evaluation of a trained model: mean completion-token loss over a set of examples.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::ElementConversion;
use burn::tensor::backend::Backend;
use rlora_llama::Llama;

use crate::batch::{LmBatch, LmBatcher};
use crate::data::TokenizedExample;
use crate::loss::token_nll;

/// The mean cross-entropy per completion token of `model` over `examples`.
pub fn mean_token_loss<B: Backend>(
    model: &Llama<B>,
    examples: &[TokenizedExample],
    batch_size: usize,
) -> f64 {
    let device = model.embed_tokens.weight.device();
    let (mut nll, mut count) = (0.0, 0.0);
    for chunk in examples.chunks(batch_size.max(1)) {
        let batch: LmBatch<B> = LmBatcher.batch(chunk.to_vec(), &device);
        let logits = model.forward(batch.tokens, Some(batch.attention_mask), None);
        let (row_nll, row_count) = token_nll(logits, batch.targets, batch.loss_mask);
        nll += row_nll.sum().into_scalar().elem::<f64>();
        count += row_count.sum().into_scalar().elem::<f64>();
    }
    nll / count.max(1.0)
}
