//! [`CausalLm`]: the Llama with its adapters as a burn training module — one training step
//! (`TrainStep`: one optimizer update's gradients from a [`StepBatch`] of micro-batches) and one
//! validation step (`InferenceStep`) on an [`LmBatch`].

use std::sync::{Arc, OnceLock};

use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor, Transaction};
use burn::train::metric::ItemLazy;
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use rlora::HeadSimilarity;
use rlora_llama::Llama;

use super::gradients::sum_gradients;
use super::group::GroupLoss;
use super::heads::module_type;
use super::update_batch::UpdateBatch;
use super::update_checks::{NormCell, UpdateChecks};
use crate::data::{LmBatch, StepBatch};
use rlora_llama::{LlamaAutodiffBackend, LlamaBackend};

/// A causal LM whose adapters train on next-token cross-entropy over completion tokens.
///
/// A burn module whose record is its adapters only (`AdapterCheckpoint`):
/// the frozen base never goes into a checkpoint.
#[derive(Clone, Debug)]
pub struct CausalLm<B: LlamaBackend> {
    /// The model.
    pub llama: Llama<B>,
    /// Each training batch is cut into this many shards of rows, whose forward and backward
    /// passes run in parallel (on the CPU's cores) and whose gradients are summed: the same step
    /// as the whole batch, with every core busy in the element-wise work a CPU backend runs on
    /// one thread. 1 on a GPU.
    pub shards: usize,
    /// Whether a step recomputes each decoder layer in the backward pass instead of keeping its
    /// activations ([`Llama::checkpointed_gradients`]); the shards then run one after the other.
    pub activation_checkpointing: bool,
}

/// The lazy output of a step: summed negative log-likelihood per row, the update's global
/// gradient norm and the heads' cosine matrices, still on the device (read in
/// [`ItemLazy::sync`], off the training thread, where the loss and the norm are checked).
pub struct LmOutput<B: LlamaBackend> {
    nll: Tensor<B, 1>,
    count: Vec<usize>,
    tasks: Vec<usize>,
    head_cosines: Vec<(String, Tensor<B, 2>)>,
    /// A training item's update's gradient norm (filled by the optimizer) and the checks it
    /// reports to.
    checked: Option<(NormCell<B>, Arc<UpdateChecks>)>,
    /// In a process group, this item's share of the update's loss over the whole group, which
    /// the optimizer's exchange fills before the item is read.
    group_loss: Option<Arc<OnceLock<GroupLoss>>>,
}

/// The task of an [`LmStats`] row that sums a whole update of a process group (all tasks).
pub const ALL_TASKS: usize = usize::MAX;

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
    /// The global L2 norm of the update's gradients (before clipping), on training steps.
    pub gradient_norm: Option<f64>,
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

impl<B: LlamaBackend> ItemLazy for LmOutput<B> {
    type ItemSync = LmStats;

    fn sync(self) -> LmStats {
        let read = |data: burn::tensor::TensorData| {
            data.convert::<f64>().to_vec::<f64>().unwrap_or_default()
        };
        let (modules, cosines): (Vec<String>, Vec<Tensor<B, 2>>) =
            self.head_cosines.into_iter().unzip();
        let heads: Vec<usize> = cosines.iter().map(|c| c.dims()[0]).collect();
        let norm = self
            .checked
            .as_ref()
            .and_then(|(cell, _)| cell.get().cloned());
        let read_norm = norm.is_some();
        let mut transaction = Transaction::default().register(self.nll);
        if let Some(norm) = norm {
            transaction = transaction.register(norm);
        }
        for cosine in cosines {
            transaction = transaction.register(cosine);
        }
        let mut data = transaction.execute().into_iter();
        let mut nll = data.next().map(read).unwrap_or_default();
        let gradient_norm = read_norm
            .then(|| data.next().map(read))
            .flatten()
            .and_then(|norm| norm.first().copied());
        let similarities = modules
            .iter()
            .zip(&heads)
            .zip(data)
            .map(|((module, &n), values)| {
                let similarity = HeadSimilarity::from_matrix(&read(values), n);
                (module.clone(), similarity.mean_off_diagonal.unwrap_or(0.0))
            });
        let mut count = self.count.iter().map(|&c| c as f64).collect();
        let mut tasks = self.tasks;
        if let Some(group) = self.group_loss.as_ref().and_then(|cell| cell.get()) {
            (nll, count, tasks) = (vec![group.nll], vec![group.tokens], vec![ALL_TASKS]);
        }
        if let Some((_, checks)) = &self.checked {
            checks.read(nll.iter().sum(), gradient_norm);
        }
        LmStats {
            nll,
            count,
            tasks,
            head_similarity: mean_by_module(similarities),
            gradient_norm,
        }
    }
}

