//! The masked next-token cross-entropy of a causal LM.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};

/// Per-row sums of `−log p(target)` over the counted positions, `[batch]`, and the number of
/// counted positions per row, `[batch]`.
///
/// `logits: [batch, seq, V]`, `targets`, `mask: [batch, seq]`.
pub fn token_nll<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    mask: Tensor<B, 2, Bool>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [batch, seq, _] = logits.dims();
    let log_probs = log_softmax(logits, 2);
    let picked = log_probs
        .gather(2, targets.reshape([batch, seq, 1]))
        .reshape([batch, seq]);
    let weight = mask.float();
    let nll = (picked.neg() * weight.clone()).sum_dim(1).reshape([batch]);
    (nll, weight.sum_dim(1).reshape([batch]))
}

/// The mean `−log p(target)` over every counted position of the batch.
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 3>,
    targets: Tensor<B, 2, Int>,
    mask: Tensor<B, 2, Bool>,
) -> Tensor<B, 1> {
    let (nll, count) = token_nll(logits, targets, mask);
    nll.sum() / count.sum().clamp_min(1.0)
}
