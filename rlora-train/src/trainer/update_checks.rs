//! [`UpdateChecks`]: every update's loss and gradient norm checked for values that are not
//! finite, without a training step ever waiting on the device.
//!
//! A step reads nothing back: the training step ([`CausalLm`](super::CausalLm)) issues each of its
//! items a [`NormCell`], the optimizer ([`GlobalNormClip`](super::GlobalNormClip)) fills it with
//! the update's global gradient norm (a `[1]` tensor, on the device), and the item is read with
//! the metrics (burn's `ItemLazy::sync`, on the Learner's metrics thread, one or two updates
//! behind the training thread), where a loss or a norm that is not finite stops the run.
//!
//! So an update whose loss or gradients are not finite is applied, and the run stops at its
//! read, an update or two later; what keeps the user's work safe is the checkpoint:
//! [`UpdateChecks::verified`] waits until every item issued so far has been read and refuses
//! the checkpoint when one was not finite (see [`VerifiedCheckpoints`](super::VerifiedCheckpoints)),
//! so the last checkpoint is always a state whose every update had a finite loss and finite
//! gradients, and `--resume` continues from it.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use burn::tensor::Tensor;
use burn::tensor::backend::{Backend, DeviceId, DeviceOps};
use burn::train::Interrupter;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::EventStoreClient;

use super::checkpoint::undeletable_checkpoint_file;

/// Where an item finds its update's global gradient norm once the optimizer has computed it.
pub type NormCell<B> = Arc<OnceLock<Tensor<B, 1>>>;

/// The checks of one run, shared by its training steps, its optimizer, its metrics thread and
/// its checkpoints.
pub struct UpdateChecks {
    interrupter: Interrupter,
    /// The cells issued since the optimizer last filled them, each with its item's device (a
    /// `NormCell` of the training backend, without its type).
    pending: Mutex<Vec<(DeviceId, Box<dyn Any + Send>)>>,
    reads: Mutex<Reads>,
    read: Condvar,
}

/// What the metrics thread has read so far.
#[derive(Debug, Default)]
struct Reads {
    issued: usize,
    read: usize,
    /// The first value that was not finite, as the message that stopped the run.
    failure: Option<String>,
}

/// How long a checkpoint waits for the metrics thread to read the updates before it.
const READ_TIMEOUT: Duration = Duration::from_secs(600);

impl std::fmt::Debug for UpdateChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateChecks").finish_non_exhaustive()
    }
}

impl UpdateChecks {
    /// The checks of a run that `interrupter` stops.
    pub fn new(interrupter: Interrupter) -> Arc<Self> {
        Arc::new(Self {
            interrupter,
            pending: Mutex::new(Vec::new()),
            reads: Mutex::new(Reads::default()),
            read: Condvar::new(),
        })
    }

    /// The interrupter that stops the run.
    pub fn interrupter(&self) -> &Interrupter {
        &self.interrupter
    }

    /// Stops the run with `message`, unless it is stopping already.
    pub fn stop(&self, message: &str) {
        if !self.interrupter.should_stop() {
            self.interrupter.stop(Some(message));
        }
    }

    /// A new item's cell for its update's gradient norm, on `device`; the item must be
    /// [`read`](Self::read).
    pub fn issue<B: Backend>(&self, device: &B::Device) -> NormCell<B> {
        let cell: NormCell<B> = Arc::new(OnceLock::new());
        if let Ok(mut pending) = self.pending.lock() {
            pending.push((device.id(), Box::new(cell.clone())));
        }
        if let Ok(mut reads) = self.reads.lock() {
            reads.issued += 1;
        }
        cell
    }

