//! End to end on the tiny Llama fixture: the Learner trains the adapters (loss falls, only
//! adapters move), checkpoints resume bit-identically, and the adapter saves and reloads.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::backend::Backend;
use burn::train::TrainStep;
use burn::train::metric::store::Split;
use rlora::Preset;
use rlora_llama::{AdapterSpec, BaseDtype, Llama, Targets, TextTokenizer};
use rlora_train::data::{
    Mixing, StepBatch, StepBatcher, TaskExample, TokenizedExample, tokenize_examples,
};
use rlora_train::trainer::{
    CausalLm, DataParallel, LogLayout, Placement, TrainingConfig, TrainingData, last_logged_step,
    latest_checkpoint, mean_token_loss, metric_history, train, train_on,
};

type B = Autodiff<Flex>;

/// Flex's random numbers (adapter init, dropout) come from one generator per process, which
/// every run reseeds: runs in parallel test threads would draw from each other's stream.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rlora-llama/tests/fixtures/llama-gqa")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two small tasks with task-specific answers.
fn data(tokenizer: &TextTokenizer) -> TrainingData {
    let animals = ["cat", "dog", "owl", "fox", "bee", "eel", "ant", "yak"];
    let sounds = ["meow", "woof", "hoot", "yip", "buzz", "zap", "tap", "grunt"];
    let sound: Vec<TaskExample> = animals
        .iter()
        .zip(sounds)
        .map(|(a, s)| TaskExample {
            prompt: format!("The {a} says"),
            completion: format!(" {s}"),
            choices: None,
        })
        .collect();
    let double: Vec<TaskExample> = (1..9)
        .map(|n| TaskExample {
            prompt: format!("Twice {n} is"),
            completion: format!(" {}", 2 * n),
            choices: None,
        })
        .collect();
    let mut train = Vec::new();
    for (task, examples) in [sound, double].iter().enumerate() {
        train.extend(tokenize_examples(task, examples, tokenizer, 32).unwrap().0);
    }
    TrainingData {
        task_names: vec!["sound".into(), "double".into()],
        validation: train.clone(),
        train,
    }
}

fn config() -> TrainingConfig {
    TrainingConfig::new()
        .with_learning_rate(1e-2)
        .with_batch_size(4)
        .with_epochs(6)
        .with_checkpoint_every(4)
        .with_keep_checkpoints(3)
        .with_mixing(Mixing::Uniform)
        .with_seed(7)
}

fn model() -> Llama<B> {
    <B as Backend>::seed(&Default::default(), 1);
    let spec = AdapterSpec::new(
        Targets::mlp(),
        &Preset::RLora.hyperparameters(3).with_rank(4),
    );
    Llama::from_pretrained(fixture(), Some(&spec), &Default::default()).unwrap()
}

fn adapter_values(model: &Llama<Flex>) -> Vec<Vec<f32>> {
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
        .map(|t| t.into_data().to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn the_learner_trains_the_adapters_and_a_resumed_run_ends_bit_identical() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let before = mean_token_loss(&model().valid_inner(), &data.train, 8);

    let dir = tempdir("full");
    let trained = train(model(), &data, &config(), &dir, false).unwrap().model;
    let after = mean_token_loss(&trained, &data.train, 8);
    assert!(after < 0.5 * before, "loss {before} → {after}");
    // 16 examples × 6 passes / batch 4 = 24 steps = 6 checkpoints of 4 steps, the last 3 kept.
    assert_eq!(latest_checkpoint(&dir), Some(6));
    assert!(!dir.join("checkpoint/model-3.mpk").exists());
    for name in ["model-6.mpk", "optim-6.mpk", "scheduler-6.mpk"] {
        assert!(dir.join("checkpoint").join(name).exists(), "{name}");
    }
    assert!(
        !std::fs::read_dir(dir.join("checkpoint"))
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains("partial") })
    );

    // A checkpoint holds the adapters and the optimizer state, never the frozen base.
    let checkpoint_bytes = std::fs::metadata(dir.join("checkpoint/model-6.mpk"))
        .unwrap()
        .len();
    let base_bytes = std::fs::metadata(fixture().join("model.safetensors"))
        .unwrap()
        .len();
    assert!(
        checkpoint_bytes * 4 < base_bytes,
        "checkpoint {checkpoint_bytes} bytes, base {base_bytes} bytes"
    );

    // A run that crashed while writing its fifth checkpoint (a truncated model file), after its
    // fourth, resumed: it continues from the fourth.
    let crashed = tempdir("resumed");
    train(model(), &data, &config(), &crashed, false).unwrap();
    for kind in ["model", "optim", "scheduler"] {
        std::fs::remove_file(crashed.join("checkpoint").join(format!("{kind}-6.mpk"))).unwrap();
    }
    let fifth = crashed.join("checkpoint/model-5.mpk");
    let bytes = std::fs::read(&fifth).unwrap();
    std::fs::write(&fifth, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(latest_checkpoint(&crashed), Some(5));
    let resumed = train(model(), &data, &config(), &crashed, true)
        .unwrap()
        .model;
    assert_eq!(
        adapter_values(&resumed),
        adapter_values(&trained),
        "resumed run differs"
    );

    // The adapter saves, and reloads onto the original base to the same loss.
    let adapter = tempdir("adapter");
    trained.save_adapter(&adapter).unwrap();
    let reloaded = Llama::<Flex>::from_pretrained(fixture(), None, &Default::default())
        .unwrap()
        .load_adapter(&adapter, &Default::default())
        .unwrap();
    assert_eq!(mean_token_loss(&reloaded, &data.train, 8), after);
}

