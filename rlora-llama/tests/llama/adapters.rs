//! Adapters on the model: PEFT import against PEFT's own outputs, export to PEFT and back, this
//! crate's adapter folder applied to the original base, freezing, and errors naming the tensor.

use crate::common::{
    TestAutodiff, TestBackend, device, fixture, floats, golden, ids, logits, max_abs_diff, prompts,
    tokens,
};
use std::collections::BTreeMap;

use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use rlora::{Preset, RLoraConfig};
use rlora_llama::{AdapterSpec, GenerationConfig, Llama, LlamaError, Targets};

fn base<B: rlora_llama::LlamaBackend>() -> Llama<B> {
    Llama::from_pretrained(fixture("llama-gqa"), None, &Default::default()).expect("base loads")
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-llama-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn peft_adapters_give_peft_outputs() {
    for name in ["llama-gqa-peft-lora", "llama-gqa-peft-rslora"] {
        let model = base::<TestBackend>()
            .load_peft_adapter(fixture(name), &device())
            .unwrap();
        let golden = golden(name);
        for (i, prompt) in golden["prompt_ids"].as_array().unwrap().iter().enumerate() {
            let diff = max_abs_diff(&logits(&model, &ids(prompt)), &floats(&golden["logits"][i]));
            assert!(diff <= 1e-4, "{name}, prompt {i}: logits differ by {diff}");
            let config = GenerationConfig {
                max_new_tokens: 12,
                ..GenerationConfig::default()
            };
            let generated = model.generate(&ids(prompt), &config, |_| false).unwrap();
            assert_eq!(
                generated,
                ids(&golden["greedy_ids"][i]),
                "{name}: greedy ids of prompt {i}"
            );
        }
    }
}

#[test]
fn an_exported_peft_adapter_reimports_identically() {
    let model = base::<TestBackend>()
        .load_peft_adapter(fixture("llama-gqa-peft-rslora"), &device())
        .unwrap();
    let dir = tempdir("peft-export");
    model.export_peft_adapter(&dir, Some("llama-gqa")).unwrap();
    let again = base::<TestBackend>()
        .load_peft_adapter(&dir, &device())
        .unwrap();
    for prompt in prompts() {
        assert_eq!(logits(&again, &prompt), logits(&model, &prompt));
    }
}

/// The base with R-LoRA on `targets`, trained a few steps so the adapters are far from init.
fn trained(template: RLoraConfig, targets: &[&str]) -> Llama<TestAutodiff> {
    let spec = AdapterSpec {
        targets: Targets::parse(targets).unwrap(),
        template,
    };
    let mut model: Llama<TestAutodiff> =
        Llama::from_pretrained(fixture("llama-gqa"), Some(&spec), &device()).unwrap();
    let mut optimizer = AdamWConfig::new().init();
    let prompt = prompts()[2].clone();
    for _ in 0..2 {
        let loss = model
            .forward(tokens(std::slice::from_ref(&prompt)), None, None)
            .powi_scalar(2)
            .mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-2, model, grads);
    }
    model
}

#[test]
fn a_single_head_adapter_with_init_offset_exports_to_peft_as_rank_2r() {
    let model = trained(
        RLoraConfig::r_lora(1, 1, 1).with_rank(4),
        &["q_proj", "down_proj"],
    )
    .valid();
    let dir = tempdir("peft-offset");
    model.export_peft_adapter(&dir, None).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["r"], 8, "rank 2r");
    let peft = base::<TestBackend>()
        .load_peft_adapter(&dir, &device())
        .unwrap();
    for prompt in prompts() {
        let diff = max_abs_diff(&logits(&peft, &prompt), &logits(&model, &prompt));
        assert!(diff <= 1e-4, "{diff}");
    }
    let heads = trained(RLoraConfig::r_lora(1, 1, 3), &["q_proj"]).valid();
    assert!(matches!(
        heads.export_peft_adapter(&dir, None),
        Err(LlamaError::HeadsToFold { heads: 3, .. })
    ));
}

