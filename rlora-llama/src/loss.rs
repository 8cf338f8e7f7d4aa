//! The next-token loss of a causal LM without the vocabulary-sized logits of every token.
//!
//! For the counted positions `t` (completion tokens) with final hidden states `h_t [d]`, the LM
//! head `W [V, d]` and targets `y_t`:
//!
//! ```text
//! z_t = W h_t,     nll_t = logsumexp(z_t) − z_t[y_t],     ∂nll_t/∂h_t = Wᵀ (softmax(z_t) − e_{y_t})
//! ```
//!
//! Only counted positions reach the head, and they reach it in chunks of at most
//! [`LOGITS_BUDGET`] logits, so `[tokens, V]` is never held whole. The head is frozen, so the
//! only gradient is the one to `h_t`, and each `nll_t` depends on `h_t` alone: it is computed in
//! the same chunk as the loss, `J_t = Wᵀ (softmax(z_t) − e_{y_t})` (`[n, d]`), and the loss is
//! returned as `nll_t + ⟨h_t − stop_grad(h_t), stop_grad(J_t)⟩`, whose value is `nll_t` and whose
//! gradient to `h_t` is `J_t`. The backward pass then costs nothing at the head, and a backend
//! without autodiff skips `J_t`.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, IndexingUpdateOp, Int, Tensor, TensorData};

use crate::backend::LlamaBackend;
use crate::model::Llama;

/// The most logits (`tokens × V`) one chunk of the loss holds at a time: 2²² floats, 16 MiB in
/// f32 (27 tokens at Qwen2.5's vocabulary of 151,936; the whole batch at small vocabularies).
pub const LOGITS_BUDGET: usize = 1 << 22;

/// Which positions of a `[batch, seq]` batch count in the loss, and their targets.
#[derive(Debug, Clone)]
pub struct LossTargets<B: Backend> {
    /// The counted positions, flattened over `[batch, seq]`: `[n]`.
    pub positions: Tensor<B, 1, Int>,
    /// The next token at each counted position: `[n]`.
    pub targets: Tensor<B, 1, Int>,
    /// The row of each counted position: `[n]`.
    pub rows: Tensor<B, 1, Int>,
    /// Counted positions per row (host copy): `[batch]`.
    pub counts: Vec<usize>,
}

