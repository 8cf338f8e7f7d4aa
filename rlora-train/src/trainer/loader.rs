//! [`StreamLoader`]: the training updates as a fixed, seeded stream cut into Learner "epochs" of
//! `K` optimizer updates, so that checkpoints fall every `K` updates and a resumed run sees
//! exactly the batches the uninterrupted run would have.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::tensor::backend::Backend;

use crate::data::{StepBatch, StepBatcher, TokenizedExample};

/// Serves Learner epoch `e` (1-based) as updates `(e − 1)·K .. e·K` of the stream, each a
/// [`StepBatch`] of `step_examples` examples in micro-batches.
pub struct StreamLoader<B: Backend> {
    examples: Arc<Vec<TokenizedExample>>,
    /// Example indices in training order, `step_examples` per update.
    order: Arc<Vec<usize>>,
    step_examples: usize,
    batcher: StepBatcher,
    steps_per_epoch: usize,
    next_epoch: Arc<AtomicUsize>,
    /// The items of each epoch this loader serves (all, unless sliced).
    items: Option<Range<usize>>,
    /// Reseeds the backend with `seed + epoch` as each epoch starts, so dropout masks depend
    /// only on the seed and the epoch, and a resumed run draws what the uninterrupted one did.
    seed: Option<u64>,
    device: B::Device,
}

impl<B: Backend> Clone for StreamLoader<B> {
    fn clone(&self) -> Self {
        Self {
            examples: self.examples.clone(),
            order: self.order.clone(),
            step_examples: self.step_examples,
            batcher: self.batcher,
            steps_per_epoch: self.steps_per_epoch,
            next_epoch: self.next_epoch.clone(),
            items: self.items.clone(),
            seed: self.seed,
            device: self.device.clone(),
        }
    }
}

impl<B: Backend> StreamLoader<B> {
    /// A loader over `order` (indices into `examples`), `step_examples` per update cut into
    /// micro-batches by `batcher`, epochs of `steps_per_epoch` updates, the first `iter()`
    /// serving epoch `first_epoch`.
    pub fn new(
        examples: Arc<Vec<TokenizedExample>>,
        order: Vec<usize>,
        step_examples: usize,
        batcher: StepBatcher,
        steps_per_epoch: usize,
        first_epoch: usize,
        device: B::Device,
    ) -> Self {
        Self {
            examples,
            order: Arc::new(order),
            step_examples: step_examples.max(1),
            batcher,
            steps_per_epoch,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            items: None,
            seed: None,
            device,
        }
    }

    /// Reseed the backend with `seed + epoch` at the start of every epoch.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The number of updates in the whole stream.
    pub fn total_steps(&self) -> usize {
        self.order.len() / self.step_examples
    }

    /// The stream positions of epoch `epoch`.
    fn epoch_items(&self, epoch: usize) -> Range<usize> {
        let first_step = (epoch.max(1) - 1) * self.steps_per_epoch;
        let steps = first_step..(first_step + self.steps_per_epoch).min(self.total_steps());
        let all = steps.start * self.step_examples..steps.end.max(steps.start) * self.step_examples;
        match &self.items {
            None => all,
            Some(slice) => {
                (all.start + slice.start).min(all.end)..(all.start + slice.end).min(all.end)
            }
        }
    }
}

struct StreamIter<'a, B: Backend> {
    loader: &'a StreamLoader<B>,
    items: Range<usize>,
    position: usize,
}

impl<B: Backend> Iterator for StreamIter<'_, B> {
    type Item = StepBatch<B>;

    fn next(&mut self) -> Option<StepBatch<B>> {
        if self.position >= self.items.end {
            return None;
        }
        let end = (self.position + self.loader.step_examples).min(self.items.end);
        let batch = self.loader.order[self.position..end]
            .iter()
            .map(|&i| self.loader.examples[i].clone())
            .collect();
        self.position = end;
        Some(self.loader.batcher.batch(batch, &self.loader.device))
    }
}

impl<B: Backend> DataLoaderIterator<StepBatch<B>> for StreamIter<'_, B> {
    fn progress(&self) -> Progress {
        Progress::new(self.position - self.items.start, self.items.len())
    }
}

impl<B: Backend> DataLoader<B, StepBatch<B>> for StreamLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<StepBatch<B>> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(seed) = self.seed {
            B::seed(&self.device, seed.wrapping_add(epoch as u64));
        }
        let items = self.epoch_items(epoch);
        Box::new(StreamIter {
            loader: self,
            position: items.start,
            items,
        })
    }

    fn num_items(&self) -> usize {
        self.epoch_items(self.next_epoch.load(Ordering::SeqCst))
            .len()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, StepBatch<B>>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    /// Items `start..end` of every epoch, with an epoch counter of its own (burn's multi-device
    /// strategy gives each device one slice of every epoch).
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, StepBatch<B>>> {
        Arc::new(Self {
            items: Some(start..end),
            next_epoch: Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst))),
            ..self.clone()
        })
    }
}
