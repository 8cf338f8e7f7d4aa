//! [`StreamLoader`]: the training updates as a fixed, seeded stream cut into Learner "epochs" of
//! `K` optimizer updates, so that checkpoints fall every `K` updates and a resumed run sees
//! exactly the batches the uninterrupted run would have.
//!
//! Every update of the stream is `S` shards of `b` consecutive rows (`S` = devices × processes,
//! `b` = batch size × accumulation): shard `s` of update `u` is rows `u·S·b + s·b ..` of the
//! stream. The device `d` of process `r` (of `D` devices each) trains on shard `r·D + d` of every
//! update, so that the group sees, update by update, the rows one device would see with the
//! whole batch; and each device's loss is divided by the whole update's counted tokens.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::tensor::backend::AutodiffBackend;

use super::update_batch::{UpdateBatch, UpdateChannels};
use crate::data::{StepBatcher, TokenizedExample};

/// The shards of every update that one process trains on: `first .. first + local` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards {
    /// This process's first shard: its rank × its devices.
    pub first: usize,
    /// This process's shards: one per device.
    pub local: usize,
    /// The shards of an update: devices × processes.
    pub total: usize,
}

impl Shards {
    /// The shards of process `rank` of `processes`, with `devices` devices each.
    pub fn of_process(rank: usize, processes: usize, devices: usize) -> Self {
        let local = devices.max(1);
        Self {
            first: rank * local,
            local,
            total: processes.max(1) * local,
        }
    }
}

/// Serves Learner epoch `e` (1-based) as updates `(e − 1)·K .. e·K` of the stream: for each of
/// this process's devices in turn, its [`UpdateBatch`] (its shard, in micro-batches, with the
/// run's channels) of each update.
pub(crate) struct StreamLoader<B: AutodiffBackend> {
    examples: Arc<Vec<TokenizedExample>>,
    /// Example indices in training order, `shard_examples × shards.total` per update.
    order: Arc<Vec<usize>>,
    /// Rows of one shard (one device's part of an update).
    shard_examples: usize,
    shards: Shards,
    batcher: StepBatcher,
    steps_per_epoch: usize,
    next_epoch: Arc<AtomicUsize>,
    /// The one device (of this process's) this loader serves, once burn's multi-device strategy
    /// has sliced it; all of them before.
    local_device: Option<usize>,
    /// Reseeds the backend with `seed + epoch` as each epoch starts, so dropout masks depend
    /// only on the seed and the epoch, and a resumed run draws what the uninterrupted one did.
    seed: Option<u64>,
    /// The run's channels, handed to every batch.
    channels: Option<UpdateChannels<B::InnerBackend>>,
    device: B::Device,
}

impl<B: AutodiffBackend> Clone for StreamLoader<B> {
    fn clone(&self) -> Self {
        Self {
            examples: self.examples.clone(),
            order: self.order.clone(),
            shard_examples: self.shard_examples,
            shards: self.shards,
            batcher: self.batcher,
            steps_per_epoch: self.steps_per_epoch,
            next_epoch: self.next_epoch.clone(),
            local_device: self.local_device,
            seed: self.seed,
            channels: self.channels.clone(),
            device: self.device.clone(),
        }
    }
}

impl<B: AutodiffBackend> StreamLoader<B> {
    /// A loader over `order` (indices into `examples`) for a process with all the shards of
    /// every update (see [`with_shards`](Self::with_shards)), `shard_examples` rows per shard cut
    /// into micro-batches by `batcher`, epochs of `steps_per_epoch` updates, the first `iter()`
    /// serving epoch `first_epoch`.
    pub fn new(
        examples: Arc<Vec<TokenizedExample>>,
        order: Vec<usize>,
        shard_examples: usize,
        batcher: StepBatcher,
        steps_per_epoch: usize,
        first_epoch: usize,
        device: B::Device,
    ) -> Self {
        Self {
            examples,
            order: Arc::new(order),
            shard_examples: shard_examples.max(1),
            shards: Shards::of_process(0, 1, 1),
            batcher,
            steps_per_epoch,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            local_device: None,
            seed: None,
            channels: None,
            device,
        }
    }

