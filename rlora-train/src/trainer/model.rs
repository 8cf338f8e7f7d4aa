//! [`CausalLm`]: the Llama with its adapters as a burn training module — one training step
//! (`TrainStep`) and one validation step (`InferenceStep`) on an [`LmBatch`].

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, Transaction};
use burn::train::metric::ItemLazy;
use burn::train::{InferenceStep, Interrupter, TrainOutput, TrainStep};
use rlora_llama::Llama;

use super::loss::token_nll;
use crate::data::LmBatch;

/// A causal LM whose adapters train on next-token cross-entropy over completion tokens.
#[derive(Module, Debug)]
pub struct CausalLm<B: Backend> {
    /// The model.
    pub llama: Llama<B>,
    /// Multiplies the loss before `backward`: `1 / gradient accumulation steps`, since burn sums
    /// accumulated gradients.
    #[module(skip)]
    pub loss_scale: f64,
    /// Stops the run when a loss is not finite.
    #[module(skip)]
    pub stop: Option<StopSignal>,
}

/// The Learner's interrupter, as a module field.
#[derive(Clone)]
pub struct StopSignal(pub Interrupter);

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopSignal")
    }
}

/// The lazy output of a step: summed negative log-likelihood and target count per row.
pub struct LmOutput<B: Backend> {
    nll: Tensor<B, 1>,
    count: Tensor<B, 1>,
    tasks: Vec<usize>,
    head_similarity: Vec<(String, f64)>,
}

/// A step's output read back to the host: what the metrics see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LmStats {
    /// Σ −log p over the counted tokens, per row.
    pub nll: Vec<f64>,
    /// Counted tokens per row.
    pub count: Vec<f64>,
    /// Each row's task.
    pub tasks: Vec<usize>,
    /// Per projection type (`mlp.up_proj`, …) with more than one head, the mean over layers of
    /// the adapters' mean off-diagonal head similarity; empty on validation steps.
    pub head_similarity: Vec<(String, f64)>,
}

impl LmStats {
    /// The mean loss per counted token.
    pub fn loss(&self) -> f64 {
        self.nll.iter().sum::<f64>() / self.count.iter().sum::<f64>().max(1.0)
    }

    /// The counted tokens.
    pub fn tokens(&self) -> usize {
        self.count.iter().sum::<f64>() as usize
    }
}

impl<B: Backend> ItemLazy for LmOutput<B> {
    type ItemSync = LmStats;

    fn sync(self) -> LmStats {
        let read = |data: burn::tensor::TensorData| {
            data.convert::<f64>().to_vec::<f64>().unwrap_or_default()
        };
        let [nll, count] = Transaction::default()
            .register(self.nll)
            .register(self.count)
            .execute()
            .try_into()
            .expect("two tensors registered");
        LmStats {
            nll: read(nll),
            count: read(count),
            tasks: self.tasks,
            head_similarity: self.head_similarity,
        }
    }
}

impl<B: Backend> CausalLm<B> {
    /// Per-row NLL sums and counts for `batch`.
    fn nll(&self, batch: &LmBatch<B>) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let logits = self.llama.forward(
            batch.tokens.clone(),
            Some(batch.attention_mask.clone()),
            None,
        );
        token_nll(logits, batch.targets.clone(), batch.loss_mask.clone())
    }

    /// Per projection type, the mean over layers of the adapters' mean off-diagonal head cosine
    /// similarity (types whose adapters have one head are left out).
    pub fn head_similarity_by_module(&self) -> Vec<(String, f64)> {
        let mut sums: Vec<(String, f64, usize)> = Vec::new();
        for (path, adapter) in self.llama.adapters() {
            let Some(value) = adapter.head_similarity().mean_off_diagonal else {
                continue;
            };
            let module = super::heads::module_type(&path);
            match sums.iter_mut().find(|(m, _, _)| m == module) {
                Some((_, sum, n)) => {
                    *sum += value;
                    *n += 1;
                }
                None => sums.push((module.to_string(), value, 1)),
            }
        }
        sums.into_iter()
            .map(|(module, sum, n)| (module, sum / n as f64))
            .collect()
    }
}

impl<B: AutodiffBackend> TrainStep for CausalLm<B> {
    type Input = LmBatch<B>;
    type Output = LmOutput<B>;

    fn step(&self, batch: LmBatch<B>) -> TrainOutput<LmOutput<B>> {
        let (nll, count) = self.nll(&batch);
        let loss = nll.clone().sum() / count.clone().sum().clamp_min(1.0);
        let value: f64 = loss.clone().into_scalar().elem();
        let output = LmOutput {
            nll: nll.detach(),
            count: count.detach(),
            tasks: batch.tasks,
            head_similarity: self.head_similarity_by_module(),
        };
        if !value.is_finite() {
            // Keep the weights as they are and stop: the last checkpoint stays the last good one.
            if let Some(StopSignal(interrupter)) = &self.stop {
                interrupter.stop(Some(&format!("training stopped: the loss is {value}")));
            }
            return TrainOutput {
                grads: burn::optim::GradientsParams::new(),
                item: output,
            };
        }
        let grads = loss.mul_scalar(self.loss_scale).backward();
        TrainOutput::new(self, grads, output)
    }
}

impl<B: Backend> InferenceStep for CausalLm<B> {
    type Input = LmBatch<B>;
    type Output = LmOutput<B>;

    fn step(&self, batch: LmBatch<B>) -> LmOutput<B> {
        let (nll, count) = self.nll(&batch);
        LmOutput {
            nll,
            count,
            tasks: batch.tasks,
            head_similarity: Vec::new(),
        }
    }
}