/// With a 4-bit base (`--base-dtype q4`): the Learner trains the adapters over the quantized
/// projections, a resumed run ends where the whole run ends, and the adapter reloads onto the
/// quantized base to the same loss.
#[test]
fn a_quantized_base_trains_through_the_learner_and_resumes_bit_identical() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let quantized = || {
        <B as Backend>::seed(&Default::default(), 1);
        let spec = AdapterSpec::new(
            Targets::mlp(),
            &Preset::RLora.hyperparameters(3).with_rank(4),
        );
        Llama::<B>::from_pretrained_with_base(
            fixture(),
            Some(&spec),
            BaseDtype::Q4,
            &Default::default(),
        )
        .unwrap()
    };
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let before = mean_token_loss(&quantized().valid_inner(), &data.train, 8);

    let dir = tempdir("quantized");
    let trained = train(quantized(), &data, &config(), &dir, false)
        .unwrap()
        .model;
    let after = mean_token_loss(&trained, &data.train, 8);
    assert!(after < 0.5 * before, "loss {before} → {after}");

    let resumed_dir = tempdir("quantized-resumed");
    train(quantized(), &data, &config(), &resumed_dir, false).unwrap();
    for kind in ["model", "optim", "scheduler"] {
        std::fs::remove_file(resumed_dir.join("checkpoint").join(format!("{kind}-6.mpk"))).unwrap();
    }
    let resumed = train(quantized(), &data, &config(), &resumed_dir, true)
        .unwrap()
        .model;
    assert_eq!(adapter_values(&resumed), adapter_values(&trained));

    let adapter = tempdir("quantized-adapter");
    trained.save_adapter(&adapter).unwrap();
    let reloaded = Llama::<Flex>::from_pretrained_with_base(
        fixture(),
        None,
        BaseDtype::Q4,
        &Default::default(),
    )
    .unwrap()
    .load_adapter(&adapter, &Default::default())
    .unwrap();
    assert_eq!(mean_token_loss(&reloaded, &data.train, 8), after);
}

trait ValidInner {
    fn valid_inner(self) -> Llama<Flex>;
}

impl ValidInner for Llama<B> {
    fn valid_inner(self) -> Llama<Flex> {
        burn::module::AutodiffModule::valid(&self)
    }
}

