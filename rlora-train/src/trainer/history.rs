//! The metrics a run's Learner logged, read back with burn's own [`FileMetricLogger`].

use std::path::Path;

use burn::train::logger::{FileMetricLogger, MetricLogger};
use burn::train::metric::NumericEntry;
use burn::train::metric::store::Split;

use super::metrics::HEAD_SIMILARITY;

/// The values of metric `name` in split `split` of the run in `dir`, one per logged step:
/// `(step, value)` with steps counted across epochs of `steps_per_epoch`. Validation values
/// ([`Split::Valid`]) are averaged per epoch (weighted by their counts) and placed at the
/// epoch's last step. Values that are not finite are left out.
pub fn metric_history(
    dir: &Path,
    split: Split,
    name: &str,
    steps_per_epoch: usize,
) -> Vec<(f64, f64)> {
    let mut history = Vec::new();
    for (epoch, entries) in logged_epochs(dir, &split, name) {
        let entries: Vec<(f64, f64)> = entries
            .into_iter()
            .filter(|(value, _)| value.is_finite())
            .collect();
        let first_step = (epoch - 1) * steps_per_epoch;
        if matches!(split, Split::Valid) {
            let (sum, count) = entries
                .iter()
                .fold((0.0, 0.0), |(s, c), (v, n)| (s + v * n, c + n));
            if count > 0.0 {
                history.push(((first_step + steps_per_epoch) as f64, sum / count));
            }
        } else {
            history.extend(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (v, _))| ((first_step + i + 1) as f64, *v)),
            );
        }
    }
    history
}

/// The first step (counted as in [`metric_history`]) at which the training split of the run in
/// `dir` logged a value of metric `name` that is not finite, if any.
pub fn non_finite_step(dir: &Path, name: &str, steps_per_epoch: usize) -> Option<usize> {
    logged_epochs(dir, &Split::Train, name)
        .into_iter()
        .find_map(|(epoch, entries)| {
            let index = entries.iter().position(|(value, _)| !value.is_finite())?;
            Some((epoch - 1) * steps_per_epoch + index + 1)
        })
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
pub fn head_similarity_modules(dir: &Path) -> Vec<String> {
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
