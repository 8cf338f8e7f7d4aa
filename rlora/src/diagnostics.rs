//! Head diagnostics: how alike the heads are, and how the router spreads tokens over them.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::layer::RLoraLinear;

/// The pairwise cosine similarity of the heads, flattened to vectors of `rank · d_output`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSimilarity {
    /// `matrix[i][j] = cos(B_i, B_j)`, `N × N`. A zero head has similarity 0 with every head.
    pub matrix: Vec<Vec<f64>>,
    /// The mean of the off-diagonal entries (the paper's diversity measure: lower means more
    /// diverse heads); `None` with a single head.
    pub mean_off_diagonal: Option<f64>,
}

/// How a batch is routed over the heads.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingStats {
    /// The mean gate of each head over all tokens (sums to 1).
    pub mean_gate: Vec<f64>,
    /// The mean over tokens of the routing entropy `−Σ_i g_i ln g_i`, in nats
    /// (0: one head takes everything; `ln N`: uniform).
    pub mean_entropy: f64,
}

impl HeadSimilarity {
    /// From the row-major `heads × heads` cosine matrix (see [`RLoraLinear::head_cosine`]).
    pub fn from_matrix(values: &[f64], heads: usize) -> Self {
        let matrix: Vec<Vec<f64>> = values.chunks(heads).map(<[f64]>::to_vec).collect();
        let mean_off_diagonal = (heads > 1).then(|| {
            let off: f64 = (0..heads)
                .flat_map(|i| (0..heads).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| matrix[i][j])
                .sum();
            off / (heads * (heads - 1)) as f64
        });
        Self {
            matrix,
            mean_off_diagonal,
        }
    }
}

impl<B: Backend> RLoraLinear<B> {
    /// The `N × N` cosine-similarity matrix of the heads and its mean off-diagonal value.
    pub fn head_similarity(&self) -> HeadSimilarity {
        let values: Vec<f64> = self
            .head_cosine()
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("a converted f64 tensor reads as f64");
        HeadSimilarity::from_matrix(&values, self.config.heads)
    }

    /// `cos(B_i, B_j)` as an `[N, N]` tensor on the layer's device, for reading later (or
    /// together with other tensors) without waiting on the device now.
    pub fn head_cosine(&self) -> Tensor<B, 2> {
        let heads = self.config.heads;
        let flat: Tensor<B, 2> = self.heads().reshape([heads as i64, -1]).detach();
        let norms = flat
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12); // [N, 1]
        let unit = flat / norms;
        unit.clone().matmul(unit.transpose())
    }

    /// The mean gate per head and the mean routing entropy over all tokens of `x: [..., d_input]`.
    pub fn routing_stats<const D: usize>(&self, x: Tensor<B, D>) -> RoutingStats {
        let heads = self.config.heads;
        let gates: Tensor<B, 2> = self.gates(x.detach()).reshape([-1, heads as i64]); // [T, N]
        let entropy = (gates.clone() * gates.clone().clamp_min(1e-30).log())
            .sum_dim(1)
            .neg()
            .mean();
        let mean_gate = gates.mean_dim(0);
        let read = |t: Tensor<B, 2>| -> Vec<f64> {
            t.into_data()
                .convert::<f64>()
                .to_vec()
                .expect("a converted f64 tensor reads as f64")
        };
        RoutingStats {
            mean_gate: read(mean_gate),
            mean_entropy: read(entropy.unsqueeze())[0],
        }
    }
}