#[test]
fn data_parallel_training_on_two_cpu_workers_takes_a_batch_per_worker_per_step() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let before = mean_token_loss(&model().valid_inner(), &data.train, 8);
    let dir = tempdir("two-workers");
    let devices = vec![Default::default(); 2];
    let trained = train_on(
        model(),
        &data,
        &config(),
        &dir,
        false,
        Placement::devices(devices, DataParallel::Gather),
    )
    .unwrap()
    .model;
    let after = mean_token_loss(&trained, &data.train, 8);
    assert!(after < 0.7 * before, "loss {before} → {after}");
    // 16 examples × 6 passes / batch 4 = 24 batches: 12 steps of 2 batches, checkpoints every
    // 4 steps; the logs have one loss per step (the two workers' averaged).
    assert_eq!(latest_checkpoint(&dir), Some(3));
    let losses = metric_history(&dir, Split::Train, "Loss", LogLayout::new(4, 2));
    assert_eq!(losses.len(), 12);
    assert_eq!(losses.last().map(|(step, _)| *step), Some(12.0));
    assert_eq!(
        last_logged_step(&dir, "Loss", LogLayout::new(4, 2)),
        Some(12)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two CPU workers of batch 4 train as one worker of batch 8: each takes its half of every
/// update's rows and divides its loss by the whole update's counted tokens, so the per-step
/// losses and the trained adapters are the single worker's (the rows of the two tasks differ in
/// counted tokens, so averaging the workers' own mean losses would not be).
#[test]
fn two_workers_of_batch_4_train_as_one_worker_of_batch_8() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let config = config().with_epochs(2).with_checkpoint_every(2);
    let (one_dir, two_dir) = (tempdir("one-of-8"), tempdir("two-of-4"));
    let one = train_on(
        model_without_dropout(),
        &data,
        &config.clone().with_batch_size(8),
        &one_dir,
        false,
        Placement::device(Default::default()),
    )
    .unwrap();
    let two = train_on(
        model_without_dropout(),
        &data,
        &config.with_batch_size(4),
        &two_dir,
        false,
        Placement::devices(vec![Default::default(); 2], DataParallel::Gather),
    )
    .unwrap();
    let one_losses = metric_history(&one_dir, Split::Train, "Loss", LogLayout::new(2, 1));
    let two_losses = metric_history(&two_dir, Split::Train, "Loss", LogLayout::new(2, 2));
    assert_eq!(one_losses.len(), 4, "{one_losses:?}");
    assert_eq!(two_losses.len(), 4, "{two_losses:?}");
    for ((step, a), (_, b)) in one_losses.iter().zip(&two_losses) {
        assert!(
            (a - b).abs() < 1e-5,
            "step {step}: loss {a} on one worker, {b} on two"
        );
    }
    let before = adapter_values(&model_without_dropout().valid_inner());
    let (one, two) = (adapter_values(&one.model), adapter_values(&two.model));
    let moved = max_abs_difference(&one, &before);
    assert!(moved > 1e-3, "the adapters barely trained: {moved}");
    let difference = max_abs_difference(&one, &two);
    assert!(
        difference < 1e-5,
        "the adapters differ by {difference:e} (moved {moved})"
    );
    let _ = std::fs::remove_dir_all(&one_dir);
    let _ = std::fs::remove_dir_all(&two_dir);
}

/// The R-LoRA model without dropout, so that two passes over the same rows agree.
fn model_without_dropout() -> Llama<B> {
    <B as Backend>::seed(&Default::default(), 1);
    let spec = AdapterSpec::new(
        Targets::mlp(),
        &Preset::RLora
            .hyperparameters(3)
            .with_rank(4)
            .with_dropout(0.0),
    );
    Llama::from_pretrained(fixture(), Some(&spec), &Default::default()).unwrap()
}

/// The gradients of one update of `rows`, cut into micro-batches of `micro_batch` rows.
fn update_gradients(
    model: &CausalLm<B>,
    rows: &[TokenizedExample],
    micro_batch: usize,
) -> Vec<Vec<f32>> {
    let step: StepBatch<B> = StepBatcher { micro_batch }.batch(rows.to_vec(), &Default::default());
    let grads = TrainStep::step(model, step.into()).grads;
    model
        .trainable_ids()
        .into_iter()
        .map(|id| {
            let grad = grads
                .get::<Flex, 2>(id)
                .expect("every adapter has a gradient");
            grad.into_data().to_vec::<f32>().unwrap()
        })
        .collect()
}

fn max_abs_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Accumulating two micro-batches of two rows gives the gradients of one batch of the four rows
/// (the loss is divided by the tokens of the whole update), while averaging the two micro-batches'
/// own mean losses, as accumulation by mean would, gives other gradients: the two tasks' rows
/// have different numbers of completion tokens.
#[test]
fn accumulated_micro_batches_give_the_gradients_of_one_large_batch() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let rows: Vec<TokenizedExample> = [0, 1, 8, 9].map(|i| data.train[i].clone()).to_vec();
    let counted = |r: &TokenizedExample| r.tokens.len() - r.prompt_len;
    assert_ne!(
        counted(&rows[0]) + counted(&rows[1]),
        counted(&rows[2]) + counted(&rows[3]),
        "the micro-batches must differ in counted tokens for the test to tell the two apart"
    );
    let model = CausalLm {
        llama: model_without_dropout(),
        shards: 1,
        activation_checkpointing: false,
    };

    let one_batch = update_gradients(&model, &rows, 4);
    let accumulated = update_gradients(&model, &rows, 2);
    let first = update_gradients(&model, &rows[..2], 2);
    let second = update_gradients(&model, &rows[2..], 2);
    let mean_of_means: Vec<Vec<f32>> = first
        .iter()
        .zip(&second)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect())
        .collect();

    let scale = one_batch
        .iter()
        .flatten()
        .fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(scale > 1e-4, "gradients too small to compare: {scale}");
    let accumulation_error = max_abs_difference(&accumulated, &one_batch) / scale;
    let mean_of_means_error = max_abs_difference(&mean_of_means, &one_batch) / scale;
    assert!(
        accumulation_error < 1e-5,
        "accumulated vs one batch: {accumulation_error:e} of the largest gradient"
    );
    assert!(
        mean_of_means_error > 100.0 * 1e-5,
        "the mean of the micro-batches' means should differ: {mean_of_means_error:e}"
    );
}

