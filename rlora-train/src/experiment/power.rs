//! The experiment's statistical power: 95% confidence intervals of a mean over seeds
//! (Student's t), and the paired per-seed differences between two arms.
//!
//! For `n` values with mean `m` and sample standard deviation `s`, the interval is
//! `m ± t_{0.975, n−1} · s / √n`. A paired difference of arms `a − b` takes, per seed, `a`'s
//! macro average minus `b`'s on the same seed (same data, same data order) and gives the same
//! interval of their mean; it is *resolved* when that interval excludes 0.

use serde::Serialize;

use super::Arm;

/// `t_{0.975, df}` for `df = 1 … 30`.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The two-sided 95% quantile of Student's t with `df ≥ 1` degrees of freedom: the table up to
/// 30, beyond it the Cornish–Fisher expansion around `z = 1.95996` (error under 10⁻³).
pub fn t_quantile_975(df: usize) -> f64 {
    if (1..=30).contains(&df) {
        return T_975[df - 1];
    }
    let (z, n): (f64, f64) = (1.959_964, df as f64);
    z + (z.powi(3) + z) / (4.0 * n)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
}

/// The 95% confidence interval `(low, high)` of the mean of `values` (`None` with fewer than 2).
pub fn ci95(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile_975(n - 1) * (var / n as f64).sqrt();
    Some((mean - half, mean + half))
}

/// `arm − baseline` in macro average, paired by seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDifference {
    /// The arm.
    pub arm: Arm,
    /// The arm it is compared against.
    pub baseline: Arm,
    /// The seeds both ran, in order.
    pub seeds: Vec<u64>,
    /// Per seed: the arm's macro average minus the baseline's (fractions, not percent).
    pub differences: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// The 95% interval of the mean (`None` with one seed).
    pub ci95: Option<(f64, f64)>,
    /// How many seeds' differences have the sign of the mean (0 counts as disagreeing).
    pub seeds_agreeing: usize,
    /// Whether the interval excludes 0.
    pub resolved: bool,
}

impl PairedDifference {
    /// The paired difference of `(seed, value)` lists; seeds only one of them ran are left out.
    pub fn of(
        arm: Arm,
        baseline: Arm,
        values: &[(u64, f64)],
        baseline_values: &[(u64, f64)],
    ) -> Self {
        let (seeds, differences): (Vec<u64>, Vec<f64>) = values
            .iter()
            .filter_map(|&(seed, v)| {
                baseline_values
                    .iter()
                    .find(|(s, _)| *s == seed)
                    .map(|&(_, b)| (seed, v - b))
            })
            .unzip();
        let mean = differences.iter().sum::<f64>() / differences.len().max(1) as f64;
        let ci95 = ci95(&differences);
        let seeds_agreeing = differences
            .iter()
            .filter(|d| d.signum() == mean.signum() && **d != 0.0)
            .count();
        Self {
            arm,
            baseline,
            resolved: ci95.is_some_and(|(low, high)| low > 0.0 || high < 0.0),
            seeds,
            differences,
            mean,
            ci95,
            seeds_agreeing,
        }
    }
}
