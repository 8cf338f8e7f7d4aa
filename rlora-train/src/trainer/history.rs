//! The metrics a run's Learner logged, read back with burn's own [`FileMetricLogger`].

use std::path::Path;

use burn::train::logger::{FileMetricLogger, MetricLogger};
use burn::train::metric::NumericEntry;
use burn::train::metric::store::Split;

use super::metrics::HEAD_SIMILARITY;

/// How a run's metric logs map to optimizer updates: burn logs one training entry per device
/// and update, in Learner epochs of `steps_per_epoch` updates (the checkpoint interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLayout {
    /// Updates per Learner epoch.
    pub steps_per_epoch: usize,
    /// Training entries per update: the devices.
    pub devices: usize,
}

impl LogLayout {
    /// The logs of a run on one device.
    pub fn single(steps_per_epoch: usize) -> Self {
        Self::new(steps_per_epoch, 1)
    }

    /// The logs of a run on `devices` devices.
    pub fn new(steps_per_epoch: usize, devices: usize) -> Self {
        Self {
            steps_per_epoch,
            devices: devices.max(1),
        }
    }
}

/// The values of metric `name` in split `split` of the run in `dir`, one per optimizer update:
/// `(step, value)`, the devices' entries of an update averaged (weighted by their counts).
/// Validation values ([`Split::Valid`]) are averaged per epoch and placed at the epoch's last
/// step. Values that are not finite are left out.
pub fn metric_history(dir: &Path, split: Split, name: &str, layout: LogLayout) -> Vec<(f64, f64)> {
    let mut history = Vec::new();
    for (epoch, entries) in logged_epochs(dir, &split, name) {
        let first_step = (epoch - 1) * layout.steps_per_epoch;
        if matches!(split, Split::Valid) {
            if let Some(mean) = weighted_mean(&entries) {
                history.push(((first_step + layout.steps_per_epoch) as f64, mean));
            }
        } else {
            history.extend(
                entries
                    .chunks(layout.devices)
                    .enumerate()
                    .filter_map(|(i, update)| {
                        Some(((first_step + i + 1) as f64, weighted_mean(update)?))
                    }),
            );
        }
    }
    history
}

/// The count-weighted mean of the finite `(value, count)` entries, if there are any.
fn weighted_mean(entries: &[(f64, f64)]) -> Option<f64> {
    let (sum, count) = entries
        .iter()
        .filter(|(value, _)| value.is_finite())
        .fold((0.0, 0.0), |(s, c), (v, n)| (s + v * n, c + n));
    (count > 0.0).then(|| sum / count)
}

/// The first optimizer update at which the training split of the run in `dir` logged a value of
/// metric `name` that is not finite, if any.
pub(crate) fn non_finite_step(dir: &Path, name: &str, layout: LogLayout) -> Option<usize> {
    logged_epochs(dir, &Split::Train, name)
        .into_iter()
        .find_map(|(epoch, entries)| {
            let index = entries.iter().position(|(value, _)| !value.is_finite())?;
            Some((epoch - 1) * layout.steps_per_epoch + index / layout.devices + 1)
        })
}

/// The last optimizer update for which the training split of the run in `dir` logged metric
/// `name`, if any: the update a stopped run stopped at.
pub fn last_logged_step(dir: &Path, name: &str, layout: LogLayout) -> Option<usize> {
    let (epoch, entries) = logged_epochs(dir, &Split::Train, name)
        .into_iter()
        .rev()
        .find(|(_, entries)| !entries.is_empty())?;
    Some((epoch - 1) * layout.steps_per_epoch + entries.len().div_ceil(layout.devices))
}

/// Every logged epoch of metric `name` in `split` (from 1 up to the first missing epoch folder),
/// with its entries as `(value, count)`.
fn logged_epochs(dir: &Path, split: &Split, name: &str) -> Vec<(usize, Vec<(f64, f64)>)> {
    let mut logger = FileMetricLogger::new(dir);
    let mut epochs = Vec::new();
    for epoch in 1.. {
        if !dir
            .join(split.to_string())
            .join(format!("epoch-{epoch}"))
            .is_dir()
        {
            break;
        }
        let entries = logger
            .read_numeric(name, epoch, split)
            .unwrap_or_default()
            .iter()
            .map(|entry| match entry {
                NumericEntry::Value(value) => (*value, 1.0),
                NumericEntry::Aggregated {
                    aggregated_value,
                    count,
                } => (*aggregated_value, *count as f64),
            })
            .collect();
        epochs.push((epoch, entries));
    }
    epochs
}

/// The projection types (file-safe: `mlp_up_proj`) whose head similarity the run in `dir` logged
/// (the names of its `Head similarity <module>` metrics).
pub(crate) fn head_similarity_modules(dir: &Path) -> Vec<String> {
    let prefix = format!("{}_", HEAD_SIMILARITY.replace(' ', "_"));
    let Ok(entries) = std::fs::read_dir(dir.join("train").join("epoch-1")) else {
        return Vec::new();
    };
    let mut modules: Vec<String> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some(
                name.strip_prefix(&prefix)?
                    .strip_suffix(".log")?
                    .to_string(),
            )
        })
        .collect();
    modules.sort();
    modules
}
