//! Mixing tasks into one training stream: how many examples each task contributes, and a
//! deterministic order.
//!
//! With `n_i` examples in task `i` and `N = Σ n_i`, task `i` contributes `N · share_i` draws:
//! `proportional` `share_i = n_i / N` (every example once), `uniform` `1/k`, `temperature T`
//! `∝ n_i^(1/T)`, `weights` `∝ w_i`. A task drawn more often than it has examples cycles
//! through reshuffled copies of itself; less often, a random subset.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How the tasks' shares of the training stream are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mixing {
    /// Every example once: shares proportional to task sizes.
    Proportional,
    /// Equal shares.
    Uniform,
    /// Shares `∝ n_i^(1/T)`: T = 1 is proportional, large T approaches uniform.
    Temperature(f64),
    /// Explicit relative weights, one per task.
    Weights(Vec<f64>),
}

impl std::fmt::Display for Mixing {
    /// The `--mixing` form: `proportional`, `uniform`, `temperature:T`, `weights:W1,W2,…`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Proportional => f.write_str("proportional"),
            Self::Uniform => f.write_str("uniform"),
            Self::Temperature(t) => write!(f, "temperature:{t}"),
            Self::Weights(w) => {
                let weights: Vec<String> = w.iter().map(f64::to_string).collect();
                write!(f, "weights:{}", weights.join(","))
            }
        }
    }
}

impl Mixing {
    /// Each task's share of the stream (sums to 1).
    pub fn shares(&self, sizes: &[usize]) -> Result<Vec<f64>, String> {
        let raw: Vec<f64> = match self {
            Self::Proportional => sizes.iter().map(|&n| n as f64).collect(),
            Self::Uniform => vec![1.0; sizes.len()],
            Self::Temperature(t) => {
                if !(t.is_finite() && *t > 0.0) {
                    return Err(format!("mixing temperature must be positive, got {t}"));
                }
                sizes.iter().map(|&n| (n as f64).powf(1.0 / t)).collect()
            }
            Self::Weights(w) => {
                if w.len() != sizes.len() {
                    return Err(format!(
                        "{} mixing weights for {} tasks",
                        w.len(),
                        sizes.len()
                    ));
                }
                if w.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
                    return Err(format!("mixing weights must be finite and ≥ 0, got {w:?}"));
                }
                w.clone()
            }
        };
        let total: f64 = raw.iter().sum();
        if total <= 0.0 {
            return Err("the mixing shares are all zero".into());
        }
        Ok(raw.iter().map(|r| r / total).collect())
    }
}

/// The stream of `(task, example index)` pairs for one pass: `Σ n_i` draws split by the
/// shares, in a seeded random order.
pub fn mix(sizes: &[usize], mixing: &Mixing, seed: u64) -> Result<Vec<(usize, usize)>, String> {
    let shares = mixing.shares(sizes)?;
    let total: usize = sizes.iter().sum();
    let counts = apportion(&shares, total);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stream = Vec::with_capacity(total);
    for (task, (&n, &count)) in sizes.iter().zip(&counts).enumerate() {
        if n == 0 {
            continue;
        }
        let mut order: Vec<usize> = (0..n).collect();
        let mut drawn = 0;
        while drawn < count {
            order.shuffle(&mut rng);
            let take = (count - drawn).min(n);
            stream.extend(order[..take].iter().map(|&i| (task, i)));
            drawn += take;
        }
    }
    stream.shuffle(&mut rng);
    Ok(stream)
}

/// Splits `total` into integer counts proportional to `shares` (largest remainders).
fn apportion(shares: &[f64], total: usize) -> Vec<usize> {
    let exact: Vec<f64> = shares.iter().map(|s| s * total as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let missing = total - counts.iter().sum::<usize>();
    for &i in order.iter().take(missing) {
        counts[i] += 1;
    }
    counts
}

/// A seeded split of `n` indices into (train, held out), holding out `fraction` (at least one
/// when `n > 1`).
pub fn hold_out(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let held = if n > 1 {
        ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
    } else {
        0
    };
    let train = order.split_off(held);
    (train, order)
}
