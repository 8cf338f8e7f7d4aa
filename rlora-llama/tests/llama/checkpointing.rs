//! Activation checkpointing: the checkpointed gradients against the plain backward pass's, without
//! dropout and with R-LoRA's multi-head dropout (whose masks the recomputation must draw again).

use crate::common::{TestAutodiff, device, fixture, max_abs_diff, prompts, values};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};
use rlora::RLoraConfig;
use rlora_llama::layers::{KeyMask, Positions, Rotary, inverse_frequencies};
use rlora_llama::{AdapterSpec, Llama, LossTargets, Targets};

/// The loss scale of the tests' steps (one over an update's counted tokens).
const SCALE: f64 = 1.0 / 13.0;

/// The test base with `template` on every linear layer; its routers and heads are moved off
/// their start so that every gradient is non-trivial.
fn model(template: RLoraConfig) -> Llama<TestAutodiff> {
    let spec = AdapterSpec {
        targets: Targets::parse(&["all-linear"]).unwrap(),
        template,
    };
    let model: Llama<TestAutodiff> =
        Llama::from_pretrained(fixture("llama-gqa"), Some(&spec), &device()).unwrap();
    model.map(&mut Perturb)
}

/// Adds `0.05 · sin(k)` to the k-th element of every trainable parameter.
struct Perturb;

impl burn::module::ModuleMapper<TestAutodiff> for Perturb {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<TestAutodiff, D>>,
    ) -> burn::module::Param<Tensor<TestAutodiff, D>> {
        if !param.val().is_require_grad() {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let wave: Vec<f32> = (0..n).map(|k| 0.05 * (k as f32).sin()).collect();
        let wave = Tensor::<TestAutodiff, 1>::from_data(TensorData::new(wave, [n]), &device())
            .reshape(shape);
        let moved = (tensor.detach() + wave).detach().require_grad();
        burn::module::Param::from_mapped_value(id, moved, mapper)
    }
}

/// Two rows of the fixture's prompts cut to one length, and their next-token targets (every
/// position but the last counts).
fn batch() -> (Tensor<TestAutodiff, 2, Int>, LossTargets<TestAutodiff>) {
    let prompts = prompts();
    let seq = 8;
    let rows: Vec<i64> = prompts[1..]
        .iter()
        .flat_map(|p| p[..seq].iter().map(|&t| t as i64))
        .collect();
    let targets: Vec<i64> = rows.iter().skip(1).chain([&0]).copied().collect();
    let counted: Vec<bool> = (0..rows.len()).map(|i| i % seq != seq - 1).collect();
    let tokens = Tensor::from_data(TensorData::new(rows, [2, seq]), &device());
    (tokens, LossTargets::new(&targets, &counted, 2, &device()))
}

/// Every trainable gradient of `model` in `grads`, concatenated in the model's order.
fn flat(model: &Llama<TestAutodiff>, grads: &GradientsParams) -> Vec<f32> {
    let mut out = Vec::new();
    for (_, adapter) in model.adapters() {
        for param in [Some(&adapter.lora_a), Some(&adapter.lora_b)]
            .into_iter()
            .chain([adapter.router.as_ref()])
            .flatten()
        {
            let grad = grads
                .get::<<TestAutodiff as burn::tensor::backend::AutodiffBackend>::InnerBackend, 2>(
                    param.id,
                )
                .expect("every adapter parameter has a gradient");
            out.extend(values(grad));
        }
    }
    out
}

