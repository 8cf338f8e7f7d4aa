//! [`RunMetricLogger`]: burn's file metric logger, with the epochs of a resumed run numbered as
//! the uninterrupted run numbers them.
//!
//! burn 0.21's event store numbers the epochs it logs from 1 in every process, until its first
//! epoch ends, whatever epoch the Learner resumed at: a run resumed after the checkpoint of epoch
//! `c` logged its first epoch, `c + 1`, into `train/epoch-1` (over the first epoch's log) and
//! correctly from `c + 2` on. This logger writes what it is given for an epoch before
//! `first_epoch` into `first_epoch` instead, so every step is logged once, where it belongs.

use std::path::Path;

use burn::train::logger::{FileMetricLogger, MetricLogger};
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, NumericEntry};

/// A [`FileMetricLogger`] in a run's folder whose first epoch (in this process) is `first_epoch`.
pub struct RunMetricLogger {
    inner: FileMetricLogger,
    first_epoch: usize,
}

impl RunMetricLogger {
    /// Logs under `dir` (`train/epoch-N`, `valid/epoch-N`), the first epoch being `first_epoch`
    /// (1, or the checkpoint's epoch + 1 when resuming).
    pub fn new(dir: &Path, first_epoch: usize) -> Self {
        Self {
            inner: FileMetricLogger::new(dir),
            first_epoch,
        }
    }
}

impl MetricLogger for RunMetricLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        self.inner.log(update, epoch.max(self.first_epoch), split);
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        self.inner.read_numeric(name, epoch, split)
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.inner.log_metric_definition(definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        self.inner.log_epoch_summary(summary);
    }
}