    /// Train on `shards` of every update.
    pub fn with_shards(mut self, shards: Shards) -> Self {
        self.shards = shards;
        self
    }

    /// Reseed the backend with `seed + epoch` at the start of every epoch.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Hand every batch the run's `channels`.
    pub fn with_channels(mut self, channels: UpdateChannels<B::InnerBackend>) -> Self {
        self.channels = Some(channels);
        self
    }

    /// The rows of one update (all shards).
    fn update_examples(&self) -> usize {
        self.shard_examples * self.shards.total
    }

    /// The number of updates in the whole stream.
    pub fn total_steps(&self) -> usize {
        self.order.len() / self.update_examples()
    }

    /// The updates of epoch `epoch`.
    fn epoch_steps(&self, epoch: usize) -> Range<usize> {
        let first = (epoch.max(1) - 1) * self.steps_per_epoch;
        first.min(self.total_steps())..(first + self.steps_per_epoch).min(self.total_steps())
    }

    /// The local devices this loader serves.
    fn local_devices(&self) -> Range<usize> {
        match self.local_device {
            Some(device) => device..device + 1,
            None => 0..self.shards.local,
        }
    }

    /// Shard `shard` of update `step`, with the update's counted tokens.
    fn shard(&self, step: usize, shard: usize) -> UpdateBatch<B> {
        let update = step * self.update_examples();
        let rows = update + shard * self.shard_examples;
        let batch = self.order[rows..rows + self.shard_examples]
            .iter()
            .map(|&i| self.examples[i].clone())
            .collect();
        let mut batch = self.batcher.batch(batch, &self.device);
        batch.update_tokens = self.order[update..update + self.update_examples()]
            .iter()
            .map(|&i| self.examples[i].counted_tokens())
            .sum();
        UpdateBatch {
            batch,
            channels: self.channels.clone(),
        }
    }
}

struct StreamIter<'a, B: AutodiffBackend> {
    loader: &'a StreamLoader<B>,
    steps: Range<usize>,
    devices: Range<usize>,
    /// Batches served so far: device-major over `devices × steps`.
    position: usize,
}

impl<B: AutodiffBackend> StreamIter<'_, B> {
    fn len(&self) -> usize {
        self.steps.len() * self.devices.len()
    }
}

impl<B: AutodiffBackend> Iterator for StreamIter<'_, B> {
    type Item = UpdateBatch<B>;

    fn next(&mut self) -> Option<UpdateBatch<B>> {
        if self.position >= self.len() {
            return None;
        }
        let device = self.devices.start + self.position / self.steps.len();
        let step = self.steps.start + self.position % self.steps.len();
        self.position += 1;
        Some(self.loader.shard(step, self.loader.shards.first + device))
    }
}

impl<B: AutodiffBackend> DataLoaderIterator<UpdateBatch<B>> for StreamIter<'_, B> {
    fn progress(&self) -> Progress {
        let rows = self.loader.shard_examples;
        Progress::new(self.position * rows, self.len() * rows)
    }
}