impl<B: Backend> LossTargets<B> {
    /// From `targets` and `mask` of a `[batch, seq]` batch, row-major (`mask` true where the
    /// position counts).
    pub fn new(targets: &[i64], mask: &[bool], batch: usize, device: &B::Device) -> Self {
        let seq = mask.len() / batch.max(1);
        let counted: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
        let mut counts = vec![0; batch];
        for &i in &counted {
            counts[i / seq] += 1;
        }
        let int = |values: Vec<i64>| {
            let n = values.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(values, [n]), device)
        };
        Self {
            positions: int(counted.iter().map(|&i| i as i64).collect()),
            targets: int(counted.iter().map(|&i| targets[i]).collect()),
            rows: int(counted.iter().map(|&i| (i / seq) as i64).collect()),
            counts,
        }
    }

    /// The number of counted positions.
    pub fn len(&self) -> usize {
        self.positions.dims()[0]
    }

    /// Whether no position counts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<B: LlamaBackend> Llama<B> {
    /// Per-row sums of `−log p(target)` over the counted positions, `[batch]`, from the final
    /// hidden states `hidden: [batch, seq, d]` (see [`Llama::hidden_states`]). Differentiable
    /// with respect to `hidden` when it requires a gradient.
    pub fn token_nll(&self, hidden: Tensor<B, 3>, targets: &LossTargets<B>) -> Tensor<B, 1> {
        self.token_nll_in_chunks(hidden, targets, LOGITS_BUDGET)
    }

    /// [`Llama::token_nll`] with chunks of at most `budget` logits.
    fn token_nll_in_chunks(
        &self,
        hidden: Tensor<B, 3>,
        targets: &LossTargets<B>,
        budget: usize,
    ) -> Tensor<B, 1> {
        let [batch, seq, d] = hidden.dims();
        let device = hidden.device();
        let rows = Tensor::<B, 1>::zeros([batch], &device);
        if targets.is_empty() {
            return rows + hidden.sum().mul_scalar(0.0); // keeps the graph, adds nothing
        }
        let h = hidden
            .reshape([batch * seq, d])
            .select(0, targets.positions.clone()); // [n, d]
        let with_grad = B::ad_enabled(&device);
        let h_const = h.clone().detach();
        let n = targets.len();
        let chunk = (budget / self.config.vocab_size).clamp(1, n);
        // The head in f32 once per call, not once per chunk: a 16-bit head would otherwise be
        // converted for every chunk's two products on backends whose 16-bit matmul goes through
        // f32 (flex's bf16), and the loss is computed in f32 in any case.
        let head = to_f32(self.head_weight()); // [V, d]
        let (mut nll, mut grad) = (Vec::new(), Vec::new());
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            let (nll_chunk, grad_chunk) = head_nll(
                head.clone(),
                h_const.clone().narrow(0, start, len),
                targets.targets.clone().narrow(0, start, len),
                with_grad,
            );
            nll.push(nll_chunk);
            grad.extend(grad_chunk);
        }
        let mut nll = Tensor::cat(nll, 0); // [n]
        if with_grad {
            let grad = Tensor::cat(grad, 0); // [n, d]
            nll = nll + ((h - h_const) * grad).sum_dim(1).reshape([n]);
        }
        rows.select_assign(0, targets.rows.clone(), nll, IndexingUpdateOp::Add)
    }

    /// The LM head as `[V, d]`: the tied embedding, or the head's weight transposed (a view).
    fn head_weight(&self) -> Tensor<B, 2> {
        match &self.lm_head {
            Some(head) => head.weight.val().transpose(),
            None => self.embed_tokens.weight.val(),
        }
    }
}

/// `nll_t` `[c]` for hidden states `h: [c, d]` (no gradient), targets `[c]` and the f32 head
/// `[V, d]`, and with `with_grad` the gradient `∂nll_t/∂h_t = (softmax(h Wᵀ) − onehot_t) W`
/// `[c, d]`.
fn head_nll<B: Backend>(
    head: Tensor<B, 2>,
    h: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    with_grad: bool,
) -> (Tensor<B, 1>, Option<Tensor<B, 2>>) {
    let [c, _] = h.dims();
    let logits = to_f32(h).matmul(head.clone().transpose()); // [c, V]
    let targets = targets.reshape([c, 1]);
    let max = logits.clone().max_dim(1); // [c, 1]
    let shifted = logits - max;
    let picked = shifted.clone().gather(1, targets.clone()); // [c, 1]
    let exp = shifted.exp();
    let sum_exp = exp.clone().sum_dim(1);
    let nll = (sum_exp.clone().log() - picked).reshape([c]);
    if !with_grad {
        return (nll, None);
    }
    let probs = exp.div(sum_exp); // softmax, [c, V]
    let minus_one = Tensor::<B, 2>::full([c, 1], -1.0, &probs.device());
    let dlogits = probs.scatter(1, targets, minus_one, IndexingUpdateOp::Add);
    (nll, Some(dlogits.matmul(head))) // [c, d]
}