#[test]
fn a_multi_head_adapter_exports_to_peft_with_its_heads_folded_under_a_routing() {
    let model = trained(
        RLoraConfig::r_lora(1, 1, 3).with_rank(4),
        &["q_proj", "down_proj"],
    )
    .valid();
    // Each projection its own routing, as a task's mean gates are.
    let routing: BTreeMap<String, Vec<f64>> = model
        .adapters()
        .iter()
        .enumerate()
        .map(|(i, (path, _))| {
            let weights = [[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]][i % 2];
            (path.clone(), weights.to_vec())
        })
        .collect();
    let dir = tempdir("peft-routed");
    model
        .export_peft_adapter_with_routing(&dir, None, &routing)
        .unwrap();
    let peft = base::<TestBackend>()
        .load_peft_adapter(&dir, &device())
        .unwrap();
    let merged = model.clone().merge_adapters_by_path(&routing).unwrap();
    let uniform = model.clone().merge_adapters(None).unwrap();
    for prompt in prompts() {
        let folded = logits(&peft, &prompt);
        let diff = max_abs_diff(&folded, &logits(&merged, &prompt));
        assert!(diff <= 1e-4, "{diff}");
        // The routing matters: folded uniformly, the heads give other logits.
        let other = max_abs_diff(&folded, &logits(&uniform, &prompt));
        assert!(other > 1e-2, "{other}");
    }
    let mut short = routing.clone();
    short.values_mut().for_each(|weights| weights.truncate(2));
    let refused = model.export_peft_adapter_with_routing(tempdir("peft-short"), None, &short);
    assert!(
        matches!(&refused, Err(LlamaError::InvalidArgument(e)) if e.contains("needs 3 finite weights")),
        "{refused:?}"
    );
}

#[test]
fn a_saved_model_adapter_applied_to_the_original_base_is_identical() {
    let model = trained(RLoraConfig::r_lora(1, 1, 3), &["all-linear"]).valid();
    assert_eq!(model.adapters().len(), 2 * 7);
    let dir = tempdir("model-adapter");
    model.save_adapter(&dir).unwrap();
    let loaded = base::<TestBackend>().load_adapter(&dir, &device()).unwrap();
    for prompt in prompts() {
        assert_eq!(logits(&loaded, &prompt), logits(&model, &prompt));
    }
}

#[test]
fn only_adapters_get_gradients() {
    let spec = AdapterSpec {
        targets: Targets::mlp(),
        template: RLoraConfig::r_lora(1, 1, 2),
    };
    let model: Llama<TestAutodiff> =
        Llama::from_pretrained(fixture("llama-gqa"), Some(&spec), &device()).unwrap();
    let loss = model
        .forward(tokens(&[prompts()[1].clone()]), None, None)
        .sum();
    let grads = loss.backward();
    assert!(model.embed_tokens.weight.grad(&grads).is_none());
    assert!(model.norm.gamma.grad(&grads).is_none());
    assert!(
        model
            .lm_head
            .as_ref()
            .unwrap()
            .weight
            .grad(&grads)
            .is_none()
    );
    for layer in &model.layers {
        assert!(layer.input_layernorm.gamma.grad(&grads).is_none());
        assert!(
            layer
                .self_attn
                .q_proj
                .dense_base()
                .weight
                .grad(&grads)
                .is_none()
        );
        for module in [
            &layer.mlp.gate_proj,
            &layer.mlp.up_proj,
            &layer.mlp.down_proj,
        ] {
            let adapter = module.adapter().expect("MLP targets are adapted");
            assert!(adapter.base.weight.grad(&grads).is_none());
            assert!(adapter.lora_a.grad(&grads).is_some() && adapter.lora_b.grad(&grads).is_some());
        }
    }
    // With the zero router and init offset, the adapted model starts at the base.
    let inference = model.valid();
    for prompt in prompts() {
        let diff = max_abs_diff(
            &logits(&inference, &prompt),
            &logits(&base::<TestBackend>(), &prompt),
        );
        assert!(diff <= 1e-4, "{diff}");
    }
}

