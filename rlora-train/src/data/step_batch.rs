//! [`StepBatch`] and [`StepBatcher`]: the examples of one optimizer update on one device, as the
//! micro-batches of gradient accumulation.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;

use super::{LmBatch, LmBatcher, TokenizedExample};

/// The micro-batches of one optimizer update: `grad_accumulation` batches of `batch_size` rows,
/// each padded to its own longest example. Their gradients are summed and the loss is divided
/// by the counted tokens of all of them, so that the update is the one a single batch of all
/// the rows would give.
#[derive(Debug, Clone)]
pub struct StepBatch<B: Backend> {
    /// The micro-batches, in stream order.
    pub micro_batches: Vec<LmBatch<B>>,
    /// The counted tokens of the whole optimizer update, over every device and process: the
    /// loss's divisor (the batch's own [`counted_tokens`](Self::counted_tokens) when it is the
    /// whole update).
    pub update_tokens: usize,
}

impl<B: Backend> StepBatch<B> {
    /// The counted (completion) tokens of every micro-batch.
    pub fn counted_tokens(&self) -> usize {
        self.micro_batches
            .iter()
            .map(|m| m.loss.counts.iter().sum::<usize>())
            .sum()
    }
}

impl<B: Backend> From<LmBatch<B>> for StepBatch<B> {
    /// An update of one micro-batch (no accumulation).
    fn from(batch: LmBatch<B>) -> Self {
        let update_tokens = batch.loss.counts.iter().sum();
        Self {
            micro_batches: vec![batch],
            update_tokens,
        }
    }
}

/// Cuts an update's examples into micro-batches of `micro_batch` rows (the last may be smaller)
/// and pads each with [`LmBatcher`]; the batch is the whole update.
#[derive(Debug, Clone, Copy)]
pub struct StepBatcher {
    /// Rows per micro-batch.
    pub micro_batch: usize,
}

impl<B: Backend> Batcher<B, TokenizedExample, StepBatch<B>> for StepBatcher {
    fn batch(&self, items: Vec<TokenizedExample>, device: &B::Device) -> StepBatch<B> {
        let update_tokens = items.iter().map(TokenizedExample::counted_tokens).sum();
        StepBatch {
            micro_batches: items
                .chunks(self.micro_batch.max(1))
                .map(|rows| LmBatcher.batch(rows.to_vec(), device))
                .collect(),
            update_tokens,
        }
    }
}
