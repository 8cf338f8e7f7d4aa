//! Speed and memory of Llama-family models on one backend, case by case, with the same shapes and
//! work as the PyTorch twin `xtask/bench/vs_pytorch.py` (so `cargo xtask bench --vs-pytorch` can
//! print both side by side):
//!
//! - `train-lora`, `train-rlora`: one training step (forward, the loss of every next token,
//!   backward; no optimizer) with LoRA (r 8, α 16, dropout 0) or R-LoRA (5 heads, r 8, the
//!   paper's defaults) on the shape's targets;
//! - `train-loop`: `rlora train`'s own loop around the R-LoRA step (burn's `Learner`, the data
//!   loader, the metrics, AdamW with clipping): seconds per step from the difference between a
//!   run of 1 step and a run of 1 + iters steps, so that the setup cancels out;
//! - `update-rlora`: one whole optimizer update of R-LoRA without the Learner (the step, the
//!   global-norm clip and AdamW); `--host-reads` adds the reads of the loss and of the gradient
//!   norm that the step and the clip made before they kept everything on the device;
//! - `forward`: the frozen model's forward without autodiff;
//! - `prefill-N`: N prompt tokens into an empty KV cache, logits of the last one;
//! - `decode-N`: 16 tokens one at a time after N tokens of context (seconds per token).
//!
//! Shapes (random weights): `bench` (25.9M parameters: 6 layers, d 512, GQA 8/4, vocab 8000,
//! adapters on all seven projections, batch 4 × 256), the exact shapes of `qwen2.5-0.5b`,
//! `qwen2.5-1.5b`, `qwen2.5-3b` (adapters on gate/up/down, batch 2 × 256) and `llama-2-7b` (32
//! layers, d 4096, d_ff 11008, 32 heads, vocab 32000, untied; gate/up/down, batch 1 × 512).
//! `--batch N` and `--seq N` change a shape's batch.
//!
//! The training step is the trainer's own: [`CausalLm`]'s `TrainStep` on one [`LmBatch`] (the loss
//! over the counted positions without the whole logits, the batch's rows in shards on the CPU's
//! cores), without the Learner, the data loader and the metrics around it.
//!
//! `cargo bench -p rlora-train --bench llama` prints the bench shape's tables;
//! `… -- --case train-rlora --shape qwen2.5-0.5b` runs one case and prints one JSON line with the
//! median seconds (and CPU seconds) and the process's peak resident memory and the resident memory the model took when built (`model_bytes`, per parameter). `--iters N` (default
//! 3) sets the repetitions after one warm-up, `--shards N` the batch's shards (default: one per
//! core on the CPU), `--count-kernels` adds the kernels a repetition launches (`kernels`, per token
//! for decode; CubeCL backends). `--checkpointing` runs `train-lora` or `train-rlora` with the
//! trainer's activation checkpointing (`rlora train --activation-checkpointing`: each decoder
//! layer recomputed in the backward), `--balanced-checkpointing` under burn's
//! `BalancedCheckpointing` instead (element-wise results recomputed in the backward instead of
//! kept); other cases refuse both. `--quantize q8` or `q4` holds the frozen projections of
//! `train-lora` and `train-rlora` block-wise quantized (`rlora train --base-dtype q8`), the rest
//! in `--dtype`. The backend is the `rlora` command's (`--features cuda`, …).

use std::time::Instant;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Int, Tensor};
use burn::train::TrainStep;
use rlora::RLoraConfig;
use rlora_llama::layers::Projection;
use rlora_llama::{
    AdapterSpec, Llama, LlamaConfig, ModelType, Quantization, TargetModule, Targets,
};
use rlora_llama::{LlamaAutodiffBackend, LlamaBackend};
use rlora_train::data::{LmBatch, LmBatcher, StepBatch, TokenizedExample};
use rlora_train::trainer::{CausalLm, TrainingConfig, TrainingData, batch_shards, train};

/// The backend the build's features pick, as the `rlora` command's (the benchmark uses its name,
/// its CPU allocator and its device probe).
#[path = "../src/bin/rlora/backend.rs"]
#[allow(dead_code)]
mod backend;

