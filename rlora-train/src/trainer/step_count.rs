//! [`StepCount`]: the Learner's position (its "epoch", which is the checkpoint interval, and the
//! iteration within it) as what a user counts: the optimizer update out of the run's total, and
//! the pass over the data.

use burn::data::dataloader::Progress;
use burn::train::renderer::TrainingProgress;

use super::config::TrainingStream;

/// Converts the Learner's progress into optimizer updates and passes over the data.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCount {
    /// Optimizer updates per Learner epoch (the checkpoint interval).
    steps_per_epoch: usize,
    /// Learner iterations per update: one per device.
    replicas: usize,
    /// The run's updates.
    total_steps: usize,
    /// The update after which each pass over the data is complete.
    pass_ends: Vec<usize>,
}

impl StepCount {
    /// The count of a run over `stream` on `replicas` devices with a checkpoint every
    /// `steps_per_epoch` updates.
    pub fn new(stream: &TrainingStream, steps_per_epoch: usize, replicas: usize) -> Self {
        Self {
            steps_per_epoch: steps_per_epoch.max(1),
            replicas: replicas.max(1),
            total_steps: stream.steps(),
            pass_ends: stream.pass_ends_in_steps(),
        }
    }

    /// The run's optimizer updates.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// The update (1-based) a training item belongs to: burn counts one iteration per device
    /// (the multi-device strategy numbers an update's items `(u − 1)·devices + 1 ..= u·devices`,
    /// DDP gives them all `u·devices`).
    pub fn step(&self, item: &TrainingProgress) -> usize {
        let epoch = item.global_progress.items_processed.max(1);
        let iteration = item.iteration.unwrap_or(0);
        (epoch - 1) * self.steps_per_epoch + iteration.div_ceil(self.replicas)
    }

    /// Whether an update's `seen`-th training item (1-based) is its last: one item per device,
    /// whichever device reports last (burn's DDP workers report concurrently; under DDP every
    /// device's item of update `u` carries iteration `u · devices`).
    pub fn ends_step(&self, seen: usize) -> bool {
        seen >= self.replicas
    }

    /// The update at the end of the validation that follows Learner epoch `epoch`.
    pub fn step_after_epoch(&self, epoch: usize) -> usize {
        (epoch * self.steps_per_epoch).min(self.total_steps)
    }

    /// The pass over the data (1-based) that update `step` finishes in.
    pub fn pass(&self, step: usize) -> usize {
        self.pass_ends.partition_point(|&end| end < step) + 1
    }

    /// The passes over the data the run makes (the last may be partial).
    pub fn passes(&self) -> usize {
        self.pass(self.total_steps)
    }

    /// `step S/T (pass P/Q)`.
    pub fn describe(&self, step: usize) -> String {
        format!(
            "step {step}/{} (pass {}/{})",
            self.total_steps,
            self.pass(step),
            self.passes()
        )
    }

    /// The dashboard's status lines for update `step`: the update and the pass, each out of
    /// its total.
    pub fn indicators(&self, step: usize) -> [(String, Progress); 2] {
        [
            ("Step".into(), Progress::new(step, self.total_steps)),
            ("Pass".into(), Progress::new(self.pass(step), self.passes())),
        ]
    }
}
