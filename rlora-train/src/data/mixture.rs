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

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn_fractions(stream: &[(usize, usize)], tasks: usize) -> Vec<f64> {
        let mut counts = vec![0usize; tasks];
        for &(task, _) in stream {
            counts[task] += 1;
        }
        counts
            .iter()
            .map(|&c| c as f64 / stream.len() as f64)
            .collect()
    }

    #[test]
    fn each_mixing_meets_its_proportions_within_two_percent() {
        let sizes = [6000, 3000, 800, 200]; // 10k draws
        let cases = [
            (Mixing::Proportional, vec![0.6, 0.3, 0.08, 0.02]),
            (Mixing::Uniform, vec![0.25; 4]),
            (
                Mixing::Weights(vec![1.0, 1.0, 2.0, 0.0]),
                vec![0.25, 0.25, 0.5, 0.0],
            ),
        ];
        for (mixing, target) in cases {
            let stream = mix(&sizes, &mixing, 3).unwrap();
            assert_eq!(stream.len(), 10_000);
            for (got, want) in drawn_fractions(&stream, 4).iter().zip(&target) {
                assert!((got - want).abs() <= 0.02, "{mixing:?}: {got} vs {want}");
            }
        }
        let t = 2.0;
        let raw: Vec<f64> = sizes.iter().map(|&n| (n as f64).powf(1.0 / t)).collect();
        let sum: f64 = raw.iter().sum();
        let stream = mix(&sizes, &Mixing::Temperature(t), 3).unwrap();
        for (got, r) in drawn_fractions(&stream, 4).iter().zip(&raw) {
            assert!((got - r / sum).abs() <= 0.02);
        }
    }

    #[test]
    fn proportional_draws_every_example_once_and_seeds_fix_the_order() {
        let stream = mix(&[5, 3], &Mixing::Proportional, 1).unwrap();
        let mut sorted = stream.clone();
        sorted.sort();
        let all: Vec<(usize, usize)> = (0..5)
            .map(|i| (0, i))
            .chain((0..3).map(|i| (1, i)))
            .collect();
        assert_eq!(sorted, all);
        assert_eq!(stream, mix(&[5, 3], &Mixing::Proportional, 1).unwrap());
        assert_ne!(stream, mix(&[5, 3], &Mixing::Proportional, 2).unwrap());
    }

    #[test]
    fn bad_mixings_are_rejected() {
        assert!(Mixing::Weights(vec![1.0]).shares(&[1, 2]).is_err());
        assert!(Mixing::Weights(vec![-1.0, 2.0]).shares(&[1, 2]).is_err());
        assert!(Mixing::Temperature(0.0).shares(&[1, 2]).is_err());
        assert!(Mixing::Weights(vec![0.0, 0.0]).shares(&[1, 2]).is_err());
    }

    #[test]
    fn hold_out_is_disjoint_seeded_and_never_empties_the_train_split() {
        let (train, held) = hold_out(100, 0.1, 5);
        assert_eq!((train.len(), held.len()), (90, 10));
        assert!(held.iter().all(|i| !train.contains(i)));
        assert_eq!(hold_out(100, 0.1, 5), (train, held));
        assert_eq!(hold_out(2, 0.9, 0).0.len(), 1);
    }
}
