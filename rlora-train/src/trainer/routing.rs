//! Which heads each task uses: [`routing_analysis`] runs a model's real forward pass over each
//! task's examples and reads every adapted projection's router gates `g = softmax(x R)`.
//!
//! For task `t`, projection `p` and head `i`, the mean gate is
//! `ḡ_{t,p,i} = mean_examples mean_{counted positions} g_i(x_p)`: the positions whose outputs
//! the loss counts (those that predict the completion and EOS), averaged per example first so
//! every example weighs the same. The routing entropy of a task is the mean over the same
//! positions of `H(g) = −Σ_i g_i ln g_i` (nats, at most `ln N`). The task separation of a layer
//! is the mean over its multi-head projections of the mean pairwise Jensen–Shannon divergence
//! `JS(ḡ_t, ḡ_u) = ½ KL(ḡ_t ‖ m) + ½ KL(ḡ_u ‖ m)`, `m = (ḡ_t + ḡ_u)/2`, between the tasks'
//! mean routings (nats, 0 when every task routes alike, at most `ln 2`).

use std::collections::BTreeMap;

use burn::tensor::{Int, Tensor, TensorData};
use rlora_llama::{Llama, LlamaError};
use serde::{Deserialize, Serialize};

use super::heads::module_type;
use crate::data::TokenizedExample;
use rlora_llama::LlamaBackend;

/// Rows per forward pass of the analysis.
const ROWS_PER_PASS: usize = 16;

/// One adapted projection's routing per task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectionRouting {
    /// Its path, `model.layers.3.mlp.up_proj`.
    pub path: String,
    /// The decoder layer.
    pub layer: usize,
    /// The projection type, `mlp.up_proj`.
    pub module: String,
    /// `[task][head]`: each task's mean gate per head (each row sums to 1).
    pub mean_gates: Vec<Vec<f64>>,
    /// Per task: the mean per-position routing entropy, in nats.
    pub entropy: Vec<f64>,
    /// The mean pairwise Jensen–Shannon divergence of the tasks' mean routings, in nats.
    pub separation: f64,
}

/// The routing of every adapted projection over a set of tasks; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingAnalysis {
    /// The task names, in the order of every per-task list.
    pub tasks: Vec<String>,
    /// The examples (with at least one counted position) analysed per task.
    pub examples: Vec<usize>,
    /// Every adapted projection with more than one head, in layer order.
    pub projections: Vec<ProjectionRouting>,
    /// Per task: the routing entropy, mean over projections (nats).
    pub entropy: Vec<f64>,
    /// Per layer (that has multi-head adapters): the task separation, mean over its projections.
    pub separation_by_layer: BTreeMap<usize, f64>,
    /// The task separation, mean over layers (0 with fewer than two tasks).
    pub separation: f64,
}

impl RoutingAnalysis {
    /// Projection type → `[task][head]` mean gates, averaged over layers.
    pub fn by_module(&self) -> BTreeMap<String, Vec<Vec<f64>>> {
        let mut sums: BTreeMap<String, (Vec<Vec<f64>>, usize)> = BTreeMap::new();
        for projection in &self.projections {
            let entry = sums
                .entry(projection.module.clone())
                .or_insert_with(|| (zeros_like(&projection.mean_gates), 0));
            add_into(&mut entry.0, &projection.mean_gates);
            entry.1 += 1;
        }
        sums.into_iter()
            .map(|(module, (sum, n))| (module, scale(sum, 1.0 / n as f64)))
            .collect()
    }

    /// Path → the mean gates of task `task` (its index in [`tasks`](Self::tasks)): the routing
    /// to merge that task's model under.
    pub fn task_routing(&self, task: usize) -> BTreeMap<String, Vec<f64>> {
        self.projections
            .iter()
            .map(|p| (p.path.clone(), p.mean_gates[task].clone()))
            .collect()
    }
}

/// Per (layer, path): the projection type and, per task, the sums over examples of the mean
/// gates and of the mean entropy.
type Sums = (String, Vec<(Vec<f64>, f64)>);

/// The routing of `model`'s multi-head adapters over `tasks` (name, tokenized examples), from
/// the model's forward pass. Errors when a task has no example with a counted position.
pub fn routing_analysis<B: LlamaBackend>(
    model: &Llama<B>,
    tasks: &[(String, Vec<TokenizedExample>)],
) -> Result<RoutingAnalysis, LlamaError> {
    let mut sums: BTreeMap<(usize, String), Sums> = BTreeMap::new();
    let mut examples = Vec::with_capacity(tasks.len());
    for (t, (name, rows)) in tasks.iter().enumerate() {
        let rows: Vec<&TokenizedExample> = rows.iter().filter(|r| !counted(r).is_empty()).collect();
        if rows.is_empty() {
            return Err(LlamaError::InvalidArgument(format!(
                "task `{name}` has no example with a completion to analyse the routing on"
            )));
        }
        examples.push(rows.len());
        for chunk in rows.chunks(ROWS_PER_PASS) {
            for gates in model.routing(padded_tokens(chunk, model), None) {
                let [_, seq, heads] = gates.gates.dims();
                if heads < 2 {
                    continue;
                }
                let values: Vec<f32> =
                    gates
                        .gates
                        .into_data()
                        .convert::<f32>()
                        .to_vec()
                        .map_err(|e| {
                            LlamaError::InvalidArgument(format!("reading the gates: {e:?}"))
                        })?;
                let entry = sums
                    .entry((gates.layer, gates.path.clone()))
                    .or_insert_with(|| {
                        (
                            module_type(&gates.path).to_string(),
                            vec![(vec![0.0; heads], 0.0); tasks.len()],
                        )
                    });
                for (row, example) in chunk.iter().enumerate() {
                    let (mean, entropy) =
                        example_routing(&values, row, seq, heads, counted(example));
                    add_into_row(&mut entry.1[t].0, &mean);
                    entry.1[t].1 += entropy;
                }
            }
        }
    }
    let projections: Vec<ProjectionRouting> = sums
        .into_iter()
        .map(|((layer, path), (module, per_task))| {
            let (mean_gates, entropy): (Vec<Vec<f64>>, Vec<f64>) = per_task
                .into_iter()
                .zip(&examples)
                .map(|((gates, entropy), &n)| {
                    (
                        gates.iter().map(|g| g / n as f64).collect(),
                        entropy / n as f64,
                    )
                })
                .unzip();
            ProjectionRouting {
                separation: mean_pairwise_js(&mean_gates),
                path,
                layer,
                module,
                mean_gates,
                entropy,
            }
        })
        .collect();
    Ok(summarize(
        tasks.iter().map(|t| t.0.clone()).collect(),
        examples,
        projections,
    ))
}

