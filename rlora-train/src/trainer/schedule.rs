//! [`WarmupCosine`]: linear warmup to the peak learning rate, then cosine decay to a floor.

use burn::optim::lr_scheduler::LrScheduler;
use burn::tensor::backend::Backend;

/// `lr(t)` for step `t = 1, 2, …`: `peak · t / warmup` while `t ≤ warmup`, then
/// `floor + (peak − floor) · (1 + cos(π · (t − warmup) / (total − warmup))) / 2` up to `total`
/// (and `floor` after).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupCosine {
    /// The learning rate at the end of the warmup.
    pub peak: f64,
    /// The learning rate at the end of the schedule.
    pub floor: f64,
    /// Warmup steps.
    pub warmup: usize,
    /// Total steps.
    pub total: usize,
    /// Steps taken so far.
    pub step: usize,
    /// How many times the training loop steps the scheduler per step (burn's DDP strategy: once
    /// per device); every call of a step gets that step's rate.
    pub calls_per_step: usize,
    /// The calls of the current step so far, modulo `calls_per_step`.
    calls: usize,
}

impl WarmupCosine {
    /// A schedule over `total` steps with `warmup_ratio · total` warmup steps (rounded up).
    pub fn new(peak: f64, floor: f64, warmup_ratio: f64, total: usize) -> Self {
        let warmup = ((total as f64 * warmup_ratio).ceil() as usize).min(total);
        Self {
            peak,
            floor,
            warmup,
            total,
            step: 0,
            calls_per_step: 1,
            calls: 0,
        }
    }

    /// The schedule stepped `calls` times per step (see [`WarmupCosine::calls_per_step`]).
    pub fn with_calls_per_step(mut self, calls: usize) -> Self {
        self.calls_per_step = calls.max(1);
        self
    }

    /// The learning rate of step `t` (1-based).
    pub fn at(&self, t: usize) -> f64 {
        if t <= self.warmup {
            return self.peak * t as f64 / self.warmup as f64;
        }
        let span = (self.total - self.warmup).max(1) as f64;
        let progress = ((t - self.warmup) as f64 / span).min(1.0);
        self.floor
            + (self.peak - self.floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

impl LrScheduler for WarmupCosine {
    type Record<B: Backend> = usize;

    fn step(&mut self) -> f64 {
        if self.calls == 0 {
            self.step += 1;
        }
        self.calls = (self.calls + 1) % self.calls_per_step;
        self.at(self.step)
    }

    fn to_record<B: Backend>(&self) -> usize {
        self.step
    }

    /// The steps taken: a checkpoint falls between steps, so the record does not depend on
    /// the calls per step, and a run resumes under either of burn's strategies.
    fn load_record<B: Backend>(mut self, step: usize) -> Self {
        self.step = step;
        self.calls = 0;
        self
    }
}