    /// Gives `norm` to the cells issued since the last update: those of `device`, or all of
    /// them (one optimizer for every device).
    pub fn fill<B: Backend>(&self, norm: &Tensor<B, 1>, device: Option<&B::Device>) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let id = device.map(DeviceOps::id);
        pending.retain(|(device, cell)| {
            if id.is_some_and(|id| id != *device) {
                return true;
            }
            if let Some(cell) = cell.downcast_ref::<NormCell<B>>() {
                let _ = cell.set(norm.clone());
            }
            false
        });
    }

    /// Records an issued item's read values: its loss, and its update's gradient norm where the
    /// optimizer computed one; the first that is not finite stops the run.
    pub fn read(&self, loss: f64, norm: Option<f64>) {
        let failure = if !loss.is_finite() {
            Some(format!("training stopped: the loss is {loss}"))
        } else {
            norm.filter(|norm| !norm.is_finite())
                .map(|norm| format!("training stopped: the gradients' global norm is {norm}"))
        };
        if let Some(message) = &failure {
            self.stop(message);
        }
        if let Ok(mut reads) = self.reads.lock() {
            reads.read += 1;
            if reads.failure.is_none() {
                reads.failure = failure;
            }
        }
        self.read.notify_all();
    }

    /// Whether a loss or a gradient norm read so far was not finite.
    pub fn found_non_finite(&self) -> bool {
        self.reads.lock().is_ok_and(|reads| reads.failure.is_some())
    }

    /// Waits until every item issued so far has been read; then the message of the first value
    /// that was not finite, if any (a checkpoint must not be written then).
    ///
    /// # Errors
    /// A value was not finite, or the reads did not catch up within 10 minutes.
    pub fn verified(&self) -> Result<(), String> {
        let reads = self
            .reads
            .lock()
            .map_err(|_| "the checks of the updates were poisoned".to_string())?;
        let (reads, timeout) = self
            .read
            .wait_timeout_while(reads, READ_TIMEOUT, |reads| reads.read < reads.issued)
            .map_err(|_| "the checks of the updates were poisoned".to_string())?;
        if let Some(failure) = &reads.failure {
            return Err(failure.clone());
        }
        if timeout.timed_out() {
            return Err(format!(
                "{} of {} updates were not read back within {} s",
                reads.issued - reads.read,
                reads.issued,
                READ_TIMEOUT.as_secs()
            ));
        }
        Ok(())
    }
}

/// burn's checkpointing strategy `S` (which checkpoints to save and delete) behind
/// [`UpdateChecks::verified`]: a checkpoint is saved, and older ones deleted, only when every
/// update before it had a finite loss and finite gradients; otherwise nothing is written or
/// deleted and the run stops. An old checkpoint that burn could not delete (a folder in place of
/// one of its files, which would stop the run from burn's checkpointer thread with a message
/// that names no file) is kept instead, and said.
pub struct VerifiedCheckpoints<S> {
    inner: S,
    checks: Arc<UpdateChecks>,
    /// The run's folder, whose `checkpoint/` holds the checkpoints.
    dir: PathBuf,
}

impl<S> VerifiedCheckpoints<S> {
    /// `inner`, verified by `checks`, for the checkpoints of the run in `dir`.
    pub fn new(inner: S, checks: Arc<UpdateChecks>, dir: &Path) -> Self {
        Self {
            inner,
            checks,
            dir: dir.to_path_buf(),
        }
    }

    /// Whether burn may delete checkpoint `epoch`: not when one of its files is a folder (it
    /// then stays, and a warning names it).
    fn deletable(&self, epoch: usize) -> bool {
        match undeletable_checkpoint_file(&self.dir, epoch) {
            None => true,
            Some(file) => {
                eprintln!(
                    "warning: the old checkpoint {epoch} is kept: {} is a folder, not a \
                     checkpoint file, so it cannot be deleted; training goes on",
                    file.display()
                );
                false
            }
        }
    }
}

impl<S: CheckpointingStrategy> CheckpointingStrategy for VerifiedCheckpoints<S> {
    fn checkpointing(
        &mut self,
        epoch: usize,
        collector: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        match self.checks.verified() {
            Ok(()) => {
                let mut actions = self.inner.checkpointing(epoch, collector);
                actions.retain(|action| match action {
                    CheckpointingAction::Delete(old) => self.deletable(*old),
                    CheckpointingAction::Save => true,
                });
                actions
            }
            Err(message) => {
                self.checks.stop(&message);
                Vec::new()
            }
        }
    }
}