/// The per-task and per-layer means of `projections`.
fn summarize(
    tasks: Vec<String>,
    examples: Vec<usize>,
    projections: Vec<ProjectionRouting>,
) -> RoutingAnalysis {
    let n = projections.len().max(1) as f64;
    let entropy = (0..tasks.len())
        .map(|t| projections.iter().map(|p| p.entropy[t]).sum::<f64>() / n)
        .collect();
    let mut by_layer: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for p in &projections {
        let entry = by_layer.entry(p.layer).or_default();
        entry.0 += p.separation;
        entry.1 += 1;
    }
    let separation_by_layer: BTreeMap<usize, f64> = by_layer
        .into_iter()
        .map(|(layer, (sum, count))| (layer, sum / count as f64))
        .collect();
    let separation =
        separation_by_layer.values().sum::<f64>() / separation_by_layer.len().max(1) as f64;
    RoutingAnalysis {
        tasks,
        examples,
        projections,
        entropy,
        separation_by_layer,
        separation,
    }
}

/// The positions whose outputs the loss counts: `prompt_len − 1 .. len − 1` (each predicts a
/// completion token or EOS).
fn counted(example: &TokenizedExample) -> std::ops::Range<usize> {
    example.prompt_len.saturating_sub(1)..example.tokens.len().saturating_sub(1)
}

/// `[rows, longest]` token ids, right-padded with id 0: causal
/// attention keeps the padding out of the real positions' gates.
fn padded_tokens<B: LlamaBackend>(
    rows: &[&TokenizedExample],
    model: &Llama<B>,
) -> Tensor<B, 2, Int> {
    let longest = rows.iter().map(|r| r.tokens.len()).max().unwrap_or(1);
    let mut ids = Vec::with_capacity(rows.len() * longest);
    for row in rows {
        ids.extend(row.tokens.iter().map(|&t| t as i64));
        ids.extend(std::iter::repeat_n(0, longest - row.tokens.len()));
    }
    let device = model.embed_tokens.weight.device();
    Tensor::from_data(TensorData::new(ids, [rows.len(), longest]), &device)
}

/// Row `row`'s mean gates and mean entropy over `positions`, from `[rows, seq, heads]` values.
fn example_routing(
    values: &[f32],
    row: usize,
    seq: usize,
    heads: usize,
    positions: std::ops::Range<usize>,
) -> (Vec<f64>, f64) {
    let count = positions.len() as f64;
    let mut mean = vec![0.0; heads];
    let mut entropy_sum = 0.0;
    for position in positions {
        let start = (row * seq + position) * heads;
        let gates: Vec<f64> = values[start..start + heads]
            .iter()
            .map(|&g| g as f64)
            .collect();
        entropy_sum += entropy(&gates);
        add_into_row(&mut mean, &gates);
    }
    (
        mean.into_iter().map(|g| g / count).collect(),
        entropy_sum / count,
    )
}

/// The Shannon entropy `−Σ p_i ln p_i` of a distribution, in nats (`0 ln 0 = 0`).
pub fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.ln())
        .sum::<f64>()
}

/// The Jensen–Shannon divergence of two distributions, in nats: `½ KL(p ‖ m) + ½ KL(q ‖ m)`,
/// `m = (p + q)/2`; symmetric, 0 for equal ones, `ln 2` for disjoint ones.
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    let kl_to_mid = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .filter(|&(&x, _)| x > 0.0)
            .map(|(&x, &y)| x * (2.0 * x / (x + y)).ln())
            .sum()
    };
    0.5 * kl_to_mid(p, q) + 0.5 * kl_to_mid(q, p)
}

/// The mean Jensen–Shannon divergence over the pairs of `distributions` (0 with fewer than 2).
pub fn mean_pairwise_js(distributions: &[Vec<f64>]) -> f64 {
    let n = distributions.len();
    if n < 2 {
        return 0.0;
    }
    let mut sum = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            sum += js_divergence(&distributions[i], &distributions[j]);
        }
    }
    sum / (n * (n - 1) / 2) as f64
}

fn zeros_like(matrix: &[Vec<f64>]) -> Vec<Vec<f64>> {
    matrix.iter().map(|row| vec![0.0; row.len()]).collect()
}

fn add_into(sum: &mut [Vec<f64>], add: &[Vec<f64>]) {
    for (row, add) in sum.iter_mut().zip(add) {
        add_into_row(row, add);
    }
}

fn add_into_row(sum: &mut [f64], add: &[f64]) {
    for (s, a) in sum.iter_mut().zip(add) {
        *s += a;
    }
}

fn scale(matrix: Vec<Vec<f64>>, factor: f64) -> Vec<Vec<f64>> {
    matrix
        .into_iter()
        .map(|row| row.into_iter().map(|v| v * factor).collect())
        .collect()
}
