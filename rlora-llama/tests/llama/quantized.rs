//! The quantized frozen base (`BaseDtype::Q8`, `Q4`): a quantized projection against the same
//! projection on its dequantized weights, output and gradients; a model's adapters on a
//! quantized base saved, loaded back and merged into a float copy of the base, and exported to
//! PEFT and loaded back.

use std::convert::Infallible;

use crate::common::{
    TestAutodiff, TestBackend, device, fixture, logits, max_abs_diff, prompts, values,
};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Distribution, Tensor};
use rlora::{RLoraConfig, RLoraLinear};
use rlora_llama::layers::Projection;
use rlora_llama::{AdapterSpec, BaseDtype, Llama, Quantization, Targets};

/// The projection with its base dequantized: the same adapter on a float `Linear`.
fn dense<B: rlora_llama::LlamaBackend>(projection: Projection<B>) -> Projection<B> {
    let dense = projection.into_dense();
    assert!(!matches!(dense, Projection::Quantized(_)));
    dense
}

/// A trainable parameter's gradient.
fn grad(
    param: &Param<Tensor<TestAutodiff, 2>>,
    grads: &<TestAutodiff as burn::tensor::backend::AutodiffBackend>::Gradients,
) -> Vec<f32> {
    values(param.val().grad(grads).expect("a gradient"))
}

#[test]
fn a_quantized_projection_computes_what_its_dequantized_weights_compute() {
    // 72 inputs: two whole blocks of 32 and one padded block.
    let (d_in, d_out) = (72, 40);
    let template = RLoraConfig::r_lora(1, 1, 3).with_rank(4).with_dropout(0.0);
    for quantization in [Quantization::Q8, Quantization::Q4] {
        for template in [None, Some(&template)] {
            let drawn = LinearConfig::new(d_in, d_out)
                .with_bias(true)
                .init::<TestAutodiff>(&device());
            // Drawn once (a lazily initialized parameter draws again in each copy); the bias
            // derived from a tracked tensor, as a cast to the base's type makes it.
            let base = Linear {
                weight: Param::from_tensor(drawn.weight.val()),
                bias: drawn
                    .bias
                    .map(|b| Param::from_tensor(b.val()).map(|b| b.mul_scalar(1.0))),
            };
            let quantized =
                Projection::new(base.clone(), template, Some((quantization, "t")), &device())
                    .unwrap();
            let dense = dense(quantized.clone());
            // Each dequantized weight within half a step of its block's scale of the original.
            let original = values(base.weight.val());
            let dequantized = values(dense.dense_base().weight.val());
            let largest = original.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            let half_step = largest / quantization.max_level() as f32 / 2.0;
            let error = max_abs_diff(&original, &dequantized);
            assert!(
                error > 0.0 && error <= half_step * 1.001,
                "{quantization:?}: dequantized weights off by {error} (half a step: {half_step})"
            );
            let x =
                Tensor::<TestAutodiff, 3>::random([2, 5, d_in], Distribution::Default, &device());
            let upstream = Tensor::random([2, 5, d_out], Distribution::Default, &device());
            let run = |projection: &Projection<TestAutodiff>| {
                let x = x.clone().detach().require_grad();
                let y = projection.forward(x.clone());
                let grads = (y.clone() * upstream.clone()).sum().backward();
                let x_grad = values(x.grad(&grads).expect("the input's gradient"));
                let adapter_grads = projection.adapter().map(|adapter| {
                    [&adapter.lora_a, &adapter.lora_b]
                        .into_iter()
                        .chain(adapter.router.as_ref())
                        .map(|param| grad(param, &grads))
                        .collect::<Vec<_>>()
                });
                (values(y), x_grad, adapter_grads)
            };
            let (y, x_grad, adapter_grads) = run(&quantized);
            let (y_dense, x_grad_dense, adapter_grads_dense) = run(&dense);
            let what = format!("{quantization:?}, adapter {}", template.is_some());
            assert!(max_abs_diff(&y, &y_dense) < 1e-5, "{what}: outputs differ");
            assert!(
                max_abs_diff(&x_grad, &x_grad_dense) < 1e-5,
                "{what}: input gradients differ"
            );
            for (a, b) in adapter_grads
                .unwrap_or_default()
                .iter()
                .zip(&adapter_grads_dense.unwrap_or_default())
            {
                assert!(
                    max_abs_diff(a, b) < 1e-5,
                    "{what}: adapter gradients differ"
                );
            }
            // The quantization itself is far larger than the tolerance above.
            let (y_original, ..) = run(&match dense {
                Projection::Adapted(layer) => Projection::Adapted(RLoraLinear { base, ..layer }),
                Projection::Frozen(_) => Projection::Frozen(base),
                Projection::Quantized(_) => unreachable!("dequantized"),
            });
            assert!(
                max_abs_diff(&y, &y_original) > 1e-4,
                "{what}: the quantization changed nothing"
            );
        }
    }
}

