//! The models against transformers (goldens from `xtask/fixtures/llama_reference.py`): tokenizer
//! ids, logits at every position, greedy continuations, left-padded batches; the KV cache and
//! padding against the model itself.

use crate::common::{
    TestBackend, device, fixture, floats, golden, ids, mask, max_abs_diff, tokens, values,
};
use burn::tensor::Tensor;
use rlora_llama::{GenerationConfig, Llama, TextTokenizer};

/// transformers computes in f32 too; the orders of summation differ.
const LOGIT_TOLERANCE: f32 = 1e-4;

fn load(name: &str) -> (Llama<TestBackend>, TextTokenizer, serde_json::Value) {
    let model = Llama::from_pretrained(fixture(name), None, &device()).expect("model loads");
    let tokenizer = TextTokenizer::from_dir(fixture(name)).expect("tokenizer loads");
    (model, tokenizer, golden(name))
}

fn check_against_transformers(name: &str) {
    let (model, tokenizer, golden) = load(name);
    let prompts = golden["prompts"].as_array().unwrap();
    for (i, prompt) in prompts.iter().enumerate() {
        let prompt_ids = ids(&golden["prompt_ids"][i]);
        assert_eq!(
            tokenizer.encode(prompt.as_str().unwrap()).unwrap(),
            prompt_ids,
            "{name}: ids of prompt {i}"
        );

        let logits = values(model.forward(tokens(std::slice::from_ref(&prompt_ids)), None, None));
        let expected = floats(&golden["logits"][i]);
        let diff = max_abs_diff(&logits, &expected);
        assert!(
            diff <= LOGIT_TOLERANCE,
            "{name}: prompt {i}: logits differ by {diff}"
        );

        let config = GenerationConfig {
            max_new_tokens: golden["max_new_tokens"].as_u64().unwrap() as usize,
            stop_tokens: tokenizer.eos_ids().to_vec(),
            ..GenerationConfig::default()
        };
        let generated = model.generate(&prompt_ids, &config, |_| false).unwrap();
        assert_eq!(
            generated,
            ids(&golden["greedy_ids"][i]),
            "{name}: greedy continuation of prompt {i}"
        );
        assert_eq!(
            tokenizer.decode(&generated).unwrap(),
            golden["greedy_text"][i].as_str().unwrap()
        );
    }

    // transformers' left-padded batch: the same final logits as each prompt alone.
    let batched = &golden["batched"];
    let rows =
        |key: &str| -> Vec<Vec<u32>> { batched[key].as_array().unwrap().iter().map(ids).collect() };
    let logits = model.forward(
        tokens(&rows("input_ids")),
        Some(mask(&rows("attention_mask"))),
        None,
    );
    let [batch, seq, vocab] = logits.dims();
    let last = values(logits.narrow(1, seq - 1, 1).reshape([batch, vocab]));
    let diff = max_abs_diff(&last, &floats(&batched["final_logits"]));
    assert!(
        diff <= LOGIT_TOLERANCE,
        "{name}: left-padded batch differs by {diff}"
    );
}

#[test]
fn llama_with_gqa_and_llama3_rope_matches_transformers() {
    check_against_transformers("llama-gqa");
}

#[test]
fn qwen2_with_biases_tied_embeddings_bf16_shards_matches_transformers() {
    check_against_transformers("qwen2-tied");
}

#[test]
fn cached_decoding_equals_full_recompute() {
    let (model, _, golden) = load("llama-gqa");
    for (i, prompt) in golden["prompt_ids"].as_array().unwrap().iter().enumerate() {
        let config = GenerationConfig {
            max_new_tokens: 20,
            temperature: 0.8,
            top_k: Some(50),
            top_p: Some(0.95),
            seed: i as u64,
            ..GenerationConfig::default()
        };
        let cached = model.generate(&ids(prompt), &config, |_| false).unwrap();
        let recomputed = GenerationConfig {
            use_kv_cache: false,
            ..config.clone()
        };
        assert_eq!(
            cached,
            model
                .generate(&ids(prompt), &recomputed, |_| false)
                .unwrap()
        );
        assert_eq!(
            cached,
            model.generate(&ids(prompt), &config, |_| false).unwrap(),
            "same seed, same tokens"
        );
    }
}

#[test]
fn right_and_left_padded_batches_equal_each_prompt_alone() {
    let (model, _, golden) = load("qwen2-tied");
    let prompts: Vec<Vec<u32>> = golden["prompt_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let longest = prompts.iter().map(Vec::len).max().unwrap();
    for left in [true, false] {
        let pad = |p: &Vec<u32>, fill: u32| {
            let padding = vec![fill; longest - p.len()];
            if left {
                [padding, p.clone()].concat()
            } else {
                [p.clone(), padding].concat()
            }
        };
        let batch_ids: Vec<Vec<u32>> = prompts.iter().map(|p| pad(p, 2)).collect();
        let batch_mask: Vec<Vec<u32>> = prompts.iter().map(|p| pad(&vec![1; p.len()], 0)).collect();
        let logits = model.forward(tokens(&batch_ids), Some(mask(&batch_mask)), None);
        for (b, prompt) in prompts.iter().enumerate() {
            let alone = values(model.forward(tokens(std::slice::from_ref(prompt)), None, None));
            let start = if left { longest - prompt.len() } else { 0 };
            let row: Tensor<TestBackend, 3> =
                logits
                    .clone()
                    .narrow(0, b, 1)
                    .narrow(1, start, prompt.len());
            let diff = max_abs_diff(&values(row), &alone);
            assert!(diff <= 1e-4, "left = {left}, prompt {b}: {diff}");
        }
    }
}

#[test]
fn rope_frequencies_match_transformers_and_linear_scaling_divides_them() {
    let golden = golden("llama-gqa");
    let mut config =
        rlora_llama::LlamaConfig::from_file(fixture("llama-gqa").join("config.json")).unwrap();
    let ours = rlora_llama::layers::inverse_frequencies(&config);
    let reference = floats(&golden["rope_inv_freq"]);
    assert_eq!(ours.len(), reference.len());
    for (a, b) in ours.iter().zip(&reference) {
        assert!(
            (*a as f32 - b).abs() <= 1e-6 * b.abs().max(1e-3),
            "{a} vs {b}"
        );
    }
    config.rope_scaling = None;
    let plain = rlora_llama::layers::inverse_frequencies(&config);
    config.rope_scaling = Some(rlora_llama::RopeScaling::Linear { factor: 4.0 });
    let linear = rlora_llama::layers::inverse_frequencies(&config);
    for (l, p) in linear.iter().zip(&plain) {
        assert!((l * 4.0 - p).abs() < 1e-15);
    }
}
