//! The init offset (the layer starts at its base) and adapter persistence (save, then load onto a
//! fresh copy of the ORIGINAL base, gives the same outputs), with the errors bad adapters get.

use crate::common::{TestAutodiff, TestBackend, assert_close, device, values};
use burn::module::{AutodiffModule, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use rlora::io::{ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, TensorFile};
use rlora::{Fan, LoraInit, RLoraConfig, RLoraError, RLoraLinear};

fn base<B: Backend>(d_in: usize, d_out: usize) -> Linear<B> {
    LinearConfig::new(d_in, d_out).init(&Default::default())
}

/// An independent copy of a linear layer (new parameters, same values).
fn copy<B: Backend>(linear: &Linear<B>) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            linear.weight.val().into_data(),
            &Default::default(),
        )),
        bias: linear.bias.as_ref().map(|b| {
            Param::from_tensor(Tensor::from_data(b.val().into_data(), &Default::default()))
        }),
    }
}

fn input<B: Backend>(d_in: usize) -> Tensor<B, 3> {
    Tensor::random(
        [3, 5, d_in],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    )
}

#[test]
fn every_non_zero_init_starts_at_the_base_function() {
    let (d_in, d_out) = (48, 40);
    let inits = [
        LoraInit::Gaussian { std: 0.5 },
        LoraInit::KaimingUniform,
        LoraInit::KaimingNormal { fan: Fan::Out },
        LoraInit::XavierNormal,
        LoraInit::Orthogonal,
        LoraInit::Unit,
        LoraInit::ScaledNormal { fan: Fan::Out },
    ];
    for init in inits {
        for config in [
            RLoraConfig::r_lora(d_in, d_out, 5).with_init_b(init.clone()),
            RLoraConfig::random_init_only(d_in, d_out, 3)
                .with_init_a(init.clone())
                .with_init_b(init.clone()),
            RLoraConfig::r_lora(d_in, d_out, 1).with_init_b(init.clone()),
        ] {
            let base = base::<TestBackend>(d_in, d_out);
            let layer = RLoraLinear::from_linear(copy(&base), &config, &device()).unwrap();
            assert!(layer.offset.is_some());
            let x = input(d_in);
            assert_close(
                &format!("{init:?}, N = {}", config.heads),
                layer.forward(x.clone()),
                base.forward(x),
                1e-5,
            );
        }
    }
}

/// A few AdamW steps on `Σ y²`, so the adapter is far from its init.
fn train<B: burn::tensor::backend::AutodiffBackend>(
    mut layer: RLoraLinear<B>,
    steps: usize,
) -> RLoraLinear<B> {
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.01).init();
    for _ in 0..steps {
        let loss = layer
            .forward(input::<B>(layer.config.d_input))
            .powi_scalar(2)
            .mean();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        layer = optimizer.step(1e-2, layer, grads);
    }
    layer
}

#[test]
fn a_saved_adapter_applied_to_the_original_base_reproduces_the_layer() {
    let dir = tempdir("roundtrip");
    let (d_in, d_out) = (32, 24);
    for config in [
        RLoraConfig::r_lora(d_in, d_out, 4),
        RLoraConfig::hydra_lora(d_in, d_out, 3),
        RLoraConfig::lora(d_in, d_out).with_bias(false),
        RLoraConfig::r_lora(d_in, d_out, 1),
    ] {
        let original = base::<TestAutodiff>(d_in, d_out).with_bias_as(config.bias);
        let layer = RLoraLinear::from_linear(copy(&original), &config, &device()).unwrap();
        let layer = train(layer, 3);
        layer.save_adapter(&dir).unwrap();

        let loaded = RLoraLinear::load_adapter(copy(&original), &dir, &device()).unwrap();
        assert_eq!(loaded.config, config);
        let x = input::<TestBackend>(d_in);
        assert_eq!(
            values(loaded.valid().forward(x.clone())),
            values(layer.valid().forward(x))
        );
    }
}

/// `Linear` with or without bias, to match a config.
trait WithBias {
    fn with_bias_as(self, bias: bool) -> Self;
}
impl<B: Backend> WithBias for Linear<B> {
    fn with_bias_as(mut self, bias: bool) -> Self {
        if !bias {
            self.bias = None;
        }
        self
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn saved_adapter(name: &str, config: &RLoraConfig) -> std::path::PathBuf {
    let dir = tempdir(name);
    let layer = config.init::<TestBackend>(&device()).unwrap();
    layer.save_adapter(&dir).unwrap();
    dir
}

#[test]
fn a_base_of_another_shape_is_a_config_mismatch() {
    let dir = saved_adapter("mismatch", &RLoraConfig::r_lora(16, 8, 2));
    let error = RLoraLinear::load_adapter(base::<TestBackend>(12, 8), &dir, &device()).unwrap_err();
    assert!(
        matches!(
            error,
            RLoraError::ConfigMismatch {
                field: "d_input",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("adapter_config.json"), "{error}");
}

#[test]
fn missing_wrongly_shaped_and_unexpected_tensors_are_named() {
    let config = RLoraConfig::r_lora(16, 8, 2);
    let dir = saved_adapter("tensors", &config);
    let weights = dir.join(ADAPTER_WEIGHTS_FILE);
    let saved = TensorFile::read(&weights).unwrap();
    let load = || RLoraLinear::load_adapter(base::<TestBackend>(16, 8), &dir, &device());

    let rewrite = |edit: &dyn Fn(&mut TensorFile)| {
        let mut file = saved.clone();
        edit(&mut file);
        file.write().unwrap();
    };

    rewrite(&|file| {
        file.remove("router");
    });
    let error = load().unwrap_err().to_string();
    assert!(
        error.contains("adapter_model.safetensors") && error.contains("missing tensor `router`"),
        "{error}"
    );

    rewrite(&|file| {
        file.insert(
            "router",
            Tensor::<TestBackend, 2>::zeros([16, 3], &device()),
        )
    });
    let error = load().unwrap_err().to_string();
    assert!(
        error.contains("`router` has shape [16, 3], expected [16, 2]"),
        "{error}"
    );

    rewrite(&|file| file.insert("lora_c", Tensor::<TestBackend, 2>::zeros([1, 1], &device())));
    let error = load().unwrap_err().to_string();
    assert!(error.contains("unexpected tensors [\"lora_c\"]"), "{error}");
}

#[test]
fn a_broken_config_file_names_the_file_and_position() {
    let dir = saved_adapter("json", &RLoraConfig::lora(8, 8));
    std::fs::write(
        dir.join(ADAPTER_CONFIG_FILE),
        "{\n  \"format\": \"rlora-linear\",\n  oops\n}",
    )
    .unwrap();
    let error = RLoraLinear::load_adapter(base::<TestBackend>(8, 8), &dir, &device())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("adapter_config.json") && error.contains("line 3"),
        "{error}"
    );

    let error = RLoraLinear::load_adapter(base::<TestBackend>(8, 8), dir.join("absent"), &device())
        .unwrap_err()
        .to_string();
    assert!(error.contains("absent/adapter_config.json"), "{error}");
}