/// The fixture with a 4-bit base and `adapter`.
fn q4_fixture(adapter: Option<&AdapterSpec>) -> Llama<TestBackend> {
    Llama::from_pretrained_with_base(fixture("llama-gqa"), adapter, BaseDtype::Q4, &device())
        .unwrap()
}

#[test]
fn adapters_on_a_quantized_base_load_back_and_merge_into_its_float_copy() {
    let spec = AdapterSpec {
        targets: Targets::parse(&["all-linear"]).unwrap(),
        template: RLoraConfig::r_lora(1, 1, 3),
    };
    let quantized = q4_fixture(Some(&spec));
    for layer in &quantized.layers {
        for module in rlora_llama::TargetModule::ALL {
            let projection = layer.projection(module);
            assert!(
                matches!(projection, Projection::Quantized(_)),
                "{module:?} is quantized"
            );
            assert!(projection.adapter().is_some(), "{module:?} has its adapter");
        }
    }
    let dense = quantized
        .clone()
        .map_projections(|_, _, p| Ok::<_, Infallible>(dense(p)))
        .unwrap();
    let prompts = prompts();

    let dir = std::env::temp_dir().join(format!("rlora-llama-quantized-{}", std::process::id()));
    quantized.save_adapter(&dir).unwrap();
    let loaded = q4_fixture(None).load_adapter(&dir, &device()).unwrap();
    let merged = quantized.clone().merge_adapters(None).unwrap();
    let merged_dense = dense.clone().merge_adapters(None).unwrap();
    for prompt in &prompts {
        let diff = max_abs_diff(&logits(&quantized, prompt), &logits(&dense, prompt));
        assert!(diff < 1e-4, "quantized against dequantized: {diff}");
        assert_eq!(logits(&loaded, prompt), logits(&quantized, prompt));
        let diff = max_abs_diff(&logits(&merged, prompt), &logits(&merged_dense, prompt));
        assert!(diff < 1e-5, "merged: {diff}");
    }
    assert!(merged.adapters().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_single_head_adapter_on_a_quantized_base_exports_to_peft_and_back() {
    let spec = AdapterSpec {
        targets: Targets::mlp(),
        template: RLoraConfig::r_lora(1, 1, 1),
    };
    // Heads moved away from their start, so the adapter changes the model (at its start it
    // cancels its offset and the model is the base's).
    let model = q4_fixture(Some(&spec))
        .map_projections(|_, _, projection| {
            Ok::<_, Infallible>(projection.map_adapter(|mut adapter| {
                adapter.lora_b = adapter.lora_b.map(|b| b.clone() + b.ones_like() * 0.05);
                adapter
            }))
        })
        .unwrap();
    let base = q4_fixture(None);
    let moved = max_abs_diff(
        &logits(&model, &prompts()[0]),
        &logits(&base, &prompts()[0]),
    );
    assert!(moved > 1e-2, "the adapter moves the logits: {moved}");
    let dir = std::env::temp_dir().join(format!("rlora-llama-q4-peft-{}", std::process::id()));
    model.export_peft_adapter(&dir, Some("llama-gqa")).unwrap();
    let again = base.load_peft_adapter(&dir, &device()).unwrap();
    for prompt in &prompts() {
        let diff = max_abs_diff(&logits(&again, prompt), &logits(&model, prompt));
        assert!(diff < 1e-4, "PEFT round trip on a q4 base: {diff}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