/// The mean value per module of `(module, value)` pairs, in first-seen order.
fn mean_by_module(values: impl Iterator<Item = (String, f64)>) -> Vec<(String, f64)> {
    let mut sums: Vec<(String, f64, usize)> = Vec::new();
    for (module, value) in values {
        match sums.iter_mut().find(|(m, _, _)| *m == module) {
            Some((_, sum, n)) => {
                *sum += value;
                *n += 1;
            }
            None => sums.push((module, value, 1)),
        }
    }
    sums.into_iter()
        .map(|(module, sum, n)| (module, sum / n as f64))
        .collect()
}

impl<B: LlamaBackend> CausalLm<B> {
    /// Per-row NLL sums for `batch`, `[batch]`.
    fn nll(&self, batch: &LmBatch<B>) -> Tensor<B, 1> {
        let hidden = self.llama.hidden_states(batch.tokens.clone(), None, None);
        self.llama.token_nll(hidden, &batch.loss)
    }

    /// The heads' cosine matrices of every adapter with more than one head, by projection type,
    /// on the device.
    fn head_cosines(&self) -> Vec<(String, Tensor<B, 2>)> {
        self.llama
            .adapters()
            .into_iter()
            .filter(|(_, adapter)| adapter.config.heads > 1)
            .map(|(path, adapter)| (module_type(&path).to_string(), adapter.head_cosine()))
            .collect()
    }
}

impl<B: LlamaAutodiffBackend> CausalLm<B> {
    /// The gradients of one update: the sum over `step`'s micro-batches (one after the other, so
    /// that only one micro-batch's graph is alive at a time) of the gradients of
    /// `Σ nll / tokens`, `tokens` counting the whole update's counted tokens (over every device
    /// and process, [`StepBatch::update_tokens`]): summed over the devices and processes, the
    /// same gradients as one batch of all the rows. Returns the per-row NLL (detached) in
    /// stream order.
    fn update_gradients(&self, step: &StepBatch<B>) -> (Tensor<B, 1>, GradientsParams) {
        let scale = 1.0 / step.update_tokens.max(1) as f64;
        let (nlls, grads): (Vec<_>, Vec<_>) = step
            .micro_batches
            .iter()
            .map(|micro| self.sharded_step(micro, scale))
            .unzip();
        (Tensor::cat(nlls, 0), sum_gradients(self, grads))
    }

    /// The step of `batch`: per-row NLL (detached) and the gradients of `Σ nll · scale`. With
    /// [`CausalLm::shards`] > 1 the rows are cut into shards,
    /// each on its own copy of the model (fresh autodiff leaves, the same weights and parameter
    /// ids, so the graphs stay apart); their forward passes run one after the other, so that
    /// dropout draws its masks in the same order as ever (a resumed run stays bit-identical),
    /// and their backward passes in parallel, with the gradients summed. With
    /// [`activation_checkpointing`](Self::activation_checkpointing), each shard's checkpointed
    /// step runs after the other, so that one layer's graph is alive at a time.
    fn sharded_step(&self, batch: &LmBatch<B>, scale: f64) -> (Tensor<B, 1>, GradientsParams) {
        if self.activation_checkpointing {
            let (nlls, grads) = batch
                .shards(self.shards)
                .iter()
                .map(|shard| self.checkpointed_step(shard, scale))
                .unzip();
            return (Tensor::cat(nlls, 0), sum_gradients(self, grads));
        }
        let shards = batch.shards(self.shards);
        if shards.len() == 1 {
            let nll = self.nll(batch);
            let loss = nll.clone().sum().mul_scalar(scale);
            return (
                nll.detach(),
                GradientsParams::from_grads(loss.backward(), self),
            );
        }
        let device = batch.tokens.device();
        let forwards: Vec<(Self, Tensor<B, 1>)> = shards
            .iter()
            .map(|shard| {
                let replica = self.clone().fork(&device);
                let nll = replica.nll(shard);
                (replica, nll)
            })
            .collect();
        let nll = Tensor::cat(
            forwards.iter().map(|(_, n)| n.clone().detach()).collect(),
            0,
        );
        let mut grads: Vec<Option<GradientsParams>> = forwards.iter().map(|_| None).collect();
        rayon::scope(|scope| {
            for ((replica, nll), grads) in forwards.into_iter().zip(&mut grads) {
                scope.spawn(move |_| {
                    let loss = nll.sum().mul_scalar(scale);
                    *grads = Some(GradientsParams::from_grads(loss.backward(), &replica));
                });
            }
        });
        (
            nll,
            sum_gradients(self, grads.into_iter().flatten().collect()),
        )
    }

