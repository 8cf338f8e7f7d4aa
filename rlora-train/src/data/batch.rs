//! [`LmBatch`] and [`LmBatcher`]: tokenized examples padded into one causal-LM batch.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::TokenizedExample;

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