/// A copy of the Llama fixture in a temporary folder, its weights edited by `edit`.
fn edited_checkpoint(
    name: &str,
    edit: impl FnOnce(&mut rlora::io::TensorFile),
) -> std::path::PathBuf {
    let dir = tempdir(name);
    std::fs::copy(
        fixture("llama-gqa").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let mut weights =
        rlora::io::TensorFile::read(fixture("llama-gqa").join("model.safetensors")).unwrap();
    let mut copy = rlora::io::TensorFile::new(dir.join("model.safetensors"));
    for key in weights.keys().map(String::from).collect::<Vec<_>>() {
        copy.insert_data(key.clone(), weights.remove(&key).unwrap());
    }
    edit(&mut copy);
    copy.write().unwrap();
    dir
}

fn load_error(dir: &std::path::Path) -> String {
    Llama::<TestBackend>::from_pretrained(dir, None, &device())
        .unwrap_err()
        .to_string()
}

#[test]
fn checkpoint_errors_name_the_file_and_the_tensor() {
    let missing = edited_checkpoint("missing", |w| {
        w.remove("model.layers.1.mlp.up_proj.weight");
    });
    let error = load_error(&missing);
    assert!(
        error.ends_with("model.safetensors: missing tensor `model.layers.1.mlp.up_proj.weight`"),
        "{error}"
    );

    let reshaped = edited_checkpoint("reshaped", |w| {
        w.remove("model.norm.weight");
        w.insert_data(
            "model.norm.weight",
            burn::tensor::TensorData::new(vec![1f32; 63], [63]),
        );
    });
    let error = load_error(&reshaped);
    assert!(
        error.contains("tensor `model.norm.weight` has shape [63], expected [64]"),
        "{error}"
    );

    let extra = edited_checkpoint("extra", |w| {
        w.insert_data(
            "model.layers.9.mlp.up_proj.weight",
            burn::tensor::TensorData::new(vec![0f32; 4], [2, 2]),
        );
    });
    let error = load_error(&extra);
    assert!(
        error.contains("unexpected tensors [\"model.layers.9.mlp.up_proj.weight\"]"),
        "{error}"
    );

    let config_path = extra.join("config.json");
    let config = std::fs::read_to_string(fixture("llama-gqa").join("config.json")).unwrap();
    std::fs::write(&config_path, config.replace("\"llama3\"", "\"yarn\"")).unwrap();
    let error = load_error(&extra);
    assert!(
        error.contains("config.json: `rope_scaling` has type `yarn`"),
        "{error}"
    );
    std::fs::write(
        &config_path,
        config.replace("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\""),
    )
    .unwrap();
    let error = load_error(&extra);
    assert!(error.contains("`model_type` is `gpt2`"), "{error}");
    std::fs::write(&config_path, config.replace("\"hidden_size\": 64,", "")).unwrap();
    let error = load_error(&extra);
    assert!(
        error.contains("config.json") && error.contains("missing field `hidden_size`"),
        "{error}"
    );
}

#[test]
fn save_pretrained_round_trips_the_checkpoint() {
    let original = base::<TestBackend>();
    let dir = tempdir("save-pretrained");
    original.save_pretrained(&dir).unwrap();
    let reloaded = Llama::<TestBackend>::from_pretrained(&dir, None, &device()).unwrap();
    assert_eq!(reloaded.config, original.config);
    for prompt in prompts() {
        assert_eq!(logits(&reloaded, &prompt), logits(&original, &prompt));
    }
    // Qwen2: biases, tied embeddings, transformers 5's rope_parameters normalized on the way in.
    let qwen =
        Llama::<TestBackend>::from_pretrained(fixture("qwen2-tied"), None, &device()).unwrap();
    qwen.save_pretrained(&dir).unwrap();
    let again = Llama::<TestBackend>::from_pretrained(&dir, None, &device()).unwrap();
    assert_eq!(logits(&again, &prompts()[0]), logits(&qwen, &prompts()[0]));
}

#[test]
fn merged_adapters_compute_what_the_adapted_model_computes_under_their_routing() {
    // PEFT (one head) merges exactly; fresh R-LoRA heads under the zero router route uniformly.
    let peft = base::<TestBackend>()
        .load_peft_adapter(fixture("llama-gqa-peft-lora"), &device())
        .unwrap();
    let spec = AdapterSpec {
        targets: Targets::parse(&["all-linear"]).unwrap(),
        template: RLoraConfig::r_lora(1, 1, 3).with_init_b(rlora::LoraInit::Gaussian { std: 0.5 }),
    };
    let rlora = Llama::<TestBackend>::from_pretrained(fixture("llama-gqa"), Some(&spec), &device())
        .unwrap();
    for model in [peft, rlora] {
        let merged = model.clone().merge_adapters(None).unwrap();
        assert!(merged.adapters().is_empty());
        for prompt in prompts() {
            let diff = max_abs_diff(&logits(&merged, &prompt), &logits(&model, &prompt));
            assert!(diff <= 1e-4, "{diff}");
        }
    }
    let wrong = base::<TestBackend>()
        .load_peft_adapter(fixture("llama-gqa-peft-lora"), &device())
        .unwrap();
    assert!(wrong.merge_adapters(Some(&[0.5, 0.5])).is_err());
}

#[test]
fn trainable_parameters_are_counted_from_the_config_as_built() {
    let config = rlora_llama::LlamaConfig::from_file(fixture("llama-gqa").join("config.json"))
        .expect("config");
    for (settings, names) in [
        (
            Preset::RLora.hyperparameters(3).with_rank(2),
            vec!["all-linear"],
        ),
        (
            Preset::Lora.hyperparameters(1).with_rank(5),
            vec!["k_proj", "down_proj"],
        ),
    ] {
        let spec = AdapterSpec::new(Targets::parse(&names).unwrap(), &settings);
        let model: Llama<TestBackend> =
            Llama::from_pretrained(fixture("llama-gqa"), Some(&spec), &device()).unwrap();
        let built: usize = model
            .adapters()
            .iter()
            .map(|(_, a)| a.num_trainable_params())
            .sum();
        assert!(built > 0);
        assert_eq!(
            spec.targets.num_trainable_params(&config, &settings),
            built,
            "{names:?}"
        );
    }
}

#[test]
fn adapters_larger_than_a_target_are_refused_before_the_weights_load() {
    let config =
        rlora_llama::LlamaConfig::from_file(fixture("llama-gqa").join("config.json")).unwrap();
    let spec = |rank: usize, heads: usize| {
        let settings = Preset::RLora.hyperparameters(heads).with_rank(rank);
        AdapterSpec::new(Targets::mlp(), &settings)
    };
    // The fixture's MLP: gate/up 64 → 172, down 172 → 64.
    assert!(spec(64, 5).check(&config).is_ok());
    let error = spec(65, 5).check(&config).unwrap_err();
    assert!(
        matches!(
            error,
            LlamaError::AdapterTooLarge {
                setting: "rank",
                value: 65,
                d_input: 64,
                d_output: 172,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("at most 64"), "{error}");
    let error = spec(8, 65).check(&config).unwrap_err();
    assert!(
        matches!(
            error,
            LlamaError::AdapterTooLarge {
                setting: "heads",
                ..
            }
        ),
        "{error:?}"
    );
    let refused =
        Llama::<TestBackend>::from_pretrained(fixture("llama-gqa"), Some(&spec(65, 5)), &device());
    assert!(matches!(refused, Err(LlamaError::AdapterTooLarge { .. })));
}