use backend::{BACKEND_NAME, TrainBackend as Train, tune_cpu_allocator};

type Inner = backend::Backend;

/// The tokens per row of the shapes that do not say otherwise.
const SEQ: usize = 256;
const DECODED: usize = 16;

/// A model shape, its batch (`batch` rows of `seq` tokens) and its adapter targets.
struct Shape {
    name: &'static str,
    config: LlamaConfig,
    batch: usize,
    seq: usize,
    targets: Targets,
}

fn shape(name: &str) -> Option<Shape> {
    let base = LlamaConfig {
        model_type: ModelType::Qwen2,
        vocab_size: 151_936,
        hidden_size: 896,
        intermediate_size: 4864,
        num_hidden_layers: 24,
        num_attention_heads: 14,
        num_key_value_heads: Some(2),
        head_dim: None,
        rms_norm_eps: 1e-6,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        max_position_embeddings: 32_768,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: None,
        eos_token_id: None,
    };
    let qwen = |name, hidden_size, intermediate_size, num_hidden_layers, heads| Shape {
        name,
        config: LlamaConfig {
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads: heads,
            ..base.clone()
        },
        batch: 2,
        seq: SEQ,
        targets: Targets::mlp(),
    };
    Some(match name {
        "bench" => Shape {
            name: "bench",
            config: LlamaConfig {
                model_type: ModelType::Llama,
                vocab_size: 8000,
                hidden_size: 512,
                intermediate_size: 1408,
                num_hidden_layers: 6,
                num_attention_heads: 8,
                num_key_value_heads: Some(4),
                rms_norm_eps: 1e-5,
                rope_theta: 10_000.0,
                max_position_embeddings: 2048,
                tie_word_embeddings: false,
                ..base
            },
            batch: 4,
            seq: SEQ,
            targets: Targets::all_linear(),
        },
        "qwen2.5-0.5b" => qwen("qwen2.5-0.5b", 896, 4864, 24, 14),
        "qwen2.5-1.5b" => qwen("qwen2.5-1.5b", 1536, 8960, 28, 12),
        "qwen2.5-3b" => qwen("qwen2.5-3b", 2048, 11008, 36, 16),
        "llama-2-7b" => Shape {
            name: "llama-2-7b",
            config: LlamaConfig {
                model_type: ModelType::Llama,
                vocab_size: 32_000,
                hidden_size: 4096,
                intermediate_size: 11_008,
                num_hidden_layers: 32,
                num_attention_heads: 32,
                num_key_value_heads: Some(32),
                rms_norm_eps: 1e-5,
                rope_theta: 10_000.0,
                max_position_embeddings: 4096,
                tie_word_embeddings: false,
                ..base
            },
            batch: 1,
            seq: 512,
            targets: Targets::mlp(),
        },
        _ => return None,
    })
}

/// What one case measured.
struct Measured {
    seconds: f64,
    tokens: usize,
    trainable: usize,
}

/// Median wall time of `iters` runs of `run` after one warm-up; the median CPU time of the
/// process over the same runs goes to `CPU_SECONDS` (a machine shared with other work inflates
/// wall time, not CPU time).
///
/// With `--count-kernels`, the kernels the last repetition launched go to `KERNELS`.
fn median<B: LlamaBackend>(device: &B::Device, iters: usize, mut run: impl FnMut()) -> f64 {
    run();
    B::sync(device).expect("backend sync");
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..iters)
        .map(|_| {
            let kernels_before = kernel_log::launched();
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            run();
            B::sync(device).expect("backend sync");
            let measured = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu_start);
            let kernels = kernel_log::launched()
                .zip(kernels_before)
                .map(|(after, before)| after - before);
            KERNELS.with(|k| k.set(kernels));
            measured
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    CPU_SECONDS.with(|c| c.set(cpu[cpu.len() / 2]));
    wall[wall.len() / 2]
}

