//! Speed of a ~26M-parameter Llama on the CPU backend: prefill and cached decode throughput at
//! 64 and 512 tokens of context, and one training step (batch 4 × 256 tokens, forward +
//! backward) with adapters on all seven projections against the frozen model's forward.
//!
//! `cargo bench -p rlora-llama --bench llama` (add `--features test-wgpu` for wgpu).
//! `RLORA_BENCH_ITERS` sets the repetitions (median reported).

use std::time::{Duration, Instant};

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, Int, Tensor};
use rlora::RLoraConfig;
use rlora_llama::{AdapterSpec, Llama, LlamaConfig, ModelType, Targets};

#[cfg(not(feature = "test-wgpu"))]
type Inner = burn::backend::NdArray<f32>;
#[cfg(feature = "test-wgpu")]
type Inner = burn::backend::Wgpu;
type Train = burn::backend::Autodiff<Inner>;

fn config() -> LlamaConfig {
    LlamaConfig {
        model_type: ModelType::Llama,
        vocab_size: 8000,
        hidden_size: 512,
        intermediate_size: 1408,
        num_hidden_layers: 6,
        num_attention_heads: 8,
        num_key_value_heads: Some(4),
        head_dim: None,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        max_position_embeddings: 2048,
        tie_word_embeddings: false,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: None,
        eos_token_id: None,
    }
}

fn iters() -> usize {
    std::env::var("RLORA_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Median wall time of `iters` runs after one warm-up.
fn median<B: Backend>(device: &B::Device, mut run: impl FnMut()) -> Duration {
    run();
    let mut times: Vec<Duration> = (0..iters())
        .map(|_| {
            let start = Instant::now();
            run();
            B::sync(device).expect("backend sync");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn random_tokens<B: Backend>(batch: usize, seq: usize, device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::<B, 2>::random([batch, seq], Distribution::Uniform(0.0, 7999.0), device).int()
}

fn inference(device: &burn::tensor::Device<Inner>) {
    let model = Llama::<Inner>::random(config(), None, device).expect("valid config");
    println!("| context | prefill tokens/s | decode tokens/s | decode ms/token |");
    println!("|---:|---:|---:|---:|");
    const DECODED: usize = 16;
    for context in [64, 512] {
        let prompt = random_tokens::<Inner>(1, context, device);
        let prefill = median::<Inner>(device, || {
            let mut cache = model.new_cache();
            std::hint::black_box(model.forward(prompt.clone(), None, Some(&mut cache)));
        });
        let mut cache = model.new_cache();
        model.forward(prompt.clone(), None, Some(&mut cache));
        let decode = median::<Inner>(device, || {
            let mut cache = cache.clone();
            for _ in 0..DECODED {
                let next = random_tokens::<Inner>(1, 1, device);
                std::hint::black_box(model.forward(next, None, Some(&mut cache)));
            }
        });
        let per_token = decode.as_secs_f64() / DECODED as f64;
        println!(
            "| {context} | {:.0} | {:.1} | {:.2} |",
            context as f64 / prefill.as_secs_f64(),
            1.0 / per_token,
            per_token * 1e3
        );
    }
}

fn train_step<B: AutodiffBackend>(
    model: &Llama<B>,
    tokens: &Tensor<B, 2, Int>,
    targets: &Tensor<B, 1, Int>,
) {
    let logits = model.forward(tokens.clone(), None, None);
    let [batch, seq, vocab] = logits.dims();
    let loss = CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits.reshape([batch * seq, vocab]), targets.clone());
    std::hint::black_box(loss.backward());
}

fn training(device: &burn::tensor::Device<Train>) {
    let (batch, seq) = (4, 256);
    let tokens = random_tokens::<Train>(batch, seq, device);
    let targets = random_tokens::<Train>(batch, seq, device).reshape([batch * seq]);
    let frozen = Llama::<Train>::random(config(), None, device)
        .expect("valid config")
        .valid();
    let floor = median::<Inner>(device, || {
        std::hint::black_box(frozen.forward(tokens.clone().inner(), None, None));
    });
    let variants = [
        (
            "LoRA r = 8, all seven",
            RLoraConfig::lora(1, 1).with_dropout(0.0),
        ),
        (
            "R-LoRA N = 5, r = 8, all seven",
            RLoraConfig::r_lora(1, 1, 5),
        ),
    ];
    println!(
        "\ntraining step, batch {batch} × {seq} tokens, median of {}",
        iters()
    );
    println!("| variant | trainable params | s/step | × frozen forward | tokens/s |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| frozen model, forward only (floor) | 0 | {:.2} | 1.00 | {:.0} |",
        floor.as_secs_f64(),
        (batch * seq) as f64 / floor.as_secs_f64()
    );
    for (name, template) in variants {
        let spec = AdapterSpec {
            targets: Targets::all_linear(),
            template,
        };
        let model = Llama::<Train>::random(config(), Some(&spec), device).expect("valid config");
        let params: usize = model
            .adapters()
            .iter()
            .map(|(_, a)| a.num_trainable_params())
            .sum();
        let time = median::<Train>(device, || train_step(&model, &tokens, &targets));
        println!(
            "| {name} | {params} | {:.2} | {:.2} | {:.0} |",
            time.as_secs_f64(),
            time.as_secs_f64() / floor.as_secs_f64(),
            (batch * seq) as f64 / time.as_secs_f64()
        );
    }
}

fn main() {
    let device = Default::default();
    Train::seed(&device, 0);
    let model = Llama::<Inner>::random(config(), None, &device).expect("valid config");
    let params: usize = burn::module::Module::num_params(&model);
    println!("Llama: {params} parameters (6 layers, d = 512, GQA 8/4 heads, vocab 8000)\n");
    inference(&device);
    training(&device);
}