impl<B: AutodiffBackend> DataLoader<B, UpdateBatch<B>> for StreamLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<UpdateBatch<B>> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(seed) = self.seed {
            B::seed(&self.device, seed.wrapping_add(epoch as u64));
        }
        Box::new(StreamIter {
            loader: self,
            steps: self.epoch_steps(epoch),
            devices: self.local_devices(),
            position: 0,
        })
    }

    /// The rows this loader serves in the coming epoch.
    fn num_items(&self) -> usize {
        let steps = self.epoch_steps(self.next_epoch.load(Ordering::SeqCst));
        steps.len() * self.local_devices().len() * self.shard_examples
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, UpdateBatch<B>>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    /// The loader of one local device, with an epoch counter of its own. burn's multi-device
    /// strategy cuts [`num_items`](DataLoader::num_items) into one equal, contiguous range per
    /// device, which the device-major order makes that device's shards: the range's start tells
    /// which device it is.
    fn slice(&self, start: usize, _end: usize) -> Arc<dyn DataLoader<B, UpdateBatch<B>>> {
        let per_device = (self.num_items() / self.shards.local).max(1);
        Arc::new(Self {
            local_device: Some((start / per_device).min(self.shards.local - 1)),
            next_epoch: Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst))),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Autodiff<burn::backend::Flex>;

    /// Examples whose first token is their index, with `1 + index % 3` counted tokens.
    fn examples(n: usize) -> Arc<Vec<TokenizedExample>> {
        Arc::new(
            (0..n)
                .map(|i| TokenizedExample {
                    task: 0,
                    tokens: vec![i as u32; 3 + i % 3],
                    prompt_len: 2,
                })
                .collect(),
        )
    }

    /// Each batch of `loader`'s epochs as (its examples' first tokens, the update's tokens).
    fn batches(
        loader: &dyn DataLoader<B, UpdateBatch<B>>,
        epochs: usize,
    ) -> Vec<(Vec<i64>, usize)> {
        let mut all = Vec::new();
        for _ in 0..epochs {
            for UpdateBatch { batch, .. } in loader.iter() {
                let firsts = batch
                    .micro_batches
                    .iter()
                    .flat_map(|m| {
                        let tokens = m.tokens.clone().into_data().convert::<i64>();
                        let tokens = tokens.to_vec::<i64>().unwrap();
                        let width = tokens.len() / m.tasks.len();
                        tokens.chunks(width).map(|row| row[0]).collect::<Vec<_>>()
                    })
                    .collect();
                all.push((firsts, batch.update_tokens));
            }
        }
        all
    }

    fn loader(order: &[usize], shards: Shards) -> StreamLoader<B> {
        StreamLoader::new(
            examples(order.len()),
            order.to_vec(),
            2,
            StepBatcher { micro_batch: 1 },
            2,
            1,
            Default::default(),
        )
        .with_shards(shards)
    }

    /// Two processes (and two devices of one process, as burn's multi-device strategy slices
    /// them) take the consecutive halves of each update of the single device's 4-row updates,
    /// each batch divided by the whole update's counted tokens; a shorter last epoch too.
    #[test]
    fn shards_split_every_update_of_the_whole_batch_in_stream_order() {
        let order: Vec<usize> = (0..20).rev().collect();
        let alone = StreamLoader::<B>::new(
            examples(20),
            order.clone(),
            4,
            StepBatcher { micro_batch: 2 },
            2,
            1,
            Default::default(),
        );
        let whole = batches(&alone, 3);
        assert_eq!(whole.len(), 5, "5 updates of 4 rows in epochs of 2");
        let ranks: Vec<_> = (0..2)
            .map(|rank| batches(&loader(&order, Shards::of_process(rank, 2, 1)), 3))
            .collect();
        let devices = loader(&order, Shards::of_process(0, 1, 2));
        let sliced: Vec<_> = (0..2)
            .map(|device| {
                let per_device = devices.num_items() / 2;
                let slice = devices.slice(device * per_device, (device + 1) * per_device);
                batches(slice.as_ref(), 3)
            })
            .collect();
        assert_eq!(
            sliced, ranks,
            "a process's devices are shards as processes are"
        );
        for (step, (rows, tokens)) in whole.iter().enumerate() {
            let (first, second) = (&ranks[0][step], &ranks[1][step]);
            assert_eq!(
                [first.0.clone(), second.0.clone()].concat(),
                *rows,
                "update {step}"
            );
            assert_eq!((first.1, second.1), (*tokens, *tokens), "update {step}");
        }
    }
}
