//! Training steps of the embedded default (the tiny base, the built-in suite, R-LoRA on the MLP)
//! on a GPU backend and on the CPU backend from the same adapter: the per-step losses and the
//! trained adapters agree within 1e-3. Run with `--features wgpu` (CI does, on Mesa's software
//! Vulkan driver, 3 steps) or `--features cuda` (the GPU bundle's
//! `tests` part, `cargo xtask gpu-bundle`, 20 steps);
//! `RLORA_GPU_STEPS` sets the number of steps.
#![cfg(any(feature = "wgpu", feature = "cuda"))]

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::train::metric::store::Split;
use rlora::Preset;
use rlora_llama::{AdapterSpec, AttentionKernel, Llama, Targets, TextTokenizer};
use rlora_llama::{LlamaAutodiffBackend, LlamaBackend};
use rlora_train::cli::tiny_base_dir;
use rlora_train::data::{SplitSizes, builtin_suite, tokenize_examples};
use rlora_train::trainer::{
    LogLayout, TrainingConfig, TrainingData, batch_shards, metric_history, train,
};

/// The GPU backend under test: CUDA when enabled, else wgpu.
#[cfg(feature = "cuda")]
type Gpu = burn::backend::Cuda;
#[cfg(not(feature = "cuda"))]
type Gpu = burn::backend::Wgpu;

/// Training steps per run: `RLORA_GPU_STEPS`, else 3 (lavapipe emulates a GPU on the CPU, slowly).
fn steps() -> usize {
    std::env::var("RLORA_GPU_STEPS")
        .ok()
        .and_then(|steps| steps.parse().ok())
        .unwrap_or(3)
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-wgpu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// R-LoRA as the example trains it, without dropout (its masks come from each backend's own
/// random numbers).
fn spec() -> AdapterSpec {
    let settings = Preset::RLora
        .hyperparameters(5)
        .with_rank(8)
        .with_alpha(32.0)
        .with_dropout(0.0);
    AdapterSpec::new(Targets::mlp(), &settings)
}

fn data() -> TrainingData {
    let tokenizer = TextTokenizer::from_dir(tiny_base_dir()).unwrap();
    let sizes = SplitSizes {
        train: 8,
        validation: 2,
        test: 0,
    };
    let mut data = TrainingData {
        task_names: Vec::new(),
        train: Vec::new(),
        validation: Vec::new(),
    };
    for (i, task) in builtin_suite(0, sizes).into_iter().enumerate() {
        data.train
            .extend(tokenize_examples(i, &task.train, &tokenizer, 96).unwrap().0);
        let validation = task.validation.unwrap();
        data.validation
            .extend(tokenize_examples(i, &validation, &tokenizer, 96).unwrap().0);
        data.task_names.push(task.name);
    }
    data
}

/// Trains [`steps`] steps on `B` from the adapter saved in `adapter`; returns the per-step losses
/// and the trained adapter's tensors.
fn train_on<B: LlamaAutodiffBackend>(adapter: &Path, name: &str) -> (Vec<f64>, Vec<Vec<f32>>) {
    let device = B::Device::default();
    let model = Llama::<B>::from_pretrained(tiny_base_dir(), Some(&spec()), &device)
        .unwrap()
        .load_adapter(adapter, &device)
        .unwrap();
    let config = TrainingConfig::new()
        .with_learning_rate(1e-4)
        .with_warmup_ratio(0.0)
        .with_batch_size(8)
        .with_max_steps(Some(steps()))
        .with_checkpoint_every(steps())
        .with_seed(3);
    let dir = tempdir(name);
    let trained = train(model, &data(), &config, &dir, false).unwrap().model;
    let losses = metric_history(&dir, Split::Train, "Loss", LogLayout::single(steps()))
        .into_iter()
        .map(|(_, loss)| loss)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (losses, adapter_tensors(&trained))
}

fn adapter_tensors<B: LlamaBackend>(model: &Llama<B>) -> Vec<Vec<f32>> {
    model
        .adapters()
        .iter()
        .flat_map(|(_, a)| {
            [
                a.lora_a.val(),
                a.lora_b.val(),
                a.router.as_ref().unwrap().val(),
            ]
        })
        .map(|t| t.into_data().convert::<f32>().to_vec::<f32>().unwrap())
        .collect()
}

/// The L2 norm of `a − b` over all tensors.
fn distance(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            x.iter()
                .zip(y)
                .map(|(p, q)| (*p as f64 - *q as f64).powi(2))
        })
        .sum::<f64>()
        .sqrt()
}

/// `trained − initial`, tensor by tensor.
fn update(trained: &[Vec<f32>], initial: &[Vec<f32>]) -> Vec<Vec<f32>> {
    trained
        .iter()
        .zip(initial)
        .map(|(t, i)| t.iter().zip(i).map(|(p, q)| p - q).collect())
        .collect()
}

#[test]
fn training_steps_on_the_gpu_match_the_cpu_backend() {
    // One adapter, drawn on the CPU, is the start of both runs.
    let adapter = tempdir("adapter");
    let device = Default::default();
    <Flex as Backend>::seed(&device, 11);
    let start = Llama::<Flex>::from_pretrained(tiny_base_dir(), Some(&spec()), &device).unwrap();
    start.save_adapter(&adapter).unwrap();
    let initial = adapter_tensors(&start);

    let (cpu_losses, cpu) = train_on::<Autodiff<Flex>>(&adapter, "cpu");
    let (gpu_losses, gpu) = train_on::<Autodiff<Gpu>>(&adapter, "gpu");
    let _ = std::fs::remove_dir_all(&adapter);

    assert_eq!(cpu_losses.len(), steps());
    assert_eq!(gpu_losses.len(), steps());
    for (step, (c, g)) in cpu_losses.iter().zip(&gpu_losses).enumerate() {
        assert!(
            (c - g).abs() <= 1e-3 * c.abs().max(1.0),
            "step {step}: cpu {c} gpu {g}"
        );
    }
    // AdamW moves every element with a gradient by about the learning rate (1e-4) per step, so
    // the update's norm is about 1e-4 · √(steps · elements); the two backends' updates must agree
    // to 1% of it.
    let (cpu_update, gpu_update) = (update(&cpu, &initial), update(&gpu, &initial));
    let zero: Vec<Vec<f32>> = cpu_update.iter().map(|t| vec![0.0; t.len()]).collect();
    let moved = distance(&cpu_update, &zero);
    let elements: usize = zero.iter().map(Vec::len).sum();
    assert!(
        moved > 0.5e-4 * (elements as f64).sqrt(),
        "the adapters did not train: update norm {moved} over {elements} elements"
    );
    let relative = distance(&cpu_update, &gpu_update) / moved;
    assert!(
        relative <= 1e-2,
        "the backends' updates differ by {relative:.2e} of the update's norm {moved}"
    );
}

/// What a run gets from the library follows its backend type, not the build's features: one shard
/// per batch and burn's fused attention on the GPU, a shard per core and the blocked attention
/// on the CPU backend of the same build.
#[test]
fn the_gpu_and_the_cpu_backend_each_get_their_own_settings() {
    assert_eq!(batch_shards::<Autodiff<Gpu>>(), 1);
    assert_eq!(
        AttentionKernel::for_backend::<Gpu>(),
        AttentionKernel::Fused
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(batch_shards::<Autodiff<Flex>>(), cores);
    assert_eq!(
        AttentionKernel::for_backend::<Flex>(),
        AttentionKernel::Blocked
    );
}
