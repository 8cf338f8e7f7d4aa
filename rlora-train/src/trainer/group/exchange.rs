//! [`UpdateExchange`]: what the processes of a group exchange once per optimizer update, in one
//! all-reduce: every trainable parameter's gradient and the update's loss.
//!
//! The bucket is `[g_1 ‖ g_2 ‖ … ‖ g_P ‖ Σ nll]`: the flattened gradients (summed over this
//! process's devices) in the order of the model's trainable parameters, then the summed negative
//! log-likelihood of this process's rows. Its sum over the group holds the gradients of the whole
//! update (each device's loss is already divided by the whole update's counted tokens) and the
//! update's loss, which every process then reports for its items.

use std::sync::{Arc, Mutex, OnceLock};

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor};

use super::{GroupError, ProcessGroup};

/// One training item's share of an update's loss over the whole group: the update's summed
/// negative log-likelihood and counted tokens, divided among this process's items of the update
/// (one per device), so that the items' sums are the update's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupLoss {
    /// This item's share of `Σ −log p` over the update's counted tokens.
    pub nll: f64,
    /// This item's share of the update's counted tokens.
    pub tokens: f64,
}

/// A device's contribution to the update being exchanged.
struct Share<B: Backend> {
    /// `Σ nll` of the device's rows, `[1]`.
    nll: Tensor<B, 1>,
    /// The update's counted tokens (all processes).
    update_tokens: usize,
    /// Where the item of the device reads its share of the group's loss.
    loss: Arc<OnceLock<GroupLoss>>,
}

/// The per-update exchange of a process in a group (shared by its devices' training steps, which
/// [`deposit`](Self::deposit) their losses, and its optimizer, which
/// [`exchange`](Self::exchange)s).
pub struct UpdateExchange<B: Backend> {
    group: ProcessGroup<B>,
    shares: Mutex<Vec<Share<B>>>,
    /// The first exchange that failed (not a loss that is not finite), which stopped the run.
    failure: OnceLock<GroupError>,
}

impl<B: Backend> std::fmt::Debug for UpdateExchange<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateExchange")
            .field("group", self.group.settings())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> UpdateExchange<B> {
    /// The exchange of `group`.
    pub fn new(group: ProcessGroup<B>) -> Self {
        Self {
            group,
            shares: Mutex::new(Vec::new()),
            failure: OnceLock::new(),
        }
    }

    /// The group.
    pub fn group(&self) -> &ProcessGroup<B> {
        &self.group
    }

    /// The error of the exchange that failed, if one did.
    pub fn failure(&self) -> Option<&GroupError> {
        self.failure.get()
    }

    /// Adds a device's `Σ nll` (`[1]`) for the coming exchange of an update of `update_tokens`
    /// counted tokens; the cell returned receives the device's share of the group's loss.
    pub fn deposit(&self, nll: Tensor<B, 1>, update_tokens: usize) -> Arc<OnceLock<GroupLoss>> {
        let loss = Arc::new(OnceLock::new());
        if let Ok(mut shares) = self.shares.lock() {
            shares.push(Share {
                nll,
                update_tokens,
                loss: loss.clone(),
            });
        }
        loss
    }

    /// Sums `grads` (of the parameters `params`, each `[rows, cols]`; a missing one counts as
    /// zeros) and the deposited losses over the group, on `device`; fills the deposits' cells.
    ///
    /// # Errors
    /// The all-reduce failed, or the update's loss is not finite (the message says so, as a
    /// single process's does).
    pub fn exchange(
        &self,
        mut grads: GradientsParams,
        params: &[(ParamId, [usize; 2])],
        device: &B::Device,
    ) -> Result<GradientsParams, String> {
        let shares = self
            .shares
            .lock()
            .map(|mut shares| std::mem::take(&mut *shares))
            .unwrap_or_default();
        let mut bucket: Vec<Tensor<B, 1>> = params
            .iter()
            .map(|&(id, dims)| {
                grads
                    .remove::<B, 2>(id)
                    .map_or_else(|| Tensor::zeros(dims, device), |g| g.to_device(device))
                    .reshape([dims[0] * dims[1]])
            })
            .collect();
        bucket.push(shares.iter().fold(Tensor::zeros([1], device), |sum, s| {
            sum + s.nll.clone().to_device(device)
        }));
        let summed = self
            .group
            .all_reduce_sum(Tensor::cat(bucket, 0), "the gradient all-reduce")
            .map_err(|error| {
                let message = error.to_string();
                let _ = self.failure.set(error);
                message
            })?;
        let mut offset = 0;
        let mut reduced = GradientsParams::new();
        for &(id, dims) in params {
            let size = dims[0] * dims[1];
            reduced.register(id, summed.clone().narrow(0, offset, size).reshape(dims));
            offset += size;
        }
        let nll: f64 = summed.narrow(0, offset, 1).into_scalar().elem();
        let items = shares.len().max(1) as f64;
        for share in &shares {
            let _ = share.loss.set(GroupLoss {
                nll: nll / items,
                tokens: share.update_tokens as f64 / items,
            });
        }
        if !nll.is_finite() {
            return Err(format!("training stopped: the loss is {nll}"));
        }
        Ok(reduced)
    }
}
