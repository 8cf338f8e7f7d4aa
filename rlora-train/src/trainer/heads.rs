//! How alike an adapter's heads are: [`head_summary`] of a model's adapters, by projection type.

use std::collections::BTreeMap;

use rlora_llama::Llama;
use rlora_llama::LlamaBackend;

/// Per projection type (`mlp.up_proj`, …), the heads' cosine-similarity matrix averaged over
/// layers, and each adapter's mean off-diagonal similarity by path.
pub struct HeadSummary {
    /// Module type → mean `N × N` matrix.
    pub by_module: BTreeMap<String, Vec<Vec<f64>>>,
    /// Adapter path → mean off-diagonal similarity.
    pub by_adapter: Vec<(String, Option<f64>)>,
}

/// The head similarities of every adapter of `model`.
pub fn head_summary<B: LlamaBackend>(model: &Llama<B>) -> HeadSummary {
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
pub(crate) fn mean_off_diagonal(matrix: &[Vec<f64>]) -> f64 {
    let n = matrix.len();
    let sum: f64 = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| matrix[i][j])
        .sum();
    sum / (n * n.saturating_sub(1)) as f64
}
