//! Freezing and merging: after an AdamW step (weight decay on) the base and the init offset are
//! bit-identical while `A`, the heads and the router moved; merged layers equal the unmerged forward.

use crate::common::{TestAutodiff, TestBackend, assert_close, device, values};
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use rlora::io::TensorFile;
use rlora::{RLoraConfig, RLoraError, RLoraLinear, RouterInit};

#[test]
fn adamw_moves_the_adapter_and_leaves_the_base_bit_identical() {
    let config = RLoraConfig::r_lora(24, 16, 3);
    let layer = config.init::<TestAutodiff>(&device()).unwrap();
    let before = layer.clone();
    let x =
        Tensor::<TestAutodiff, 3>::random([2, 4, 24], Distribution::Normal(0.0, 1.0), &device());
    let loss = layer.forward(x).powi_scalar(2).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &layer);
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.1).init();
    let after = optimizer.step(1e-3, layer, grads);

    let same = |a: Tensor<TestAutodiff, 2>, b: Tensor<TestAutodiff, 2>| values(a) == values(b);
    assert!(
        same(after.base.weight.val(), before.base.weight.val()),
        "base weight changed"
    );
    assert_eq!(
        values(after.base.bias.as_ref().unwrap().val()),
        values(before.base.bias.as_ref().unwrap().val()),
        "base bias changed"
    );
    let (offset, offset0) = (
        after.offset.as_ref().unwrap(),
        before.offset.as_ref().unwrap(),
    );
    assert!(
        same(offset.a.val(), offset0.a.val()) && same(offset.b.val(), offset0.b.val()),
        "offset changed"
    );
    assert!(
        !same(after.lora_a.val(), before.lora_a.val()),
        "A did not train"
    );
    assert!(
        !same(after.lora_b.val(), before.lora_b.val()),
        "heads did not train"
    );
    let router = |l: &RLoraLinear<TestAutodiff>| l.router.as_ref().unwrap().val();
    assert!(
        !same(router(&after), router(&before)),
        "router did not train"
    );
}

fn input<B: Backend>(d_in: usize) -> Tensor<B, 3> {
    Tensor::random(
        [2, 6, d_in],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    )
}

#[test]
fn merge_of_one_head_equals_the_forward() {
    for config in [
        RLoraConfig::lora(20, 12).with_init_b(rlora::LoraInit::Unit),
        RLoraConfig::r_lora(20, 12, 1),
    ] {
        let layer = config.init::<TestBackend>(&device()).unwrap();
        let merged = layer.merge().unwrap();
        let x = input::<TestBackend>(20);
        assert_close("merge", merged.forward(x.clone()), layer.forward(x), 1e-5);
    }
    let heads = RLoraConfig::r_lora(20, 12, 3)
        .init::<TestBackend>(&device())
        .unwrap();
    assert!(matches!(
        heads.merge(),
        Err(RLoraError::MultipleHeads { heads: 3, .. })
    ));
}

#[test]
fn merge_with_routing_equals_the_forward_under_that_routing() {
    let (d_in, d_out, n) = (20, 12, 4);
    // A router that looks only at feature 0, which is 1 for every token: every token's gates are
    // softmax(R[0]), a fixed, non-uniform routing.
    let trained = RLoraConfig::r_lora(d_in, d_out, n)
        .with_router_init(RouterInit::KaimingUniform)
        .init::<TestBackend>(&device())
        .unwrap();
    let mut file = TensorFile::new("unused");
    trained.write_adapter_tensors("", &mut file);
    let row0: Vec<f32> = vec![1.5, -0.5, 0.25, 0.0];
    let mut router = vec![0f32; d_in * n];
    router[..n].copy_from_slice(&row0);
    file.remove("router");
    file.insert(
        "router",
        crate::common::tensor::<TestBackend, 2>(router, [d_in, n]),
    );
    let layer = RLoraLinear::read_adapter_tensors(
        trained.base.clone(),
        &trained.config,
        "",
        &mut file,
        &device(),
    )
    .unwrap();

    let x = input::<TestBackend>(d_in);
    let ones = Tensor::<TestBackend, 3>::ones([2, 6, 1], &device());
    let x = Tensor::cat(vec![ones, x.narrow(2, 1, d_in - 1)], 2);
    let weights: Vec<f64> = {
        let max = row0.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let exp: Vec<f64> = row0.iter().map(|&v| (v as f64 - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    };
    let merged = layer.merge_with_routing(&weights).unwrap();
    assert_close(
        "merge_with_routing",
        merged.forward(x.clone()),
        layer.forward(x),
        1e-5,
    );

    assert!(matches!(
        layer.merge_with_routing(&[0.5, 0.5]),
        Err(RLoraError::InvalidRouting(_))
    ));
    assert!(matches!(
        layer.merge_with_routing(&[f64::NAN; 4]),
        Err(RLoraError::InvalidRouting(_))
    ));
}

#[test]
fn a_trained_model_keeps_its_frozen_parameters_through_valid() {
    let layer = RLoraConfig::r_lora(8, 8, 2)
        .init::<TestAutodiff>(&device())
        .unwrap();
    let inner = layer.valid();
    assert_eq!(inner.num_trainable_params(), 8 * 8 + 2 * 8 * 8 + 8 * 2);
    assert!(inner.offset.is_some());
}