/// `--activation-checkpointing` trains on the same gradients: an update of two micro-batches,
/// each cut into two shards, through the checkpointed step against the plain one.
#[test]
fn activation_checkpointing_gives_the_same_update_gradients() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let rows: Vec<TokenizedExample> = [0, 1, 8, 9].map(|i| data.train[i].clone()).to_vec();
    let plain = CausalLm {
        llama: model_without_dropout(),
        shards: 2,
        activation_checkpointing: false,
    };
    let checkpointed = CausalLm {
        activation_checkpointing: true,
        ..plain.clone()
    };
    let expected = update_gradients(&plain, &rows, 2);
    let scale = expected
        .iter()
        .flatten()
        .fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(scale > 1e-4, "gradients too small to compare: {scale}");
    let error = max_abs_difference(&update_gradients(&checkpointed, &rows, 2), &expected);
    assert!(error < 1e-5, "checkpointed vs plain: {error:e}");

    // With dropout, a checkpointed step draws its masks' seed from the backend's generator: the
    // same generator state gives the same update.
    let spec = AdapterSpec::new(
        Targets::mlp(),
        &Preset::RLora.hyperparameters(3).with_rank(4),
    );
    let with_dropout = CausalLm {
        llama: Llama::<B>::from_pretrained(fixture(), Some(&spec), &Default::default()).unwrap(),
        ..checkpointed
    };
    assert!(with_dropout.llama.has_dropout());
    let mut updates = (0..2).map(|_| {
        <B as Backend>::seed(&Default::default(), 5);
        update_gradients(&with_dropout, &rows, 2)
    });
    let (first, again) = (updates.next().unwrap(), updates.next().unwrap());
    assert_eq!(first, again);
}

