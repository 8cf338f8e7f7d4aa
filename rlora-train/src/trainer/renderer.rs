//! [`ProgressLines`]: plain progress lines for logs and pipes (the TUI dashboard is used when
//! stdout is a terminal).

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;

use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};

use super::step_count::StepCount;

/// Running sums `(Σ value·count, Σ count)` per metric name since the last printed line.
type Running = BTreeMap<String, (f64, usize)>;

/// Prints `step S/T (pass P/Q) | metric mean | …` every `every` optimizer updates (means over
/// those updates) and a validation line per checkpoint (means over the validation set).
pub struct ProgressLines {
    names: HashMap<MetricId, String>,
    train: Running,
    valid: Running,
    every: usize,
    count: StepCount,
    /// The update of the last training item, and how many of its items (one per device) came.
    tally: (usize, usize),
}

impl ProgressLines {
    /// Lines every `every` updates of the run that `count` counts.
    pub fn new(every: usize, count: StepCount) -> Self {
        Self {
            names: HashMap::new(),
            train: BTreeMap::new(),
            valid: BTreeMap::new(),
            every: every.max(1),
            count,
            tally: (0, 0),
        }
    }

    /// Whether burn's TUI dashboard should be used instead (stdout is a terminal).
    pub fn terminal() -> bool {
        std::io::stdout().is_terminal()
    }

    fn record(&mut self, valid: bool, state: MetricState) {
        let MetricState::Numeric(entry, value) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id).cloned() else {
            return;
        };
        let (value, count) = match value {
            NumericEntry::Value(v) => (v, 1),
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => (aggregated_value, count.max(1)),
        };
        if !value.is_finite() {
            return; // a metric with nothing to say about this step
        }
        let running = if valid {
            &mut self.valid
        } else {
            &mut self.train
        };
        let entry = running.entry(name).or_insert((0.0, 0));
        entry.0 += value * count as f64;
        entry.1 += count;
    }

    /// The means since the last line, which `take` then forgets.
    fn line(running: &mut Running) -> String {
        std::mem::take(running)
            .into_iter()
            .map(|(name, (sum, count))| {
                format!("{name} {}", format_value(sum / count.max(1) as f64))
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

fn format_value(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e5) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

impl MetricsRendererTraining for ProgressLines {
    fn update_train(&mut self, state: MetricState) {
        self.record(false, state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(true, state);
    }

    fn render_train(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        let step = self.count.step(&item);
        let seen = match self.tally {
            (last, seen) if last == step => seen + 1,
            _ => 1,
        };
        self.tally = (step, seen);
        let due = step.is_multiple_of(self.every) || step == self.count.total_steps();
        if self.count.ends_step(seen) && due {
            println!(
                "{} | {}",
                self.count.describe(step),
                Self::line(&mut self.train)
            );
        }
    }

    fn render_valid(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        if let Some(progress) = &item.progress
            && progress.items_processed >= progress.items_total
        {
            let step = self
                .count
                .step_after_epoch(item.global_progress.items_processed);
            println!(
                "validation at step {step} | {}",
                Self::line(&mut self.valid)
            );
        }
    }
}

impl MetricsRendererEvaluation for ProgressLines {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}

    fn render_test(&mut self, _: EvaluationProgress, _: Vec<ProgressType>) {}
}

impl MetricsRenderer for ProgressLines {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}
