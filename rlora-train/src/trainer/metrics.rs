//! Training metrics on [`LmStats`]: token loss, per-task loss, tokens per second, the gradient
//! norm and head similarity.

use std::sync::Arc;
use std::time::Instant;

use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

use super::model::LmStats;

impl Adaptor<LmStats> for LmStats {
    fn adapt(&self) -> LmStats {
        self.clone()
    }
}

/// What a numeric metric measures in one step's stats: a value and the weight it carries.
pub trait StatsValue: Send + Sync + Clone {
    /// The value and its weight, or `None` when the step says nothing about it.
    fn measure(&mut self, stats: &LmStats) -> Option<(f64, usize)>;
}

/// A numeric metric computed from [`LmStats`].
#[derive(Clone)]
pub struct StatsMetric<V: StatsValue> {
    name: MetricName,
    unit: Option<&'static str>,
    higher_is_better: bool,
    value: V,
    state: NumericMetricState,
}

impl<V: StatsValue> StatsMetric<V> {
    fn new(name: String, unit: Option<&'static str>, higher_is_better: bool, value: V) -> Self {
        Self {
            name: Arc::new(name),
            unit,
            higher_is_better,
            value,
            state: NumericMetricState::new(),
        }
    }
}

impl<V: StatsValue> Metric for StatsMetric<V> {
    type Input = LmStats;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.unit.map(String::from),
            higher_is_better: self.higher_is_better,
        }
        .into()
    }

    fn update(&mut self, stats: &LmStats, _metadata: &MetricMetadata) -> SerializedEntry {
        let mut format = FormatOptions::new(self.name.clone()).precision(4);
        if let Some(unit) = self.unit {
            format = format.unit(unit);
        }
        match self.value.measure(stats) {
            Some((value, weight)) => self.state.update(value, weight.max(1), format),
            None => SerializedEntry::new(String::new(), String::new()),
        }
    }

    fn clear(&mut self) {
        self.state.reset();
    }
}

impl<V: StatsValue> Numeric for StatsMetric<V> {
    fn value(&self) -> NumericEntry {
        self.state.current_value()
    }

    fn running_value(&self) -> NumericEntry {
        self.state.running_value()
    }
}

/// Mean cross-entropy per completion token, optionally of one task only.
#[derive(Clone)]
pub struct TokenLoss {
    task: Option<usize>,
}

impl StatsValue for TokenLoss {
    fn measure(&mut self, stats: &LmStats) -> Option<(f64, usize)> {
        let (mut nll, mut count) = (0.0, 0.0);
        for ((n, c), task) in stats.nll.iter().zip(&stats.count).zip(&stats.tasks) {
            if self.task.is_none_or(|t| t == *task) {
                nll += n;
                count += c;
            }
        }
        (count > 0.0).then(|| (nll / count, count as usize))
    }
}

/// Counted tokens per second of wall time between updates. Each of an update's `devices` items
/// (one per device, which arrive together once the update is done) reports `devices × its
/// tokens / the update's time`, so that their mean, which the progress lines and the logs take,
/// is the update's tokens per second.
#[derive(Clone)]
pub struct TokensPerSecond {
    devices: usize,
    /// The items measured so far.
    items: usize,
    /// When the latest update's first item arrived.
    last: Option<Instant>,
    /// The latest update's time in seconds: between its first item and the one before.
    span: Option<f64>,
}

impl TokensPerSecond {
    /// The rate of an item with `tokens` counted tokens arriving at `now`.
    fn rate(&mut self, tokens: usize, now: Instant) -> Option<f64> {
        if self.items.is_multiple_of(self.devices) {
            self.span = self
                .last
                .map(|last| now.duration_since(last).as_secs_f64().max(1e-9));
            self.last = Some(now);
        }
        self.items += 1;
        self.span.map(|span| (self.devices * tokens) as f64 / span)
    }
}

impl StatsValue for TokensPerSecond {
    fn measure(&mut self, stats: &LmStats) -> Option<(f64, usize)> {
        self.rate(stats.tokens(), Instant::now())
            .map(|rate| (rate, 1))
    }
}