thread_local! {
    static CPU_SECONDS: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NAN) };
    /// The kernels the last measured repetition launched (`--count-kernels`).
    static KERNELS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// The resident memory the model took when it was built, and its parameter count.
    static MODEL_BYTES: std::cell::Cell<(Option<u64>, usize)> = const { std::cell::Cell::new((None, 0)) };
}

/// Records the growth of resident memory since `before` as the model's, with `params`.
fn record_model_bytes(before: Option<u64>, params: usize) {
    let grown = resident_bytes()
        .zip(before)
        .map(|(now, b)| now.saturating_sub(b));
    MODEL_BYTES.with(|m| m.set((grown, params)));
}

/// The model's parameters as a float model counts them: burn's parameters, plus each quantized
/// projection's matrix (a constant of the module, not a parameter), less its adapter's stand-in
/// for the base (a parameter of the matrix's shape that holds no values).
fn base_params<B: LlamaBackend>(llama: &Llama<B>) -> usize {
    let quantized: usize = llama
        .layers
        .iter()
        .flat_map(|layer| TargetModule::ALL.map(|module| layer.projection(module)))
        .map(|projection| match projection {
            Projection::Quantized(quantized) => {
                let [d_out, d_in] = quantized.weight.dims();
                let stand_in = quantized
                    .adapter
                    .as_ref()
                    .map_or(0, |adapter| adapter.base.weight.lazy_shape().num_elements());
                d_out * d_in - stand_in
            }
            Projection::Frozen(_) | Projection::Adapted(_) => 0,
        })
        .sum();
    burn::module::Module::num_params(llama) + quantized
}

/// The process's resident memory now (`VmRSS`), where the OS reports it.
fn resident_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// The process's user + system CPU time so far (`/proc/self/stat`, in clock ticks of 1/100 s);
/// NaN where the OS does not say.
fn cpu_seconds() -> f64 {
    let ticks = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
    };
    ticks().map_or(f64::NAN, |t| t / 100.0)
}

fn random_tokens<B: LlamaBackend>(
    batch: usize,
    seq: usize,
    vocab: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    Tensor::<B, 2>::random(
        [batch, seq],
        Distribution::Uniform(0.0, vocab as f64 - 1.0),
        device,
    )
    .int()
}

/// `rows` examples of `seq` random tokens, every next token counted.
fn random_rows(rows: usize, seq: usize, vocab: usize) -> Vec<TokenizedExample> {
    let ids: Vec<u32> = random_tokens::<Inner>(rows, seq, vocab, &Default::default())
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("int tokens")
        .into_iter()
        .map(|id| id as u32)
        .collect();
    ids.chunks(seq)
        .map(|tokens| TokenizedExample {
            task: 0,
            tokens: tokens.to_vec(),
            prompt_len: 0,
        })
        .collect()
}

/// The shape's batch of random tokens, every next token counted.
fn random_batch<A: LlamaBackend>(shape: &Shape) -> LmBatch<A> {
    let rows = random_rows(shape.batch, shape.seq, shape.config.vocab_size);
    LmBatcher.batch(rows, &Default::default())
}

/// R-LoRA with the paper's defaults: 5 heads of rank 8.
fn rlora_template() -> RLoraConfig {
    RLoraConfig::r_lora(1, 1, 5)
}

fn rlora_spec(shape: &Shape) -> AdapterSpec {
    AdapterSpec {
        targets: shape.targets.clone(),
        template: rlora_template(),
    }
}

