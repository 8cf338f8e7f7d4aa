//! Pictures of a run: loss curves read back from the Learner's metric logs, and head-similarity
//! heat maps of a model's adapters.

use std::path::{Path, PathBuf};

use burn::train::metric::store::Split;

use super::{PlotError, Series, heat_map_png, line_chart_png};
use crate::trainer::{
    HEAD_SIMILARITY, HeadSummary, LogLayout, RoutingAnalysis, head_similarity_modules,
    metric_history,
};

/// Draws `loss.png` (train and validation loss vs step) and `head_similarity.png` (over all
/// adapters, and per projection type) into `dir`, from the run's logs there.
pub fn training_curves(dir: &Path, layout: LogLayout) -> Result<Vec<PathBuf>, PlotError> {
    let curve = |name: &str, split, metric: &str| Series {
        name: name.into(),
        points: metric_history(dir, split, metric, layout),
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

/// The routing heat maps: per projection type, `routing_<module>.png` (tasks × heads, the mean
/// gate averaged over layers); with `per_layer`, also `routing_layer<L>_<module>.png` per
/// adapted projection.
pub fn routing_heat_maps(
    analysis: &RoutingAnalysis,
    dir: &Path,
    per_layer: bool,
) -> Result<Vec<PathBuf>, PlotError> {
    let mut maps: Vec<(String, String, Vec<Vec<f64>>)> = analysis
        .by_module()
        .into_iter()
        .map(|(module, matrix)| {
            let title = format!("{module}: mean gate per task, mean over layers");
            (
                format!("routing_{}.png", module.replace('.', "_")),
                title,
                matrix,
            )
        })
        .collect();
    if per_layer {
        maps.extend(analysis.projections.iter().map(|p| {
            (
                format!(
                    "routing_layer{}_{}.png",
                    p.layer,
                    p.module.replace('.', "_")
                ),
                format!("{}: mean gate per task", p.path),
                p.mean_gates.clone(),
            )
        }));
    }
    let mut written = Vec::with_capacity(maps.len());
    for (file, title, matrix) in maps {
        let heads: Vec<String> = (0..matrix.first().map_or(0, Vec::len))
            .map(|i| format!("head {i}"))
            .collect();
        let path = dir.join(file);
        heat_map_png(&path, &title, &matrix, &analysis.tasks, &heads, (0.0, 1.0))?;
        written.push(path);
    }
    Ok(written)
}
