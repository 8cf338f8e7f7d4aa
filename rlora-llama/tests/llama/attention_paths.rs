//! The attention's two paths agree: causal query blocks (no mask: every row at the same
//! positions) and the one-block per-row bias (an attention mask given), over sequences long
//! enough for several blocks, with and without the KV cache; burn's fused attention equals them;
//! and a 16-bit base stays close to f32.

use crate::common::{TestBackend, device, max_abs_diff, values};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Int, Tensor};
use rlora_llama::layers::AttentionKernel;
use rlora_llama::{Llama, LlamaConfig, ModelType};

fn config() -> LlamaConfig {
    LlamaConfig {
        model_type: ModelType::Llama,
        vocab_size: 97,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: None,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        max_position_embeddings: 512,
        tie_word_embeddings: false,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: None,
        eos_token_id: None,
    }
}

fn random_tokens(batch: usize, seq: usize) -> Tensor<TestBackend, 2, Int> {
    Tensor::<TestBackend, 2>::random([batch, seq], Distribution::Uniform(0.0, 96.0), &device())
        .int()
}

#[test]
fn causal_blocks_equal_the_masked_single_block() {
    let model = Llama::<TestBackend>::random(config(), None, &device()).unwrap();
    // 150 tokens: query blocks of 64, 64 and 22.
    let tokens = random_tokens(2, 150);
    let all_real = Tensor::<TestBackend, 2, Int>::ones([2, 150], &device()).bool();
    let blocks = values(model.forward(tokens.clone(), None, None));
    let single = values(model.forward(tokens, Some(all_real), None));
    let scale = single.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "logits are not trivially small ({scale})");
    let diff = max_abs_diff(&blocks, &single);
    assert!(diff < 1e-4, "blocks differ from the single block by {diff}");
}

#[test]
fn a_cached_prefix_then_blocks_equal_the_whole_sequence() {
    let model = Llama::<TestBackend>::random(config(), None, &device()).unwrap();
    let tokens = random_tokens(1, 200);
    let whole = values(model.forward(tokens.clone(), None, None).narrow(1, 70, 130));
    let mut cache = model.new_cache();
    model.forward(tokens.clone().narrow(1, 0, 70), None, Some(&mut cache));
    // 130 new tokens after 70 in the cache: blocks of 64, 64 and 2, each with its own keys.
    let rest = values(model.forward(tokens.narrow(1, 70, 130), None, Some(&mut cache)));
    let diff = max_abs_diff(&whole, &rest);
    assert!(diff < 1e-4, "cached continuation differs by {diff}");
}

/// Flex computes in f16 and bf16 (NdArray, the tests' usual backend, stores neither).
type Flex = burn::backend::Flex;

#[test]
fn a_sixteen_bit_base_stays_close_to_f32() {
    let device = Default::default();
    Flex::seed(&device, 3);
    let full = Llama::<Flex>::random(config(), None, &device).unwrap();
    let tokens =
        Tensor::<Flex, 2>::random([2, 40], Distribution::Uniform(0.0, 96.0), &device).int();
    let reference = values(full.forward(tokens.clone(), None, None));
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    for dtype in [DType::F16, DType::BF16] {
        // The same draws, rounded to 16 bits.
        Flex::seed(&device, 3);
        let half = Llama::<Flex>::random_with_base(config(), None, dtype, &device).unwrap();
        assert_eq!(half.base_dtype(), dtype);
        assert_eq!(
            half.layers[0]
                .self_attn
                .q_proj
                .dense_base()
                .weight
                .val()
                .dtype(),
            dtype
        );
        assert_eq!(half.norm.gamma.val().dtype(), DType::F32, "norms stay f32");
        let logits = half.forward(tokens.clone(), None, None);
        assert_eq!(logits.dtype(), DType::F32, "activations stay f32");
        let diff = max_abs_diff(&reference, &values(logits));
        // bf16 keeps 8 significant bits, f16 11: logits move by well under a hundredth of their
        // range.
        assert!(diff > 0.0, "{dtype:?}: the 16-bit base rounded nothing");
        assert!(
            diff < 0.01 * scale,
            "{dtype:?}: logits differ by {diff} (scale {scale})"
        );
    }
}

/// burn's fused attention (what generation takes on a GPU backend) gives the blocked path's
/// logits: a whole causal sequence, several tokens after a cached prefix, decoding one token at a
/// time, and the real tokens of a left-padded batch.
#[test]
fn fused_attention_equals_the_blocked_path() {
    let blocked = Llama::<TestBackend>::random(config(), None, &device()).unwrap();
    let fused = blocked.clone().with_attention(AttentionKernel::Fused);
    let close = |what: &str, a: Tensor<TestBackend, 3>, b: Tensor<TestBackend, 3>| {
        let (a, b) = (values(a), values(b));
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            scale > 0.1,
            "{what}: logits are not trivially small ({scale})"
        );
        let diff = max_abs_diff(&a, &b);
        assert!(diff < 1e-4, "{what}: the fused path differs by {diff}");
    };
    let tokens = random_tokens(2, 150);
    close(
        "a whole sequence",
        blocked.forward(tokens.clone(), None, None),
        fused.forward(tokens.clone(), None, None),
    );

    let (mut blocked_cache, mut fused_cache) = (blocked.new_cache(), fused.new_cache());
    for (start, len) in [(0, 70), (70, 77), (147, 1), (148, 1), (149, 1)] {
        let part = tokens.clone().narrow(1, start, len);
        close(
            &format!("tokens {start}..{} after the cache", start + len),
            blocked.forward(part.clone(), None, Some(&mut blocked_cache)),
            fused.forward(part, None, Some(&mut fused_cache)),
        );
    }

    // Row 0 starts with 3 padding tokens; compare the real tokens' logits.
    let real = Tensor::<TestBackend, 2, Int>::from_data(
        [[0, 0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]],
        &device(),
    )
    .bool();
    let padded = random_tokens(2, 8);
    let logits = |model: &Llama<TestBackend>| {
        let all = model.forward(padded.clone(), Some(real.clone()), None);
        Tensor::cat(
            vec![
                all.clone().narrow(0, 0, 1).narrow(1, 3, 5),
                all.narrow(0, 1, 1).narrow(1, 3, 5),
            ],
            0,
        )
    };
    close("a left-padded batch", logits(&blocked), logits(&fused));
}

/// The kernel a pass without autodiff takes on each backend: the blocked path on the CPU
/// backends, with or without autodiff, and burn's fused kernels on a GPU.
#[test]
fn each_backend_gets_its_faster_attention_kernel() {
    use burn::backend::{Autodiff, Flex, NdArray};
    assert_eq!(
        AttentionKernel::for_backend::<Flex>(),
        AttentionKernel::Blocked
    );
    assert_eq!(
        AttentionKernel::for_backend::<Autodiff<NdArray>>(),
        AttentionKernel::Blocked
    );
    let expected = if cfg!(any(feature = "test-wgpu", feature = "test-cuda")) {
        AttentionKernel::Fused
    } else {
        AttentionKernel::Blocked
    };
    assert_eq!(AttentionKernel::for_backend::<TestBackend>(), expected);
}
