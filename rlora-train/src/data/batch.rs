//! [`LmBatch`] and [`LmBatcher`]: tokenized examples padded into one causal-LM batch.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rlora_llama::LossTargets;

use super::TokenizedExample;

/// A right-padded batch. Position `t` predicts token `t + 1`: `targets[b, t] = tokens[b, t + 1]`,
/// counted where that target is a completion token (or EOS).
///
/// Right padding needs no attention mask: causal attention never lets a real token see the
/// padding after it, and the padding's own positions never count in the loss.
#[derive(Debug, Clone)]
pub struct LmBatch<B: Backend> {
    /// Input ids `[batch, seq]`.
    pub tokens: Tensor<B, 2, Int>,
    /// The counted positions and their targets.
    pub loss: LossTargets<B>,
    /// Each row's task.
    pub tasks: Vec<usize>,
    /// Next-token targets, row-major `[batch · seq]` (0 where not counted): the host copy that
    /// [`LmBatch::shards`] splits.
    pub targets: Vec<i64>,
    /// Where the loss counts, row-major `[batch · seq]`.
    pub counted: Vec<bool>,
}

impl<B: Backend> LmBatch<B> {
    /// Rows and sequence length.
    pub fn dims(&self) -> [usize; 2] {
        self.tokens.dims()
    }

    /// The batch cut into at most `n` shards of consecutive rows (as even as can be), for
    /// computing one step's rows in parallel.
    pub fn shards(&self, n: usize) -> Vec<LmBatch<B>> {
        let [batch, seq] = self.dims();
        let n = n.clamp(1, batch.max(1));
        if n == 1 {
            return vec![self.clone()];
        }
        let device = self.tokens.device();
        (0..n)
            .map(|i| {
                let (start, end) = (i * batch / n, (i + 1) * batch / n);
                let cells = start * seq..end * seq;
                LmBatch {
                    tokens: self.tokens.clone().narrow(0, start, end - start),
                    loss: LossTargets::new(
                        &self.targets[cells.clone()],
                        &self.counted[cells.clone()],
                        end - start,
                        &device,
                    ),
                    tasks: self.tasks[start..end].to_vec(),
                    targets: self.targets[cells.clone()].to_vec(),
                    counted: self.counted[cells].to_vec(),
                }
            })
            .collect()
    }
}

/// Pads each batch to its longest example (dynamic padding).
#[derive(Debug, Clone, Copy, Default)]
pub struct LmBatcher;

impl<B: Backend> Batcher<B, TokenizedExample, LmBatch<B>> for LmBatcher {
    fn batch(&self, items: Vec<TokenizedExample>, device: &B::Device) -> LmBatch<B> {
        let batch = items.len();
        let seq = items.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
        let mut tokens = vec![0i64; batch * seq];
        let mut targets = vec![0i64; batch * seq];
        let mut counted = vec![false; batch * seq];
        for (b, example) in items.iter().enumerate() {
            let row = b * seq;
            for (t, &id) in example.tokens.iter().enumerate() {
                tokens[row + t] = id as i64;
                if t >= 1 {
                    targets[row + t - 1] = id as i64;
                    counted[row + t - 1] = t >= example.prompt_len;
                }
            }
        }
        LmBatch {
            tokens: Tensor::from_data(TensorData::new(tokens, [batch, seq]), device),
            loss: LossTargets::new(&targets, &counted, batch, device),
            tasks: items.iter().map(|e| e.task).collect(),
            targets,
            counted,
        }
    }
}
