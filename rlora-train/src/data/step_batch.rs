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
        Self {
            micro_batches: vec![batch],
        }
    }
}

/// Cuts an update's examples into micro-batches of `micro_batch` rows (the last may be smaller)
/// and pads each with [`LmBatcher`].
#[derive(Debug, Clone, Copy)]
pub struct StepBatcher {
    /// Rows per micro-batch.
    pub micro_batch: usize,
}

impl<B: Backend> Batcher<B, TokenizedExample, StepBatch<B>> for StepBatcher {
    fn batch(&self, items: Vec<TokenizedExample>, device: &B::Device) -> StepBatch<B> {
        StepBatch {
            micro_batches: items
                .chunks(self.micro_batch.max(1))
                .map(|rows| LmBatcher.batch(rows.to_vec(), device))
                .collect(),
        }
    }
}
