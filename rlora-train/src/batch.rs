//! [`LmBatch`] and [`LmBatcher`]: tokenized examples padded into one causal-LM batch.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::data::TokenizedExample;

/// A right-padded batch. Position `t` predicts token `t + 1`: `targets[b, t] = tokens[b, t + 1]`
/// and `loss_mask[b, t]` is true where that target is a completion token (or EOS).
#[derive(Debug, Clone)]
pub struct LmBatch<B: Backend> {
    /// Input ids `[batch, seq]`.
    pub tokens: Tensor<B, 2, Int>,
    /// True at real tokens, false at padding `[batch, seq]`.
    pub attention_mask: Tensor<B, 2, Bool>,
    /// Next-token targets `[batch, seq]` (0 where not counted).
    pub targets: Tensor<B, 2, Int>,
    /// Where the loss counts `[batch, seq]`.
    pub loss_mask: Tensor<B, 2, Bool>,
    /// Each row's task.
    pub tasks: Vec<usize>,
}

/// Pads each batch to its longest example (dynamic padding).
#[derive(Debug, Clone, Copy, Default)]
pub struct LmBatcher;

impl<B: Backend> Batcher<B, TokenizedExample, LmBatch<B>> for LmBatcher {
    fn batch(&self, items: Vec<TokenizedExample>, device: &B::Device) -> LmBatch<B> {
        let batch = items.len();
        let seq = items.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
        let mut tokens = vec![0i64; batch * seq];
        let mut attention = vec![false; batch * seq];
        let mut targets = vec![0i64; batch * seq];
        let mut counted = vec![false; batch * seq];
        for (b, example) in items.iter().enumerate() {
            let row = b * seq;
            for (t, &id) in example.tokens.iter().enumerate() {
                tokens[row + t] = id as i64;
                attention[row + t] = true;
                if t >= 1 {
                    targets[row + t - 1] = id as i64;
                    counted[row + t - 1] = t >= example.prompt_len;
                }
            }
        }
        let int = |v: Vec<i64>| Tensor::from_data(TensorData::new(v, [batch, seq]), device);
        let bool = |v: Vec<bool>| Tensor::from_data(TensorData::new(v, [batch, seq]), device);
        LmBatch {
            tokens: int(tokens),
            attention_mask: bool(attention),
            targets: int(targets),
            loss_mask: bool(counted),
            tasks: items.iter().map(|e| e.task).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

    use super::*;

    #[test]
    fn targets_are_shifted_and_only_the_completion_counts() {
        let items = vec![
            TokenizedExample {
                task: 0,
                tokens: vec![10, 11, 12, 13, 2],
                prompt_len: 3,
            },
            TokenizedExample {
                task: 1,
                tokens: vec![20, 21, 2],
                prompt_len: 1,
            },
        ];
        let batch: LmBatch<NdArray> = LmBatcher.batch(items, &Default::default());
        let ints =
            |t: Tensor<NdArray, 2, Int>| t.into_data().convert::<i64>().to_vec::<i64>().unwrap();
        let bools = |t: Tensor<NdArray, 2, Bool>| t.into_data().to_vec::<bool>().unwrap();
        assert_eq!(ints(batch.tokens), [10, 11, 12, 13, 2, 20, 21, 2, 0, 0]);
        assert_eq!(
            bools(batch.attention_mask),
            [true, true, true, true, true, true, true, true, false, false]
        );
        assert_eq!(ints(batch.targets), [11, 12, 13, 2, 0, 21, 2, 0, 0, 0]);
        // Prompt of 3: positions 2 and 3 predict 13 and EOS; prompt of 1: positions 0 and 1.
        assert_eq!(
            bools(batch.loss_mask),
            [
                false, false, true, true, false, true, true, false, false, false
            ]
        );
        assert_eq!(batch.tasks, [0, 1]);
    }
}
