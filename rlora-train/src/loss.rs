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

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    use super::*;

    #[test]
    fn equals_the_mean_negative_log_likelihood_of_the_counted_targets() {
        let device = Default::default();
        let logits = Tensor::<NdArray, 3>::from_data(
            TensorData::new(
                vec![
                    1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0, 5.0, 1.0, 1.0, 2.0, 2.0, 2.0,
                ],
                [2, 2, 3],
            ),
            &device,
        );
        let targets = Tensor::<NdArray, 2, Int>::from_data(
            TensorData::new(vec![2i64, 1, 0, 0], [2, 2]),
            &device,
        );
        let mask = Tensor::<NdArray, 2, Bool>::from_data(
            TensorData::new(vec![true, true, true, false], [2, 2]),
            &device,
        );
        let loss: f32 = masked_cross_entropy(logits, targets, mask).into_scalar();
        let lse = |v: [f64; 3]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
        let expected =
            ((lse([1., 2., 3.]) - 3.0) + (lse([0., 0., 0.]) - 0.0) + (lse([5., 1., 1.]) - 5.0))
                / 3.0;
        assert!(
            (loss as f64 - expected).abs() < 1e-5,
            "{loss} vs {expected}"
        );
    }
}
