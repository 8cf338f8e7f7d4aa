//! [`StepDashboard`]: burn's terminal dashboard with the run's position told as the optimizer
//! update out of the total and the pass over the data, in place of the Learner's "Epoch" (the
//! checkpoint interval) and "Iteration" (one per device).

use burn::train::metric::MetricDefinition;
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use burn::train::{Interrupter, LearnerSummary};

use super::step_count::StepCount;

/// burn's TUI, its status lines rewritten by a [`StepCount`].
pub struct StepDashboard {
    inner: TuiMetricsRendererWrapper,
    count: StepCount,
    interrupter: Interrupter,
}

impl StepDashboard {
    /// The dashboard of a run that `count` counts, resumed after Learner epoch `checkpoint`.
    pub fn new(interrupter: Interrupter, checkpoint: Option<usize>, count: StepCount) -> Self {
        Self {
            inner: TuiMetricsRendererWrapper::new(interrupter.clone(), checkpoint),
            count,
            interrupter,
        }
    }

    /// `Step S/T`, `Pass P/Q`, then burn's own lines other than its epoch and iteration.
    fn indicators(&self, step: usize, burn: Vec<ProgressType>) -> Vec<ProgressType> {
        let ours = self
            .count
            .indicators(step)
            .into_iter()
            .map(|(tag, progress)| ProgressType::Detailed { tag, progress });
        let kept = burn.into_iter().filter(|p| {
            let tag = match p {
                ProgressType::Detailed { tag, .. } | ProgressType::Value { tag, .. } => tag,
            };
            tag != "Epoch" && tag != "Iteration"
        });
        ours.chain(kept).collect()
    }
}

impl MetricsRendererTraining for StepDashboard {
    fn update_train(&mut self, state: MetricState) {
        self.inner.update_train(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.inner.update_valid(state);
    }

    fn render_train(&mut self, item: TrainingProgress, indicators: Vec<ProgressType>) {
        let indicators = self.indicators(self.count.step(&item), indicators);
        self.inner.render_train(item, indicators);
    }

    fn render_valid(&mut self, item: TrainingProgress, indicators: Vec<ProgressType>) {
        let step = self
            .count
            .step_after_epoch(item.global_progress.items_processed);
        let indicators = self.indicators(step, indicators);
        self.inner.render_valid(item, indicators);
    }

    /// burn's dashboard resets the interrupter when training ends; a stop (a non-finite loss,
    /// the user's) is kept, so that the run still reports it.
    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        let stopped = self
            .interrupter
            .should_stop()
            .then(|| self.interrupter.get_message());
        let ended = self.inner.on_train_end(summary);
        if let Some(message) = stopped {
            self.interrupter.stop(message.as_deref());
        }
        ended
    }
}

impl MetricsRendererEvaluation for StepDashboard {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.inner.update_test(name, state);
    }

    fn render_test(&mut self, item: EvaluationProgress, indicators: Vec<ProgressType>) {
        self.inner.render_test(item, indicators);
    }

    fn on_test_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        self.inner.on_test_end(summary)
    }
}

impl MetricsRenderer for StepDashboard {
    fn manual_close(&mut self) {
        self.inner.manual_close();
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.inner.register_metric(definition);
    }
}