/// The plain step: one graph over the whole model. With `seed`, the generator is seeded with
/// `seed + i` before layer `i`, as the checkpointed step does.
fn plain(
    model: &Llama<TestAutodiff>,
    tokens: Tensor<TestAutodiff, 2, Int>,
    targets: &LossTargets<TestAutodiff>,
    seed: Option<u64>,
) -> (Vec<f32>, Vec<f32>) {
    let hidden = match seed {
        None => model.hidden_states(tokens, None, None),
        Some(seed) => {
            let seq = tokens.dims()[1];
            let config = &model.config;
            let inv_freq: Vec<f32> = inverse_frequencies(config)
                .into_iter()
                .map(|f| f as f32)
                .collect();
            let rotary = Rotary::new(
                Positions::Shared { start: 0, len: seq },
                &inv_freq,
                config.num_attention_heads,
                config.num_kv_heads(),
                &device(),
            );
            let mask = KeyMask::causal(seq, 0, &device());
            let mut h = model.embed_tokens.forward(tokens).cast(FloatDType::F32);
            for (i, layer) in model.layers.iter().enumerate() {
                TestAutodiff::seed(&device(), seed + i as u64);
                h = layer.forward(h, &rotary, &mask, None);
            }
            model.norm.forward(h)
        }
    };
    let nll = model.token_nll(hidden, targets);
    let grads = nll.clone().sum().mul_scalar(SCALE).backward();
    let grads = GradientsParams::from_grads(grads, model);
    (values(nll), flat(model, &grads))
}

fn checkpointed(
    model: &Llama<TestAutodiff>,
    tokens: Tensor<TestAutodiff, 2, Int>,
    targets: &LossTargets<TestAutodiff>,
    seed: Option<u64>,
) -> (Vec<f32>, Vec<f32>) {
    let (nll, grads) = model.checkpointed_gradients(tokens, targets, SCALE, seed);
    (values(nll), flat(model, &grads))
}

fn largest(values: &[f32]) -> f32 {
    values.iter().fold(0f32, |m, v| m.max(v.abs()))
}

#[test]
fn checkpointed_gradients_equal_the_plain_backward_without_dropout() {
    let model = model(RLoraConfig::r_lora(1, 1, 3).with_dropout(0.0));
    assert!(!model.has_dropout());
    let (tokens, targets) = batch();
    let (nll, grads) = plain(&model, tokens.clone(), &targets, None);
    let (nll_ckpt, grads_ckpt) = checkpointed(&model, tokens, &targets, None);
    assert!(largest(&grads) > 1e-3, "gradients too small to compare");
    assert!(
        max_abs_diff(&nll, &nll_ckpt) <= 1e-5,
        "{nll:?} vs {nll_ckpt:?}"
    );
    let diff = max_abs_diff(&grads, &grads_ckpt);
    assert!(diff <= 1e-5, "gradients differ by {diff}");
}

/// Set in the child process that runs [`checkpointed_gradients_redraw_the_dropout_masks`] alone.
const ALONE: &str = "RLORA_LLAMA_TEST_ALONE";

/// The backend's generator is one per process, and the tests running beside this one draw from
/// it between a seed and the masks: the comparison runs alone, in a child process of this test
/// binary.
#[test]
fn checkpointed_gradients_redraw_the_dropout_masks() {
    if std::env::var_os(ALONE).is_some() {
        return redraw_the_dropout_masks();
    }
    let name = "checkpointing::checkpointed_gradients_redraw_the_dropout_masks";
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads", "1", "--nocapture"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("1 passed"),
        "the test did not run alone:\n{log}"
    );
}

fn redraw_the_dropout_masks() {
    let model = model(RLoraConfig::r_lora(1, 1, 3));
    assert!(model.has_dropout(), "R-LoRA's preset drops out per head");
    let (tokens, targets) = batch();
    let (nll, grads) = plain(&model, tokens.clone(), &targets, Some(7));
    let (nll_ckpt, grads_ckpt) = checkpointed(&model, tokens.clone(), &targets, Some(7));
    assert!(
        max_abs_diff(&nll, &nll_ckpt) <= 1e-5,
        "{nll:?} vs {nll_ckpt:?}"
    );
    let diff = max_abs_diff(&grads, &grads_ckpt);
    assert!(diff <= 1e-5, "gradients differ by {diff}");
    // The masks matter: other masks give other gradients, by far more than the tolerance.
    let (_, other) = plain(&model, tokens, &targets, Some(8));
    assert!(max_abs_diff(&grads, &other) > 1e-3);
}
