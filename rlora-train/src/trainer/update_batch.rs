//! [`UpdateBatch`]: what a training step gets from the run besides the model: a device's
//! [`StepBatch`] of one update and the run's [`UpdateChannels`], the checks it reports its
//! update to and, in a process group, the exchange its loss goes into.
//!
//! The model ([`CausalLm`](super::CausalLm)) holds no run state: the run's loader hands each
//! batch the channels, and the optimizer ([`GlobalNormClip`](super::GlobalNormClip)) holds its
//! own copy.

use std::sync::Arc;

use burn::tensor::backend::{AutodiffBackend, Backend};

use super::group::UpdateExchange;
use super::update_checks::UpdateChecks;
use crate::data::StepBatch;

/// The run's channels of every update, on the training backend's inner backend `I`: where the
/// loss and the gradient norm are checked and, in a process group, where the gradients and the
/// loss are summed over the group.
pub struct UpdateChannels<I: Backend> {
    /// The checks of every update's loss and gradient norm.
    pub checks: Arc<UpdateChecks>,
    /// The exchange with the other processes of the group, when the run trains across processes.
    pub exchange: Option<Arc<UpdateExchange<I>>>,
}

impl<I: Backend> Clone for UpdateChannels<I> {
    fn clone(&self) -> Self {
        Self {
            checks: self.checks.clone(),
            exchange: self.exchange.clone(),
        }
    }
}

impl<I: Backend> std::fmt::Debug for UpdateChannels<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateChannels")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

/// The input of a training step: a device's share of one update and, in a training run, the
/// channels its step reports through (none for a step taken on its own).
#[derive(Debug, Clone)]
pub struct UpdateBatch<B: AutodiffBackend> {
    /// The micro-batches of the device's share of the update.
    pub batch: StepBatch<B>,
    /// The run's channels.
    pub channels: Option<UpdateChannels<B::InnerBackend>>,
}

impl<B: AutodiffBackend> From<StepBatch<B>> for UpdateBatch<B> {
    /// A step outside a run: nothing checks it, nothing is exchanged.
    fn from(batch: StepBatch<B>) -> Self {
        Self {
            batch,
            channels: None,
        }
    }
}