/// Wall seconds of `rlora train`'s loop ([`train`]) for `steps` steps of R-LoRA on `shape`.
fn train_loop_seconds(shape: &Shape, run: &Run, steps: usize) -> f64 {
    let device = Default::default();
    let llama = Llama::<Train>::random_with_base(
        shape.config.clone(),
        Some(&rlora_spec(shape)),
        run.dtype,
        &device,
    )
    .expect("valid config");
    let vocab = shape.config.vocab_size;
    let data = TrainingData {
        task_names: vec!["random".into()],
        train: random_rows(steps * shape.batch, shape.seq, vocab),
        validation: random_rows(1, shape.seq, vocab),
    };
    let config = TrainingConfig::new()
        .with_batch_size(shape.batch)
        .with_max_steps(Some(steps))
        .with_checkpoint_every(steps)
        .with_keep_checkpoints(1)
        .with_batch_shards(run.shards);
    let dir = std::env::temp_dir().join(format!("rlora-bench-loop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let trained = train(llama, &data, &config, &dir, false).expect("training runs");
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(trained);
    let _ = std::fs::remove_dir_all(&dir);
    seconds
}

fn train_loop_case(shape: &Shape, run: &Run) -> Measured {
    let iters = run.iters.max(1);
    let one = train_loop_seconds(shape, run, 1);
    let more = train_loop_seconds(shape, run, 1 + iters);
    CPU_SECONDS.with(|c| c.set(f64::NAN));
    Measured {
        seconds: (more - one) / iters as f64,
        tokens: shape.batch * shape.seq,
        trainable: 0,
    }
}

/// One training step (without the optimizer) of `template` on `shape`, under autodiff `A`.
fn train_case<A: LlamaAutodiffBackend>(
    shape: &Shape,
    template: RLoraConfig,
    run: &Run,
) -> Measured {
    let device = Default::default();
    let spec = AdapterSpec {
        targets: shape.targets.clone(),
        template,
    };
    let before = resident_bytes();
    let llama = Llama::<A>::random_quantized(
        shape.config.clone(),
        Some(&spec),
        run.dtype,
        run.quantization,
        &device,
    )
    .expect("valid config");
    record_model_bytes(before, base_params(&llama));
    let trainable = llama
        .adapters()
        .iter()
        .map(|(_, a)| a.num_trainable_params())
        .sum();
    let model = CausalLm {
        llama,
        shards: run.shards,
        activation_checkpointing: run.checkpointing == Checkpointing::Layers,
    };
    let batch = random_batch::<A>(shape);
    let seconds = median::<A>(&device, run.iters, || {
        std::hint::black_box(TrainStep::step(
            &model,
            StepBatch::from(batch.clone()).into(),
        ));
    });
    Measured {
        seconds,
        tokens: shape.batch * shape.seq,
        trainable,
    }
}

/// [`train_case`] under the autodiff `run` asks for: burn's `BalancedCheckpointing` with
/// `--balanced-checkpointing`, else the training backend's own.
fn step_case(shape: &Shape, template: RLoraConfig, run: &Run) -> Measured {
    if run.checkpointing == Checkpointing::Balanced {
        train_case::<Autodiff<Inner, BalancedCheckpointing>>(shape, template, run)
    } else {
        train_case::<Train>(shape, template, run)
    }
}

/// One whole optimizer update of R-LoRA as `rlora train` takes it, without the Learner around it:
/// the training step, the global-norm clip (max norm 1) and AdamW. With `--host-reads`, the
/// update also reads back what the training step and the clip read before they kept everything
/// on the device (the update's loss, with the heads' similarity, and the gradient norm).
fn update_case(shape: &Shape, run: &Run, host_reads: bool) -> Measured {
    use burn::optim::{AdamWConfig, Optimizer};
    use burn::train::metric::ItemLazy;
    use rlora_train::trainer::{GlobalNormClip, global_norm};

    let device = Default::default();
    let llama = Llama::<Train>::random_with_base(
        shape.config.clone(),
        Some(&rlora_spec(shape)),
        run.dtype,
        &device,
    )
    .expect("valid config");
    let mut model = Some(CausalLm {
        llama,
        shards: run.shards,
        activation_checkpointing: false,
    });
    let mut optimizer = GlobalNormClip::new(AdamWConfig::new().init(), Some(1.0));
    let batch = random_batch::<Train>(shape);
    let seconds = median::<Train>(&device, run.iters, || {
        let current = model.take().expect("the model");
        let output = TrainStep::step(&current, StepBatch::from(batch.clone()).into());
        if host_reads {
            std::hint::black_box(output.item.sync());
            let norm = global_norm(&current, &output.grads).map(|n| n.into_scalar());
            std::hint::black_box(norm);
        }
        model = Some(optimizer.step(1e-4, current, output.grads));
    });
    Measured {
        seconds,
        tokens: shape.batch * shape.seq,
        trainable: 0,
    }
}

fn frozen(shape: &Shape, dtype: DType) -> Llama<Inner> {
    let before = resident_bytes();
    let model =
        Llama::<Inner>::random_with_base(shape.config.clone(), None, dtype, &Default::default())
            .expect("valid config");
    record_model_bytes(before, burn::module::Module::num_params(&model));
    model
}

fn forward_case(shape: &Shape, run: &Run) -> Measured {
    let (device, iters) = (Default::default(), run.iters);
    let model = frozen(shape, run.dtype);
    let tokens = random_tokens::<Inner>(shape.batch, shape.seq, shape.config.vocab_size, &device);
    let seconds = median::<Inner>(&device, iters, || {
        std::hint::black_box(model.forward(tokens.clone(), None, None));
    });
    Measured {
        seconds,
        tokens: shape.batch * shape.seq,
        trainable: 0,
    }
}

fn prefill_case(shape: &Shape, context: usize, run: &Run) -> Measured {
    let (device, iters) = (Default::default(), run.iters);
    let model = frozen(shape, run.dtype);
    let prompt = random_tokens::<Inner>(1, context, shape.config.vocab_size, &device);
    let seconds = median::<Inner>(&device, iters, || {
        let mut cache = model.new_cache();
        std::hint::black_box(model.last_logits(prompt.clone(), None, Some(&mut cache)));
    });
    Measured {
        seconds,
        tokens: context,
        trainable: 0,
    }
}

fn decode_case(shape: &Shape, context: usize, run: &Run) -> Measured {
    let (device, iters) = (Default::default(), run.iters);
    let model = frozen(shape, run.dtype);
    let vocab = shape.config.vocab_size;
    let prompt = random_tokens::<Inner>(1, context, vocab, &device);
    let mut cache = model.new_cache();
    model.last_logits(prompt, None, Some(&mut cache));
    let steps: Vec<_> = (0..DECODED)
        .map(|_| random_tokens::<Inner>(1, 1, vocab, &device))
        .collect();
    let seconds = median::<Inner>(&device, iters, || {
        let mut cache = cache.clone();
        for token in &steps {
            std::hint::black_box(model.last_logits(token.clone(), None, Some(&mut cache)));
        }
    });
    Measured {
        seconds: seconds / DECODED as f64,
        tokens: 1,
        trainable: 0,
    }
}

/// How a case runs: repetitions, the batch's shards, the frozen base's float type and
/// quantization, whether an update reads its loss and gradient norm back to the host, and what a
/// training step recomputes in the backward.
struct Run {
    iters: usize,
    shards: usize,
    dtype: DType,
    quantization: Option<Quantization>,
    host_reads: bool,
    checkpointing: Checkpointing,
}

/// What a training step recomputes in the backward pass instead of keeping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpointing {
    /// Nothing.
    None,
    /// Each decoder layer (`--checkpointing`: the trainer's activation checkpointing).
    Layers,
    /// Element-wise results (`--balanced-checkpointing`: burn's `BalancedCheckpointing`).
    Balanced,
}

impl Checkpointing {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Layers => "layers",
            Self::Balanced => "balanced",
        }
    }
}

