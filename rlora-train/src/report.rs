//! Pictures of a run: loss curves read back from the Learner's metric logs, and head-similarity
//! heat maps of a model's adapters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use rlora_llama::Llama;

use crate::metrics::HEAD_SIMILARITY;
use crate::plot::{PlotError, Series, heat_map_png, line_chart_png};

/// The values of metric `name` in split `split` (`train` or `valid`) of the run in `dir`, one
/// per logged step: `(step, value)` with steps counted across epochs of `steps_per_epoch`.
/// Validation values are averaged per epoch and placed at the epoch's last step.
pub fn metric_history(
    dir: &Path,
    split: &str,
    name: &str,
    steps_per_epoch: usize,
) -> Vec<(f64, f64)> {
    let file = format!("{}.log", name.replace(' ', "_"));
    let mut history = Vec::new();
    for epoch in 1.. {
        let Ok(text) =
            std::fs::read_to_string(dir.join(split).join(format!("epoch-{epoch}")).join(&file))
        else {
            break;
        };
        let entries: Vec<(f64, f64)> = text
            .lines()
            .filter_map(|line| {
                let (value, count) = line.split_once(',')?;
                Some((value.parse().ok()?, count.parse().ok()?))
            })
            .filter(|(value, _): &(f64, f64)| value.is_finite())
            .collect();
        let first_step = (epoch - 1) * steps_per_epoch;
        if split == "valid" {
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

/// The projection types (file-safe: `mlp_up_proj`) whose head similarity the run in `dir` logged.
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

/// Draws `loss.png` (train and validation loss vs step) and `head_similarity.png` into `dir`.
pub fn training_curves(dir: &Path, steps_per_epoch: usize) -> Result<Vec<PathBuf>, PlotError> {
    let loss = dir.join("loss.png");
    line_chart_png(
        &loss,
        "cross-entropy per completion token",
        "step",
        "loss",
        &[
            Series {
                name: "train".into(),
                points: metric_history(dir, "train", "Loss", steps_per_epoch),
            },
            Series {
                name: "validation".into(),
                points: metric_history(dir, "valid", "Loss", steps_per_epoch),
            },
        ],
    )?;
    let similarity = dir.join("head_similarity.png");
    let mut series = vec![Series {
        name: "all adapters".into(),
        points: metric_history(dir, "train", HEAD_SIMILARITY, steps_per_epoch),
    }];
    for module in head_similarity_modules(dir) {
        series.push(Series {
            points: metric_history(
                dir,
                "train",
                &format!("{HEAD_SIMILARITY} {module}"),
                steps_per_epoch,
            ),
            name: module,
        });
    }
    line_chart_png(
        &similarity,
        "mean pairwise cosine similarity of the heads",
        "step",
        "cosine",
        &series,
    )?;
    Ok(vec![loss, similarity])
}

/// Per projection type (`mlp.up_proj`, …), the heads' cosine-similarity matrix averaged over
/// layers, and each adapter's mean off-diagonal similarity by path.
pub struct HeadSummary {
    /// Module type → mean `N × N` matrix.
    pub by_module: BTreeMap<String, Vec<Vec<f64>>>,
    /// Adapter path → mean off-diagonal similarity.
    pub by_adapter: Vec<(String, Option<f64>)>,
}

/// The head similarities of every adapter of `model`.
pub fn head_summary<B: Backend>(model: &Llama<B>) -> HeadSummary {
    let mut sums: BTreeMap<String, (Vec<Vec<f64>>, usize)> = BTreeMap::new();
    let mut by_adapter = Vec::new();
    for (path, adapter) in model.adapters() {
        let similarity = adapter.head_similarity();
        let module = module_type(&path).to_string();
        let entry = sums.entry(module).or_insert_with(|| {
            (
                vec![vec![0.0; similarity.matrix.len()]; similarity.matrix.len()],
                0,
            )
        });
        for (row, add) in entry.0.iter_mut().zip(&similarity.matrix) {
            for (v, a) in row.iter_mut().zip(add) {
                *v += a;
            }
        }
        entry.1 += 1;
        by_adapter.push((path, similarity.mean_off_diagonal));
    }
    let by_module = sums
        .into_iter()
        .map(|(module, (sum, n))| {
            (
                module,
                sum.into_iter()
                    .map(|row| row.into_iter().map(|v| v / n as f64).collect())
                    .collect(),
            )
        })
        .collect();
    HeadSummary {
        by_module,
        by_adapter,
    }
}

/// The projection type of an adapter path: `mlp.up_proj` for `model.layers.3.mlp.up_proj`.
pub fn module_type(path: &str) -> &str {
    path.splitn(4, '.').nth(3).unwrap_or(path)
}

/// The mean of the off-diagonal entries of a square matrix (NaN for 1 × 1).
pub fn mean_off_diagonal(matrix: &[Vec<f64>]) -> f64 {
    let n = matrix.len();
    let sum: f64 = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| matrix[i][j])
        .sum();
    sum / (n * n.saturating_sub(1)) as f64
}

/// One heat map per projection type, `heads_<module>.png` in `dir`.
pub fn head_heat_maps(summary: &HeadSummary, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    for (module, matrix) in &summary.by_module {
        let labels: Vec<String> = (0..matrix.len()).map(|i| format!("head {i}")).collect();
        let path = dir.join(format!("heads_{}.png", module.replace('.', "_")));
        heat_map_png(
            &path,
            &format!("{module}: head cosine similarity, mean over layers"),
            matrix,
            &labels,
            &labels,
            (-1.0, 1.0),
        )?;
        written.push(path);
    }
    Ok(written)
}