fn to_f32<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(FloatDType::F32)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::activation::log_softmax;
    use burn::tensor::{Distribution, Tolerance};

    use super::*;
    use crate::config::{LlamaConfig, ModelType};

    type B = Autodiff<NdArray>;

    fn tiny(tied: bool) -> Llama<B> {
        let config = LlamaConfig {
            model_type: ModelType::Llama,
            vocab_size: 37,
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            num_key_value_heads: Some(1),
            head_dim: None,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: None,
            max_position_embeddings: 64,
            tie_word_embeddings: tied,
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: None,
            eos_token_id: None,
        };
        Llama::random(config, None, &Default::default()).unwrap()
    }

    /// The plain loss: the whole `[batch, seq, V]` log-softmax, gathered and masked.
    fn plain_nll(
        model: &Llama<B>,
        hidden: Tensor<B, 3>,
        targets: &[i64],
        mask: &[bool],
    ) -> Tensor<B, 1> {
        let [batch, seq, _] = hidden.dims();
        let device = hidden.device();
        let log_probs = log_softmax(model.logits(hidden), 2);
        let ids = Tensor::<B, 1, Int>::from_data(
            TensorData::new(targets.to_vec(), [batch * seq]),
            &device,
        );
        let picked = log_probs
            .gather(2, ids.reshape([batch, seq, 1]))
            .reshape([batch, seq]);
        let weight = Tensor::<B, 1>::from_data(
            TensorData::new(
                mask.iter().map(|&m| m as i32 as f32).collect(),
                [batch * seq],
            ),
            &device,
        );
        (picked.neg() * weight.reshape([batch, seq]))
            .sum_dim(1)
            .reshape([batch])
    }

    #[test]
    fn equals_the_plain_loss_and_its_gradient_in_chunks() {
        for tied in [false, true] {
            let model = tiny(tied);
            let device = Default::default();
            let (batch, seq) = (3, 5);
            let targets: Vec<i64> = (0..batch * seq).map(|i| (i * 7 % 37) as i64).collect();
            let mask: Vec<bool> = (0..batch * seq).map(|i| i % 3 != 1).collect();
            let loss_targets = LossTargets::new(&targets, &mask, batch, &device);
            let draw = || {
                Tensor::<B, 3>::random([batch, seq, 16], Distribution::Normal(0.0, 1.0), &device)
            };
            let hidden = draw().require_grad();
            let upstream =
                Tensor::<B, 1>::from_data(TensorData::new(vec![0.5f32, -1.0, 2.0], [3]), &device);

            // Chunks of 2 tokens: the 10 counted positions take 5 chunks.
            let chunked = model.token_nll_in_chunks(hidden.clone(), &loss_targets, 2 * 37);
            let plain = plain_nll(&model, hidden.clone(), &targets, &mask);
            chunked
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&plain.clone().into_data(), Tolerance::absolute(1e-5));

            let grad_of = |nll: Tensor<B, 1>| {
                let grads = (nll * upstream.clone()).sum().backward();
                hidden.grad(&grads).unwrap()
            };
            let (g_chunked, g_plain) = (grad_of(chunked), grad_of(plain));
            let scale = g_plain.clone().abs().max().into_scalar();
            assert!(scale > 1e-2, "the gradient is not trivially zero ({scale})");
            g_chunked
                .into_data()
                .assert_approx_eq::<f32>(&g_plain.into_data(), Tolerance::absolute(1e-5));
        }
    }

    #[test]
    fn rows_sum_their_own_counted_positions() {
        let model = tiny(false);
        let device = Default::default();
        let targets = vec![1i64, 2, 3, 4, 5, 6];
        let mask = vec![false, false, false, true, true, false]; // row 0: nothing counts
        let loss_targets = LossTargets::<B>::new(&targets, &mask, 2, &device);
        assert_eq!(loss_targets.counts, [0, 2]);
        let hidden = Tensor::<B, 3>::random([2, 3, 16], Distribution::Normal(0.0, 1.0), &device);
        let nll: Vec<f32> = model
            .token_nll(hidden.clone(), &loss_targets)
            .into_data()
            .to_vec()
            .unwrap();
        let plain: Vec<f32> = plain_nll(&model, hidden, &targets, &mask)
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(nll[0], 0.0);
        assert!(
            nll[1] > 0.0 && (nll[1] - plain[1]).abs() < 1e-5,
            "{nll:?} vs {plain:?}"
        );
    }
}