/// The adapters' mean off-diagonal head similarity: of one projection type, or the mean over
/// all of them.
#[derive(Clone)]
pub struct HeadSimilarityValue {
    module: Option<String>,
}

impl StatsValue for HeadSimilarityValue {
    fn measure(&mut self, stats: &LmStats) -> Option<(f64, usize)> {
        let values: Vec<f64> = stats
            .head_similarity
            .iter()
            .filter(|(module, _)| self.module.as_ref().is_none_or(|m| m == module))
            .map(|(_, value)| *value)
            .collect();
        (!values.is_empty()).then(|| (values.iter().sum::<f64>() / values.len() as f64, 1))
    }
}

/// The global L2 norm of an update's gradients, before clipping.
#[derive(Clone)]
pub struct GradientNorm;

impl StatsValue for GradientNorm {
    fn measure(&mut self, stats: &LmStats) -> Option<(f64, usize)> {
        stats.gradient_norm.map(|norm| (norm, 1))
    }
}

/// The name of the gradient-norm metric.
pub(crate) const GRADIENT_NORM: &str = "Gradient norm";

/// The global norm of each update's gradients, before clipping (Hugging Face's `grad_norm`).
pub fn gradient_norm_metric() -> StatsMetric<GradientNorm> {
    StatsMetric::new(GRADIENT_NORM.into(), None, false, GradientNorm)
}

/// The loss per completion token.
pub fn loss_metric() -> StatsMetric<TokenLoss> {
    StatsMetric::new("Loss".into(), None, false, TokenLoss { task: None })
}

/// The loss per completion token of task `task` (named `name`, made [`file_safe`]).
pub fn task_loss_metric(task: usize, name: &str) -> StatsMetric<TokenLoss> {
    StatsMetric::new(
        format!("Loss {}", file_safe(name)),
        None,
        false,
        TokenLoss { task: Some(task) },
    )
}

/// Completion tokens per second of a run on `devices` devices.
pub fn tokens_per_second_metric(devices: usize) -> StatsMetric<TokensPerSecond> {
    StatsMetric::new(
        "Tokens per second".into(),
        Some("tok/s"),
        true,
        TokensPerSecond {
            devices: devices.max(1),
            items: 0,
            last: None,
            span: None,
        },
    )
}

/// `name` with every character but letters, digits, `-` and `_` replaced by `_`: metric names
/// become file names in the run's log folder.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Mean head similarity of all adapters (`module` = `None`) or of one projection type
/// (`mlp.up_proj`, …), named `Head similarity` or `Head similarity mlp_up_proj`.
pub fn head_similarity_metric(module: Option<&str>) -> StatsMetric<HeadSimilarityValue> {
    let name = match module {
        Some(module) => format!("{HEAD_SIMILARITY} {}", file_safe(module)),
        None => HEAD_SIMILARITY.to_string(),
    };
    StatsMetric::new(
        name,
        None,
        false,
        HeadSimilarityValue {
            module: module.map(String::from),
        },
    )
}

/// The name of the head-similarity metric (of one module: this, a space, and the module).
pub(crate) const HEAD_SIMILARITY: &str = "Head similarity";

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::tokens_per_second_metric;

    #[test]
    fn the_items_of_an_update_on_two_devices_report_the_update_s_tokens_per_second() {
        let mut metric = tokens_per_second_metric(2).value;
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // Update 1 ends at 0 ms (nothing to measure from); update 2 takes 500 ms, its two items
        // 100 and 300 tokens: 800 tokens per second.
        assert_eq!(metric.rate(120, at(0)), None);
        assert_eq!(metric.rate(80, at(1)), None);
        let rates = [metric.rate(100, at(500)), metric.rate(300, at(502))];
        let mean = rates.iter().map(|r| r.unwrap()).sum::<f64>() / 2.0;
        assert!((mean - 800.0).abs() < 1e-9, "{rates:?}");
        // One device: tokens over the time since the previous item.
        let mut metric = tokens_per_second_metric(1).value;
        assert_eq!(metric.rate(10, at(0)), None);
        assert_eq!(metric.rate(50, at(250)), Some(200.0));
    }
}