fn run_case(shape: &Shape, case: &str, run: &Run) -> Option<Measured> {
    let context = |prefix: &str| case.strip_prefix(prefix)?.parse::<usize>().ok();
    Some(match case {
        "train-lora" => step_case(shape, RLoraConfig::lora(1, 1).with_dropout(0.0), run),
        "train-rlora" => step_case(shape, rlora_template(), run),
        "train-loop" => train_loop_case(shape, run),
        "update-rlora" => update_case(shape, run, run.host_reads),
        "forward" => forward_case(shape, run),
        _ => {
            if let Some(n) = context("prefill-") {
                prefill_case(shape, n, run)
            } else {
                decode_case(shape, context("decode-")?, run)
            }
        }
    })
}

/// The process's peak resident memory in bytes (`VmHWM`), where the OS reports it.
fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts the backend on its default device (an error naming what is missing where it cannot
/// start) and seeds it.
fn start_backend() -> Result<(), String> {
    backend::probe_device(&Default::default())?;
    Train::seed(&Default::default(), 0);
    Ok(())
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).map(String::as_str)
}

fn one_case(args: &[String], case: &str) -> Result<(), String> {
    if args.iter().any(|a| a == "--count-kernels") {
        kernel_log::start()?;
    }
    start_backend()?;
    let shape_name = flag(args, "--shape").unwrap_or("bench");
    let mut shape = shape(shape_name).ok_or_else(|| format!("unknown shape `{shape_name}`"))?;
    let count = |name: &str, default: usize| {
        flag(args, name)
            .map_or(Ok(default), str::parse)
            .map_err(|e| format!("{name}: {e}"))
    };
    shape.batch = count("--batch", shape.batch)?;
    shape.seq = count("--seq", shape.seq)?;
    let dtype_name = flag(args, "--dtype").unwrap_or("f32");
    let run = Run {
        iters: count("--iters", 3)?,
        shards: count("--shards", batch_shards::<Train>())?,
        dtype: match dtype_name {
            "f32" => DType::F32,
            "f16" => DType::F16,
            "bf16" => DType::BF16,
            other => return Err(format!("--dtype: `{other}` is not f32, f16 or bf16")),
        },
        quantization: match flag(args, "--quantize") {
            None => None,
            Some("q8") => Some(Quantization::Q8),
            Some("q4") => Some(Quantization::Q4),
            Some(other) => return Err(format!("--quantize: `{other}` is not q8 or q4")),
        },
        host_reads: args.iter().any(|a| a == "--host-reads"),
        checkpointing: match (
            args.iter().any(|a| a == "--checkpointing"),
            args.iter().any(|a| a == "--balanced-checkpointing"),
        ) {
            (false, false) => Checkpointing::None,
            (true, false) => Checkpointing::Layers,
            (false, true) => Checkpointing::Balanced,
            (true, true) => {
                return Err("--checkpointing and --balanced-checkpointing: give one".into());
            }
        },
    };
    if run.quantization.is_some() && !matches!(case, "train-lora" | "train-rlora") {
        return Err(format!(
            "--quantize applies to train-lora and train-rlora, not `{case}`"
        ));
    }
    if run.checkpointing != Checkpointing::None && !matches!(case, "train-lora" | "train-rlora") {
        return Err(format!(
            "--checkpointing and --balanced-checkpointing apply to train-lora and train-rlora, \
             not `{case}`"
        ));
    }
    let measured = run_case(&shape, case, &run).ok_or_else(|| format!("unknown case `{case}`"))?;
    let per = if case.starts_with("decode-") {
        DECODED as f64
    } else {
        1.0
    };
    let (model_bytes, params) = MODEL_BYTES.with(|m| m.get());
    let json = serde_json::json!({
        "impl": "rlora",
        "shape": shape.name,
        "case": case,
        "dtype": dtype_name,
        "batch": shape.batch,
        "seq": shape.seq,
        "checkpointing": run.checkpointing.name(),
        "quantization": flag(args, "--quantize"),
        "seconds": measured.seconds,
        "cpu_seconds": CPU_SECONDS.with(|c| c.get()) / per,
        "tokens_per_second": measured.tokens as f64 / measured.seconds,
        "trainable_params": measured.trainable,
        "shards": run.shards,
        "peak_rss_bytes": peak_rss_bytes(),
        "model_bytes": model_bytes,
        "params": params,
        "model_bytes_per_param": model_bytes.map(|b| b as f64 / params.max(1) as f64),
        "kernels": KERNELS.with(|k| k.get()).map(|k| k as f64 / per),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "version": format!("burn 0.21.0 {BACKEND_NAME}"),
    });
    println!("{json}");
    Ok(())
}

