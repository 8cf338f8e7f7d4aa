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
        }
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
        self.step += 1;
        self.at(self.step)
    }

    fn to_record<B: Backend>(&self) -> usize {
        self.step
    }

    fn load_record<B: Backend>(mut self, step: usize) -> Self {
        self.step = step;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_at_known_steps() {
        let mut s = WarmupCosine::new(2e-4, 0.0, 0.1, 100); // 10 warmup steps
        let lrs: Vec<f64> = (0..100).map(|_| s.step()).collect();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(lrs[0], 2e-5), "step 1: {}", lrs[0]);
        assert!(close(lrs[9], 2e-4), "end of warmup");
        assert!(
            close(lrs[54], 1e-4),
            "half way through the decay: {}",
            lrs[54]
        );
        assert!(close(lrs[99], 0.0), "end: {}", lrs[99]);
        assert!(
            lrs.windows(2).skip(10).all(|w| w[1] <= w[0]),
            "monotone decay"
        );
        assert!(lrs[0] > 0.0, "warmup starts above zero");
    }

    #[test]
    fn a_restored_schedule_continues_where_it_stopped() {
        let mut a = WarmupCosine::new(1e-3, 1e-5, 0.03, 50);
        for _ in 0..20 {
            a.step();
        }
        let record = LrScheduler::to_record::<burn::backend::NdArray>(&a);
        let mut b =
            WarmupCosine::new(1e-3, 1e-5, 0.03, 50).load_record::<burn::backend::NdArray>(record);
        assert_eq!(a.step(), b.step());
    }
}
