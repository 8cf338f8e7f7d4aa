//! Forward + backward of one training step on `[8192 tokens, 1024 → 1024]`, rank 8:
//! a plain LoRA written as simply as possible (the baseline), this module with N = 1, and with
//! N = 5 heads (and HydraLoRA's placement for reference). Prints the median step time of each
//! and its ratio to the baseline and to N = 1, all measured in the same run.
//!
//! `cargo bench -p rlora --bench forward_backward` (add `--features test-wgpu` for wgpu).
//! `RLORA_BENCH_TOKENS` and `RLORA_BENCH_ITERS` shrink or grow the run.

use std::time::{Duration, Instant};

use burn::module::Param;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Tensor};
use rlora::{RLoraConfig, RLoraLinear};

#[cfg(not(feature = "test-wgpu"))]
type Inner = burn::backend::NdArray<f32>;
#[cfg(feature = "test-wgpu")]
type Inner = burn::backend::Wgpu;
type Train = burn::backend::Autodiff<Inner>;

const D_MODEL: usize = 1024;
const RANK: usize = 8;

/// The baseline: `y = x W + b + s (x A) B` with `W` frozen, nothing else.
struct PlainLora<B: Backend> {
    weight: Tensor<B, 2>,
    bias: Tensor<B, 1>,
    a: Param<Tensor<B, 2>>,
    b: Param<Tensor<B, 2>>,
    scaling: f64,
}

impl<B: Backend> PlainLora<B> {
    fn new(device: &B::Device) -> Self {
        let normal =
            |rows, cols| Tensor::random([rows, cols], Distribution::Normal(0.0, 0.02), device);
        Self {
            weight: normal(D_MODEL, D_MODEL),
            bias: Tensor::zeros([D_MODEL], device),
            a: Param::from_tensor(normal(D_MODEL, RANK)),
            b: Param::from_tensor(normal(RANK, D_MODEL)),
            scaling: 2.0,
        }
    }

    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let lora = x
            .clone()
            .matmul(self.a.val())
            .matmul(self.b.val())
            .mul_scalar(self.scaling);
        x.matmul(self.weight.clone()) + self.bias.clone().unsqueeze() + lora
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median wall time of `iters` calls of `step` after two warm-up calls.
fn median_time<B: AutodiffBackend>(
    device: &B::Device,
    iters: usize,
    mut step: impl FnMut(),
) -> Duration {
    for _ in 0..2 {
        step();
    }
    let mut times: Vec<Duration> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            step();
            B::sync(device).expect("backend sync");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn rlora_step<B: AutodiffBackend>(layer: &RLoraLinear<B>, x: &Tensor<B, 2>) {
    let grads = layer.forward(x.clone()).sum().backward();
    std::hint::black_box(layer.lora_b.grad(&grads));
}

fn main() {
    let device = Default::default();
    Train::seed(&device, 0);
    let tokens = env_usize("RLORA_BENCH_TOKENS", 8192);
    let iters = env_usize("RLORA_BENCH_ITERS", 10);
    let x = Tensor::<Train, 2>::random([tokens, D_MODEL], Distribution::Normal(0.0, 1.0), &device);

    let baseline = PlainLora::<Train>::new(&device);
    let base_time = median_time::<Train>(&device, iters, || {
        let grads = baseline.forward(x.clone()).sum().backward();
        std::hint::black_box(baseline.b.grad(&grads));
    });

    let variants = [
        (
            "R-LoRA N = 1 (this module)",
            RLoraConfig::r_lora(D_MODEL, D_MODEL, 1),
        ),
        ("R-LoRA N = 5", RLoraConfig::r_lora(D_MODEL, D_MODEL, 5)),
        (
            "HydraLoRA N = 5",
            RLoraConfig::hydra_lora(D_MODEL, D_MODEL, 5),
        ),
    ];
    let times: Vec<(&str, Duration)> = variants
        .iter()
        .map(|(name, config)| {
            let layer = config.init::<Train>(&device).expect("valid config");
            (
                *name,
                median_time::<Train>(&device, iters, || rlora_step(&layer, &x)),
            )
        })
        .collect();

    println!(
        "forward + backward, [{tokens}, {D_MODEL} → {D_MODEL}], rank {RANK}, median of {iters}"
    );
    println!("| variant | ms/step | × plain LoRA | × N = 1 |");
    println!("|---|---:|---:|---:|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let one_head = times[0].1;
    println!(
        "| plain LoRA (baseline) | {:.1} | 1.00 | {:.2} |",
        ms(base_time),
        ms(base_time) / ms(one_head)
    );
    for (name, time) in &times {
        println!(
            "| {name} | {:.1} | {:.2} | {:.2} |",
            ms(*time),
            ms(*time) / ms(base_time),
            ms(*time) / ms(one_head)
        );
    }
}