/// `--max-steps` counts optimizer updates whatever the accumulation and the devices: 3 updates of
/// 2 micro-batches on each of 2 workers take 3 × 2 × 2 batches, checkpoint after each update, and
/// the schedule reaches its end (the minimum rate) at the third.
#[test]
fn steps_are_optimizer_updates_with_accumulation_and_devices() {
    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let data = data(&tokenizer);
    let config = config()
        .with_batch_size(2)
        .with_grad_accumulation(2)
        .with_max_steps(Some(3))
        .with_checkpoint_every(1)
        .with_keep_checkpoints(5);
    let dir = tempdir("updates");
    let devices = vec![Default::default(); 2];
    let trained = train_on(
        model(),
        &data,
        &config,
        &dir,
        false,
        Placement::devices(devices, DataParallel::Gather),
    )
    .unwrap();
    assert_eq!(trained.steps, 3);
    assert_eq!(latest_checkpoint(&dir), Some(3));
    // One value per update (the devices' entries averaged).
    let layout = LogLayout::new(1, 2);
    assert_eq!(metric_history(&dir, Split::Train, "Loss", layout).len(), 3);
    assert_eq!(last_logged_step(&dir, "Loss", layout), Some(3));
    let rates = metric_history(&dir, Split::Train, "Learning Rate", layout);
    assert_eq!(rates.len(), 3, "{rates:?}");
    let last = rates.last().unwrap().1;
    assert!(
        last.abs() < 1e-12,
        "the cosine ends at the minimum rate: {rates:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing is read back from the device in a training step: an update whose gradients are not
/// finite (NaN or inf, with clipping and without) is stepped without a stop, and its item, read
/// with the metrics, reports the norm and stops the run naming it; from then on no checkpoint
/// is written (`rlora train`'s test of a loss that is not finite checks that in a run). An update with finite gradients reports its norm (that of the update's gradients
/// before clipping) and stops nothing.
#[test]
fn updates_that_are_not_finite_stop_the_run_at_their_read_and_no_checkpoint_follows() {
    use burn::module::AutodiffModule;
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use burn::tensor::Tensor;
    use burn::train::metric::ItemLazy;
    use burn::train::{Interrupter, TrainOutput};
    use rlora_train::trainer::{
        GlobalNormClip, UpdateBatch, UpdateChannels, UpdateChecks, global_norm,
    };

    let _serial = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let rows = data(&tokenizer).train[..4].to_vec();
    let llama = model_without_dropout();
    for max_norm in [Some(1.0), None] {
        for poison in [None, Some(f32::NAN), Some(f32::INFINITY)] {
            let case = format!("gradients poisoned with {poison:?}, max norm {max_norm:?}");
            let interrupter = Interrupter::new();
            let channels = UpdateChannels {
                checks: UpdateChecks::new(interrupter.clone()),
                exchange: None,
            };
            let checks = channels.checks.clone();
            let model = CausalLm {
                llama: llama.clone(),
                shards: 1,
                activation_checkpointing: false,
            };
            let step = UpdateBatch {
                batch: StepBatcher { micro_batch: 4 }.batch(rows.clone(), &Default::default()),
                channels: Some(channels.clone()),
            };
            let TrainOutput { grads, item } = TrainStep::step(&model, step);
            let grads = match poison {
                None => grads,
                Some(bad) => {
                    let mut poisoned = GradientsParams::new();
                    let mut grads = grads;
                    for (index, (id, _)) in model.trainable_shapes().into_iter().enumerate() {
                        let mut grad = grads.remove::<Flex, 2>(id).unwrap();
                        if index == 1 {
                            grad = grad.slice_assign(
                                [0..1, 0..1],
                                Tensor::full([1, 1], bad, &Default::default()),
                            );
                        }
                        poisoned.register(id, grad);
                    }
                    poisoned
                }
            };
            let expected_norm: f64 = global_norm(&model, &grads).unwrap().into_scalar() as f64;
            let mut optimizer =
                GlobalNormClip::new(AdamWConfig::new().init(), max_norm).with_channels(channels);
            let stepped = optimizer.step(1e-2, model, grads);
            assert!(
                !interrupter.should_stop(),
                "{case}: stopped before the read"
            );
            assert_ne!(
                adapter_values(&stepped.llama.valid()),
                adapter_values(&llama.valid())
            );

            let stats = item.sync();
            let norm = stats
                .gradient_norm
                .expect("the item reads its update's norm");
            match poison {
                None => {
                    assert!(
                        (norm - expected_norm).abs() <= 1e-6 * expected_norm,
                        "{case}: {norm}"
                    );
                    assert!(!interrupter.should_stop(), "{case}");
                    assert_eq!(checks.verified(), Ok(()), "{case}");
                }
                Some(_) => {
                    assert!(!norm.is_finite(), "{case}: norm {norm}");
                    assert!(interrupter.should_stop(), "{case}");
                    let message = interrupter.get_message().unwrap_or_default();
                    assert!(
                        message.contains("the gradients' global norm is "),
                        "{case}: {message}"
                    );
                    // What `VerifiedCheckpoints` asks before every checkpoint.
                    assert!(
                        checks.verified().is_err(),
                        "{case}: a checkpoint would be written"
                    );
                }
            }
        }
    }
}

/// A model trained whole (no adapters, every weight trainable, as `rlora pretrain` trains the
/// tiny base) is clipped by the global norm of all its gradients, matrices and vectors: the norm
/// is not 0, and clipping to half of it leaves half of it.
#[test]
fn a_model_trained_whole_is_clipped_by_the_norm_of_all_its_gradients() {
    use rlora_train::trainer::{clip_global_norm, global_norm};

    let tokenizer = TextTokenizer::from_dir(fixture()).unwrap();
    let rows = data(&tokenizer).train[..4].to_vec();
    let model = CausalLm {
        llama: Llama::<B>::from_pretrained(fixture(), None, &Default::default())
            .unwrap()
            .unfrozen(),
        shards: 1,
        activation_checkpointing: false,
    };
    let step: StepBatch<B> = StepBatcher { micro_batch: 4 }.batch(rows, &Default::default());
    let mut grads = TrainStep::step(&model, step.into()).grads;
    let norm: f64 = global_norm(&model, &grads).unwrap().into_scalar() as f64;
    assert!(norm > 0.0 && norm.is_finite(), "global norm {norm}");
    let clipped: f64 = clip_global_norm(&model, &mut grads, norm / 2.0)
        .unwrap()
        .into_scalar() as f64;
    assert_eq!(clipped, norm);
    let after: f64 = global_norm(&model, &grads).unwrap().into_scalar() as f64;
    assert!(
        (after - norm / 2.0).abs() < 1e-5 * norm,
        "{after} vs {}",
        norm / 2.0
    );
}