fn tables(iters: usize) {
    let run = Run {
        iters,
        shards: batch_shards::<Train>(),
        dtype: DType::F32,
        quantization: None,
        host_reads: false,
        checkpointing: Checkpointing::None,
    };
    let shape = shape("bench").expect("the bench shape");
    let params = burn::module::Module::num_params(&frozen(&shape, DType::F32));
    println!(
        "Llama on {BACKEND_NAME}: {params} parameters (6 layers, d = 512, GQA 8/4 heads, vocab 8000)\n"
    );
    println!("| context | prefill tokens/s | decode tokens/s | decode ms/token |");
    println!("|---:|---:|---:|---:|");
    for context in [64, 512] {
        let prefill = prefill_case(&shape, context, &run);
        let decode = decode_case(&shape, context, &run);
        println!(
            "| {context} | {:.0} | {:.1} | {:.2} |",
            context as f64 / prefill.seconds,
            1.0 / decode.seconds,
            decode.seconds * 1e3
        );
    }
    println!("\ntraining step, batch 4 × {SEQ} tokens, median of {iters}");
    println!("| variant | trainable params | s/step | × frozen forward | tokens/s |");
    println!("|---|---:|---:|---:|---:|");
    let floor = forward_case(&shape, &run);
    let row = |name: &str, m: &Measured| {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.0} |",
            m.trainable,
            m.seconds,
            m.seconds / floor.seconds,
            m.tokens as f64 / m.seconds
        )
    };
    row("frozen model, forward only (floor)", &floor);
    row(
        "LoRA r = 8, all seven",
        &run_case(&shape, "train-lora", &run).expect("a case"),
    );
    let bare = run_case(&shape, "train-rlora", &run).expect("a case");
    row("R-LoRA N = 5, r = 8, all seven", &bare);
    let looped = train_loop_case(&shape, &run);
    row("the same inside `rlora train`'s loop", &looped);
    println!(
        "\n`rlora train`'s loop (Learner, loader, metrics, AdamW) / bare step: {:.3}",
        looped.seconds / bare.seconds
    );
}