    /// [`sharded_step`](Self::sharded_step) of one shard through activation checkpointing. With
    /// dropout, the masks' generator is seeded per layer from a seed drawn from the backend's
    /// generator, so a run stays reproducible and resumes as it would without checkpointing.
    fn checkpointed_step(&self, batch: &LmBatch<B>, scale: f64) -> (Tensor<B, 1>, GradientsParams) {
        let dropout_seed = self.llama.has_dropout().then(|| {
            // Two 24-bit draws (every integer below 2^24 is exact as a float on every backend).
            let draw = Tensor::<B, 1, Int>::random(
                [2],
                Distribution::Uniform(0.0, f64::from(1u32 << 24)),
                &batch.tokens.device(),
            );
            let words = draw.into_data().convert::<i64>().to_vec::<i64>();
            words.map_or(0, |w| ((w[0] as u64) << 24) | w[1] as u64)
        });
        self.llama
            .checkpointed_gradients(batch.tokens.clone(), &batch.loss, scale, dropout_seed)
    }

    /// The ids of the adapters' trainable parameters: `A`, the heads, the router.
    pub fn trainable_ids(&self) -> Vec<ParamId> {
        self.trainable_shapes()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// The adapters' trainable parameters (`A`, the heads, the router), each with its shape, in
    /// the model's order.
    pub fn trainable_shapes(&self) -> Vec<(ParamId, [usize; 2])> {
        self.llama
            .adapters()
            .into_iter()
            .flat_map(|(_, adapter)| {
                [Some(&adapter.lora_a), Some(&adapter.lora_b)]
                    .into_iter()
                    .chain([adapter.router.as_ref()])
                    .flatten()
                    .map(|param| (param.id, param.val().dims()))
            })
            .collect()
    }
}

impl<B: LlamaAutodiffBackend> TrainStep for CausalLm<B> {
    type Input = UpdateBatch<B>;
    type Output = LmOutput<B>;

    /// The update's gradients; nothing is read back from the device (the loss and the gradient
    /// norm are checked when the item is read, see [`UpdateChecks`]). In a run, the item is
    /// issued to the run's checks and its loss deposited for the group's exchange.
    fn step(&self, input: UpdateBatch<B>) -> TrainOutput<LmOutput<B>> {
        let UpdateBatch {
            batch: step,
            channels,
        } = input;
        let (nll, grads) = self.update_gradients(&step);
        let group_loss = channels
            .as_ref()
            .and_then(|channels| channels.exchange.as_ref())
            .map(|exchange| exchange.deposit(nll.clone().sum().inner(), step.update_tokens));
        let checked =
            channels.map(|channels| (channels.checks.issue::<B>(&nll.device()), channels.checks));
        let item = LmOutput {
            nll,
            count: step
                .micro_batches
                .iter()
                .flat_map(|m| m.loss.counts.iter().copied())
                .collect(),
            tasks: step
                .micro_batches
                .into_iter()
                .flat_map(|m| m.tasks)
                .collect(),
            head_cosines: self.head_cosines(),
            checked,
            group_loss,
        };
        TrainOutput { grads, item }
    }
}

impl<B: LlamaBackend> InferenceStep for CausalLm<B> {
    type Input = LmBatch<B>;
    type Output = LmOutput<B>;

    fn step(&self, batch: LmBatch<B>) -> LmOutput<B> {
        LmOutput {
            nll: self.nll(&batch),
            count: batch.loss.counts.clone(),
            tasks: batch.tasks,
            head_cosines: Vec::new(),
            checked: None,
            group_loss: None,
        }
    }
}
