//! The layer against the PyTorch reference (`xtask/fixtures/rlora_reference.py`): eval-mode output
//! and the gradients of `A`, every head and the router for `loss = Σ y²`, rank-3 input.

use crate::common::{TestAutodiff, assert_close, linear};
use burn::module::AutodiffModule;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use rlora::io::TensorFile;
use rlora::{RLoraConfig, RLoraLinear};

/// `rlora/tests/fixtures`: under `CARGO_MANIFEST_DIR` as it is when the test runs (cargo sets
/// it; the GPU bundle's `run.sh` points it into the bundle), else where the test was built.
fn fixtures() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        )
        .join("tests/fixtures")
}
/// f32 against f32: both sides sum a few dozen products, so 1e-5 relative is the bar.
const TOLERANCE: f64 = 1e-5;

fn meta<T: std::str::FromStr>(file: &TensorFile, key: &str) -> T {
    file.metadata()[key]
        .parse()
        .unwrap_or_else(|_| panic!("metadata `{key}` of {}", file.path().display()))
}

/// The layer the fixture describes, with the reference's parameters loaded, and the fixture's
/// remaining tensors (input, output, gradients).
fn load_case<B: AutodiffBackend>(name: &str) -> (RLoraLinear<B>, TensorFile) {
    let mut file =
        TensorFile::read(fixtures().join(format!("{name}.safetensors"))).expect("fixture");
    let config = RLoraConfig::new(meta(&file, "d_input"), meta(&file, "d_output"))
        .with_rank(meta(&file, "rank"))
        .with_heads(meta(&file, "heads"))
        .with_alpha(meta(&file, "alpha"))
        .with_use_rslora(meta(&file, "use_rslora"))
        .with_bias(meta(&file, "bias"))
        // Non-zero heads, so the fixture's offset factors are part of the adapter.
        .with_init_b(rlora::LoraInit::Unit);
    let device = Default::default();
    let base: Linear<B> = {
        let weight = file
            .take("base.weight", [config.d_input, config.d_output], &device)
            .expect("base.weight");
        let bias = config.bias.then(|| {
            file.take("base.bias", [config.d_output], &device)
                .expect("base.bias")
        });
        linear(weight, bias)
    };
    let layer =
        RLoraLinear::read_adapter_tensors(base, &config, "", &mut file, &device).expect("adapter");
    (layer, file)
}

fn check_case(name: &str) {
    let device = Default::default();
    let (layer, mut file) = load_case::<TestAutodiff>(name);
    let config = layer.config.clone();
    let (d_in, d_out, r, n) = (config.d_input, config.d_output, config.rank, config.heads);
    let x: Tensor<TestAutodiff, 3> = file.take("x", [2, 3, d_in], &device).expect("x");
    let y_ref: Tensor<TestAutodiff, 3> = file.take("y", [2, 3, d_out], &device).expect("y");

    // Eval mode: the inner (non-autodiff) module, no dropout.
    let y_eval = layer.valid().forward(x.clone().inner());
    assert_close(
        &format!("{name}: y (eval)"),
        y_eval,
        y_ref.clone().inner(),
        TOLERANCE,
    );

    // Gradients of loss = Σ y² through the autodiff backend.
    let y = layer.forward(x);
    assert_close(
        &format!("{name}: y (autodiff)"),
        y.clone(),
        y_ref,
        TOLERANCE,
    );
    let grads = y.powi_scalar(2).sum().backward();
    let grad_a = layer.lora_a.grad(&grads).expect("A has a gradient");
    let grad_b = layer.lora_b.grad(&grads).expect("heads have a gradient");
    let expect = |file: &mut TensorFile, key: &str, shape: [usize; 2]| {
        file.take::<TestAutodiff, 2>(key, shape, &device)
            .expect(key)
            .inner()
    };
    assert_close(
        &format!("{name}: grad A"),
        grad_a,
        expect(&mut file, "grad_lora_a", [d_in, r]),
        TOLERANCE,
    );
    assert_close(
        &format!("{name}: grad heads"),
        grad_b,
        expect(&mut file, "grad_lora_b", [n * r, d_out]),
        TOLERANCE,
    );
    if let Some(router) = &layer.router {
        let grad_router = router.grad(&grads).expect("router has a gradient");
        assert_close(
            &format!("{name}: grad router"),
            grad_router,
            expect(&mut file, "grad_router", [d_in, n]),
            TOLERANCE,
        );
    }
    // The frozen base and offset get no gradient.
    assert!(
        layer.base.weight.grad(&grads).is_none(),
        "{name}: base weight got a gradient"
    );
    assert!(
        layer
            .offset
            .as_ref()
            .is_some_and(|o| o.a.grad(&grads).is_none())
    );
    file.ensure_consumed()
        .expect("every fixture tensor was checked");
}

#[test]
fn three_heads_with_bias_match_pytorch() {
    check_case("golden_heads3_bias");
}

#[test]
fn three_heads_without_bias_rank_stabilized_match_pytorch() {
    check_case("golden_heads3_nobias");
}

#[test]
fn one_head_without_router_matches_pytorch() {
    check_case("golden_heads1_bias");
}