fn main() {
    tune_cpu_allocator();
    let args: Vec<String> = std::env::args().collect();
    let result = match flag(&args, "--case") {
        Some(case) => one_case(&args, case),
        None => start_backend().map(|()| {
            let iters = flag(&args, "--iters")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3);
            tables(iters);
        }),
    };
    if let Err(message) = result {
        eprintln!("bench: {message}");
        std::process::exit(2);
    }
}

/// `--count-kernels`: CubeCL's profiling log at its `minimal` level (the name of every kernel as
/// it is launched, without timing it or waiting for it) in a file, whose lines [`median`] counts
/// around each repetition: the kernels one step launches, a fused kernel once. CubeCL backends
/// only (`--features cuda`, `wgpu`, …).
mod kernel_log {
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::time::Duration;

    /// The log file, once the log is on.
    static FILE: OnceLock<PathBuf> = OnceLock::new();

    /// Turns the log on, before the backend starts (the file is the process's own).
    #[cfg(feature = "gpu")]
    pub fn start() -> Result<(), String> {
        use burn::cubecl::config::profiling::ProfilingLogLevel;
        use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

        let file = std::env::temp_dir().join(format!("rlora-kernels-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&file);
        // The settings of `cubecl.toml` and `CUBECL_*` (autotune level, …), with the log on.
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        config.profiling.logger.level = ProfilingLogLevel::Minimal;
        config.profiling.logger.file = Some(file.clone());
        CubeClRuntimeConfig::set(config);
        let _ = FILE.set(file);
        Ok(())
    }

    /// Without a CubeCL backend there are no kernels to count.
    #[cfg(not(feature = "gpu"))]
    pub fn start() -> Result<(), String> {
        Err(
            "--count-kernels needs a CubeCL backend (--features cuda, wgpu, vulkan or metal)"
                .into(),
        )
    }

    /// The kernels launched so far, once the logger has written them all (the count holds still
    /// for 100 ms); none when the log is off.
    pub fn launched() -> Option<usize> {
        let file = FILE.get()?;
        let count = || {
            std::fs::read_to_string(file)
                .map(|text| text.lines().filter(|l| l.starts_with("Executing ")).count())
                .unwrap_or(0)
        };
        let mut last = count();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = count();
            if now == last {
                break;
            }
            last = now;
        }
        Some(last)
    }
}
