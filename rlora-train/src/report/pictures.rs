//! Pictures of a run: loss curves read back from the Learner's metric logs, and head-similarity
//! heat maps of a model's adapters.

use std::path::{Path, PathBuf};

use burn::train::metric::store::Split;

use super::{PlotError, Series, heat_map_png, line_chart_png};
use crate::trainer::{HEAD_SIMILARITY, HeadSummary, head_similarity_modules, metric_history};

/// Draws `loss.png` (train and validation loss vs step) and `head_similarity.png` (over all
/// adapters, and per projection type) into `dir`, from the run's logs there.
pub fn training_curves(dir: &Path, steps_per_epoch: usize) -> Result<Vec<PathBuf>, PlotError> {
    let curve = |name: &str, split, metric: &str| Series {
        name: name.into(),
        points: metric_history(dir, split, metric, steps_per_epoch),
    };
    let loss = dir.join("loss.png");
    let losses = [
        curve("train", Split::Train, "Loss"),
        curve("validation", Split::Valid, "Loss"),
    ];
    let title = "cross-entropy per completion token";
    line_chart_png(&loss, title, "step", "loss", &losses)?;
    let mut heads = vec![curve("all adapters", Split::Train, HEAD_SIMILARITY)];
    for module in head_similarity_modules(dir) {
        let metric = format!("{HEAD_SIMILARITY} {module}");
        heads.push(curve(&module, Split::Train, &metric));
    }
    let similarity = dir.join("head_similarity.png");
    let title = "mean pairwise cosine similarity of the heads";
    line_chart_png(&similarity, title, "step", "cosine", &heads)?;
    Ok(vec![loss, similarity])
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
